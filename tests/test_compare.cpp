// The regression gate on constructed inputs: shifts are regressions, identical distributions
// are the same, tiny sample sets are noisy, missing configurations are listed, and the HTML
// report of both a run and a comparison is well-formed markup with one SVG per plot.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <unistd.h>

#include "model/error.hpp"
#include "engine/metrics.hpp"
#include "engine/ranking.hpp"
#include "reports/compare.hpp"
#include "reports/html_report.hpp"
#include "reports/json_schema.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

ConfigResult synthetic(const std::string& strategy, int ranks, std::vector<double> e2e) {
  ConfigResult r;
  r.point = ConfigPoint{strategy, Layout{ranks, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{4, 16, 3}};
  r.iterations = static_cast<int>(e2e.size());
  RawSamples& s = r.samples;
  for (double ms : e2e) {
    s.e2e_ms.push_back(ms);
    s.ttft_ms.push_back(ms * 0.5);
    s.decode_step_ms.push_back(ms * 0.25);
    s.decode_step_ms.push_back(ms * 0.25);
  }
  s.rank_busy_ms.assign(static_cast<std::size_t>(ranks), s.e2e_ms);
  s.rank_iteration_ms = s.rank_busy_ms;
  s.rank_sync_ms.assign(static_cast<std::size_t>(ranks), std::vector<double>(e2e.size(), 1.0));
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms.assign(static_cast<std::size_t>(ranks), std::vector<double>(e2e.size(), 0.0));
  fill_sample_metrics(r.point, s, r.metrics);
  r.metrics.memory.resize(static_cast<std::size_t>(ranks));
  r.verification.checked = r.verification.passed = true;
  return r;
}

std::vector<double> draws(double mean, double sd, int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist(mean, sd);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(dist(gen));
  return v;
}

nlohmann::json document(const std::vector<ConfigResult>& results, const std::string& cpu = "AMD EPYC") {
  RunMetadata run;
  run.backend = "cpu";
  run.cpu_model = cpu;
  std::vector<nlohmann::json> configs;
  for (const ConfigResult& r : results) configs.push_back(to_json(r));
  return make_document(run, configs);
}

const MetricComparison* row(const Comparison& c, const std::string& config_prefix, const std::string& metric) {
  for (const MetricComparison& m : c.rows)
    if (m.config.rfind(config_prefix, 0) == 0 && m.metric == metric) return &m;
  return nullptr;
}

// Repeated runs pooled per side: a drift of one run alone on each side is significant, but
// alternated runs put it on both sides.
TEST(Compare, SeveralRunsPerSideArePooled) {
  const auto fast = [](unsigned seed) { return document({synthetic("tp", 2, draws(100, 1, 12, seed))}); };
  const auto slow = [](unsigned seed) { return document({synthetic("tp", 2, draws(108, 1, 12, seed))}); };
  // One run against one run: a machine that slowed down between them looks like a regression.
  const Comparison single = compare_runs(fast(1), slow(2), CompareOptions{}, "a", "b");
  ASSERT_NE(row(single, "tp|", "latency.median"), nullptr);
  EXPECT_EQ(row(single, "tp|", "latency.median")->verdict, Verdict::regression);
  EXPECT_NE(format_comparison(single, "table", CompareOptions{}).find("note: one run per side"), std::string::npos);

  const std::vector<ResultsFile> base = {{"a1", fast(1)}, {"a2", slow(3)}, {"a3", fast(5)}};
  const std::vector<ResultsFile> now = {{"b1", slow(2)}, {"b2", fast(4)}, {"b3", fast(6)}};
  const Comparison pooled = compare_runs(base, now, CompareOptions{});
  const MetricComparison* m = row(pooled, "tp|", "latency.median");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->base_n, 36u);
  EXPECT_EQ(m->current_n, 36u);
  EXPECT_EQ(m->base_runs, 3u);
  EXPECT_EQ(m->current_runs, 3u);
  EXPECT_EQ(m->verdict, Verdict::same) << m->change << " p " << m->p_value;
  EXPECT_FALSE(pooled.regressed());
  EXPECT_NE(format_comparison(pooled, "table", CompareOptions{}).find("pooled from 3 base and 3 new"),
            std::string::npos);
  EXPECT_EQ(format_comparison(pooled, "table", CompareOptions{}).find("one run per side"), std::string::npos);
  // Runs of one side 8% apart, beyond the 5% threshold: said, since it hides changes that small.
  ASSERT_EQ(pooled.warnings.size(), 1u);
  EXPECT_NE(pooled.warnings[0].find("runs of one side differ by 8."), std::string::npos) << pooled.warnings[0];

  // Pooling runs from other hardware is named, with the files.
  const std::vector<ResultsFile> mixed = {{"a1", fast(1)},
                                          {"a2", document({synthetic("tp", 2, draws(100, 1, 12, 7))}, "Intel Xeon")}};
  const Comparison warned = compare_runs(mixed, {{"b1", fast(2)}}, CompareOptions{});
  ASSERT_EQ(warned.warnings.size(), 1u);
  EXPECT_NE(warned.warnings[0].find("a1 and a2 (pooled): different CPUs"), std::string::npos) << warned.warnings[0];
}

