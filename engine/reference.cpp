#include "engine/reference.hpp"

#include "engine/traffic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/admission.hpp"
#include "engine/backends.hpp"
#include "engine/moe.hpp"
#include "engine/noise_cap.hpp"
#include "engine/process_world.hpp"
#include "engine/weights.hpp"
#include "model/rope.hpp"

namespace llmt {
namespace {

// The pass as a one-rank point whose prompt is every position of the sequences: its shard
// holds the whole model and its KV cache spans the whole context.
ConfigPoint full_pass_point(const Workload& w) {
  ConfigPoint p;
  p.strategy = "reference";
  p.workload = Workload{w.batch, w.context(), 1};
  return p;
}

// Rows of the embedding and LM head made at once: as many as one layer holds (at least 64,
// at most the vocabulary), so that neither table is ever whole unless it is small.
int vocab_block_rows(const ModelConfig& m, const Dims& d) {
  const std::size_t rows = std::max<std::size_t>(largest_layer_weight_elements(d) / nonneg(d.hidden), 64);
  return static_cast<int>(std::min<std::size_t>(rows, nonneg(m.vocab)));
}

struct PassSizes {
  std::size_t rows, x, qkv, attn, mlp_in, mlp_act, cache, aux_bytes, logits;
  std::size_t moe;  // the MoE workspace's elements (its tables are in aux_bytes)
};

// Every position of every sequence routed at once.
MoeShape pass_moe_shape(const ModelConfig& m, const Dims& d) { return moe_shape(m, d, d.context); }
// `logit_rows`: the positions whose logits the pass returns (LogitPositions::count).
PassSizes pass_sizes(const ModelConfig& m, const Dims& d, std::size_t logit_rows) {
  PassSizes s{};
  s.rows = sat_mul(nonneg(d.batch), nonneg(d.context));
  s.x = sat_mul(s.rows, nonneg(d.hidden));
  s.qkv = sat_mul(s.rows, nonneg(d.qkv_cols()));
  s.attn = sat_mul(s.rows, nonneg(d.q_heads), nonneg(d.head_dim));
  s.mlp_in = d.dense_mlp ? sat_mul(s.rows, nonneg(d.up_cols())) : 0;
  s.mlp_act = d.dense_mlp && !d.gpt2 ? sat_mul(s.rows, nonneg(d.intermediate)) : 0;
  s.cache = layer_sizes(d, d.moe).cache;
  // RoPE tables as float.
  // Token ids (and GPT-2's position ids) and the index of the rows whose logits are taken, as int32.
  s.aux_bytes = sat_add(sat_mul(s.rows, sizeof(std::int32_t), d.gpt2 ? 2 : 1), sat_mul(logit_rows, sizeof(std::int32_t)));
  if (!d.gpt2) s.aux_bytes = sat_add(s.aux_bytes, sat_mul(2, nonneg(d.context), nonneg(d.head_dim / 2), sizeof(float)));
  s.logits = sat_mul(logit_rows, nonneg(m.vocab));
  if (d.moe) {
    const MoeSizes z = moe_sizes(pass_moe_shape(m, d));
    s.moe = z.elements();
    s.aux_bytes = sat_add(s.aux_bytes, z.table_bytes());
  }
  return s;
}

class StreamedPass {
 public:
  StreamedPass(const ModelConfig& m, const LogitPositions& positions, const ExecutionOptions& exec, int member,
               Backend& be)
      : m_(m), wanted_(positions), point_(full_pass_point(positions.pass)), shard_(make_shard_plan(m, point_, 0)),
        d_(local_dims(m, point_, shard_)), be_(be), esize_(dtype_size(be.dtype())),
        builder_(m, point_, shard_, member_seed(exec.seed, member), be, exec.checkpoint.get()),
        sizes_(pass_sizes(m, d_, positions.count())), block_rows_(vocab_block_rows(m, d_)), routing_{exec.routing, exec.seed} {
    if (d_.moe) {
      routes_ = std::make_shared<ExpertChoices>(m.layers, d_.batch, d_.context, m.experts_per_token);
      routing_.record = routes_.get();
    }
    x_ = activations(sizes_.x);
    xn_ = activations(sizes_.x);
    proj_ = activations(sizes_.x);
    qkv_ = activations(sizes_.qkv);
    attn_ = activations(sizes_.attn);
    mlp_in_ = activations(sizes_.mlp_in);
    if (sizes_.mlp_act) mlp_act_ = activations(sizes_.mlp_act);
    if (d_.moe) moe_ = std::make_unique<MoeWorkspace>(be, pass_moe_shape(m, d_));
    k_cache_ = activations(sizes_.cache);
    v_cache_ = activations(sizes_.cache);
    upload_tables(exec.seed);
  }

