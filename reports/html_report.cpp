#include "reports/html_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "engine/ceilings.hpp"
#include "engine/metrics.hpp"
#include "engine/ranking.hpp"
#include "engine/stats.hpp"
#include "reports/html_table.hpp"
#include "reports/html_traffic.hpp"
#include "reports/json_schema.hpp"
#include "reports/reporter.hpp"
#include "reports/svg.hpp"

namespace llmt {
namespace {

using svg::escape;
using html::num;
using html::table;

const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; } .fail, .regression { color: #cf222e; font-weight: bold; }
.improvement { color: #1a7f37; } .noisy { color: #9a6700; } .warning { color: #9a6700; }
svg.chart { display: block; margin: 12px 0; }
svg .chart-title { font-size: 14px; font-weight: bold; } svg .tick, svg .legend, svg .row-label { font-size: 11px; }
svg .label { font-size: 12px; } svg .grid { stroke: #eee; } svg .axis { stroke: #888; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
)";

std::string page(const std::string& title, const std::string& body) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
      "lang=\"en\">\n<head><meta charset=\"UTF-8\"/><title>{}</title><style>{}</style></head>\n<body>\n<h1>{}</h1>\n{}"
      "</body>\n</html>\n",
      escape(title), kStyle, escape(title), body);
}

std::string short_name(const ConfigResult& r) {
  const ConfigPoint& p = r.point;
  return p.short_name();
}

// The ceilings the floors were computed from, for the run table.
std::string describe(const Ceilings& c) {
  if (!c.valid()) return "none (no speed-of-light floors)";
  const std::string cache = describe_cache_rule(c);
  return fmt::format("{} {:.1f} GB/s, {}, GEMM {:.4g} TFLOP/s {} ({}: {})",
                     c.bandwidth_probe.empty() ? "memory" : c.bandwidth_probe, c.bandwidth_gbps, cache, c.gemm_tflops,
                     c.dtype, c.source, c.device);
}

// The phases and passes of a configuration measured faster than their floors, "none" without.
std::string below_floor_text(const ConfigResult& r) {
  std::vector<std::string> names;
  const FloorMetrics& f = r.metrics.floor;
  for (const auto& [pass, share] : {std::pair{"ttft", f.ttft_of_floor}, std::pair{"decode step", f.decode_step_of_floor},
                                    std::pair{"e2e", f.e2e_of_floor}})
    if (share > 1) names.push_back(pass);
  for (const PhaseSummary& ph : r.metrics.phases)
    if (ph.below_floor) names.push_back(ph.path);
  if (names.empty()) return "none";
  return fmt::format("{}: {}{}", names.size(),
                     fmt::join(names.begin(), names.begin() + std::min<std::ptrdiff_t>(4, names.size()), ", "),
                     names.size() > 4 ? ", ..." : "");
}

// The achieved share of each configuration's e2e floor, and a table of every floor.
std::string speed_of_light_section(const std::vector<const ConfigResult*>& measured) {
  svg::BarChart chart{"floor", "Share of the speed-of-light floor achieved (e2e floor / median e2e)", "percent",
                      {"% of floor"}, {}, {}, {}};
  std::vector<std::vector<std::string>> rows;
  int flagged = 0;
  for (const ConfigResult* r : measured) {
    const FloorMetrics& f = r->metrics.floor;
    if (!f.available) continue;
    chart.rows.push_back(short_name(*r));
    chart.values.push_back({100.0 * f.e2e_of_floor});
    const std::string below = below_floor_text(*r);
    flagged += below != "none";
    rows.push_back({escape(r->point.id()), num(f.ttft_ms, "{:.4g}"), num(100 * f.ttft_of_floor, "{:.1f}%"),
                    num(f.decode_step_ms, "{:.4g}"), num(100 * f.decode_step_of_floor, "{:.1f}%"),
                    num(f.e2e_ms, "{:.4g}"), num(100 * f.e2e_of_floor, "{:.1f}%"), escape(below)});
  }
  if (rows.empty()) return "";
  const std::string warning =
      flagged == 0 ? ""
                   : fmt::format("<p class=\"warning\">Warning: {} configuration(s) measured faster than a "
                                 "speed-of-light floor (column \"faster than floor\"): there the floor is no lower "
                                 "bound.</p>\n",
                                 flagged);
  return "<h2>Speed of light</h2>\n" + warning + svg::render(chart) +
         table({"configuration", "ttft floor ms", "ttft % of floor", "decode step floor ms", "decode % of floor",
                "e2e floor ms", "e2e % of floor", "faster than floor"},
               rows, {false, true, true, true, true, true, true, false});
}

// One row of figures per measured configuration, with the definitions of docs/metrics.md: the
// latencies are means, so that ttft + (gen - 1) x tpot = e2e and tok/s = batch x gen / e2e.
std::string figures_section(const std::vector<const ConfigResult*>& measured) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : measured) {
    const ConfigMetrics& m = r->metrics;
    rows.push_back({escape(short_name(*r)), num(m.ttft_ms.mean, "{:.4g}"),
                    m.decode_step_ms.n == 0 ? "-" : num(m.tpot_ms, "{:.4g}"), num(m.e2e_ms.mean, "{:.4g}"),
                    num(m.e2e_ms.median, "{:.4g}"), num(m.output_tokens_per_s, "{:.4g}"),
                    num(100 * m.sync_fraction, "{:.1f}%"), num(100 * m.wait_fraction, "{:.1f}%")});
  }
  if (rows.empty()) return "";
  return "<h2>Figures per configuration</h2>\n<p>ttft, tpot (time per output token: the mean decode step) and e2e "
         "are means over the measured iterations; tok/s = batch x gen / mean e2e; sync% is the exposed communication, "
         "wait% everything but compute (exposed communication, pipeline transfers and bubble), both of mean e2e.</p>\n" +
         table({"configuration", "ttft ms", "tpot ms", "e2e ms", "e2e median ms", "tok/s", "sync%", "wait%"}, rows,
               {false, true, true, true, true, true, true, true});
}

