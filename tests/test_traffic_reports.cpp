// Request-list figures in every report but the console's (which test_traffic_run covers): CSV
// columns, the HTML report's Requests sections and `compare`'s per-iteration request metrics, on
// hand-made results whose true values are known.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "csv_output.hpp"
#include "engine/metrics.hpp"
#include "engine/traffic_run.hpp"
#include "reports/compare.hpp"
#include "reports/html_report.hpp"
#include "reports/html_traffic.hpp"
#include "reports/json_schema.hpp"

namespace llmt {
namespace {

// Four requests, all arriving at 0: prompts 4, 2, 6, 3 and outputs 3, 1, 2, 4 (15 prompt and 10
// output tokens).
std::shared_ptr<const RequestList> four_requests() {
  auto list = std::make_shared<RequestList>();
  list->source = "hand-made";
  const int prompts[] = {4, 2, 6, 3}, outputs[] = {3, 1, 2, 4};
  for (int i = 0; i < 4; ++i) list->requests.push_back({prompts[i], outputs[i], 0.0});
  return list;
}

// One iteration's times in ms (scale 1): request, replica, admitted, each output token.
//   TTFT {10, 8, 20, 16}: p50 13, p90 18.8, p99 19.88, mean 13.5, max 20
//   E2E {14, 8, 24, 22}: p50 18, p99 23.94, mean 17, max 24; duration 24 ms
//   TPOT {2, -, 4, 2}: p50 2, mean 8/3, max 4; ITL {2, 2, 4, 2, 2, 2}; queueing {0, 0, 0, 10}
//   4 requests / 24 ms = 166.667 req/s, 10 output tokens 416.667 tok/s, 25 tokens 1041.67 tok/s;
//   under ttft=15ms requests 0 and 1 meet it: half, goodput 2 / 24 ms = 83.3333 req/s.
// Replica 0 holds a request from 0 to 24 ms, replica 1 from 0 to 8 and from 10 to 22.
struct TimesMs {
  int request, replica;
  double admitted;
  std::vector<double> tokens;
};
const TimesMs kTimes[] = {{0, 0, 0, {10, 12, 14}}, {1, 1, 0, {8}}, {2, 0, 0, {20, 24}}, {3, 1, 10, {16, 18, 20, 22}}};

std::vector<RequestSample> samples_at(const RequestList& list, int iteration, double scale) {
  std::vector<RequestSample> out;
  for (const TimesMs& t : kTimes) {
    RequestSample& s = out.emplace_back();
    s.request = t.request;
    s.replica = t.replica;
    s.iteration = iteration;
    s.prompt = list.requests[static_cast<std::size_t>(t.request)].prompt;
    s.output = list.requests[static_cast<std::size_t>(t.request)].output;
    s.admitted_ms = t.admitted * scale;
    for (double ms : t.tokens) s.token_ms.push_back(ms * scale);
    s.first_token_ms = s.token_ms.front();
    s.finished_ms = s.token_ms.back();
  }
  return out;
}

struct TrafficCase {
  BalancePolicy balance = BalancePolicy::round_robin;
  std::vector<double> request_scales = {1.0};  // one measured iteration per entry: its times x scale
  std::vector<double> e2e_ms = {24.0};         // each iteration's makespan (samples.e2e_ms)
  std::string slo;
  double balance_ratio = 12.5 / 15;  // replica tokens 15 and 10
};

RawSamples iteration_samples(const std::vector<double>& e2e_ms) {
  RawSamples s;
  s.e2e_ms = e2e_ms;
  s.rank_iteration_ms = {e2e_ms, e2e_ms};
  s.rank_busy_ms = s.rank_iteration_ms;
  s.rank_sync_ms.assign(2, std::vector<double>(e2e_ms.size(), 0.0));
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms = s.rank_sync_ms;
  return s;
}

// A verified dp2 result of the four requests with continuous batching in 2 slots per replica.
ConfigResult traffic_result(const TrafficCase& c) {
  auto plan = std::make_shared<TrafficPlan>();
  plan->requests = four_requests();
  plan->batching = {BatchingMode::continuous, 2, 0, 0};
  plan->balance = c.balance;
  ConfigResult r;
  r.point = ConfigPoint{"dp", Layout{1, 1, 2}, SyncMode::blocking, MergeMode::concat, sizing_workload(*plan, 2)};
  r.point.traffic = plan;
  r.iterations = static_cast<int>(c.e2e_ms.size());
  r.samples = iteration_samples(c.e2e_ms);
  fill_sample_metrics(r.point, r.samples, r.metrics);
  TrafficMetrics& t = r.metrics.traffic;
  t = describe_traffic(*plan, c.slo);
  for (std::size_t i = 0; i < c.request_scales.size(); ++i) {
    const auto rows = samples_at(*plan->requests, static_cast<int>(i), c.request_scales[i]);
    t.samples.insert(t.samples.end(), rows.begin(), rows.end());
  }
  summarize_requests(t, *plan->requests, parse_slo(c.slo));
  t.replicas = {{0, 2, 5, 15, 20, 4}, {1, 2, 5, 10, 18, 6}};
  t.balance_ratio = c.balance_ratio;
  t.step_balance_ratio = 0.9;
  t.useful_decode_fraction = 0.75;
  t.useful_prefill_fraction = 0.6;
  r.metrics.output_tokens_per_s = t.output_tokens_per_s;
  r.metrics.memory.resize(2);
  r.verification.checked = r.verification.passed = true;
  return r;
}

ConfigResult uniform_result() {
  ConfigResult r;
  r.point = ConfigPoint{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 1}};
  r.iterations = 1;
  r.samples = iteration_samples({30});
  r.samples.rank_iteration_ms.resize(1);
  r.samples.rank_busy_ms.resize(1);
  r.samples.rank_sync_ms.resize(1);
  r.samples.rank_sync_total_ms.resize(1);
  r.samples.rank_transfer_ms.resize(1);
  r.samples.ttft_ms = {30};
  fill_sample_metrics(r.point, r.samples, r.metrics);
  r.metrics.memory.resize(1);
  return r;
}

std::filesystem::path temp_csv(const std::string& name) { return testing::temp_path("llmt_traffic_reports", name); }

// ---- CSV ------------------------------------------------------------------------------------

TEST(TrafficCsv, EveryRequestFigureUnderItsColumnAfterTheOthers) {
  const ConfigResult r = traffic_result({.slo = "ttft=15ms"});
  const auto [header, row] = testing::csv_of(r, temp_csv("traffic.csv"));
  ASSERT_EQ(header.size(), row.size()) << "one field per column";
  const auto at = std::find(header.begin(), header.end(), "requests");
  ASSERT_NE(at, header.end());
  EXPECT_EQ(*(at - 1), "routing_agreement") << "the request columns come after every earlier column";
  const std::pair<const char*, std::string> expected[] = {
      {"requests", r.point.traffic->requests->label()},
      {"batching", "continuous"},
      {"balance", "round-robin"},
      {"slots", "2"},
      {"slo", "ttft=15ms"},
      {"request_ttft_ms_p50", "13"},
      {"request_ttft_ms_p90", "18.8"},
      {"request_ttft_ms_p99", "19.88"},
      {"request_ttft_ms_mean", "13.5"},
      {"request_ttft_ms_max", "20"},
      {"request_tpot_ms_p50", "2"},
      {"request_tpot_ms_mean", "2.66667"},
      {"request_itl_ms_max", "4"},
      {"request_e2e_ms_p50", "18"},
      {"request_e2e_ms_p99", "23.94"},
      {"request_queueing_ms_mean", "2.5"},
      {"request_queueing_ms_max", "10"},
      {"requests_per_s", "166.667"},
      {"request_output_tokens_per_s", "416.667"},
      {"request_total_tokens_per_s", "1041.67"},
      {"goodput_per_s", "83.3333"},
      {"slo_met_fraction", "0.5"},
      {"balance_ratio", "0.833333"},
      {"step_balance_ratio", "0.9"},
      {"useful_decode_fraction", "0.75"},
      {"useful_prefill_fraction", "0.6"}};
  for (const auto& [column, value] : expected) EXPECT_EQ(testing::field_under(header, row, column), value) << column;
}

TEST(TrafficCsv, UniformWorkloadsLeaveTheRequestColumnsEmpty) {
  const ConfigResult r = uniform_result();
  const auto [header, row] = testing::csv_of(r, temp_csv("uniform.csv"));
  ASSERT_EQ(header.size(), row.size());
  const std::size_t first = static_cast<std::size_t>(std::find(header.begin(), header.end(), "requests") - header.begin());
  ASSERT_LT(first, header.size());
  for (std::size_t i = first; i < header.size(); ++i) EXPECT_EQ(row[i], "") << header[i];
  EXPECT_EQ(testing::csv_value(r, "e2e_ms_median", temp_csv("uniform.csv")), "30") << "the uniform columns stay";
}

TEST(TrafficCsv, AFailedRequestListKeepsItsPlanColumns) {
  ConfigResult r = traffic_result({});
  r.status = ConfigStatus::failed;
  r.reason = "out of memory";
  r.samples = RawSamples{};
  r.metrics = ConfigMetrics{};
  const auto [header, row] = testing::csv_of(r, temp_csv("failed.csv"));
  ASSERT_EQ(header.size(), row.size());
  EXPECT_EQ(testing::csv_value(r, "batching", temp_csv("failed.csv")), "continuous");
  EXPECT_EQ(testing::csv_value(r, "request_ttft_ms_p50", temp_csv("failed.csv")), "");
}

// ---- HTML -----------------------------------------------------------------------------------

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(TrafficHtml, ReplicaSpansJoinOverlappingRequests) {
  const ConfigResult r = traffic_result({});
  const auto spans = replica_spans(r.metrics.traffic, 2, 0);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0], (std::vector<std::pair<double, double>>{{0, 24}}));
  EXPECT_EQ(spans[1], (std::vector<std::pair<double, double>>{{0, 8}, {10, 22}}));
  EXPECT_TRUE(replica_spans(r.metrics.traffic, 2, 1)[0].empty()) << "no second iteration";
}

