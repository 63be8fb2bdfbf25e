#include "reports/html_traffic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "reports/html_table.hpp"
#include "reports/svg.hpp"

namespace llmt {
namespace {

using html::num;
using html::table;
using svg::escape;

std::vector<const ConfigResult*> with_requests(const std::vector<const ConfigResult*>& measured) {
  std::vector<const ConfigResult*> out;
  for (const ConfigResult* r : measured)
    if (r->metrics.traffic.available) out.push_back(r);
  return out;
}

// "13 / 20 / 20 / 13.5 / 20": a latency's p50, p90, p99, mean and max; "-" without samples.
std::string latency_cell(const Summary& s) {
  if (s.n == 0) return "-";
  return fmt::format("{:.4g} / {:.4g} / {:.4g} / {:.4g} / {:.4g}", s.median, s.p90, s.p99, s.mean, s.max);
}

// Per configuration: the per-request latencies and the rates.
std::string figures_table(const std::vector<const ConfigResult*>& traffic) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult* r : traffic) {
    const TrafficMetrics& t = r->metrics.traffic;
    rows.push_back({escape(r->point.short_name()), std::to_string(t.request_count), latency_cell(t.ttft_ms),
                    latency_cell(t.tpot_ms), latency_cell(t.itl_ms), latency_cell(t.e2e_ms),
                    latency_cell(t.queueing_ms), num(t.requests_per_s, "{:.4g}"), num(t.output_tokens_per_s, "{:.4g}"),
                    num(t.total_tokens_per_s, "{:.4g}"), num(t.goodput_per_s, "{:.4g}"),
                    num(100 * t.slo_met_fraction, "{:.1f}%"), escape(t.slo.empty() ? "none" : t.slo)});
  }
  return "<p>Latencies in ms, each request of every measured iteration pooled: p50 / p90 / p99 / mean / max. Rates "
         "per second: per iteration (its requests over the first arrival to the last finish), the median over "
         "iterations. Goodput: requests meeting every --slo limit per second (docs/metrics.md, Requests).</p>\n" +
         table({"configuration", "requests", "ttft ms", "tpot ms", "itl ms", "e2e ms", "queueing ms", "req/s",
                "output tok/s", "total tok/s", "goodput req/s", "within slo", "slo"},
               rows, {false, true, false, false, false, false, false, true, true, true, true, true, false});
}

// The empirical CDF of `values`: (value, share of values at or below it).
svg::Series cdf(const std::string& name, std::vector<double> values) {
  std::sort(values.begin(), values.end());
  svg::Series s{name, {}};
  for (std::size_t i = 0; i < values.size(); ++i)
    s.points.emplace_back(values[i], static_cast<double>(i + 1) / static_cast<double>(values.size()));
  return s;
}

std::string latency_cdfs(const std::vector<const ConfigResult*>& traffic) {
  std::string charts;
  for (const ConfigResult* r : traffic) {
    std::vector<double> ttft, e2e;
    for (const RequestSample& s : r->metrics.traffic.samples) {
      ttft.push_back(s.first_token_ms - s.arrival_ms);
      e2e.push_back(s.finished_ms - s.arrival_ms);
    }
    svg::LineChart chart{"request-cdf", "Per-request latency CDF: " + r->point.short_name(), "ms", "share of requests",
                         {cdf("ttft", ttft), cdf("e2e", e2e)}, false, true};
    charts += svg::render(chart);
  }
  return "<h3>Per-request latency CDF</h3>\n<p>Each configuration's requests of every measured iteration: the share "
         "whose TTFT (arrival to first token) and E2E (arrival to last token) are at most the time on the x "
         "axis.</p>\n<div class=\"charts\">\n" + charts + "</div>\n";
}