// Every collective and transfer per configuration, with the bytes each rank moved.
std::string communication_section(const std::vector<const ConfigResult*>& measured) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : measured)
    for (const CommSummary& c : r->metrics.comm) {
      std::vector<std::string> by_rank;
      for (double b : c.rank_bytes) by_rank.push_back(num(b, "{:.4g}"));
      rows.push_back({escape(short_name(*r)), escape(c.op), escape(fmt::format("{} ({})", c.group, c.group_size)),
                      escape(c.category), num(c.calls, "{:.4g}"), num(c.bytes, "{:.4g}"),
                      escape(fmt::format("{}", fmt::join(by_rank, " "))), num(c.ms, "{:.4g}")});
    }
  if (rows.empty()) return "";
  return "<h2>Communication per iteration</h2>\n<p>Per collective or pipeline transfer: calls, bytes and time per "
         "iteration (means over the ranks taking part), and the bytes each rank moved (a parameter-server root "
         "moves (n-1) x S per call, the other ranks S).</p>\n" +
         table({"configuration", "op", "group (size)", "category", "calls", "bytes per rank", "bytes by rank", "ms"},
               rows, {false, false, false, false, true, true, true, true});
}

// Bus bandwidth per configuration, pass, collective and message size.
std::string bus_bandwidth_section(const std::vector<const ConfigResult*>& measured) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : measured)
    for (const BusBandwidth& b : r->metrics.bus_bandwidth)
      rows.push_back({escape(short_name(*r)), escape(b.pass), escape(b.op),
                      escape(fmt::format("{} ({})", b.group, b.group_size)), escape(format_bytes(b.message_bytes)),
                      num(b.calls, "{:.4g}"), num(b.calls > 0 ? b.ms / b.calls : 0.0, "{:.4g}"),
                      num(b.algbw_gbps, "{:.4g}"), num(b.busbw_gbps, "{:.4g}")});
  if (rows.empty()) return "";
  return "<h2>Collective bus bandwidth</h2>\n<p>Per pass, collective and message size; a call's time is the least "
         "over the ranks of its group (the last to arrive, which waits for no straggler). Pipeline transfers have "
         "no bandwidth: their time includes waiting for the previous stage (see the communication table).</p>\n" +
         table({"configuration", "pass", "op", "group (size)", "message", "calls", "ms per call", "algbw GB/s",
                "busbw GB/s"},
               rows, {false, false, false, false, true, true, true, true, true});
}

