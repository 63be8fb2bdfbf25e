#include "engine/transformer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "engine/async_comm.hpp"
#include "engine/layer_shapes.hpp"
#include "engine/moe.hpp"
#include "engine/backends.hpp"
#include "engine/nvtx.hpp"
#include "engine/weights.hpp"
#include "model/math.hpp"
#include "model/rope.hpp"

namespace llmt {
namespace {

struct ActivationSizes {
  std::size_t x, xn, qkv, attn, proj, mlp_in, mlp_act, last, last_norm, logits_local, staging, logits_tp, logits_out;
  std::size_t moe;        // the MoE workspace (engine/moe.hpp), in elements
  std::size_t aux_bytes_moe;  // its int32 and float index tables
  std::size_t moe_exchange, moe_exchange_bytes;  // what the EP exchange receives (communication)
  std::size_t aux_bytes;  // float RoPE tables and int32 token and position tables, whatever the dtype
  std::size_t ps_staging;   // parameter-server staging on the root of a group (communication)
  std::size_t total_elements() const {
    return sat_add(x, xn, qkv, attn, proj, mlp_in, mlp_act, last, last_norm, logits_local, staging, logits_tp,
                   logits_out, moe);
  }
};
// The MoE workspace of a rank: every token of its largest step (prefill) routed at once.
MoeShape moe_shape(const ModelConfig& m, const Dims& d) { return moe_shape(m, d, d.prompt); }

// The parameter server's staging buffer, on the root of a group (both workload kinds).
ActivationSizes with_ps_staging(ActivationSizes a, const Dims& d, std::size_t rows, std::size_t h, std::size_t b,
                               std::size_t full_vocab) {
  if (d.sync == SyncMode::param_server) {
    if (d.tp > 1 && d.tp_index == 0)
      a.ps_staging = std::max(sat_mul(rows, h), d.last_stage && d.tp_sum ? sat_mul(b, full_vocab) : 0);
    if (d.last_stage && d.ensemble && d.dp_index == 0) a.ps_staging = std::max(a.ps_staging, sat_mul(b, full_vocab));
  }
  return a;
}

ActivationSizes activation_sizes(const ModelConfig& m, const Dims& d) {
  const std::size_t rows = sat_mul(nonneg(d.batch), nonneg(d.prompt));  // prefill is the largest step
  const std::size_t h = nonneg(d.hidden);
  const std::size_t b = nonneg(d.batch);
  const std::size_t full_vocab = nonneg(m.vocab);
  ActivationSizes a{};
  a.x = sat_mul(rows, h);
  a.xn = sat_mul(rows, h);
  a.qkv = sat_mul(rows, nonneg(d.qkv_cols()));
  a.attn = sat_mul(rows, nonneg(d.q_heads), nonneg(d.head_dim));
  a.proj = sat_mul(rows, h);
  a.mlp_in = d.dense_mlp ? sat_mul(rows, nonneg(d.up_cols())) : 0;
  a.mlp_act = d.dense_mlp && !d.gpt2 ? sat_mul(rows, nonneg(d.intermediate)) : 0;  // GELU runs in place
  if (d.moe && d.local_layers > 0) {
    const MoeSizes z = moe_sizes(moe_shape(m, d));
    a.moe = z.elements();
    a.aux_bytes_moe = z.table_bytes();
    a.moe_exchange = z.exchange_elements();
    a.moe_exchange_bytes = z.exchange_table_bytes;
  }
  if (d.last_stage) {
    a.last = sat_mul(b, h);
    a.last_norm = sat_mul(b, h);
    a.logits_local = sat_mul(b, nonneg(d.logits_cols(m.vocab)));
    const bool gather = d.tp > 1 && !d.tp_sum;
    a.staging = gather ? sat_mul(b, full_vocab) : 0;
    a.logits_tp = gather ? sat_mul(b, full_vocab) : 0;
    a.logits_out = d.dp > 1 && !d.ensemble && !d.ragged ? sat_mul(nonneg(d.global_batch), full_vocab) : 0;
  }
  a.aux_bytes = sat_add(a.aux_bytes_moe, d.gpt2 ? 0 : sat_mul(2, nonneg(d.context), nonneg(d.head_dim / 2), sizeof(float)));
  // Token ids of every step in device memory (no host copy inside a step), the pipeline's
  // feedback slots, and GPT-2's position ids.
  // A ragged step's ids (and GPT-2's positions) are made per step, at most `rows` of them, and
  // the last stage gathers the emitting rows by an index of at most `b`.
  if (d.ragged) {
    const std::size_t step_ids = sat_mul(rows, sizeof(std::int32_t));
    if (d.first_stage) a.aux_bytes = sat_add(a.aux_bytes, step_ids, d.gpt2 ? step_ids : 0);
    if (d.last_stage) a.aux_bytes = sat_add(a.aux_bytes, sat_mul(b, sizeof(std::int32_t)));
    return with_ps_staging(a, d, rows, h, b, full_vocab);
  }
  const std::size_t steps_ids = sat_mul(b, nonneg(d.context - d.prompt));
  const std::size_t ids_bytes = sat_mul(sat_add(sat_mul(b, nonneg(d.prompt)), steps_ids), sizeof(std::int32_t));
  if (d.first_stage || d.last_stage) a.aux_bytes = sat_add(a.aux_bytes, ids_bytes);
  if (d.pp > 1 && d.first_stage) a.aux_bytes = sat_add(a.aux_bytes, sat_mul(b, sizeof(std::int32_t)));
  if (d.first_stage && d.gpt2) a.aux_bytes = sat_add(a.aux_bytes, ids_bytes);
  return with_ps_staging(a, d, rows, h, b, full_vocab);
}

std::string gemm_detail(const std::vector<GemmShape>& shapes, const std::string& phase) {
  for (const GemmShape& g : shapes)
    if (g.phase == phase) return fmt::format("m={} n={} k={}", g.m, g.n, g.k);
  return {};
}

}  // namespace


MemoryPlan plan_rank_memory(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard, DType dtype) {
  const Dims d = local_dims(model, point, shard);
  const std::size_t e = dtype_size(dtype);
  const GlobalSizes g = global_sizes(model, d);
  MemoryPlan plan;
  std::size_t layers = 0;
  for (int l = shard.layers.begin; l < shard.layers.end; ++l)
    layers = sat_add(layers, layer_weight_elements(d, model.moe_layer(l)));
  plan.weights = sat_mul(sat_add(layers, g.embed, g.positions,
                                 g.final_norm, g.head),
                         e);
  plan.kv_cache = sat_mul(d.local_layers, 2, layer_sizes(d, d.moe).cache, e);
  const ActivationSizes a = activation_sizes(model, d);
  plan.activations = sat_add(sat_mul(a.total_elements(), e), a.aux_bytes);
  plan.communication =
      sat_add(sat_mul(sat_add(a.ps_staging, a.moe_exchange), e), a.moe_exchange_bytes, run_control_bytes(point));
  // total() adds the four; keep their sum representable too.
  const std::size_t quarter = kSizeMax / 4;
  plan.weights = std::min(plan.weights, quarter);
  plan.kv_cache = std::min(plan.kv_cache, quarter);
  plan.activations = std::min(plan.activations, quarter);
  plan.communication = std::min(plan.communication, quarter);
  return plan;
}

std::size_t run_control_bytes(const ConfigPoint& point) {
  return sat_mul(nonneg(point.layout.ranks()), sizeof(float));
}

RankComms RankComms::split(Communicator& world, const ShardPlan& s) {
  const Layout& l = s.layout;
  const RankCoords& c = s.coords;
  RankComms comms;
  comms.world = &world;
  comms.tp = world.split(group_instance(l, c, "tp"), c.tp);
  comms.pp = world.split(group_instance(l, c, "pp"), c.pp);
  comms.dp = world.split(group_instance(l, c, "dp"), c.dp);
  return comms;
}

struct TransformerRank::Impl {
  struct KvCache {
    DeviceBuffer k, v;
  };
  // The phases of one reduction site; which ones are used depends on the sync mode.
  struct ReducePhases {
    PhaseId op = 0;            // blocking all-reduce
    PhaseId wait = 0;          // overlap: waiting for the background all-reduces
    PhaseId background = 0;    // overlap: the all-reduces themselves, on the communication thread
    PhaseId ps_reduce = 0;     // param-server: partial results sent to the root, summed there
    PhaseId ps_broadcast = 0;  // param-server: the sum sent back from the root
  };
  struct LayerPhases {
    PhaseId norm1, qkv, qkv_bias, qk_norm, rope_kv_store, kv_store, attn, out, residual1, residual_norm1;
    PhaseId norm2, up, act, down, residual2, residual_norm2;
    PhaseId moe_router, moe_dispatch, moe_experts, moe_shared, moe_combine, moe_counts, moe_send, moe_return;
    ReducePhases out_sync, down_sync;
  };
  struct PassPhases {
    PhaseId embed, positions, recv, send, feedback_send, feedback_recv;
    PhaseId step_tables;  // a ragged step's token ids, positions and emitting rows, made and uploaded
    ReducePhases embed_sync, head_sync, mean_sync;
    std::vector<LayerPhases> layers;
    PhaseId select, final_norm, head, gather, assemble, scale, concat;
  };