TEST(TrafficHtml, RequestsSectionHasCdfsTimelinesAndBalanceByPolicy) {
  const ConfigResult round_robin = traffic_result({.slo = "ttft=15ms"});
  const ConfigResult least_tokens =
      traffic_result({.balance = BalancePolicy::least_tokens, .slo = "ttft=15ms", .balance_ratio = 1.0});
  const std::string html =
      html_report(make_document(RunMetadata{}, {to_json(round_robin), to_json(least_tokens), to_json(uniform_result())}),
                  "r.json");
  EXPECT_EQ(count(html, "<h2>Requests</h2>"), 1u);
  EXPECT_EQ(count(html, "data-chart=\"request-cdf\""), 2u) << "one CDF per request-list configuration";
  EXPECT_EQ(count(html, "data-series=\"ttft\""), 2u);
  EXPECT_EQ(count(html, "data-series=\"e2e\""), 2u);
  EXPECT_EQ(count(html, "data-chart=\"replica-timeline\""), 2u);
  EXPECT_EQ(count(html, "data-chart=\"replica-busy-idle\""), 1u);
  EXPECT_EQ(count(html, "data-chart=\"balance-by-policy\""), 1u);
  EXPECT_NE(html.find("<td>13 / 18.8 / 19.88 / 13.5 / 20</td>"), std::string::npos) << "ttft p50/p90/p99/mean/max";
  EXPECT_NE(html.find("<td class=\"num\">83.33</td><td class=\"num\">50.0%</td><td>ttft=15ms</td>"), std::string::npos)
      << "goodput and the share within the SLO";
  EXPECT_NE(html.find("replica 1 (2 requests): a request in flight from 10 to 22 ms"), std::string::npos);
  EXPECT_NE(html.find("<td>continuous</td><td>least-tokens</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.833</td><td class=\"num\">0.900</td><td class=\"num\">75.0%</td><td "
                      "class=\"num\">60.0%</td>"),
            std::string::npos)
      << "round-robin's balance, per-step balance and useful fractions";
  EXPECT_NE(html.find("<td class=\"num\">1.000</td>"), std::string::npos) << "least-tokens' balance";
  EXPECT_LT(html.find("<td>continuous</td><td>least-tokens</td>"), html.find("<td>continuous</td><td>round-robin</td>"))
      << "grouped by batching, then policy";

  const std::string uniform = html_report(make_document(RunMetadata{}, {to_json(uniform_result())}), "u.json");
  EXPECT_EQ(uniform.find("<h2>Requests</h2>"), std::string::npos) << "no request sections without a request list";
}

