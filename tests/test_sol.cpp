// Speed of light: floors on hand-computed work, hardware profiles, the ceiling measurement
// (values only checked for sanity, never against a speed), and the new fields through the
// JSON, CSV, console and HTML writers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "engine/backends.hpp"
#include "engine/ceilings.hpp"
#include "model/error.hpp"
#include "engine/metrics.hpp"
#include "model/model.hpp"
#include "engine/speed_of_light.hpp"
#include "reports/html_report.hpp"
#include "reports/json_schema.hpp"
#include "reports/reporter.hpp"
#include "run_binary.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;

// 100 GB/s and 1 TFLOP/s: 1e9 bytes take 10 ms, 1e12 FLOPs take 1000 ms.
Ceilings round_ceilings() { return {100.0, 1.0, "measured", "fp32", "test device", 0, 0, "read"}; }

// The same, with caches: up to 1e6 bytes a call may be cache-resident, read at 1000 GB/s.
Ceilings cached_ceilings(double cache_gbps = 1000.0) {
  Ceilings c = round_ceilings();
  c.cache_bytes = 1e6;
  c.cache_bandwidth_gbps = cache_gbps;
  return c;
}

ConfigPoint tiny_tp2() {
  return ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
}

fs::path temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("llmt_sol_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

std::string expect_config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

TEST(SpeedOfLight, APhaseFloorIsTheLargerOfItsMemoryAndComputeTimes) {
  const Ceilings c = round_ceilings();
  EXPECT_DOUBLE_EQ(floor_ms(1e6, 1e9, c), 10.0) << "memory-bound: 1e9 bytes at 100 GB/s";
  EXPECT_DOUBLE_EQ(floor_ms(5e10, 1e8, c), 50.0) << "compute-bound: 5e10 FLOPs at 1 TFLOP/s";
  EXPECT_DOUBLE_EQ(floor_ms(0, 0, c), 0.0);
  EXPECT_DOUBLE_EQ(floor_ms(5e10, 1e8, Ceilings{}), 0.0) << "no ceilings, no floor";
}

TEST(SpeedOfLight, CacheResidentCallsGetTheCacheBandwidth) {
  const Ceilings c = cached_ceilings();
  CallFloor f = call_floor(0, 1e6, c);
  EXPECT_DOUBLE_EQ(f.ms, 1e-3) << "1e6 bytes fit: at 1000 GB/s";
  EXPECT_STREQ(f.bound, "cache");
  f = call_floor(0, 2e6, c);
  EXPECT_DOUBLE_EQ(f.ms, 0.02) << "2e6 bytes do not fit: at the memory's 100 GB/s";
  EXPECT_STREQ(f.bound, "memory");
  f = call_floor(1e9, 1e3, c);
  EXPECT_DOUBLE_EQ(f.ms, 1.0) << "1e9 FLOPs at 1 TFLOP/s";
  EXPECT_STREQ(f.bound, "compute");
  EXPECT_STREQ(call_floor(0, 2e6, round_ceilings()).bound, "memory");
  EXPECT_DOUBLE_EQ(call_floor(0, 1e5, round_ceilings()).ms, 1e-3) << "no cache size: no cache rule";
}

TEST(SpeedOfLight, CacheResidentCallsWithoutACacheCeilingHaveNoFloor) {
  const Ceilings c = cached_ceilings(0);  // a profile with a cache size and no cache bandwidth
  CallFloor f = call_floor(0, 1e5, c);
  EXPECT_DOUBLE_EQ(f.ms, 0.0);
  EXPECT_STREQ(f.bound, "none");
  f = call_floor(2e9, 1e5, c);
  EXPECT_DOUBLE_EQ(f.ms, 2.0) << "its FLOPs still bound it";
  EXPECT_STREQ(f.bound, "compute");
  EXPECT_DOUBLE_EQ(call_floor(0, 3e6, c).ms, 0.03) << "beyond the cache: the memory's";
  std::vector<PhaseSummary> phases(1);
  phases[0].path = "decode/layer.0/attn/qkv_bias";
  phases[0].calls = 1;
  phases[0].ms = 1e-6;
  annotate_phases({{{"decode/layer.0/attn/qkv_bias", 1, 0, 1e5}}}, c, phases);
  EXPECT_EQ(phases[0].floor_bound, "none");
  EXPECT_FALSE(below_floor(phases[0])) << "no floor, nothing to be below";
}

// Weights of a rank whose weights exceed the caches are cold: they stream from memory while the
// rest of the call's bytes may come from the cache.
TEST(SpeedOfLight, ColdBytesMoveAtTheMemoryBandwidth) {
  const Ceilings c = cached_ceilings();
  CallFloor f = call_floor(0, 1.5e6, c, 1e6);
  EXPECT_NEAR(f.ms, 0.01, 1e-15) << "1e6 cold bytes at 100 GB/s; the warm 5e5 fit and take 5e-4 ms beside them";
  EXPECT_STREQ(f.bound, "memory");
  f = call_floor(0, 1.5e6, c, 1e4);
  EXPECT_NEAR(f.ms, 0.015, 1e-15) << "1.49e6 warm bytes do not fit: all at the memory's bandwidth";
  f = call_floor(0, 9e5, c, 1e3);
  EXPECT_NEAR(f.ms, 8.99e-4, 1e-15) << "the warm bytes at the cache's 1000 GB/s take longer than the cold";
  EXPECT_STREQ(f.bound, "cache");
  EXPECT_NEAR(call_floor(0, 1e5, round_ceilings(), 1e5).ms, 1e-3, 1e-15) << "no cache rule: bytes are bytes";
  EXPECT_NEAR(call_floor(0, 1e5, cached_ceilings(0), 5e4).ms, 5e-4, 1e-15) << "no cache ceiling: the cold half bounds";

  const ModelConfig model = load_model("tiny");
  const ConfigPoint point = tiny_tp2();
  const std::vector<ShardPlan> shards = {make_shard_plan(model, point, 0), make_shard_plan(model, point, 1)};
  Ceilings tiny_cache = cached_ceilings();
  tiny_cache.cache_bytes = 1;
  EXPECT_TRUE(weights_stream_from_memory(model, point, shards, DType::f32, tiny_cache));
  tiny_cache.cache_bytes = 1e12;
  EXPECT_FALSE(weights_stream_from_memory(model, point, shards, DType::f32, tiny_cache)) << "they fit: may stay";
  EXPECT_FALSE(weights_stream_from_memory(model, point, shards, DType::f32, round_ceilings())) << "no cache size";
}

// The work model names the cold bytes: a GEMM's weights, the KV cache written by earlier passes.
TEST(SpeedOfLight, TheWorkModelNamesColdBytes) {
  const ModelConfig model = load_model("tiny");
  const ConfigPoint point = tiny_tp2();
  const ShardPlan shard = make_shard_plan(model, point, 0);
  double qkv_weights = 0;
  for (const GemmShape& g : gemm_shapes(model, point, shard, true))
    if (g.phase == "attn/qkv") qkv_weights = static_cast<double>(g.n) * g.k * 4;
  ASSERT_GT(qkv_weights, 0);
  for (const PhaseWork& w : phase_work(model, point, shard, DType::f32)) {
    if (w.phase == "prefill/layer.0/attn/qkv") {
      EXPECT_DOUBLE_EQ(w.cold_bytes / w.calls, qkv_weights);
    } else if (w.phase == "prefill/layer.0/attn/core") {
      EXPECT_EQ(w.cold_bytes, 0.0) << "the prompt's keys were just stored";
    } else if (w.phase == "decode/layer.0/attn/core") {
      EXPECT_GT(w.cold_bytes, 0.0) << "the past keys come from earlier passes";
    }
    EXPECT_LE(w.cold_bytes, w.bytes) << w.phase;
  }
}

TEST(SpeedOfLight, TheCacheRuleJudgesEachCallNotThePhasesTotal) {
  // 8 calls of 5e5 bytes: each fits the 1e6-byte caches although the 4e6 bytes together do not.
  const RankFloor f = rank_floor({{"decode/layer.0/mlp/residual", 8, 0, 4e6}}, cached_ceilings());
  EXPECT_DOUBLE_EQ(f.decode_ms, 8 * 5e-4);
}

TEST(SpeedOfLight, PhasesMeasuredFasterThanTheirFloorsAreFlagged) {
  const Ceilings c = cached_ceilings();
  std::vector<PhaseSummary> phases(3);
  for (PhaseSummary& ph : phases) ph.calls = 4;
  phases[0].path = "decode/layer.0/attn/qkv";   // floor 0.02 ms per call, measured 0.015
  phases[0].ms = 0.06;
  phases[1].path = "decode/layer.0/mlp/up";     // floor 0.02 ms per call, measured 0.025
  phases[1].ms = 0.1;
  phases[2].path = "decode/layer.0/attn/all_reduce";  // communication: no floor
  phases[2].ms = 1e-9;
  annotate_phases({{{"decode/layer.0/attn/qkv", 4, 0, 8e6}, {"decode/layer.0/mlp/up", 4, 0, 8e6}}}, c, phases);
  FloorMetrics floor;
  floor.available = true;
  floor.e2e_of_floor = 1.25;
  floor.ttft_of_floor = 0.5;
  const std::vector<std::string> notes = flag_below_floor(phases, floor);
  EXPECT_TRUE(phases[0].below_floor);
  EXPECT_FALSE(phases[1].below_floor);
  EXPECT_FALSE(phases[2].below_floor);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find("1 phase(s) measured faster"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("decode/layer.0/attn/qkv at 133% (memory)"), std::string::npos) << notes[0];
  EXPECT_NE(notes[1].find("e2e median is faster than its speed-of-light floor (125%)"), std::string::npos) << notes[1];
  EXPECT_TRUE(flag_below_floor(phases = {}, FloorMetrics{}).empty());
}

TEST(SpeedOfLight, PipelinePassFloorIsTheCriticalPathThroughTheStages) {
  // Stages of 1, 3 and 2 ms per micro-batch, 4 micro-batches: stage 1 waits 1 ms for the first,
  // works 12, and the last micro-batch then needs 2 ms more: 15 = sum + (M - 1) x max.
  EXPECT_DOUBLE_EQ(pipeline_pass_floor_ms({1, 3, 2}, 4, true), 15.0);
  EXPECT_DOUBLE_EQ(pipeline_pass_floor_ms({1, 3, 2}, 4, false), 13.0) << "without the tail: 1 + 12";
  EXPECT_DOUBLE_EQ(pipeline_pass_floor_ms({1, 3, 2}, 1, true), 6.0) << "one micro-batch: the sum of the stages";
  EXPECT_DOUBLE_EQ(pipeline_pass_floor_ms({5}, 3, true), 15.0) << "one stage: all its work";
  EXPECT_DOUBLE_EQ(pipeline_pass_floor_ms({}, 3, true), 0.0);
}

// Two stages, 2 micro-batches, 2 decode steps. Per micro-batch: stage 0 takes 2 ms in the prefill
// and in each decode step, stage 1 takes 1 ms (1e8 bytes at 100 GB/s is 1 ms).
TEST(SpeedOfLight, PipelineFloorsWaitForTheStagesBefore) {
  const std::vector<std::vector<PhaseWork>> work = {
      {{"prefill/layer.0/mlp/up", 2, 0, 4e8}, {"decode/layer.0/mlp/up", 4, 0, 8e8}},
      {{"prefill/layer.1/mlp/up", 2, 0, 2e8}, {"decode/layer.1/mlp/up", 4, 0, 4e8}}};
  PipelineShape pipe{2, 2, true, {0, 0}, {0, 1}};
  const FloorMetrics ranks_only = floor_metrics(work, round_ceilings(), 2, 10, 10, 30);
  EXPECT_DOUBLE_EQ(ranks_only.ttft_ms, 4.0) << "without the pipeline: the slowest rank's";
  EXPECT_DOUBLE_EQ(ranks_only.e2e_ms, 12.0);
  const FloorMetrics f = floor_metrics(work, round_ceilings(), 2, 10, 10, 30, pipe);
  EXPECT_DOUBLE_EQ(f.ttft_ms, 5.0) << "stage 0's 2 x 2 ms, then the last micro-batch's 1 ms on stage 1";
  EXPECT_DOUBLE_EQ(f.decode_step_ms, 5.0) << "every step is a pass of its own: the tokens come back first";
  EXPECT_DOUBLE_EQ(f.e2e_ms, 15.0);
  EXPECT_DOUBLE_EQ(f.e2e_of_floor, 0.5);
  pipe.equal_microbatches = false;  // the last micro-batch may be smaller: no tail is claimed
  EXPECT_DOUBLE_EQ(floor_metrics(work, round_ceilings(), 2, 10, 10, 30, pipe).e2e_ms, 12.0);
  // Two replicas: the slower one's pipeline.
  const std::vector<std::vector<PhaseWork>> replicas = {work[0], work[1], work[1], work[1]};
  const FloorMetrics two = floor_metrics(replicas, round_ceilings(), 2, 10, 10, 30, {2, 2, true, {0, 0, 1, 1}, {0, 1, 0, 1}});
  EXPECT_DOUBLE_EQ(two.e2e_ms, 15.0) << "replica 1 (1 + 1 ms stages) is faster: 3 + 2 x 3";
}

TEST(SpeedOfLight, PipelineShapeFromTheShards) {
  const ModelConfig model = load_model("tiny");
  ConfigPoint point{"pp", Layout{1, 2, 2}, SyncMode::blocking, MergeMode::concat, Workload{4, 8, 3}};
  point.microbatches = 2;
  std::vector<ShardPlan> shards;
  for (int r = 0; r < point.layout.ranks(); ++r) shards.push_back(make_shard_plan(model, point, r));
  const PipelineShape p = pipeline_shape(shards);
  EXPECT_EQ(p.stages, 2);
  EXPECT_EQ(p.microbatches, 2);
  EXPECT_TRUE(p.equal_microbatches) << "2 sequences per replica, 2 micro-batches";
  ASSERT_EQ(p.stage.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(p.stage[r], shards[r].coords.pp);
    EXPECT_EQ(p.replica[r], shards[r].coords.dp);
  }
  point.workload.batch = 6;  // 3 sequences per replica in 2 micro-batches
  point.microbatches = 2;
  shards.clear();
  for (int r = 0; r < point.layout.ranks(); ++r) shards.push_back(make_shard_plan(model, point, r));
  EXPECT_FALSE(pipeline_shape(shards).equal_microbatches);
}

// Rank 0: prefill 50 ms (compute-bound), decode 40 ms; rank 1: prefill 10 ms, decode 90 ms
// (memory-bound), over 4 decode steps.
std::vector<std::vector<PhaseWork>> two_uneven_ranks() {
  return {{{"prefill/layer.0/attn/qkv", 1, 5e10, 1e8}, {"decode/layer.0/attn/qkv", 4, 0, 4e9}},
          {{"prefill/layer.0/attn/qkv", 1, 1e10, 1e8}, {"decode/layer.0/attn/qkv", 4, 0, 9e9}}};
}

TEST(SpeedOfLight, ConfigurationFloorsAreTheSlowestRanks) {
  const FloorMetrics f = floor_metrics(two_uneven_ranks(), round_ceilings(), 4, 100.0, 45.0, 400.0);
  ASSERT_TRUE(f.available);
  EXPECT_DOUBLE_EQ(f.ttft_ms, 50.0);
  EXPECT_DOUBLE_EQ(f.decode_step_ms, 90.0 / 4) << "the slowest rank's decode floor per step";
  EXPECT_DOUBLE_EQ(f.e2e_ms, 100.0) << "max over ranks of each rank's sum (not 50 + 90, the sum of the maxima)";
  EXPECT_DOUBLE_EQ(f.ttft_of_floor, 0.5);
  EXPECT_DOUBLE_EQ(f.decode_step_of_floor, 0.5);
  EXPECT_DOUBLE_EQ(f.e2e_of_floor, 0.25);
}

TEST(SpeedOfLight, RankFloorsSplitByPassAndIgnoreOtherPaths) {
  const RankFloor f = rank_floor({{"prefill/head/gemm", 1, 2e12, 0}, {"decode/head/gemm", 2, 0, 2e9},
                                  {"decode/layer.1/mlp/act", 2, 0, 1e9}, {"setup/other", 1, 1e15, 1e15}},
                                 round_ceilings());
  EXPECT_DOUBLE_EQ(f.prefill_ms, 2000.0);
  EXPECT_DOUBLE_EQ(f.decode_ms, 30.0);
}

TEST(SpeedOfLight, NoFloorsWithoutCeilingsOrWork) {
  EXPECT_FALSE(floor_metrics(two_uneven_ranks(), Ceilings{}, 4, 1, 1, 1).available);
  EXPECT_FALSE(floor_metrics({{}, {}}, round_ceilings(), 4, 1, 1, 1).available);
  const FloorMetrics one_token = floor_metrics(two_uneven_ranks(), round_ceilings(), 0, 100.0, 0.0, 100.0);
  EXPECT_DOUBLE_EQ(one_token.decode_step_ms, 0.0) << "gen = 1: no decode step";
  EXPECT_DOUBLE_EQ(one_token.decode_step_of_floor, 0.0);
}

TEST(SpeedOfLight, PhasesGetTheirWorkPerTimedCall) {
  std::vector<PhaseSummary> phases(3);
  phases[0].path = "decode/layer.0/attn/qkv";
  phases[0].category = "compute";
  phases[1].path = "decode/layer.0/attn/all_reduce";
  phases[1].category = "communication";
  phases[2].path = "prefill/layer.0/attn/qkv";
  annotate_phases(two_uneven_ranks(), round_ceilings(), phases);
  // Per call 1e9 bytes on rank 0 and 2.25e9 on rank 1: the mean over ranks, like PhaseSummary::ms.
  EXPECT_DOUBLE_EQ(phases[0].work_bytes, 1.625e9);
  EXPECT_DOUBLE_EQ(phases[0].work_flops, 0.0);
  EXPECT_DOUBLE_EQ(phases[0].floor_ms, 16.25);
  EXPECT_DOUBLE_EQ(phases[1].floor_ms, 0.0) << "communication has no compute floor";
  EXPECT_DOUBLE_EQ(phases[2].work_flops, 3e10);
  EXPECT_DOUBLE_EQ(phases[2].floor_ms, 30.0);
}


// The engine's work model seen through apply_speed_of_light: GEMM phases carry 2mnk FLOPs per call.
TEST(SpeedOfLight, AppliedToAConfigurationFromTheEnginesWorkModel) {
  const ModelConfig model = load_model("tiny");
  const ConfigPoint point = tiny_tp2();
  ConfigResult r;
  r.point = point;
  r.metrics.ttft_ms.median = 10;
  r.metrics.decode_step_ms.median = 2;
  r.metrics.e2e_ms.median = 14;
  PhaseSummary qkv;
  qkv.path = "prefill/layer.0/attn/qkv";
  qkv.category = "compute";
  qkv.calls = 1;
  r.metrics.phases = {qkv};
  RunOptions options;
  apply_speed_of_light(model, point, options, r);
  EXPECT_FALSE(r.metrics.floor.available) << "no ceilings: nothing applied";
  EXPECT_EQ(r.metrics.phases[0].floor_ms, 0.0);

  options.ceilings = round_ceilings();
  apply_speed_of_light(model, point, options, r);
  const FloorMetrics& f = r.metrics.floor;
  ASSERT_TRUE(f.available);
  EXPECT_GT(f.ttft_ms, 0);
  EXPECT_GT(f.decode_step_ms, 0);
  EXPECT_NEAR(f.e2e_ms, f.ttft_ms + 2 * f.decode_step_ms, 1e-9 * f.e2e_ms) << "tp ranks do the same work";
  EXPECT_DOUBLE_EQ(f.e2e_of_floor, f.e2e_ms / 14);
  double qkv_flops = 0;
  for (const GemmShape& g : gemm_shapes(model, point, make_shard_plan(model, point, 0), true))
    if (g.phase == "attn/qkv") qkv_flops = g.flops();
  ASSERT_GT(qkv_flops, 0);
  EXPECT_DOUBLE_EQ(r.metrics.phases[0].work_flops, qkv_flops);
  EXPECT_DOUBLE_EQ(r.metrics.phases[0].floor_ms, floor_ms(qkv_flops, r.metrics.phases[0].work_bytes, options.ceilings));
}

// ---- hardware profiles ----------------------------------------------------------------

TEST(HardwareProfile, ShippedProfilesHoldDatasheetFigures) {
  const Ceilings h100 = load_hardware_profile("h100-sxm-80gb", DType::bf16);
  EXPECT_DOUBLE_EQ(h100.bandwidth_gbps, 3350);
  EXPECT_DOUBLE_EQ(h100.gemm_tflops, 989);
  EXPECT_EQ(h100.source, "profile:h100-sxm-80gb");
  EXPECT_EQ(h100.dtype, "bf16");
  EXPECT_FALSE(h100.device.empty());
  EXPECT_DOUBLE_EQ(load_hardware_profile("h100-sxm-80gb", DType::f32).gemm_tflops, 67);
  const Ceilings h200 = load_hardware_profile("h200-141gb", DType::f16);
  EXPECT_DOUBLE_EQ(h200.bandwidth_gbps, 4800);
  EXPECT_DOUBLE_EQ(h200.gemm_tflops, 989);
  // The names before the memory size was part of them still work, as aliases.
  EXPECT_EQ(load_hardware_profile("nvidia-h100-sxm", DType::bf16).source, "profile:h100-sxm-80gb");
}

TEST(HardwareProfile, DescribesMemoryAndLinksForPlanning) {
  const HardwareProfile h100 = load_hardware_description("h100-sxm-80gb");
  EXPECT_EQ(h100.memory_bytes, 81559ull << 20);
  EXPECT_DOUBLE_EQ(h100.nvlink_gbps, 900);
  EXPECT_DOUBLE_EQ(h100.pcie_gbps, 128);
  EXPECT_NE(h100.source.find("datasheet"), std::string::npos);
  EXPECT_EQ(load_hardware_description("nvidia-h200").memory_bytes, 143771ull << 20);
  const fs::path bad = temp_file("no_memory.json");
  std::ofstream(bad) << R"({"device": "x", "source": "y", "memory_bandwidth_gbps": 1, "gemm_tflops": {"bf16": 1}})";
  try {
    load_hardware_description(bad.string());
    ADD_FAILURE() << "a profile without memory_bytes cannot plan";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("memory_bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
}

TEST(HardwareProfile, AFileByPath) {
  const fs::path file = temp_file("my-gpu.json");
  std::ofstream(file) << R"({"device": "Test GPU", "memory_bandwidth_gbps": 1000, "gemm_tflops": {"fp32": 20}})";
  const Ceilings c = load_hardware_profile(file.string(), DType::f32);
  EXPECT_DOUBLE_EQ(c.bandwidth_gbps, 1000);
  EXPECT_DOUBLE_EQ(c.gemm_tflops, 20);
  EXPECT_EQ(c.source, "profile:my-gpu");
  EXPECT_EQ(c.device, "Test GPU");
  EXPECT_TRUE(c.valid());
}

TEST(HardwareProfile, ErrorsNameTheFileAndTheField) {
  const fs::path file = temp_file("broken-gpu.json");
  std::ofstream(file) << R"({"device": "Test GPU", "gemm_tflops": {"fp32": 20}})";
  std::string what = expect_config_error([&] { load_hardware_profile(file.string(), DType::f32); });
  EXPECT_NE(what.find("broken-gpu.json"), std::string::npos) << what;
  EXPECT_NE(what.find("'memory_bandwidth_gbps'"), std::string::npos) << what;

  std::ofstream(file) << R"({"device": "Test GPU", "memory_bandwidth_gbps": 1000, "gemm_tflops": {"fp32": 20}})";
  what = expect_config_error([&] { load_hardware_profile(file.string(), DType::bf16); });
  EXPECT_NE(what.find("'gemm_tflops.bf16'"), std::string::npos) << "the dtype asked for: " << what;

  std::ofstream(file) << R"({"device": "Test GPU", "memory_bandwidth_gbps": -3, "gemm_tflops": {"fp32": 20}})";
  what = expect_config_error([&] { load_hardware_profile(file.string(), DType::f32); });
  EXPECT_NE(what.find("must be a positive number, got -3"), std::string::npos) << what;

  what = expect_config_error([] { load_hardware_profile("nosuch-accelerator", DType::f32); });
  EXPECT_NE(what.find("unknown hardware profile 'nosuch-accelerator'"), std::string::npos) << what;
  EXPECT_NE(what.find("h200-141gb"), std::string::npos) << "lists the known profiles: " << what;
}

// ---- measurement ------------------------------------------------------------------------

TEST(Ceilings, MeasuredOnTheCpuBackend) {
  prepare_backend("cpu");
  const auto backend = make_backend("cpu", 0, DType::f32);
  const Ceilings c = measure_ceilings(*backend);
  EXPECT_TRUE(std::isfinite(c.bandwidth_gbps) && c.bandwidth_gbps > 0) << c.bandwidth_gbps;
  EXPECT_TRUE(std::isfinite(c.gemm_tflops) && c.gemm_tflops > 0) << c.gemm_tflops;
  EXPECT_EQ(c.source, "measured");
  EXPECT_EQ(c.dtype, "fp32");
  EXPECT_EQ(c.device, backend->device_description());
  EXPECT_EQ(backend->memory().live_total(), 0u) << "its buffers are freed";
  EXPECT_GE(backend->memory().peak_total(), std::size_t{256} << 20) << "the copy buffers exceed any cache";
  EXPECT_TRUE(c.bandwidth_probe == "read" || c.bandwidth_probe == "copy") << c.bandwidth_probe;
  if (backend->cache_sizes().fastest_bytes > 0) {
    EXPECT_GT(c.cache_bandwidth_gbps, 0);
    EXPECT_DOUBLE_EQ(c.cache_bytes, static_cast<double>(backend->cache_sizes().total_bytes));
  }
  // The figures, for the record (never compared with a speed).
  const BandwidthCeilings b = measure_bandwidth(*backend);
  std::printf("read %.1f GB/s, copy %.1f GB/s; cache read %.1f GB/s, copy %.1f GB/s, %zu bytes\n", b.read_gbps,
              b.copy_gbps, b.cache_read_gbps, b.cache_copy_gbps, b.cache_bytes);
}

// The probe reads every byte it is given: its sink holds the sum of the buffer's 64-bit words.
TEST(Ceilings, TheReadProbeReadsEveryWord) {
  prepare_backend("cpu");
  const auto backend = make_backend("cpu", 0, DType::f32);
  std::vector<std::uint64_t> words(1000 + 7);  // not a multiple of the probe's lanes
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < words.size(); ++i) sum += words[i] = i * 2654435761ull;
  DeviceBuffer data = backend->allocate_bytes(words.size() * 8, MemoryKind::activations);
  DeviceBuffer sink = backend->allocate_bytes(64, MemoryKind::activations);
  backend->upload_bytes(data.get(), words.data(), words.size() * 8);
  backend->read_probe(data.get(), words.size() * 8, 3, sink.get());
  std::uint64_t got = 0;
  backend->download_bytes(&got, sink.get(), 8);
  EXPECT_EQ(got, 3 * sum) << "three passes";
}

// ---- reports ------------------------------------------------------------------------------

ConfigResult measured_result(int tp = 2) {
  ConfigResult r;
  r.point = tiny_tp2();
  r.point.layout = Layout{tp, 1, 1};
  r.iterations = 2;
  RawSamples& s = r.samples;
  s.e2e_ms = {40, 40};
  s.ttft_ms = {20, 20};
  s.decode_step_ms = {10, 10, 10, 10};
  const auto ranks = static_cast<std::size_t>(tp);
  s.rank_busy_ms.assign(ranks, s.e2e_ms);
  s.rank_iteration_ms = s.rank_busy_ms;
  s.rank_sync_ms.assign(ranks, {0, 0});
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms = s.rank_sync_ms;
  fill_sample_metrics(r.point, s, r.metrics);
  r.metrics.memory.resize(ranks);
  r.metrics.floor = {true, 5, 2.5, 10, 0.25, 0.25, 0.25};
  PhaseSummary ph;
  ph.path = "decode/layer.0/attn/core";
  ph.category = "compute";
  ph.ranks = 2;
  ph.calls = 1;
  ph.ms = 0.5;
  ph.work_flops = 1e6;
  ph.work_bytes = 2e6;
  ph.floor_ms = 0.125;
  ph.floor_bound = "compute";
  ph.timing = "eager_sample";
  PhaseSummary cached = ph;  // cache-resident, without a cache ceiling: no floor
  cached.path = "decode/layer.0/attn/qkv_bias";
  cached.floor_ms = 0;
  cached.floor_bound = "none";
  r.metrics.phases = {ph, cached};
  r.attention = {{"prefill", "cudnn-sdpa", ""}, {"decode", "naive", "cuDNN SDPA needs fp16 or bf16"}};
  r.verification.checked = r.verification.passed = true;
  return r;
}

TEST(SpeedOfLightJson, NewFieldsSurviveTheRoundTrip) {
  const ConfigResult r = measured_result();
  const nlohmann::json j = nlohmann::json::parse(to_json(r).dump());
  EXPECT_DOUBLE_EQ(j["metrics"]["phases"][0]["work"]["of_floor"].get<double>(), 0.25) << "floor over ms per call";
  const ConfigResult back = result_from_json(j, "test");
  const FloorMetrics& f = back.metrics.floor;
  ASSERT_TRUE(f.available);
  EXPECT_DOUBLE_EQ(f.ttft_ms, 5);
  EXPECT_DOUBLE_EQ(f.decode_step_ms, 2.5);
  EXPECT_DOUBLE_EQ(f.e2e_ms, 10);
  EXPECT_DOUBLE_EQ(f.e2e_of_floor, 0.25);
  ASSERT_EQ(back.metrics.phases.size(), 2u);
  EXPECT_TRUE(j["metrics"]["phases"][1]["work"]["floor_ms"].is_null()) << "no floor: null";
  EXPECT_TRUE(j["metrics"]["phases"][1]["work"]["of_floor"].is_null());
  EXPECT_EQ(j["metrics"]["phases"][1]["work"]["bound"], "none");
  EXPECT_EQ(back.metrics.phases[1].floor_bound, "none");
  EXPECT_EQ(back.metrics.phases[1].floor_ms, 0.0);
  EXPECT_EQ(back.metrics.phases[0].floor_bound, "compute");
  EXPECT_FALSE(back.metrics.phases[0].below_floor);
  const PhaseSummary& ph = back.metrics.phases[0];
  EXPECT_EQ(ph.path, "decode/layer.0/attn/core");
  EXPECT_EQ(ph.timing, "eager_sample");
  EXPECT_DOUBLE_EQ(ph.work_flops, 1e6);
  EXPECT_DOUBLE_EQ(ph.work_bytes, 2e6);
  EXPECT_DOUBLE_EQ(ph.floor_ms, 0.125);
  ASSERT_EQ(back.attention.size(), 2u);
  EXPECT_EQ(back.attention[1].kernel, "naive");
  EXPECT_EQ(back.attention[1].why, "cuDNN SDPA needs fp16 or bf16");

  RunMetadata run;
  run.ceilings = cached_ceilings();
  run.attention = "naive";
  const nlohmann::json rj = to_json(run);
  const Ceilings cc = ceilings_from_json(rj, "run");
  EXPECT_DOUBLE_EQ(cc.cache_bytes, 1e6);
  EXPECT_DOUBLE_EQ(cc.cache_bandwidth_gbps, 1000);
  EXPECT_EQ(cc.bandwidth_probe, "read");
  EXPECT_EQ(rj["attention"], "naive");
  const Ceilings c = ceilings_from_json(rj, "run");
  EXPECT_DOUBLE_EQ(c.bandwidth_gbps, 100);
  EXPECT_DOUBLE_EQ(c.gemm_tflops, 1);
  EXPECT_EQ(c.source, "measured");
  EXPECT_EQ(c.device, "test device");
  EXPECT_TRUE(to_json(RunMetadata{})["ceilings"].is_null()) << "no ceilings: null";
}

TEST(SpeedOfLightJson, FilesFromBeforeTheFieldsStillLoad) {
  nlohmann::json j = to_json(measured_result());
  j.erase("attention");
  j["metrics"].erase("floor");
  for (auto& ph : j["metrics"]["phases"]) {
    ph.erase("work");
    ph.erase("timing");
  }
  const ConfigResult back = result_from_json(j, "old");
  EXPECT_FALSE(back.metrics.floor.available);
  EXPECT_TRUE(back.attention.empty());
  ASSERT_EQ(back.metrics.phases.size(), 2u);
  EXPECT_EQ(back.metrics.phases[0].timing, "eager");
  EXPECT_EQ(back.metrics.phases[0].floor_bound, "");
  EXPECT_EQ(back.metrics.phases[0].floor_ms, 0.0);
  nlohmann::json run = to_json(RunMetadata{});
  run.erase("ceilings");
  EXPECT_FALSE(ceilings_from_json(run, "old run").valid());
}

using llmt::testing::split;

TEST(SpeedOfLightReports, CsvHasTheFloorAndAttentionColumns) {
  const fs::path path = temp_file("floors.csv");
  {
    const auto csv = make_csv_reporter(path.string());
    csv->begin(RunMetadata{}, CarriedResults{});
    csv->add(measured_result());
  }
  std::ifstream in(path);
  std::string header_line, row_line;
  std::getline(in, header_line);
  std::getline(in, row_line);
  const auto header = split(header_line, ','), row = split(row_line, ',');
  ASSERT_EQ(header.size(), row.size());
  auto value = [&](const std::string& column) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == column) return row[i];
    ADD_FAILURE() << "no column " << column;
    return std::string();
  };
  EXPECT_EQ(value("ttft_floor_ms"), "5");
  EXPECT_EQ(value("decode_step_floor_ms"), "2.5");
  EXPECT_EQ(value("e2e_floor_ms"), "10");
  EXPECT_EQ(value("ttft_of_floor"), "0.25");
  EXPECT_EQ(value("decode_step_of_floor"), "0.25");
  EXPECT_EQ(value("e2e_of_floor"), "0.25");
  EXPECT_EQ(value("attention"), "prefill:cudnn-sdpa decode:naive");
}

