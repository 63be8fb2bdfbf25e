#include "engine/transformer.hpp"

#include <fmt/format.h>

#include <cmath>

#include "kernels/math.hpp"

namespace llmt {
namespace {

// Logical tensor ids: the seed of every element's value (kernels/math.hpp element_key).
enum GlobalTensor : std::uint64_t { kEmbed = 1, kPositions, kFinalNormW, kFinalNormB, kHead, kTokens };
enum LayerTensor : std::uint64_t {
  kNorm1W, kNorm1B, kWq, kWk, kWv, kBq, kBk, kBv, kWo, kBo,
  kNorm2W, kNorm2B, kWgate, kWup, kBup, kWdown, kBdown,
};
std::uint64_t layer_tensor(int layer, LayerTensor t) { return 1000 + static_cast<std::uint64_t>(layer) * 64 + t; }

// Initialisation scales: uniform(-a, a) with a = sqrt(3 / fan_in) keeps unit variance.
float linear_scale(int fan_in) { return std::sqrt(3.0f / static_cast<float>(fan_in)); }
constexpr float kNormScale = 0.1f, kBiasScale = 0.02f, kPositionScale = 0.1f;

// Sizes local to one rank.
struct Dims {
  int h, d, q, kv, group, inter, vocab, batch, global_batch, ctx, prompt, window;
  int tp, dp;
  bool gpt2, qkv_bias, first, last;
  std::size_t local_layers;
  int qkv_cols() const { return (q + 2 * kv) * d; }
  int up_cols() const { return gpt2 ? inter : 2 * inter; }
};

Dims local_dims(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s) {
  Dims d{};
  d.h = m.hidden;
  d.d = m.head_dim;
  d.q = s.q_heads.size();
  d.kv = s.kv_heads.size();
  d.group = m.heads / m.kv_heads;
  d.inter = s.intermediate.size();
  d.vocab = s.vocab.size();
  d.batch = s.batch.size();
  d.global_batch = p.workload.batch;
  d.ctx = p.workload.context();
  d.prompt = p.workload.prompt;
  d.window = m.sliding_window;
  d.tp = p.layout.tp;
  d.dp = p.layout.dp;
  d.gpt2 = m.arch == Architecture::gpt2;
  d.qkv_bias = m.qkv_bias;
  d.first = s.first_stage();
  d.last = s.last_stage();
  d.local_layers = static_cast<std::size_t>(s.layers.size());
  return d;
}

// Element counts of every buffer a rank allocates; allocation and prediction both use them.
struct LayerSizes {
  std::size_t norm, qkv_w, qkv_b, out_w, out_b, up_w, up_b, down_w, down_b, cache;
};
LayerSizes layer_sizes(const Dims& d) {
  const auto h = static_cast<std::size_t>(d.h);
  LayerSizes s{};
  s.norm = h;
  s.qkv_w = static_cast<std::size_t>(d.qkv_cols()) * h;
  s.qkv_b = d.qkv_bias ? static_cast<std::size_t>(d.qkv_cols()) : 0;
  s.out_w = h * static_cast<std::size_t>(d.q * d.d);
  s.out_b = d.gpt2 ? h : 0;
  s.up_w = static_cast<std::size_t>(d.up_cols()) * h;
  s.up_b = d.gpt2 ? static_cast<std::size_t>(d.inter) : 0;
  s.down_w = h * static_cast<std::size_t>(d.inter);
  s.down_b = d.gpt2 ? h : 0;
  s.cache = static_cast<std::size_t>(d.batch) * d.kv * d.ctx * d.d;
  return s;
}
std::size_t layer_weight_elements(const Dims& d) {
  const LayerSizes s = layer_sizes(d);
  const std::size_t norms = 2 * s.norm * (d.gpt2 ? 2 : 1);
  return norms + s.qkv_w + s.qkv_b + s.out_w + s.out_b + s.up_w + s.up_b + s.down_w + s.down_b;
}

struct GlobalSizes {
  std::size_t embed, positions, final_norm, head;
};
GlobalSizes global_sizes(const ModelConfig& m, const Dims& d) {
  const auto h = static_cast<std::size_t>(d.h);
  GlobalSizes g{};
  g.embed = d.first ? static_cast<std::size_t>(d.vocab) * h : 0;
  g.positions = d.first && d.gpt2 ? static_cast<std::size_t>(m.max_positions) * h : 0;
  g.final_norm = d.last ? h * (d.gpt2 ? 2 : 1) : 0;
  // A tied head reuses the embedding shard when the first stage is also the last.
  g.head = d.last && !(m.tied_embeddings && d.first) ? static_cast<std::size_t>(d.vocab) * h : 0;
  return g;
}

struct ActivationSizes {
  std::size_t x, xn, qkv, attn, proj, mlp_in, mlp_act, last, last_norm, logits_local, staging, logits_tp, logits_out;
  std::size_t rope_bytes;  // float tables, whatever the dtype
  std::size_t total_elements() const {
    return x + xn + qkv + attn + proj + mlp_in + mlp_act + last + last_norm + logits_local + staging + logits_tp +
           logits_out;
  }
};
ActivationSizes activation_sizes(const ModelConfig& m, const Dims& d) {
  const auto rows = static_cast<std::size_t>(d.batch) * d.prompt;  // prefill is the largest step
  const auto h = static_cast<std::size_t>(d.h);
  const auto b = static_cast<std::size_t>(d.batch);
  const auto full_vocab = static_cast<std::size_t>(m.vocab);
  ActivationSizes a{};
  a.x = rows * h;
  a.xn = rows * h;
  a.qkv = rows * d.qkv_cols();
  a.attn = rows * d.q * d.d;
  a.proj = rows * h;
  a.mlp_in = rows * d.up_cols();
  a.mlp_act = d.gpt2 ? 0 : rows * d.inter;  // GELU runs in place
  if (d.last) {
    a.last = b * h;
    a.last_norm = b * h;
    a.logits_local = b * d.vocab;
    a.staging = d.tp > 1 ? b * full_vocab : 0;
    a.logits_tp = d.tp > 1 ? b * full_vocab : 0;
    a.logits_out = d.dp > 1 ? static_cast<std::size_t>(d.global_batch) * full_vocab : 0;
  }
  a.rope_bytes = d.gpt2 ? 0 : 2 * static_cast<std::size_t>(d.ctx) * (d.d / 2) * sizeof(float);
  return a;
}

std::vector<GemmShape> local_gemm_shapes(const Dims& d, int rows) {
  return {{"attn/qkv", rows, d.qkv_cols(), d.h},
          {"attn/out", rows, d.h, d.q * d.d},
          {"mlp/up", rows, d.up_cols(), d.h},
          {"mlp/down", rows, d.h, d.inter},
          {"head/gemm", d.batch, d.vocab, d.h}};
}

std::string gemm_detail(const std::vector<GemmShape>& shapes, const std::string& phase) {
  for (const GemmShape& g : shapes)
    if (g.phase == phase) return fmt::format("m={} n={} k={}", g.m, g.n, g.k);
  return {};
}

}  // namespace

std::vector<GemmShape> gemm_shapes(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                   bool prefill) {
  const Dims d = local_dims(model, point, shard);
  return local_gemm_shapes(d, d.batch * (prefill ? d.prompt : 1));
}

std::int32_t input_token(std::uint64_t seed, int seq, int pos, int vocab) {
  const std::uint64_t key = math::element_key(seed, kTokens, (static_cast<std::uint64_t>(seq) << 32) | pos);
  return static_cast<std::int32_t>(math::splitmix64(key) % static_cast<std::uint64_t>(vocab));
}

MemoryPlan plan_rank_memory(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard, DType dtype) {
  const Dims d = local_dims(model, point, shard);
  const std::size_t e = dtype_size(dtype);
  const GlobalSizes g = global_sizes(model, d);
  MemoryPlan plan;
  plan.weights = (d.local_layers * layer_weight_elements(d) + g.embed + g.positions + g.final_norm + g.head) * e;
  plan.kv_cache = d.local_layers * 2 * layer_sizes(d).cache * e;
  const ActivationSizes a = activation_sizes(model, d);
  plan.activations = a.total_elements() * e + a.rope_bytes;
  return plan;
}

RankComms RankComms::split(Communicator& world, const ShardPlan& s) {
  const Layout& l = s.layout;
  const RankCoords& c = s.coords;
  RankComms comms;
  comms.world = &world;
  comms.tp = world.split(c.dp * l.pp + c.pp, c.tp);
  comms.pp = world.split(c.dp * l.tp + c.tp, c.pp);
  comms.dp = world.split(c.pp * l.tp + c.tp, c.dp);
  return comms;
}

struct LayerWeights {
  DeviceBuffer norm1_w, norm1_b, qkv_w, qkv_b, out_w, out_b;
  DeviceBuffer norm2_w, norm2_b, up_w, up_b, down_w, down_b;
};

struct WeightSet {
  std::vector<LayerWeights> layers;
  DeviceBuffer embed, positions, final_w, final_b, head;
  const void* head_weights = nullptr;  // `head`, or the embedding shard when tied
};

namespace {

// Allocates one rank's weight shard and generates its values from their global indices.
class WeightBuilder {
 public:
  WeightBuilder(const ModelConfig& m, const ConfigPoint& p, const ShardPlan& s, std::uint64_t seed, Backend& be)
      : m_(m), shard_(s), d_(local_dims(m, p, s)), seed_(seed), be_(be), esize_(dtype_size(be.dtype())) {}

