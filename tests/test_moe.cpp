// Mixture-of-experts models end to end on the CPU backend: every strategy, sync and merge mode
// matches the streamed fp32 reference within the noise floor, allocates what it predicts, and
// routes every token alike; the controlled routings skew the load as they say.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/metrics.hpp"
#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"
#include "strategies/sweep.hpp"

namespace llmt {
namespace {

using testing::quick_options;

TEST(Moe, EveryStrategyMatchesTheReferenceAndAllocatesWhatItPredicts) {
  const ModelConfig model = load_model("tiny-moe");
  RunOptions opts = quick_options();
  opts.iterations = 1;
  SweepSpec spec;
  spec.ranks = {1, 2, 3, 4};
  spec.strategies = {"tp", "pp", "dp", "hybrid"};
  spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
  spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
  const Workload w{4, 5, 3};
  spec.batches = {w.batch};
  spec.prompts = {w.prompt};
  spec.gens = {w.gen};
  ReferenceSet references(model, opts);
  int ran = 0;
  std::vector<long long> first_counts;
  for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
    if (p.skip_reason) continue;
    ++ran;
    const ConfigResult r = run_configuration(model, p.point, opts, &references.for_point(p.point));
    ASSERT_EQ(r.status, ConfigStatus::ok) << p.point.id() << ": " << r.reason;
    EXPECT_TRUE(r.verification.passed) << p.point.id() << ": " << r.verification.note;
    for (const RankMemory& m : r.metrics.memory) {
      EXPECT_EQ(m.weights, m.predicted.weights) << p.point.id();
      EXPECT_EQ(m.activations_peak, m.predicted.activations) << p.point.id();
    }
    const MoeMetrics& moe = r.metrics.moe;
    ASSERT_TRUE(moe.available) << p.point.id();
    ASSERT_EQ(moe.tokens_per_expert.size(), 3u);
    const std::vector<long long> counts = tokens_per_expert_all_layers(moe);
    // Every token of the batch (prompt and fed tokens) chooses 2 experts in each of 3 layers,
    // once however the work is split (ensemble members each route the whole batch, counted once).
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0LL), 3LL * 2 * w.batch * w.context()) << p.point.id();
    if (first_counts.empty()) first_counts = counts;
    if (!p.point.ensemble()) {
      EXPECT_EQ(counts, first_counts) << p.point.id() << ": the same routing everywhere";
    }
    EXPECT_GT(moe.experts_ms, 0.0) << p.point.id();
  }
  EXPECT_GE(ran, 12);
}

// The streamed reference routes all positions at once, the configurations a step at a time: the
// same tokens, the same experts, to fp32 rounding; also with Qwen3-MoE's q/k norms and without
// renormalised weights.
TEST(Moe, TheStreamedReferenceEqualsTheIncrementalOne) {
  ModelConfig qwen = load_model("tiny-moe");
  qwen.qk_norm = true;
  qwen.norm_topk_prob = false;
  for (const ModelConfig& model : {load_model("tiny-moe"), qwen}) {
    const RunOptions opts = quick_options();
    const Workload w{3, 6, 4};
    const std::unique_ptr<Backend> backend = make_backend("cpu", 0, DType::f32);
    const StreamedLogits s = streamed_logits(model, w, opts.exec, 0, *backend);
    const StepLogits incremental = compute_reference(model, w, opts);
    double worst = 0;
    for (std::size_t step = 0; step < incremental.size(); ++step) {
      double diff = 0, largest = 0;
      for (std::size_t i = 0; i < incremental[step].size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(s.logits[step][i]) - incremental[step][i]));
        largest = std::max(largest, std::abs(static_cast<double>(incremental[step][i])));
      }
      worst = std::max(worst, diff / largest);
    }
    EXPECT_LT(worst, 2e-6) << (model.qk_norm ? "qwen3-style" : "mixtral-style");
    EXPECT_LE(s.peak_bytes, s.predicted.total());
  }
}

double balance_under(const std::string& routing) {
  const ModelConfig model = load_model("tiny-moe");
  RunOptions opts = quick_options();
  opts.iterations = 1;
  opts.exec.routing = *parse_routing(routing);
  const ConfigPoint point{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{8, 16, 2}};
  ReferenceSet references(model, opts);
  const ConfigResult r = run_configuration(model, point, opts, &references.for_point(point));
  EXPECT_EQ(r.status, ConfigStatus::ok) << routing << ": " << r.reason;
  EXPECT_EQ(r.metrics.moe.routing, routing);
  return r.metrics.moe.expert_balance;
}

// The more skewed the law, the less balanced the experts' load; every configuration is still
// verified against a reference routed the same way.
TEST(Moe, BalanceFallsWithTheSkewOfTheRouting) {
  const double uniform = balance_under("uniform");
  const double zipf = balance_under("zipf:1.2");
  const double steep = balance_under("zipf:3");
  const double hot = balance_under("hot:1");
  EXPECT_GT(uniform, 0.75) << "an even spread over 6 experts";
  EXPECT_LT(zipf, uniform);
  EXPECT_LT(steep, zipf);
  EXPECT_LT(hot, uniform);
  EXPECT_NEAR(expert_balance({10, 10, 10}), 1.0, 1e-12);
  EXPECT_NEAR(expert_balance({30, 0, 0}), 1.0 / 3, 1e-12);
}

}  // namespace
}  // namespace llmt
