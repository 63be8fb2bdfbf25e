// Speed-of-light floors (docs/metrics.md "Speed of light"): the least time the device's
// ceilings allow for the work a configuration issues, and the measured figures' share of it.
// Pure functions of the work model (phase_work) and the ceilings, so they are testable by hand.
#pragma once

#include <vector>

#include "model/model.hpp"
#include "engine/plan.hpp"
#include "engine/result.hpp"
#include "engine/runner.hpp"
#include "engine/transformer.hpp"

namespace llmt {

// Least milliseconds for `flops` and `bytes` (read plus written): the larger of moving the
// bytes at the copy bandwidth and computing the FLOPs at the GEMM ceiling.
double floor_ms(double flops, double bytes, const Ceilings& ceilings);

// One rank's floors per iteration: the sum of its compute phases' floors, by pass.
struct RankFloor {
  double prefill_ms = 0, decode_ms = 0;  // decode: all gen - 1 steps together
};
RankFloor rank_floor(const std::vector<PhaseWork>& work, const Ceilings& ceilings);

// A configuration's floors from each rank's work (index = world rank): the slowest rank's,
// since an iteration is as slow as its slowest rank. `decode_steps` = gen - 1. The fractions
// are floor / measured median, 0 where a median is not positive. `available` is false when
// the ceilings are invalid or no rank has any work.
FloorMetrics floor_metrics(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& ceilings,
                           int decode_steps, double ttft_median_ms, double decode_step_median_ms,
                           double e2e_median_ms);

// Sets work_flops, work_bytes and floor_ms, per timed call, on each compute phase of `phases`
// whose path the work model knows; the per-call work is the mean over the ranks that run it,
// like PhaseSummary::ms. Per call because a phase's `calls` is what was timed: with CUDA graphs
// (timing "eager_sample") a decode phase is timed on one step while the model counts gen - 1.
void annotate_phases(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& ceilings,
                     std::vector<PhaseSummary>& phases);

// Fills result.metrics.floor and the phases' work and floors from phase_work of every rank of
// `point`; needs the latency metrics and phases already summarised. Does nothing when
// options.ceilings is not valid.
void apply_speed_of_light(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                          ConfigResult& result);

}  // namespace llmt