  std::shared_ptr<WeightSet> build() {
    auto w = std::make_shared<WeightSet>();
    for (int l = shard_.layers.begin; l < shard_.layers.end; ++l) w->layers.push_back(layer(l));
    const GlobalSizes g = global_sizes(m_, d_);
    const int v0 = shard_.vocab.begin;
    if (g.embed) {
      w->embed = allocate(g.embed);
      fill(w->embed, 0, d_.vocab, d_.h, kEmbed, v0, 0, d_.h, 1.0f);
    }
    if (g.positions) {
      w->positions = allocate(g.positions);
      fill(w->positions, 0, m_.max_positions, d_.h, kPositions, 0, 0, d_.h, kPositionScale);
    }
    if (d_.last) {
      w->final_w = allocate(d_.h);
      if (d_.gpt2) w->final_b = allocate(d_.h);
      fill_norm(w->final_w, w->final_b, kFinalNormW, kFinalNormB);
      if (g.head) {
        w->head = allocate(g.head);
        if (m_.tied_embeddings)
          fill(w->head, 0, d_.vocab, d_.h, kEmbed, v0, 0, d_.h, 1.0f);
        else
          fill(w->head, 0, d_.vocab, d_.h, kHead, v0, 0, d_.h, linear_scale(d_.h));
      }
      w->head_weights = g.head ? w->head.get() : w->embed.get();
    }
    return w;
  }