// A pooled change within the difference between runs of one side is noise, however many
// samples make p small; a slowdown beyond it is a regression.
TEST(Compare, AChangeWithinTheRunToRunSpreadIsNoisy) {
  auto runs = [](std::vector<double> medians, unsigned seed) {
    std::vector<ResultsFile> side;
    for (double m : medians)
      side.push_back({fmt::format("run{}", seed), document({synthetic("tp", 2, draws(m, 0.5, 12, seed++))})});
    return side;
  };
  const auto base = runs({84, 78, 88}, 1);
  const Comparison drift = compare_runs(base, runs({83, 89, 96}, 10), CompareOptions{});
  const MetricComparison* m = row(drift, "tp|", "latency.median");
  ASSERT_NE(m, nullptr);
  EXPECT_GT(m->change, 0.05);
  EXPECT_LT(m->p_value, 0.01);
  EXPECT_NEAR(m->run_spread, 13.0 / 84, 0.02);
  EXPECT_EQ(m->verdict, Verdict::noisy);
  EXPECT_NE(m->why.find("among themselves"), std::string::npos) << m->why;

  const Comparison slower = compare_runs(base, runs({84 * 1.2, 78 * 1.2, 88 * 1.2}, 20), CompareOptions{});
  m = row(slower, "tp|", "latency.median");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->verdict, Verdict::regression) << m->change << " spread " << m->run_spread;
  EXPECT_TRUE(slower.regressed());
}

// A run that failed before measuring adds its status, not an empty sample set.
TEST(Compare, AFailedRunAmongPooledOnesKeepsTheOthersSamples) {
  ConfigResult failed = synthetic("tp", 2, {});
  failed.samples.rank_sync_ms.clear();
  failed.status = ConfigStatus::failed;
  failed.reason = "rank 1: out of memory";
  const std::vector<ResultsFile> base = {{"a1", document({failed})},
                                         {"a2", document({synthetic("tp", 2, draws(100, 1, 12, 1))})}};
  const std::vector<ResultsFile> now = {{"b1", document({synthetic("tp", 2, draws(100, 1, 12, 2))})}};
  const Comparison c = compare_runs(base, now, CompareOptions{});
  const MetricComparison* m = row(c, "tp|", "sync.exposed");
  ASSERT_NE(m, nullptr) << "the failed run must not drop the other run's sync samples";
  EXPECT_EQ(m->base_runs, 1u);
  EXPECT_EQ(m->base_n, 12u);
  EXPECT_FALSE(c.regressed());  // failed in the base: a pass now is no regression

  // The other way round, the failure is a regression whatever the samples say.
  const Comparison back = compare_runs(now, base, CompareOptions{});
  ASSERT_EQ(back.status_regressions.size(), 1u);
  EXPECT_NE(back.status_regressions[0].find("out of memory"), std::string::npos);
}

// From a zero median, a change is infinite and beyond every threshold.
TEST(Compare, AChangeFromAZeroMedianIsInfinite) {
  ConfigResult zero = synthetic("tp", 1, std::vector<double>(12, 0.0));
  const Comparison c = compare_runs(document({zero}), document({synthetic("tp", 1, draws(10, 0.5, 12, 3))}),
                                    CompareOptions{}, "a", "b");
  const MetricComparison* m = row(c, "tp|", "latency.median");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(std::isinf(m->change) && m->change > 0);
  EXPECT_EQ(m->verdict, Verdict::regression);
  EXPECT_NE(format_comparison(c, "json", CompareOptions{}).find("\"+inf\""), std::string::npos);
}

// Exposed communication is judged as a share of the iteration, not against itself.
TEST(Compare, ExposedSyncIsJudgedAgainstTheIteration) {
  auto with_sync = [](double sync_ms, unsigned seed) {
    ConfigResult r = synthetic("tp", 2, draws(150, 1, 12, seed));
    for (auto& rank : r.samples.rank_sync_ms) rank = draws(sync_ms, 0.3, 12, seed + 100);
    return document({r});
  };
  const Comparison noise = compare_runs(with_sync(8, 1), with_sync(12, 2), CompareOptions{}, "a", "b");
  const MetricComparison* m = row(noise, "tp|", "sync.exposed");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->change_of_iteration);
  EXPECT_NEAR(m->change, 4.0 / 150, 0.01);  // +50% of itself, under 3% of the iteration
  EXPECT_EQ(m->verdict, Verdict::same);

  const Comparison slower = compare_runs(with_sync(8, 1), with_sync(20, 2), CompareOptions{}, "a", "b");
  m = row(slower, "tp|", "sync.exposed");
  ASSERT_NE(m, nullptr);
  EXPECT_NEAR(m->change, 12.0 / 150, 0.01);
  EXPECT_EQ(m->verdict, Verdict::regression);
  EXPECT_NE(format_comparison(slower, "table", CompareOptions{}).find("percent of the base iteration"),
            std::string::npos);
}

