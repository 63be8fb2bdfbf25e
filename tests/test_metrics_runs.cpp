// The metrics of docs/metrics.md on real runs of the CPU backend, checked against values known
// by construction (bytes from the model's shape, relations that hold at any speed).
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backends.hpp"
#include "engine/metrics.hpp"
#include "engine/runner.hpp"
#include "engine/sysinfo.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"

namespace llmt {
namespace {

using testing::quick_options;

ConfigResult run_ok(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts = quick_options()) {
  ConfigResult r = run_configuration(model, point, opts, nullptr);
  EXPECT_EQ(r.status, ConfigStatus::ok) << r.reason;
  return r;
}

// The first entry of `entries` with these two fields, null without one.
template <typename T>
const T* find_entry(const std::vector<T>& entries, std::string T::*first, const std::string& a, std::string T::*second,
                    const std::string& b) {
  const auto it = std::find_if(entries.begin(), entries.end(), [&](const T& e) { return e.*first == a && e.*second == b; });
  return it == entries.end() ? nullptr : &*it;
}

const CommSummary* find_comm(const ConfigResult& r, const std::string& op, const std::string& group) {
  return find_entry(r.metrics.comm, &CommSummary::op, op, &CommSummary::group, group);
}

// tiny on 4 tensor-parallel ranks, batch 2, prompt 4, gen 3: each forward reduces the embedding
// and two sums per layer over the tp group.
struct Tp4Run {
  ModelConfig model = load_model("tiny");
  Workload w{2, 4, 3};
  int n = 4;
  double reductions = 1 + 2 * model.layers;
  ConfigResult r;
};
Tp4Run run_tp4(SyncMode sync) {
  Tp4Run t;
  t.r = run_ok(t.model, ConfigPoint{"tp", Layout{t.n, 1, 1}, sync, MergeMode::concat, t.w});
  return t;
}

// ---- parameter-server bytes as moved ----------------------------------------------------

// tp4 with a parameter server: every reduction of S bytes (the embedding's and two per layer;
// the concat merge gathers instead) sends S from each rank to the root, which receives (n-1) S,
// and back. S is rows x hidden x 4 bytes: batch x prompt rows in prefill, batch in each decode step.
TEST(ParamServerBytes, TheRootMovesNMinusOneTimesWhatEachOtherRankMoves) {
  const auto [model, w, n, reductions, r] = run_tp4(SyncMode::param_server);
  const double prefill_s = static_cast<double>(w.batch) * w.prompt * model.hidden * sizeof(float);
  const double decode_s = static_cast<double>(w.batch) * model.hidden * sizeof(float);
  const double per_rank = reductions * (prefill_s + w.decode_steps() * decode_s);  // S summed over a rank's calls
  for (const char* op : {"reduce", "broadcast"}) {
    const CommSummary* c = find_comm(r, op, "tp");
    ASSERT_NE(c, nullptr) << op;
    EXPECT_EQ(c->group_size, n);
    ASSERT_EQ(c->rank_bytes.size(), std::size_t(n)) << op;
    EXPECT_DOUBLE_EQ(c->rank_bytes[0], (n - 1) * per_rank) << op << ": the root";
    for (int k = 1; k < n; ++k) EXPECT_DOUBLE_EQ(c->rank_bytes[static_cast<std::size_t>(k)], per_rank) << op << " rank " << k;
    EXPECT_DOUBLE_EQ(c->bytes, 2 * (n - 1) * per_rank / n) << op << ": the mean over ranks";
  }
  const std::vector<double> by_rank = param_server_bytes_by_rank(r.metrics.comm);
  ASSERT_EQ(by_rank.size(), std::size_t(n));
  EXPECT_DOUBLE_EQ(by_rank[0], 2 * (n - 1) * per_rank);
  EXPECT_DOUBLE_EQ(by_rank[1], 2 * per_rank);

  // The same reductions blocking: an all-reduce of S counts S on every rank (nccl-tests' payload).
  const ConfigResult blocking = run_tp4(SyncMode::blocking).r;
  const CommSummary* ar = find_comm(blocking, "all_reduce", "tp");
  ASSERT_NE(ar, nullptr);
  for (double b : ar->rank_bytes) EXPECT_DOUBLE_EQ(b, per_rank);
  EXPECT_TRUE(param_server_bytes_by_rank(blocking.metrics.comm).empty());
}

// ---- bus bandwidth ------------------------------------------------------------------------

const BusBandwidth* find_bus(const ConfigResult& r, const std::string& pass, const std::string& op) {
  return find_entry(r.metrics.bus_bandwidth, &BusBandwidth::pass, pass, &BusBandwidth::op, op);
}

// tp4 blocking: per pass one all-reduce message size (rows x hidden x 4 bytes, 1 + 2 layers calls
// per forward) and one all-gather of the logits (batch x vocab x 4 bytes), in the real group of 4.
TEST(BusBandwidth, PerPassAndMessageSizeInTheRealGroup) {
  const auto [model, w, n, reductions, r] = run_tp4(SyncMode::blocking);
  ASSERT_EQ(r.metrics.bus_bandwidth.size(), 4u);
  struct Expected {
    const char* pass;
    const char* op;
    double bytes, calls, factor;
  };
  for (const Expected& e : {Expected{"prefill", "all_reduce", 1.0 * w.batch * w.prompt * model.hidden * 4, reductions, 1.5},
                            Expected{"decode", "all_reduce", 1.0 * w.batch * model.hidden * 4, reductions * w.decode_steps(), 1.5},
                            Expected{"prefill", "all_gather", 1.0 * w.batch * model.vocab * 4, 1, 0.75},
                            Expected{"decode", "all_gather", 1.0 * w.batch * model.vocab * 4, 1.0 * w.decode_steps(), 0.75}}) {
    const BusBandwidth* b = find_bus(r, e.pass, e.op);
    ASSERT_NE(b, nullptr) << e.pass << " " << e.op;
    EXPECT_EQ(b->group, "tp");
    EXPECT_EQ(b->group_size, n);
    EXPECT_DOUBLE_EQ(b->message_bytes, e.bytes) << e.pass << " " << e.op;
    EXPECT_DOUBLE_EQ(b->calls, e.calls) << e.pass << " " << e.op;
    ASSERT_GT(b->ms, 0);
    EXPECT_DOUBLE_EQ(b->algbw_gbps, e.bytes * e.calls / (b->ms * 1e6));
    EXPECT_DOUBLE_EQ(b->busbw_gbps, b->algbw_gbps * e.factor);
  }
  // Without the straggler wait: each call's least time over the ranks, so no more than the mean
  // over ranks of their whole time in these collectives (which counts the waits).
  for (const char* op : {"all_reduce", "all_gather"}) {
    const CommSummary* c = find_comm(r, op, "tp");
    ASSERT_NE(c, nullptr);
    EXPECT_LE(find_bus(r, "prefill", op)->ms + find_bus(r, "decode", op)->ms, c->ms * (1 + 1e-12)) << op;
  }
}

// A pipeline's stages exchange activations point to point: transfer time and bytes, in the pp
// group of its real size, and no bandwidth.
TEST(BusBandwidth, PipelineTransfersHaveTimeAndBytesButNoBandwidth) {
  const ModelConfig model = load_model("tiny");
  ConfigPoint point{"pp", Layout{1, 4, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 4, 3}};
  point.microbatches = 2;
  const ConfigResult r = run_ok(model, point);
  EXPECT_TRUE(r.metrics.bus_bandwidth.empty());
  const CommSummary* t = find_comm(r, "send_recv", "pp");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->category, "transfer");
  EXPECT_EQ(t->group_size, 4);
  EXPECT_GT(t->bytes, 0);
  EXPECT_GT(t->ms, 0);
  // Each of the 3 stage boundaries carries every token's hidden state once (sent and received), and
  // the last stage sends each decode step's token ids back to the first (received there).
  const Workload& w = point.workload;
  const double activations = 1.0 * w.batch * (w.prompt + w.decode_steps()) * model.hidden * sizeof(float);
  const double feedback = 1.0 * w.batch * sizeof(std::int32_t) * w.decode_steps();
  EXPECT_DOUBLE_EQ(transfer_bytes_per_rank(r.metrics), (2 * 3 * activations + 2 * feedback) / 4);
}

// ---- memory: allocated beside the process's real peak -------------------------------------

constexpr long long kMiB = 1LL << 20;

// The RSS probe on a case whose true value is known: 64 MiB of fresh pages, touched, raise RSS and
// its high-water mark by 64 MiB; the mark keeps them once they are unmapped, until a reset. (The
// kernel batches its RSS counters per thread, so figures may lag by a few hundred KiB: 1 MiB slack.)
TEST(ProcessMemory, TheHighWaterMarkSeesTouchedPagesAndResets) {
  if (!reset_peak_rss()) GTEST_SKIP() << "/proc/self/clear_refs is not writable here";
  const long long size = 64 * kMiB, slack = kMiB;
  const ProcessMemory before = process_memory();
  ASSERT_GT(before.rss_bytes, 0);
  ASSERT_GE(before.peak_rss_bytes + slack, before.rss_bytes);
  void* block = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  std::memset(block, 1, static_cast<std::size_t>(size));
  const ProcessMemory touched = process_memory();
  munmap(block, static_cast<std::size_t>(size));
  EXPECT_GE(touched.rss_bytes - before.rss_bytes, size - slack);
  EXPECT_LE(touched.rss_bytes - before.rss_bytes, size + slack);
  const ProcessMemory unmapped = process_memory();
  EXPECT_LE(unmapped.rss_bytes, touched.rss_bytes - size + slack) << "the pages are gone";
  EXPECT_GE(unmapped.peak_rss_bytes, before.rss_bytes + size - slack) << "the mark keeps them until reset";
  ASSERT_TRUE(reset_peak_rss());
  EXPECT_LE(process_memory().peak_rss_bytes, unmapped.peak_rss_bytes - size + slack);
}

// A configuration with 64 MiB of weights: every byte its ranks allocated is resident at once, so
// the process's peak during it is at least their sum, and the pool reports both with the rest.
TEST(ProcessMemory, AConfigurationsPeakHoldsEverythingItsRanksAllocated) {
  ModelConfig model = load_model("tiny");
  model.hidden = 256;
  model.head_dim = 32;
  model.intermediate = 512;
  model.vocab = 32768;  // embedding and head: 2 x 32768 x 256 x 4 bytes = 64 MiB
  model.layers = 2;
  const ConfigResult r = run_ok(model, ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{1, 4, 2}});
  ASSERT_EQ(r.metrics.memory_pools.size(), 1u);
  const PoolMemory& host = r.metrics.memory_pools[0];
  EXPECT_EQ(host.pool, "host");
  EXPECT_EQ(host.ranks, (std::vector<int>{0, 1}));
  long long allocated = 0;
  for (const RankMemory& m : r.metrics.memory) allocated += static_cast<long long>(m.peak_total);
  EXPECT_EQ(host.allocated_bytes, allocated);
  EXPECT_GE(allocated, 64 * kMiB);
  EXPECT_GE(host.measured_peak_bytes, host.allocated_bytes) << "allocated buffers are written, so resident";
  EXPECT_GE(host.measured_peak_bytes, host.rss_at_start_bytes);
  EXPECT_EQ(host.untracked_bytes(), host.measured_peak_bytes - host.allocated_bytes);
  if (reset_peak_rss()) {
    EXPECT_EQ(host.measured_by, "process_rss_hwm_since_configuration_start");
  }
}

