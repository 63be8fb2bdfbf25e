// Grids, shard plans, validity reasons, the layer partitioner and the sweep planner.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "engine/communicator.hpp"
#include "model/error.hpp"
#include "model/model.hpp"
#include "engine/plan.hpp"
#include "strategies/sweep.hpp"
#include "engine/transformer.hpp"
#include "strategies/registry.hpp"

namespace llmt {
namespace {

ConfigPoint at(Layout layout, Workload w) {
  ConfigPoint p;
  p.layout = layout;
  p.workload = w;
  return p;
}

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
  ShardPlan s = make_shard_plan(m, at(Layout{2, 1, 1}, w), 1);
  EXPECT_EQ(s.q_heads, (Range{4, 8}));
  EXPECT_EQ(s.kv_heads, (Range{2, 4}));
  // tp 8: one query head each; pairs of ranks share (replicate) one KV head.
  for (int r = 0; r < 8; ++r) {
    s = make_shard_plan(m, at(Layout{8, 1, 1}, w), r);
    EXPECT_EQ(s.q_heads, (Range{r, r + 1}));
    EXPECT_EQ(s.kv_heads, (Range{r / 2, r / 2 + 1}));
  }
  // dp 3 over a batch of 4: uneven, 2 + 1 + 1.
  EXPECT_EQ(make_shard_plan(m, at(Layout{1, 1, 3}, w), 0).batch.size(), 2);
  EXPECT_EQ(make_shard_plan(m, at(Layout{1, 1, 3}, w), 2).batch, (Range{3, 4}));
  // The prime vocabulary splits unevenly: 997 = 250 + 249 * 3.
  EXPECT_EQ(make_shard_plan(m, at(Layout{4, 1, 1}, w), 0).vocab.size(), 250);
  EXPECT_EQ(make_shard_plan(m, at(Layout{4, 1, 1}, w), 3).vocab, (Range{748, 997}));
}

TEST(Plan, LayoutProblemsGiveTheirReason) {
  const ModelConfig llama = load_model("llama-3-8b");  // 32 heads, 8 KV heads
  const Workload w{4, 16, 4};
  EXPECT_FALSE(layout_problem(llama, at(Layout{8, 1, 1}, w)));
  EXPECT_NE(layout_problem(llama, at(Layout{3, 1, 1}, w))->find("does not divide the 32 attention heads"),
            std::string::npos);
  EXPECT_NE(layout_problem(llama, at(Layout{1, 1, 8}, w))->find("exceeds the batch of 4"), std::string::npos);
  EXPECT_NE(layout_problem(with_layers(llama, 2), at(Layout{1, 4, 1}, w))->find("exceeds the 2 layers"),
            std::string::npos);
  EXPECT_NE(layout_problem(llama, at(Layout{1, 1, 1}, Workload{1, 8190, 4}))->find("positions"), std::string::npos);
  EXPECT_FALSE(layout_problem(load_model("qwen2-moe-a2.7b"), at(Layout{2, 1, 1}, w))) << "its shared expert is computed";
  EXPECT_NE(layout_problem(load_model("mixtral-8x7b"), at(Layout{1, 1, 16, true}, Workload{16, 16, 4}))
                ->find("expert parallel degree 16 exceeds the 8 experts"),
            std::string::npos);
  EXPECT_FALSE(layout_problem(load_model("mixtral-8x7b"), at(Layout{2, 1, 1}, w)));
  // 64 heads and 8 KV heads: tp 16 replicates KV heads (allowed); a model with 12 KV heads and tp 8 is not.
  EXPECT_FALSE(layout_problem(load_model("llama-3-70b"), at(Layout{16, 1, 1}, w)));
  ModelConfig odd = llama;
  odd.heads = 48;
  odd.kv_heads = 12;
  EXPECT_NE(layout_problem(odd, at(Layout{8, 1, 1}, w))->find("KV heads"), std::string::npos);
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

// The exhaustive O(p * n^2) dynamic programme the partitioner replaced, kept as the oracle.
std::vector<Range> reference_partition(const ModelConfig& model, int stages) {
  const int n = model.layers;
  stages = std::clamp(stages, 1, std::max(1, n));
  const double layer = layer_cost(model), first = embedding_cost(model), last = head_cost(model);
  auto stage_cost = [&](int begin, int end, int stage) {
    return (end - begin) * layer + (stage == 0 ? first : 0.0) + (stage == stages - 1 ? last : 0.0);
  };
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(stages + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(n + 1, 0));
  best[0][0] = 0.0;
  for (int s = 1; s <= stages; ++s)
    for (int i = s; i <= n; ++i)
      for (int j = s - 1; j < i; ++j) {
        const double c = std::max(best[s - 1][j], stage_cost(j, i, s - 1));
        if (c <= best[s][i]) {
          best[s][i] = c;
          cut[s][i] = j;
        }
      }
  std::vector<Range> ranges(static_cast<std::size_t>(stages));
  int end = n;
  for (int s = stages; s >= 1; --s) {
    ranges[static_cast<std::size_t>(s - 1)] = {cut[s][end], end};
    end = cut[s][end];
  }
  return ranges;
}

TEST(Plan, PartitionerMatchesTheExhaustiveProgrammeExactly) {
  int compared = 0;
  for (const char* preset : {"tiny", "tiny-gpt2", "gpt2", "llama-3-8b", "llama-2-70b", "qwen2-7b"}) {
    ModelConfig m = load_model(preset);
    for (int layers = 1; layers <= 40; ++layers)
      for (int stages = 1; stages <= std::min(layers, 12); ++stages) {
        m.layers = layers;
        ASSERT_EQ(partition_layers(m, stages), reference_partition(m, stages))
            << preset << " layers " << layers << " stages " << stages;
        ++compared;
      }
    // Embedding or head heavier than many layers: a tiny hidden size against a huge vocabulary.
    ModelConfig wide = m;
    wide.vocab = 1 << 22;
    for (int layers : {3, 17, 64})
      for (int stages : {2, 3, 5, 16}) {
        if (stages > layers) continue;
        wide.layers = layers;
        ASSERT_EQ(partition_layers(wide, stages), reference_partition(wide, stages))
            << preset << " wide, layers " << layers << " stages " << stages;
        ++compared;
      }
  }
  EXPECT_GT(compared, 2000);
}

TEST(Plan, PartitionerHandlesHugeLayerCounts) {
  // 100000 layers on 64 stages: the exhaustive programme would take ~1e12 steps; this must
  // plan at once (checked by the test's own timeout, not by a clock) and cover every layer.
  ModelConfig m = load_model("tiny");
  m.layers = m.published_layers = 100000;
  for (int stages : {1, 2, 64, 1000}) {
    const auto ranges = partition_layers(m, stages);
    ASSERT_EQ(static_cast<int>(ranges.size()), stages);
    int next = 0;
    for (const Range& r : ranges) {
      EXPECT_EQ(r.begin, next);
      EXPECT_GE(r.size(), 1);
      next = r.end;
    }
    EXPECT_EQ(next, 100000);
  }
  // Balanced: the first and the last stage of 2 differ by the head's and embedding's share only.
  const auto two = partition_layers(m, 2);
  EXPECT_LE(std::abs(two[0].size() - two[1].size()), 1 + static_cast<int>(head_cost(m) / layer_cost(m)));
}

TEST(Plan, PredictedMemoryOfHugeShapesSaturatesInsteadOfWrapping) {
  ModelConfig m = load_model("tiny");
  m.hidden = 1 << 24;
  m.vocab = 1 << 24;
  m.intermediate = 1 << 24;
  m.max_positions = 1 << 24;
  // Prefill activations alone: 2^20 sequences x 2^23 tokens x 2^24 columns, far beyond 2^64 bytes.
  const ConfigPoint p = at({1, 1, 1}, {1 << 20, 1 << 23, 2});
  const MemoryPlan plan = plan_rank_memory(m, p, make_shard_plan(m, p, 0), DType::f32);
  EXPECT_EQ(plan.activations, std::numeric_limits<std::size_t>::max() / 4);
  EXPECT_GE(plan.total(), plan.activations);  // the sum does not wrap either
  // A large shape that fits in size_t is still exact: 2^24 x 2^24 embedding rows x 4 bytes.
  const ConfigPoint small = at({1, 1, 1}, {1, 4, 2});
  const MemoryPlan exact = plan_rank_memory(m, small, make_shard_plan(m, small, 0), DType::f32);
  EXPECT_GE(exact.weights, (std::size_t{1} << 48) * 4);
  EXPECT_LT(exact.weights, std::numeric_limits<std::size_t>::max() / 4);
}

TEST(Plan, PredictedMemoryOfAShardedRunAddsUpToTheWhole) {
  const ModelConfig m = with_layers(load_model("llama-3-8b"), 2);
  ConfigPoint one;
  one.workload = Workload{4, 128, 16};
  const MemoryPlan whole = plan_rank_memory(m, one, make_shard_plan(m, one, 0), DType::f32);
  // 2 layers of 218.1M parameters plus two 128256 x 4096 tables, plus norms, in fp32.
  EXPECT_EQ(whole.weights, (2 * (std::size_t{218103808} + 2 * 4096) + 2 * std::size_t{128256} * 4096 + 4096) * 4);
  // KV cache: 2 layers x (k, v) x 4 sequences x 8 KV heads x 143 positions x 128 dims x 4 bytes.
  EXPECT_EQ(whole.kv_cache, std::size_t{2} * 2 * 4 * 8 * 143 * 128 * 4);
  ConfigPoint tp = one;
  tp.layout = Layout{4, 1, 1};
  std::size_t sharded_weights = 0;
  for (int r = 0; r < 4; ++r)
    sharded_weights += plan_rank_memory(m, tp, make_shard_plan(m, tp, r), DType::f32).weights;
  // Sharded matrices add up to the whole; only the norm vectors are replicated.
  EXPECT_EQ(sharded_weights, whole.weights + 3 * (2 * 2 * 4096 + 4096) * 4);
}

SweepSpec small_spec(std::vector<int> ranks) {
  SweepSpec spec;
  spec.ranks = std::move(ranks);
  spec.strategies = {"all"};
  spec.batches = {4};
  spec.prompts = {16};
  spec.gens = {4};
  return spec;
}

const PlannedPoint* find_point(const std::vector<PlannedPoint>& plan, const std::string& id) {
  for (const PlannedPoint& p : plan)
    if (p.point.id() == id) return &p;
  return nullptr;
}

TEST(Sweep, ExpandsTheProductDeduplicatesAndKeepsReasons) {
  const ModelConfig m = with_layers(load_model("llama-3-8b"), 2);
  const auto plan = plan_sweep(m, small_spec({1, 2, 3, 4, 8}), builtin_strategies());
  // tp, dp and pp have one grid per rank count; hybrid lists every factorisation with two
  // dimensions above 1 (none on 1, 2 or 3 ranks: one explained entry each; 3 on 4; 7 on 8).
  EXPECT_EQ(plan.size(), 5u * 3 + 1 + 1 + 1 + 3 + 7);
  auto reason = [&](const std::string& id) {
    const PlannedPoint* p = find_point(plan, id);
    EXPECT_NE(p, nullptr) << id;
    return p && p->skip_reason ? *p->skip_reason : std::string("runs");
  };
  EXPECT_EQ(reason("tp|tp1.pp1.dp1|blocking|concat|b4.p16.g4"), "runs");
  EXPECT_NE(reason("dp|tp1.pp1.dp1|blocking|concat|b4.p16.g4").find("same execution as tp|"), std::string::npos);
  EXPECT_NE(reason("tp|tp3.pp1.dp1|blocking|concat|b4.p16.g4").find("does not divide"), std::string::npos);
  EXPECT_NE(reason("dp|tp1.pp1.dp8|blocking|concat|b4.p16.g4").find("exceeds the batch"), std::string::npos);
  EXPECT_NE(reason("pp|tp1.pp4.dp1.mb4|blocking|concat|b4.p16.g4").find("exceeds the 2 layers"), std::string::npos);
  EXPECT_EQ(reason("pp|tp1.pp2.dp1.mb2|blocking|concat|b4.p16.g4"), "runs");
  EXPECT_NE(reason("hybrid|none.n2|blocking|concat|b4.p16.g4").find("at least two parallel dimensions"),
            std::string::npos);
  EXPECT_EQ(reason("hybrid|tp2.pp2.dp2.mb2|blocking|concat|b4.p16.g4"), "runs");
  // Auto micro-batches: one per stage, bounded by the replica's sequences (4 / 4 replicas = 1).
  EXPECT_EQ(reason("hybrid|tp1.pp2.dp4.mb1|blocking|concat|b4.p16.g4"), "runs");

  SweepSpec twice = small_spec({2, 4});
  twice.strategies = {"tp", "tp"};
  EXPECT_EQ(plan_sweep(m, twice, builtin_strategies()).size(), 2u);
  twice.strategies = {"zz"};
  EXPECT_THROW(plan_sweep(m, twice, builtin_strategies()), ConfigError);
}

TEST(Sweep, SyncAndMergeModesApplyOnlyWhereTheyMeanSomething) {
  const ModelConfig m = with_layers(load_model("llama-3-8b"), 4);
  SweepSpec spec = small_spec({1, 2, 4});
  spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
  spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
  const auto plan = plan_sweep(m, spec, builtin_strategies());
  auto reason = [&](const std::string& id) {
    const PlannedPoint* p = find_point(plan, id);
    EXPECT_NE(p, nullptr) << id;
    return p && p->skip_reason ? *p->skip_reason : std::string("runs");
  };
  for (const char* id : {"tp|tp2.pp1.dp1|overlap|concat|b4.p16.g4", "tp|tp2.pp1.dp1|param-server|sum|b4.p16.g4",
                         "dp|tp1.pp1.dp2|param-server|mean|b4.p16.g4", "dp|tp1.pp1.dp4|blocking|mean|b4.p16.g4",
                         "hybrid|tp2.pp1.dp2|overlap|mean|b4.p16.g4", "hybrid|tp2.pp2.dp1.mb2|param-server|sum|b4.p16.g4"})
    EXPECT_EQ(reason(id), "runs") << id;
  EXPECT_NE(reason("tp|tp2.pp1.dp1|blocking|mean|b4.p16.g4").find("not meaningful for tp"), std::string::npos);
  EXPECT_NE(reason("dp|tp1.pp1.dp2|blocking|sum|b4.p16.g4").find("not meaningful for dp"), std::string::npos);
  EXPECT_NE(reason("dp|tp1.pp1.dp2|overlap|concat|b4.p16.g4").find("does not apply to dp"), std::string::npos);
  EXPECT_NE(reason("dp|tp1.pp1.dp2|param-server|concat|b4.p16.g4").find("has none"), std::string::npos);
  EXPECT_NE(reason("pp|tp1.pp2.dp1.mb2|overlap|concat|b4.p16.g4").find("does not apply to pp"), std::string::npos);
  EXPECT_NE(reason("tp|tp1.pp1.dp1|overlap|concat|b4.p16.g4").find("needs tp > 1"), std::string::npos);
  EXPECT_NE(reason("tp|tp1.pp1.dp1|blocking|sum|b4.p16.g4").find("needs tp > 1"), std::string::npos);
  EXPECT_NE(reason("hybrid|tp1.pp2.dp2.mb2|blocking|sum|b4.p16.g4").find("needs tp > 1"), std::string::npos);
  EXPECT_NE(reason("hybrid|tp2.pp2.dp1.mb2|blocking|mean|b4.p16.g4").find("needs dp > 1"), std::string::npos);
}

TEST(Plan, PipelineStagesOfAnUnevenLayerCount) {
  ModelConfig m = load_model("llama-3-8b");  // the LM head costs about 2.4 layers
  m.layers = 5;
  auto stages = partition_layers(m, 2);
  EXPECT_EQ(stages[0], (Range{0, 4}));
  EXPECT_EQ(stages[1], (Range{4, 5}));
  m.layers = 7;
  stages = partition_layers(m, 3);
  EXPECT_EQ(stages[0], (Range{0, 3}));
  EXPECT_EQ(stages[1], (Range{3, 6}));
  EXPECT_EQ(stages[2], (Range{6, 7}));
  EXPECT_DOUBLE_EQ(textbook_bubble_fraction(4, 4), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(textbook_bubble_fraction(1, 8), 0.0);
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
