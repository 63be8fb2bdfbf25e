// Grids, shard plans, validity reasons, the layer partitioner and the sweep planner.
#include <gtest/gtest.h>

#include <numeric>

#include "engine/communicator.hpp"
#include "engine/error.hpp"
#include "engine/model.hpp"
#include "engine/plan.hpp"
#include "engine/sweep.hpp"
#include "engine/transformer.hpp"
#include "strategies/registry.hpp"

namespace llmt {
namespace {

TEST(Plan, SplitRangeCoversEverythingOnce) {
  for (int n : {0, 1, 7, 50257})
    for (int parts : {1, 2, 3, 8}) {
      int next = 0, smallest = n, largest = 0;
      for (int i = 0; i < parts; ++i) {
        const Range r = split_range(n, parts, i);
        EXPECT_EQ(r.begin, next);
        next = r.end;
        smallest = std::min(smallest, r.size());
        largest = std::max(largest, r.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);
    }
}

TEST(Plan, RankCoordinatesRoundTrip) {
  const Layout l{2, 3, 2};
  for (int r = 0; r < l.ranks(); ++r) EXPECT_EQ(world_rank_of(l, coords_of(l, r)), r);
  const RankCoords c = coords_of(l, 7);  // tp innermost: 7 = dp 1 * 6 + pp 0 * 2 + tp 1
  EXPECT_EQ(c.tp, 1);
  EXPECT_EQ(c.pp, 0);
  EXPECT_EQ(c.dp, 1);
  EXPECT_EQ(l.label(), "tp2.pp3.dp2");
}

TEST(Plan, ShardPlansSplitHeadsAndReplicateKvHeadsBeyondTheirCount) {
  const ModelConfig m = load_model("tiny");  // 8 heads, 4 KV heads
  const Workload w{4, 8, 2};
  // tp 2: 4 query heads and 2 KV heads each.
  ShardPlan s = make_shard_plan(m, Layout{2, 1, 1}, w, 1);
  EXPECT_EQ(s.q_heads, (Range{4, 8}));
  EXPECT_EQ(s.kv_heads, (Range{2, 4}));
  // tp 8: one query head each; pairs of ranks share (replicate) one KV head.
  for (int r = 0; r < 8; ++r) {
    s = make_shard_plan(m, Layout{8, 1, 1}, w, r);
    EXPECT_EQ(s.q_heads, (Range{r, r + 1}));
    EXPECT_EQ(s.kv_heads, (Range{r / 2, r / 2 + 1}));
  }
  // dp 3 over a batch of 4: uneven, 2 + 1 + 1.
  EXPECT_EQ(make_shard_plan(m, Layout{1, 1, 3}, w, 0).batch.size(), 2);
  EXPECT_EQ(make_shard_plan(m, Layout{1, 1, 3}, w, 2).batch, (Range{3, 4}));
  // The prime vocabulary splits unevenly: 997 = 250 + 249 * 3.
  EXPECT_EQ(make_shard_plan(m, Layout{4, 1, 1}, w, 0).vocab.size(), 250);
  EXPECT_EQ(make_shard_plan(m, Layout{4, 1, 1}, w, 3).vocab, (Range{748, 997}));
}

TEST(Plan, LayoutProblemsGiveTheirReason) {
  const ModelConfig llama = load_model("llama-3-8b");  // 32 heads, 8 KV heads
  const Workload w{4, 16, 4};
  EXPECT_FALSE(layout_problem(llama, Layout{8, 1, 1}, w));
  EXPECT_NE(layout_problem(llama, Layout{3, 1, 1}, w)->find("does not divide the 32 attention heads"),
            std::string::npos);
  EXPECT_NE(layout_problem(llama, Layout{1, 1, 8}, w)->find("exceeds the batch of 4"), std::string::npos);
  EXPECT_NE(layout_problem(with_layers(llama, 2), Layout{1, 4, 1}, w)->find("exceeds the 2 layers"),
            std::string::npos);
  EXPECT_NE(layout_problem(llama, Layout{1, 1, 1}, Workload{1, 8190, 4})->find("positions"), std::string::npos);
  EXPECT_NE(layout_problem(load_model("mixtral-8x7b"), Layout{1, 1, 1}, w)->find("MoE not yet supported"),
            std::string::npos);
  // 64 heads and 8 KV heads: tp 16 replicates KV heads (allowed); a model with 12 KV heads and tp 8 is not.
  EXPECT_FALSE(layout_problem(load_model("llama-3-70b"), Layout{16, 1, 1}, w));
  ModelConfig odd = llama;
  odd.heads = 48;
  odd.kv_heads = 12;
  EXPECT_NE(layout_problem(odd, Layout{8, 1, 1}, w)->find("KV heads"), std::string::npos);
}

TEST(Plan, PartitionerBalancesStagesCountingEmbeddingAndHead) {
  ModelConfig m = load_model("llama-3-8b");
  for (int layers : {4, 5, 7, 32})
    for (int stages : {1, 2, 3, 4}) {
      if (stages > layers) continue;
      m.layers = layers;
      const auto ranges = partition_layers(m, stages);
      ASSERT_EQ(static_cast<int>(ranges.size()), stages);
      int next = 0;
      double worst = 0;
      for (int s = 0; s < stages; ++s) {
        EXPECT_EQ(ranges[s].begin, next);
        EXPECT_GE(ranges[s].size(), 1);
        next = ranges[s].end;
        const double cost = ranges[s].size() * layer_cost(m) + (s == 0 ? embedding_cost(m) : 0) +
                            (s == stages - 1 ? head_cost(m) : 0);
        worst = std::max(worst, cost);
      }
      EXPECT_EQ(next, layers);
      // No contiguous split does better than the partitioner's worst stage: check against
      // the bound any split must respect (the heaviest single unit, or the average).
      const double total = layers * layer_cost(m) + embedding_cost(m) + head_cost(m);
      EXPECT_LE(worst, std::max(total / stages, head_cost(m) + layer_cost(m)) + layer_cost(m));
    }
  // Llama-3's LM head costs about 2.4 layers, so the last of 4 stages over 32 layers gets fewer.
  m.layers = 32;
  const auto ranges = partition_layers(m, 4);
  EXPECT_LT(ranges[3].size(), ranges[0].size());
}

TEST(Plan, PredictedMemoryOfAShardedRunAddsUpToTheWhole) {
  const ModelConfig m = with_layers(load_model("llama-3-8b"), 2);
  ConfigPoint one;
  one.workload = Workload{4, 128, 16};
  const MemoryPlan whole = plan_rank_memory(m, one, make_shard_plan(m, one.layout, one.workload, 0), DType::f32);
  // 2 layers of 218.1M parameters plus two 128256 x 4096 tables, plus norms, in fp32.
  EXPECT_EQ(whole.weights, (2 * (std::size_t{218103808} + 2 * 4096) + 2 * std::size_t{128256} * 4096 + 4096) * 4);
  // KV cache: 2 layers x (k, v) x 4 sequences x 8 KV heads x 143 positions x 128 dims x 4 bytes.
  EXPECT_EQ(whole.kv_cache, std::size_t{2} * 2 * 4 * 8 * 143 * 128 * 4);
  ConfigPoint tp = one;
  tp.layout = Layout{4, 1, 1};
  std::size_t sharded_weights = 0;
  for (int r = 0; r < 4; ++r)
    sharded_weights += plan_rank_memory(m, tp, make_shard_plan(m, tp.layout, tp.workload, r), DType::f32).weights;
  // Sharded matrices add up to the whole; only the norm vectors are replicated.
  EXPECT_EQ(sharded_weights, whole.weights + 3 * (2 * 2 * 4096 + 4096) * 4);
}

TEST(Sweep, ExpandsTheProductDeduplicatesAndKeepsReasons) {
  const ModelConfig m = with_layers(load_model("llama-3-8b"), 2);
  SweepSpec spec;
  spec.ranks = {1, 2, 3, 4, 8};
  spec.strategies = {"all"};
  spec.batches = {4};
  spec.prompts = {16};
  spec.gens = {4};
  const auto plan = plan_sweep(m, spec, builtin_strategies());
  const auto n_strategies = builtin_strategies().all().size();
  EXPECT_EQ(plan.size(), spec.ranks.size() * n_strategies);
  int runnable = 0;
  for (const PlannedPoint& p : plan) {
    if (!p.skip_reason) ++runnable;
    if (p.point.strategy == "tp" && p.point.layout.tp == 3) {
      EXPECT_NE(p.skip_reason->find("does not divide"), std::string::npos);
    }
    if (p.point.strategy == "dp" && p.point.layout.dp == 8) {
      EXPECT_NE(p.skip_reason->find("exceeds the batch"), std::string::npos);
    }
    if (p.point.strategy == "dp" && p.point.layout.dp == 1) {
      EXPECT_NE(p.skip_reason->find("same execution as tp|"), std::string::npos);
    }
  }
  EXPECT_GT(runnable, 0);

  spec.strategies = {"tp", "tp"};
  EXPECT_EQ(plan_sweep(m, spec, builtin_strategies()).size(), spec.ranks.size());
  spec.merges = {MergeMode::concat, MergeMode::mean};
  const auto with_mean = plan_sweep(m, spec, builtin_strategies());
  for (const PlannedPoint& p : with_mean)
    if (p.point.merge == MergeMode::mean) {
      EXPECT_NE(p.skip_reason->find("not meaningful for tp"), std::string::npos);
    }
  spec.strategies = {"zz"};
  EXPECT_THROW(plan_sweep(m, spec, builtin_strategies()), ConfigError);
}

TEST(Registry, RejectsDuplicatesAndUnknownNames) {
  StrategyRegistry r;
  register_builtin_strategies(r);
  EXPECT_THROW(r.add(make_tensor_parallel()), ConfigError);
  EXPECT_THROW(r.get("nope"), ConfigError);
  for (const Strategy* s : r.all()) {
    EXPECT_FALSE(s->description().empty());
    EXPECT_FALSE(s->merges().empty());
  }
}

TEST(Communication, BusBandwidthFactorsFollowNcclTests) {
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_gather, 4), 0.75);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::reduce_scatter, 8), 0.875);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::broadcast, 8), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 1), 0.0);
}

}  // namespace
}  // namespace llmt
