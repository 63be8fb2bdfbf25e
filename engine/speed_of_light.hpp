// Speed-of-light floors (docs/metrics.md "Speed of light"): the least time the device's
// ceilings allow for the work a configuration issues, and the measured figures' share of it.
// Pure functions of the work model (phase_work) and the ceilings, so they are testable by hand.
#pragma once

#include <string>
#include <vector>

#include "model/model.hpp"
#include "engine/plan.hpp"
#include "engine/result.hpp"
#include "engine/runner.hpp"
#include "engine/transformer.hpp"

namespace llmt {

// The least time of one call that does `flops` and moves `bytes` (read plus written), and the
// ceiling that sets it: the larger of computing the FLOPs at the GEMM ceiling and moving the
// bytes at the memory bandwidth, or at the cache bandwidth when the bytes fit in the caches
// (Ceilings::cache_bytes). A cache-resident call without a cache ceiling has none ("none", 0 ms,
// unless its FLOPs give one). `cold_bytes` of the bytes cannot be in a cache (weights of a rank
// whose weights exceed the caches): they move at the memory bandwidth, the rest at the cache's
// when it fits, the two overlapping (the larger time counts).
struct CallFloor {
  double ms = 0;
  const char* bound = "none";  // "compute", "memory", "cache" or "none"
};
CallFloor call_floor(double flops, double bytes, const Ceilings& ceilings, double cold_bytes = 0);
// call_floor(...).ms: 0 without ceilings.
double floor_ms(double flops, double bytes, const Ceilings& ceilings, double cold_bytes = 0);

// One rank's floors per iteration: the sum of its compute phases' floors, by pass, each call's
// floor from its mean work (PhaseWork totals over calls).
struct RankFloor {
  double prefill_ms = 0, decode_ms = 0;  // decode: all gen - 1 steps together
};
RankFloor rank_floor(const std::vector<PhaseWork>& work, const Ceilings& ceilings);

// Where each rank sits in a pipeline (index = world rank): its replica (dp index) and stage (pp
// index). With one stage the configuration floors are the slowest rank's.
struct PipelineShape {
  int stages = 1, microbatches = 1;
  bool equal_microbatches = true;  // every micro-batch the same size (the batch divides evenly)
  std::vector<int> replica, stage;
};
PipelineShape pipeline_shape(const std::vector<ShardPlan>& shards);

// The least time of one pass through a pipeline: stage s spends per_microbatch_ms[s] on each
// of `microbatches` micro-batches, each going through the stages in order. Stage s can start
// once the first micro-batch has gone through the stages before it, does all its micro-batches,
// and then the last one must still go through the stages after it (that tail only when the
// micro-batches are equal, else the last one may be smaller): the largest over s of
// sum_{s'<s} f_s' + M f_s + sum_{s'>s} f_s', which is sum_s f_s + (M - 1) max_s f_s.
double pipeline_pass_floor_ms(const std::vector<double>& per_microbatch_ms, int microbatches, bool with_tail);

// A configuration's floors from each rank's work (index = world rank). Without pipeline stages
// the slowest rank's, since an iteration is as slow as its slowest rank. With them, per
// replica: each stage's work is its slowest rank's, and every pass is a pipeline pass (the
// first stage starts a decode step once the last has sent back the tokens of every micro-batch,
// so passes do not overlap): ttft = the prefill's pass floor, decode step = the mean step's
// pass floor, e2e = their sum over the iteration; never less than the slowest rank's sum.
// `decode_steps` = gen - 1. The fractions are floor / measured median, 0 where a median is not
// positive. `available` is false when the ceilings are invalid or no rank has any work.
FloorMetrics floor_metrics(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& ceilings,
                           int decode_steps, double ttft_median_ms, double decode_step_median_ms,
                           double e2e_median_ms, const PipelineShape& pipeline = {});

// Sets work_flops, work_bytes and floor_ms, per timed call, on each compute phase of `phases`
// whose path the work model knows; the per-call work is the mean over the ranks that run it,
// like PhaseSummary::ms. Per call because a phase's `calls` is what was timed: with CUDA graphs
// (timing "eager_sample") a decode phase is timed on one step while the model counts gen - 1.
void annotate_phases(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& ceilings,
                     std::vector<PhaseSummary>& phases);

// Whether a phase was measured faster per call than its floor (the floor is then no lower bound:
// a cache the rule missed, a probe that read low, or a wrong work model).
bool below_floor(const PhaseSummary& phase);
// Sets below_floor on every phase, and returns the warnings for the result's notes: one for the
// phases below their floors (the worst few named) and one per pass measured below its floor.
std::vector<std::string> flag_below_floor(std::vector<PhaseSummary>& phases, const FloorMetrics& floor);

// Whether every rank's weights and KV cache exceed the caches twice over, so that each of its
// weights is evicted between two passes: only then is PhaseWork::cold_bytes known to stream
// from memory (otherwise apply_speed_of_light zeroes it).
bool weights_stream_from_memory(const ModelConfig& model, const ConfigPoint& point, const std::vector<ShardPlan>& shards,
                                DType dtype, const Ceilings& ceilings);

// Fills result.metrics.floor and the phases' work and floors from phase_work of every rank of
// `point`; needs the latency metrics and phases already summarised. Does nothing when
// options.ceilings is not valid.
void apply_speed_of_light(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                          ConfigResult& result);

}  // namespace llmt
