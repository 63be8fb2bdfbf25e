// The speed-of-light work model (phase_work) against hand-computed counts, and against the
// phases the engine really times: every compute phase a run times has its work, with the same
// number of calls, and the model names no phase the engine does not run.
#include <gtest/gtest.h>

#include <map>

#include "engine/backends.hpp"
#include "model/model.hpp"
#include "engine/runner.hpp"

namespace llmt {
namespace {

std::map<std::string, PhaseWork> by_path(const std::vector<PhaseWork>& work) {
  std::map<std::string, PhaseWork> out;
  for (const PhaseWork& w : work) out[w.phase] = w;
  return out;
}

TEST(WorkModel, GemmAttentionAndElementwiseCountsByHand) {
  const ModelConfig m = load_model("tiny");  // h 64, 8 heads of 8, 4 KV heads, inter 200, vocab 997
  const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 5, 3}};
  const auto work = by_path(phase_work(m, point, make_shard_plan(m, point, 0), DType::f32));
  const double e = 4, rows = 2 * 5, qkv = (8 + 2 * 4) * 8;
  const PhaseWork& g = work.at("prefill/layer.0/attn/qkv");
  EXPECT_EQ(g.calls, 1);
  EXPECT_DOUBLE_EQ(g.flops, 2 * rows * qkv * 64);
  EXPECT_DOUBLE_EQ(g.bytes, (rows * 64 + qkv * 64 + rows * qkv) * e);
  // Causal prefill of 5 tokens: 1 + 2 + ... + 5 = 15 (query, key) pairs per head and sequence.
  const PhaseWork& a = work.at("prefill/layer.1/attn/core");
  EXPECT_DOUBLE_EQ(a.flops, 4.0 * 2 * 8 * 8 * 15);
  EXPECT_DOUBLE_EQ(a.bytes, 2.0 * rows * 8 * 8 * e + 2.0 * 2 * 4 * 5 * 8 * e);
  // Two decode steps over 6 and then 7 keys.
  const PhaseWork& d = work.at("decode/layer.1/attn/core");
  EXPECT_EQ(d.calls, 2);
  EXPECT_DOUBLE_EQ(d.flops, 4.0 * 2 * 8 * 8 * (6 + 7));
  EXPECT_DOUBLE_EQ(d.bytes, 2 * (2.0 * 2 * 8 * 8 * e) + 2.0 * 2 * 4 * (6 + 7) * 8 * e);
  // The fused residual step reads x and y, writes x and the normalised x, reads the norm weight.
  EXPECT_DOUBLE_EQ(work.at("prefill/layer.0/attn/residual_norm").bytes, 4 * rows * 64 * e + 64 * e);
  EXPECT_EQ(work.count("prefill/layer.1/attn/norm"), 0u) << "normalised by layer 0's fused residual";
  EXPECT_EQ(work.count("prefill/layer.3/mlp/residual_norm"), 0u) << "the last layer has no next norm";
  EXPECT_DOUBLE_EQ(work.at("decode/head/gemm").flops, 2 * 2 * 2.0 * 997 * 64);
}

struct WorkRun {
  const char* model;
  Layout layout;
  SyncMode sync;
  int microbatches;
};

class WorkModelMatchesTheEngine : public ::testing::TestWithParam<WorkRun> {};

TEST_P(WorkModelMatchesTheEngine, EveryTimedComputePhaseHasItsWorkAndCalls) {
  const WorkRun c = GetParam();
  const ModelConfig m = load_model(c.model);
  prepare_backend("cpu");
  RunOptions opts;
  opts.warmup = 0;
  opts.iterations = 1;
  ConfigPoint point{c.layout.pp > 1 ? "pp" : "tp", c.layout, c.sync, MergeMode::concat, Workload{4, 6, 3}};
  point.microbatches = c.microbatches;
  const ConfigResult r = run_configuration(m, point, opts, nullptr);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  std::map<std::string, double> modelled;  // path: calls per rank, averaged over the ranks having it
  std::map<std::string, int> ranks;
  for (int rank = 0; rank < c.layout.ranks(); ++rank)
    for (const PhaseWork& w : phase_work(m, point, make_shard_plan(m, point, rank), DType::f32)) {
      modelled[w.phase] += w.calls;
      ranks[w.phase] += 1;
    }
  std::map<std::string, double> timed;
  for (const PhaseSummary& p : r.metrics.phases)
    if (p.category == "compute") timed[p.path] = p.calls;
  for (const auto& [path, calls] : timed) {
    ASSERT_TRUE(modelled.count(path)) << path << " is timed but has no work";
    EXPECT_DOUBLE_EQ(modelled[path] / ranks[path], calls) << path;
  }
  for (const auto& [path, calls] : modelled) EXPECT_TRUE(timed.count(path)) << path << " is modelled, never run";
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, WorkModelMatchesTheEngine,
    ::testing::Values(WorkRun{"tiny", Layout{1, 1, 1}, SyncMode::blocking, 1}, WorkRun{"tiny", Layout{2, 1, 1}, SyncMode::overlap, 1},
                      WorkRun{"tiny", Layout{2, 1, 1}, SyncMode::blocking, 1}, WorkRun{"tiny", Layout{1, 2, 1}, SyncMode::blocking, 2},
                      WorkRun{"tiny-gpt2", Layout{2, 1, 1}, SyncMode::blocking, 1},
                      WorkRun{"tiny-gpt2", Layout{1, 1, 2}, SyncMode::blocking, 1}));

}  // namespace
}  // namespace llmt
