// One mixture-of-experts MLP on one rank, as HuggingFace's sparse MoE blocks compute it
// (MixtralSparseMoeBlock, Qwen3MoeSparseMoeBlock): the router's logits, each token's experts
// (model/routing.hpp), every expert this rank holds over the tokens routed to it (a SiLU-gated
// MLP, its columns split across the tensor-parallel group like a dense MLP's), and each token's
// experts' outputs summed with the router's weights. Shared by the transformer and the streamed
// reference, so both compute the same thing. With expert parallelism the members of the EP group
// hold contiguous blocks of experts and exchange tokens with each other, by all-to-all or by
// all-gather and reduce-scatter (DispatchMode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/backend.hpp"
#include "engine/communicator.hpp"
#include "engine/plan.hpp"
#include "engine/timeline.hpp"
#include "model/routing.hpp"

namespace llmt {

struct MoeShape {
  int hidden = 0, experts = 0, top_k = 0;
  int intermediate = 0;  // this rank's columns of each expert
  bool renormalise = true;
  int max_rows = 0;      // the most tokens one call of this rank routes
  // Expert parallelism: the experts this rank holds ([0, experts) without it), the EP group's
  // size and dispatch, the most tokens one call routes over the whole group and on its largest
  // member.
  Range held;
  int ep = 1;
  DispatchMode dispatch = DispatchMode::alltoall;
  int max_group_rows = 0, max_member_rows = 0;
  int shared_intermediate = 0;  // this rank's columns of the shared expert (0: none)
  bool expert_parallel() const { return ep > 1; }
};

struct Dims;  // engine/weights.hpp
// The shape of the MoE layers of a rank with dims `d` whose calls route at most `positions` new
// positions of each of its sequences (and of its EP group's).
MoeShape moe_shape(const ModelConfig& m, const Dims& d, int positions);

// Buffer sizes of one rank for its largest call. Elements are in the run's dtype, tables in
// bytes; activations are the rank's own work, communication what the EP exchange receives.
struct MoeSizes {
  std::size_t router_logits = 0, expert_in = 0, local_in = 0, expert_up = 0, expert_act = 0, expert_out = 0;
  std::size_t shared_up = 0, shared_act = 0, shared_out = 0, shared_scaled = 0, shared_logit = 0;  // shared expert
  std::size_t received = 0, partial = 0, scattered = 0;  // communication
  std::size_t gather_index = 0, regroup_index = 0, combine_pairs = 0;  // entries of the int32/float tables
  std::size_t exchange_table_bytes = 0;  // float counts (alltoall) or routes (allgather), communication
  std::size_t shared_rows = 0;  // the shared expert's gate weights (float) and row positions (int32)
  std::size_t elements() const {
    return router_logits + expert_in + local_in + expert_up + expert_act + expert_out + shared_up + shared_act +
           shared_out + shared_scaled + shared_logit;
  }
  std::size_t table_bytes() const {
    return (gather_index + 2 * regroup_index + combine_pairs + shared_rows) * sizeof(std::int32_t) +
           (combine_pairs + shared_rows) * sizeof(float);
  }
  std::size_t exchange_elements() const { return received + partial + scattered; }
};
MoeSizes moe_sizes(const MoeShape& shape);

// Weights of one layer: the router [experts, hidden]; per held expert, gate then up rows
// [held][2 * intermediate][hidden], and down [held][hidden][intermediate].
struct MoeWeights {
  const void* router = nullptr;
  const void* up = nullptr;
  const void* down = nullptr;
  // Qwen2-MoE's shared expert: gate then up rows [2 * shared][hidden], down [hidden][shared], and
  // its sigmoid gate [1][hidden]; null without one.
  const void* shared_up = nullptr;
  const void* shared_down = nullptr;
  const void* shared_gate = nullptr;
};
struct LayerWeights;  // engine/weights.hpp
MoeWeights moe_weights(const LayerWeights& layer);

class MoeWorkspace {
 public:
  MoeWorkspace(Backend& backend, const MoeShape& shape);

  const MoeShape shape;
  DeviceBuffer router_logits, expert_in, local_in, expert_up, expert_act, expert_out;
  DeviceBuffer received, partial, scattered, exchange_table;
  DeviceBuffer gather_index, regroup_index, back_index, combine_position, combine_weight;
  DeviceBuffer shared_up, shared_act, shared_out, shared_scaled, shared_logit, shared_position, shared_weight;
  std::int32_t zero_row = -1;  // allgather: the last row of expert_out, zeros, for experts held elsewhere
};

// The tokens of a call: `sequences` sequences from global sequence `first_sequence`, each with
// `tokens` positions from `first_position`, as consecutive rows.
struct TokenRows {
  int first_sequence = 0, sequences = 0, tokens = 0, first_position = 0;
  int rows() const { return sequences * tokens; }
};

// The experts every token chose in every layer, [layer][sequence][position][k] (-1: none yet):
// the fp32 reference records its choices, and the configurations take them as they take its
// tokens (teacher-forced routing), so that a near tie the run's dtype flips changes neither the
// experts nor the verdict (docs/metrics.md, "Verification").
struct ExpertChoices {
  int layers = 0, sequences = 0, positions = 0, k = 0;
  std::vector<std::int32_t> expert;
  ExpertChoices(int layers, int sequences, int positions, int k);
  // The k experts of one token in one layer; null outside the table.
  std::int32_t* at(int layer, int sequence, int position);
  const std::int32_t* at(int layer, int sequence, int position) const;
};

// Tokens whose own choice (the router's top k, as a set) equalled the forced one, of those compared.
struct RoutingAgreement {
  long long agreed = 0, compared = 0;
};

struct MoeRouting {
  RoutingMode mode;
  std::uint64_t seed = 0;  // of the controlled laws' draws
  bool wrong_expert = false;  // FaultInjection::wrong_expert (tests only)
  ExpertChoices* record = nullptr;        // the reference: keeps each token's choice here
  const ExpertChoices* forced = nullptr;  // a configuration: takes these choices (router routing only)
  RoutingAgreement* agreement = nullptr;  // with `forced`: counts how often the own choice agreed
};

// Timeline phases of the call; null: not timed (the reference). Compute: router, route (routing
// and the gathers around the exchange), experts, combine; communication (expert parallelism):
// the counts or routes exchanged first, the tokens sent to their experts, the results sent back.
struct MoePhases {
  Timeline* timeline = nullptr;
  PhaseId router = 0, route = 0, experts = 0, combine = 0;
  PhaseId counts = 0, dispatch = 0, gather_back = 0;
  PhaseId shared = 0;  // the shared expert, gated and added
};

// The EP group of a call: its communicator and how many token rows each member routes in it.
struct MoeGroup {
  Communicator* comm = nullptr;
  std::vector<int> rows;
};

// out[rows, hidden] = the layer's MoE MLP of xn[rows, hidden] over this rank's expert columns
// (with expert parallelism: over every expert, the tokens exchanged with the group's members
// holding them; every member calls it together). `tokens_per_expert` (experts entries), when
// given, gains the tokens this rank routed to each expert.
void moe_forward(Backend& be, const MoeWeights& w, const MoeRouting& routing, int layer, const TokenRows& tokens,
                 const void* xn, void* out, MoeWorkspace& ws, const MoePhases& phases,
                 std::vector<long long>* tokens_per_expert, const MoeGroup& group = {});

}  // namespace llmt