TEST(Compare, ShiftedSamplesAreARegressionIdenticalOnesTheSame) {
  const auto base = document({synthetic("tp", 2, draws(100, 2, 20, 1)), synthetic("dp", 2, draws(100, 2, 20, 2))});
  const auto slower =
      document({synthetic("tp", 2, draws(110, 2, 20, 3)), synthetic("dp", 2, draws(100, 2, 20, 4))});
  const Comparison c = compare_runs(base, slower, CompareOptions{}, "base", "new");
  const MetricComparison* tp = row(c, "tp|", "latency.median");
  ASSERT_NE(tp, nullptr);
  EXPECT_EQ(tp->verdict, Verdict::regression);
  EXPECT_NEAR(tp->change, 0.10, 0.03);
  EXPECT_LT(tp->p_value, 1e-4);
  EXPECT_EQ(row(c, "tp|", "throughput")->verdict, Verdict::regression) << "fewer tokens per second is worse";
  EXPECT_EQ(row(c, "dp|", "latency.median")->verdict, Verdict::same);
  EXPECT_TRUE(c.regressed());

  const Comparison back = compare_runs(slower, base, CompareOptions{}, "new", "base");
  EXPECT_EQ(row(back, "tp|", "latency.median")->verdict, Verdict::improvement);
  EXPECT_FALSE(back.regressed());

  const Comparison same = compare_runs(base, base, CompareOptions{}, "a", "b");
  for (const MetricComparison& m : same.rows) EXPECT_EQ(m.verdict, Verdict::same) << m.config << " " << m.metric;
  EXPECT_FALSE(same.regressed());
}

TEST(Compare, TinySamplesOrInsignificantShiftsAreNoisy) {
  const auto base = document({synthetic("tp", 2, {100, 101})});
  const auto slower = document({synthetic("tp", 2, {120, 121})});
  const Comparison few = compare_runs(base, slower, CompareOptions{}, "a", "b");
  const MetricComparison* m = row(few, "tp|", "latency.median");
  EXPECT_EQ(m->verdict, Verdict::noisy);
  EXPECT_NE(m->why.find("too few samples"), std::string::npos);
  // 5 samples of a wide distribution: a 10% shift the test cannot confirm at alpha 0.01.
  const auto wide_a = document({synthetic("tp", 2, {80, 120, 95, 130, 75})});
  const auto wide_b = document({synthetic("tp", 2, {90, 135, 100, 140, 85})});
  const Comparison wide = compare_runs(wide_a, wide_b, CompareOptions{}, "a", "b");
  m = row(wide, "tp|", "latency.median");
  EXPECT_EQ(m->verdict, Verdict::noisy);
  EXPECT_NE(m->why.find("not below alpha"), std::string::npos);
}

TEST(Compare, ThresholdsPerMetricMissingConfigurationsAndWarnings) {
  const auto base = document({synthetic("tp", 2, draws(100, 0.5, 20, 5)), synthetic("tp", 4, draws(50, 1, 20, 6))});
  const auto now = document({synthetic("tp", 2, draws(103, 0.5, 20, 7)), synthetic("dp", 2, draws(50, 1, 20, 8))},
                            "Intel Xeon");
  CompareOptions strict;
  strict.per_metric["latency.median"] = 0.02;
  const Comparison c = compare_runs(base, now, strict, "a", "b");
  EXPECT_EQ(row(c, "tp|tp2", "latency.median")->verdict, Verdict::regression) << "3% beyond a 2% threshold";
  EXPECT_EQ(row(c, "tp|tp2", "ttft.median")->verdict, Verdict::same) << "3% within the global 5%";
  ASSERT_EQ(c.only_in_base.size(), 1u);
  EXPECT_EQ(c.only_in_base[0].rfind("tp|tp4", 0), 0u);
  ASSERT_EQ(c.only_in_current.size(), 1u);
  EXPECT_EQ(c.only_in_current[0].rfind("dp|", 0), 0u);
  ASSERT_FALSE(c.warnings.empty());
  EXPECT_NE(c.warnings[0].find("Intel Xeon"), std::string::npos);
  const std::string md = format_comparison(c, "markdown", strict);
  EXPECT_NE(md.find("**regression**"), std::string::npos);
  EXPECT_NE(md.find("| configuration | metric |"), std::string::npos);
  const auto js = nlohmann::json::parse(format_comparison(c, "json", strict));
  EXPECT_TRUE(js["regressed"]);
  EXPECT_EQ(js["only_in_new"].size(), 1u);
}

TEST(Compare, AFailureThatPassedBeforeIsARegression) {
  ConfigResult broken = synthetic("tp", 2, draws(100, 1, 10, 9));
  broken.status = ConfigStatus::failed;
  broken.reason = "verification failed: max relative error 0.3";
  const Comparison c = compare_runs(document({synthetic("tp", 2, draws(100, 1, 10, 10))}), document({broken}),
                                    CompareOptions{}, "a", "b");
  ASSERT_EQ(c.status_regressions.size(), 1u);
  EXPECT_NE(c.status_regressions[0].find("verification failed"), std::string::npos);
  EXPECT_TRUE(c.regressed());
}