// ---- compare --------------------------------------------------------------------------------

nlohmann::json document_of(const TrafficCase& c) { return make_document(RunMetadata{}, {to_json(traffic_result(c))}); }

// n values 0.2% apart whose median is `center`.
std::vector<double> around(double center, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(center * (1 + 0.002 * (i - (n - 1) / 2.0)));
  return v;
}

// `n` iterations of 24 ms each (0.2% apart), each request's times x `scale` (0.2% apart).
TrafficCase measured(int n, double scale, const std::string& slo = "") {
  TrafficCase c;
  c.request_scales = around(scale, n);
  c.e2e_ms = around(24, n);
  c.slo = slo;
  return c;
}

const MetricComparison* find(const Comparison& c, const std::string& metric) {
  for (const MetricComparison& m : c.rows)
    if (m.metric == metric) return &m;
  return nullptr;
}

TEST(TrafficCompare, RequestMetricsAreOneValuePerIteration) {
  const TrafficCase base = measured(10, 1.0);
  const Comparison c = compare_runs(document_of(base), document_of(base), CompareOptions{}, "a", "b");
  for (const char* metric : {"requests.ttft_p50", "requests.tpot_p50", "requests.e2e_p99", "requests.goodput"}) {
    const MetricComparison* m = find(c, metric);
    ASSERT_NE(m, nullptr) << metric;
    EXPECT_EQ(m->base_n, 10u) << metric << ": iterations, not 40 requests";
    EXPECT_EQ(m->verdict, Verdict::same) << metric;
    EXPECT_FALSE(m->gating) << metric << " is secondary by default";
  }
  EXPECT_NEAR(find(c, "requests.ttft_p50")->base, 13.0, 1e-9);
  EXPECT_NEAR(find(c, "requests.tpot_p50")->base, 2.0, 1e-9);
  EXPECT_NEAR(find(c, "requests.e2e_p99")->base, 23.94, 1e-9);
  EXPECT_NEAR(find(c, "requests.goodput")->base, 4 / 0.024, 0.01) << "no --slo: every request counts";
  EXPECT_EQ(find(c, "ttft.median"), nullptr) << "no batch-wide prefill in a request list";
  // Throughput: the list's 10 output tokens over each iteration, not the sizing workload's.
  EXPECT_NEAR(find(c, "throughput")->base, 10 / 0.024, 0.01);
}