 private:
  DeviceBuffer allocate(std::size_t n) { return be_.allocate(n, MemoryKind::weights); }
  void fill(const DeviceBuffer& dst, std::size_t offset, int rows, int cols, std::uint64_t tensor, std::int64_t row0,
            std::int64_t col0, std::int64_t global_cols, float scale, float shift = 0.0f) {
    be_.fill(static_cast<char*>(dst.get()) + offset * esize_, rows, cols,
             FillSpec{seed_, tensor, row0, col0, global_cols, scale, shift});
  }
  void fill_norm(const DeviceBuffer& w, const DeviceBuffer& b, std::uint64_t wid, std::uint64_t bid) {
    fill(w, 0, 1, d_.h, wid, 0, 0, d_.h, kNormScale, 1.0f);
    if (b) fill(b, 0, 1, d_.h, bid, 0, 0, d_.h, kBiasScale);
  }

  LayerWeights layer(int l) {
    const Dims& d = d_;
    const LayerSizes ls = layer_sizes(d);
    const int q0 = shard_.q_heads.begin, kv0 = shard_.kv_heads.begin, i0 = shard_.intermediate.begin;
    const int hd = d.d, q_all = m_.heads * hd, kv_all = m_.kv_heads * hd;
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
    const float sh = linear_scale(d.h);
    fill(L.qkv_w, 0, d.q * hd, d.h, layer_tensor(l, kWq), q0 * hd, 0, d.h, sh);
    fill(L.qkv_w, std::size_t(d.q) * hd * d.h, d.kv * hd, d.h, layer_tensor(l, kWk), kv0 * hd, 0, d.h, sh);
    fill(L.qkv_w, std::size_t(d.q + d.kv) * hd * d.h, d.kv * hd, d.h, layer_tensor(l, kWv), kv0 * hd, 0, d.h, sh);
    if (ls.qkv_b) {
      L.qkv_b = allocate(ls.qkv_b);
      fill(L.qkv_b, 0, 1, d.q * hd, layer_tensor(l, kBq), 0, q0 * hd, q_all, kBiasScale);
      fill(L.qkv_b, std::size_t(d.q) * hd, 1, d.kv * hd, layer_tensor(l, kBk), 0, kv0 * hd, kv_all, kBiasScale);
      fill(L.qkv_b, std::size_t(d.q + d.kv) * hd, 1, d.kv * hd, layer_tensor(l, kBv), 0, kv0 * hd, kv_all,
           kBiasScale);
    }
    // Row-parallel output projection: all output rows, this rank's input columns.
    L.out_w = allocate(ls.out_w);
    fill(L.out_w, 0, d.h, d.q * hd, layer_tensor(l, kWo), 0, q0 * hd, q_all, linear_scale(q_all));
    if (ls.out_b) {
      L.out_b = allocate(ls.out_b);
      fill(L.out_b, 0, 1, d.h, layer_tensor(l, kBo), 0, 0, d.h, kBiasScale);
    }
    // Column-parallel MLP up (gate rows then up rows when gated), row-parallel down.
    L.up_w = allocate(ls.up_w);
    if (d.gpt2) {
      fill(L.up_w, 0, d.inter, d.h, layer_tensor(l, kWup), i0, 0, d.h, sh);
      L.up_b = allocate(ls.up_b);
      fill(L.up_b, 0, 1, d.inter, layer_tensor(l, kBup), 0, i0, m_.intermediate, kBiasScale);
    } else {
      fill(L.up_w, 0, d.inter, d.h, layer_tensor(l, kWgate), i0, 0, d.h, sh);
      fill(L.up_w, std::size_t(d.inter) * d.h, d.inter, d.h, layer_tensor(l, kWup), i0, 0, d.h, sh);
    }
    L.down_w = allocate(ls.down_w);
    fill(L.down_w, 0, d.h, d.inter, layer_tensor(l, kWdown), 0, i0, m_.intermediate, linear_scale(m_.intermediate));
    if (ls.down_b) {
      L.down_b = allocate(ls.down_b);
      fill(L.down_b, 0, 1, d.h, layer_tensor(l, kBdown), 0, 0, d.h, kBiasScale);
    }
    return L;
  }