  const ModelConfig& m;
  const ConfigPoint point;
  const ShardPlan shard;
  const ExecutionOptions opts;
  Backend& be;
  RankComms& comms;
  Timeline& tl;
  const Dims d;
  const DType dtype;
  const std::size_t esize;

  std::shared_ptr<const WeightSet> w;
  std::vector<KvCache> caches;
  DeviceBuffer rope_cos, rope_sin, feedback, ps_staging;
  // int32 tables in backend memory: prompt ids [batch][prompt], decode ids [step - 1][batch],
  // and for GPT-2 the matching position ids.
  DeviceBuffer prompt_ids, decode_ids, prompt_positions, decode_positions;
  // Ragged steps: ids and positions of the packed rows, the rows whose logits are taken.
  DeviceBuffer step_ids, step_positions, emit_rows;
  int emitted = 0;  // emitting pieces of the last ragged step
  std::set<std::pair<int, int>> prepared_pieces;  // (tokens, past) shapes prepared for ragged steps
  DeviceBuffer x, xn, qkv, attn, proj, mlp_in, mlp_act, last, last_norm, logits_local, staging, logits_tp, logits_out;
  std::unique_ptr<AsyncReducer> async;
  PassPhases phases[2];  // prefill, decode
  std::vector<const void*> layer_names[2];  // NVTX names "prefill/layer.3"
  std::vector<std::int32_t> prompt_tokens, decode_tokens;  // host copies of the tables
  std::vector<std::size_t> dp_gather_counts;
  float ensemble_weight = 1.0f;
  const bool fused_norms;  // residual + next norm in one call (fuses_residual_norm)
  std::vector<AttentionUse> attention_uses;
  std::unique_ptr<MoeWorkspace> moe_ws;
  bool count_routing = false;
  // Per local layer, tokens routed to each expert: by the prefill, and by the decode steps.
  std::vector<std::vector<long long>> expert_tokens, expert_tokens_decode;
  RoutingAgreement routing_agreement;

  Impl(const ModelConfig& model, const ConfigPoint& p, const ShardPlan& s, const ExecutionOptions& o,
       std::shared_ptr<const WeightSet> weights, Backend& backend, RankComms& c, Timeline& timeline, PhaseTable& table)
      : m(model), point(p), shard(s), opts(o), be(backend), comms(c), tl(timeline), d(local_dims(model, p, s)),
        dtype(backend.dtype()), esize(dtype_size(backend.dtype())), w(std::move(weights)),
        fused_norms(fuses_residual_norm(d)) {
    register_phases(table);
    allocate_state();
    if (d.ragged) {
      allocate_step_tables();
    } else {
      make_token_tables();
      upload_token_tables();
    }
    for (int r = 0; r < d.dp; ++r)
      dp_gather_counts.push_back(static_cast<std::size_t>(split_range(d.global_batch, d.dp, r).size()) * m.vocab);
    if (d.ensemble) {
      double total = 0;
      for (int r = 0; r < d.dp; ++r) total += opts.ensemble_weights.empty() ? 1.0 : opts.ensemble_weights[r];
      const double mine = opts.ensemble_weights.empty() ? 1.0 : opts.ensemble_weights[d.dp_index];
      ensemble_weight = static_cast<float>(mine / total);
    }
    if (d.sync == SyncMode::overlap && d.tp > 1) async = make_async_reducer(be.name(), *comms.tp, be);
    if (!d.ragged) prepare_attention();
  }

