// The regression gate: its statistics on synthetic sample streams, and its plumbing end to end
// (`bench` writes results, `compare` reads them and exits with the verdict) on inputs whose
// verdict does not depend on the machine's speed: copies of one real run's results with samples
// scaled by exact factors, and an injected delay hundreds of times longer than a tiny iteration.
// Nothing here compares two timings of the same work, so a busy machine cannot flip a verdict.
#include <gtest/gtest.h>

#include "run_binary.hpp"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/metrics.hpp"
#include "reports/compare.hpp"
#include "reports/json_schema.hpp"

namespace {

namespace fs = std::filesystem;

using llmt::testing::Outcome;
Outcome run(const std::string& args) { return llmt::testing::run_binary(args); }
std::string temp(const std::string& name) { return llmt::testing::temp_path("llmt_gate", name).string(); }

// --- the statistics, on synthetic streams --------------------------------------------------

// A run's e2e samples around `median_ms`, with a fixed +-2% spread (no random numbers).
std::vector<double> stream(double median_ms, int n = 8) {
  static const double kJitter[] = {1.0, 0.98, 1.02, 0.99, 1.01, 0.985, 1.015, 1.005, 0.995, 1.0};
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(median_ms * kJitter[i % 10]);
  return v;
}

// One configuration of `ranks` tensor-parallel ranks whose iterations took `e2e`.
llmt::ConfigResult tp_result(const std::vector<double>& e2e, int ranks = 1) {
  llmt::ConfigResult r;
  r.point = llmt::ConfigPoint{"tp", llmt::Layout{ranks, 1, 1}, llmt::SyncMode::blocking, llmt::MergeMode::concat,
                              llmt::Workload{2, 32, 4}};
  r.iterations = static_cast<int>(e2e.size());
  llmt::RawSamples& s = r.samples;
  for (double ms : e2e) {
    s.e2e_ms.push_back(ms);
    s.ttft_ms.push_back(ms * 0.4);
    for (int step = 0; step < 3; ++step) s.decode_step_ms.push_back(ms * 0.2);
  }
  const auto rows = static_cast<std::size_t>(ranks);
  s.rank_busy_ms.assign(rows, s.e2e_ms);
  s.rank_iteration_ms.assign(rows, s.e2e_ms);
  s.rank_sync_ms = s.rank_sync_total_ms = s.rank_transfer_ms =
      std::vector<std::vector<double>>(rows, std::vector<double>(e2e.size(), 0.0));
  llmt::fill_sample_metrics(r.point, s, r.metrics);
  r.metrics.memory.resize(rows);
  r.verification.checked = r.verification.passed = true;
  return r;
}

nlohmann::json document_of(const std::vector<llmt::ConfigResult>& results) {
  llmt::RunMetadata meta;
  meta.backend = "cpu";
  std::vector<nlohmann::json> configurations;
  for (const llmt::ConfigResult& r : results) configurations.push_back(llmt::to_json(r));
  return llmt::make_document(meta, configurations);
}

nlohmann::json results_document(const std::vector<double>& e2e) { return document_of({tp_result(e2e)}); }

// One side of a comparison: a run per median, pooled.
std::vector<llmt::ResultsFile> side(const std::string& name, const std::vector<double>& run_medians) {
  std::vector<llmt::ResultsFile> files;
  for (std::size_t k = 0; k < run_medians.size(); ++k)
    files.push_back({name + std::to_string(k + 1) + ".json", results_document(stream(run_medians[k]))});
  return files;
}

llmt::Verdict verdict(const llmt::Comparison& c, const std::string& metric) {
  for (const llmt::MetricComparison& m : c.rows)
    if (m.metric == metric) return m.verdict;
  ADD_FAILURE() << "no row for " << metric;
  return llmt::Verdict::same;
}

// What the old end-to-end test met on a loaded machine: three base runs whose medians differ by
// 24%. A 20% slowdown is within that spread and cannot be told from it (noisy, no failure); a
// 3x slowdown can; identical runs are the same.
TEST(Gate, PooledStreamsFromALoadedMachine) {
  llmt::CompareOptions o;
  o.threshold = 0.10;
  const auto base = side("base", {150, 168, 186});  // (186 - 150) / 150 = 24% apart
  const llmt::Comparison slight = llmt::compare_runs(base, side("slight", {180, 201.6, 223.2}), o);
  EXPECT_EQ(verdict(slight, "latency.median"), llmt::Verdict::noisy);
  EXPECT_FALSE(slight.regressed());

  const llmt::Comparison slow = llmt::compare_runs(base, side("slow", {450, 504, 558}), o);
  EXPECT_TRUE(slow.regressed());
  EXPECT_EQ(verdict(slow, "latency.median"), llmt::Verdict::regression);
  EXPECT_EQ(verdict(slow, "throughput"), llmt::Verdict::regression);

  const llmt::Comparison same = llmt::compare_runs(base, side("copy", {150, 168, 186}), o);
  EXPECT_FALSE(same.regressed());
  EXPECT_EQ(verdict(same, "latency.median"), llmt::Verdict::same);

  // Steady runs: a 20% slowdown is beyond both the threshold and the run-to-run spread.
  const llmt::Comparison steady = llmt::compare_runs(side("b", {150, 151, 149}), side("n", {180, 181.2, 178.8}), o);
  EXPECT_EQ(verdict(steady, "latency.median"), llmt::Verdict::regression);
}

// --- the plumbing, on deterministic inputs ---------------------------------------------------

// Multiplies every number under each configuration's "samples" (per-rank rows included).
void scale(nlohmann::json& j, double factor) {
  if (j.is_number())
    j = j.get<double>() * factor;
  else if (j.is_array() || j.is_object())
    for (auto& v : j) scale(v, factor);
}

std::string write_scaled(const nlohmann::json& doc, double factor, const std::string& name) {
  nlohmann::json copy = doc;
  for (auto& config : copy["configurations"])
    if (config.contains("samples")) scale(config["samples"], factor);
  const std::string path = temp(name);
  std::ofstream(path) << copy.dump(2);
  return path;
}

// The lines of `output` that name `metric` with a `regression` verdict.
bool names_regression(const std::string& output, const std::string& metric) {
  for (std::size_t at = output.find(metric + " "); at != std::string::npos; at = output.find(metric + " ", at + 1)) {
    const std::string line = output.substr(at, output.find('\n', at) - at);
    if (line.find("regression") != std::string::npos) return true;
  }
  return false;
}

TEST(Gate, AnInjectedSlowdownIsFlaggedAndIdenticalRunsAreNot) {
  // One real run of a tiny model (well under a millisecond an iteration).
  const std::string real = temp("real.json");
  const std::string tiny = "bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 3 --warmup 1 -n 8 -q";
  ASSERT_EQ(run(tiny + " --json " + real).status, 0);
  nlohmann::json doc;
  std::ifstream(real) >> doc;
  ASSERT_FALSE(doc["configurations"][0]["samples"]["e2e_ms"].empty());

  // Pooled sides from copies of it, scaled by exact factors: base runs 2% apart, identical new
  // runs, and new runs 10 times slower (far beyond any spread of the real samples).
  const double run_factors[] = {1.0, 1.02, 0.98};
  std::string base, same, slow;
  for (int k = 0; k < 3; ++k) {
    const std::string n = std::to_string(k + 1);
    for (auto [side, name, factor] : {std::tuple{&base, "base", 1.0}, std::tuple{&same, "same", 1.0},
                                      std::tuple{&slow, "slow", 10.0}}) {
      if (k > 0) side->push_back(',');
      side->append(write_scaled(doc, factor * run_factors[k], std::string(name) + n + ".json"));
    }
  }

  const Outcome identical = run("compare " + base + " " + same + " --threshold 10%");
  EXPECT_EQ(identical.status, 0) << identical.output;
  EXPECT_EQ(identical.output.find("regression "), std::string::npos) << identical.output;
  EXPECT_NE(identical.output.find("pooled from 3 base and 3 new"), std::string::npos) << identical.output;

  // The gate fails the run and names the metrics: every sample is 10 times longer.
  const Outcome flagged = run("compare " + base + " " + slow + " --threshold 10%");
  EXPECT_EQ(flagged.status, 1) << flagged.output;
  for (const char* metric : {"latency.median", "tpot.median", "throughput"})
    EXPECT_TRUE(names_regression(flagged.output, metric)) << metric << "\n" << flagged.output;
  EXPECT_NE(flagged.output.find("pooled from 3 base and 3 new"), std::string::npos) << flagged.output;

  const Outcome markdown = run("compare " + base + " " + slow + " --threshold 10% --format markdown");
  EXPECT_EQ(markdown.status, 1);
  EXPECT_NE(markdown.output.find("**regression**"), std::string::npos) << markdown.output;

  // bench's own --inject-delay, end to end: 50 ms in every iteration of rank 0, against the
  // real run's sub-millisecond iterations (no scheduling noise comes near it).
  const std::string delayed = temp("delayed.json");
  ASSERT_EQ(run(tiny + " --inject-delay 50ms --json " + delayed).status, 0);
  const Outcome injected = run("compare " + real + " " + delayed + " --threshold 10%");
  EXPECT_EQ(injected.status, 1) << injected.output;
  EXPECT_TRUE(names_regression(injected.output, "latency.median")) << injected.output;
  const Outcome itself = run("compare " + delayed + " " + delayed + " --threshold 10%");
  EXPECT_EQ(itself.status, 0) << itself.output;
}

// Seven configurations whose iterations took `factor` times the fixed stream around 100 ms, with
// `n` samples each, written to a file.
std::string seven_configurations(double factor, int n, const std::string& name) {
  std::vector<llmt::ConfigResult> results;
  for (int ranks = 1; ranks <= 7; ++ranks) {
    std::vector<double> e2e = stream(100.0 * ranks, n);
    for (double& ms : e2e) ms *= factor;
    results.push_back(tp_result(e2e, ranks));
  }
  const std::string path = temp(name);
  std::ofstream(path) << document_of(results).dump();
  return path;
}

// The gate's defaults can fire: 10 samples a side (bench's default --iterations), every one of
// seven configurations 10% slower, is seven regressions and exit 1; the same files unchanged pass.
TEST(Gate, ATenPercentSlowdownFailsTheDefaultGate) {
  const std::string base = seven_configurations(1.0, 10, "base10.json");
  const Outcome slower = run("compare " + base + " " + seven_configurations(1.10, 10, "slower10.json"));
  EXPECT_EQ(slower.status, 1) << slower.output;
  EXPECT_NE(slower.output.find("7 regression(s), 0 improvement(s), 0 noisy, 0 same"), std::string::npos)
      << slower.output;
  EXPECT_NE(slower.output.find("7 tests over 7 configurations, Holm-corrected at alpha 0.01; gating: latency.median"),
            std::string::npos)
      << slower.output;
  const Outcome same = run("compare " + base + " " + seven_configurations(1.0, 10, "same10.json"));
  EXPECT_EQ(same.status, 0) << same.output;
  EXPECT_NE(same.output.find("0 regression(s), 0 improvement(s), 0 noisy, 7 same"), std::string::npos) << same.output;
}

// With 5 samples a side and 7 tests no p can reach alpha after Holm (2 / C(10, 5) x 7 = 0.056):
// even a 2x slowdown cannot be flagged, and the gate says so with exit 2 instead of passing.
TEST(Gate, TooFewSamplesToDetectARegressionExitTwo) {
  const std::string base = seven_configurations(1.0, 5, "base5.json");
  const std::string doubled = seven_configurations(2.0, 5, "doubled5.json");
  const Outcome o = run("compare " + base + " " + doubled);
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("cannot detect a regression with n=5 per side at alpha 0.01 over 7 tests (Holm); need "
                          "n >= 7 per side"),
            std::string::npos)
      << o.output;
  EXPECT_NE(o.output.find("0 regression(s), 0 improvement(s), 7 noisy"), std::string::npos) << "the table is shown";
  // The JSON says the same; 7 a side is enough (2 / C(14, 7) x 7 = 0.0041).
  const std::string json_out = temp("undetectable.json");
  EXPECT_EQ(run("compare " + base + " " + doubled + " --format json -o " + json_out).status, 2);
  nlohmann::json doc;
  std::ifstream(json_out) >> doc;
  EXPECT_EQ(doc["exit_status"], 2);
  EXPECT_NE(doc["undetectable"].get<std::string>().find("need n >= 7"), std::string::npos);
  EXPECT_EQ(run("compare " + seven_configurations(1.0, 7, "base7.json") + " " +
                seven_configurations(2.0, 7, "doubled7.json"))
                .status,
            1);
  // Pooling runs adds samples: 5 + 5 a side is as good as 10.
  const std::string base_b = seven_configurations(1.01, 5, "base5b.json");
  const std::string doubled_b = seven_configurations(2.02, 5, "doubled5b.json");
  EXPECT_EQ(run("compare " + base + "," + base_b + " " + doubled + "," + doubled_b).status, 1);
}