TEST(SpeedOfLightReports, ConsoleShowsPercentOfFloor) {
  ConfigResult without = measured_result();
  without.metrics.floor = FloorMetrics{};
  ::testing::internal::CaptureStdout();
  {
    const auto console = make_console_reporter();
    console->begin(RunMetadata{}, CarriedResults{});
    console->add(measured_result());
    console->add(without);
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  auto lines = split(out, '\n');
  while (!lines.empty() && lines[0].rfind("configuration ", 0) != 0) lines.erase(lines.begin());  // the legend
  ASSERT_GE(lines.size(), 3u) << out;
  const std::size_t column = lines[0].find("%floor");
  ASSERT_NE(column, std::string::npos) << out;
  // Right-aligned under the header: the value ends where "%floor" ends.
  EXPECT_EQ(lines[1].substr(column, 6), " 25.0%") << out;
  const std::string last = lines[2];
  EXPECT_EQ(last.substr(column, 6), "     -") << out;
}

TEST(SpeedOfLightReports, ConsoleMarksAConfigurationWithAPhaseBelowItsFloor) {
  ConfigResult fast = measured_result();
  fast.metrics.phases[0].below_floor = true;
  ConfigResult fast_e2e = measured_result();
  fast_e2e.metrics.floor.e2e_of_floor = 1.1;
  ::testing::internal::CaptureStdout();
  {
    const auto console = make_console_reporter();
    console->begin(RunMetadata{}, CarriedResults{});
    console->add(fast);
    console->add(fast_e2e);
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find(" 25.0%! "), std::string::npos) << out;
  EXPECT_NE(out.find(" 110.0%! "), std::string::npos) << out;
  EXPECT_NE(out.find("! after it: a phase or pass measured faster"), std::string::npos) << "the legend says so";
}

// xmllint is installed by scripts/install-deps.sh: the markup check is a real XML parser.
bool well_formed(const std::string& markup) {
  const fs::path path = temp_file("report.html");
  std::ofstream(path) << markup;
  return std::system(("xmllint --noout " + path.string()).c_str()) == 0;
}

TEST(SpeedOfLightReports, HtmlPlotsTheShareOfTheFloorAndNamesTheCeilings) {
  RunMetadata run;
  run.ceilings = round_ceilings();
  ConfigResult other = measured_result(1);
  other.metrics.floor.e2e_of_floor = 0.5;
  const std::string html = html_report(make_document(run, {to_json(measured_result()), to_json(other)}), "r.json");
  EXPECT_TRUE(well_formed(html));
  EXPECT_NE(html.find("data-chart=\"floor\""), std::string::npos);
  EXPECT_NE(html.find("data-series=\"% of floor\""), std::string::npos);
  EXPECT_NE(html.find("tp tp2.pp1.dp1 blocking concat b2.p8.g3: % of floor 25 percent"), std::string::npos);
  EXPECT_NE(html.find("tp tp1.pp1.dp1 blocking concat b2.p8.g3: % of floor 50 percent"), std::string::npos);
  EXPECT_NE(html.find("read 100.0 GB/s, no cache rule, GEMM 1 TFLOP/s fp32 (measured: test device)"), std::string::npos);
  EXPECT_NE(html.find("faster than floor"), std::string::npos);
  EXPECT_EQ(html.find("class=\"warning\">Warning: "), std::string::npos) << "no phase below its floor";

  ConfigResult fast = measured_result();
  fast.metrics.phases[0].below_floor = true;
  const std::string flagged = html_report(make_document(run, {to_json(fast)}), "r.json");
  EXPECT_TRUE(well_formed(flagged));
  EXPECT_NE(flagged.find("class=\"warning\">Warning: 1 configuration(s) measured faster than a speed-of-light floor"),
            std::string::npos);
  EXPECT_NE(flagged.find("1: decode/layer.0/attn/core"), std::string::npos);

  run.ceilings = Ceilings{};
  ConfigResult none = measured_result();
  none.metrics.floor = FloorMetrics{};
  // (Also a sweep without a one-rank configuration: the scaling plots used to dereference a null one.)
  const std::string plain = html_report(make_document(run, {to_json(none)}), "r.json");
  EXPECT_EQ(plain.find("data-chart=\"floor\""), std::string::npos) << "no plot without floors";
  EXPECT_NE(plain.find("none (no speed-of-light floors)"), std::string::npos);
}

}  // namespace
}  // namespace llmt