// Each configuration's replicas in its first measured iteration, and every replica's busy and
// idle time per iteration.
std::string replica_charts(const std::vector<const ConfigResult*>& traffic) {
  std::string timelines;
  svg::BarChart busy{"replica-busy-idle", "Each replica's time per iteration: in its steps and idle",
                     "ms per iteration (mean over iterations)", {"busy (steps)", "idle"}, {}, {}, {}};
  for (const ConfigResult* r : traffic) {
    const TrafficMetrics& t = r->metrics.traffic;
    svg::Timeline timeline{"replica-timeline", "Replicas, first measured iteration: " + r->point.short_name(),
                           "ms from the iteration's start", "a request in flight", "no request in flight", {}, {}, 0};
    timeline.spans = replica_spans(t, static_cast<int>(t.replicas.size()), 0);
    for (const ReplicaUse& u : t.replicas) {
      const std::string row = fmt::format("{} replica {}", r->point.short_name(), u.replica);
      timeline.rows.push_back(fmt::format("replica {} ({} requests)", u.replica, u.requests));
      timeline.end = std::max(timeline.end, u.busy_ms + u.idle_ms);
      busy.rows.push_back(row);
      busy.values.push_back({u.busy_ms, u.idle_ms});
    }
    for (const auto& spans : timeline.spans)
      for (auto [begin, end] : spans) timeline.end = std::max(timeline.end, end);
    timelines += svg::render(timeline);
  }
  return "<h3>Replicas: busy and idle</h3>\n<p>Timelines: when each replica had at least one request admitted and "
         "not finished, in the first measured iteration. Bars: the time in each replica's steps and the rest of "
         "the iteration (idle), means over iterations.</p>\n" +
         timelines + svg::render(busy);
}

// Balance ratio and useful fractions grouped by batching mode and balancing policy.
std::string balance_by_policy(const std::vector<const ConfigResult*>& traffic) {
  std::map<std::tuple<std::string, std::string>, std::vector<const ConfigResult*>> groups;
  for (const ConfigResult* r : traffic) groups[{r->metrics.traffic.batching, r->metrics.traffic.balance}].push_back(r);
  svg::BarChart ratio{"balance-by-policy", "Balance ratio (mean / max replica tokens) by batching and balancing",
                      "balance ratio", {"balance ratio"}, {}, {}, {}};
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, results] : groups)
    for (const ConfigResult* r : results) {
      const TrafficMetrics& t = r->metrics.traffic;
      const std::string name = fmt::format("{} / {} / {}", t.batching, t.balance, r->point.short_name());
      ratio.rows.push_back(name);
      ratio.values.push_back({t.balance_ratio});
      rows.push_back({escape(t.batching), escape(t.balance), escape(r->point.short_name()),
                      std::to_string(t.replicas.size()), num(t.balance_ratio, "{:.3f}"),
                      num(t.step_balance_ratio, "{:.3f}"), num(100 * t.useful_decode_fraction, "{:.1f}%"),
                      num(100 * t.useful_prefill_fraction, "{:.1f}%")});
    }
  return "<h3>Balance by policy</h3>\n<p>Balance ratio: the mean over the most of the replicas' tokens over the run "
         "(1: even; 1/replicas: all on one); per step: the same for each step index, averaged. Useful fractions: "
         "real decode rows over the slots held while decoding, and real prompt tokens over the prompt work padded "
         "to each step's longest.</p>\n" +
         svg::render(ratio) +
         table({"batching", "balance", "configuration", "replicas", "balance ratio", "per-step balance",
                "useful decode", "useful prefill"},
               rows, {false, false, false, true, true, true, true, true});
}

}  // namespace

std::vector<std::vector<std::pair<double, double>>> replica_spans(const TrafficMetrics& t, int replicas, int iteration) {
  std::vector<std::vector<std::pair<double, double>>> intervals(static_cast<std::size_t>(std::max(0, replicas)));
  for (const RequestSample& s : t.samples)
    if (s.iteration == iteration && s.replica >= 0 && s.replica < replicas)
      intervals[static_cast<std::size_t>(s.replica)].emplace_back(s.admitted_ms, s.finished_ms);
  for (auto& spans : intervals) {
    std::sort(spans.begin(), spans.end());
    std::vector<std::pair<double, double>> joined;
    for (const auto& span : spans) {
      if (!joined.empty() && span.first <= joined.back().second)
        joined.back().second = std::max(joined.back().second, span.second);
      else
        joined.push_back(span);
    }
    spans = std::move(joined);
  }
  return intervals;
}

std::string traffic_sections(const std::vector<const ConfigResult*>& measured) {
  const std::vector<const ConfigResult*> traffic = with_requests(measured);
  if (traffic.empty()) return "";
  return "<h2>Requests</h2>\n" + figures_table(traffic) + latency_cdfs(traffic) + replica_charts(traffic) +
         balance_by_policy(traffic);
}

}  // namespace llmt
