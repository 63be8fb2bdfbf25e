// The work model: the least FLOPs and bytes of every compute phase of one rank (the
// speed-of-light floors' input, docs/metrics.md), and the shapes of its GEMM and attention calls.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "engine/layer_shapes.hpp"
#include "engine/moe.hpp"
#include "engine/transformer.hpp"
#include "engine/weights.hpp"

namespace llmt {

std::vector<GemmShape> local_gemm_shapes(const Dims& d, int rows, int vocab) {
  std::vector<GemmShape> shapes = {{"attn/qkv", rows, d.qkv_cols(), d.hidden},
                                   {"attn/out", rows, d.hidden, d.q_heads * d.head_dim},
                                   {"mlp/up", rows, d.up_cols(), d.hidden},
                                   {"mlp/down", rows, d.hidden, d.intermediate}};
  shapes.push_back(d.tp_sum ? GemmShape{"head/gemm", d.batch, vocab, d.hidden_part}
                            : GemmShape{"head/gemm", d.batch, d.vocab_part, d.hidden});
  return shapes;
}

AttentionShape attention_shape(const Dims& d, int sequences, int new_tokens, int past) {
  return AttentionShape{sequences, new_tokens, past, d.context, d.q_heads, d.kv_heads, d.head_dim, d.q_per_kv, d.window};
}

bool fuses_residual_norm(const Dims& d) { return !(d.sync == SyncMode::overlap && d.tp > 1); }

std::vector<GemmShape> gemm_shapes(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                   bool prefill) {
  const Dims d = local_dims(model, point, shard);
  return local_gemm_shapes(d, d.batch * (prefill ? d.prompt : 1), model.vocab);
}

namespace {

// Accumulates the least work of each compute phase: the FLOPs of GEMMs and attention, and the
// bytes a phase must read and write at the least (every operand once; fused steps counted once).
class WorkModel {
 public:
  WorkModel(const ModelConfig& m, const Dims& d, std::size_t esize, int overlap_chunks)
      : m_(m), d_(d), e_(static_cast<double>(esize)),
        chunks_(fuses_residual_norm(d) ? 1 : std::max(1, std::min(overlap_chunks, d.hidden))) {}

  void pass(const std::string& pass_name, const ShardPlan& shard, int new_tokens, int past) {
    for (int mb = 0; mb < shard.microbatches; ++mb) {
      const int seqs = microbatch_range(shard, mb).size();
      const double rows = static_cast<double>(seqs) * new_tokens;
      if (d_.first_stage) embed(pass_name, rows);
      for (int l = shard.layers.begin; l < shard.layers.end; ++l)
        layer(fmt::format("{}/layer.{}/", pass_name, l), l - shard.layers.begin, seqs, new_tokens, past);
      if (d_.last_stage) head(pass_name, seqs, new_tokens);
    }
    if (d_.last_stage) merge(pass_name);
  }
  std::vector<PhaseWork> result() const {
    std::vector<PhaseWork> out;
    for (const auto& [path, w] : work_) out.push_back(w);
    return out;
  }

 private:
  // `cold`: the part of `bytes` read from weights or the KV cache.
  void add(const std::string& path, double flops, double bytes, double cold = 0) {
    PhaseWork& w = work_[path];
    w.phase = path;
    w.calls += 1;
    w.flops += flops;
    w.bytes += bytes;
    w.cold_bytes += cold;
  }
  void gemm(const std::string& path, double m, double n, double k) {
    add(path, 2 * m * n * k, (m * k + n * k + m * n) * e_, n * k * e_);
  }
  // A row-parallel GEMM, cut into column chunks in the overlap mode: each chunk reads all of a.
  void row_parallel_gemm(const std::string& path, double m, double k) {
    for (int c = 0; c < chunks_; ++c) gemm(path, m, split_range(d_.hidden, chunks_, c).size(), k);
  }
  double norm_params() const { return (d_.gpt2 ? 2.0 : 1.0) * d_.hidden * e_; }

  void embed(const std::string& pass_name, double rows) {
    add(pass_name + "/embed/lookup", 0, 2 * rows * d_.hidden * e_ + 4 * rows, rows * d_.hidden * e_);
    if (d_.gpt2) add(pass_name + "/embed/positions", 0, 3 * rows * d_.hidden * e_ + 4 * rows, rows * d_.hidden * e_);
  }