TEST(Compare, AChangeFromZeroIsNotSame) {
  // No exposed synchronisation before; a change that adds some is beyond any threshold.
  ConfigResult quiet = synthetic("tp", 2, draws(100, 1, 12, 21)), busy = synthetic("tp", 2, draws(100, 1, 12, 22));
  for (auto& rank : quiet.samples.rank_sync_ms) std::fill(rank.begin(), rank.end(), 0.0);
  for (auto& rank : busy.samples.rank_sync_ms)
    for (std::size_t i = 0; i < rank.size(); ++i) rank[i] = 45.0 + static_cast<double>(i % 3);
  CompareOptions gate_all;
  gate_all.gate = {"all"};
  const Comparison c = compare_runs(document({quiet}), document({busy}), gate_all, "a", "b");
  const MetricComparison* m = row(c, "tp|", "sync.exposed");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->verdict, Verdict::regression);
  EXPECT_NEAR(m->change, 46.0 / 100, 0.02);  // a share of the base iteration, so finite from zero
  EXPECT_TRUE(c.regressed());
  // By default sync.exposed is secondary: the same verdict, shown, but it does not fail the gate.
  const Comparison by_default = compare_runs(document({quiet}), document({busy}), CompareOptions{}, "a", "b");
  EXPECT_EQ(row(by_default, "tp|", "sync.exposed")->verdict, Verdict::regression);
  EXPECT_FALSE(row(by_default, "tp|", "sync.exposed")->gating);
  EXPECT_FALSE(by_default.regressed());
  EXPECT_EQ(by_default.exit_status(), 0);
}

// A configuration whose e2e samples are `e2e` while prefill, decode steps and synchronisation
// keep fixed values, the same on every side: only latency, and the throughput computed from the
// same samples, can change.
ConfigResult e2e_only(const std::vector<double>& e2e) {
  ConfigResult r = synthetic("tp", 2, e2e);
  for (std::size_t i = 0; i < e2e.size(); ++i) {
    r.samples.ttft_ms[i] = 40.0 + static_cast<double>(i % 3);
    r.samples.decode_step_ms[2 * i] = r.samples.decode_step_ms[2 * i + 1] = 20.0 + static_cast<double>(i % 2);
  }
  fill_sample_metrics(r.point, r.samples, r.metrics);
  return r;
}

// One slowdown of the e2e samples used to be two regressions, latency and throughput, from two
// tests of the same samples. Now throughput shares latency's test: one judgement, and the
// comparison says how many tests it made and how it corrected for them.
// Every metric gating (--gate all): the tests of one configuration form one family.
CompareOptions every_metric_gates() {
  CompareOptions o;
  o.gate = {"all"};
  return o;
}