  const ModelConfig& m_;
  const ShardPlan& shard_;
  const Dims d_;
  const std::uint64_t seed_;
  Backend& be_;
  const std::size_t esize_;
};

}  // namespace

std::shared_ptr<const WeightSet> build_weights(const ModelConfig& model, const ConfigPoint& point,
                                               const ShardPlan& shard, std::uint64_t seed, Backend& backend) {
  return WeightBuilder(model, point, shard, seed, backend).build();
}

struct TransformerRank::Impl {
  struct KvCache {
    DeviceBuffer k, v;
  };
  struct LayerPhases {
    PhaseId norm1, qkv, qkv_bias, rope, kv_store, attn, out, out_sync, residual1;
    PhaseId norm2, up, act, down, down_sync, residual2;
  };
  struct StagePhases {
    PhaseId embed, embed_sync, positions, recv, send;
    std::vector<LayerPhases> layers;
    PhaseId select, final_norm, head, gather, assemble, merge;
  };

  const ModelConfig& m;
  const ConfigPoint point;
  const ShardPlan shard;
  const std::uint64_t seed;
  Backend& be;
  RankComms& comms;
  Timeline& tl;
  const Dims d;
  const DType dtype;
  const std::size_t esize;

  std::shared_ptr<const WeightSet> w;
  std::vector<KvCache> caches;
  DeviceBuffer rope_cos, rope_sin;
  DeviceBuffer x, xn, qkv, attn, proj, mlp_in, mlp_act, last, last_norm, logits_local, staging, logits_tp, logits_out;
  StagePhases phases[2];  // prefill, decode
  std::vector<std::int32_t> prompt_tokens, decode_tokens, position_ids;  // decode: [step - 1][batch]
  std::vector<std::size_t> tp_gather_counts, dp_gather_counts;

