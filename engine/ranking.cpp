#include "engine/ranking.hpp"

#include <algorithm>
#include <map>

namespace llmt {

std::string_view objective_name(Objective o) {
  switch (o) {
    case Objective::latency: return "latency";
    case Objective::throughput: return "throughput";
    case Objective::memory: return "memory";
  }
  return "?";
}

std::optional<Objective> parse_objective(std::string_view s) {
  for (Objective o : {Objective::latency, Objective::throughput, Objective::memory})
    if (s == objective_name(o)) return o;
  return std::nullopt;
}

namespace {

std::size_t peak_of(const ConfigResult& r) {
  std::size_t peak = 0;
  for (const RankMemory& m : r.metrics.memory) peak = std::max(peak, m.peak_total);
  return peak;
}

// True when a is better than b for the objective (ties broken by latency, then id).
bool better(const ConfigResult& a, const ConfigResult& b, Objective o) {
  const double la = a.metrics.e2e_ms.median, lb = b.metrics.e2e_ms.median;
  switch (o) {
    case Objective::latency: break;
    case Objective::throughput:
      if (a.metrics.output_tokens_per_s != b.metrics.output_tokens_per_s)
        return a.metrics.output_tokens_per_s > b.metrics.output_tokens_per_s;
      break;
    case Objective::memory:
      if (peak_of(a) != peak_of(b)) return peak_of(a) < peak_of(b);
      break;
  }
  if (la != lb) return la < lb;
  return a.point.id() < b.point.id();
}

}  // namespace

std::vector<RankingEntry> rank_configurations(const std::vector<ConfigResult>& results, Objective objective) {
  // Best verified configuration per (workload, ranks).
  std::map<std::pair<std::string, int>, const ConfigResult*> best;
  std::map<std::pair<std::string, int>, int> candidates;
  std::map<std::string, const ConfigResult*> fastest_single;  // per workload
  for (const ConfigResult& r : results) {
    if (r.status != ConfigStatus::ok || r.samples.e2e_ms.empty()) continue;
    const auto key = std::make_pair(r.point.workload.label(), r.point.ranks());
    candidates[key] += 1;
    if (!best.count(key) || better(r, *best[key], objective)) best[key] = &r;
    if (r.point.ranks() == 1) {  // the baseline: the best one-rank run by the same objective
      const ConfigResult*& single = fastest_single[key.first];
      if (!single || better(r, *single, objective)) single = &r;
    }
  }
  std::vector<RankingEntry> out;
  for (const auto& [key, r] : best) {
    RankingEntry e;
    e.workload = r->point.workload;
    e.ranks = key.second;
    e.candidates = candidates[key];
    e.best_id = r->point.id();
    e.e2e_ms = r->metrics.e2e_ms.median;
    e.output_tokens_per_s = r->metrics.output_tokens_per_s;
    e.peak_bytes = peak_of(*r);
    if (const auto it = fastest_single.find(key.first); it != fastest_single.end()) {
      const ConfigMetrics& base = it->second->metrics;
      e.speedup = objective == Objective::throughput ? r->metrics.output_tokens_per_s / base.output_tokens_per_s
                                                     : base.e2e_ms.median / r->metrics.e2e_ms.median;
      e.efficiency = *e.speedup / e.ranks;
    }
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const RankingEntry& a, const RankingEntry& b) {
    return std::make_tuple(a.workload.batch, a.workload.prompt, a.workload.gen, a.ranks) <
           std::make_tuple(b.workload.batch, b.workload.prompt, b.workload.gen, b.ranks);
  });
  return out;
}

}  // namespace llmt
