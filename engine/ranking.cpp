#include "engine/ranking.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

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

// The bytes a rank works through every step: its weights and KV cache (the largest rank's), or
// its whole measured peak where those were not recorded.
double working_set(const ConfigResult& r) {
  double most = 0;
  for (const RankMemory& m : r.metrics.memory) {
    const std::size_t bytes = m.weights + m.kv_cache;
    most = std::max(most, static_cast<double>(bytes > 0 ? bytes : m.peak_total));
  }
  return most;
}

std::string percents(const Interval& i) { return fmt::format("{:.0f}-{:.0f}%", 100 * i.low, 100 * i.high); }

// What else the two runs say: how close each came to its speed-of-light floor, and outliers in
// the baseline's samples (a disturbed or oversubscribed run).
std::string baseline_evidence(const ConfigResult& best, const ConfigResult& base) {
  std::string out;
  if (best.metrics.floor.available && base.metrics.floor.available)
    out += fmt::format("; the one-rank run reached {:.0f}% of its speed-of-light floor, this one {:.0f}%",
                       100 * base.metrics.floor.e2e_of_floor, 100 * best.metrics.floor.e2e_of_floor);
  if (base.measurement.outliers > 0)
    out += fmt::format("; {} of the one-rank run's {} samples are outliers", base.measurement.outliers,
                       base.samples.e2e_ms.size());
  return out;
}

std::optional<Superlinear> explain_superlinear(const RankingEntry& e, const ConfigResult& best,
                                               const ConfigResult& base) {
  if (!e.efficiency || *e.efficiency <= 1) return std::nullopt;
  const double efficiency = 100 * *e.efficiency;
  if (!e.efficiency_interval || e.efficiency_interval->low <= 1)
    return Superlinear{SuperlinearCause::noise,
                       fmt::format("efficiency {:.0f}%, but its interval {} includes 100%: within the noise of the two "
                                   "medians",
                                   efficiency, e.efficiency_interval ? percents(*e.efficiency_interval) : "(none)")};
  constexpr double mib = 1048576.0;
  const double mine = working_set(best), theirs = working_set(base);
  const std::string figures =
      fmt::format("efficiency {:.0f}% (interval {}): each rank works on {:.3g} MiB of weights and KV cache against "
                  "{:.3g} MiB on one rank",
                  efficiency, percents(*e.efficiency_interval), mine / mib, theirs / mib);
  // Shards of at most two thirds of the whole: a working set that can drop below a cache size.
  if (mine > 0 && 1.5 * mine <= theirs)
    return Superlinear{SuperlinearCause::working_set,
                       figures + "; the smaller shards may now fit in a cache level that the whole model did not" +
                           baseline_evidence(best, base)};
  return Superlinear{SuperlinearCause::slow_baseline,
                     figures + ", no smaller: the one-rank baseline was probably slowed (memory-bound, or "
                               "oversubscribed by other work)" +
                         baseline_evidence(best, base)};
}

RankingEntry make_entry(const ConfigResult& r, int candidates, const ConfigResult* base, Objective objective) {
  RankingEntry e;
  e.workload = r.point.workload;
  e.workload_label = r.point.workload_label();
  e.ranks = r.point.ranks();
  e.candidates = candidates;
  e.best_id = r.point.id();
  e.e2e_ms = r.metrics.e2e_ms.median;
  e.output_tokens_per_s = r.metrics.output_tokens_per_s;
  e.peak_bytes = peak_of(r);
  e.ensemble = r.point.ensemble();
  e.members = e.ensemble ? r.point.layout.dp : 1;
  e.e2e_interval = median_interval(r.samples.e2e_ms, kRankingConfidence);
  if (!base) return e;
  e.baseline_id = base->point.id();
  e.baseline_e2e_ms = base->metrics.e2e_ms.median;
  e.baseline_e2e_interval = median_interval(base->samples.e2e_ms, kRankingConfidence);
  const ConfigMetrics& b = base->metrics;
  e.speedup = objective == Objective::throughput ? r.metrics.output_tokens_per_s / b.output_tokens_per_s
                                                 : b.e2e_ms.median / r.metrics.e2e_ms.median;
  e.efficiency = *e.speedup / e.ranks;
  const Interval& theirs = e.baseline_e2e_interval;
  const Interval& mine = e.e2e_interval;
  if (&r == base)  // the baseline against itself: 1 exactly
    e.speedup_interval = Interval{1, 1, 1};
  else if (mine.low > 0)
    e.speedup_interval = Interval{theirs.low / mine.high, theirs.high / mine.low, theirs.confidence * mine.confidence};
  if (e.speedup_interval)
    e.efficiency_interval = Interval{e.speedup_interval->low / e.ranks, e.speedup_interval->high / e.ranks,
                                     e.speedup_interval->confidence};
  e.superlinear = explain_superlinear(e, r, *base);
  return e;
}

}  // namespace

std::string_view superlinear_cause_name(SuperlinearCause c) {
  static constexpr std::string_view names[] = {"noise", "working_set", "slow_baseline"};  // in the enum's order
  return names[static_cast<std::size_t>(c)];
}

std::string superlinear_text(const Superlinear& s) {
  return fmt::format("{} ({}): {}", s.cause == SuperlinearCause::noise ? "not super-linear" : "super-linear",
                     superlinear_cause_name(s.cause), s.why);
}

std::vector<RankingEntry> rank_configurations(const std::vector<ConfigResult>& results, Objective objective) {
  // Best verified configuration per (workload, ensemble members or 0 for a single model, ranks).
  struct Slot {
    const ConfigResult* best = nullptr;
    int candidates = 0;
  };
  std::map<std::tuple<std::string, int, int>, Slot> best;
  std::map<std::string, const ConfigResult*> baseline;  // per workload: the best one-rank single model
  for (const ConfigResult& r : results) {
    if (r.status != ConfigStatus::ok || r.samples.e2e_ms.empty()) continue;
    const int members = r.point.ensemble() ? r.point.layout.dp : 0;
    Slot& slot = best[{r.point.workload_label(), members, r.point.ranks()}];
    slot.candidates += 1;
    if (!slot.best || better(r, *slot.best, objective)) slot.best = &r;
    if (members == 0 && r.point.ranks() == 1) {
      const ConfigResult*& single = baseline[r.point.workload_label()];
      if (!single || better(r, *single, objective)) single = &r;
    }
  }
  std::vector<RankingEntry> out;
  for (const auto& [key, slot] : best) {
    const auto it = baseline.find(std::get<0>(key));
    const bool single_model = std::get<1>(key) == 0;
    out.push_back(make_entry(*slot.best, slot.candidates,
                             single_model && it != baseline.end() ? it->second : nullptr, objective));
  }
  // Uniform workloads by their numbers; request lists (whose sizing workload varies with the
  // replicas) by their label first.
  auto key = [](const RankingEntry& e) {
    const bool request_list = e.workload_label != e.workload.label();
    const Workload w = request_list ? Workload{0, 0, 0} : e.workload;
    return std::make_tuple(e.ensemble, request_list ? e.workload_label : std::string(), w.batch, w.prompt, w.gen,
                           e.ranks, e.members);
  };
  std::sort(out.begin(), out.end(), [&](const RankingEntry& a, const RankingEntry& b) { return key(a) < key(b); });
  return out;
}

}  // namespace llmt
