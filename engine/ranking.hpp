// The end of a sweep: for every workload and rank count, the best verified configuration by
// an objective, with its speed-up and scaling efficiency against the best one-rank run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/result.hpp"

namespace llmt {

enum class Objective { latency, throughput, memory };
std::string_view objective_name(Objective o);
std::optional<Objective> parse_objective(std::string_view s);

struct RankingEntry {
  Workload workload;
  int ranks = 0;
  int candidates = 0;  // verified configurations at this rank count
  std::string best_id;
  double e2e_ms = 0;               // median
  double output_tokens_per_s = 0;
  std::size_t peak_bytes = 0;      // largest rank's measured peak
  // Against the best one-rank configuration of the same workload by the same objective (latency
  // and memory: ratio of median e2e; throughput: ratio of tokens/s); absent when no one-rank run
  // was measured.
  std::optional<double> speedup, efficiency;
};

std::vector<RankingEntry> rank_configurations(const std::vector<ConfigResult>& results, Objective objective);

}  // namespace llmt
