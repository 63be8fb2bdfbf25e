// Measured memory per pool (engine/memory_pools.hpp, docs/metrics.md "Memory pools"): the GPU
// peak as the largest sample of the device's used bytes, and process mode's one pool per process,
// carried in the rank messages. Fixed values only: nothing here depends on the machine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/backends.hpp"
#include "engine/memory_pools.hpp"
#include "engine/rank_outcome.hpp"
#include "reports/json_schema.hpp"

namespace llmt {
namespace {

TEST(DeviceUsedSampler, KeepsTheLargestSampleAndCountsOnlyRealOnes) {
  DeviceUsedSampler s;
  EXPECT_EQ(s.max(), -1);
  s.sample(-1);  // no device (the CPU backend)
  EXPECT_EQ(s.max(), -1);
  EXPECT_EQ(s.samples(), 0);
  for (long long used : {400, 900, 700, 650}) s.sample(used);  // set-up, an iteration's peak, later ones
  EXPECT_EQ(s.max(), 900) << "the peak, not the last sample (650: what 'at the end' reported)";
  EXPECT_EQ(s.samples(), 4);
}

RankMemory rank_memory(std::size_t allocated, long long used_at_end, long long used_max, int samples) {
  RankMemory m;
  m.peak_total = allocated;
  m.device_used = used_at_end;
  m.device_used_max = used_max;
  m.device_used_samples = samples;
  return m;
}

// A GPU backend's table entry: ranks 0 and 1 on GPU 0, rank 2 on GPU 1.
BackendEntry two_gpus() {
  BackendEntry e;
  e.name = "test-gpu";
  e.on_host = false;
  e.memory_pools = [](int ranks) {
    MemoryPools p;
    for (int r = 0; r < ranks; ++r) p.pool_of_rank.push_back(r < 2 ? 0 : 1);
    return p;
  };
  e.pool_name = [](int pool) { return "GPU " + std::to_string(pool); };
  return e;
}

TEST(MemoryPools, AGpuPoolsPeakIsTheLargestSampleOfItsRanksNotTheUseAtTheEnd) {
  const std::vector<RankMemory> ranks = {rank_memory(100, 500, 800, 7), rank_memory(120, 510, 790, 7),
                                         rank_memory(300, 600, 950, 7)};
  const std::vector<PoolMemory> pools = thread_pools(two_gpus(), ranks, HostMemoryWatch{});
  ASSERT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools[0].pool, "GPU 0");
  EXPECT_EQ(pools[0].ranks, (std::vector<int>{0, 1}));
  EXPECT_EQ(pools[0].allocated_bytes, 220);
  EXPECT_EQ(pools[0].measured_peak_bytes, 800) << "the largest sample of the device's two ranks";
  EXPECT_EQ(pools[0].measured_by, "device_used_max_of_samples");
  EXPECT_EQ(pools[0].untracked_bytes(), 580);
  EXPECT_EQ(pools[0].rss_at_start_bytes, -1);
  EXPECT_EQ(pools[1].pool, "GPU 1");
  EXPECT_EQ(pools[1].measured_peak_bytes, 950);

  // No sample at all (a device that reported nothing): the pool is left out, not shown as 0.
  const std::vector<RankMemory> unsampled = {rank_memory(100, -1, -1, 0), rank_memory(100, -1, -1, 0),
                                             rank_memory(300, 600, 950, 3)};
  const std::vector<PoolMemory> some = thread_pools(two_gpus(), unsampled, HostMemoryWatch{});
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].pool, "GPU 1");
}