// Per configuration and memory pool: the ranks' allocated bytes beside what the OS or the device
// measured, and what nothing tracked.
std::string memory_pools_section(const std::vector<const ConfigResult*>& measured) {
  constexpr double gib = 1073741824.0;
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : measured)
    for (const PoolMemory& p : r->metrics.memory_pools)
      rows.push_back({escape(short_name(*r)), escape(p.pool), std::to_string(p.ranks.size()),
                      num(p.allocated_bytes / gib, "{:.4f}"), num(p.measured_peak_bytes / gib, "{:.4f}"),
                      num(static_cast<double>(p.untracked_bytes()) / gib, "{:.4f}"),
                      p.rss_at_start_bytes >= 0 ? num(p.rss_at_start_bytes / gib, "{:.4f}") : "-",
                      escape(p.measured_by)});
  if (rows.empty()) return "";
  return "<p>Allocated: the bytes the ranks' allocators handed out (their peaks, summed over the pool's ranks). "
         "Measured peak: the process's RSS high-water mark (host ranks; reset when the configuration started where "
         "the system permits) or the largest sample of the GPU's memory in use (after set-up and every iteration); in "
         "process mode one pool per process, measured by that process. Untracked: the difference: message copies, "
         "reference and captured logits, BLAS buffers, thread stacks, the allocator's own memory, and on the host "
         "everything resident when the configuration started (the binary, libraries, earlier results).</p>\n" +
         table({"configuration", "pool", "ranks", "allocated GiB", "measured peak GiB", "untracked GiB",
                "RSS at start GiB", "measured by"},
               rows, {false, false, true, true, true, true, true, false});
}


// The run's metadata and warnings.
std::string run_section(const nlohmann::json& doc, std::size_t measured, std::size_t all, const std::string& source) {
  const nlohmann::json& run = doc["run"];
  std::string body = fmt::format(
      "<p>{} on <b>{}</b> ({}), backend <b>{}</b>, {} measured of {} configurations. Source: {}.</p>\n",
      escape(run.value("model", nlohmann::json::object()).value("name", "?")), escape(run.value("host", "?")),
      escape(run.value("cpu_model", "?")), escape(run.value("backend", "?")), measured, all, escape(source));
  std::vector<std::vector<std::string>> meta;
  for (const char* k : {"version", "git_commit", "timestamp", "command_line", "device", "blas", "dtype",
                        "logical_cpus", "load_average_1m", "cpu_busy_at_start", "attention"})
    if (run.contains(k)) meta.push_back({k, escape(run[k].is_string() ? run[k].get<std::string>() : run[k].dump())});
  meta.push_back({"ceilings", escape(describe(ceilings_from_json(run, source + ": run")))});
  body += table({"run", "value"}, meta);
  for (const auto& w : run.value("warnings", nlohmann::json::array()))
    body += "<p class=\"warning\">warning: " + escape(w.get<std::string>()) + "</p>\n";
  return body;
}