  Impl(const ModelConfig& model, const ConfigPoint& p, const ShardPlan& s, std::uint64_t sd,
       std::shared_ptr<const WeightSet> weights, Backend& backend, RankComms& c, Timeline& timeline, PhaseTable& table)
      : m(model), point(p), shard(s), seed(sd), be(backend), comms(c), tl(timeline), d(local_dims(model, p, s)),
        dtype(backend.dtype()), esize(dtype_size(backend.dtype())), w(std::move(weights)) {
    register_phases(table);
    allocate_state();
    for (int b = 0; b < d.batch; ++b)
      for (int t = 0; t < d.prompt; ++t)
        prompt_tokens.push_back(input_token(seed, shard.batch.begin + b, t, m.vocab));
    for (int step = 1; step < p.workload.gen; ++step)
      for (int b = 0; b < d.batch; ++b)
        decode_tokens.push_back(input_token(seed, shard.batch.begin + b, d.prompt + step - 1, m.vocab));
    for (int t = 0; t < d.tp; ++t)
      tp_gather_counts.push_back(static_cast<std::size_t>(d.batch) * split_range(m.vocab, d.tp, t).size());
    for (int r = 0; r < d.dp; ++r)
      dp_gather_counts.push_back(static_cast<std::size_t>(split_range(d.global_batch, d.dp, r).size()) * m.vocab);
  }

  char* at(const DeviceBuffer& b, std::size_t elements) const { return static_cast<char*>(b.get()) + elements * esize; }

  // ---- set-up -------------------------------------------------------------------------

  void register_phases(PhaseTable& table) {
    const char* stage_names[2] = {"prefill", "decode"};
    for (int st = 0; st < 2; ++st) {
      const std::string stage = stage_names[st];
      const std::vector<GemmShape> shapes = local_gemm_shapes(d, d.batch * (st == 0 ? d.prompt : 1));
      auto compute = [&](const std::string& path, std::string detail = {}) {
        return table.add({stage + "/" + path, PhaseCategory::compute, CommOp::barrier, 1, "", std::move(detail)});
      };
      auto comm = [&](const std::string& path, CommOp op, const char* group, int size) {
        return table.add({stage + "/" + path, PhaseCategory::communication, op, size, group, "", true});
      };
      StagePhases& P = phases[st];
      P.embed = compute("embed/lookup");
      P.embed_sync = comm("embed/all_reduce", CommOp::all_reduce, "tp", d.tp);
      P.positions = compute("embed/positions");
      P.recv = table.add({stage + "/pipeline/recv", PhaseCategory::transfer, CommOp::send_recv, 2, "pp", "", true});
      P.send = table.add({stage + "/pipeline/send", PhaseCategory::transfer, CommOp::send_recv, 2, "pp", "", true});
      for (int l = shard.layers.begin; l < shard.layers.end; ++l) {
        const std::string L = fmt::format("layer.{}/", l);
        LayerPhases lp{};
        lp.norm1 = compute(L + "attn/norm");
        lp.qkv = compute(L + "attn/qkv", gemm_detail(shapes, "attn/qkv"));
        lp.qkv_bias = compute(L + "attn/qkv_bias");
        lp.rope = compute(L + "attn/rope");
        lp.kv_store = compute(L + "attn/kv_store");
        lp.attn = compute(L + "attn/core");
        lp.out = compute(L + "attn/out", gemm_detail(shapes, "attn/out"));
        lp.out_sync = comm(L + "attn/all_reduce", CommOp::all_reduce, "tp", d.tp);
        lp.residual1 = compute(L + "attn/residual");
        lp.norm2 = compute(L + "mlp/norm");
        lp.up = compute(L + "mlp/up", gemm_detail(shapes, "mlp/up"));
        lp.act = compute(L + "mlp/act");
        lp.down = compute(L + "mlp/down", gemm_detail(shapes, "mlp/down"));
        lp.down_sync = comm(L + "mlp/all_reduce", CommOp::all_reduce, "tp", d.tp);
        lp.residual2 = compute(L + "mlp/residual");
        P.layers.push_back(lp);
      }
      P.select = compute("head/select");
      P.final_norm = compute("head/norm");
      P.head = compute("head/gemm", gemm_detail(shapes, "head/gemm"));
      P.gather = comm("head/all_gather", CommOp::all_gather, "tp", d.tp);
      P.assemble = compute("head/assemble");
      P.merge = comm("merge/concat", CommOp::all_gather, "dp", d.dp);
    }
  }

