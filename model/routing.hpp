// How a mixture-of-experts layer sends each token to its experts (docs/metrics.md, "Mixture of
// experts"). The router of HuggingFace's MixtralSparseMoeBlock and Qwen2/Qwen3 MoE blocks, and
// the controlled routings a benchmark of expert parallelism needs (--routing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmt {

enum class RoutingKind {
  model,    // the model's own router: the top k of softmax(router logits)
  uniform,  // k distinct experts drawn evenly
  zipf,     // k distinct experts drawn from a Zipf law of exponent `param` (expert 0 the most popular)
  hot,      // with chance `param`, the first choice is expert 0; the rest drawn evenly
};

struct RoutingMode {
  RoutingKind kind = RoutingKind::model;
  double param = 0;
  std::string label() const;  // "model", "uniform", "zipf:1.2", "hot:0.5"
};
// "model", "uniform", "zipf:S" (S > 0), "hot:F" (0 <= F <= 1); nullopt when malformed.
std::optional<RoutingMode> parse_routing(std::string_view text);

// The router as transformers computes it: softmax over every expert's logit in fp32, the k most
// probable (ties: the lower expert index first, as torch.topk), and their probabilities,
// renormalised to sum to 1 when `renormalise` (Mixtral always; Qwen when norm_topk_prob).
// Writes k experts and k weights, most probable first.
void route_by_router(const float* logits, int experts, int k, bool renormalise, int* chosen, float* weights);

// A controlled routing: the experts come from the mode's law, drawn from `token_key` (a hash of
// the seed, the layer, the sequence and the position, so that every configuration routes every
// token alike); their weights are the router's probabilities of those experts, renormalised as
// route_by_router does. `mode.kind` must not be `model`.
void route_by_law(const RoutingMode& mode, std::uint64_t token_key, const float* logits, int experts, int k,
                  bool renormalise, int* chosen, float* weights);

// The key of one token's routing in one layer.
std::uint64_t routing_key(std::uint64_t seed, int layer, int sequence, int position);

}  // namespace llmt