  // Chooses every attention kernel (cuDNN builds its graphs) now, outside the timed iterations.
  void prepare_attention() {
    for (const AttentionShape& shape : attention_shapes(m, point, shard)) {
      const AttentionPlan plan = be.prepare_attention(shape, opts.attention);
      const std::string pass = shape.decode() ? "decode" : "prefill";
      auto same = [&](const AttentionUse& u) { return u.pass == pass && u.kernel == plan.kernel; };
      if (std::none_of(attention_uses.begin(), attention_uses.end(), same))
        attention_uses.push_back({pass, plan.kernel, plan.why});
    }
  }

  char* at(const DeviceBuffer& b, std::size_t elements) const { return static_cast<char*>(b.get()) + elements * esize; }

  // ---- set-up -------------------------------------------------------------------------

  // The phases of layer `l`, registered through register_phases' helpers.
  LayerPhases layer_phases(int l, const std::vector<GemmShape>& shapes, const auto& compute, const auto& comm,
                           const auto& reduction) const {
    const std::string L = fmt::format("layer.{}/", l);
    const bool moe = m.moe_layer(l);
    LayerPhases lp{};
    lp.norm1 = compute(L + "attn/norm");
    lp.qkv = compute(L + "attn/qkv", gemm_detail(shapes, "attn/qkv"));
    lp.qkv_bias = compute(L + "attn/qkv_bias");
    lp.qk_norm = compute(L + "attn/qk_norm");
    lp.rope_kv_store = compute(L + "attn/rope_kv_store");
    lp.kv_store = compute(L + "attn/kv_store");
    lp.attn = compute(L + "attn/core");
    lp.out = compute(L + "attn/out", gemm_detail(shapes, "attn/out"));
    lp.out_sync = reduction(L + "attn/all_reduce", "tp", d.tp);
    lp.residual1 = compute(L + "attn/residual");
    lp.residual_norm1 = compute(L + "attn/residual_norm");
    lp.norm2 = compute(L + "mlp/norm");
    lp.up = compute(L + "mlp/up", gemm_detail(shapes, "mlp/up"));
    lp.act = compute(L + "mlp/act");
    lp.down = compute(L + "mlp/down", gemm_detail(shapes, "mlp/down"));
    lp.down_sync = reduction(L + "mlp/all_reduce", "tp", d.tp);
    lp.residual2 = compute(L + "mlp/residual");
    if (moe) {
      lp.moe_router = compute(L + "moe/router");
      lp.moe_dispatch = compute(L + "moe/dispatch");
      lp.moe_experts = compute(L + "moe/experts");
      lp.moe_shared = compute(L + "moe/experts_shared");
      lp.moe_combine = compute(L + "moe/combine");
    }
    if (moe && d.ep > 1) {  // the EP exchange (engine/moe.hpp)
      const bool a2a = d.dispatch == DispatchMode::alltoall;
      lp.moe_counts = comm(L + (a2a ? "moe/dispatch_counts" : "moe/dispatch_routes"), CommOp::all_gather, "ep", d.ep,
                           PhaseCategory::communication, true);
      lp.moe_send = comm(L + "moe/dispatch_exchange", a2a ? CommOp::all_to_all : CommOp::all_gather, "ep", d.ep,
                         PhaseCategory::communication, true);
      lp.moe_return = comm(L + "moe/combine_exchange", a2a ? CommOp::all_to_all : CommOp::reduce_scatter, "ep", d.ep,
                           PhaseCategory::communication, true);
    }
    lp.residual_norm2 = compute(L + "mlp/residual_norm");
    return lp;
  }

  void register_phases(PhaseTable& table) {
    const char* pass_names[2] = {"prefill", "decode"};
    for (int st = 0; st < 2; ++st) {
      const std::string pass_name = pass_names[st];
      const std::vector<GemmShape> shapes = local_gemm_shapes(d, d.batch * (st == 0 ? d.prompt : 1), m.vocab);
      auto compute = [&](const std::string& path, std::string detail = {}) {
        return table.add({pass_name + "/" + path, PhaseCategory::compute, CommOp::barrier, 1, "", std::move(detail)});
      };
      auto comm = [&](const std::string& path, CommOp op, const char* group, int size,
                      PhaseCategory category = PhaseCategory::communication, bool counts_in_total = true) {
        return table.add({pass_name + "/" + path, category, op, size, group, "", counts_in_total});
      };
      auto transfer = [&](const std::string& path) {
        return table.add({pass_name + "/" + path, PhaseCategory::transfer, CommOp::send_recv, d.pp, "pp", "", true});
      };
      // One reduction site: `path` names the blocking all-reduce; the other modes add suffixes.
      auto reduction = [&](const std::string& path, const char* group, int size) {
        ReducePhases r;
        r.op = comm(path, CommOp::all_reduce, group, size);
        r.wait = comm(path + "_wait", CommOp::all_reduce, group, size, PhaseCategory::communication, false);
        r.background = comm(path + "_async", CommOp::all_reduce, group, size, PhaseCategory::background);
        r.ps_reduce = comm(path + "_ps_reduce", CommOp::reduce, group, size);
        r.ps_broadcast = comm(path + "_ps_broadcast", CommOp::broadcast, group, size);
        return r;
      };
      PassPhases& P = phases[st];
      P.embed = compute("embed/lookup");
      P.embed_sync = reduction("embed/all_reduce", "tp", d.tp);
      P.positions = compute("embed/positions");
      P.step_tables = compute("embed/step_tables");
      P.recv = transfer("pipeline/recv");
      P.send = transfer("pipeline/send");
      P.feedback_send = transfer("pipeline/token_feedback_send");
      P.feedback_recv = transfer("pipeline/token_feedback_recv");
      for (int l = shard.layers.begin; l < shard.layers.end; ++l)
        P.layers.push_back(layer_phases(l, shapes, compute, comm, reduction));
      for (int l = shard.layers.begin; l < shard.layers.end; ++l)
        layer_names[st].push_back(nvtx::register_name(fmt::format("{}/layer.{}", pass_name, l)));
      P.select = compute("head/select");
      P.final_norm = compute("head/norm");
      P.head = compute("head/gemm", gemm_detail(shapes, "head/gemm"));
      P.gather = comm("head/all_gather", CommOp::all_gather, "tp", d.tp);
      P.assemble = compute("head/assemble");
      P.head_sync = reduction("head/all_reduce", "tp", d.tp);
      P.scale = compute("merge/weight");
      P.mean_sync = reduction("merge/mean", "dp", d.dp);
      P.concat = comm("merge/concat", CommOp::all_gather, "dp", d.dp);
    }
  }

