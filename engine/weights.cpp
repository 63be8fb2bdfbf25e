#include "engine/weights.hpp"

#include <cmath>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "engine/transformer.hpp"
#include "model/math.hpp"

namespace llmt {
namespace {

// Logical tensor ids: the seed of every element's value (model/math.hpp element_key).
enum GlobalTensor : std::uint64_t { kEmbed = 1, kPositions, kFinalNormW, kFinalNormB, kHead, kTokens };
enum LayerTensor : std::uint64_t {
  kNorm1W, kNorm1B, kWq, kWk, kWv, kBq, kBk, kBv, kWo, kBo,
  kNorm2W, kNorm2B, kWgate, kWup, kBup, kWdown, kBdown, kQNorm, kKNorm,
  // MoE: the router, and every expert's gate, up and down as rows [expert][...] of one tensor.
  kRouter, kExpertGate, kExpertUp, kExpertDown,
  kBgate,  // Llama's mlp_bias: the gate projection's bias
  // Qwen2-MoE's shared expert (gate, up, down) and its sigmoid gate [1, hidden].
  kSharedGate, kSharedUp, kSharedDown, kSharedExpertGate,
};
std::uint64_t layer_tensor(int layer, LayerTensor t) { return 1000 + static_cast<std::uint64_t>(layer) * 64 + t; }

// A logical tensor id as the checkpoint names it: its role and layer.
std::pair<WeightRole, int> weight_role(std::uint64_t tensor) {
  switch (tensor) {
    case kEmbed: return {WeightRole::embed, 0};
    case kPositions: return {WeightRole::positions, 0};
    case kFinalNormW: return {WeightRole::final_norm_w, 0};
    case kFinalNormB: return {WeightRole::final_norm_b, 0};
    case kHead: return {WeightRole::head, 0};
    default: break;
  }
  static constexpr WeightRole kLayerRoles[] = {
      WeightRole::norm1_w, WeightRole::norm1_b, WeightRole::q,       WeightRole::k,      WeightRole::v,
      WeightRole::q_bias,  WeightRole::k_bias,  WeightRole::v_bias,  WeightRole::out,    WeightRole::out_bias,
      WeightRole::norm2_w, WeightRole::norm2_b, WeightRole::gate,    WeightRole::up,     WeightRole::up_bias,
      WeightRole::down,    WeightRole::down_bias, WeightRole::q_norm, WeightRole::k_norm};
  static_assert(std::size(kLayerRoles) == kKNorm + 1, "one role per LayerTensor, in its order");
  const std::uint64_t kind = (tensor - 1000) % 64;
  const int layer = static_cast<int>((tensor - 1000) / 64);
  switch (kind) {
    case kBgate: return {WeightRole::gate_bias, layer};
    case kRouter: return {WeightRole::router, layer};
    case kExpertGate: return {WeightRole::expert_gate, layer};
    case kExpertUp: return {WeightRole::expert_up, layer};
    case kExpertDown: return {WeightRole::expert_down, layer};
    case kSharedGate: return {WeightRole::shared_gate, layer};
    case kSharedUp: return {WeightRole::shared_up, layer};
    case kSharedDown: return {WeightRole::shared_down, layer};
    case kSharedExpertGate: return {WeightRole::shared_expert_gate, layer};
    default: break;
  }
  if (kind >= std::size(kLayerRoles)) throw Error(fmt::format("no checkpoint role for weight tensor {}", tensor));
  return {kLayerRoles[kind], layer};
}

// Initialisation scales: uniform(-a, a) with a = sqrt(3 / fan_in) keeps unit variance.
float linear_scale(int fan_in) { return std::sqrt(3.0f / static_cast<float>(fan_in)); }
constexpr float kNormScale = 0.1f, kBiasScale = 0.02f, kPositionScale = 0.1f;

}  // namespace

Dims local_dims(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s) {
  Dims d{};
  d.hidden = m.hidden;
  d.head_dim = m.head_dim;
  d.q_heads = s.q_heads.size();
  d.kv_heads = s.kv_heads.size();
  d.q_per_kv = m.heads / m.kv_heads;
  d.intermediate = s.intermediate.size();
  d.vocab_part = s.vocab.size();
  d.hidden_part = s.hidden.size();
  d.batch = s.batch.size();
  d.global_batch = p.workload.batch;
  d.context = p.workload.context();
  d.prompt = p.workload.prompt;
  d.window = m.sliding_window;
  d.tp = p.layout.tp;
  d.pp = p.layout.pp;
  d.dp = p.layout.dp;
  d.tp_index = s.coords.tp;
  d.pp_index = s.coords.pp;
  d.dp_index = s.coords.dp;
  d.gpt2 = m.arch == Architecture::gpt2;
  d.qkv_bias = m.qkv_bias;
  d.out_bias = m.out_bias;
  d.mlp_bias = m.mlp_bias;
  d.qk_norm = m.qk_norm;
  d.first_stage = s.first_stage();
  d.last_stage = s.last_stage();
  d.tp_sum = p.tp_sum();
  d.ensemble = p.ensemble();
  d.ragged = p.traffic != nullptr;
  d.sync = p.sync;
  d.local_layers = static_cast<std::size_t>(s.layers.size());
  d.moe = d.dense_mlp = false;
  for (int l = s.layers.begin; l < s.layers.end; ++l) (m.moe_layer(l) ? d.moe : d.dense_mlp) = true;
  d.shared_intermediate = s.shared_intermediate.size();
  d.experts = m.experts;
  d.top_k = m.experts_per_token;
  d.moe_intermediate = s.moe_intermediate.size();
  d.expert_begin = s.experts.begin;
  d.held_experts = s.experts.size();
  d.ep = p.layout.ep();
  d.dispatch = p.dispatch;
  return d;
}

LayerSizes layer_sizes(const Dims& d, bool moe) {
  const std::size_t h = nonneg(d.hidden);
  LayerSizes s{};
  s.norm = h;
  s.qkv_w = sat_mul(nonneg(d.qkv_cols()), h);
  s.qkv_b = d.qkv_bias ? nonneg(d.qkv_cols()) : 0;
  s.qk_norm = d.qk_norm ? nonneg(d.head_dim) : 0;  // each of the q and k norms
  s.out_w = sat_mul(h, nonneg(d.q_heads), nonneg(d.head_dim));
  s.out_b = d.out_bias ? h : 0;
  s.up_w = moe ? 0 : sat_mul(nonneg(d.up_cols()), h);
  s.up_b = d.mlp_bias && !moe ? nonneg(d.up_cols()) : 0;  // gated: the gate's bias, then the up's
  s.down_w = moe ? 0 : sat_mul(h, nonneg(d.intermediate));
  s.router_w = moe ? sat_mul(nonneg(d.experts), h) : 0;
  s.experts_up = moe ? sat_mul(nonneg(d.held_experts), 2 * nonneg(d.moe_intermediate), h) : 0;
  s.experts_down = moe ? sat_mul(nonneg(d.held_experts), h, nonneg(d.moe_intermediate)) : 0;
  s.down_b = d.mlp_bias && !moe ? h : 0;
  s.shared_up = moe ? sat_mul(2 * nonneg(d.shared_intermediate), h) : 0;
  s.shared_down = moe ? sat_mul(h, nonneg(d.shared_intermediate)) : 0;
  s.shared_gate = moe && d.shared_intermediate > 0 ? h : 0;
  s.cache = sat_mul(nonneg(d.batch), nonneg(d.kv_heads), nonneg(d.context), nonneg(d.head_dim));
  return s;
}
std::size_t layer_weight_elements(const Dims& d, bool moe) {
  const LayerSizes s = layer_sizes(d, moe);
  const std::size_t norms = sat_mul(2 * s.norm, d.gpt2 ? 2 : 1);
  return sat_add(norms, s.qkv_w, s.qkv_b, 2 * s.qk_norm, s.out_w, s.out_b, s.up_w, s.up_b, s.down_w, s.down_b,
                 s.router_w, s.experts_up, s.experts_down, s.shared_up, s.shared_down, s.shared_gate);
}

std::size_t largest_layer_weight_elements(const Dims& d) {
  return std::max(d.moe ? layer_weight_elements(d, true) : 0, d.dense_mlp ? layer_weight_elements(d, false) : 0);
}

GlobalSizes global_sizes(const ModelConfig& m, const Dims& d) {
  const std::size_t h = nonneg(d.hidden);
  GlobalSizes g{};
  g.embed = d.first_stage ? sat_mul(nonneg(d.vocab_part), h) : 0;
  g.positions = d.first_stage && d.gpt2 ? sat_mul(nonneg(m.max_positions), h) : 0;
  g.final_norm = d.last_stage ? h * (d.gpt2 ? 2 : 1) : 0;
  if (d.last_stage) {
    if (d.tp_sum)
      g.head = sat_mul(nonneg(m.vocab), nonneg(d.hidden_part));
    else if (!(m.tied_embeddings && d.first_stage))  // a tied head reuses the embedding shard
      g.head = sat_mul(nonneg(d.vocab_part), h);
  }
  return g;
}

WeightBuilder::WeightBuilder(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s, std::uint64_t seed,
                             Backend& be, const Checkpoint* checkpoint, std::map<std::string, NamedTensor>* exported)
    : m_(m), shard_(s), d_(local_dims(m, p, s)), seed_(seed), be_(be), esize_(dtype_size(be.dtype())),
      checkpoint_(checkpoint), exported_(exported) {}

std::shared_ptr<WeightSet> WeightBuilder::build() {
  auto w = std::make_shared<WeightSet>();
  for (int l = shard_.layers.begin; l < shard_.layers.end; ++l) w->layers.push_back(layer(l));
  const GlobalSizes g = global_sizes(m_, d_);
  if (g.embed) w->embed = embedding_rows(shard_.vocab);
  if (g.positions) w->positions = position_table();
  if (d_.last_stage) {
    final_norm(w->final_w, w->final_b);
    if (d_.tp_sum) {
      // Row-parallel head: every vocabulary row, this rank's slice of the hidden columns.
      const bool tied = m_.tied_embeddings;
      w->head = allocate(g.head);
      fill(w->head, 0, m_.vocab, d_.hidden_part, tied ? kEmbed : kHead, 0, shard_.hidden.begin, d_.hidden,
           tied ? 1.0f : linear_scale(d_.hidden));
    } else if (g.head) {
      w->head = head_rows(shard_.vocab);
    }
    w->head_weights = g.head ? w->head.get() : w->embed.get();
  }
  return w;
}

DeviceBuffer WeightBuilder::embedding_rows(Range vocab) {
  DeviceBuffer rows = allocate(sat_mul(nonneg(vocab.size()), nonneg(d_.hidden)));
  fill(rows, 0, vocab.size(), d_.hidden, kEmbed, vocab.begin, 0, d_.hidden, 1.0f);
  return rows;
}

DeviceBuffer WeightBuilder::head_rows(Range vocab) {
  if (m_.tied_embeddings) return embedding_rows(vocab);
  DeviceBuffer rows = allocate(sat_mul(nonneg(vocab.size()), nonneg(d_.hidden)));
  fill(rows, 0, vocab.size(), d_.hidden, kHead, vocab.begin, 0, d_.hidden, linear_scale(d_.hidden));
  return rows;
}

DeviceBuffer WeightBuilder::position_table() {
  DeviceBuffer table = allocate(sat_mul(nonneg(m_.max_positions), nonneg(d_.hidden)));
  fill(table, 0, m_.max_positions, d_.hidden, kPositions, 0, 0, d_.hidden, kPositionScale);
  return table;
}

void WeightBuilder::final_norm(DeviceBuffer& weight, DeviceBuffer& bias) {
  weight = allocate(d_.hidden);
  if (d_.gpt2) bias = allocate(d_.hidden);
  fill_norm(weight, bias, kFinalNormW, kFinalNormB);
}

DeviceBuffer WeightBuilder::allocate(std::size_t n) { return be_.allocate(n, MemoryKind::weights); }

void WeightBuilder::fill(const DeviceBuffer& dst, std::size_t offset, int rows, int cols, std::uint64_t tensor, std::int64_t row0,
          std::int64_t col0, std::int64_t global_cols, float scale, float shift) {
  void* at = static_cast<char*>(dst.get()) + offset * esize_;
  if (checkpoint_) {
    std::int64_t row = row0;
    const HfLocation where = checkpoint_location(tensor, row);
    const std::vector<float> values = checkpoint_->read(where, row, col0, rows, cols);
    be_.copy_from_host(at, values.data(), values.size());
    return;
  }
  be_.fill(at, rows, cols, FillSpec{seed_, tensor, row0, col0, global_cols, scale, shift});
  if (exported_) {
    std::int64_t row = row0;
    const HfLocation where = checkpoint_location(tensor, row);
    export_block(at, where, row, col0, rows, cols);
  }
}

HfLocation WeightBuilder::checkpoint_location(std::uint64_t tensor, std::int64_t& row0) const {
  const auto [role, layer] = weight_role(tensor);
  std::int64_t rows_per_expert = 0;
  if (role == WeightRole::expert_gate || role == WeightRole::expert_up) rows_per_expert = m_.moe_intermediate;
  if (role == WeightRole::expert_down) rows_per_expert = m_.hidden;
  if (rows_per_expert == 0) return hf_location(m_, role, layer);
  const std::int64_t expert = row0 / rows_per_expert;
  row0 -= expert * rows_per_expert;
  return hf_location(m_, role, layer, static_cast<int>(expert));
}

void WeightBuilder::export_block(const void* at, const HfLocation& where, std::int64_t row0, std::int64_t col0, int rows, int cols) {
  std::vector<float> values(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
  be_.copy_to_host(values.data(), at, values.size());
  NamedTensor& t = (*exported_)[where.names.front()];
  if (t.values.empty()) {
    t.name = where.names.front();
    t.shape = where.shape;
    std::size_t n = 1;
    for (std::int64_t dim : where.shape) n *= static_cast<std::size_t>(dim);
    t.values.assign(n, 0.0f);
  }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      t.values[static_cast<std::size_t>(hf_index(where, row0 + r, col0 + c))] =
          values[static_cast<std::size_t>(r) * cols + c];
}

void WeightBuilder::fill_norm(const DeviceBuffer& w, const DeviceBuffer& b, std::uint64_t wid, std::uint64_t bid) {
  fill(w, 0, 1, d_.hidden, wid, 0, 0, d_.hidden, kNormScale, 1.0f);
  if (b) fill(b, 0, 1, d_.hidden, bid, 0, 0, d_.hidden, kBiasScale);
}

LayerWeights WeightBuilder::layer(int l) {
  const Dims& d = d_;
  const LayerSizes ls = layer_sizes(d, m_.moe_layer(l));
  const int q0 = shard_.q_heads.begin, kv0 = shard_.kv_heads.begin;
  const int hd = d.head_dim, q_all = m_.heads * hd, kv_all = m_.kv_heads * hd;
  LayerWeights L;
  L.norm1_w = allocate(ls.norm);
  L.norm2_w = allocate(ls.norm);
  if (d.gpt2) {
    L.norm1_b = allocate(ls.norm);
    L.norm2_b = allocate(ls.norm);
  }
  fill_norm(L.norm1_w, L.norm1_b, layer_tensor(l, kNorm1W), layer_tensor(l, kNorm1B));
  fill_norm(L.norm2_w, L.norm2_b, layer_tensor(l, kNorm2W), layer_tensor(l, kNorm2B));

  // Column-parallel QKV: this rank's query heads, then its KV heads' keys and values.
  L.qkv_w = allocate(ls.qkv_w);
  const float sh = linear_scale(d.hidden);
  fill(L.qkv_w, 0, d.q_heads * hd, d.hidden, layer_tensor(l, kWq), q0 * hd, 0, d.hidden, sh);
  fill(L.qkv_w, std::size_t(d.q_heads) * hd * d.hidden, d.kv_heads * hd, d.hidden, layer_tensor(l, kWk), kv0 * hd, 0, d.hidden, sh);
  fill(L.qkv_w, std::size_t(d.q_heads + d.kv_heads) * hd * d.hidden, d.kv_heads * hd, d.hidden, layer_tensor(l, kWv), kv0 * hd, 0, d.hidden, sh);
  if (ls.qkv_b) {
    L.qkv_b = allocate(ls.qkv_b);
    fill(L.qkv_b, 0, 1, d.q_heads * hd, layer_tensor(l, kBq), 0, q0 * hd, q_all, kBiasScale);
    fill(L.qkv_b, std::size_t(d.q_heads) * hd, 1, d.kv_heads * hd, layer_tensor(l, kBk), 0, kv0 * hd, kv_all, kBiasScale);
    fill(L.qkv_b, std::size_t(d.q_heads + d.kv_heads) * hd, 1, d.kv_heads * hd, layer_tensor(l, kBv), 0, kv0 * hd, kv_all,
         kBiasScale);
  }
  if (ls.qk_norm) {  // Qwen3: one norm per head dimension, the same for every head (replicated)
    L.q_norm_w = allocate(ls.qk_norm);
    L.k_norm_w = allocate(ls.qk_norm);
    fill(L.q_norm_w, 0, 1, hd, layer_tensor(l, kQNorm), 0, 0, hd, kNormScale, 1.0f);
    fill(L.k_norm_w, 0, 1, hd, layer_tensor(l, kKNorm), 0, 0, hd, kNormScale, 1.0f);
  }
  // Row-parallel output projection: all output rows, this rank's input columns.
  L.out_w = allocate(ls.out_w);
  fill(L.out_w, 0, d.hidden, d.q_heads * hd, layer_tensor(l, kWo), 0, q0 * hd, q_all, linear_scale(q_all));
  if (ls.out_b) {
    L.out_b = allocate(ls.out_b);
    fill(L.out_b, 0, 1, d.hidden, layer_tensor(l, kBo), 0, 0, d.hidden, kBiasScale);
  }
  if (m_.moe_layer(l)) {
    fill_experts(L, l);
    fill_shared_expert(L, l);
  } else {
    fill_mlp(L, l);
  }
  return L;
}

// Column-parallel MLP up (gate rows then up rows when gated), row-parallel down.
void WeightBuilder::fill_mlp(LayerWeights& L, int l) {
  const Dims& d = d_;
  const LayerSizes ls = layer_sizes(d, false);
  const int i0 = shard_.intermediate.begin;
  const float sh = linear_scale(d.hidden);
  L.up_w = allocate(ls.up_w);
  if (d.gpt2) {
    fill(L.up_w, 0, d.intermediate, d.hidden, layer_tensor(l, kWup), i0, 0, d.hidden, sh);
    L.up_b = allocate(ls.up_b);
    fill(L.up_b, 0, 1, d.intermediate, layer_tensor(l, kBup), 0, i0, m_.intermediate, kBiasScale);
  } else {
    fill(L.up_w, 0, d.intermediate, d.hidden, layer_tensor(l, kWgate), i0, 0, d.hidden, sh);
    fill(L.up_w, std::size_t(d.intermediate) * d.hidden, d.intermediate, d.hidden, layer_tensor(l, kWup), i0, 0, d.hidden, sh);
    if (ls.up_b) {
      L.up_b = allocate(ls.up_b);
      fill(L.up_b, 0, 1, d.intermediate, layer_tensor(l, kBgate), 0, i0, m_.intermediate, kBiasScale);
      fill(L.up_b, d.intermediate, 1, d.intermediate, layer_tensor(l, kBup), 0, i0, m_.intermediate, kBiasScale);
    }
  }
  L.down_w = allocate(ls.down_w);
  fill(L.down_w, 0, d.hidden, d.intermediate, layer_tensor(l, kWdown), 0, i0, m_.intermediate, linear_scale(m_.intermediate));
  if (ls.down_b) {
    L.down_b = allocate(ls.down_b);
    fill(L.down_b, 0, 1, d.hidden, layer_tensor(l, kBdown), 0, 0, d.hidden, kBiasScale);
  }
}

// The router (every expert, replicated) and each held expert's gate, up and down, split by
// columns across the tensor-parallel group like a dense MLP: expert e's rows of a tensor are
// [e * width, (e + 1) * width) of one [experts * width, ...] matrix, so a shard is a slice, and
// an expert-parallel rank holds the slices of its block of experts only.
void WeightBuilder::fill_experts(LayerWeights& L, int l) {
  const Dims& d = d_;
  const LayerSizes ls = layer_sizes(d, true);
  const int i0 = shard_.moe_intermediate.begin, part = d.moe_intermediate, width = m_.moe_intermediate;
  const float sh = linear_scale(d.hidden);
  L.router_w = allocate(ls.router_w);
  fill(L.router_w, 0, d.experts, d.hidden, layer_tensor(l, kRouter), 0, 0, d.hidden, sh);
  L.experts_up = allocate(ls.experts_up);
  L.experts_down = allocate(ls.experts_down);
  const std::size_t up = static_cast<std::size_t>(2 * part) * d.hidden, down = static_cast<std::size_t>(d.hidden) * part;
  for (int i = 0; i < d.held_experts; ++i) {
    const int e = d.expert_begin + i;
    const std::int64_t row = static_cast<std::int64_t>(e) * width + i0;
    fill(L.experts_up, i * up, part, d.hidden, layer_tensor(l, kExpertGate), row, 0, d.hidden, sh);
    fill(L.experts_up, i * up + static_cast<std::size_t>(part) * d.hidden, part, d.hidden, layer_tensor(l, kExpertUp),
         row, 0, d.hidden, sh);
    fill(L.experts_down, i * down, d.hidden, part, layer_tensor(l, kExpertDown), static_cast<std::int64_t>(e) * d.hidden,
         i0, width, linear_scale(width));
  }
}

// Qwen2-MoE's shared expert, split by columns across the tensor-parallel group like a dense MLP,
// and its sigmoid gate (one row, replicated: every rank scales its partial output by it).
void WeightBuilder::fill_shared_expert(LayerWeights& L, int l) {
  const Dims& d = d_;
  const LayerSizes ls = layer_sizes(d, true);
  if (!ls.shared_gate) return;
  const int i0 = shard_.shared_intermediate.begin, part = d.shared_intermediate;
  const int width = m_.shared_expert_intermediate;
  const float sh = linear_scale(d.hidden);
  L.shared_up = allocate(ls.shared_up);
  fill(L.shared_up, 0, part, d.hidden, layer_tensor(l, kSharedGate), i0, 0, d.hidden, sh);
  fill(L.shared_up, std::size_t(part) * d.hidden, part, d.hidden, layer_tensor(l, kSharedUp), i0, 0, d.hidden, sh);
  L.shared_down = allocate(ls.shared_down);
  fill(L.shared_down, 0, d.hidden, part, layer_tensor(l, kSharedDown), 0, i0, width, linear_scale(width));
  L.shared_gate = allocate(ls.shared_gate);
  fill(L.shared_gate, 0, 1, d.hidden, layer_tensor(l, kSharedExpertGate), 0, 0, d.hidden, sh);
}

std::shared_ptr<const WeightSet> build_weights(const ModelConfig& model, const ConfigPoint& point,
                                               const ShardPlan& shard, const ExecutionOptions& options,
                                               Backend& backend) {
  const std::uint64_t seed = member_seed(options.seed, shard.weight_member + options.member_offset);
  return WeightBuilder(model, point, weight_shard(model, shard, options.fault), seed, backend,
                       options.checkpoint.get())
      .build();
}

std::vector<NamedTensor> export_weights(const ModelConfig& model, std::uint64_t seed, Backend& backend) {
  ConfigPoint point;
  point.strategy = "export";
  point.workload = {1, 1, 1};
  const ShardPlan shard = make_shard_plan(model, point, 0);
  std::map<std::string, NamedTensor> tensors;
  WeightBuilder(model, point, shard, member_seed(seed, 0), backend, nullptr, &tensors).build();
  std::vector<NamedTensor> out;
  for (auto& [name, t] : tensors) out.push_back(std::move(t));
  return out;
}

std::int32_t input_token(std::uint64_t seed, int seq, int pos, int vocab) {
  const std::uint64_t key = math::element_key(seed, kTokens, (static_cast<std::uint64_t>(seq) << 32) | pos);
  return static_cast<std::int32_t>(math::splitmix64(key) % static_cast<std::uint64_t>(vocab));
}

}  // namespace llmt