  void layer(const std::string& L, int index, int seqs, int new_tokens, int past) {
    const double rows = static_cast<double>(seqs) * new_tokens, h = d_.hidden, hd = d_.head_dim;
    const bool fused = fuses_residual_norm(d_);
    const bool has_next = index + 1 < static_cast<int>(d_.local_layers);
    if (index == 0 || !fused) add(L + "attn/norm", 0, 2 * rows * h * e_ + norm_params(), norm_params());
    gemm(L + "attn/qkv", rows, d_.qkv_cols(), h);
    if (d_.qkv_bias) add(L + "attn/qkv_bias", 0, (2 * rows + 1) * d_.qkv_cols() * e_, d_.qkv_cols() * e_);
    if (d_.qk_norm) add(L + "attn/qk_norm", 0, (2 * rows * (d_.q_heads + d_.kv_heads) + 2) * hd * e_, 2 * hd * e_);
    if (d_.gpt2)
      add(L + "attn/kv_store", 0, 4 * rows * d_.kv_heads * hd * e_);
    else  // q rotated in place; k rotated and v copied into the cache; cos and sin read as floats
      add(L + "attn/rope_kv_store", 0, rows * hd * e_ * (2.0 * d_.q_heads + 4.0 * d_.kv_heads) + rows * hd * 4);
    attention(L + "attn/core", attention_shape(d_, seqs, new_tokens, past));
    row_parallel_gemm(L + "attn/out", rows, static_cast<double>(d_.q_heads) * hd);
    residual(L + "attn/", rows, fused, true, d_.out_bias);
    if (!fused) add(L + "mlp/norm", 0, 2 * rows * h * e_ + norm_params(), norm_params());
    if (m_.moe()) return;  // no floor for MoE models (apply_speed_of_light)
    gemm(L + "mlp/up", rows, d_.up_cols(), h);
    // The up projection's bias is added in the same pass as the activation, at the least.
    const double bias = d_.mlp_bias ? d_.up_cols() * e_ : 0.0;
    if (d_.gpt2)  // bias and GELU in place
      add(L + "mlp/act", 0, 2 * rows * d_.intermediate * e_ + bias, bias);
    else  // silu(gate) * up
      add(L + "mlp/act", 0, 3 * rows * d_.intermediate * e_ + bias, bias);
    row_parallel_gemm(L + "mlp/down", rows, d_.intermediate);
    residual(L + "mlp/", rows, fused, has_next, d_.mlp_bias);
  }

  // x += y (+ bias), then (fused) the next norm from x.
  void residual(const std::string& prefix, double rows, bool fused, bool norm_follows, bool bias) {
    const double bias_bytes = bias ? d_.hidden * e_ : 0.0, plain = 3 * rows * d_.hidden * e_ + bias_bytes;
    if (fused && norm_follows)
      add(prefix + "residual_norm", 0, plain + rows * d_.hidden * e_ + norm_params(), bias_bytes + norm_params());
    else
      add(prefix + "residual", 0, plain, bias_bytes);
  }

  // FLOPs of Q K^T and P V over the keys each query sees; bytes: Q, O and every key and value read once.
  void attention(const std::string& path, const AttentionShape& s) {
    double pairs = 0;
    for (int i = s.past; i < s.past + s.new_tokens; ++i) {
      const int first = s.window > 0 ? std::max(0, i - s.window + 1) : 0;
      pairs += i - first + 1;
    }
    const int last = s.past + s.new_tokens - 1;
    const int first_key = s.window > 0 ? std::max(0, s.past - s.window + 1) : 0;
    const double keys = last - first_key + 1;
    const double b = s.batch, hd = s.head_dim;
    add(path, 4.0 * b * s.q_heads * hd * pairs,
        2.0 * b * s.new_tokens * s.q_heads * hd * e_ + 2.0 * b * s.kv_heads * keys * hd * e_,
        2.0 * b * s.kv_heads * std::max(0, s.past - first_key) * hd * e_);  // cold: written by earlier passes
  }

  void head(const std::string& pass_name, int seqs, int new_tokens) {
    const double rows = seqs, h = d_.hidden;
    if (new_tokens > 1) add(pass_name + "/head/select", 0, 2 * rows * h * e_);
    add(pass_name + "/head/norm", 0, 2 * rows * h * e_ + norm_params(), norm_params());
    if (d_.tp_sum)
      gemm(pass_name + "/head/gemm", rows, m_.vocab, d_.hidden_part);
    else
      gemm(pass_name + "/head/gemm", rows, d_.vocab_part, h);
  }

  void merge(const std::string& pass_name) {
    const double logits = static_cast<double>(d_.batch) * m_.vocab * e_;
    if (d_.tp > 1 && !d_.tp_sum) add(pass_name + "/head/assemble", 0, 2 * logits);
    if (d_.ensemble) add(pass_name + "/merge/weight", 0, 2 * logits);
  }

  const ModelConfig& m_;
  const Dims& d_;
  double e_;
  int chunks_;  // column chunks of a row-parallel GEMM
  std::map<std::string, PhaseWork> work_;
};

}  // namespace

std::vector<AttentionShape> attention_shapes(const ModelConfig& model, const ConfigPoint& point,
                                             const ShardPlan& shard) {
  const Dims d = local_dims(model, point, shard);
  std::vector<AttentionShape> shapes;
  std::set<int> sizes;
  for (int mb = 0; mb < shard.microbatches; ++mb) sizes.insert(microbatch_range(shard, mb).size());
  for (int seqs : sizes) {
    if (seqs == 0 || d.local_layers == 0) continue;
    shapes.push_back(attention_shape(d, seqs, d.prompt, 0));
    if (point.workload.gen > 1) shapes.push_back(attention_shape(d, seqs, 1, d.prompt));
  }
  return shapes;
}

std::vector<PhaseWork> phase_work(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                  DType dtype, int overlap_chunks) {
  const Dims d = local_dims(model, point, shard);
  WorkModel work(model, d, dtype_size(dtype), overlap_chunks);
  work.pass("prefill", shard, d.prompt, 0);
  for (int step = 1; step < point.workload.gen; ++step) work.pass("decode", shard, 1, d.prompt + step - 1);
  return work.result();
}

}  // namespace llmt