  // x = the token embeddings (plus GPT-2's learned positions), one vocabulary block at a time:
  // each block fills the rows of its tokens and leaves the others zero.
  void embed() {
    const int rows = static_cast<int>(sizes_.rows);
    for (int v0 = 0; v0 < m_.vocab; v0 += block_rows_) {
      const Range block{v0, std::min(m_.vocab, v0 + block_rows_)};
      const DeviceBuffer table = builder_.embedding_rows(block);
      be_.embed(ints(tokens_), rows, table.get(), block.begin, block.end, d_.hidden, v0 == 0 ? x_.get() : proj_.get());
      if (v0 > 0) be_.add(x_.get(), proj_.get(), sizes_.x);
    }
    if (d_.gpt2) {
      const DeviceBuffer table = builder_.position_table();
      be_.embed(ints(positions_), rows, table.get(), 0, m_.max_positions, d_.hidden, proj_.get());
      be_.add(x_.get(), proj_.get(), sizes_.x);
    }
  }

  // Layer `l` over every position; its weights are freed on return.
  void layer(int l) {
    const LayerWeights L = builder_.layer(l);
    const int rows = static_cast<int>(sizes_.rows), h = d_.hidden, q_cols = d_.q_heads * d_.head_dim;
    const float eps = static_cast<float>(m_.norm_eps);
    const AttentionShape shape{d_.batch, d_.context, 0, d_.context, d_.q_heads, d_.kv_heads, d_.head_dim,
                               d_.q_per_kv, d_.window};
    norm(x_.get(), L.norm1_w, L.norm1_b, xn_.get(), rows);
    be_.gemm(rows, d_.qkv_cols(), h, xn_.get(), h, L.qkv_w.get(), h, qkv_.get(), d_.qkv_cols(), 0.0f);
    if (L.qkv_b) be_.add_bias(qkv_.get(), L.qkv_b.get(), rows, d_.qkv_cols());
    if (L.q_norm_w)
      be_.head_rms_norm(qkv_.get(), L.q_norm_w.get(), L.k_norm_w.get(), rows, d_.q_heads, d_.kv_heads, d_.head_dim, eps);
    if (d_.gpt2)
      be_.store_kv(qkv_.get(), k_cache_.get(), v_cache_.get(), shape);
    else
      be_.rope_store_kv(qkv_.get(), k_cache_.get(), v_cache_.get(), shape, floats(rope_cos_), floats(rope_sin_));
    be_.attention(qkv_.get(), k_cache_.get(), v_cache_.get(), attn_.get(), shape);
    be_.gemm(rows, h, q_cols, attn_.get(), q_cols, L.out_w.get(), q_cols, proj_.get(), h, 0.0f);
    be_.add_norm(x_.get(), proj_.get(), L.out_b.get(), L.norm2_w.get(), L.norm2_b.get(), xn_.get(), rows, h, eps,
                 d_.gpt2);
    if (m_.moe_layer(l)) {
      moe_forward(be_, moe_weights(L), routing_, l,
                  TokenRows{0, d_.batch, d_.context, 0}, xn_.get(), proj_.get(), *moe_, MoePhases{}, nullptr);
      be_.add(x_.get(), proj_.get(), sizes_.x);
      return;
    }
    be_.gemm(rows, d_.up_cols(), h, xn_.get(), h, L.up_w.get(), h, mlp_in_.get(), d_.up_cols(), 0.0f);
    void* act = d_.gpt2 ? mlp_in_.get() : mlp_act_.get();
    if (L.up_b) be_.add_bias(mlp_in_.get(), L.up_b.get(), rows, d_.up_cols());
    if (d_.gpt2) {
      be_.gelu(mlp_in_.get(), sat_mul(nonneg(rows), nonneg(d_.intermediate)), m_.gelu);
    } else {
      be_.silu_mul(mlp_in_.get(), act, rows, d_.intermediate);
    }
    be_.gemm(rows, h, d_.intermediate, act, d_.intermediate, L.down_w.get(), d_.intermediate, proj_.get(), h, 0.0f);
    be_.add(x_.get(), proj_.get(), sizes_.x);
    if (L.down_b) be_.add_bias(x_.get(), L.down_b.get(), rows, h);
  }