  DeviceBuffer activations(std::size_t n) { return be.allocate(n, MemoryKind::activations); }

  // The rank's own state: KV cache, workspace, RoPE tables (the weights may be shared).
  void allocate_state() {
    const std::size_t cache = layer_sizes(d, d.moe).cache;
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
    ps_staging = be.allocate(a.ps_staging, MemoryKind::communication);
    if (a.moe > 0) {
      moe_ws = std::make_unique<MoeWorkspace>(be, moe_shape(m, d));
      expert_tokens.assign(d.local_layers, std::vector<long long>(static_cast<std::size_t>(d.experts), 0));
      expert_tokens_decode = expert_tokens;
    }
    if (!d.gpt2) upload_rope_tables();
    if (d.pp > 1 && d.first_stage)
      feedback = be.allocate_bytes(static_cast<std::size_t>(d.batch) * sizeof(std::int32_t), MemoryKind::activations);
  }

  DeviceBuffer int_table(const std::vector<std::int32_t>& values) { return be.upload_table(values); }

  void upload_token_tables() {
    if (!d.first_stage && !d.last_stage) return;
    prompt_ids = int_table(prompt_tokens);
    decode_ids = int_table(decode_tokens);
    if (d.first_stage && d.gpt2) {
      std::vector<std::int32_t> prefill_pos, decode_pos;
      for (int b = 0; b < d.batch; ++b)
        for (int t = 0; t < d.prompt; ++t) prefill_pos.push_back(t);
      for (int step = 1; step < point.workload.gen; ++step)
        for (int b = 0; b < d.batch; ++b) decode_pos.push_back(d.prompt + step - 1);
      prompt_positions = int_table(prefill_pos);
      decode_positions = int_table(decode_pos);
    }
  }

  void make_token_tables() {
    const int first = first_fed_sequence(shard, opts.fault);
    for (int b = 0; b < d.batch; ++b)
      for (int t = 0; t < d.prompt; ++t) prompt_tokens.push_back(input_token(opts.seed, first + b, t, m.vocab));
    for (int step = 1; step < point.workload.gen; ++step)
      for (int b = 0; b < d.batch; ++b)
        decode_tokens.push_back(input_token(opts.seed, first + b, d.prompt + step - 1, m.vocab));
  }

  void allocate_step_tables() {
    const std::size_t rows = static_cast<std::size_t>(d.batch) * d.prompt * sizeof(std::int32_t);
    if (d.first_stage) step_ids = be.allocate_bytes(rows, MemoryKind::activations);
    if (d.first_stage && d.gpt2) step_positions = be.allocate_bytes(rows, MemoryKind::activations);
    if (d.last_stage)
      emit_rows = be.allocate_bytes(static_cast<std::size_t>(d.batch) * sizeof(std::int32_t), MemoryKind::activations);
  }

  void upload_rope_tables() {
    const RopeTables tables = rope_tables(m, d.context);
    const bool swapped = opts.fault == FaultInjection::swapped_rope;
    rope_cos = be.upload_table(swapped ? tables.sin : tables.cos);
    rope_sin = be.upload_table(swapped ? tables.cos : tables.sin);
  }

  // ---- synchronisation ----------------------------------------------------------------

  // FaultInjection::dropped_all_reduce: the MLP sum of the rank's first layer, in either pass.
  bool dropped_by_fault(const ReducePhases& P) const {
    if (opts.fault != FaultInjection::dropped_all_reduce) return false;
    for (const PassPhases& pass : phases)
      if (!pass.layers.empty() && P.op == pass.layers.front().down_sync.op) return true;
    return false;
  }

  // Sums `count` elements of `buf` over `comm`'s group, as the sync mode says. Overlap has
  // nothing to hide a lone reduction behind, so it runs these blocking.
  void sum_over(Communicator& comm, void* buf, std::size_t count, const ReducePhases& P) {
    if (comm.size() == 1 || dropped_by_fault(P)) return;
    const std::uint64_t bytes = count * esize;
    if (d.sync != SyncMode::param_server) {
      ScopedPhase p(tl, P.op, bytes);
      comm.all_reduce(buf, buf, count, dtype, ReduceOp::sum);
      return;
    }
    // Parameter server: a star through rank 0 of the group, which does all the arithmetic. Bytes
    // as moved: the root receives (then sends) every other rank's S bytes, each other rank S.
    const int root = 0, n = comm.size();
    const std::uint64_t moved = comm.rank() == root ? static_cast<std::uint64_t>(n - 1) * bytes : bytes;
    {
      ScopedPhase p(tl, P.ps_reduce, moved);
      if (comm.rank() == root) {
        for (int src = 1; src < n; ++src) {
          comm.recv(ps_staging.get(), count, dtype, src);
          be.add(buf, ps_staging.get(), count);
        }
      } else {
        comm.send(buf, count, dtype, root);
      }
    }
    ScopedPhase p(tl, P.ps_broadcast, moved);
    if (comm.rank() == root) {
      for (int dst = 1; dst < n; ++dst) comm.send(buf, count, dtype, dst);
    } else {
      comm.recv(buf, count, dtype, root);
    }
  }

  // The residual step after a row-parallel block, and the norm that follows it (`norm_w`
  // null: none): x += out (+ bias); xn = norm(x). One fused call unless in overlap mode.
  struct Residual {
    PhaseId plain, fused, norm;
    const DeviceBuffer* bias;
    const DeviceBuffer *norm_w, *norm_b;
  };

  // out = a[rows, k] * W^T, W [h, k] row-parallel, summed over the TP group, then added to the
  // residual `x_rows` (and the next norm taken into `xn_rows`). In overlap mode the GEMM is cut
  // into column chunks whose all-reduces run on the communication thread while the next chunk
  // computes, and the residual is added chunk by chunk.
  void row_parallel(int rows, int k, const void* a, const void* weight, void* out, void* x_rows, void* xn_rows,
                    PhaseId gemm, const ReducePhases& sync, const Residual& r) {
    if (!async) {
      { ScopedPhase p(tl, gemm); be.gemm(rows, d.hidden, k, a, k, weight, k, out, d.hidden, 0.0f); }
      reduce_residual(rows, out, x_rows, xn_rows, sync, r);
      return;
    }
    const void* bias = r.bias && *r.bias ? r.bias->get() : nullptr;
    chunked_row_parallel(rows, k, a, weight, out, x_rows, gemm, sync, r.plain, bias);
    if (r.norm_w) {
      ScopedPhase p(tl, r.norm);
      norm(x_rows, *r.norm_w, *r.norm_b, xn_rows, rows);
    }
  }

