// Mixture-of-experts models end to end on the CPU backend: every strategy, sync and merge mode
// matches the streamed fp32 reference within the noise floor, allocates what it predicts, and
// routes every token alike; the controlled routings skew the load as they say.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>

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
  spec.strategies = {"tp", "pp", "dp", "hybrid", "ep"};
  spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
  spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
  spec.dispatches.assign(std::begin(kAllDispatchModes), std::end(kAllDispatchModes));
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
      EXPECT_EQ(m.communication_peak, m.predicted.communication) << p.point.id();
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
  EXPECT_GE(ran, 20) << "with ep: tp1.ep2, tp1.ep3, tp1.ep4 and tp2.ep2, each dispatch";
}

// Expert parallelism: each rank holds its block of experts (6 over 4 ranks: 2, 2, 1, 1), so the
// weights shrink with the EP group while the attention stays whole; the tokens each EP rank's
// block received add up to every routed token; the exchange is measured.
TEST(Moe, ExpertParallelRanksHoldTheirBlockAndReportTheirLoad) {
  const ModelConfig model = load_model("tiny-moe");
  RunOptions opts = quick_options();
  opts.iterations = 1;
  const Workload w{5, 6, 3};
  ReferenceSet references(model, opts);
  for (DispatchMode dispatch : kAllDispatchModes) {
    ConfigPoint point{"ep", Layout{1, 1, 4, true}, SyncMode::blocking, MergeMode::concat, w};
    point.dispatch = dispatch;
    ASSERT_EQ(point.grid_label(), fmt::format("tp1.pp1.ep4.{}", dispatch_mode_name(dispatch)));
    const ConfigResult r = run_configuration(model, point, opts, &references.for_point(point));
    ASSERT_EQ(r.status, ConfigStatus::ok) << point.id() << ": " << r.reason;
    EXPECT_TRUE(r.verification.passed) << point.id() << ": " << r.verification.note;
    ASSERT_EQ(r.metrics.memory.size(), 4u);
    const std::size_t two_experts = r.metrics.memory[0].weights, one_expert = r.metrics.memory[2].weights;
    EXPECT_EQ(r.metrics.memory[1].weights, two_experts);
    EXPECT_EQ(r.metrics.memory[3].weights, one_expert);
    const std::size_t expert_bytes = 3u * 3 * 96 * 64 * 4;  // 3 layers x gate, up, down x 96 x 64 floats
    EXPECT_EQ(two_experts - one_expert, expert_bytes) << point.id();
    const MoeMetrics& moe = r.metrics.moe;
    EXPECT_EQ(moe.ep_ranks, 4);
    ASSERT_EQ(moe.tokens_per_ep_rank.size(), 4u);
    const std::vector<long long> per_expert = tokens_per_expert_all_layers(moe);
    EXPECT_EQ(moe.tokens_per_ep_rank[0], per_expert[0] + per_expert[1]);
    EXPECT_EQ(moe.tokens_per_ep_rank[2], per_expert[4]);
    EXPECT_EQ(std::accumulate(moe.tokens_per_ep_rank.begin(), moe.tokens_per_ep_rank.end(), 0LL),
              3LL * 2 * w.batch * w.context());
    EXPECT_GT(moe.ep_balance, 0.0);
    EXPECT_LE(moe.ep_balance, 1.0);
    EXPECT_GT(moe.exchange_bytes, 0.0) << point.id();
    EXPECT_GT(moe.exchange_ms, 0.0) << point.id();
    EXPECT_GE(moe.dispatch_ms + moe.combine_ms, moe.exchange_ms) << "the exchange is part of dispatch and combine";
  }
}

// The planner: ep grids for each rank count, the dispatch axis for them only, and reasons for
// the grids that cannot run.
TEST(Moe, ExpertParallelPlansItsGridsAndSaysWhyOthersCannotRun) {
  const ModelConfig model = load_model("tiny-moe");
  SweepSpec spec;
  spec.ranks = {1, 4, 8};
  spec.strategies = {"ep", "tp"};
  spec.dispatches.assign(std::begin(kAllDispatchModes), std::end(kAllDispatchModes));
  spec.batches = {8};
  spec.prompts = {4};
  spec.gens = {2};
  std::map<std::string, std::optional<std::string>> planned;
  for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) planned[p.point.id()] = p.skip_reason;
  const std::string tail = "|blocking|concat|b8.p4.g2";
  EXPECT_TRUE(planned.count("ep|none.n1" + tail));
  EXPECT_NE(planned["ep|none.n1" + tail].value_or("").find("at least 2 ranks"), std::string::npos);
  for (const char* grid : {"tp1.pp1.ep4", "tp2.pp1.ep2"})
    for (const char* dispatch : {"alltoall", "allgather"}) {
      const std::string id = fmt::format("ep|{}.{}{}", grid, dispatch, tail);
      ASSERT_TRUE(planned.count(id)) << id;
      EXPECT_FALSE(planned[id]) << id << ": " << planned[id].value_or("");
    }
  EXPECT_NE(planned["ep|tp1.pp1.ep8.alltoall" + tail].value_or("").find("exceeds the 6 experts"), std::string::npos);
  EXPECT_TRUE(planned.count("tp|tp4.pp1.dp1" + tail)) << "no dispatch axis for grids without experts split";
  EXPECT_EQ(planned.size(), 1u + 2 * 2 + 3 * 2 + 3) << "ep: none.n1, 2 grids of 4, 3 of 8 (x2 dispatch); tp: 3";
  const ModelConfig dense = load_model("tiny");
  const ConfigPoint on_dense{"ep", Layout{1, 1, 2, true}, SyncMode::blocking, MergeMode::concat, Workload{4, 4, 2}};
  EXPECT_NE(why_invalid(builtin_strategies(), dense, on_dense).value_or("").find("has none"), std::string::npos);
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

// The balance of the experts' load under `routing`, and with `ep`, of the EP ranks' load.
double balance_under(const std::string& routing, bool ep = false) {
  const ModelConfig model = load_model("tiny-moe");
  RunOptions opts = quick_options();
  opts.iterations = 1;
  opts.exec.routing = *parse_routing(routing);
  const ConfigPoint point{ep ? "ep" : "tp", ep ? Layout{1, 1, 2, true} : Layout{2, 1, 1}, SyncMode::blocking,
                          MergeMode::concat, Workload{8, 16, 2}};
  ReferenceSet references(model, opts);
  const ConfigResult r = run_configuration(model, point, opts, &references.for_point(point));
  EXPECT_EQ(r.status, ConfigStatus::ok) << routing << ": " << r.reason;
  EXPECT_EQ(r.metrics.moe.routing, routing);
  EXPECT_TRUE(r.verification.passed) << routing << ": " << r.verification.note;
  return ep ? r.metrics.moe.ep_balance : r.metrics.moe.expert_balance;
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
  // The EP ranks' blocks (experts 0-2 and 3-5): a Zipf law and a hot expert load the first.
  const double ep_uniform = balance_under("uniform", true), ep_zipf = balance_under("zipf:1.2", true);
  const double ep_hot = balance_under("hot:1", true);
  EXPECT_GT(ep_uniform, 0.85) << "two blocks of three experts under an even spread";
  EXPECT_LT(ep_zipf, ep_uniform);
  EXPECT_LT(ep_hot, ep_uniform);
  EXPECT_NEAR(expert_balance({10, 10, 10}), 1.0, 1e-12);
  EXPECT_NEAR(expert_balance({30, 0, 0}), 1.0 / 3, 1e-12);
}

}  // namespace
}  // namespace llmt