// Latency, speed-up and efficiency against rank count: per strategy and workload the best (lowest
// median e2e) verified configuration per rank count. Ensembles (merge mean) are series of their
// own, with latency only: a different model has no speed-up over the one-rank single model.
std::string scaling_section(const std::vector<const ConfigResult*>& measured) {
  std::map<std::pair<std::string, std::string>, std::map<int, const ConfigResult*>> best;  // (series, workload)
  std::map<std::string, const ConfigResult*> single;  // fastest one-rank run per workload
  for (const ConfigResult* r : measured) {
    const std::string series = r->point.strategy + (r->point.ensemble() ? " ensemble" : "");
    const ConfigResult*& slot = best[{series, r->point.workload_label()}][r->point.ranks()];
    if (!slot || r->metrics.e2e_ms.median < slot->metrics.e2e_ms.median) slot = r;
    if (r->point.ranks() != 1) continue;  // (indexing `single` here would add a null entry)
    const ConfigResult*& one = single[r->point.workload_label()];
    if (!one || r->metrics.e2e_ms.median < one->metrics.e2e_ms.median) one = r;
  }
  svg::LineChart latency{"latency", "Median end-to-end latency per iteration", "ranks", "ms", {}, true};
  svg::LineChart speedup{"speedup", "Speed-up against the best one-rank run", "ranks", "speed-up", {}, true};
  svg::LineChart efficiency{"efficiency", "Scaling efficiency (speed-up / ranks)", "ranks", "efficiency", {}, true};
  int max_ranks = 1;
  for (auto& [key, by_ranks] : best) {
    const auto& [series, workload] = key;
    const bool ensemble = series.ends_with(" ensemble");
    const ConfigResult* base = !ensemble && single.count(workload) ? single[workload] : nullptr;
    // One-rank runs are deduplicated to the first strategy; every strategy's curve starts there.
    if (base && !by_ranks.count(1)) by_ranks[1] = base;
    svg::Series lat{series + " " + workload, {}}, sp{lat.name, {}}, ef{lat.name, {}};
    for (const auto& [ranks, r] : by_ranks) {
      max_ranks = std::max(max_ranks, ranks);
      lat.points.emplace_back(ranks, r->metrics.e2e_ms.median);
      if (!base) continue;
      const double s = base->metrics.e2e_ms.median / r->metrics.e2e_ms.median;
      sp.points.emplace_back(ranks, s);
      ef.points.emplace_back(ranks, s / ranks);
    }
    latency.series.push_back(lat);
    if (!sp.points.empty()) {
      speedup.series.push_back(sp);
      efficiency.series.push_back(ef);
    }
  }
  svg::Series ideal{"ideal", {}, true};
  for (int n = 1; n <= max_ranks; n *= 2) ideal.points.emplace_back(n, n);
  speedup.series.push_back(ideal);
  return "<h2>Scaling</h2>\n<div class=\"charts\">\n" + svg::render(latency) + svg::render(speedup) +
         svg::render(efficiency) + "</div>\n";
}

// Compute, exposed communication and the rest of each iteration; then the communication itself.
std::string time_section(const std::vector<const ConfigResult*>& measured) {
  svg::BarChart breakdown{"breakdown", "Time per iteration: compute, exposed communication, pipeline bubble",
                          "ms per iteration (mean over ranks)", {"compute", "exposed communication", "pipeline bubble / idle"},
                          {}, {}, {}};
  for (const ConfigResult* r : measured) {
    const ConfigMetrics& m = r->metrics;
    const double compute = mean_of(m.rank_busy_ms), comm = m.sync_ms.mean;
    breakdown.rows.push_back(short_name(*r));
    breakdown.values.push_back({compute, comm, std::max(0.0, m.e2e_ms.mean - compute - comm)});
  }
  return "<h2>Where the time goes</h2>\n" + svg::render(breakdown) + communication_section(measured) +
         bus_bandwidth_section(measured);
}

