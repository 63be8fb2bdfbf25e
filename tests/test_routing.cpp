// The MoE router against hand-computed numbers (HuggingFace's formula: softmax in fp32 over every
// expert, top k with ties to the lower index, renormalised when asked), the controlled routings
// of --routing, and the MoE presets' published sizes.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <vector>

#include "model/model.hpp"
#include "model/routing.hpp"

namespace llmt {
namespace {

struct Routed {
  std::vector<int> experts;
  std::vector<float> weights;
};
Routed route(const std::vector<float>& logits, int k, bool renormalise) {
  Routed r{std::vector<int>(static_cast<std::size_t>(k)), std::vector<float>(static_cast<std::size_t>(k))};
  route_by_router(logits.data(), static_cast<int>(logits.size()), k, renormalise, r.experts.data(), r.weights.data());
  return r;
}

TEST(Routing, SoftmaxTopKAndRenormalisationByHand) {
  // softmax([0.5, -1, 3, 1]) = [0.066426, 0.014822, 0.809234, 0.109518]; the top two are 2 and 3,
  // and renormalised they are sigmoid(3 - 1) and sigmoid(1 - 3).
  const Routed r = route({0.5f, -1.0f, 3.0f, 1.0f}, 2, true);
  EXPECT_EQ(r.experts, (std::vector<int>{2, 3}));
  EXPECT_NEAR(r.weights[0], 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(r.weights[1], 1.0 / (1.0 + std::exp(2.0)), 1e-6);
  const Routed raw = route({0.5f, -1.0f, 3.0f, 1.0f}, 2, false);  // Qwen with norm_topk_prob false
  EXPECT_NEAR(raw.weights[0], 0.809234, 1e-6);
  EXPECT_NEAR(raw.weights[1], 0.109518, 1e-6);
}

TEST(Routing, TiesGoToTheLowerExpertIndex) {
  // softmax([1, 2, 0, 2]): experts 1 and 3 tie at 0.399487, ahead of 0 (0.146963).
  const Routed r = route({1.0f, 2.0f, 0.0f, 2.0f}, 2, false);
  EXPECT_EQ(r.experts, (std::vector<int>{1, 3}));
  EXPECT_NEAR(r.weights[0], 0.399487, 1e-6);
  EXPECT_EQ(r.weights[0], r.weights[1]);
  const Routed flat = route({0.0f, 0.0f, 0.0f}, 2, true);
  EXPECT_EQ(flat.experts, (std::vector<int>{0, 1}));
  EXPECT_FLOAT_EQ(flat.weights[0], 0.5f);
  const Routed flat_raw = route({0.0f, 0.0f, 0.0f}, 2, false);
  EXPECT_FLOAT_EQ(flat_raw.weights[1], 1.0f / 3);
}

TEST(Routing, ParsesTheModes) {
  EXPECT_EQ(parse_routing("model")->kind, RoutingKind::model);
  EXPECT_EQ(parse_routing("uniform")->kind, RoutingKind::uniform);
  EXPECT_DOUBLE_EQ(parse_routing("zipf:1.2")->param, 1.2);
  EXPECT_EQ(parse_routing("zipf:1.2")->label(), "zipf:1.2");
  EXPECT_DOUBLE_EQ(parse_routing("hot:0.5")->param, 0.5);
  for (const char* bad : {"", "zipf", "zipf:", "zipf:0", "zipf:-1", "hot:1.5", "hot:x", "hot:0.5x", "random"})
    EXPECT_FALSE(parse_routing(bad).has_value()) << bad;
}

// Tokens per expert over many tokens under a law, k = 2 of 8 experts.
std::vector<int> histogram(const RoutingMode& mode, int tokens = 4000) {
  const std::vector<float> logits = {0.1f, -0.3f, 0.7f, 0.0f, 0.2f, -0.1f, 0.4f, -0.5f};
  std::vector<int> counts(8, 0);
  for (int t = 0; t < tokens; ++t) {
    int chosen[2];
    float weights[2];
    route_by_law(mode, routing_key(1234, 0, t / 64, t % 64), logits.data(), 8, 2, true, chosen, weights);
    EXPECT_NE(chosen[0], chosen[1]) << "k distinct experts";
    EXPECT_NEAR(weights[0] + weights[1], 1.0f, 1e-6f);
    ++counts[static_cast<std::size_t>(chosen[0])];
    ++counts[static_cast<std::size_t>(chosen[1])];
  }
  return counts;
}

TEST(Routing, ControlledLawsShapeTheLoad) {
  const std::vector<int> even = histogram({RoutingKind::uniform, 0});
  for (int c : even) EXPECT_NEAR(c, 1000, 150) << "8000 choices over 8 experts";
  const std::vector<int> zipf = histogram({RoutingKind::zipf, 1.2});
  EXPECT_GT(zipf[0], zipf[1]);
  EXPECT_GT(zipf[1], zipf[7]);
  EXPECT_GT(zipf[0], 2 * even[0]);
  const std::vector<int> hot = histogram({RoutingKind::hot, 1.0});
  EXPECT_EQ(hot[0], 4000) << "every token's first choice";
  // Deterministic: the same token routes the same way in every configuration.
  EXPECT_EQ(histogram({RoutingKind::zipf, 1.2}), zipf);
}

// A law so steep that every weight past the first rounds to 0 still gives k distinct experts:
// the EP buffers hold at most k distinct experts per token.
TEST(Routing, ASteepLawStillChoosesDistinctExperts) {
  const std::vector<float> logits(128, 0.0f);
  for (const double s : {500.0, 2000.0}) {
    int chosen[8];
    float weights[8];
    route_by_law({RoutingKind::zipf, s}, routing_key(7, 0, 0, 0), logits.data(), 128, 8, true, chosen, weights);
    std::vector<int> sorted(chosen, chosen + 8);
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "zipf:" << s;
    EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) << "zipf:" << s << ": the most popular, in order";
  }
}

TEST(Routing, LawWeightsAreTheRoutersProbabilitiesOfTheChosenExperts) {
  const std::vector<float> logits = {0.5f, -1.0f, 3.0f, 1.0f};
  int chosen[2];
  float weights[2];
  route_by_law({RoutingKind::hot, 1.0}, routing_key(7, 3, 1, 2), logits.data(), 4, 2, false, chosen, weights);
  EXPECT_EQ(chosen[0], 0);
  EXPECT_NEAR(weights[0], 0.066426, 1e-6);
}

TEST(MoePresets, PublishedSizes) {
  const ModelConfig mixtral = load_model("mixtral-8x7b");
  EXPECT_EQ(mixtral.experts, 8);
  EXPECT_EQ(mixtral.moe_intermediate, 14336);
  EXPECT_TRUE(mixtral.norm_topk_prob);
  EXPECT_NEAR(parameter_count(mixtral) / 1e9, 46.7, 0.05);
  EXPECT_NEAR(active_parameter_count(mixtral) / 1e9, 12.9, 0.05);
  const ModelConfig qwen3 = load_model("qwen3-30b-a3b");
  EXPECT_EQ(qwen3.experts, 128);
  EXPECT_EQ(qwen3.experts_per_token, 8);
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_NEAR(parameter_count(qwen3) / 1e9, 30.5, 0.05);
  EXPECT_NEAR(active_parameter_count(qwen3) / 1e9, 3.35, 0.05);
  const ModelConfig qwen2 = load_model("qwen2-moe-a2.7b");
  EXPECT_EQ(qwen2.shared_expert_intermediate, 5632);
  EXPECT_FALSE(qwen2.norm_topk_prob);
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_NEAR(parameter_count(qwen2) / 1e9, 14.3, 0.05);
  EXPECT_NEAR(active_parameter_count(qwen2) / 1e9, 2.7, 0.05);
}

TEST(MoePresets, DenseLayersOfSparseModels) {
  ModelConfig m = load_model("qwen3-30b-a3b");
  EXPECT_TRUE(m.moe_layer(0));
  m.decoder_sparse_step = 2;
  m.mlp_only_layers = {3};
  EXPECT_FALSE(m.moe_layer(0));
  EXPECT_TRUE(m.moe_layer(1));
  EXPECT_FALSE(m.moe_layer(3));
  EXPECT_TRUE(m.moe_layer(5));
}

}  // namespace
}  // namespace llmt