  DeviceBuffer activations(std::size_t n) { return be.allocate(n, MemoryKind::activations); }

  // The rank's own state: KV cache, workspace and RoPE tables (the weights may be shared).
  void allocate_state() {
    const std::size_t cache = layer_sizes(d).cache;
    for (std::size_t l = 0; l < d.local_layers; ++l)
      caches.push_back({be.allocate(cache, MemoryKind::kv_cache), be.allocate(cache, MemoryKind::kv_cache)});
    const ActivationSizes a = activation_sizes(m, d);
    x = activations(a.x);
    xn = activations(a.xn);
    qkv = activations(a.qkv);
    attn = activations(a.attn);
    proj = activations(a.proj);
    mlp_in = activations(a.mlp_in);
    mlp_act = activations(a.mlp_act);
    last = activations(a.last);
    last_norm = activations(a.last_norm);
    logits_local = activations(a.logits_local);
    staging = activations(a.staging);
    logits_tp = activations(a.logits_tp);
    logits_out = activations(a.logits_out);
    if (a.rope_bytes) upload_rope_tables(a.rope_bytes / 2);
  }

  void upload_rope_tables(std::size_t bytes_each) {
    const int half = d.d / 2;
    std::vector<float> cos_t(static_cast<std::size_t>(d.ctx) * half), sin_t(cos_t.size());
    for (int pos = 0; pos < d.ctx; ++pos)
      for (int i = 0; i < half; ++i) {
        const double angle = pos * math::rope_inv_freq(i, d.d, m.rope_theta);
        cos_t[static_cast<std::size_t>(pos) * half + i] = static_cast<float>(std::cos(angle));
        sin_t[static_cast<std::size_t>(pos) * half + i] = static_cast<float>(std::sin(angle));
      }
    rope_cos = be.allocate_bytes(bytes_each, MemoryKind::activations);
    rope_sin = be.allocate_bytes(bytes_each, MemoryKind::activations);
    be.upload_bytes(rope_cos.get(), cos_t.data(), bytes_each);
    be.upload_bytes(rope_sin.get(), sin_t.data(), bytes_each);
  }

  // ---- forward --------------------------------------------------------------------------

  // Sums the tensor-parallel partial results in `buf` across the TP group.
  void sync_partial_sums(void* buf, std::size_t count, PhaseId phase) {
    if (d.tp == 1) return;
    ScopedPhase p(tl, phase);
    p.set_bytes(count * esize);
    comms.tp->all_reduce(buf, buf, count, dtype, ReduceOp::sum);
  }

  void norm(const void* in, const DeviceBuffer& weight, const DeviceBuffer& bias, void* out, int rows) {
    if (d.gpt2)
      be.layer_norm(in, weight.get(), bias.get(), out, rows, d.h, static_cast<float>(m.norm_eps));
    else
      be.rms_norm(in, weight.get(), out, rows, d.h, static_cast<float>(m.norm_eps));
  }