TEST(Compare, LatencyAndThroughputAreOneTestAndCountOnce) {
  const Comparison c = compare_runs(document({e2e_only(draws(100, 1, 12, 31))}),
                                    document({e2e_only(draws(110, 1, 12, 32))}), every_metric_gates(), "a", "b");
  const MetricComparison* latency = row(c, "tp|", "latency.median");
  const MetricComparison* throughput = row(c, "tp|", "throughput");
  ASSERT_NE(latency, nullptr);
  ASSERT_NE(throughput, nullptr);
  EXPECT_EQ(latency->verdict, Verdict::regression);
  EXPECT_EQ(throughput->verdict, Verdict::regression) << "fewer tokens per second is still shown as worse";
  EXPECT_EQ(throughput->same_test_as, "latency.median");
  EXPECT_TRUE(latency->same_test_as.empty());
  EXPECT_EQ(throughput->p_value, latency->p_value) << "one test, not two";
  EXPECT_EQ(throughput->p_adjusted, latency->p_adjusted);
  // 12 against 12 samples, fully apart: p = 2 / C(24, 12); Holm multiplies the smallest of the
  // 4 tests by 4 (the other three, on identical samples, have p = 1).
  EXPECT_NEAR(latency->p_value, 2.0 / 2704156, 1e-15);
  EXPECT_NEAR(latency->p_adjusted, 8.0 / 2704156, 1e-15);

  EXPECT_EQ(c.rows.size(), 5u);
  EXPECT_EQ(c.tests, 4u) << "latency (with throughput), ttft, tpot, sync.exposed";
  EXPECT_EQ(c.configurations_tested, 1u);
  const VerdictCounts n = count_verdicts(c);
  EXPECT_EQ(n.regressions, 1u) << "one change, counted once";
  EXPECT_EQ(n.improvements, 0u);
  EXPECT_EQ(n.noisy, 0u);
  EXPECT_EQ(n.same, 3u);
  EXPECT_TRUE(c.regressed());

  const std::string table = format_comparison(c, "table", every_metric_gates());
  EXPECT_NE(table.find("\n1 regression(s), 0 improvement(s), 0 noisy, 3 same (threshold 5.0%, alpha 0.01)\n"
                       "4 tests over 1 configuration, Holm-corrected at alpha 0.01; gating: latency.median, sync.exposed, "
                       "tpot.median, ttft.median; throughput shares "
                       "latency.median's test (same e2e samples)\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("regression (one test with latency.median)"), std::string::npos) << table;
  const std::string md = format_comparison(c, "markdown", every_metric_gates());
  EXPECT_NE(md.find("1 regressions, 0 improvements, 0 noisy, 3 same"), std::string::npos) << md;
  EXPECT_NE(md.find("4 tests over 1 configuration, Holm-corrected at alpha 0.01"), std::string::npos) << md;
  const auto js = nlohmann::json::parse(format_comparison(c, "json", every_metric_gates()));
  EXPECT_EQ(js["tests"], 4);
  EXPECT_EQ(js["configurations_tested"], 1);
  EXPECT_EQ(js["correction"], "holm");
  EXPECT_EQ(js["verdicts"]["regression"], 1);
  EXPECT_EQ(js["verdicts"]["same"], 3);
  EXPECT_EQ(js["rows"].size(), 5u) << "every row is still there, throughput included";
  for (const auto& r : js["rows"]) {
    EXPECT_TRUE(r.contains("p_value") && r.contains("p_adjusted") && r.contains("verdict")) << r.dump();
    EXPECT_EQ(r["same_test_as"], r["metric"] == "throughput" ? nlohmann::json("latency.median") : nlohmann::json());
  }
}

// Holm over the tests made: a p below alpha alone is not below it once the comparison's other
// tests are counted; --correction none judges each test at alpha, as before.
TEST(Compare, HolmCorrectionCountsEveryTestMade) {
  // Five samples a side, fully apart: p = 2 / C(10, 5) = 0.0079 < 0.01; times 4 tests, 0.032.
  const auto base = document({e2e_only({100, 101, 102, 103, 104})});
  const auto slower = document({e2e_only({110, 111, 112, 113, 114})});
  const Comparison holm = compare_runs(base, slower, every_metric_gates(), "a", "b");
  const MetricComparison* m = row(holm, "tp|", "latency.median");
  ASSERT_NE(m, nullptr);
  EXPECT_NEAR(m->p_value, 2.0 / 252, 1e-12);
  EXPECT_NEAR(m->p_adjusted, 8.0 / 252, 1e-12);
  EXPECT_EQ(m->verdict, Verdict::noisy);
  EXPECT_NE(m->why.find("Holm-adjusted over 4 tests to 0.0317, is not below alpha 0.01"), std::string::npos) << m->why;
  EXPECT_EQ(row(holm, "tp|", "throughput")->verdict, Verdict::noisy);
  EXPECT_EQ(count_verdicts(holm).noisy, 1u);
  EXPECT_FALSE(holm.regressed());
  EXPECT_EQ(holm.exit_status(), 2) << "no p below 0.01 is possible: the gate cannot fire";
  EXPECT_NE(holm.undetectable.find("n=5 per side at alpha 0.01 over 4 tests (Holm); need n >= 6"), std::string::npos)
      << holm.undetectable;
  // The default gate makes one test of this configuration (latency.median): 0.0079 flags it.
  const Comparison primary = compare_runs(base, slower, CompareOptions{}, "a", "b");
  EXPECT_EQ(primary.tests, 1u);
  EXPECT_EQ(primary.secondary_tests, 3u);
  EXPECT_EQ(row(primary, "tp|", "latency.median")->verdict, Verdict::regression);
  EXPECT_EQ(primary.exit_status(), 1);

  CompareOptions each = every_metric_gates();
  each.correction = Correction::none;
  const Comparison uncorrected = compare_runs(base, slower, each, "a", "b");
  m = row(uncorrected, "tp|", "latency.median");
  EXPECT_EQ(m->p_adjusted, m->p_value);
  EXPECT_EQ(m->verdict, Verdict::regression);
  EXPECT_TRUE(uncorrected.regressed());
  EXPECT_EQ(uncorrected.tests, 4u);
  EXPECT_NE(format_comparison(uncorrected, "table", each).find("4 tests over 1 configuration, each at alpha 0.01, "
                                                               "uncorrected"),
            std::string::npos);
  EXPECT_EQ(parse_correction("holm"), Correction::holm);
  EXPECT_EQ(parse_correction("none"), Correction::none);
  EXPECT_THROW(parse_correction("bonferroni"), ConfigError);
}

std::vector<double> evenly(double from, double step, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(from + step * i);
  return v;
}

// A verified configuration of `layout` whose every rank holds `mib` MiB of weights and KV cache.
ConfigResult ranked(const std::string& strategy, Layout layout, MergeMode merge, std::vector<double> e2e, double mib) {
  ConfigResult r = synthetic(strategy, layout.tp * layout.pp * layout.dp, std::move(e2e));
  r.point.layout = layout;
  r.point.merge = merge;
  for (RankMemory& m : r.metrics.memory) {
    m.weights = static_cast<std::size_t>(mib * 0.75 * 1048576);
    m.kv_cache = static_cast<std::size_t>(mib * 0.25 * 1048576);
    m.peak_total = m.weights + m.kv_cache;
  }
  return r;
}

// 12 samples: the median's interval is [x(3), x(10)], covering it with 1 - 2 P(Bin(12, 1/2) <= 2).
constexpr double kCoverage12 = 1 - 2 * 79.0 / 4096;

TEST(Ranking, SuperLinearEfficiencyIsFlaggedWithItsCause) {
  const ConfigResult one = ranked("tp", {1, 1, 1}, MergeMode::concat, evenly(95, 1, 12), 100);  // median 100.5
  const ConfigResult tp2 = ranked("tp", {2, 1, 1}, MergeMode::concat, evenly(38, 1, 12), 50);   // median 43.5
  std::vector<RankingEntry> rows = rank_configurations({one, tp2}, Objective::latency);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].superlinear) << "the baseline itself: 100%";
  EXPECT_DOUBLE_EQ(rows[0].speedup_interval->low, 1.0);
  const RankingEntry& e = rows[1];
  EXPECT_EQ(e.baseline_id, one.point.id());
  EXPECT_DOUBLE_EQ(e.e2e_interval.low, 40);
  EXPECT_DOUBLE_EQ(e.e2e_interval.high, 47);
  EXPECT_NEAR(e.e2e_interval.confidence, kCoverage12, 1e-12);
  EXPECT_DOUBLE_EQ(e.baseline_e2e_interval.low, 97);
  EXPECT_DOUBLE_EQ(e.baseline_e2e_interval.high, 104);
  EXPECT_NEAR(*e.speedup, 100.5 / 43.5, 1e-12);
  EXPECT_NEAR(*e.efficiency, 100.5 / 43.5 / 2, 1e-12);  // 116%
  ASSERT_TRUE(e.speedup_interval && e.efficiency_interval);
  EXPECT_NEAR(e.speedup_interval->low, 97.0 / 47, 1e-12);
  EXPECT_NEAR(e.speedup_interval->high, 104.0 / 40, 1e-12);
  EXPECT_NEAR(e.speedup_interval->confidence, kCoverage12 * kCoverage12, 1e-12);
  EXPECT_NEAR(e.efficiency_interval->low, 97.0 / 47 / 2, 1e-12);  // 103%: above 100% beyond the spread
  ASSERT_TRUE(e.superlinear);
  EXPECT_EQ(e.superlinear->cause, SuperlinearCause::working_set);
  EXPECT_NE(e.superlinear->why.find("each rank works on 50 MiB of weights and KV cache against 100 MiB on one rank"),
            std::string::npos)
      << e.superlinear->why;
  EXPECT_NE(e.superlinear->why.find("may now fit in a cache level"), std::string::npos) << e.superlinear->why;
  EXPECT_EQ(superlinear_text(*e.superlinear).rfind("super-linear (working_set): efficiency 116% (interval 103-130%)", 0),
            0u)
      << superlinear_text(*e.superlinear);

  // Replicas hold the whole model: a working set no smaller, so the one-rank run was slow.
  const ConfigResult dp2 = ranked("dp", {1, 1, 2}, MergeMode::concat, evenly(38, 1, 12), 100);
  rows = rank_configurations({one, dp2}, Objective::latency);
  ASSERT_TRUE(rows[1].superlinear);
  EXPECT_EQ(rows[1].superlinear->cause, SuperlinearCause::slow_baseline);
  EXPECT_NE(rows[1].superlinear->why.find("one-rank baseline was probably slowed"), std::string::npos);

  // A spread that reaches below 100%: 116% is noise. Median 42, interval [28, 56].
  const ConfigResult wide = ranked("tp", {2, 1, 1}, MergeMode::concat, evenly(20, 4, 12), 50);
  rows = rank_configurations({one, wide}, Objective::latency);
  ASSERT_TRUE(rows[1].superlinear);
  EXPECT_GT(*rows[1].efficiency, 1.0);
  EXPECT_NEAR(rows[1].efficiency_interval->low, 97.0 / 56 / 2, 1e-12);
  EXPECT_EQ(rows[1].superlinear->cause, SuperlinearCause::noise);
  EXPECT_EQ(superlinear_text(*rows[1].superlinear),
            "not super-linear (noise): efficiency 120%, but its interval 87-186% includes 100%: within the noise of the "
            "two medians");

  // Written under summary.ranking, and the document stays valid.
  RunSummary summary{"latency", rank_configurations({one, tp2}, Objective::latency), false, true};
  const nlohmann::json j = to_json(summary);
  EXPECT_EQ(j["ranking"][1]["superlinear"]["cause"], "working_set");
  EXPECT_EQ(j["ranking"][0]["superlinear"], nullptr);
  EXPECT_NEAR(j["ranking"][1]["speedup_interval"]["low"].get<double>(), 97.0 / 47, 1e-12);
  EXPECT_DOUBLE_EQ(j["ranking"][1]["e2e_ms_interval"]["high"].get<double>(), 47);
  EXPECT_DOUBLE_EQ(j["ranking"][1]["baseline_e2e_ms_interval"]["low"].get<double>(), 97);
  EXPECT_TRUE(j["ensemble_ranking"].empty());
  EXPECT_NO_THROW(validate_results(make_document(RunMetadata{}, {to_json(one), to_json(tp2)}, &summary), "r.json"));
}