  // The final norm and LM head at the positions whose logits the run produces: the last
  // prompt position (step 0) and every fed decode token, as [step][batch][vocab].
  std::shared_ptr<const ExpertChoices> routes() const { return routes_; }

  StepLogits head() {
    const int h = d_.hidden, rows = static_cast<int>(wanted_.count());
    std::vector<std::int32_t> index;
    for (const auto& group : wanted_.groups)
      for (const auto& [sequence, position] : group) index.push_back(sequence * d_.context + position);
    {
      const DeviceBuffer table = be_.upload_table(index);
      be_.gather_rows(xn_.get(), x_.get(), static_cast<const std::int32_t*>(table.get()), rows, h);
    }
    {
      DeviceBuffer final_w, final_b;
      builder_.final_norm(final_w, final_b);
      norm(xn_.get(), final_w, final_b, proj_.get(), rows);
    }
    const DeviceBuffer logits = activations(sizes_.logits);
    for (int v0 = 0; v0 < m_.vocab; v0 += block_rows_) {
      const Range block{v0, std::min(m_.vocab, v0 + block_rows_)};
      const DeviceBuffer weights = builder_.head_rows(block);
      be_.gemm(rows, block.size(), h, proj_.get(), h, weights.get(), h, at(logits, static_cast<std::size_t>(v0)),
               m_.vocab, 0.0f);
    }
    StepLogits out;
    std::size_t offset = 0;
    for (const auto& group : wanted_.groups) {
      const std::size_t n = group.size() * static_cast<std::size_t>(m_.vocab);
      out.emplace_back(n);
      be_.copy_to_host(out.back().data(), at(logits, offset), n);
      offset += n;
    }
    return out;
  }

 private:
  DeviceBuffer activations(std::size_t n) { return be_.allocate(n, MemoryKind::activations); }
  char* at(const DeviceBuffer& b, std::size_t elements) const { return static_cast<char*>(b.get()) + elements * esize_; }
  static const std::int32_t* ints(const DeviceBuffer& b) { return static_cast<const std::int32_t*>(b.get()); }
  static const float* floats(const DeviceBuffer& b) { return static_cast<const float*>(b.get()); }

  void norm(const void* in, const DeviceBuffer& weight, const DeviceBuffer& bias, void* out, int rows) {
    if (d_.gpt2)
      be_.layer_norm(in, weight.get(), bias.get(), out, rows, d_.hidden, static_cast<float>(m_.norm_eps));
    else
      be_.rms_norm(in, weight.get(), out, rows, d_.hidden, static_cast<float>(m_.norm_eps));
  }

  // The same token ids the configurations feed (input_token), and positions 0..context-1.
  void upload_tables(std::uint64_t seed) {
    std::vector<std::int32_t> tokens, positions;
    for (int b = 0; b < d_.batch; ++b)
      for (int t = 0; t < d_.context; ++t) {
        tokens.push_back(input_token(seed, b, t, m_.vocab));
        positions.push_back(t);
      }
    tokens_ = be_.upload_table(tokens);
    if (d_.gpt2) {
      positions_ = be_.upload_table(positions);
      return;
    }
    const RopeTables rope = rope_tables(m_, d_.context);
    rope_cos_ = be_.upload_table(rope.cos);
    rope_sin_ = be_.upload_table(rope.sin);
  }