// The largest rank's allocated bytes per kind; then each memory pool's measured peak beside them.
std::string memory_section(const std::vector<const ConfigResult*>& measured) {
  svg::BarChart memory{"memory", "Memory of the largest rank (allocated peaks, as its allocator tracked them)", "GiB",
                       {"weights", "KV cache", "activations", "communication"}, {}, {}, {}};
  constexpr double gib = 1073741824.0;
  for (const ConfigResult* r : measured) {
    const RankMemory* largest = nullptr;
    for (const RankMemory& rm : r->metrics.memory)
      if (!largest || rm.peak_total > largest->peak_total) largest = &rm;
    memory.rows.push_back(short_name(*r));
    memory.values.push_back(largest ? std::vector<double>{largest->weights / gib, largest->kv_cache / gib,
                                                          largest->activations_peak / gib,
                                                          largest->communication_peak / gib}
                                    : std::vector<double>{0, 0, 0, 0});
  }
  return "<h2>Memory per rank</h2>\n" + svg::render(memory) + memory_pools_section(measured);
}

std::string balance_section(const std::vector<const ConfigResult*>& measured) {
  svg::BarChart imbalance{"imbalance", "Load imbalance (max / mean busy time - 1)", "percent", {"imbalance"}, {}, {}, {}};
  for (const ConfigResult* r : measured) {
    imbalance.rows.push_back(short_name(*r));
    imbalance.values.push_back({100.0 * r->metrics.imbalance});
  }
  return "<h2>Load balance</h2>\n" + svg::render(imbalance);
}

std::string interval_cell(const std::optional<Interval>& i, const char* f) {
  if (!i) return "-";
  return "[" + num(i->low, f) + ", " + num(i->high, f) + "]";
}

// The ranking, recomputed from the configurations by the file's objective (so that files written
// before the intervals, the super-linear causes and the separate ensembles existed show them too).
std::string ranking_section(const nlohmann::json& doc, const std::vector<ConfigResult>& all) {
  if (!doc.contains("summary")) return "";
  const std::string objective = doc["summary"].value("objective", "latency");
  const std::vector<RankingEntry> ranking =
      rank_configurations(all, parse_objective(objective).value_or(Objective::latency));
  std::vector<std::vector<std::string>> rows, ensembles;
  for (const RankingEntry& e : ranking) {
    const std::string workload = escape(e.workload_label), ranks = std::to_string(e.ranks);
    const std::string e2e = num(e.e2e_ms, "{:.2f}"), spread = interval_cell(e.e2e_interval, "{:.2f}");
    if (e.ensemble) {
      ensembles.push_back({workload, std::to_string(e.members), ranks, escape(e.best_id), e2e, spread});
      continue;
    }
    const std::string note =
        e.superlinear ? "<span class=\"warning\">" + escape(superlinear_text(*e.superlinear)) + "</span>" : "";
    rows.push_back({workload, ranks, escape(e.best_id), e2e, spread, e.speedup ? num(*e.speedup, "{:.2f}x") : "n/a",
                    interval_cell(e.speedup_interval, "{:.2f}"),
                    e.efficiency ? num(100 * *e.efficiency, "{:.0f}%") : "n/a", note});
  }
  std::string body = "<h2>Best configuration per rank count (by " + escape(objective) + ")</h2>\n" +
                     fmt::format("<p>Single models only. Intervals: of each median e2e, at least {:.0f}% (order "
                                 "statistics); of the speed-up, from the intervals of both medians.</p>\n",
                                 100 * kRankingConfidence) +
                     table({"workload", "ranks", "configuration", "e2e median ms", "e2e interval", "speed-up",
                            "speed-up interval", "efficiency", "note"},
                           rows, {false, true, false, true, true, true, true, true, false});
  if (!ensembles.empty())
    body += "<h2>Ensembles (merge mean), ranked apart</h2>\n<p>An ensemble is a different model from any single "
            "one: ranked among ensembles of as many members, with no speed-up.</p>\n" +
            table({"workload", "members", "ranks", "configuration", "e2e median ms", "e2e interval"}, ensembles,
                  {false, true, true, false, true, true});
  return body;
}

