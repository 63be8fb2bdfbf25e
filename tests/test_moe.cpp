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
#include "engine/moe.hpp"
#include "engine/reference.hpp"
#include "engine/weights.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"
#include "strategies/sweep.hpp"

namespace llmt {
namespace {

using testing::quick_options;

const std::string kQwen2Moe = std::string(LLMT_TEST_DATA) + "/tiny-qwen2-moe.json";

std::vector<float> host_copy(Backend& be, const DeviceBuffer& b, std::size_t n) {
  std::vector<float> out(n);
  be.copy_to_host(out.data(), b.get(), n);
  return out;
}

// y[n] = w[n, k] x[k] in double.
std::vector<double> matvec(const std::vector<float>& w, std::size_t offset, int n, int k, const std::vector<double>& x) {
  std::vector<double> y(static_cast<std::size_t>(n), 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) y[static_cast<std::size_t>(i)] += w[offset + static_cast<std::size_t>(i) * k + j] * x[static_cast<std::size_t>(j)];
  return y;
}

// HuggingFace's Qwen2MoeMLP: down(silu(gate(x)) * up(x)), gate rows then up rows in `up`.
std::vector<double> gated_mlp(const std::vector<float>& up, std::size_t up_at, const std::vector<float>& down,
                              std::size_t down_at, int width, int hidden, const std::vector<double>& x) {
  const std::vector<double> gate = matvec(up, up_at, width, hidden, x);
  const std::vector<double> lin = matvec(up, up_at + static_cast<std::size_t>(width) * hidden, width, hidden, x);
  std::vector<double> act(static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1.0 + std::exp(-gate[i])) * lin[i];
  return matvec(down, down_at, hidden, width, act);
}

// Runs every runnable point of `spec` against the reference, checking that it verifies and
// allocates what it predicts, and hands each result to `check`; returns how many ran.
template <typename Check>
int run_verified(const ModelConfig& model, const SweepSpec& spec, const RunOptions& opts, Check check) {
  ReferenceSet references(model, opts);
  int ran = 0;
  for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
    if (p.skip_reason) continue;
    ++ran;
    const ConfigResult r = run_configuration(model, p.point, opts, &references.for_point(p.point));
    EXPECT_EQ(r.status, ConfigStatus::ok) << p.point.id() << ": " << r.reason;
    if (r.status != ConfigStatus::ok) continue;
    EXPECT_TRUE(r.verification.passed) << p.point.id() << ": " << r.verification.note;
    for (const RankMemory& m : r.metrics.memory) {
      EXPECT_EQ(m.weights, m.predicted.weights) << p.point.id();
      EXPECT_EQ(m.activations_peak, m.predicted.activations) << p.point.id();
      EXPECT_EQ(m.communication_peak, m.predicted.communication) << p.point.id();
    }
    check(p.point, r);
  }
  return ran;
}

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
  std::vector<long long> first_counts;
  const int ran = run_verified(model, spec, opts, [&](const ConfigPoint& point, const ConfigResult& r) {
    const MoeMetrics& moe = r.metrics.moe;
    ASSERT_TRUE(moe.available) << point.id();
    ASSERT_EQ(moe.tokens_per_expert.size(), 3u);
    const std::vector<long long> counts = tokens_per_expert_all_layers(moe);
    // Every token of the batch (prompt and fed tokens) chooses 2 experts in each of 3 layers,
    // once however the work is split (ensemble members each route the whole batch, counted once).
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0LL), 3LL * 2 * w.batch * w.context()) << point.id();
    if (first_counts.empty()) first_counts = counts;
    if (!point.ensemble()) {
      EXPECT_EQ(counts, first_counts) << point.id() << ": the same routing everywhere";
    }
    EXPECT_GT(moe.experts_ms, 0.0) << point.id();
  });
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
    EXPECT_GT(moe.exchange_transfer_ms, 0.0) << point.id();
    EXPECT_GE(moe.exchange_wait_ms, 0.0) << point.id();
    EXPECT_DOUBLE_EQ(moe.exchange_transfer_ms + moe.exchange_wait_ms, moe.exchange_ms) << point.id();
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