// Every sample array becomes its median times the fixed +-2% jitter, position by position: the
// run's shape (configurations, samples per side) stays, the machine's noise goes.
void steady(nlohmann::json& j) {
  if (j.is_array() && !j.empty() && j[0].is_number()) {
    std::vector<double> v = j.get<std::vector<double>>();
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    const std::vector<double> fixed = stream(median, static_cast<int>(v.size()));
    j = fixed;
  } else if (j.is_array() || j.is_object()) {
    for (auto& v : j) steady(v);
  }
}

// bench's defaults, end to end: a real run with the default iterations (its samples made steady,
// so the machine's speed cannot decide), and a copy with every sample 10% longer, fail the
// default gate (exit 1).
TEST(Gate, DefaultBenchThenCompareCatchesATenPercentSlowdown) {
  const std::string real = temp("default.json");
  ASSERT_EQ(run("bench --model tiny --gpus 1,2 --strategy tp,dp --batch 2 --prompt 4 --gen 3 -q --json " + real).status,
            0);
  nlohmann::json doc;
  std::ifstream(real) >> doc;
  ASSERT_EQ(doc["configurations"][0]["samples"]["e2e_ms"].size(), 10u) << "bench's default --iterations";
  for (auto& config : doc["configurations"])
    if (config.contains("samples")) steady(config["samples"]);
  const std::string base = write_scaled(doc, 1.0, "default-steady.json");
  const Outcome o = run("compare " + base + " " + write_scaled(doc, 1.10, "default-slower.json"));
  EXPECT_EQ(o.status, 1) << o.output;
  EXPECT_EQ(run("compare " + base + " " + base).status, 0);
}