// Mixture-of-experts models: how evenly the router spread the tokens, and where the MoE time went.
std::string moe_section(const std::vector<const ConfigResult*>& measured) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : measured) {
    const MoeMetrics& m = r->metrics.moe;
    if (!m.available) continue;
    const bool ep = m.ep_ranks > 1;
    rows.push_back({escape(r->point.id()), escape(m.routing), fmt::format("{:.2f}", m.expert_balance),
                    fmt::format("{:.2f}", m.worst_layer_balance),
                    escape(fmt::format("{}", fmt::join(tokens_per_expert_all_layers(m), " "))),
                    ep ? fmt::format("{:.2f}", m.ep_balance) : "-",
                    ep ? escape(fmt::format("{}", fmt::join(m.tokens_per_ep_rank, " "))) : "-", num(m.router_ms),
                    num(m.dispatch_ms), num(m.experts_ms), num(m.combine_ms), ep ? num(m.exchange_ms) : "-",
                    ep ? num(m.exchange_transfer_ms) : "-", ep ? num(m.exchange_wait_ms) : "-",
                    ep ? num(m.exchange_bytes / 1024.0) : "-",
                    m.routing_agreement >= 0 ? fmt::format("{:.1f}%", 100 * m.routing_agreement) : "-"});
  }
  if (rows.empty()) return {};
  return "<h2>Mixture of experts</h2>\n<p>Expert balance: per layer, the mean tokens per expert over the most any "
         "expert got (1: even), averaged over layers; EP rank balance the same over the expert-parallel ranks' "
         "blocks of experts. Times per iteration, slowest rank, summed over layers; dispatch and combine include "
         "the EP exchange, shown on its own too, split into its transfer (each exchange's time on the last rank "
         "to arrive) and the wait for the slowest EP rank, with its KiB per iteration over all ranks. Routing "
         "agreement: with teacher-forced routing, the share of the run's own expert choices that were the fp32 "
         "reference's (docs/metrics.md, Mixture of experts).</p>\n" +
         table({"configuration", "routing", "expert balance", "worst layer", "tokens per expert (all layers)",
                "EP rank balance", "tokens per EP rank", "router ms", "dispatch ms", "experts ms", "combine ms",
                "exchange ms", "exchange transfer ms", "exchange wait ms", "exchange KiB", "routing agreement"},
               rows, {false, false, true, true, false, true, false, true, true, true, true, true, true, true, true, true});
}

std::string verification_section(const std::vector<ConfigResult>& all) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult& r : all) {
    const Verification& v = r.verification;
    std::string check = "<span>-</span>";
    if (v.checked) check = v.passed ? "<span class=\"pass\">pass</span>" : "<span class=\"fail\">FAIL</span>";
    auto shown = [&](double x) { return v.checked ? num(x) : std::string(); };
    const bool capped = v.checked && v.floor_cap > 0;
    rows.push_back({escape(r.point.id()), escape(std::string(config_status_name(r.status))), shown(v.max_rel_error),
                    shown(v.floor), capped ? num(v.floor_cap) : "", capped ? (v.floor_trusted ? "yes" : "NO") : "",
                    shown(v.error_over_floor), shown(v.tolerance),
                    v.checked ? fmt::format("{:.1f}%", 100 * v.top1_agreement) : "",
                    v.last_iteration_checked ? num(v.last_iteration_rel_error) : "", check, escape(r.reason)});
  }
  std::string how;
  for (const ConfigResult& r : all)
    if (r.verification.checked && !r.verification.reference.empty()) {
      how = fmt::format("<p>Reference: {}. Noise floor: {}. A configuration passes when its largest error (per "
                        "sequence and step, relative to the sequence's largest logit) is at most {:g} floors and every "
                        "disagreement on the most likely token is a near tie. The floor is trusted up to its cap, the largest "
                        "floor rounding in the dtype explains for this model; above it the cap stands in for it "
                        "(docs/metrics.md, Verification).</p>\n",
                        escape(r.verification.reference), escape(r.verification.floor_source),
                        r.verification.floor_factor);
      break;
    }
  return "<h2>Verification against the fp32 reference</h2>\n" + how +
         table({"configuration", "status", "max rel error", "noise floor", "floor cap", "floor trusted", "error / floor",
                "tolerance", "top-1 agree", "last iteration error", "check", "reason"},
               rows, {false, false, true, true, true, false, true, true, true, true, false, false});
}

}  // namespace