// ---- wait% -----------------------------------------------------------------------------

// What a rank does besides computing, from the raw per-rank samples: exposed communication,
// pipeline transfers, and the part of the e2e window outside its own iteration.
double waiting_from_samples(const RawSamples& s) {
  double wait = 0, e2e = 0;
  for (std::size_t i = 0; i < s.e2e_ms.size(); ++i) {
    for (std::size_t r = 0; r < s.rank_busy_ms.size(); ++r)
      wait += (s.rank_sync_ms[r][i] + s.rank_transfer_ms[r][i] + s.e2e_ms[i] - s.rank_iteration_ms[r][i]) /
              static_cast<double>(s.rank_busy_ms.size());
    e2e += s.e2e_ms[i];
  }
  return wait / e2e;
}

// A pipeline's wait% is its measured bubble plus its exposed communication; tp1.pp4 has no
// collective (sync% 0) but waits for most of its iteration.
TEST(WaitFraction, APipelineWaitsItsBubblePlusItsExposedCommunication) {
  const ModelConfig model = load_model("tiny");
  const Workload w{2, 4, 3};
  for (const Layout layout : {Layout{1, 4, 1}, Layout{2, 2, 1}}) {
    ConfigPoint point{"hybrid", layout, SyncMode::blocking, MergeMode::concat, w};
    point.microbatches = 2;
    const ConfigResult r = run_ok(model, point);
    const ConfigMetrics& m = r.metrics;
    const double scale = std::max(1.0, m.wait_fraction);
    EXPECT_NEAR(m.wait_fraction, m.pipeline.bubble_fraction + m.sync_fraction, 1e-12 * scale) << layout.label();
    EXPECT_NEAR(m.wait_fraction, waiting_from_samples(r.samples), 1e-9 * scale) << layout.label();
    EXPECT_GT(m.wait_fraction, m.sync_fraction) << layout.label() << ": a pipeline waits beyond its collectives";
    if (layout.tp == 1) {
      EXPECT_EQ(m.sync_fraction, 0.0) << "no collective in a pure pipeline";
    }
  }
  const ConfigResult one = run_ok(model, ConfigPoint{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, w});
  EXPECT_EQ(one.metrics.wait_fraction, 0.0) << "one rank computes from the first start to the last end";
}

}  // namespace
}  // namespace llmt
