// The shapes of one rank's shard and its weights, inside the engine: the buffer sizes that
// allocation and prediction share, and the weights themselves, generated from their global
// indices (or read from a checkpoint). The transformer builds a rank's whole shard here; the
// streamed reference (engine/reference.cpp) builds one layer at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "engine/backend.hpp"
#include "engine/plan.hpp"
#include "model/checkpoint.hpp"
#include "model/model.hpp"

namespace llmt {


// This rank's share of the model and workload: heads, intermediate columns, vocabulary and
// hidden slice are the local shard's; `hidden` and `head_dim` are the model's.
struct Dims {
  int hidden, head_dim, q_heads, kv_heads, q_per_kv, intermediate, vocab_part, hidden_part, batch, global_batch,
      context, prompt, window;
  int tp, pp, dp, tp_index, pp_index, dp_index;
  bool gpt2, qkv_bias, out_bias, mlp_bias, qk_norm, first_stage, last_stage, tp_sum, ensemble;  // first and last pipeline stage
  bool ragged;  // request-list workload: steps of unequal sequences (TransformerRank::step)
  // Mixture of experts: experts of the model, chosen per token, this rank's columns of each; the
  // block of experts it holds (all unless the EP group splits them).
  bool moe, dense_mlp;  // some layer of this rank routes to experts; some has a dense MLP
  int experts, top_k, moe_intermediate;
  int expert_begin, held_experts, ep;
  DispatchMode dispatch;
  int shared_intermediate;  // this rank's columns of the shared expert (Qwen2-MoE; 0: none)
  SyncMode sync;
  std::size_t local_layers;
  int qkv_cols() const { return (q_heads + 2 * kv_heads) * head_dim; }
  int up_cols() const { return gpt2 ? intermediate : 2 * intermediate; }
  // Columns of this rank's logits: its vocabulary shard (concat), or the whole vocabulary
  // computed from its slice of the hidden dimension (sum).
  int logits_cols(int full_vocab) const { return tp_sum ? full_vocab : vocab_part; }
};
Dims local_dims(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s);

// Saturating size arithmetic: a shape too large for size_t predicts SIZE_MAX bytes (and is
// refused as not fitting) instead of wrapping around to a small number.
inline constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();
inline std::size_t sat_mul(std::size_t a, std::size_t b) {
  std::size_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kSizeMax : r;
}
template <typename... More>
inline std::size_t sat_mul(std::size_t a, std::size_t b, std::size_t c, More... more) {
  return sat_mul(sat_mul(a, b), c, static_cast<std::size_t>(more)...);
}
inline std::size_t sat_add(std::size_t a, std::size_t b) {
  std::size_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kSizeMax : r;
}
template <typename... More>
inline std::size_t sat_add(std::size_t a, std::size_t b, std::size_t c, More... more) {
  return sat_add(sat_add(a, b), c, static_cast<std::size_t>(more)...);
}
inline std::size_t nonneg(int v) { return v > 0 ? static_cast<std::size_t>(v) : 0; }

// Element counts of every buffer a rank allocates; allocation and prediction both use them.
struct LayerSizes {
  std::size_t norm, qkv_w, qkv_b, qk_norm, out_w, out_b, up_w, up_b, down_w, down_b, cache;
  std::size_t router_w, experts_up, experts_down;  // MoE layers (their dense up and down are 0)
  std::size_t shared_up, shared_down, shared_gate;  // a MoE layer's shared expert and its gate
};
// A layer with a dense MLP, or (`moe_layer`) one that routes to experts.
LayerSizes layer_sizes(const Dims& d, bool moe_layer);
std::size_t layer_weight_elements(const Dims& d, bool moe_layer);
// The largest layer's weights among the kinds of layer the model has.
std::size_t largest_layer_weight_elements(const Dims& d);

struct GlobalSizes {
  std::size_t embed, positions, final_norm, head;
};
GlobalSizes global_sizes(const ModelConfig& m, const Dims& d);

struct LayerWeights {
  DeviceBuffer norm1_w, norm1_b, qkv_w, qkv_b, q_norm_w, k_norm_w, out_w, out_b;
  DeviceBuffer norm2_w, norm2_b, up_w, up_b, down_w, down_b;
  DeviceBuffer router_w, experts_up, experts_down;  // MoE: engine/moe.hpp's MoeWeights
  DeviceBuffer shared_up, shared_down, shared_gate;
};

struct WeightSet {
  std::vector<LayerWeights> layers;
  DeviceBuffer embed, positions, final_w, final_b, head;
  const void* head_weights = nullptr;  // `head`, or the embedding shard when tied
};

// Allocates weights on a backend (charged to its memory tracker) and generates their values
// from their global indices, so that any shard of any layout holds the same numbers.
class WeightBuilder {
 public:
  // `checkpoint`: read the values there instead of generating them; `exported`: also copy every
  // generated block into these tensors, in the checkpoint's names and layouts.
  WeightBuilder(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s, std::uint64_t seed, Backend& be,
                const Checkpoint* checkpoint = nullptr, std::map<std::string, NamedTensor>* exported = nullptr);

  // The shard's whole weight set.
  std::shared_ptr<WeightSet> build();
  // The shard's part of layer `l` (the shard must hold that layer's heads and columns).
  LayerWeights layer(int l);
  // Rows `vocab` of the embedding table and of the LM head (the embedding when tied), all columns.
  DeviceBuffer embedding_rows(Range vocab);
  DeviceBuffer head_rows(Range vocab);
  DeviceBuffer position_table();  // GPT-2's learned positions, every position
  void final_norm(DeviceBuffer& weight, DeviceBuffer& bias);

 private:
  DeviceBuffer allocate(std::size_t n);
  void fill(const DeviceBuffer& dst, std::size_t offset, int rows, int cols, std::uint64_t tensor, std::int64_t row0,
            std::int64_t col0, std::int64_t global_cols, float scale, float shift = 0.0f);
  // Where `tensor`'s block starting at `row0` lives in a checkpoint. A routed expert's tensors
  // are one tensor per expert there, so `row0` (a row of all experts stacked) becomes the row
  // inside that expert's tensor; a block never spans two experts.
  HfLocation checkpoint_location(std::uint64_t tensor, std::int64_t& row0) const;
  void export_block(const void* at, const HfLocation& where, std::int64_t row0, std::int64_t col0, int rows, int cols);
  void fill_norm(const DeviceBuffer& w, const DeviceBuffer& b, std::uint64_t wid, std::uint64_t bid);
  void fill_mlp(LayerWeights& L, int l);
  void fill_experts(LayerWeights& L, int l);
  void fill_shared_expert(LayerWeights& L, int l);

  const ModelConfig& m_;
  const ShardPlan& shard_;
  const Dims d_;
  const std::uint64_t seed_;
  Backend& be_;
  const std::size_t esize_;
  const Checkpoint* checkpoint_;
  std::map<std::string, NamedTensor>* exported_;
};

}  // namespace llmt