// One MoE layer of Qwen2-MoE on the CPU backend against Qwen2MoeSparseMoeBlock's formula computed
// here in double from the same weights: softmax router, top-2 not renormalised, the experts' gated
// MLPs weighted, plus the shared expert scaled by the sigmoid of its gate.
TEST(Moe, TheMoeLayerEqualsTheHuggingFaceFormulaWithTheSharedExpert) {
  const ModelConfig model = load_model(kQwen2Moe);
  ASSERT_EQ(model.shared_expert_intermediate, 72);
  ASSERT_FALSE(model.norm_topk_prob);
  auto be = make_cpu_backend();
  const int rows = 5, h = model.hidden, E = model.experts, I = model.moe_intermediate, S = 72;
  const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{1, rows, 1}};
  const ShardPlan shard = make_shard_plan(model, point, 0);
  const Dims d = local_dims(model, point, shard);
  WeightBuilder builder(model, point, shard, 1234, *be);
  const LayerWeights L = builder.layer(2);
  std::vector<float> x(static_cast<std::size_t>(rows) * h);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + 0.1));
  DeviceBuffer xn = be->allocate(x.size(), MemoryKind::activations), out = be->allocate(x.size(), MemoryKind::activations);
  be->copy_from_host(xn.get(), x.data(), x.size());
  MoeWorkspace ws(*be, moe_shape(model, d, rows));
  moe_forward(*be, moe_weights(L), MoeRouting{RoutingMode{}, 1234}, 2, TokenRows{0, 1, rows, 0}, xn.get(), out.get(), ws,
              MoePhases{}, nullptr);
  const std::vector<float> got = host_copy(*be, out, x.size());
  const auto router = host_copy(*be, L.router_w, static_cast<std::size_t>(E) * h);
  const auto up = host_copy(*be, L.experts_up, static_cast<std::size_t>(E) * 2 * I * h);
  const auto down = host_copy(*be, L.experts_down, static_cast<std::size_t>(E) * h * I);
  const auto shared_up = host_copy(*be, L.shared_up, static_cast<std::size_t>(2) * S * h);
  const auto shared_down = host_copy(*be, L.shared_down, static_cast<std::size_t>(h) * S);
  const auto shared_gate = host_copy(*be, L.shared_gate, static_cast<std::size_t>(h));
  for (int r = 0; r < rows; ++r) {
    const std::vector<double> xr(x.begin() + r * h, x.begin() + (r + 1) * h);
    const std::vector<double> logits = matvec(router, 0, E, h, xr);
    std::vector<double> p(logits.size());
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (std::size_t e = 0; e < p.size(); ++e) sum += (p[e] = std::exp(logits[e] - top));
    std::vector<int> order(static_cast<std::size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    std::vector<double> want(static_cast<std::size_t>(h), 0.0);
    for (int j = 0; j < 2; ++j) {
      const int e = order[static_cast<std::size_t>(j)];
      const auto y = gated_mlp(up, static_cast<std::size_t>(e) * 2 * I * h, down, static_cast<std::size_t>(e) * h * I, I, h, xr);
      for (int c = 0; c < h; ++c) want[static_cast<std::size_t>(c)] += p[static_cast<std::size_t>(e)] / sum * y[static_cast<std::size_t>(c)];
    }
    const double g = 1.0 / (1.0 + std::exp(-matvec(shared_gate, 0, 1, h, xr)[0]));
    const auto shared = gated_mlp(shared_up, 0, shared_down, 0, S, h, xr);
    double worst = 0, scale = 0;
    for (int c = 0; c < h; ++c) {
      const double w = want[static_cast<std::size_t>(c)] + g * shared[static_cast<std::size_t>(c)];
      worst = std::max(worst, std::fabs(got[static_cast<std::size_t>(r) * h + c] - w));
      scale = std::max(scale, std::fabs(w));
    }
    EXPECT_LT(worst, 2e-6 * scale) << "row " << r << " (scale " << scale << ")";
  }
}

// A model with a shared expert and a dense layer among its MoE layers (Qwen2-MoE with
// mlp_only_layers): every strategy verifies, allocates what it predicts, and the dense layer
// routes nothing.
TEST(Moe, ASharedExpertAndDenseLayersRunUnderEveryStrategy) {
  const ModelConfig model = load_model(kQwen2Moe);
  ASSERT_TRUE(model.moe_layer(0));
  ASSERT_FALSE(model.moe_layer(1));
  RunOptions opts = quick_options();
  opts.iterations = 1;
  SweepSpec spec;
  spec.ranks = {1, 2, 3};
  spec.strategies = {"all"};
  spec.dispatches.assign(std::begin(kAllDispatchModes), std::end(kAllDispatchModes));
  spec.batches = {3};
  spec.prompts = {5};
  spec.gens = {3};
  const int ran = run_verified(model, spec, opts, [](const ConfigPoint& point, const ConfigResult& r) {
    const MoeMetrics& moe = r.metrics.moe;
    ASSERT_EQ(moe.tokens_per_expert.size(), 3u) << point.id();
    const auto& dense = moe.tokens_per_expert[1];
    EXPECT_EQ(std::accumulate(dense.begin(), dense.end(), 0LL), 0) << point.id() << ": layer 1 is dense";
    const auto& sparse = moe.tokens_per_expert[2];
    EXPECT_EQ(std::accumulate(sparse.begin(), sparse.end(), 0LL), 2LL * 3 * 7) << point.id();
  });
  EXPECT_GE(ran, 9) << "tp, pp, dp at 2 and 3 ranks, ep2 and ep3 in both dispatch modes, and one rank";
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
