// Derives a configuration's metrics from its raw samples. Definitions: docs/metrics.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/communicator.hpp"
#include "engine/result.hpp"

namespace llmt {

// Latency summaries, throughputs, sync time and fraction, per-rank busy time and imbalance.
void fill_sample_metrics(const ConfigPoint& point, const RawSamples& samples, ConfigMetrics& metrics);

// The one definition of time per output token (TPOT, docs/metrics.md): the mean of the decode
// steps' times; 0 when there is no decode step (gen 1).
double time_per_output_token_ms(const RawSamples& samples);
// Each iteration's TPOT: the mean of its own decode steps (empty when gen is 1). Their mean is
// time_per_output_token_ms, since every iteration has gen - 1 steps.
std::vector<double> tpot_per_iteration_ms(const RawSamples& samples);
// The one definition of output tokens per second: batch x gen tokens in `e2e_ms` (0 when e2e is 0).
// The configuration's figure takes the mean e2e latency: tokens over measured time.
double output_tokens_per_s(const Workload& workload, double e2e_ms);

// Bytes per iteration each rank of the configuration moved through the parameter-server star
// (its reduce and broadcast phases, counted as moved: a group's root (n - 1) x S per call, the
// other ranks S); empty when the configuration has none.
std::vector<double> param_server_bytes_by_rank(const std::vector<CommSummary>& comm);

// One call of a collective on one rank, placed: its phase, the instance of its group the rank
// belongs to (group_instance), the iteration, and its position among the phase's calls on the
// rank in that iteration (ranks of a group call a phase's collectives in the same order).
struct CollectiveCall {
  std::uint32_t phase = 0;
  int instance = 0, iteration = 0, ordinal = 0;
  double bytes = 0, ms = 0;
};
// What a phase's collective is.
struct CollectiveKind {
  std::string pass;  // "prefill" or "decode"
  CommOp op = CommOp::all_reduce;
  std::string group;
  int group_size = 1;
};
// Bus bandwidth per (pass, op, group, group size, message size). A call's time is the least over
// the ranks of its group instance: the rank that arrived last, which did not wait for the others.
// Summed over the calls of an iteration, averaged over iterations and group instances; algbw is
// bytes / time, busbw algbw x bus_bandwidth_factor (nccl-tests). `kind_of_phase` is indexed by phase.
std::vector<BusBandwidth> bus_bandwidth(const std::vector<CollectiveCall>& calls,
                                        const std::vector<CollectiveKind>& kind_of_phase, int iterations);
// A pass's collectives together: their bus bytes over their time (0 without any).
double pass_bus_bandwidth_gbps(const std::vector<BusBandwidth>& entries, std::string_view pass);

// The memory pool with the largest measured peak (the one that fills first); null without any.
const PoolMemory* largest_pool(const ConfigMetrics& metrics);

// Pipeline send/recv bytes per iteration, mean over the configuration's ranks.
double transfer_bytes_per_rank(const ConfigMetrics& metrics);

// max / mean - 1 of per-rank busy times (0 for one rank or no data).
double load_imbalance(const std::vector<double>& busy);

// The MoE figures from the tokens each layer sent to each expert ([layer][expert], summed over
// the replicas), the EP group's size (1: none) and the configuration's phases.
MoeMetrics moe_metrics(std::vector<std::vector<long long>> tokens_per_expert, int ep_ranks,
                       const std::vector<PhaseSummary>& phases, std::string routing);
// Splits the EP exchange's time into transfer (each call's time on the last rank to arrive, from
// the bus-bandwidth entries of group "ep") and waiting for the slowest rank (the rest).
void split_exchange_time(MoeMetrics& moe, const std::vector<BusBandwidth>& bus);
// ep_balance_prefill and ep_balance_decode from the decode steps' tokens ([layer][expert]); the
// prefill's are moe.tokens_per_expert minus them.
void ep_balance_by_pass(MoeMetrics& moe, const std::vector<std::vector<long long>>& decode_tokens);
// Mean over experts of their tokens over the most any got; 1 when no token was routed.
double expert_balance(const std::vector<long long>& tokens);
// Tokens per expert summed over the layers.
std::vector<long long> tokens_per_expert_all_layers(const MoeMetrics& moe);
// One line: routing, balance, tokens per expert over all layers, the MoE time split.
std::string describe_moe(const MoeMetrics& moe);

}  // namespace llmt