// An ensemble (merge mean) is another model: faster or not, it is neither the best single model
// nor a baseline, and it is ranked in rows of its own.
TEST(Ranking, EnsemblesAreRankedApartFromSingleModels) {
  const ConfigResult one = ranked("tp", {1, 1, 1}, MergeMode::concat, evenly(95, 1, 12), 100);
  const ConfigResult replicas = ranked("dp", {1, 1, 2}, MergeMode::concat, evenly(55, 1, 12), 100);  // 60.5
  const ConfigResult ensemble = ranked("dp", {1, 1, 2}, MergeMode::mean, evenly(25, 1, 12), 100);    // 30.5
  ASSERT_TRUE(ensemble.point.ensemble());
  const std::vector<RankingEntry> rows = rank_configurations({one, replicas, ensemble}, Objective::latency);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_FALSE(rows[0].ensemble);
  EXPECT_FALSE(rows[1].ensemble);
  EXPECT_EQ(rows[1].best_id, replicas.point.id()) << "the faster ensemble is not the best single model";
  EXPECT_EQ(rows[1].candidates, 1);
  EXPECT_NEAR(*rows[1].speedup, 100.5 / 60.5, 1e-12);
  const RankingEntry& e = rows[2];
  EXPECT_TRUE(e.ensemble);
  EXPECT_EQ(e.members, 2);
  EXPECT_EQ(e.ranks, 2);
  EXPECT_EQ(e.best_id, ensemble.point.id());
  EXPECT_FALSE(e.speedup || e.efficiency || e.speedup_interval || e.superlinear);
  EXPECT_TRUE(e.baseline_id.empty());
  EXPECT_DOUBLE_EQ(e.e2e_interval.low, 27);

  RunSummary summary{"latency", rows, false, true};
  const nlohmann::json j = to_json(summary);
  ASSERT_EQ(j["ranking"].size(), 2u);
  ASSERT_EQ(j["ensemble_ranking"].size(), 1u);
  EXPECT_EQ(j["ensemble_ranking"][0]["best"], ensemble.point.id());
  EXPECT_EQ(j["ensemble_ranking"][0]["members"], 2);
  EXPECT_EQ(j["ensemble_ranking"][0]["speedup"], nullptr);

  ::testing::internal::CaptureStdout();
  make_console_reporter()->end(summary);
  const std::string console = ::testing::internal::GetCapturedStdout();
  const std::size_t apart = console.find("\nensembles by latency (merge mean");
  ASSERT_NE(apart, std::string::npos) << console;
  EXPECT_GT(console.find("dp|tp1.pp1.dp2|blocking|mean|"), apart) << console;
  EXPECT_LT(console.find("dp|tp1.pp1.dp2|blocking|concat|"), apart) << console;

  const std::string html = html_report(make_document(RunMetadata{}, {to_json(one), to_json(replicas),
                                                                     to_json(ensemble)}, &summary), "r.json");
  const std::size_t section = html.find("Ensembles (merge mean), ranked apart");
  ASSERT_NE(section, std::string::npos);
  EXPECT_GT(html.find("dp|tp1.pp1.dp2|blocking|mean|", html.find("Best configuration per rank count")), section);
  EXPECT_NE(html.find("data-series=\"dp ensemble b4.p16.g3\""), std::string::npos) << "its own latency curve";
}

