// What a run records: metadata of the whole run, and for each configuration its raw samples
// and the metrics derived from them (see docs/metrics.md for every definition).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/plan.hpp"
#include "engine/process_world.hpp"
#include "engine/stats.hpp"
#include "engine/transformer.hpp"

namespace llmt {

enum class ConfigStatus { ok, failed, skipped };
std::string_view config_status_name(ConfigStatus s);

struct RawSamples {
  std::vector<double> e2e_ms;          // one per measured iteration
  std::vector<double> ttft_ms;         // prefill, one per iteration
  std::vector<double> decode_step_ms;  // iteration-major: [iteration][step]
  // [rank][iteration]
  std::vector<std::vector<double>> rank_iteration_ms, rank_busy_ms, rank_sync_ms, rank_sync_total_ms, rank_transfer_ms;
};

struct RankMemory {
  MemoryPlan predicted;
  // Allocated: the peak bytes the rank's allocator (MemoryTracker) handed out per kind, and the
  // peak of all its live bytes. Equal to `predicted` by construction; not what the OS sees.
  std::size_t weights = 0, kv_cache = 0, activations_peak = 0, communication_peak = 0, peak_total = 0;
  long long device_used = -1;  // as the device reports it at the end of the run (GPUs), else -1
  // GPUs: the largest of the device's used bytes sampled at every point the rank synchronised
  // with it (after set-up, after capturing graphs, after every iteration: capture pass, warm-up,
  // measured; and at the end), and how many samples; -1 and 0 without a device.
  long long device_used_max = -1;
  int device_used_samples = 0;
};

// One memory pool of a configuration (the host, or one GPU): what its ranks allocated beside
// what the OS or the device measured, and the difference nothing tracked.
struct PoolMemory {
  std::string pool;                // "host", "GPU 0"; process mode: "<host> rank <r>" (one per process)
  std::vector<int> ranks;          // the ranks whose memory is in it
  long long allocated_bytes = 0;   // sum of those ranks' allocated peaks (peak_total)
  long long measured_peak_bytes = -1;
  // What measured_peak_bytes is: "process_rss_hwm_since_configuration_start" (the process's
  // RSS high-water mark, reset when the configuration started), "process_rss_hwm_since_process_start"
  // (where the reset is not permitted: the process's peak so far), "device_used_max_of_samples"
  // (GPUs: the largest sample of the device's bytes in use, RankMemory::device_used_max), or in
  // files written before that, "device_used_at_end".
  std::string measured_by;
  long long rss_at_start_bytes = -1;  // host: the process's RSS when the configuration started
  long long untracked_bytes() const { return measured_peak_bytes - allocated_bytes; }
};

// Pipeline stages of a configuration with pp > 1 (means over the stage's ranks and iterations).
struct StageSummary {
  int stage = 0;
  Range layers;
  double busy_ms = 0, transfer_ms = 0, sync_ms = 0;
};
struct PipelineSummary {
  int stages = 1, microbatches = 1;
  double bubble_fraction = 0;           // measured: 1 - mean rank active time / mean e2e
  double textbook_bubble_fraction = 0;  // (p - 1) / (m + p - 1)
  std::vector<StageSummary> per_stage;
};

struct PhaseSummary {
  std::string path, category, detail, op, group;
  int group_size = 1;
  int ranks = 0;               // ranks that ran the phase
  double calls = 0;            // per iteration, per rank
  double ms = 0;               // per iteration, mean over those ranks
  double ms_max_rank = 0;      // per iteration, slowest rank
  double bytes = 0;            // per iteration, per rank (communication payload)
  // Speed of light of a compute phase (docs/metrics.md): its FLOPs and bytes read plus written
  // per timed call, and the least time the device's ceilings allow for those, per timed call.
  double work_flops = 0, work_bytes = 0, floor_ms = 0;
  // Which ceiling sets floor_ms: "compute", "memory", "cache", or "none" (a cache-resident call
  // without a cache ceiling: no floor); empty for phases without work.
  std::string floor_bound;
  bool below_floor = false;  // measured faster per call than floor_ms: the floor is no bound there
  // "eager" (every call timed), or "eager_sample": decode steps were replayed as CUDA graphs
  // and this phase was timed on one extra eager decode step per iteration.
  std::string timing = "eager";
};

// Every collective and transfer of a kind, from each rank's own phases: time includes waiting
// for the other ranks, so no bandwidth is derived from it (BusBandwidth below is).
struct CommSummary {
  std::string op, group, category;
  int group_size = 1;
  double calls = 0, bytes = 0, ms = 0;  // per iteration, per rank (mean over ranks)
  // Bytes per iteration of each rank of the configuration (0 for ranks not taking part): what
  // each moved, so a parameter-server root's (n - 1) x S shows beside the others' S.
  std::vector<double> rank_bytes;
};

// Bus bandwidth of the collectives of one pass, operation, group and message size (nccl-tests'
// algbw and busbw): a call's time is the least over the ranks of its group instance, i.e. the
// last rank to arrive, which waits for no straggler; see docs/metrics.md.
struct BusBandwidth {
  std::string pass, op, group;  // pass: "prefill" or "decode"
  int group_size = 1;
  double message_bytes = 0;  // one call's payload
  double calls = 0;          // per iteration, per group instance
  double ms = 0;             // per iteration, per group instance: the calls' summed collective time
  double algbw_gbps = 0, busbw_gbps = 0;
};

// A configuration's logits against the fp32 reference, judged by the noise floor of the run's
// dtype (docs/metrics.md, "Verification").
struct Verification {
  bool checked = false;
  bool passed = false;
  // Errors are per sequence and step: max |got - ref| over the sequence's logits, over the
  // largest |ref| among them; max_rel_error is the largest over sequences and steps.
  double max_abs_error = 0, max_rel_error = 0;
  double tolerance = 0;        // the largest max_rel_error that passes: floor_factor x max(min(floor, floor_cap), min_floor)
  double floor = 0;            // the noise floor: the same error of one rank computing in the run's dtype
  double min_floor = 0;        // the least floor assumed (the dtype's rounding of a logit)
  double floor_factor = 0;     // how many floors a configuration may be off
  double error_over_floor = 0; // max_rel_error / max(floor, min_floor)
  std::string floor_source;    // how the floor was measured
  // The largest floor rounding in the run's dtype explains for this model (engine/noise_cap.hpp;
  // 0: no cap). A floor above it is not trusted: the cap stands in for it in the tolerance.
  double floor_cap = 0;
  bool floor_trusted = true;
  std::string reference;       // what computed the reference logits
  std::size_t reference_peak_bytes = 0;  // that computation's tracked peak memory
  std::size_t elements = 0;
  std::size_t positions = 0;   // sequences x steps compared
  // Most likely token: agreement with the reference over positions; a disagreement is a near tie
  // when the reference's two logits differ by less than twice the floor (noise alone can swap
  // them), and is not held against the configuration. Any other disagreement fails it.
  double top1_agreement = 0;
  std::size_t top1_near_ties = 0, top1_mismatches = 0;
  // The last measured iteration's final step, read from the device after measurement.
  bool last_iteration_checked = false;
  int last_iteration_step = 0;
  double last_iteration_rel_error = 0;
  std::string note;
};

// The device's ceilings the floors are computed from (docs/metrics.md "Speed of light").
struct Ceilings {
  double bandwidth_gbps = 0;  // memory: bytes read plus written per second, 1e9
  double gemm_tflops = 0;     // dense GEMM in the run's dtype, 1e12 FLOP/s
  std::string source;         // "measured" or "profile:<name>"
  std::string dtype;
  std::string device;         // what was measured, or the profile's device
  // Cache-resident work (docs/metrics.md "Speed of light"): a call whose bytes fit in
  // `cache_bytes` gets its floor from `cache_bandwidth_gbps`, the fastest cache's; 0 bytes: no
  // cache rule; 0 bandwidth with a cache size: such a call has no floor.
  double cache_bandwidth_gbps = 0;
  double cache_bytes = 0;
  std::string bandwidth_probe;  // measured: "read" or "copy", the faster, which bandwidth_gbps is
  bool valid() const { return bandwidth_gbps > 0 && gemm_tflops > 0; }
};

// Least time per iteration (and per pass) that the ceilings allow for the compute the
// configuration issues, slowest rank; and the measured median's share of it.
struct FloorMetrics {
  bool available = false;
  double ttft_ms = 0, decode_step_ms = 0, e2e_ms = 0;
  double ttft_of_floor = 0, decode_step_of_floor = 0, e2e_of_floor = 0;  // floor / measured median
};

// Mixture of experts (docs/metrics.md, "Mixture of experts"): the routing of one iteration
// (teacher-forced tokens route alike in every iteration) and where the MoE time goes.
struct MoeMetrics {
  bool available = false;
  std::string routing;  // --routing
  // [layer][expert]: tokens routed to each expert, over every sequence of the batch (each token
  // counted once per chosen expert; prefill and every decode step).
  std::vector<std::vector<long long>> tokens_per_expert;
  // Per layer, mean over experts of its tokens over the most any expert got (1: even, 1/experts: all
  // to one); `expert_balance` is the mean over layers, `worst_layer_balance` the least.
  double expert_balance = 0, worst_layer_balance = 0;
  // Expert parallelism: the EP group's size (1 without it), tokens routed to each EP rank's block
  // of experts over all layers, and per layer the mean over EP ranks of their tokens over the
  // most any got (vLLM's and SGLang's balancedness), averaged over layers, and the least.
  int ep_ranks = 1;
  std::vector<long long> tokens_per_ep_rank;
  double ep_balance = 1, worst_layer_ep_balance = 1;
  // ep_balance of the prefill's tokens alone and of the decode steps' alone: one batch-sized
  // routing against many one-token ones, which balance differently.
  double ep_balance_prefill = 1, ep_balance_decode = 1;
  // Per iteration, slowest rank, summed over layers: router GEMM; routing and gathering the
  // tokens, with the EP exchange of counts or routes and of the tokens; the experts' GEMMs; the
  // weighted combine, with the results' way back. `exchange_ms` is the EP communication inside
  // dispatch and combine; `exchange_bytes` its bytes per iteration, summed over ranks.
  double router_ms = 0, dispatch_ms = 0, experts_ms = 0, combine_ms = 0;
  double exchange_ms = 0, exchange_bytes = 0;
  // exchange_ms split: the transfer, each exchange's time on the last rank to arrive (who waits for
  // no one; bus_bandwidth's time), summed; and the rest, waiting for the slowest EP rank.
  double exchange_transfer_ms = 0, exchange_wait_ms = 0;
  // Teacher-forced routing (verified runs): the share of (token, layer) routings whose own top k
  // (as a set) was the fp32 reference's, which the run took instead; -1: not compared.
  double routing_agreement = -1;
};

// Request-list workloads (docs/metrics.md, "Requests"): one request in one measured iteration,
// times in ms from the iteration's start (the first rank's).
struct RequestSample {
  int request = 0, replica = 0, iteration = 0;
  int prompt = 0, output = 0;
  double arrival_ms = 0, admitted_ms = 0, first_token_ms = 0, finished_ms = 0;
  std::vector<double> token_ms;  // when each output token was produced
  bool slo_met = true;
};
// One data-parallel replica's share, per iteration (mean over the measured iterations).
struct ReplicaUse {
  int replica = 0, requests = 0;
  double steps = 0;
  double tokens = 0;              // prompt and output tokens its steps fed
  double busy_ms = 0, idle_ms = 0;  // in its steps; the rest of the iteration
};
struct TrafficMetrics {
  bool available = false;
  std::string requests, source;  // the list's label ("req48.1a2b3c4d") and where it came from
  std::string batching, balance, slo;
  int slots = 0, token_budget = 0, prefill_chunk = 0;
  int request_count = 0;
  // Per request, pooled over the measured iterations (RequestMetrics' definitions, in ms).
  Summary ttft_ms, tpot_ms, itl_ms, e2e_ms, queueing_ms;
  // Per iteration, median over the measured iterations.
  double requests_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0, goodput_per_s = 0;
  double slo_met_fraction = 1;
  std::vector<ReplicaUse> replicas;
  double balance_ratio = 1;       // mean over max of the replicas' tokens, over the run
  double step_balance_ratio = 1;  // mean over step indices of mean over max of the replicas' step tokens
  double useful_decode_fraction = 1, useful_prefill_fraction = 1;  // SlotUse's, over every replica
  // Host time the scheduler took per step (choosing it, recording it), replicas' leaders and
  // iterations pooled, and its share of the scheduler's time plus the steps' own.
  double scheduler_ms_per_step = 0, scheduler_share = 0;
  std::vector<RequestSample> samples;
};

struct ConfigMetrics {
  Summary e2e_ms, ttft_ms, decode_step_ms;
  double tpot_ms = 0;  // time per output token: mean decode step (time_per_output_token_ms)
  double output_tokens_per_s = 0, prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
  Summary sync_ms;        // exposed communication per iteration, mean over ranks
  Summary sync_total_ms;  // all communication time, hidden or not
  double sync_fraction = 0;
  Summary transfer_ms;    // pipeline send/recv per iteration, mean over ranks
  // Per iteration, mean over ranks of the time a rank was not computing: e2e minus its busy time
  // (exposed communication, pipeline transfers and waits, idle before its start and after its end).
  Summary wait_ms;
  double wait_fraction = 0;  // mean(wait_ms) / mean(e2e_ms)
  std::vector<double> rank_busy_ms;  // mean per iteration, by rank
  double imbalance = 0;
  int straggler_rank = 0;
  double comm_bytes = 0;  // per iteration, summed over ranks
  std::vector<CommSummary> comm;
  std::vector<BusBandwidth> bus_bandwidth;  // collectives only; empty without (or in version 1 files)
  std::vector<RankMemory> memory;
  std::vector<PoolMemory> memory_pools;  // empty in version 1 files
  std::vector<PhaseSummary> phases;
  PipelineSummary pipeline;
  FloorMetrics floor;
  MoeMetrics moe;
  TrafficMetrics traffic;
};

// How many samples were taken and why measuring stopped.
struct Measurement {
  std::string mode = "fixed";  // or "adaptive"
  int samples = 0;
  double target_rse = 0, achieved_rse = 0;  // relative standard error of the mean e2e latency
  bool target_met = true;
  std::string stop_reason = "iterations";  // iterations, target_met, max_iterations, max_time
  std::size_t outliers = 0;                // e2e samples with modified Z-score > 3.5 (kept)
};

struct ConfigResult {
  ConfigPoint point;
  ConfigStatus status = ConfigStatus::ok;
  std::string reason;
  int warmup = 0, iterations = 0;
  double setup_s = 0;  // weight generation and allocation, slowest rank
  RawSamples samples;
  Measurement measurement;
  ConfigMetrics metrics;
  Verification verification;
  bool replica_weights_shared = false;
  bool cuda_graphs = false;  // decode steps replayed as CUDA graphs
  std::vector<AttentionUse> attention;  // rank 0's kernels, one entry per pass
  std::vector<std::string> notes;  // remarks a reader of the figures needs (shared weights, ...)
};

struct RunMetadata {
  std::string tool = "llmthreads", version, git_commit, timestamp, command_line;
  std::string backend, device, blas, dtype;
  std::string host, cpu_model, os, cpu_governor;
  int logical_cpus = 0, affinity_cpus = 0, max_ranks = 0;
  std::size_t memory_total_bytes = 0;
  double load_average_1m = 0;
  double cpu_busy_at_start = -1;  // see HostInfo
  int warmup = 0, iterations = 0;
  std::uint64_t seed = 0;
  int overlap_chunks = 0;
  int threads_per_rank = 1;  // --threads-per-rank: each rank's compute threads (files before it: 1)
  std::string replica_weights, inject_delay;  // --replica-weights; the test hook, when used
  double target_rse = 0, max_time_s = 0;
  int min_iters = 0, max_iters = 0;
  double cpu_mhz = 0;
  std::string compiler;
  std::map<std::string, std::string> libraries;
  std::vector<double> ensemble_weights;
  std::string resumed_from;
  bool emulated = false;                        // CUDA ranks sharing one GPU
  std::string attention = "auto";               // --attention
  std::string routing = "model";                // --routing (MoE models)
  std::string weights = "generated";            // "generated" (from the seed) or the --weights checkpoint directory
  Ceilings ceilings;                            // the floors' ceilings (invalid: none)
  std::map<std::string, std::string> devices;   // GPU names, driver, CUDA, cuBLAS, NCCL versions, clocks
  ModelConfig model;
  std::vector<std::string> warnings;
  std::optional<LaunchInfo> launch;  // process mode (mpirun, srun): the launcher, the world, its hosts
};

}  // namespace llmt
