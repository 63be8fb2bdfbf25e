// The end of a sweep: for every workload and rank count, the best verified configuration by
// an objective, with its speed-up and scaling efficiency against the best one-rank run, the
// spread of both medians, and a cause for an efficiency above 100%. Ensembles (merge `mean`)
// are a different model from any single one: they are ranked apart and never the baseline.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/result.hpp"
#include "engine/stats.hpp"

namespace llmt {

enum class Objective { latency, throughput, memory };
std::string_view objective_name(Objective o);
std::optional<Objective> parse_objective(std::string_view s);

// Why an efficiency is above 100%: `noise` when its interval includes 100%; otherwise
// `working_set` (each rank's weights and KV cache are much smaller than the one-rank run's, so
// they may fit a cache level that the whole model did not) or `slow_baseline` (they are not: the
// one-rank run was probably memory-bound, oversubscribed or disturbed).
enum class SuperlinearCause { noise, working_set, slow_baseline };
std::string_view superlinear_cause_name(SuperlinearCause c);
struct Superlinear {
  SuperlinearCause cause = SuperlinearCause::noise;
  std::string why;  // the cause in words, with the figures behind it
};
// "super-linear (working_set): <why>", or "not super-linear (noise): <why>".
std::string superlinear_text(const Superlinear& s);

// Confidence asked of each median's interval (docs/metrics.md, "Ranking").
inline constexpr double kRankingConfidence = 0.95;

struct RankingEntry {
  Workload workload;
  std::string workload_label;  // ConfigPoint::workload_label
  int ranks = 0;
  int candidates = 0;  // verified configurations at this rank count (of the same kind: single or ensemble)
  std::string best_id;
  double e2e_ms = 0;               // median
  double output_tokens_per_s = 0;
  std::size_t peak_bytes = 0;      // largest rank's measured peak
  // An ensemble row (merge `mean`, `members` = dp replicas with weights of their own): ranked
  // against ensembles of as many members only, no speed-up.
  bool ensemble = false;
  int members = 1;
  Interval e2e_interval;  // of the median e2e (order statistics, kRankingConfidence)
  // The one-rank baseline (single models only): the best one-rank configuration of the workload
  // by the same objective, its median e2e and that median's interval.
  std::string baseline_id;
  double baseline_e2e_ms = 0;
  Interval baseline_e2e_interval;
  // Against the baseline (latency and memory: ratio of median e2e; throughput: ratio of tokens/s);
  // absent when no one-rank run was measured, and for ensembles.
  std::optional<double> speedup, efficiency;
  // The speed-up's interval: baseline low / this high to baseline high / this low, from the two
  // medians' intervals (confidence at least the product of theirs); efficiency's is it / ranks.
  // Absent with the speed-up, or when this interval's low end is 0.
  std::optional<Interval> speedup_interval, efficiency_interval;
  std::optional<Superlinear> superlinear;  // efficiency above 100%, with its likely cause
};

// Single-model rows and ensemble rows (`ensemble`), each sorted by workload and ranks.
std::vector<RankingEntry> rank_configurations(const std::vector<ConfigResult>& results, Objective objective);

}  // namespace llmt