TEST(TrafficCompare, SlowerRequestsInEqualIterationsAreASecondaryRegression) {
  const TrafficCase base = measured(10, 1.0);
  TrafficCase slower = base;
  slower.request_scales = around(1.2, 10);  // every request 20% later, the iterations as long
  const Comparison c = compare_runs(document_of(base), document_of(slower), CompareOptions{}, "a", "b");
  EXPECT_EQ(find(c, "latency.median")->verdict, Verdict::same);
  EXPECT_EQ(find(c, "requests.ttft_p50")->verdict, Verdict::regression);
  EXPECT_NEAR(find(c, "requests.ttft_p50")->change, 0.2, 1e-9);
  EXPECT_EQ(find(c, "requests.e2e_p99")->verdict, Verdict::regression);
  EXPECT_EQ(find(c, "requests.goodput")->verdict, Verdict::regression) << "fewer requests per second";
  EXPECT_EQ(c.exit_status(), 0) << "secondary metrics never fail the gate";

  CompareOptions gate_ttft;
  gate_ttft.gate = parse_gate({"latency.median", "requests.ttft_p50"});
  EXPECT_EQ(compare_runs(document_of(base), document_of(slower), gate_ttft, "a", "b").exit_status(), 1);

  const Comparison faster = compare_runs(document_of(slower), document_of(base), CompareOptions{}, "a", "b");
  EXPECT_EQ(find(faster, "requests.ttft_p50")->verdict, Verdict::improvement);
  EXPECT_EQ(find(faster, "requests.goodput")->verdict, Verdict::improvement);
}

TEST(TrafficCompare, GoodputCountsOnlyRequestsWithinTheSlo) {
  // Under ttft=15ms two of four requests meet it at scale 1 (TTFT 10 and 8 ms); at 1.6 only one
  // (8 ms becomes 12.8, within; 10 ms becomes 16, not) in an iteration 1.6 times as long.
  const TrafficCase base = measured(10, 1.0, "ttft=15ms");
  TrafficCase late = base;
  late.request_scales = around(1.6, 10);
  const Comparison c = compare_runs(document_of(base), document_of(late), CompareOptions{}, "a", "b");
  EXPECT_NEAR(find(c, "requests.goodput")->base, 2 / 0.024, 0.01);
  EXPECT_NEAR(find(c, "requests.goodput")->current, 1 / (0.024 * 1.6), 0.01);
  EXPECT_EQ(find(c, "requests.goodput")->verdict, Verdict::regression);
}

TEST(TrafficCompare, PooledRunsKeepTheirIterationsApart) {
  const TrafficCase one = measured(6, 1.0);
  const std::vector<ResultsFile> side = {{"a1", document_of(one)}, {"a2", document_of(one)}};
  const Comparison c = compare_runs(side, side, CompareOptions{});
  const MetricComparison* m = find(c, "requests.ttft_p50");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->base_n, 12u) << "6 iterations from each of two runs";
  EXPECT_EQ(m->base_runs, 2u);
  EXPECT_NEAR(m->base, 13.0, 1e-9) << "each iteration's own p50, not the pooled requests'";
}

}  // namespace
}  // namespace llmt
