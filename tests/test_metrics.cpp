// The metrics of docs/metrics.md on cases whose true value is known: hand-made samples through
// engine/metrics.cpp and every writer (JSON, CSV, console, HTML).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/metrics.hpp"
#include "engine/runner.hpp"
#include "reports/html_report.hpp"
#include "reports/json_schema.hpp"
#include "reports/reporter.hpp"
#include "csv_output.hpp"
#include "run_binary.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;
using llmt::testing::split;

// batch 2, gen 3 (two decode steps per iteration), one rank, three iterations whose means and
// medians differ: ttft {10, 20, 60} (mean 30), decode steps {8, 12 | 10, 10 | 5, 25} (TPOT, the
// mean step, 70 / 6; median step 10; per iteration 10, 10, 15), so e2e {30, 40, 90} (mean 160 / 3,
// median 40). Mean ttft + 2 TPOT = mean e2e, and tok/s = 6 tokens / mean e2e = 112.5.
// A verified result of `point` with these samples and the metrics derived from them.
ConfigResult result_of(const ConfigPoint& point, const RawSamples& samples) {
  ConfigResult r;
  r.point = point;
  r.iterations = static_cast<int>(samples.e2e_ms.size());
  r.samples = samples;
  fill_sample_metrics(r.point, r.samples, r.metrics);
  r.metrics.memory.resize(static_cast<std::size_t>(point.layout.ranks()));
  r.verification.checked = r.verification.passed = true;
  return r;
}

ConfigResult known_result() {
  RawSamples s;
  s.ttft_ms = {10, 20, 60};
  s.decode_step_ms = {8, 12, 10, 10, 5, 25};
  s.e2e_ms = {30, 40, 90};
  s.rank_iteration_ms = {s.e2e_ms};
  s.rank_busy_ms = {s.e2e_ms};
  s.rank_sync_ms = {{0, 0, 0}};
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms = s.rank_sync_ms;
  return result_of(ConfigPoint{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}}, s);
}