TEST(Json, ResultsSurviveTheRoundTrip) {
  ConfigResult r = synthetic("pp", 1, draws(100, 1, 6, 23));
  r.point.layout = Layout{1, 2, 1};
  r.point.microbatches = 2;
  r.metrics.pipeline = PipelineSummary{2, 2, 0.31, 1.0 / 3, {{0, Range{0, 3}, 40, 5, 0}, {1, Range{3, 4}, 30, 20, 0}}};
  r.verification.passed = false;
  r.verification.max_rel_error = std::numeric_limits<double>::infinity();
  r.measurement.achieved_rse = std::numeric_limits<double>::infinity();
  const ConfigResult back = result_from_json(nlohmann::json::parse(to_json(r).dump()), "test");
  EXPECT_EQ(back.point.id(), r.point.id());
  EXPECT_EQ(back.samples.e2e_ms, r.samples.e2e_ms);
  EXPECT_DOUBLE_EQ(back.metrics.pipeline.bubble_fraction, 0.31);
  ASSERT_EQ(back.metrics.pipeline.per_stage.size(), 2u);
  EXPECT_EQ(back.metrics.pipeline.per_stage[1].layers, (Range{3, 4}));
  EXPECT_TRUE(std::isinf(back.verification.max_rel_error)) << "null in JSON reads back as infinite, not 0";
  EXPECT_TRUE(std::isinf(back.measurement.achieved_rse));
  EXPECT_DOUBLE_EQ(back.metrics.e2e_ms.median, r.metrics.e2e_ms.median) << "statistics recomputed from samples";
}