  // The partial `out` of each TP rank summed over the group, then the residual step (and the
  // next norm), blocking.
  void reduce_residual(int rows, void* out, void* x_rows, void* xn_rows, const ReducePhases& sync, const Residual& r) {
    const std::size_t n = static_cast<std::size_t>(rows) * d.hidden;
    const void* bias = r.bias && *r.bias ? r.bias->get() : nullptr;
    sum_over(*comms.tp, out, n, sync);
    if (r.norm_w) {
      ScopedPhase p(tl, r.fused);
      be.add_norm(x_rows, out, bias, r.norm_w->get(), r.norm_b->get(), xn_rows, rows, d.hidden,
                  static_cast<float>(m.norm_eps), d.gpt2);
      return;
    }
    ScopedPhase p(tl, r.plain);
    be.add(x_rows, out, n);
    if (bias) be.add_bias(x_rows, bias, rows, d.hidden);
  }

  void chunked_row_parallel(int rows, int k, const void* a, const void* weight, void* out, void* x_rows,
                            PhaseId gemm, const ReducePhases& sync, PhaseId residual, const void* bias) {
    // Chunk c holds output columns [c0, c1) as a contiguous [rows, c1 - c0] block at out + rows * c0.
    const int chunks = std::max(1, std::min(opts.overlap_chunks, d.hidden));
    std::vector<std::uint64_t> tickets;
    for (int c = 0; c < chunks; ++c) {
      const Range cols = split_range(d.hidden, chunks, c);
      char* block = static_cast<char*>(out) + static_cast<std::size_t>(rows) * cols.begin * esize;
      {
        ScopedPhase p(tl, gemm);
        be.gemm(rows, cols.size(), k, a, k, static_cast<const char*>(weight) + std::size_t(cols.begin) * k * esize, k,
                block, cols.size(), 0.0f);
      }
      tickets.push_back(async->start_all_reduce(block, static_cast<std::size_t>(rows) * cols.size(), dtype));
    }
    {
      ScopedPhase p(tl, sync.wait);
      for (int c = 0; c < chunks; ++c) {
        const AsyncTiming t = async->wait(tickets[static_cast<std::size_t>(c)]);
        tl.record(sync.background, t.begin, t.end,
                  static_cast<std::uint64_t>(rows) * split_range(d.hidden, chunks, c).size() * esize);
      }
    }
    ScopedPhase p(tl, residual);
    for (int c = 0; c < chunks; ++c) {
      const Range cols = split_range(d.hidden, chunks, c);
      be.add_2d(static_cast<char*>(x_rows) + std::size_t(cols.begin) * esize, d.hidden,
                static_cast<char*>(out) + static_cast<std::size_t>(rows) * cols.begin * esize, cols.size(), rows,
                cols.size());
    }
    if (bias) be.add_bias(x_rows, bias, rows, d.hidden);
  }

  // ---- forward --------------------------------------------------------------------------

  void norm(const void* in, const DeviceBuffer& weight, const DeviceBuffer& bias, void* out, int rows) {
    if (d.gpt2)
      be.layer_norm(in, weight.get(), bias.get(), out, rows, d.hidden, static_cast<float>(m.norm_eps));
    else
      be.rms_norm(in, weight.get(), out, rows, d.hidden, static_cast<float>(m.norm_eps));
  }

  // The EP group of an MoE call of `new_tokens` positions per sequence (the dp group, whose
  // replicas each route their whole batch: expert parallelism has no pipeline micro-batches).
  MoeGroup ep_group(int new_tokens) const {
    MoeGroup g;
    if (d.ep == 1) return g;
    g.comm = comms.dp.get();
    for (int r = 0; r < d.dp; ++r) g.rows.push_back(split_range(d.global_batch, d.dp, r).size() * new_tokens);
    return g;
  }

  // One attention call of a step: its shape, its first row in the step's buffers, and the offset
  // of its sequences' keys and values in the caches.
  struct AttentionCall {
    AttentionShape shape;
    std::size_t row0 = 0, cache0 = 0;
  };
  // The rows one pass through the layers works on: a micro-batch of equal sequences (one
  // attention call), or the packed pieces of a ragged step (one call per piece).
  struct StepRows {
    std::size_t row0 = 0;  // first row in the activation buffers
    int rows = 0;
    Range seqs;  // equal sequences: the replica's sequences of the micro-batch
    int new_tokens = 0, past = 0;
    std::vector<AttentionCall> calls;
    std::span<const StepPiece> pieces;  // ragged: the pieces, packed from row0 in order
  };

  std::size_t cache_offset(int sequence_row) const {
    return static_cast<std::size_t>(sequence_row) * d.kv_heads * d.context * d.head_dim;
  }

  StepRows equal_rows(Range seqs, int new_tokens, int past) const {
    StepRows r;
    r.row0 = static_cast<std::size_t>(seqs.begin) * new_tokens;
    r.rows = seqs.size() * new_tokens;
    r.seqs = seqs;
    r.new_tokens = new_tokens;
    r.past = past;
    r.calls.push_back({attention_shape(d, seqs.size(), new_tokens, past), r.row0, cache_offset(seqs.begin)});
    return r;
  }

  StepRows ragged_rows(std::span<const StepPiece> pieces, std::size_t row0) const {
    StepRows r;
    r.row0 = row0;
    r.pieces = pieces;
    for (const StepPiece& piece : pieces) {
      r.calls.push_back({attention_shape(d, 1, piece.tokens, piece.first_position), row0 + r.rows, cache_offset(piece.slot)});
      r.rows += piece.tokens;
    }
    return r;
  }