TEST(Gate, UnusableInputExitsWithTwo) {
  const std::string good = temp("good.json"), bad = temp("bad.json");
  // 5 samples: the fewest with which one test can reach alpha 0.01 (the control below is judged).
  ASSERT_EQ(run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -n 5 -q --json " + good).status,
            0);
  std::FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs("{\"schema_version\": 1, \"configurations\": [", f);
  std::fclose(f);
  Outcome o = run("compare " + good + " " + bad);
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("bad.json: not valid JSON"), std::string::npos) << o.output;
  o = run("compare " + good + " /nonexistent.json");
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("/nonexistent.json: cannot open"), std::string::npos) << o.output;
  o = run("compare " + good + ",/nonexistent.json " + good);  // one bad file among pooled runs
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("/nonexistent.json: cannot open"), std::string::npos) << o.output;
  o = run("compare " + good + "," + good + " " + good);  // a file twice would count its samples twice
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("given twice"), std::string::npos) << o.output;
  o = run("compare , " + good);
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("names no results file"), std::string::npos) << o.output;
  o = run("compare " + good + " " + good + " --threshold fast");
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(run("compare " + good + " " + good).status, 0);
}

TEST(Gate, ReportsRenderARunAndAComparison) {
  const std::string a = temp("r.json"), html = temp("r.html"), cmp = temp("cmp.html");
  ASSERT_EQ(run("bench --model tiny --gpus 1,2,4 --strategy tp,dp,pp --batch 4 --prompt 4 --gen 2 -n 3 -q --json " + a)
                .status,
            0);
  ASSERT_EQ(run("report " + a + " -o " + html).status, 0);
  EXPECT_EQ(std::system(("xmllint --noout " + html).c_str()), 0);
  ASSERT_EQ(run("report --compare " + a + " " + a + " -o " + cmp).status, 0);
  EXPECT_EQ(std::system(("xmllint --noout " + cmp).c_str()), 0);
}

}  // namespace