// Two pipeline stages, two iterations of e2e 10 and 20 ms. Rank 0 computes 6 and 12 ms, rank 1
// 8 and 16; rank 0 also waits 1 and 2 ms in a collective (exposed). Waiting, per iteration the
// mean over ranks of e2e - busy: (4 + 2) / 2 = 3 and (8 + 4) / 2 = 6, so wait% = 4.5 / 15 = 30%;
// sync% = 0.75 / 15 = 5%, and the bubble the other 25%.
ConfigResult waiting_result() {
  RawSamples s;
  s.e2e_ms = {10, 20};
  s.ttft_ms = {4, 8};
  s.decode_step_ms = {3, 3, 6, 6};
  s.rank_busy_ms = {{6, 12}, {8, 16}};
  s.rank_sync_ms = {{1, 2}, {0, 0}};
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms = {{2, 4}, {1, 2}};
  s.rank_iteration_ms = {{9, 18}, {9, 18}};
  ConfigPoint point{"pp", Layout{1, 2, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
  point.microbatches = 2;
  return result_of(point, s);
}

fs::path temp_file(const std::string& name) { return llmt::testing::temp_path("llmt_metrics", name); }

// The value printed under `column` of a right-aligned console table: the text that ends where the
// column's name ends in the header.
std::string console_value(const std::string& header, const std::string& row, const std::string& column) {
  const std::size_t at = header.find(column);
  if (at == std::string::npos) return "<no column " + column + ">";
  const std::size_t end = at + column.size();
  if (end > row.size()) return "<short row>";
  const std::size_t begin = row.rfind(' ', end - 1);
  return row.substr(begin + 1, end - begin - 1);
}

std::pair<std::vector<std::string>, std::vector<std::string>> csv_of(const ConfigResult& r, const std::string& name) {
  return llmt::testing::csv_of(r, temp_file(name));
}

std::string csv_value(const ConfigResult& r, const std::string& column) {
  return llmt::testing::csv_value(r, column, temp_file("known.csv"));
}

// The console's header line and the row of the one configuration added.
std::pair<std::string, std::string> console_of(const ConfigResult& r) {
  ::testing::internal::CaptureStdout();
  {
    const auto console = make_console_reporter();
    console->begin(RunMetadata{}, CarriedResults{});
    console->add(r);
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  std::string header, row;
  for (const std::string& line : split(out, '\n')) {
    if (line.rfind("configuration ", 0) == 0) header = line;
    if (line.rfind(r.point.strategy + " ", 0) == 0 && row.empty()) row = line;
  }
  return {header, row};
}

// ---- time per output token and tokens per second (one definition) -------------------------

TEST(TokensAndTpot, DefinedOnceAsTheMeanDecodeStepAndTokensOverMeanE2e) {
  const ConfigResult r = known_result();
  const ConfigMetrics& m = r.metrics;
  EXPECT_DOUBLE_EQ(time_per_output_token_ms(r.samples), 70.0 / 6);
  EXPECT_DOUBLE_EQ(m.tpot_ms, 70.0 / 6);
  EXPECT_DOUBLE_EQ(m.decode_step_ms.median, 10.0) << "the median step is not TPOT";
  const std::vector<double> per_iteration = tpot_per_iteration_ms(r.samples);
  ASSERT_EQ(per_iteration.size(), 3u);
  EXPECT_DOUBLE_EQ(per_iteration[0], 10);
  EXPECT_DOUBLE_EQ(per_iteration[1], 10);
  EXPECT_DOUBLE_EQ(per_iteration[2], 15);
  EXPECT_DOUBLE_EQ(output_tokens_per_s(r.point.workload, 50.0), 120.0);
  EXPECT_DOUBLE_EQ(m.output_tokens_per_s, 112.5);
  EXPECT_DOUBLE_EQ(m.decode_tokens_per_s, 2 / (70.0 / 6 * 1e-3));
  EXPECT_DOUBLE_EQ(m.ttft_ms.mean + 2 * m.tpot_ms, m.e2e_ms.mean);

  RawSamples gen1;
  gen1.e2e_ms = gen1.ttft_ms = {5, 6};
  EXPECT_EQ(time_per_output_token_ms(gen1), 0.0);
  EXPECT_TRUE(tpot_per_iteration_ms(gen1).empty());
}

TEST(TokensAndTpot, EveryWriterShowsTheSameFigures) {
  const ConfigResult r = known_result();
  const auto [header, row] = console_of(r);
  ASSERT_FALSE(header.empty());
  ASSERT_FALSE(row.empty());
  EXPECT_EQ(console_value(header, row, "ttft ms"), "30.00") << row;
  EXPECT_EQ(console_value(header, row, "tpot ms"), "11.667") << row;
  EXPECT_EQ(console_value(header, row, "e2e ms"), "53.33") << row << ": the mean, which tok/s divides";
  EXPECT_EQ(console_value(header, row, "tok/s"), "112.5") << row;

  EXPECT_EQ(csv_value(r, "tpot_ms"), "11.6667");
  EXPECT_EQ(csv_value(r, "output_tokens_per_s"), "112.5");

  const nlohmann::json j = to_json(r);
  EXPECT_DOUBLE_EQ(j["metrics"]["latency"]["tpot_ms"].get<double>(), 70.0 / 6);
  EXPECT_DOUBLE_EQ(j["metrics"]["throughput"]["output_tokens_per_s"].get<double>(), 112.5);
  EXPECT_DOUBLE_EQ(result_from_json(j, "test").metrics.tpot_ms, 70.0 / 6);

  const std::string html = html_report(make_document(RunMetadata{}, {j}), "r.json");
  EXPECT_NE(html.find("<td class=\"num\">11.67</td>"), std::string::npos) << "tpot";
  EXPECT_NE(html.find("<td class=\"num\">112.5</td>"), std::string::npos) << "tok/s";
  EXPECT_NE(html.find("<td class=\"num\">53.33</td>"), std::string::npos) << "mean e2e";
}

// ---- wait% beside sync% ---------------------------------------------------------------------

TEST(WaitFraction, IsEverythingButComputeOfTheMeanIteration) {
  const ConfigResult r = waiting_result();
  const ConfigMetrics& m = r.metrics;
  ASSERT_EQ(m.wait_ms.n, 2u);
  EXPECT_DOUBLE_EQ(m.wait_ms.min, 3);
  EXPECT_DOUBLE_EQ(m.wait_ms.max, 6);
  EXPECT_DOUBLE_EQ(m.wait_fraction, 0.3);
  EXPECT_DOUBLE_EQ(m.sync_fraction, 0.05);

  const auto [header, row] = console_of(r);
  EXPECT_EQ(console_value(header, row, "sync%"), "5.0%") << row;
  EXPECT_EQ(console_value(header, row, "wait%"), "30.0%") << row;
  EXPECT_EQ(csv_value(r, "wait_fraction"), "0.3");
  EXPECT_EQ(csv_value(r, "wait_ms_mean"), "4.5");
  const nlohmann::json j = to_json(r);
  EXPECT_DOUBLE_EQ(j["metrics"]["sync"]["wait_fraction"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(j["metrics"]["sync"]["wait_ms"]["mean"].get<double>(), 4.5);
  EXPECT_DOUBLE_EQ(result_from_json(j, "test").metrics.wait_fraction, 0.3) << "recomputed from the samples";
  const std::string html = html_report(make_document(RunMetadata{}, {j}), "r.json");
  EXPECT_NE(html.find("<td class=\"num\">30.0%</td>"), std::string::npos);

  EXPECT_EQ(known_result().metrics.wait_fraction, 0.0) << "one rank busy all along waits for nothing";
}

// ---- bus bandwidth without the straggler wait ----------------------------------------------

// Phase 0: a decode all-reduce in groups of 4 ranks (factor 2 x 3/4 = 1.5), two instances of the
// group, one iteration. Instance 0's two calls took 10 and 1 ms on its ranks, then 1 and 10: a
// straggler each time, so each call's own time is 1 ms. Instance 1's took 4 and 4, then 2 and 6.
// Per instance: (1 + 1 + 4 + 2) / 2 = 4 ms for 2 calls of 1 MB: algbw 0.5 GB/s, busbw 0.75. A third
// call of 0.5 MB is another message size. Phase 1: a prefill all-gather (factor 3/4) of 2 MB that
// took 8 and 3 ms: 3 ms, algbw 2/3 GB/s, busbw 0.5.
std::vector<BusBandwidth> known_bus_bandwidth() {
  const std::vector<CollectiveKind> kinds = {{"decode", CommOp::all_reduce, "tp", 4},
                                             {"prefill", CommOp::all_gather, "tp", 4}};
  std::vector<CollectiveCall> calls;
  auto add = [&](std::uint32_t phase, int instance, int ordinal, double bytes, std::vector<double> ms_by_rank) {
    for (double ms : ms_by_rank) calls.push_back({phase, instance, 0, ordinal, bytes, ms});
  };
  add(0, 0, 0, 1e6, {10, 1});
  add(0, 0, 1, 1e6, {1, 10});
  add(0, 1, 0, 1e6, {4, 4});
  add(0, 1, 1, 1e6, {2, 6});
  add(0, 0, 2, 5e5, {2.5, 0.5});
  add(0, 1, 2, 5e5, {0.5, 0.5});
  add(1, 0, 0, 2e6, {8, 3});
  return bus_bandwidth(calls, kinds, 1);
}

TEST(BusBandwidth, ACallTakesTheTimeOfItsLastRankToArrive) {
  const std::vector<BusBandwidth> b = known_bus_bandwidth();
  const std::vector<BusBandwidth> expected = {{"prefill", "all_gather", "tp", 4, 2e6, 1, 3, 2.0 / 3, 0.5},
                                              {"decode", "all_reduce", "tp", 4, 5e5, 1, 0.5, 1, 1.5},
                                              {"decode", "all_reduce", "tp", 4, 1e6, 2, 4, 0.5, 0.75}};
  ASSERT_EQ(b.size(), expected.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    const BusBandwidth &got = b[i], &want = expected[i];
    EXPECT_EQ(std::tie(got.pass, got.op, got.group, got.group_size), std::tie(want.pass, want.op, want.group, want.group_size)) << i;
    for (auto field : {&BusBandwidth::message_bytes, &BusBandwidth::calls, &BusBandwidth::ms, &BusBandwidth::algbw_gbps,
                       &BusBandwidth::busbw_gbps})
      EXPECT_DOUBLE_EQ(got.*field, want.*field) << i;
  }
  // The decode pass as a whole: bus bytes over time, (0.5 x 1.5 x 1 + 0.75 x 4) / 4.5.
  EXPECT_DOUBLE_EQ(pass_bus_bandwidth_gbps(b, "decode"), (1.5 * 0.5 + 0.75 * 4) / 4.5);
  EXPECT_DOUBLE_EQ(pass_bus_bandwidth_gbps(b, "prefill"), 0.5);
}

// With CUDA graphs the replayed decode steps leave no phase times: each of the 3 steps counts the
// eager sample step's all-reduce (0.5 ms), beside the prefill's own (1 ms): sync 2.5 ms of a 10 ms
// iteration, busy 7.5; without a sample only the timed phases count.
TEST(RawSamples, ReplayedDecodeStepsCountTheEagerSampleCollectives) {
  PhaseTable table;
  PhaseInfo all_reduce;
  all_reduce.path = "prefill/layer.0/attn/all_reduce";
  all_reduce.category = PhaseCategory::communication;
  all_reduce.counts_as_sync_total = true;
  const PhaseId prefill = table.add(all_reduce);
  all_reduce.path = "decode/layer.0/attn/all_reduce";
  const PhaseId decode = table.add(all_reduce);
  IterationRecord rec;
  rec.begin = 0;
  rec.prefill_end = 4'000'000;
  rec.end = 10'000'000;
  rec.step_end = {6'000'000, 8'000'000, 10'000'000};
  rec.phases.resize(table.size());
  rec.phases[prefill] = {1, 1'000'000, 0};
  rec.sampled_phases.resize(table.size());
  rec.sampled_phases[decode] = {1, 500'000, 0};
  RankOutcome graphed;
  graphed.iterations = {rec};
  RawSamples s = raw_samples({graphed}, table, 1, 3);
  EXPECT_DOUBLE_EQ(s.rank_sync_ms[0][0], 2.5);
  EXPECT_DOUBLE_EQ(s.rank_sync_total_ms[0][0], 2.5);
  EXPECT_DOUBLE_EQ(s.rank_busy_ms[0][0], 7.5);
  rec.sampled_phases.clear();
  RankOutcome eager;
  eager.iterations = {rec};
  s = raw_samples({eager}, table, 1, 3);
  EXPECT_DOUBLE_EQ(s.rank_sync_ms[0][0], 1.0);
  EXPECT_DOUBLE_EQ(s.rank_busy_ms[0][0], 9.0);
}

// ep_balance per pass: 4 experts over 2 EP ranks. The prefill sends 6+2 tokens to rank 0's block
// and 4+4 to rank 1's (balance 8/8 = 1 over mean/max: mean 8, max 8), the decode steps 3+1 to
// rank 0 and 0 to rank 1 (mean 2, max 4: 0.5). Together 12 against 8: 10/12.
TEST(Moe, EpBalanceIsReportedPerPass) {
  const std::vector<std::vector<long long>> decode = {{3, 1, 0, 0}};
  MoeMetrics moe = moe_metrics({{9, 3, 4, 4}}, 2, {}, "model");
  ep_balance_by_pass(moe, decode);
  EXPECT_DOUBLE_EQ(moe.ep_balance, 10.0 / 12);
  EXPECT_DOUBLE_EQ(moe.ep_balance_prefill, 1.0);
  EXPECT_DOUBLE_EQ(moe.ep_balance_decode, 0.5);
  // A dense layer (no routed token) counts in neither pass.
  MoeMetrics two = moe_metrics({{9, 3, 4, 4}, {0, 0, 0, 0}}, 2, {}, "model");
  ep_balance_by_pass(two, {{3, 1, 0, 0}, {0, 0, 0, 0}});
  EXPECT_DOUBLE_EQ(two.ep_balance_decode, 0.5);
}

// An uneven all-to-all of an EP group of 2: rank 0 sends 3 MB to rank 1 in 4 ms, rank 1 sends
// 1 MB to rank 0 and arrives last (2 ms). The call is the busiest rank's bytes over the last
// arrival's time, not one rank's bytes with the other's time: 3 MB / 2 ms = 1.5 GB/s, factor 1
// (the bytes are wire bytes). Of the 4 ms the slowest rank spent in it, 2 were waiting.
TEST(BusBandwidth, AnUnevenAllToAllIsTheBusiestRanksWireBytesOverTheLastArrival) {
  const std::vector<CollectiveKind> kinds = {{"prefill", CommOp::all_to_all, "ep", 2}};
  const std::vector<CollectiveCall> calls = {{0, 0, 0, 0, 3e6, 4}, {0, 0, 0, 0, 1e6, 2}};
  const std::vector<BusBandwidth> b = bus_bandwidth(calls, kinds, 1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_DOUBLE_EQ(b[0].message_bytes, 3e6);
  EXPECT_DOUBLE_EQ(b[0].ms, 2);
  EXPECT_DOUBLE_EQ(b[0].algbw_gbps, 1.5);
  EXPECT_DOUBLE_EQ(b[0].busbw_gbps, 1.5);
  MoeMetrics moe;
  moe.exchange_ms = 4;
  split_exchange_time(moe, b);
  EXPECT_DOUBLE_EQ(moe.exchange_transfer_ms, 2);
  EXPECT_DOUBLE_EQ(moe.exchange_wait_ms, 2);
  // Collectives of other groups are not the exchange's.
  MoeMetrics dense_only;
  dense_only.exchange_ms = 1;
  split_exchange_time(dense_only, {{"prefill", "all_reduce", "tp", 2, 1e6, 1, 0.5, 2, 2}});
  EXPECT_DOUBLE_EQ(dense_only.exchange_transfer_ms, 0);
  EXPECT_DOUBLE_EQ(dense_only.exchange_wait_ms, 1);
}

TEST(BusBandwidth, EveryWriterShowsItPerPassAndMessageSize) {
  ConfigResult r = waiting_result();
  r.point = ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
  r.metrics.bus_bandwidth = known_bus_bandwidth();
  ::testing::internal::CaptureStdout();
  make_console_reporter()->add(r);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("prefill all_gather tp4 1.91 MiB 0.5; decode all_reduce tp4 488.3 KiB 1.5, all_reduce tp4 "
                     "976.6 KiB 0.75\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(csv_value(r, "prefill_busbw_gbps"), "0.5");
  const nlohmann::json j = to_json(r);
  const nlohmann::json& bj = j["metrics"]["sync"]["bus_bandwidth"];
  ASSERT_EQ(bj.size(), 3u);
  EXPECT_EQ(bj[2]["message_bytes"], 1e6);
  EXPECT_EQ(bj[2]["busbw_gbps"], 0.75);
  const ConfigResult back = result_from_json(j, "test");
  ASSERT_EQ(back.metrics.bus_bandwidth.size(), 3u);
  EXPECT_DOUBLE_EQ(back.metrics.bus_bandwidth[2].busbw_gbps, 0.75);
  EXPECT_EQ(back.metrics.bus_bandwidth[0].pass, "prefill");
  const std::string html = html_report(make_document(RunMetadata{}, {j}), "r.json");
  EXPECT_NE(html.find("Collective bus bandwidth"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.75</td>"), std::string::npos);
}

// ---- memory: allocated beside the measured peak ----------------------------------------------

TEST(MemoryPools, AllocatedBesideTheMeasuredPeakAndTheUntrackedRest) {
  constexpr long long gib = 1LL << 30;
  ConfigResult r = waiting_result();
  r.metrics.memory[0].peak_total = 3 * gib / 4;
  r.metrics.memory[1].peak_total = gib / 4;
  PoolMemory host{"host", {0, 1}, gib, 3 * gib / 2, "process_rss_hwm_since_configuration_start", gib / 8};
  r.metrics.memory_pools = {host};
  EXPECT_EQ(host.untracked_bytes(), gib / 2);

  auto [header, row] = console_of(r);
  EXPECT_EQ(console_value(header, row, "GiB/rank"), "0.750") << row;
  EXPECT_EQ(console_value(header, row, "peak GiB"), "1.500") << row;
  EXPECT_EQ(console_value(header, row, "untrk GiB"), "0.500") << row;
  EXPECT_EQ(csv_value(r, "pool_allocated_bytes"), std::to_string(gib));
  EXPECT_EQ(csv_value(r, "pool_measured_peak_bytes"), std::to_string(3 * gib / 2));
  EXPECT_EQ(csv_value(r, "pool_untracked_bytes"), std::to_string(gib / 2));
  EXPECT_EQ(csv_value(r, "pool_measured_by"), "process_rss_hwm_since_configuration_start");
  EXPECT_EQ(csv_value(r, "max_rank_allocated_bytes"), std::to_string(3 * gib / 4));

  const nlohmann::json j = to_json(r);
  const nlohmann::json& pj = j["metrics"]["memory_pools"][0];
  EXPECT_EQ(pj["untracked_bytes"], gib / 2);
  EXPECT_EQ(pj["rss_at_start_bytes"], gib / 8);
  EXPECT_EQ(j["metrics"]["memory"][0]["allocated"]["peak_total"], 3 * gib / 4);
  EXPECT_TRUE(j["metrics"]["memory"][0]["device_used_at_end"].is_null()) << "no device on the CPU";
  const ConfigResult back = result_from_json(j, "test");
  ASSERT_EQ(back.metrics.memory_pools.size(), 1u);
  EXPECT_EQ(back.metrics.memory_pools[0].untracked_bytes(), gib / 2);
  EXPECT_EQ(back.metrics.memory_pools[0].ranks, (std::vector<int>{0, 1}));
  const std::string html = html_report(make_document(RunMetadata{}, {j}), "r.json");
  EXPECT_NE(html.find("<td class=\"num\">0.5000</td>"), std::string::npos) << "untracked GiB";

  // Where the high-water mark could not be reset, the peak is the process's so far, and says so.
  r.metrics.memory_pools[0].measured_by = "process_rss_hwm_since_process_start";
  std::tie(header, row) = console_of(r);
  EXPECT_EQ(console_value(header, row, "peak GiB"), "1.500*") << row;
}

// ---- the noise floor's cap, the EP exchange split and routing agreement in CSV and HTML ------

// An expert-parallel MoE result, verified against a floor under its cap, with teacher-forced routing.
ConfigResult capped_moe_result() {
  ConfigResult r = known_result();
  r.verification.floor = 0.002;
  r.verification.floor_cap = 0.0625;
  r.verification.floor_trusted = true;
  r.verification.tolerance = 0.016;
  MoeMetrics& m = r.metrics.moe;
  m.available = true;
  m.routing = "model";
  m.ep_ranks = 2;
  m.exchange_ms = 3.5;
  m.exchange_transfer_ms = 1.25;
  m.exchange_wait_ms = 2.25;
  m.routing_agreement = 0.875;
  return r;
}

TEST(ReportWriters, CsvShowsTheFloorCapTheExchangeSplitAndRoutingAgreement) {
  ConfigResult r = capped_moe_result();
  const auto [header, row] = csv_of(r, "capped.csv");
  EXPECT_EQ(header.size(), row.size()) << "one field per column";
  EXPECT_EQ(csv_value(r, "noise_floor_cap"), "0.0625");
  EXPECT_EQ(csv_value(r, "noise_floor_trusted"), "yes");
  EXPECT_EQ(csv_value(r, "moe_exchange_ms"), "3.5");
  EXPECT_EQ(csv_value(r, "moe_exchange_transfer_ms"), "1.25");
  EXPECT_EQ(csv_value(r, "moe_exchange_wait_ms"), "2.25");
  EXPECT_EQ(csv_value(r, "routing_agreement"), "0.875");

  r.verification.floor_trusted = false;
  EXPECT_EQ(csv_value(r, "noise_floor_trusted"), "no");
  r.metrics.moe.routing_agreement = -1;  // not compared (routing laws, process mode)
  EXPECT_EQ(csv_value(r, "routing_agreement"), "");
  r.verification.floor_cap = 0;  // a file written before the cap
  EXPECT_EQ(csv_value(r, "noise_floor_cap"), "");
  EXPECT_EQ(csv_value(r, "noise_floor_trusted"), "");

  const ConfigResult dense = known_result();  // no MoE, not capped
  const auto [dense_header, dense_row] = csv_of(dense, "dense.csv");
  EXPECT_EQ(dense_header.size(), dense_row.size()) << "one field per column";
  EXPECT_EQ(csv_value(dense, "moe_exchange_transfer_ms"), "");
  EXPECT_EQ(csv_value(dense, "routing_agreement"), "");
}

TEST(ReportWriters, HtmlShowsTheFloorCapTheExchangeSplitAndRoutingAgreement) {
  const RunMetadata run;
  ConfigResult r = capped_moe_result();
  std::string html = html_report(make_document(run, {to_json(r)}), "r.json");
  EXPECT_NE(html.find("<th>floor cap</th><th>floor trusted</th>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.0625</td><td>yes</td>"), std::string::npos) << "cap and trusted";
  EXPECT_NE(html.find("<th>exchange ms</th><th>exchange transfer ms</th><th>exchange wait ms</th>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">3.5</td><td class=\"num\">1.25</td><td class=\"num\">2.25</td>"),
            std::string::npos)
      << "exchange, its transfer and its wait";
  EXPECT_NE(html.find("<td class=\"num\">87.5%</td>"), std::string::npos) << "routing agreement";

  r.verification.floor_trusted = false;
  html = html_report(make_document(run, {to_json(r)}), "r.json");
  EXPECT_NE(html.find("<td class=\"num\">0.0625</td><td>NO</td>"), std::string::npos) << "an untrusted floor";
}

// ---- results files of the previous schema -------------------------------------------------

// Written by llmthreads at schema_version 1 (the commit before the version bump): `bench --model
// tiny --layers 2 --gpus 1,2 --strategy tp,pp --sync blocking,param-server --batch 2 --prompt 4
// --gen 3 --iterations 2 --warmup 1`.
const char* const kVersion1Args =
    "--model tiny --layers 2 --gpus 1,2 --strategy tp,pp --sync blocking,param-server --batch 2 --prompt 4 --gen 3 "
    "--iterations 2 --warmup 1";
std::string version1_file() { return std::string(LLMT_TEST_DATA) + "/results-schema1.json"; }

TEST(PreviousSchema, AVersion1FileReadsWithItsFiguresRecomputedByTheCurrentDefinitions) {
  const nlohmann::json doc = read_results_file(version1_file());
  EXPECT_EQ(doc["schema_version"], 1);
  int measured = 0;
  for (const nlohmann::json& c : doc["configurations"]) {
    const ConfigResult r = result_from_json(c, "version 1");
    if (r.samples.e2e_ms.empty()) continue;
    ++measured;
    const auto steps = c["samples"]["decode_step_ms"].get<std::vector<double>>();
    double sum = 0;
    for (double v : steps) sum += v;
    EXPECT_DOUBLE_EQ(r.metrics.tpot_ms, sum / static_cast<double>(steps.size())) << c["id"];
    ASSERT_EQ(r.metrics.memory.size(), c["metrics"]["memory"].size());
    for (std::size_t k = 0; k < r.metrics.memory.size(); ++k) {
      const nlohmann::json& old = c["metrics"]["memory"][k]["measured"];
      EXPECT_EQ(r.metrics.memory[k].peak_total, old["peak_total"].get<std::size_t>()) << "read as allocated";
      EXPECT_EQ(r.metrics.memory[k].weights, old["weights"].get<std::size_t>());
    }
  }
  EXPECT_EQ(measured, 4);
  const std::string html = html_report(doc, version1_file());
  EXPECT_NE(html.find("Figures per configuration"), std::string::npos);
}

TEST(PreviousSchema, CompareReportAndResumeAcceptAVersion1File) {
  const std::string old = version1_file();
  // Read and judged (the table is printed); its 2 samples a side cannot flag anything: exit 2.
  const llmt::testing::Outcome same = llmt::testing::run_binary("compare " + old + " " + old);
  EXPECT_EQ(same.status, 2) << same.output;
  EXPECT_NE(same.output.find("0 regression(s)"), std::string::npos) << same.output;
  EXPECT_NE(same.output.find("cannot detect a regression with n=2 per side"), std::string::npos) << same.output;

  const fs::path html = temp_file("version1.html");
  fs::remove(html);
  const llmt::testing::Outcome report = llmt::testing::run_binary("report " + old + " -o " + html.string());
  EXPECT_EQ(report.status, 0) << report.output;
  EXPECT_TRUE(fs::exists(html));

  // Resumed with the settings it was written with: every measured configuration is kept, and the
  // file written now is of the current schema throughout.
  const fs::path resumed = temp_file("resumed.json");
  fs::copy_file(old, resumed, fs::copy_options::overwrite_existing);
  const llmt::testing::Outcome resume = llmt::testing::run_binary(std::string("bench ") + kVersion1Args +
                                                                   " --quiet --resume " + resumed.string());
  ASSERT_EQ(resume.status, 0) << resume.output;
  const nlohmann::json now = read_results_file(resumed.string());
  EXPECT_EQ(now["schema_version"], kSchemaVersion);
  int kept = 0;
  for (const nlohmann::json& c : now["configurations"]) {
    if (c["status"] != "ok") continue;
    ++kept;
    EXPECT_TRUE(c["metrics"]["memory"][0].contains("allocated")) << c.dump(1);
    const auto notes = c["notes"].get<std::vector<std::string>>();
    EXPECT_NE(std::find_if(notes.begin(), notes.end(),
                           [](const std::string& n) { return n.rfind("kept from a schema_version 1 file", 0) == 0; }),
              notes.end())
        << c["id"];
  }
  EXPECT_EQ(kept, 4);
}

}  // namespace
}  // namespace llmt