  void layer_forward(int stage, std::size_t index, int new_tokens, int past) {
    const LayerWeights& L = w->layers[index];
    const KvCache& cache = caches[index];
    const LayerPhases& P = phases[stage].layers[index];
    const int rows = d.batch * new_tokens;
    const std::size_t n = static_cast<std::size_t>(rows) * d.h;
    const AttentionShape shape{d.batch, new_tokens, past, d.ctx, d.q, d.kv, d.d, d.group, d.window};

    { ScopedPhase p(tl, P.norm1); norm(x.get(), L.norm1_w, L.norm1_b, xn.get(), rows); }
    { ScopedPhase p(tl, P.qkv); be.gemm(rows, d.qkv_cols(), d.h, xn.get(), d.h, L.qkv_w.get(), d.h, qkv.get(), d.qkv_cols(), 0.0f); }
    if (L.qkv_b) { ScopedPhase p(tl, P.qkv_bias); be.add_bias(qkv.get(), L.qkv_b.get(), rows, d.qkv_cols()); }
    if (!d.gpt2) { ScopedPhase p(tl, P.rope); be.rope(qkv.get(), shape, static_cast<const float*>(rope_cos.get()), static_cast<const float*>(rope_sin.get())); }
    { ScopedPhase p(tl, P.kv_store); be.store_kv(qkv.get(), cache.k.get(), cache.v.get(), shape); }
    { ScopedPhase p(tl, P.attn); be.attention(qkv.get(), cache.k.get(), cache.v.get(), attn.get(), shape); }
    { ScopedPhase p(tl, P.out); be.gemm(rows, d.h, d.q * d.d, attn.get(), d.q * d.d, L.out_w.get(), d.q * d.d, proj.get(), d.h, 0.0f); }
    sync_partial_sums(proj.get(), n, P.out_sync);
    {
      ScopedPhase p(tl, P.residual1);
      if (L.out_b) be.add_bias(proj.get(), L.out_b.get(), rows, d.h);
      be.add(x.get(), proj.get(), n);
    }

    { ScopedPhase p(tl, P.norm2); norm(x.get(), L.norm2_w, L.norm2_b, xn.get(), rows); }
    { ScopedPhase p(tl, P.up); be.gemm(rows, d.up_cols(), d.h, xn.get(), d.h, L.up_w.get(), d.h, mlp_in.get(), d.up_cols(), 0.0f); }
    const void* activated = d.gpt2 ? mlp_in.get() : mlp_act.get();
    {
      ScopedPhase p(tl, P.act);
      if (d.gpt2) {
        be.add_bias(mlp_in.get(), L.up_b.get(), rows, d.inter);
        be.gelu(mlp_in.get(), static_cast<std::size_t>(rows) * d.inter);
      } else {
        be.silu_mul(mlp_in.get(), mlp_act.get(), rows, d.inter);
      }
    }
    { ScopedPhase p(tl, P.down); be.gemm(rows, d.h, d.inter, activated, d.inter, L.down_w.get(), d.inter, proj.get(), d.h, 0.0f); }
    sync_partial_sums(proj.get(), n, P.down_sync);
    {
      ScopedPhase p(tl, P.residual2);
      if (L.down_b) be.add_bias(proj.get(), L.down_b.get(), rows, d.h);
      be.add(x.get(), proj.get(), n);
    }
  }

  void embed_tokens(int stage, const std::int32_t* tokens, int new_tokens, int past) {
    const StagePhases& P = phases[stage];
    const int rows = d.batch * new_tokens;
    {
      ScopedPhase p(tl, P.embed);
      be.embed(tokens, rows, w->embed.get(), shard.vocab.begin, shard.vocab.end, d.h, x.get());
    }
    // Vocabulary-parallel lookup: each rank holds some rows, the others contribute zeros.
    sync_partial_sums(x.get(), static_cast<std::size_t>(rows) * d.h, P.embed_sync);
    if (d.gpt2) {
      ScopedPhase p(tl, P.positions);
      position_ids.resize(static_cast<std::size_t>(rows));
      for (int r = 0; r < rows; ++r) position_ids[static_cast<std::size_t>(r)] = past + r % new_tokens;
      be.embed(position_ids.data(), rows, w->positions.get(), 0, m.max_positions, d.h, proj.get());
      be.add(x.get(), proj.get(), static_cast<std::size_t>(rows) * d.h);
    }
  }