  // RoPE and the KV store, then attention, for every call of the step.
  void attend(const LayerPhases& P, const KvCache& cache, const StepRows& r) {
    {
      ScopedPhase p(tl, d.gpt2 ? P.kv_store : P.rope_kv_store);
      for (const AttentionCall& c : r.calls) {
        void* q = at(qkv, c.row0 * d.qkv_cols());
        if (d.gpt2)
          be.store_kv(q, at(cache.k, c.cache0), at(cache.v, c.cache0), c.shape);
        else
          be.rope_store_kv(q, at(cache.k, c.cache0), at(cache.v, c.cache0), c.shape,
                           static_cast<const float*>(rope_cos.get()), static_cast<const float*>(rope_sin.get()));
      }
    }
    ScopedPhase p(tl, P.attn);
    for (const AttentionCall& c : r.calls)
      be.attention(at(qkv, c.row0 * d.qkv_cols()), at(cache.k, c.cache0), at(cache.v, c.cache0),
                   at(attn, c.row0 * d.q_heads * d.head_dim), c.shape);
  }

  // Layer `index` on the rows `r` of the replica (a micro-batch, or a ragged step).
  void layer_forward(int pass, std::size_t index, const StepRows& r) {
    const nvtx::Range layer_range(layer_names[pass][index], nvtx::Color::structure, shard.layers.begin + index);
    const LayerWeights& L = w->layers[index];
    const LayerPhases& P = phases[pass].layers[index];
    const int rows = r.rows;
    const std::size_t row0 = r.row0;
    void* xr = at(x, row0 * d.hidden);
    void* xnr = at(xn, row0 * d.hidden);
    void* qkvr = at(qkv, row0 * d.qkv_cols());
    void* attnr = at(attn, row0 * d.q_heads * d.head_dim);
    void* projr = at(proj, row0 * d.hidden);

    // The first layer normalises its input; later ones find it normalised by the previous
    // layer's fused residual step.
    if (index == 0 || !fused_norms) { ScopedPhase p(tl, P.norm1); norm(xr, L.norm1_w, L.norm1_b, xnr, rows); }
    { ScopedPhase p(tl, P.qkv); be.gemm(rows, d.qkv_cols(), d.hidden, xnr, d.hidden, L.qkv_w.get(), d.hidden, qkvr, d.qkv_cols(), 0.0f); }
    if (L.qkv_b) { ScopedPhase p(tl, P.qkv_bias); be.add_bias(qkvr, L.qkv_b.get(), rows, d.qkv_cols()); }
    if (L.q_norm_w) {
      ScopedPhase p(tl, P.qk_norm);
      be.head_rms_norm(qkvr, L.q_norm_w.get(), L.k_norm_w.get(), rows, d.q_heads, d.kv_heads, d.head_dim,
                       static_cast<float>(m.norm_eps));
    }
    attend(P, caches[index], r);
    row_parallel(rows, d.q_heads * d.head_dim, attnr, L.out_w.get(), projr, xr, xnr, P.out, P.out_sync,
                 {P.residual1, P.residual_norm1, P.norm2, &L.out_b, &L.norm2_w, &L.norm2_b});

    // Fused: the residual step after the MLP also normalises the next layer's input.
    const LayerWeights* next = fused_norms && index + 1 < w->layers.size() ? &w->layers[index + 1] : nullptr;
    const Residual after{P.residual2, P.residual_norm2, 0, &L.down_b, next ? &next->norm1_w : nullptr,
                         next ? &next->norm1_b : nullptr};
    if (m.moe_layer(shard.layers.begin + static_cast<int>(index))) {
      // Ragged steps never reach here: layout_problem refuses MoE models for request lists.
      const TokenRows tokens{shard.batch.begin + r.seqs.begin, r.seqs.size(), r.new_tokens, r.past};
      const MoeRouting routing{opts.routing, opts.seed, opts.fault == FaultInjection::wrong_expert, nullptr,
                               opts.forced_routes.get(), count_routing ? &routing_agreement : nullptr};
      moe_forward(be, moe_weights(L), routing, shard.layers.begin + static_cast<int>(index), tokens, xnr, projr, *moe_ws,
                  MoePhases{&tl, P.moe_router, P.moe_dispatch, P.moe_experts, P.moe_combine, P.moe_counts, P.moe_send,
                            P.moe_return, P.moe_shared},
                  count_routing ? &(r.past > 0 ? expert_tokens_decode : expert_tokens)[index] : nullptr,
                  ep_group(r.new_tokens));
      reduce_residual(rows, projr, xr, xnr, P.down_sync, after);
      return;
    }
    void* inr = at(mlp_in, row0 * d.up_cols());
    void* actr = d.gpt2 ? inr : at(mlp_act, row0 * d.intermediate);
    { ScopedPhase p(tl, P.up); be.gemm(rows, d.up_cols(), d.hidden, xnr, d.hidden, L.up_w.get(), d.hidden, inr, d.up_cols(), 0.0f); }
    {
      ScopedPhase p(tl, P.act);
      if (L.up_b) be.add_bias(inr, L.up_b.get(), rows, d.up_cols());
      if (d.gpt2) {
        be.gelu(inr, static_cast<std::size_t>(rows) * d.intermediate, m.gelu);
      } else {
        be.silu_mul(inr, actr, rows, d.intermediate);
      }
    }
    row_parallel(rows, d.intermediate, actr, L.down_w.get(), projr, xr, xnr, P.down, P.down_sync, after);
  }

  void embed_tokens(int pass, const std::int32_t* tokens, const StepRows& r) {
    const PassPhases& P = phases[pass];
    const int rows = r.rows;
    const std::size_t row0 = r.row0;
    void* xr = at(x, row0 * d.hidden);
    {
      ScopedPhase p(tl, P.embed);
      be.embed(tokens, rows, w->embed.get(), shard.vocab.begin, shard.vocab.end, d.hidden, xr);
    }
    // Vocabulary-parallel lookup: each rank holds some rows, the others contribute zeros.
    sum_over(*comms.tp, xr, static_cast<std::size_t>(rows) * d.hidden, P.embed_sync);
    if (d.gpt2) {
      ScopedPhase p(tl, P.positions);
      const std::int32_t* ids =
          d.ragged    ? int_at(step_positions, row0)
          : pass == 0 ? int_at(prompt_positions, row0)
                      : int_at(decode_positions, static_cast<std::size_t>(r.past - d.prompt) * d.batch + r.seqs.begin);
      void* pr = at(proj, row0 * d.hidden);
      be.embed(ids, rows, w->positions.get(), 0, m.max_positions, d.hidden, pr);
      be.add(xr, pr, static_cast<std::size_t>(rows) * d.hidden);
    }
  }

