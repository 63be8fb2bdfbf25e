// One mixture-of-experts MLP on one rank, as HuggingFace's sparse MoE blocks compute it
// (MixtralSparseMoeBlock, Qwen3MoeSparseMoeBlock): the router's logits, each token's experts
// (model/routing.hpp), every expert this rank holds over the tokens routed to it (a SiLU-gated
// MLP, its columns split across the tensor-parallel group like a dense MLP's), and each token's
// experts' outputs summed with the router's weights. Shared by the transformer and the streamed
// reference, so both compute the same thing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/backend.hpp"
#include "engine/timeline.hpp"
#include "model/routing.hpp"

namespace llmt {

struct MoeShape {
  int hidden = 0, experts = 0, top_k = 0;
  int intermediate = 0;  // this rank's columns of each expert
  bool renormalise = true;
  int max_rows = 0;      // the most tokens one call routes
};

// Element counts (in the run's dtype) of one call's buffers for max_rows tokens, and the int32
// and float index tables in bytes.
struct MoeSizes {
  std::size_t router_logits = 0, expert_in = 0, expert_up = 0, expert_act = 0, expert_out = 0;
  std::size_t table_bytes = 0;
  std::size_t elements() const { return router_logits + expert_in + expert_up + expert_act + expert_out; }
};
MoeSizes moe_sizes(const MoeShape& shape);

// Weights of one layer: the router [experts, hidden]; per expert, gate then up rows
// [experts][2 * intermediate][hidden], and down [experts][hidden][intermediate].
struct MoeWeights {
  const void* router = nullptr;
  const void* up = nullptr;
  const void* down = nullptr;
};

class MoeWorkspace {
 public:
  MoeWorkspace(Backend& backend, const MoeShape& shape);

  const MoeShape shape;
  DeviceBuffer router_logits, expert_in, expert_up, expert_act, expert_out;
  DeviceBuffer gather_index, combine_position, combine_weight;
};

// The tokens of a call: `sequences` sequences from global sequence `first_sequence`, each with
// `tokens` positions from `first_position`, as consecutive rows.
struct TokenRows {
  int first_sequence = 0, sequences = 0, tokens = 0, first_position = 0;
  int rows() const { return sequences * tokens; }
};

struct MoeRouting {
  RoutingMode mode;
  std::uint64_t seed = 0;  // of the controlled laws' draws
};

// Timeline phases of the call; null: not timed (the reference).
struct MoePhases {
  Timeline* timeline = nullptr;
  PhaseId router = 0, route = 0, experts = 0, combine = 0;
};

// out[rows, hidden] = the layer's MoE MLP of xn[rows, hidden] over this rank's expert columns.
// `tokens_per_expert` (experts entries), when given, gains the tokens routed to each expert.
void moe_forward(Backend& be, const MoeWeights& w, const MoeRouting& routing, int layer, const TokenRows& tokens,
                 const void* xn, void* out, MoeWorkspace& ws, const MoePhases& phases,
                 std::vector<long long>* tokens_per_expert);

}  // namespace llmt