  void head_forward(int stage, int new_tokens) {
    const StagePhases& P = phases[stage];
    const void* hidden = x.get();
    if (new_tokens > 1) {
      ScopedPhase p(tl, P.select);
      const std::size_t stride = static_cast<std::size_t>(new_tokens) * d.h;
      be.copy_2d(last.get(), d.h, at(x, static_cast<std::size_t>(new_tokens - 1) * d.h), stride, d.batch, d.h);
      hidden = last.get();
    }
    { ScopedPhase p(tl, P.final_norm); norm(hidden, w->final_w, w->final_b, last_norm.get(), d.batch); }
    { ScopedPhase p(tl, P.head); be.gemm(d.batch, d.vocab, d.h, last_norm.get(), d.h, w->head_weights, d.h, logits_local.get(), d.vocab, 0.0f); }
    if (d.tp > 1) {
      {
        ScopedPhase p(tl, P.gather);
        p.set_bytes(static_cast<std::size_t>(d.batch) * m.vocab * esize);
        comms.tp->all_gather_v(logits_local.get(), staging.get(), tp_gather_counts, dtype);
      }
      // The gather yields [tp][batch][vocab shard]; reorder to [batch][vocab].
      ScopedPhase p(tl, P.assemble);
      std::size_t offset = 0;
      for (int t = 0; t < d.tp; ++t) {
        const Range v = split_range(m.vocab, d.tp, t);
        be.copy_2d(at(logits_tp, v.begin), m.vocab, at(staging, offset), v.size(), d.batch, v.size());
        offset += tp_gather_counts[static_cast<std::size_t>(t)];
      }
    }
    if (d.dp > 1) {
      ScopedPhase p(tl, P.merge);
      p.set_bytes(static_cast<std::size_t>(d.global_batch) * m.vocab * esize);
      comms.dp->all_gather_v(replica_logits(), logits_out.get(), dp_gather_counts, dtype);
    }
  }

  const void* replica_logits() const { return d.tp > 1 ? logits_tp.get() : logits_local.get(); }

  void forward(int stage, const std::int32_t* tokens, int new_tokens, int past) {
    const StagePhases& P = phases[stage];
    const std::size_t n = static_cast<std::size_t>(d.batch) * new_tokens * d.h;
    if (d.first) {
      embed_tokens(stage, tokens, new_tokens, past);
    } else {
      ScopedPhase p(tl, P.recv);
      p.set_bytes(n * esize);
      comms.pp->recv(x.get(), n, dtype, shard.coords.pp - 1);
    }
    for (std::size_t l = 0; l < caches.size(); ++l) layer_forward(stage, l, new_tokens, past);
    if (!d.last) {
      ScopedPhase p(tl, P.send);
      p.set_bytes(n * esize);
      comms.pp->send(x.get(), n, dtype, shard.coords.pp + 1);
      return;
    }
    head_forward(stage, new_tokens);
  }
};

TransformerRank::TransformerRank(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                 std::uint64_t seed, std::shared_ptr<const WeightSet> weights, Backend& backend,
                                 RankComms& comms, Timeline& timeline, PhaseTable& phases)
    : impl_(std::make_unique<Impl>(model, point, shard, seed, std::move(weights), backend, comms, timeline, phases)) {}

TransformerRank::~TransformerRank() = default;

void TransformerRank::prefill() { impl_->forward(0, impl_->prompt_tokens.data(), impl_->d.prompt, 0); }

void TransformerRank::decode(int step) {
  Impl& s = *impl_;
  s.forward(1, s.decode_tokens.data() + static_cast<std::size_t>(step - 1) * s.d.batch, 1, s.d.prompt + step - 1);
}

bool TransformerRank::holds_output() const {
  const auto& c = impl_->shard.coords;
  return impl_->d.last && c.tp == 0 && c.dp == 0;
}

const void* TransformerRank::logits() const {
  return impl_->d.dp > 1 ? impl_->logits_out.get() : impl_->replica_logits();
}

}  // namespace llmt