  // Final norm and LM head for the sequences `seqs`, into the rank's logits rows.
  void head_forward(int pass, Range seqs, int new_tokens) {
    const void* hidden = at(x, static_cast<std::size_t>(seqs.begin) * new_tokens * d.hidden);
    void* lastr = at(last, static_cast<std::size_t>(seqs.begin) * d.hidden);
    if (new_tokens > 1) {
      ScopedPhase p(tl, phases[pass].select);
      const std::size_t stride = static_cast<std::size_t>(new_tokens) * d.hidden;
      be.copy_2d(lastr, d.hidden, static_cast<const char*>(hidden) + (new_tokens - 1) * std::size_t(d.hidden) * esize, stride,
                 seqs.size(), d.hidden);
      hidden = lastr;
    }
    head_rows(pass, seqs.begin, seqs.size(), hidden);
  }

  // A ragged step's head: the last rows of its emitting pieces (emit_rows) gathered, in order.
  void ragged_head(int pass, int emitting) {
    if (emitting == 0) return;
    {
      ScopedPhase p(tl, phases[pass].select);
      be.gather_rows(last.get(), x.get(), int_at(emit_rows, 0), emitting, d.hidden);
    }
    head_rows(pass, 0, emitting, last.get());
  }

  // The final norm of `rows` last hidden states and the LM head, into the logits rows from `out0`.
  void head_rows(int pass, int out0, int rows, const void* hidden) {
    const PassPhases& P = phases[pass];
    void* normr = at(last_norm, static_cast<std::size_t>(out0) * d.hidden);
    { ScopedPhase p(tl, P.final_norm); norm(hidden, w->final_w, w->final_b, normr, rows); }
    ScopedPhase p(tl, P.head);
    const int cols = d.logits_cols(m.vocab);
    void* out = at(logits_local, static_cast<std::size_t>(out0) * cols);
    if (d.tp_sum)  // partial logits from this rank's slice of the hidden dimension
      be.gemm(rows, m.vocab, d.hidden_part, at(last_norm, static_cast<std::size_t>(out0) * d.hidden + shard.hidden.begin), d.hidden,
              w->head_weights, d.hidden_part, out, m.vocab, 0.0f);
    else
      be.gemm(rows, d.vocab_part, d.hidden, normr, d.hidden, w->head_weights, d.hidden, out, d.vocab_part, 0.0f);
  }

  // Combines the partial outputs of `rows` sequences into the merged logits [rows, vocab]. The
  // replicas of a ragged run keep their own outputs (no data-parallel merge).
  void merge_outputs(int pass, int rows) {
    const PassPhases& P = phases[pass];
    const std::size_t replica_elems = static_cast<std::size_t>(rows) * m.vocab;
    if (d.tp > 1 && d.tp_sum) {
      sum_over(*comms.tp, logits_local.get(), replica_elems, P.head_sync);
    } else if (d.tp > 1) {
      std::vector<std::size_t> counts;
      for (int t = 0; t < d.tp; ++t) counts.push_back(static_cast<std::size_t>(rows) * split_range(m.vocab, d.tp, t).size());
      {
        ScopedPhase p(tl, P.gather, replica_elems * esize);
        comms.tp->all_gather_v(logits_local.get(), staging.get(), counts, dtype);
      }
      // The gather yields [tp][rows][vocab shard]; reorder to [rows][vocab].
      ScopedPhase p(tl, P.assemble);
      std::size_t offset = 0;
      for (int t = 0; t < d.tp; ++t) {
        const Range v = split_range(m.vocab, d.tp, t);
        be.copy_2d(at(logits_tp, v.begin), m.vocab, at(staging, offset), v.size(), rows, v.size());
        offset += counts[static_cast<std::size_t>(t)];
      }
    }
    if (d.ragged) return;
    if (d.ensemble) {
      void* mine = const_cast<void*>(replica_logits());
      { ScopedPhase p(tl, P.scale); be.scale(mine, ensemble_weight, replica_elems); }
      sum_over(*comms.dp, mine, replica_elems, P.mean_sync);
    } else if (d.dp > 1) {
      ScopedPhase p(tl, P.concat, static_cast<std::size_t>(d.global_batch) * m.vocab * esize);
      comms.dp->all_gather_v(replica_logits(), logits_out.get(), dp_gather_counts, dtype);
    }
  }

  const void* replica_logits() const { return d.tp > 1 && !d.tp_sum ? logits_tp.get() : logits_local.get(); }

  // Pipelines pass each micro-batch on as soon as it is done. In decode, the first stage cannot
  // start a micro-batch before the last stage has produced its previous token: that token goes
  // back to it (teacher-forced ids, so every configuration computes the same sequence).
  // Token ids in backend memory for the sequences `seqs` of this step.
  const std::int32_t* first_stage_tokens(int pass, int step, Range seqs) {
    if (pass == 0) return int_at(prompt_ids, static_cast<std::size_t>(seqs.begin) * d.prompt);
    if (d.pp == 1) return int_at(decode_ids, static_cast<std::size_t>(step - 1) * d.batch + seqs.begin);
    return int_at(feedback, static_cast<std::size_t>(seqs.begin));
  }

  // With pipeline stages, a decode step starts on the first stage once the last stage has sent
  // back the tokens of every sequence: one message per step, after the last micro-batch. (Per
  // micro-batch feedback would interleave with the activation sends into a cycle that blocking
  // sends, like NCCL's, cannot get out of.) The ids travel as 4-byte elements labelled fp32:
  // the transfer only moves them.
  void receive_tokens(int pass) {
    if (d.pp == 1 || !d.first_stage || pass == 0) return;
    ScopedPhase p(tl, phases[pass].feedback_recv, static_cast<std::size_t>(d.batch) * sizeof(std::int32_t));
    comms.pp->recv(feedback.get(), static_cast<std::size_t>(d.batch), DType::f32, d.pp - 1);
  }

  void send_tokens(int pass, int step) {
    if (d.pp == 1 || !d.last_stage || step + 1 >= point.workload.gen) return;
    ScopedPhase p(tl, phases[pass].feedback_send, static_cast<std::size_t>(d.batch) * sizeof(std::int32_t));
    comms.pp->send(int_at(decode_ids, static_cast<std::size_t>(step) * d.batch), static_cast<std::size_t>(d.batch),
                   DType::f32, 0);
  }

  std::int32_t* int_at(const DeviceBuffer& b, std::size_t index) const {
    return static_cast<std::int32_t*>(b.get()) + index;
  }