TEST(Compare, FractionsParse) {
  EXPECT_DOUBLE_EQ(parse_fraction("5%", "x"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("0.03", "x"), 0.03);
  EXPECT_THROW(parse_fraction("five", "x"), ConfigError);
  EXPECT_THROW(parse_fraction("-1%", "x"), ConfigError);
}

// xmllint is installed by scripts/install-deps.sh: the markup check is a real XML parser.
bool well_formed(const std::string& markup) {
  const auto path = std::filesystem::temp_directory_path() / ("llmt_report_" + std::to_string(::getpid()) + ".html");
  std::ofstream(path) << markup;
  return std::system(("xmllint --noout " + path.string()).c_str()) == 0;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Report, OneSvgPerPlotWithTheExpectedSeries) {
  const auto doc = document({synthetic("tp", 1, draws(100, 1, 5, 11)), synthetic("tp", 2, draws(60, 1, 5, 12)),
                             synthetic("tp", 4, draws(40, 1, 5, 13)), synthetic("dp", 2, draws(55, 1, 5, 14))});
  const std::string html = html_report(doc, "r.json");
  EXPECT_TRUE(well_formed(html));
  EXPECT_EQ(count(html, "<svg "), 6u);
  for (const char* chart : {"latency", "speedup", "efficiency", "breakdown", "memory", "imbalance"})
    EXPECT_EQ(count(html, std::string("data-chart=\"") + chart + "\""), 1u) << chart;
  EXPECT_NE(html.find("data-series=\"tp b4.p16.g3\""), std::string::npos);
  EXPECT_NE(html.find("data-series=\"dp b4.p16.g3\""), std::string::npos);
  EXPECT_NE(html.find("data-series=\"ideal\""), std::string::npos);
  for (const char* segment : {"compute", "exposed communication", "weights", "KV cache", "activations"})
    EXPECT_NE(html.find(std::string("data-series=\"") + segment + "\""), std::string::npos) << segment;
  EXPECT_EQ(count(html, "class=\"pass\""), 4u) << "the verification table";
  EXPECT_EQ(html.find("http://") == std::string::npos || html.find("src=\"http") == std::string::npos, true)
      << "nothing fetched from the network";
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(Report, ComparisonPageIsWellFormed) {
  const auto a = document({synthetic("tp", 2, draws(100, 1, 10, 15)), synthetic("tp", 4, draws(100, 1, 10, 16))});
  const auto b = document({synthetic("tp", 2, draws(120, 1, 10, 17)), synthetic("tp", 4, draws(100, 1, 10, 18))});
  const CompareOptions o;
  const std::string html = html_comparison(compare_runs(a, b, o, "a.json", "<b>.json"), o, "a.json", "<b>.json");
  EXPECT_TRUE(well_formed(html));
  EXPECT_EQ(count(html, "<svg "), 1u);
  EXPECT_NE(html.find("&lt;b&gt;.json"), std::string::npos) << "text is escaped";
  EXPECT_NE(html.find("class=\"regression\""), std::string::npos);
}

// A results file written before issue 14 (tests/data/results-before-issue14.json, by commit
// df66675: no intervals, causes or ensemble_ranking, and the ensemble counted among the 2-rank
// candidates) still loads: compare judges it, and report shows the new ranking from it.
TEST(Json, AResultsFileFromBeforeTheRankingIntervalsStillLoads) {
  const std::string path = std::string(LLMT_TEST_DATA) + "/results-before-issue14.json";
  const nlohmann::json doc = read_results_file(path);
  ASSERT_FALSE(doc["summary"]["ranking"][0].contains("e2e_ms_interval")) << "an old file";
  ASSERT_FALSE(doc["summary"].contains("ensemble_ranking"));
  EXPECT_EQ(doc["summary"]["ranking"][1]["candidates"], 3) << "the old ranking counted the ensemble";

  const Comparison c = compare_runs(doc, doc, CompareOptions{}, "old", "old");
  EXPECT_EQ(c.tests, 4u) << "one gating test per configuration (latency.median)";
  EXPECT_EQ(c.secondary_tests, 11u) << "tp1: 2 secondary (no sync), tp2, dp2 and the dp2 ensemble: 3 each";
  EXPECT_EQ(c.configurations_tested, 4u);
  EXPECT_EQ(count_verdicts(c).same, 4u);
  EXPECT_EQ(count_verdicts(c, false).same, 11u);
  EXPECT_FALSE(c.regressed());

  const std::string html = html_report(doc, path);
  EXPECT_TRUE(well_formed(html));
  EXPECT_NE(html.find("<th>e2e interval</th>"), std::string::npos);
  const std::size_t ensembles = html.find("Ensembles (merge mean), ranked apart");
  ASSERT_NE(ensembles, std::string::npos);
  EXPECT_GT(html.find("dp|tp1.pp1.dp2|blocking|mean|b2.p4.g2", html.find("Best configuration per rank count")),
            ensembles);
}

}  // namespace
}  // namespace llmt