TEST(MemoryPools, ProcessModeHasOnePoolPerProcessMeasuredByThatProcess) {
  const std::vector<RankMemory> ranks = {rank_memory(1000, -1, -1, 0), rank_memory(2000, -1, -1, 0)};
  std::vector<ProcessMemoryRecord> processes(2);
  processes[0] = {"node-a rank 0", 5000, 9000, true};
  processes[1] = {"node-b rank 1", 6000, 12000, false};
  const std::vector<PoolMemory> pools = process_pools(/*on_host=*/true, ranks, processes);
  ASSERT_EQ(pools.size(), 2u);
  for (int r = 0; r < 2; ++r) {
    const PoolMemory& p = pools[static_cast<std::size_t>(r)];
    EXPECT_EQ(p.ranks, (std::vector<int>{r}));
    EXPECT_EQ(p.allocated_bytes, 1000 * (r + 1));
  }
  EXPECT_EQ(pools[0].pool, "node-a rank 0");
  EXPECT_EQ(pools[0].measured_peak_bytes, 9000);
  EXPECT_EQ(pools[0].rss_at_start_bytes, 5000);
  EXPECT_EQ(pools[0].measured_by, "process_rss_hwm_since_configuration_start");
  EXPECT_EQ(pools[1].measured_peak_bytes, 12000);
  EXPECT_EQ(pools[1].measured_by, "process_rss_hwm_since_process_start") << "its high-water mark was not reset";
  EXPECT_EQ(pools[1].untracked_bytes(), 10000);

  // A GPU per process: the process's rank's largest device sample.
  const std::vector<RankMemory> gpu_ranks = {rank_memory(1000, 3000, 4000, 5), rank_memory(2000, -1, -1, 0)};
  const std::vector<PoolMemory> gpu = process_pools(/*on_host=*/false, gpu_ranks, processes);
  ASSERT_EQ(gpu.size(), 1u) << "rank 1's device gave no sample";
  EXPECT_EQ(gpu[0].measured_peak_bytes, 4000);
  EXPECT_EQ(gpu[0].measured_by, "device_used_max_of_samples");
  EXPECT_EQ(gpu[0].rss_at_start_bytes, -1);
}

TEST(MemoryPools, RankMessagesCarryTheProcessMemoryAndTheDevicePeak) {
  RankOutcome o;
  o.memory = rank_memory(4096, 7000, 8000, 9);
  o.process = {"node-b rank 3", 1234, 56789, true};
  PhaseTable sender;
  const std::string bytes = encode_rank_message(o, sender, StepLogits{}, {}, -1, 42);
  PhaseTable receiver;
  const RankMessage m = decode_rank_message(bytes, receiver);
  EXPECT_EQ(m.outcome.process.pool, "node-b rank 3");
  EXPECT_EQ(m.outcome.process.rss_at_start_bytes, 1234);
  EXPECT_EQ(m.outcome.process.peak_rss_bytes, 56789);
  EXPECT_TRUE(m.outcome.process.hwm_reset);
  EXPECT_EQ(m.outcome.memory.peak_total, 4096u);
  EXPECT_EQ(m.outcome.memory.device_used_max, 8000);
  EXPECT_EQ(m.outcome.memory.device_used_samples, 9);
  EXPECT_EQ(m.start_ns, 42);
}

TEST(MemoryPools, TheDevicePeakIsWrittenAndReadBack) {
  ConfigResult r;
  r.point = ConfigPoint{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{1, 4, 2}};
  r.samples.e2e_ms = {10};
  r.samples.ttft_ms = {4};
  r.samples.decode_step_ms = {6};
  r.samples.rank_iteration_ms = r.samples.rank_busy_ms = {{10}};
  r.samples.rank_sync_ms = r.samples.rank_sync_total_ms = r.samples.rank_transfer_ms = {{0}};
  r.metrics.memory = {rank_memory(100, 500, 800, 7)};
  const nlohmann::json j = to_json(r);
  const nlohmann::json& m = j["metrics"]["memory"][0];
  EXPECT_EQ(m["device_used_at_end"], 500);
  EXPECT_EQ(m["device_used_max_of_samples"], 800);
  EXPECT_EQ(m["device_used_samples"], 7);
  const ConfigResult back = result_from_json(j, "test");
  EXPECT_EQ(back.metrics.memory[0].device_used_max, 800);
  EXPECT_EQ(back.metrics.memory[0].device_used_samples, 7);
  const RunMetadata run;
  EXPECT_EQ(schema_violation(results_schema(), make_document(run, {j})), "");
}

}  // namespace
}  // namespace llmt