std::string html_report(const nlohmann::json& doc, const std::string& source) {
  std::vector<ConfigResult> all;
  for (std::size_t i = 0; i < doc["configurations"].size(); ++i)
    all.push_back(result_from_json(doc["configurations"][i], fmt::format("{}: configurations[{}]", source, i)));
  std::vector<const ConfigResult*> measured;  // verified and measured: what the plots show
  for (const ConfigResult& r : all)
    if (r.status == ConfigStatus::ok && !r.samples.e2e_ms.empty()) measured.push_back(&r);
  const std::string body = run_section(doc, measured.size(), all.size(), source) + figures_section(measured) +
                           scaling_section(measured) + time_section(measured) + memory_section(measured) +
                           balance_section(measured) + traffic_sections(measured) + moe_section(measured) + speed_of_light_section(measured) +
                           ranking_section(doc, all) + verification_section(all);
  return page("llmthreads report", body);
}

std::string html_comparison(const Comparison& c, const CompareOptions& o, const std::string& base,
                            const std::string& current) {
  std::string body = fmt::format(
      "<p>Base <b>{}</b> against new <b>{}</b>: threshold {:.1f}%, two-sided Mann-Whitney U tests: {}. "
      "Verdict: <span class=\"{}\">{}</span>.</p>\n",
      escape(base), escape(current), 100 * o.threshold, escape(describe_tests(c, o)),
      c.exit_status() == 0 ? "pass" : "regression",
      c.regressed() ? "regression" : c.undetectable.empty() ? "no regression" : "cannot judge: " + c.undetectable);
  for (const std::string& w : c.warnings) body += "<p class=\"warning\">warning: " + escape(w) + "</p>\n";
  svg::BarChart chart{"latency-change", "Change of the median end-to-end latency", "percent", {"slower", "faster"},
                      {}, {}, {}};
  std::vector<std::vector<std::string>> rows;
  for (const MetricComparison& m : c.rows) {
    if (m.metric == "latency.median") {
      chart.rows.push_back(m.config);
      chart.values.push_back({std::max(0.0, 100 * m.change), std::max(0.0, -100 * m.change)});
      chart.row_classes.emplace_back(verdict_name(m.verdict));
    }
    const std::string verdict(verdict_name(m.verdict));
    rows.push_back({escape(m.config), escape(m.metric), num(m.base, "{:.4g}"), num(m.current, "{:.4g}"),
                    num(100 * m.change, "{:+.2f}%"), num(m.p_value), num(m.p_adjusted),
                    "<span class=\"" + verdict + "\">" + verdict + "</span>" + (m.why.empty() ? "" : " " + escape(m.why)) +
                        (m.same_test_as.empty() ? "" : " (one test with " + escape(m.same_test_as) + ")")});
  }
  body += svg::render(chart);
  body += table({"configuration", "metric", "base", "new", "change", "p-value", "adj. p", "verdict"}, rows,
                {false, false, true, true, true, true, true, false});
  auto list = [&](const char* title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    body += fmt::format("<h2>{}</h2>\n<ul>\n", title);
    for (const std::string& i : items) body += "<li>" + escape(i) + "</li>\n";
    body += "</ul>\n";
  };
  list("Failed now, passed in the base", c.status_regressions);
  list("Only in the base", c.only_in_base);
  list("Only in the new run", c.only_in_current);
  return page("llmthreads comparison", body);
}

}  // namespace llmt