  const ModelConfig& m_;
  const LogitPositions wanted_;
  const ConfigPoint point_;
  const ShardPlan shard_;
  const Dims d_;
  Backend& be_;
  const std::size_t esize_;
  WeightBuilder builder_;
  const PassSizes sizes_;
  const int block_rows_;
  MoeRouting routing_;
  std::shared_ptr<ExpertChoices> routes_;  // what routing_ records
  std::unique_ptr<MoeWorkspace> moe_;
  DeviceBuffer x_, xn_, proj_, qkv_, attn_, mlp_in_, mlp_act_, k_cache_, v_cache_;
  DeviceBuffer tokens_, positions_, rope_cos_, rope_sin_;
};

}  // namespace

std::size_t LogitPositions::count() const {
  std::size_t n = 0;
  for (const auto& group : groups) n += group.size();
  return n;
}

LogitPositions LogitPositions::of_workload(const Workload& w) {
  LogitPositions p{w, {}};
  for (int s = 0; s < w.gen; ++s) {
    auto& step = p.groups.emplace_back();
    for (int b = 0; b < w.batch; ++b) step.emplace_back(b, w.prompt - 1 + s);
  }
  return p;
}

StreamedMemory predict_streamed_memory(const ModelConfig& model, const Workload& workload, DType dtype) {
  return predict_streamed_memory(model, LogitPositions::of_workload(workload), dtype);
}

StreamedMemory predict_streamed_memory(const ModelConfig& model, const LogitPositions& positions, DType dtype) {
  const ConfigPoint point = full_pass_point(positions.pass);
  const ShardPlan shard = make_shard_plan(model, point, 0);
  const Dims d = local_dims(model, point, shard);
  const PassSizes s = pass_sizes(model, d, positions.count());
  const std::size_t e = dtype_size(dtype);
  const std::size_t block = sat_mul(nonneg(vocab_block_rows(model, d)), nonneg(d.hidden));
  // Embedding: one block (GPT-2: then the position table); head: the final norm and one block.
  const std::size_t vocab_side = std::max(block, d.gpt2 ? sat_mul(nonneg(model.max_positions), nonneg(d.hidden)) : 0);
  const std::size_t norm = sat_mul(nonneg(d.hidden), d.gpt2 ? 2 : 1);
  StreamedMemory m;
  m.weights = sat_mul(std::max(largest_layer_weight_elements(d), sat_add(vocab_side, norm)), e);
  m.activations = sat_add(
      sat_mul(sat_add(sat_mul(3, s.x), s.qkv, s.attn, s.mlp_in, s.mlp_act, sat_mul(2, s.cache), s.moe), e), s.aux_bytes);
  m.logits = sat_mul(s.logits, e);
  return m;
}

StreamedLogits streamed_logits(const ModelConfig& model, const Workload& workload, const ExecutionOptions& exec,
                               int member, Backend& backend) {
  return streamed_logits(model, LogitPositions::of_workload(workload), exec, member, backend);
}

StreamedLogits streamed_logits(const ModelConfig& model, const LogitPositions& positions, const ExecutionOptions& exec,
                               int member, Backend& backend) {
  const auto start = std::chrono::steady_clock::now();
  backend.bind_thread();
  StreamedLogits out;
  out.predicted = predict_streamed_memory(model, positions, backend.dtype());
  {
    StreamedPass pass(model, positions, exec, member, backend);
    pass.embed();
    for (int l = 0; l < model.layers; ++l) pass.layer(l);
    out.logits = pass.head();
    out.routes = pass.routes();
  }
  backend.synchronize();
  out.peak_bytes = backend.memory().peak_total();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

ReferenceSet::ReferenceSet(const ModelConfig& model, const RunOptions& options, Progress progress)
    : model_(model), options_(options), progress_(std::move(progress)) {}

const VerificationReference& ReferenceSet::for_point(const ConfigPoint& point) {
  const std::string key = point.traffic ? point.traffic->requests->label() : point.workload.label();
  if (key != key_) {
    members_.clear();
    references_.clear();
    key_ = key;
    workload_ = point.workload;
    traffic_ = point.traffic ? point.traffic->requests : nullptr;
  }
  const int replicas = point.ensemble() ? point.layout.dp : 1;
  if (auto it = references_.find(replicas); it != references_.end()) return it->second;
  std::vector<const Member*> members;
  for (int k = 0; k < replicas; ++k) members.push_back(&member(k));
  return references_.emplace(replicas, combine(members)).first->second;
}

const ReferenceSet::Member& ReferenceSet::member(int k) {
  if (auto it = members_.find(k); it != members_.end()) return it->second;
  const std::string of = fmt::format("{}{}", key_, k > 0 ? fmt::format(", ensemble member {}", k) : "");
  const LogitPositions positions =
      traffic_ ? request_logit_positions(*traffic_) : LogitPositions::of_workload(workload_);
  const std::string dtype(dtype_name(options_.dtype));
  Member m;
  // Process mode: rank 0 alone verifies, so it alone computes references; every process still
  // joins the one-rank configuration (a collective), as rank 0 decides.
  const bool reporting = is_reporting_process();
  if (progress_) progress_("reference: streamed fp32 pass, " + of);
  if (reporting) {
    const std::unique_ptr<Backend> backend = make_backend(options_.backend, 0, DType::f32, options_.threads_per_rank);
    StreamedLogits s = streamed_logits(model_, positions, options_.exec, k, *backend);
    m.fp32 = std::move(s.logits);
    m.routes = std::move(s.routes);
    m.peak_bytes = s.peak_bytes;
  }
  if (traffic_ && options_.dtype == DType::f32) {  // the same pass again would give a floor of 0
    m.run_dtype = m.fp32;
    m.floor_source = "not measured: the run's dtype is the reference's (fp32), so the minimum floor applies";
    return members_.emplace(k, std::move(m)).first->second;
  }
  if (traffic_) {  // every request's positions in the run's dtype, as the fp32 pass computes them
    if (progress_) progress_(fmt::format("noise floor: streamed pass in {}, {}", dtype, of));
    if (reporting) {
      const std::unique_ptr<Backend> backend = make_backend(options_.backend, 0, options_.dtype, options_.threads_per_rank);
      m.run_dtype = streamed_logits(model_, positions, options_.exec, k, *backend).logits;
      m.floor_source = fmt::format("streamed pass in {} over the same requests", dtype);
    }
    return members_.emplace(k, std::move(m)).first->second;
  }
  if (progress_) progress_(fmt::format("noise floor: one rank in {}, {}", dtype, of));
  ConfigPoint one_rank;
  one_rank.strategy = "reference";
  one_rank.workload = workload_;
  MemoryAdmission fits = admit_memory(model_, one_rank, options_);
  if (ProcessWorld* world = process_world()) {  // rank 0's admission, so that every process joins alike
    const std::string refusal = world->broadcast(fits.refusal.value_or(""));
    fits.refusal = refusal.empty() ? std::nullopt : std::optional<std::string>(refusal);
  }
  if (!fits.refusal) {
    m.run_dtype = compute_reference(model_, workload_, with_forced_routes(options_, m.routes, false), k);
    m.floor_source = "one-rank configuration in " + dtype;
  } else if (reporting) {
    const std::unique_ptr<Backend> backend = make_backend(options_.backend, 0, options_.dtype, options_.threads_per_rank);
    m.run_dtype = streamed_logits(model_, workload_, options_.exec, k, *backend).logits;
    m.floor_source = fmt::format("streamed pass in {} (the one-rank configuration does not fit: {})", dtype,
                                 *fits.refusal);
  }
  return members_.emplace(k, std::move(m)).first->second;
}

VerificationReference ReferenceSet::combine(const std::vector<const Member*>& members) const {
  std::vector<const StepLogits*> fp32, run_dtype;
  std::size_t peak = 0;
  for (const Member* m : members) {
    fp32.push_back(&m->fp32);
    run_dtype.push_back(&m->run_dtype);
    peak = std::max(peak, m->peak_bytes);
  }
  const bool single = members.size() == 1;
  const std::vector<double>& weights = options_.exec.ensemble_weights;
  VerificationReference ref(single ? members.front()->fp32 : weighted_mean(fp32, weights),
                            fmt::format("streamed pass in fp32 on the {} backend, one layer at a time", options_.backend));
  ref.peak_bytes = peak;
  if (single) ref.routes = members.front()->routes;  // ensemble members route by weights of their own
  const int context = traffic_ ? traffic_->max_context() : workload_.context();
  ref.floor_cap = noise_floor_cap(model_, options_.dtype, context).value();
  if (!is_reporting_process()) return ref;  // process mode: rank 0 verifies
  ref.floor = measure_noise_floor(single ? members.front()->run_dtype : weighted_mean(run_dtype, weights), ref.logits,
                                  static_cast<std::size_t>(model_.vocab), members.front()->floor_source);
  return ref;
}

}  // namespace llmt
