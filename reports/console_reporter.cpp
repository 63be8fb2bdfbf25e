// The console table: one row per configuration as it finishes; skipped and failed ones
// print their reason in place of figures. At the end, the ranking: single models, then ensembles.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "engine/metrics.hpp"
#include "engine/verify.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

// The e2e floor's share of the measured median, "-" without ceilings; "!" after it when a phase
// or a pass was measured faster than its floor (the result's notes name them).
std::string percent_of_floor(const ConfigMetrics& m) {
  const FloorMetrics& f = m.floor;
  if (!f.available) return "-";
  const bool below = f.ttft_of_floor > 1 || f.decode_step_of_floor > 1 || f.e2e_of_floor > 1 ||
                     std::any_of(m.phases.begin(), m.phases.end(), [](const PhaseSummary& ph) { return ph.below_floor; });
  return fmt::format("{:.1f}%{}", 100.0 * f.e2e_of_floor, below ? "!" : "");
}

// "[0.47, 0.50]", or "-" without one.
std::string interval_text(const std::optional<Interval>& i) {
  return i ? fmt::format("[{:.2f}, {:.2f}]", i->low, i->high) : "-";
}

// The single-model rows: the best per rank count, the spread of its median and of the speed-up,
// and a line under each efficiency above 100% with its likely cause.
void print_ranking(const RunSummary& s) {
  double least = 1;  // the lowest coverage of a median's interval
  bool any = false;
  for (const RankingEntry& e : s.ranking) {
    if (e.ensemble) continue;
    if (!any)
      fmt::print("\nbest by {} (verified single models; speed-up against the best one-rank run; intervals: of each "
                 "median, at least {:.0f}%, the speed-up's from both; tok/s over the mean e2e):\n{:<14} {:>5} {:<48} "
                 "{:>10} {:>20} {:>9} {:>9} "
                 "{:>8} {:>14} {:>10}\n",
                 s.objective, 100 * kRankingConfidence, "workload", "ranks", "configuration", "e2e median", "e2e interval",
                 "tok/s", "GiB/rank", "speed-up", "interval", "efficiency");
    any = true;
    least = std::min({least, e.e2e_interval.confidence, e.baseline_id.empty() ? 1 : e.baseline_e2e_interval.confidence});
    fmt::print("{:<14} {:>5} {:<48} {:>10.2f} {:>20} {:>9.1f} {:>9.3f} {:>8} {:>14} {:>10}\n", e.workload_label,
               e.ranks, e.best_id, e.e2e_ms, interval_text(e.e2e_interval), e.output_tokens_per_s,
               e.peak_bytes / 1073741824.0, e.speedup ? fmt::format("{:.2f}x", *e.speedup) : "n/a",
               interval_text(e.speedup_interval), e.efficiency ? fmt::format("{:.0f}%", 100.0 * *e.efficiency) : "n/a");
    if (e.superlinear)
      fmt::print("    {}\n", superlinear_text(*e.superlinear));
  }
  if (any && least < kRankingConfidence)
    fmt::print("    note: a median of fewer than 6 samples has no {:.0f}% interval: [min, max] covers it with {:.0f}% "
               "(the least here)\n",
               100 * kRankingConfidence, 100 * least);
}

// Ensembles (merge mean) answer another question: ranked among ensembles of as many members.
void print_ensembles(const RunSummary& s) {
  bool any = false;
  for (const RankingEntry& e : s.ranking) {
    if (!e.ensemble) continue;
    if (!any)
      fmt::print("\nensembles by {} (merge mean: a different model from any single one, ranked apart; no speed-up):\n"
                 "{:<14} {:>7} {:>5} {:<48} {:>10} {:>20} {:>9} {:>9}\n",
                 s.objective, "workload", "members", "ranks", "configuration", "e2e median", "e2e interval", "tok/s",
                 "GiB/rank");
    any = true;
    fmt::print("{:<14} {:>7} {:>5} {:<48} {:>10.2f} {:>20} {:>9.1f} {:>9.3f}\n", e.workload_label, e.members,
               e.ranks, e.best_id, e.e2e_ms, interval_text(e.e2e_interval), e.output_tokens_per_s,
               e.peak_bytes / 1073741824.0);
  }
}

constexpr double kGiB = 1073741824.0;

