// Derives a configuration's metrics from its raw samples. Definitions: docs/metrics.md.
#pragma once

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

// max / mean - 1 of per-rank busy times (0 for one rank or no data).
double load_imbalance(const std::vector<double>& busy);

}  // namespace llmt