  // One step (stage 0: prefill; 1: decode step `step`) through this rank's layers.
  void forward(int pass, int step, int new_tokens, int past) {
    const PassPhases& P = phases[pass];
    receive_tokens(pass);
    for (int mb = 0; mb < shard.microbatches; ++mb) {
      const Range seqs = microbatch_range(shard, mb);
      const std::size_t n = static_cast<std::size_t>(seqs.size()) * new_tokens * d.hidden;
      void* xr = at(x, static_cast<std::size_t>(seqs.begin) * new_tokens * d.hidden);
      if (d.first_stage) {
        embed_tokens(pass, first_stage_tokens(pass, step, seqs), equal_rows(seqs, new_tokens, past));
      } else {
        ScopedPhase p(tl, P.recv, n * esize);
        comms.pp->recv(xr, n, dtype, d.pp_index - 1);
      }
      const StepRows rows = equal_rows(seqs, new_tokens, past);
      for (std::size_t l = 0; l < caches.size(); ++l) layer_forward(pass, l, rows);
      if (!d.last_stage) {
        ScopedPhase p(tl, P.send, n * esize);
        comms.pp->send(xr, n, dtype, d.pp_index + 1);
        continue;
      }
      head_forward(pass, seqs, new_tokens);
    }
    send_tokens(pass, step);
    if (d.last_stage) merge_outputs(pass, d.batch);
  }

  // A ragged step (request-list workloads). layout_problem admits one pipeline stage only.
  void ragged_step(std::span<const StepPiece> pieces) {
    const bool prefill = std::any_of(pieces.begin(), pieces.end(),
                                     [](const StepPiece& p) { return p.tokens > 1 || p.first_position == 0; });
    const int pass = prefill ? 0 : 1;
    const StepRows rows = ragged_rows(pieces, 0);
    prepare_ragged_attention(rows);
    emitted = upload_step_tables(pass, rows);
    embed_tokens(pass, int_at(step_ids, 0), rows);
    for (std::size_t l = 0; l < caches.size(); ++l) layer_forward(pass, l, rows);
    ragged_head(pass, emitted);
    if (emitted > 0) merge_outputs(pass, emitted);  // the same on every tensor-parallel peer
  }

  // Attention kernels for shapes not seen before (cuDNN builds a graph per shape). The runner
  // prepares every step of the replica's schedule with all requests arrived at set-up
  // (ReplicaSchedule::prepare): every shape of an offline schedule; an open-loop schedule may
  // still meet a new prefill chunk here, built then (its step's time includes it).
  void prepare_ragged_attention(const StepRows& r) {
    for (const AttentionCall& c : r.calls) {
      if (!prepared_pieces.insert({c.shape.new_tokens, c.shape.decode() ? 1 : c.shape.past}).second) continue;
      const AttentionPlan plan = be.prepare_attention(c.shape, opts.attention);
      const std::string pass = c.shape.decode() ? "decode" : "prefill";
      auto same = [&](const AttentionUse& u) { return u.pass == pass && u.kernel == plan.kernel; };
      if (std::none_of(attention_uses.begin(), attention_uses.end(), same))
        attention_uses.push_back({pass, plan.kernel, plan.why});
    }
  }

  // The step's token ids (and GPT-2's positions) for its packed rows, and the rows whose logits
  // it emits; returns how many emit. Teacher-forced ids, as in equal steps: input_token.
  int upload_step_tables(int pass, const StepRows& r) {
    ScopedPhase p(tl, phases[pass].step_tables);
    std::vector<std::int32_t> ids, positions, emitting;
    int row = 0;
    for (const StepPiece& piece : r.pieces) {
      for (int t = 0; t < piece.tokens; ++t) {
        ids.push_back(input_token(opts.seed, piece.sequence, piece.first_position + t, m.vocab));
        positions.push_back(piece.first_position + t);
      }
      row += piece.tokens;
      if (piece.emits) emitting.push_back(row - 1);
    }
    auto upload = [&](const DeviceBuffer& to, const std::vector<std::int32_t>& v) {
      if (to && !v.empty()) be.upload_bytes(to.get(), v.data(), v.size() * sizeof(std::int32_t));
    };
    upload(step_ids, ids);
    upload(step_positions, positions);
    upload(emit_rows, emitting);
    return static_cast<int>(emitting.size());
  }
};

TransformerRank::TransformerRank(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                 const ExecutionOptions& options, std::shared_ptr<const WeightSet> weights,
                                 Backend& backend, RankComms& comms, Timeline& timeline, PhaseTable& phases)
    : impl_(std::make_unique<Impl>(model, point, shard, options, std::move(weights), backend, comms, timeline,
                                   phases)) {}

TransformerRank::~TransformerRank() = default;

void TransformerRank::prefill() { impl_->forward(0, 0, impl_->d.prompt, 0); }

void TransformerRank::decode(int step) { impl_->forward(1, step, 1, impl_->d.prompt + step - 1); }

void TransformerRank::step(std::span<const StepPiece> pieces) { impl_->ragged_step(pieces); }

void TransformerRank::prepare_step(std::span<const StepPiece> pieces) {
  impl_->prepare_ragged_attention(impl_->ragged_rows(pieces, 0));
}

bool TransformerRank::holds_output() const {
  const auto& c = impl_->shard.coords;
  return impl_->d.last_stage && c.tp == 0 && (c.dp == 0 || impl_->d.ragged);
}

std::vector<AttentionUse> TransformerRank::attention_uses() const { return impl_->attention_uses; }

void TransformerRank::count_routing(bool on) { impl_->count_routing = on; }

std::vector<std::vector<long long>> TransformerRank::expert_tokens() const {
  std::vector<std::vector<long long>> total = impl_->expert_tokens;
  for (std::size_t l = 0; l < total.size(); ++l)
    for (std::size_t e = 0; e < total[l].size(); ++e) total[l][e] += impl_->expert_tokens_decode[l][e];
  return total;
}
const std::vector<std::vector<long long>>& TransformerRank::expert_tokens_decode() const {
  return impl_->expert_tokens_decode;
}

const RoutingAgreement& TransformerRank::routing_agreement() const { return impl_->routing_agreement; }

const void* TransformerRank::logits() const {
  const auto& d = impl_->d;
  return d.dp > 1 && !d.ensemble && !d.ragged ? impl_->logits_out.get() : impl_->replica_logits();
}

}  // namespace llmt