// The measured peak of a memory pool in GiB, "*" when it is the process's peak so far; "-" without.
std::string pool_peak(const PoolMemory* p) {
  if (!p) return "-";
  return fmt::format("{:.3f}{}", p->measured_peak_bytes / kGiB,
                     p->measured_by == "process_rss_hwm_since_process_start" ? "*" : "");
}
std::string pool_untracked(const PoolMemory* p) {
  return p ? fmt::format("{:.3f}", static_cast<double>(p->untracked_bytes()) / kGiB) : "-";
}

class ConsoleReporter final : public Reporter {
 public:
  void begin(const RunMetadata&, const CarriedResults& carried) override {
    if (!carried.results.empty())
      fmt::print("resumed: {} configuration(s) kept from {}\n", carried.results.size(), carried.source);
    fmt::print("ttft, tpot, e2e: means over the measured iterations (ttft + (gen - 1) x tpot = e2e); "
               "tok/s = batch x gen / e2e; sync%: exposed communication; wait%: all but compute (exposed "
               "communication, pipeline transfers and bubble); request lists (--workload): ttft and tpot are the "
               "requests' medians, tok/s their output tokens per second, e2e the time to serve them all\n");
    fmt::print("GiB/rank: the largest rank's allocated peak; peak GiB: the process's RSS high-water mark during the "
               "configuration (* since the process started) or the largest sample of a GPU's memory in use; untrk GiB: peak "
               "minus the allocated bytes of the ranks in it\n");
    fmt::print("rel.err: the largest error of a sequence's logits against the fp32 reference, relative to its largest "
               "logit; xnoise: that error in noise floors (one rank in the run's dtype; the cap rounding explains for "
               "the model when the floor exceeds it), at most {:g} passes\n",
               tolerance_rule(DType::f32).factor);
    fmt::print("%floor: the e2e speed-of-light floor over the median e2e; ! after it: a phase or pass measured faster "
               "than its floor (named in a note)\n");
    fmt::print("{:<44} {:>5} {:<7} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>8} {:>9} {:>9} {:>6} {:>6} {:>8} {:>6} {}\n",
               "configuration", "ranks", "status", "ttft ms", "tpot ms", "e2e ms", "tok/s", "sync%", "wait%",
               "GiB/rank", "peak GiB", "untrk GiB", "imbal", "%floor", "rel.err", "xnoise", "check");
    std::fflush(stdout);
  }

  void add(const ConfigResult& r) override {
    const ConfigPoint& p = r.point;
    const std::string name = p.short_name();
    if (r.samples.e2e_ms.empty()) {
      fmt::print("{:<44} {:>5} {:<7} {}\n", name, p.ranks(), config_status_name(r.status), r.reason);
      std::fflush(stdout);
      return;
    }
    const ConfigMetrics& m = r.metrics;
    std::size_t peak = 0;
    for (const RankMemory& rm : m.memory) peak = std::max(peak, rm.peak_total);
    const Verification& v = r.verification;
    // --gen 1 has no decode step: no time per output token to show (JSON records n = 0).
    // --gen 1 has no decode step: no time per output token to show (JSON records n = 0). Request
    // lists show their requests' medians.
    const TrafficMetrics& t = m.traffic;
    const double ttft = t.available ? t.ttft_ms.median : m.ttft_ms.mean;
    const std::string tpot = t.available   ? (t.tpot_ms.n == 0 ? "-" : fmt::format("{:.3f}", t.tpot_ms.median))
                             : m.decode_step_ms.n == 0 ? "-"
                                                       : fmt::format("{:.3f}", m.tpot_ms);
    fmt::print("{:<44} {:>5} {:<7} {:>9.2f} {:>9} {:>9.2f} {:>9.1f} {:>5.1f}% {:>5.1f}% {:>8.3f} {:>9} {:>9} "
               "{:>5.1f}% {:>6} {:>8.1e} {:>6} {}\n",
               name, p.ranks(), config_status_name(r.status), ttft, tpot, m.e2e_ms.mean,
               m.output_tokens_per_s, 100.0 * m.sync_fraction, 100.0 * m.wait_fraction, peak / 1073741824.0,
               pool_peak(largest_pool(m)), pool_untracked(largest_pool(m)),
               100.0 * m.imbalance, percent_of_floor(m), v.max_rel_error,
               v.checked ? fmt::format("{:.2f}", v.error_over_floor) : "-", v.checked ? (v.passed ? "pass" : "FAIL") : "-");
    if (r.status == ConfigStatus::failed) fmt::print("    {}\n", r.reason);
    print_noise_floor(v);
    if (const std::vector<double> ps = param_server_bytes_by_rank(m.comm); !ps.empty()) {
      std::vector<std::string> kib;
      for (double b : ps) kib.push_back(fmt::format("{:.1f}", b / 1024.0));
      fmt::print("    param-server: KiB moved per iteration by rank: {} (a group's root (n-1) x S per call, the others S)\n",
                 fmt::join(kib, " "));
    }
    if (m.moe.available) fmt::print("    moe: {}\n", describe_moe(m.moe));
    if (t.available) print_traffic(t);
    if (!m.bus_bandwidth.empty())
      fmt::print("    bus bandwidth GB/s (collective time without waiting for stragglers): {}\n",
                 describe_bus_bandwidth(m.bus_bandwidth));
    if (p.layout.pp > 1)
      fmt::print("    pipeline: bubble {:.1f}% measured, {:.1f}% textbook (p={}, m={}); transfers {:.3f} ms and {} "
                 "per iteration per rank\n",
                 100.0 * m.pipeline.bubble_fraction, 100.0 * m.pipeline.textbook_bubble_fraction, p.layout.pp,
                 p.microbatches, m.transfer_ms.mean, format_bytes(transfer_bytes_per_rank(m)));
    // The runner turns an attention kernel's `why` into a note, so it prints here (and is kept in JSON).
    for (const std::string& note : r.notes) fmt::print("    note: {}\n", note);
    std::fflush(stdout);
  }

  // A request list's figures (docs/metrics.md, "Requests"): per-request latencies, rates, and how
  // evenly the replicas and slots were used.
  static void print_traffic(const TrafficMetrics& t) {
    fmt::print("    requests: {} ({}); ms p50/p99: ttft {:.3f}/{:.3f}, tpot {:.3f}/{:.3f}, itl {:.3f}/{:.3f}, e2e "
               "{:.3f}/{:.3f}, queueing {:.3f}/{:.3f}\n",
               t.request_count, t.requests, t.ttft_ms.median, t.ttft_ms.p99, t.tpot_ms.median, t.tpot_ms.p99,
               t.itl_ms.median, t.itl_ms.p99, t.e2e_ms.median, t.e2e_ms.p99, t.queueing_ms.median, t.queueing_ms.p99);
    std::vector<std::string> replicas;
    for (const ReplicaUse& u : t.replicas)
      replicas.push_back(fmt::format("{}: {} req {:.0f} tok {:.2f}/{:.2f}", u.replica, u.requests, u.tokens, u.busy_ms,
                                     u.idle_ms));
    fmt::print("    rates: {:.2f} req/s, {:.1f} output tok/s, goodput {:.2f} req/s ({:.0f}% within {}); balance {:.3f} "
               "(per step {:.3f}); useful decode {:.1f}%, prefill {:.1f}%; replicas (busy/idle ms): {}\n",
               t.requests_per_s, t.output_tokens_per_s, t.goodput_per_s, 100.0 * t.slo_met_fraction,
               t.slo.empty() ? "no --slo" : t.slo, t.balance_ratio, t.step_balance_ratio,
               100.0 * t.useful_decode_fraction, 100.0 * t.useful_prefill_fraction, fmt::join(replicas, ", "));
  }

  // The floor and its cap, once per reference (they change with the workload).
  void print_noise_floor(const Verification& v) {
    if (!v.checked || v.floor_cap <= 0) return;
    std::string line = fmt::format("    noise floor {:.2e} ({}), cap {:.2e}: {}\n", v.floor, v.floor_source, v.floor_cap,
                                   v.floor_trusted ? "trusted" : "NOT trusted, the tolerance comes from the cap");
    if (line == last_floor_line_) return;
    fmt::print("{}", line);
    last_floor_line_ = std::move(line);
  }
  std::string last_floor_line_;

  void end(const RunSummary& s) override {
    print_ranking(s);
    print_ensembles(s);
    std::fflush(stdout);
  }
};

}  // namespace

std::unique_ptr<Reporter> make_console_reporter() { return std::make_unique<ConsoleReporter>(); }

}  // namespace llmt
