#include "engine/moe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include "engine/weights.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

std::size_t count(int v) { return v > 0 ? static_cast<std::size_t>(v) : 0; }

// Each token's k experts and their weights, row after row.
struct Choices {
  std::vector<int> expert;
  std::vector<float> weight;
};

// The forced experts `f` replace the own choice `c`, weighted by the router's probabilities of
// them (renormalised as route_by_router does); the own choice stays where it is the same.
void take_forced(const float* logits, int experts, int k, bool renormalise, const std::int32_t* f, int* c, float* w,
                 RoutingAgreement* agreement) {
  if (agreement) {
    ++agreement->compared;
    agreement->agreed += std::is_permutation(c, c + k, f);
  }
  if (std::equal(c, c + k, f)) return;
  const float top = *std::max_element(logits, logits + experts);
  double total = 0;
  for (int e = 0; e < experts; ++e) total += std::exp(static_cast<double>(logits[e]) - top);
  double chosen = 0;
  for (int j = 0; j < k; ++j) {
    c[j] = f[j];
    w[j] = static_cast<float>(std::exp(static_cast<double>(logits[f[j]]) - top) / total);
    chosen += w[j];
  }
  if (renormalise && chosen > 0)
    for (int j = 0; j < k; ++j) w[j] = static_cast<float>(w[j] / chosen);
}

// FaultInjection::wrong_expert: the expert after the token's first choice that it did not choose.
int next_unchosen(const int* chosen, int k, int experts) {
  for (int step = 1; step < experts; ++step) {
    const int e = (chosen[0] + step) % experts;
    if (std::find(chosen, chosen + k, e) == chosen + k) return e;
  }
  return chosen[0];
}

Choices choose(const MoeShape& s, const MoeRouting& routing, int layer, const TokenRows& tokens,
               const std::vector<float>& logits) {
  const int rows = tokens.rows(), k = s.top_k;
  Choices out{std::vector<int>(count(rows * k)), std::vector<float>(count(rows * k))};
  for (int r = 0; r < rows; ++r) {
    const float* l = logits.data() + static_cast<std::size_t>(r) * s.experts;
    int* c = out.expert.data() + static_cast<std::size_t>(r) * k;
    float* w = out.weight.data() + static_cast<std::size_t>(r) * k;
    const int seq = tokens.first_sequence + r / tokens.tokens, pos = tokens.first_position + r % tokens.tokens;
    if (routing.mode.kind == RoutingKind::model) {
      route_by_router(l, s.experts, k, s.renormalise, c, w);
      if (routing.record)
        if (std::int32_t* kept = routing.record->at(layer, seq, pos)) std::copy(c, c + k, kept);
      if (routing.forced)
        if (const std::int32_t* f = routing.forced->at(layer, seq, pos); f && f[0] >= 0)
          take_forced(l, s.experts, k, s.renormalise, f, c, w, routing.agreement);
    } else {
      route_by_law(routing.mode, routing_key(routing.seed, layer, seq, pos), l, s.experts, k, s.renormalise, c, w);
    }
    if (routing.wrong_expert) c[0] = next_unchosen(c, k, s.experts);
  }
  return out;
}

// The pairs (token, choice) whose expert is in `held`, ordered by expert (tokens in order within
// one, as a stable counting sort leaves them), and per token its choices by expert index (the
// order HuggingFace adds the experts' outputs in): the place of each pair, or `absent` with
// weight 0 for an expert not held.
struct RoutedTokens {
  std::vector<int> expert_offset;          // held experts + 1: first pair of each
  std::vector<std::int32_t> pair_token;    // per pair, its token row
  std::vector<std::int32_t> token_pair;    // per token and choice, its pair
  std::vector<float> token_weight;         // per token and choice, its weight
};

RoutedTokens order_by_expert(const Choices& c, int rows, int k, Range held, std::int32_t absent = -1) {
  RoutedTokens out;
  out.expert_offset.assign(count(held.size() + 1), 0);
  for (int e : c.expert)
    if (held.contains(e)) ++out.expert_offset[count(e - held.begin + 1)];
  std::partial_sum(out.expert_offset.begin(), out.expert_offset.end(), out.expert_offset.begin());
  std::vector<int> next(out.expert_offset.begin(), out.expert_offset.end() - 1);
  out.pair_token.resize(count(out.expert_offset.back()));
  out.token_pair.resize(count(rows * k));
  out.token_weight.resize(count(rows * k));
  std::vector<int> order(count(k));
  for (int r = 0; r < rows; ++r) {
    const int* chosen = c.expert.data() + static_cast<std::size_t>(r) * k;
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return chosen[a] < chosen[b]; });
    for (int j = 0; j < k; ++j) {
      const int choice = order[count(j)], e = chosen[choice];
      const std::size_t at = static_cast<std::size_t>(r) * k + j;
      if (!held.contains(e)) {
        out.token_pair[at] = absent;
        out.token_weight[at] = 0.0f;
        continue;
      }
      const int pair = next[count(e - held.begin)]++;
      out.pair_token[count(pair)] = r;
      out.token_pair[at] = pair;
      out.token_weight[at] = c.weight[static_cast<std::size_t>(r) * k + choice];
    }
  }
  return out;
}

class OptionalPhase {
 public:
  OptionalPhase(const MoePhases& p, PhaseId id, std::uint64_t bytes = 0) {
    if (p.timeline) phase_.emplace(*p.timeline, id, bytes);
  }

 private:
  std::optional<ScopedPhase> phase_;
};

// One call on one rank: the buffers, the backend, and the row arithmetic shared by the paths.
class MoeCall {
 public:
  MoeCall(Backend& be, const MoeWeights& w, MoeWorkspace& ws, const MoePhases& phases)
      : be_(be), w_(w), ws_(ws), s_(ws.shape), phases_(phases), esize_(dtype_size(be.dtype())) {}

  char* rows_of(const DeviceBuffer& b, std::size_t row, int width) const {
    return static_cast<char*>(b.get()) + row * count(width) * esize_;
  }
  const std::int32_t* ints(const DeviceBuffer& b) const { return static_cast<const std::int32_t*>(b.get()); }

  // The router's logits of `rows` tokens, on the host.
  std::vector<float> router_logits(const void* xn, int rows) {
    OptionalPhase p(phases_, phases_.router);
    std::vector<float> logits(count(rows) * count(s_.experts));
    be_.gemm(rows, s_.experts, s_.hidden, xn, s_.hidden, w_.router, s_.hidden, ws_.router_logits.get(), s_.experts,
             0.0f);
    be_.copy_to_host(logits.data(), ws_.router_logits.get(), logits.size());  // waits for the GEMM
    return logits;
  }

  void upload(const DeviceBuffer& dst, const void* values, std::size_t bytes) { be_.upload_bytes(dst.get(), values, bytes); }
  template <typename T>
  void upload(const DeviceBuffer& dst, const std::vector<T>& values) {
    be_.upload_bytes(dst.get(), values.data(), values.size() * sizeof(T));
  }

  // Each held expert's SiLU-gated MLP over its rows [offset[i], offset[i + 1]) of `in`, into
  // the same rows of expert_out.
  void experts(const void* in, const std::vector<int>& offset) {
    OptionalPhase p(phases_, phases_.experts);
    const int h = s_.hidden, inter = s_.intermediate;
    const std::size_t up_size = count(2 * inter) * count(h), down_size = count(h) * count(inter);
    for (std::size_t i = 0; i + 1 < offset.size(); ++i) {
      const auto first = count(offset[i]);
      const int n = offset[i + 1] - offset[i];
      if (n == 0) continue;
      be_.gemm(n, 2 * inter, h, static_cast<const char*>(in) + first * count(h) * esize_, h,
               static_cast<const char*>(w_.up) + i * up_size * esize_, h, rows_of(ws_.expert_up, first, 2 * inter),
               2 * inter, 0.0f);
      be_.silu_mul(rows_of(ws_.expert_up, first, 2 * inter), rows_of(ws_.expert_act, first, inter), n, inter);
      be_.gemm(n, h, inter, rows_of(ws_.expert_act, first, inter), inter,
               static_cast<const char*>(w_.down) + i * down_size * esize_, inter, rows_of(ws_.expert_out, first, h), h,
               0.0f);
    }
  }

  // out[rows] = each token's k expert rows of `src` summed with their weights.
  void combine(void* out, const void* src, const RoutedTokens& routed, int rows) {
    upload(ws_.combine_position, routed.token_pair);
    upload(ws_.combine_weight, routed.token_weight);
    be_.weighted_sum_rows(out, src, ints(ws_.combine_position), static_cast<const float*>(ws_.combine_weight.get()),
                          rows, s_.top_k, s_.hidden);
  }

  Backend& be_;
  const MoeWeights& w_;
  MoeWorkspace& ws_;
  const MoeShape& s_;
  const MoePhases& phases_;
  const std::size_t esize_;
};

// Without expert parallelism: every expert here, over this rank's tokens.
void forward_local(MoeCall& call, const Choices& chosen, int rows, const void* xn, void* out) {
  const MoeShape& s = call.s_;
  MoeWorkspace& ws = call.ws_;
  RoutedTokens routed;
  {
    OptionalPhase p(call.phases_, call.phases_.route);
    routed = order_by_expert(chosen, rows, s.top_k, s.held);
    call.upload(ws.gather_index, routed.pair_token);
    call.be_.gather_rows(ws.expert_in.get(), xn, call.ints(ws.gather_index), static_cast<int>(routed.pair_token.size()),
                         s.hidden);
  }
  call.experts(ws.expert_in.get(), routed.expert_offset);
  OptionalPhase p(call.phases_, call.phases_.combine);
  call.combine(out, ws.expert_out.get(), routed, rows);
}

// The EP group's per-expert counts [member][expert]. The int32 counts travel as 4-byte elements
// of type f32: the all-gather moves bytes, so they arrive exact.
std::vector<std::vector<int>> exchange_counts(MoeCall& call, Communicator& comm, const RoutedTokens& mine) {
  const int experts = call.s_.experts, members = comm.size();
  std::vector<std::int32_t> own(count(experts));
  for (int e = 0; e < experts; ++e) own[count(e)] = mine.expert_offset[count(e + 1)] - mine.expert_offset[count(e)];
  std::vector<std::int32_t> all(count(experts) * count(members));
  std::int32_t* table = static_cast<std::int32_t*>(call.ws_.exchange_table.get());
  call.upload(call.ws_.exchange_table, own);
  {
    OptionalPhase p(call.phases_, call.phases_.counts, all.size() * sizeof(std::int32_t));
    const std::vector<std::size_t> counts(count(members), count(experts));
    comm.all_gather_v(table, table + experts, counts, DType::f32);
  }
  call.be_.download_bytes(all.data(), table + experts, all.size() * sizeof(std::int32_t));
  std::vector<std::vector<int>> per_member(count(members), std::vector<int>(count(experts)));
  for (int m = 0; m < members; ++m)
    for (int e = 0; e < experts; ++e) per_member[count(m)][count(e)] = all[count(m) * count(experts) + count(e)];
  return per_member;
}

// Where the rows a member receives go: `received` holds, per source member, its rows for each
// held expert in expert order; the experts run on them regrouped by expert (sources in order).
struct Regrouping {
  std::vector<std::int32_t> to_local;     // per local row, its received row
  std::vector<std::int32_t> to_received;  // per received row, its local row
  std::vector<int> expert_offset;         // per held expert, its first local row
};

Regrouping regroup(const std::vector<std::vector<int>>& counts, Range held) {
  const std::size_t members = counts.size();
  std::vector<std::vector<int>> first(members, std::vector<int>(count(held.size())));  // received row of (src, e)
  int at = 0;
  for (std::size_t src = 0; src < members; ++src)
    for (int e = held.begin; e < held.end; ++e) {
      first[src][count(e - held.begin)] = at;
      at += counts[src][count(e)];
    }
  Regrouping g;
  g.to_received.resize(count(at));
  g.expert_offset.push_back(0);
  for (int e = held.begin; e < held.end; ++e) {
    for (std::size_t src = 0; src < members; ++src)
      for (int i = 0; i < counts[src][count(e)]; ++i) {
        const int received_row = first[src][count(e - held.begin)] + i;
        g.to_received[count(received_row)] = static_cast<std::int32_t>(g.to_local.size());
        g.to_local.push_back(received_row);
      }
    g.expert_offset.push_back(static_cast<int>(g.to_local.size()));
  }
  return g;
}

// Every member's workspace holds what the routing sends it (it does while a token's experts are
// distinct). Every member checks every member from the same counts, so all fail together.
void check_fits(const std::vector<std::vector<int>>& counts, const MoeShape& s) {
  const int members = static_cast<int>(counts.size());
  for (int m = 0; m < members; ++m) {
    const Range block = split_range(s.experts, members, m);
    long long rows = 0;
    for (const std::vector<int>& from : counts)
      for (int e = block.begin; e < block.end; ++e) rows += from[count(e)];
    if (rows > static_cast<long long>(s.max_group_rows) * std::min(s.top_k, block.size()))
      throw Error(fmt::format("MoE all-to-all: {} rows routed to EP rank {}, more than its workspace holds", rows, m));
  }
}

// Expert parallelism by all-to-all: each token's rows go to the members holding its experts
// and the results come back the same way.
void forward_alltoall(MoeCall& call, Communicator& comm, const Choices& chosen, int rows, const void* xn, void* out) {
  const MoeShape& s = call.s_;
  MoeWorkspace& ws = call.ws_;
  Backend& be = call.be_;
  const std::size_t row_elems = count(s.hidden);
  RoutedTokens routed;
  {
    OptionalPhase p(call.phases_, call.phases_.route);
    routed = order_by_expert(chosen, rows, s.top_k, Range{0, s.experts});
    call.upload(ws.gather_index, routed.pair_token);
    be.gather_rows(ws.expert_in.get(), xn, call.ints(ws.gather_index), static_cast<int>(routed.pair_token.size()),
                   s.hidden);
  }
  const std::vector<std::vector<int>> counts = exchange_counts(call, comm, routed);
  std::vector<std::size_t> send(counts.size()), recv(counts.size());
  for (std::size_t m = 0; m < counts.size(); ++m) {
    const Range block = split_range(s.experts, comm.size(), static_cast<int>(m));
    for (int e = block.begin; e < block.end; ++e) send[m] += count(counts[count(comm.rank())][count(e)]) * row_elems;
    for (int e = s.held.begin; e < s.held.end; ++e) recv[m] += count(counts[m][count(e)]) * row_elems;
  }
  const std::size_t sent = std::accumulate(send.begin(), send.end(), std::size_t{0});
  const std::size_t received = std::accumulate(recv.begin(), recv.end(), std::size_t{0});
  check_fits(counts, s);
  {
    // The bytes on the wire: what goes to other ranks (a rank's own block is a local copy).
    OptionalPhase p(call.phases_, call.phases_.dispatch, (sent - send[count(comm.rank())]) * call.esize_);
    comm.all_to_all_v(ws.expert_in.get(), send, ws.received.get(), recv, be.dtype());
  }
  const Regrouping g = regroup(counts, s.held);
  {
    OptionalPhase p(call.phases_, call.phases_.route);
    call.upload(ws.regroup_index, g.to_local);
    be.gather_rows(ws.local_in.get(), ws.received.get(), call.ints(ws.regroup_index),
                   static_cast<int>(g.to_local.size()), s.hidden);
  }
  call.experts(ws.local_in.get(), g.expert_offset);
  {
    OptionalPhase p(call.phases_, call.phases_.combine);
    call.upload(ws.back_index, g.to_received);
    be.gather_rows(ws.received.get(), ws.expert_out.get(), call.ints(ws.back_index),
                   static_cast<int>(g.to_received.size()), s.hidden);
  }
  {
    OptionalPhase p(call.phases_, call.phases_.gather_back, (received - recv[count(comm.rank())]) * call.esize_);
    comm.all_to_all_v(ws.received.get(), recv, ws.expert_in.get(), send, be.dtype());
  }
  OptionalPhase p(call.phases_, call.phases_.combine);
  call.combine(out, ws.expert_in.get(), routed, rows);
}

// Every member's routes, [token][k experts as floats, then k weights], gathered.
Choices gather_routes(MoeCall& call, Communicator& comm, const Choices& mine, const std::vector<int>& member_rows) {
  const int k = call.s_.top_k;
  const std::size_t rows = mine.expert.size() / count(k), width = 2 * count(k);
  std::vector<float> packed(rows * width);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < count(k); ++j) {
      packed[r * width + j] = static_cast<float>(mine.expert[r * count(k) + j]);
      packed[r * width + count(k) + j] = mine.weight[r * count(k) + j];
    }
  std::vector<std::size_t> counts;
  for (int n : member_rows) counts.push_back(count(n) * width);
  const std::size_t total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
  std::vector<float> all(total);
  float* table = static_cast<float*>(call.ws_.exchange_table.get());
  call.upload(call.ws_.exchange_table, packed);
  {
    OptionalPhase p(call.phases_, call.phases_.counts, total * sizeof(float));
    comm.all_gather_v(table, table + count(call.s_.max_member_rows) * width, counts, DType::f32);
  }
  call.be_.download_bytes(all.data(), table + count(call.s_.max_member_rows) * width, total * sizeof(float));
  Choices out;
  for (std::size_t r = 0; r < total / width; ++r)
    for (std::size_t j = 0; j < count(k); ++j) {
      out.expert.push_back(static_cast<int>(all[r * width + j]));
      out.weight.push_back(all[r * width + count(k) + j]);
    }
  return out;
}

// The group's tokens laid out in blocks of the largest member's rows (the reduce-scatter's
// equal parts): per padded row, its k places and weights; padding rows weigh nothing.
RoutedTokens pad_to_members(const RoutedTokens& routed, const std::vector<int>& member_rows, int block, int k,
                            std::int32_t absent) {
  RoutedTokens padded = routed;
  const std::size_t blocks = member_rows.size(), per = count(block) * count(k);
  padded.token_pair.assign(blocks * per, absent);
  padded.token_weight.assign(blocks * per, 0.0f);
  std::size_t from = 0;
  for (std::size_t m = 0; m < blocks; ++m) {
    const std::size_t n = count(member_rows[m]) * count(k);
    std::copy_n(routed.token_pair.begin() + static_cast<std::ptrdiff_t>(from), n,
                padded.token_pair.begin() + static_cast<std::ptrdiff_t>(m * per));
    std::copy_n(routed.token_weight.begin() + static_cast<std::ptrdiff_t>(from), n,
                padded.token_weight.begin() + static_cast<std::ptrdiff_t>(m * per));
    from += n;
  }
  return padded;
}

// Expert parallelism by all-gather: every member gets every token and route, runs its experts
// over the tokens routed to them, and a reduce-scatter sums each token's partial outputs on its
// own member.
void forward_allgather(MoeCall& call, const MoeGroup& group, const Choices& chosen, int rows, const void* xn,
                       void* out) {
  const MoeShape& s = call.s_;
  MoeWorkspace& ws = call.ws_;
  Backend& be = call.be_;
  Communicator& comm = *group.comm;
  const Choices all = gather_routes(call, comm, chosen, group.rows);
  const int group_rows = static_cast<int>(all.expert.size() / count(s.top_k));
  {
    std::vector<std::size_t> counts;
    for (int n : group.rows) counts.push_back(count(n) * count(s.hidden));
    OptionalPhase p(call.phases_, call.phases_.dispatch, count(group_rows) * count(s.hidden) * call.esize_);
    comm.all_gather_v(xn, ws.received.get(), counts, be.dtype());
  }
  const std::int32_t zero_row = ws.zero_row;
  // This call's reduce-scatter blocks: its largest member's rows (decode steps: a row a sequence).
  const int block = *std::max_element(group.rows.begin(), group.rows.end());
  RoutedTokens routed;
  {
    OptionalPhase p(call.phases_, call.phases_.route);
    routed = pad_to_members(order_by_expert(all, group_rows, s.top_k, s.held, zero_row), group.rows, block, s.top_k,
                            zero_row);
    call.upload(ws.gather_index, routed.pair_token);
    be.gather_rows(ws.expert_in.get(), ws.received.get(), call.ints(ws.gather_index),
                   static_cast<int>(routed.pair_token.size()), s.hidden);
  }
  call.experts(ws.expert_in.get(), routed.expert_offset);
  const int padded_rows = comm.size() * block;
  {
    OptionalPhase p(call.phases_, call.phases_.combine);
    call.combine(ws.partial.get(), ws.expert_out.get(), routed, padded_rows);
  }
  {
    OptionalPhase p(call.phases_, call.phases_.gather_back, count(padded_rows) * count(s.hidden) * call.esize_);
    comm.reduce_scatter(ws.partial.get(), ws.scattered.get(), count(block) * count(s.hidden), be.dtype(), ReduceOp::sum);
  }
  OptionalPhase p(call.phases_, call.phases_.combine);
  be.copy_2d(out, count(s.hidden), ws.scattered.get(), count(s.hidden), count(rows), count(s.hidden));
}

// Qwen2-MoE's shared expert over this rank's tokens, scaled per token by the sigmoid of its gate,
// added to `out` (HuggingFace: out + sigmoid(x g^T) * down(silu(gate(x)) * up(x))). Its columns
// are split across the TP group: each rank scales its partial output by the same sigmoid.
void add_shared_expert(MoeCall& call, const void* xn, void* out, int rows) {
  const MoeShape& s = call.s_;
  MoeWorkspace& ws = call.ws_;
  Backend& be = call.be_;
  const int h = s.hidden, width = s.shared_intermediate;
  OptionalPhase p(call.phases_, call.phases_.shared);
  be.gemm(rows, 1, h, xn, h, call.w_.shared_gate, h, ws.shared_logit.get(), 1, 0.0f);
  std::vector<float> gate(count(rows));
  be.copy_to_host(gate.data(), ws.shared_logit.get(), gate.size());  // waits for the GEMM
  for (float& g : gate) g = 1.0f / (1.0f + std::exp(-g));
  call.upload(ws.shared_weight, gate);
  be.gemm(rows, 2 * width, h, xn, h, call.w_.shared_up, h, ws.shared_up.get(), 2 * width, 0.0f);
  be.silu_mul(ws.shared_up.get(), ws.shared_act.get(), rows, width);
  be.gemm(rows, h, width, ws.shared_act.get(), width, call.w_.shared_down, width, ws.shared_out.get(), h, 0.0f);
  be.weighted_sum_rows(ws.shared_scaled.get(), ws.shared_out.get(), call.ints(ws.shared_position),
                       static_cast<const float*>(ws.shared_weight.get()), rows, 1, h);
  be.add(out, ws.shared_scaled.get(), count(rows) * count(h));
}

}  // namespace

MoeWeights moe_weights(const LayerWeights& L) {
  return MoeWeights{L.router_w.get(), L.experts_up.get(), L.experts_down.get(),
                    L.shared_up.get(),  L.shared_down.get(), L.shared_gate.get()};
}

MoeShape moe_shape(const ModelConfig& m, const Dims& d, int positions) {
  MoeShape s;
  s.hidden = d.hidden;
  s.experts = d.experts;
  s.top_k = d.top_k;
  s.intermediate = d.moe_intermediate;
  s.renormalise = m.norm_topk_prob;
  const auto rows = [](long long n) {
    if (n > std::numeric_limits<int>::max()) throw ConfigError("MoE layer: more token rows in one call than an int holds");
    return static_cast<int>(n);
  };
  s.max_rows = rows(static_cast<long long>(d.batch) * positions);
  s.held = Range{d.expert_begin, d.expert_begin + d.held_experts};
  s.ep = d.ep;
  s.dispatch = d.dispatch;
  s.shared_intermediate = d.shared_intermediate;
  if (s.expert_parallel()) {
    s.max_group_rows = rows(static_cast<long long>(d.global_batch) * positions);
    s.max_member_rows = rows(static_cast<long long>(split_range(d.global_batch, d.dp, 0).size()) * positions);  // the first is the largest
  }
  return s;
}

MoeSizes moe_sizes(const MoeShape& s) {
  const std::size_t rows = count(s.max_rows), k = count(s.top_k), h = count(s.hidden);
  const std::size_t inter = count(s.intermediate), pairs = rows * k;
  const std::size_t held_k = std::min(k, count(s.held.size()));
  MoeSizes z;
  z.router_logits = rows * count(s.experts);
  std::size_t work = pairs;  // rows the experts run on at most
  if (!s.expert_parallel()) {
    z.expert_in = pairs * h;
    z.gather_index = z.combine_pairs = pairs;
  } else if (s.dispatch == DispatchMode::alltoall) {
    work = count(s.max_group_rows) * held_k;
    z.expert_in = pairs * h;  // sent, then the results come back into it
    z.local_in = work * h;
    z.received = work * h;
    z.gather_index = z.combine_pairs = pairs;
    z.regroup_index = work;
    z.exchange_table_bytes = count(s.experts) * (1 + count(s.ep)) * sizeof(float);
  } else {
    work = count(s.max_group_rows) * held_k;
    const std::size_t padded = count(s.ep) * count(s.max_member_rows);
    z.expert_in = work * h;
    z.received = count(s.max_group_rows) * h;
    z.partial = padded * h;
    z.scattered = count(s.max_member_rows) * h;
    z.gather_index = work;
    z.combine_pairs = padded * k;
    z.exchange_table_bytes = (count(s.max_member_rows) + count(s.max_group_rows)) * 2 * k * sizeof(float);
  }
  z.expert_up = work * 2 * inter;
  z.expert_act = work * inter;
  // allgather: one more row, of zeros, for the choices of experts held elsewhere
  z.expert_out = (work + (s.expert_parallel() && s.dispatch == DispatchMode::allgather ? 1 : 0)) * h;
  if (s.shared_intermediate > 0) {
    z.shared_up = rows * 2 * count(s.shared_intermediate);
    z.shared_act = rows * count(s.shared_intermediate);
    z.shared_out = z.shared_scaled = rows * h;
    z.shared_logit = z.shared_rows = rows;
  }
  return z;
}

MoeWorkspace::MoeWorkspace(Backend& be, const MoeShape& s) : shape(s) {
  const MoeSizes z = moe_sizes(s);
  auto activations = [&](std::size_t n) { return be.allocate(n, MemoryKind::activations); };
  auto exchange = [&](std::size_t n) { return be.allocate(n, MemoryKind::communication); };
  auto ints = [&](std::size_t n) { return be.allocate_bytes(n * sizeof(std::int32_t), MemoryKind::activations); };
  router_logits = activations(z.router_logits);
  expert_in = activations(z.expert_in);
  local_in = activations(z.local_in);
  expert_up = activations(z.expert_up);
  expert_act = activations(z.expert_act);
  expert_out = activations(z.expert_out);
  received = exchange(z.received);
  partial = exchange(z.partial);
  scattered = exchange(z.scattered);
  exchange_table = be.allocate_bytes(z.exchange_table_bytes, MemoryKind::communication);
  gather_index = ints(z.gather_index);
  regroup_index = ints(z.regroup_index);
  back_index = ints(z.regroup_index);
  combine_position = ints(z.combine_pairs);
  combine_weight = be.allocate_bytes(z.combine_pairs * sizeof(float), MemoryKind::activations);
  shared_up = activations(z.shared_up);
  shared_act = activations(z.shared_act);
  shared_out = activations(z.shared_out);
  shared_scaled = activations(z.shared_scaled);
  shared_logit = activations(z.shared_logit);
  shared_position = ints(z.shared_rows);
  if (z.shared_rows > 0) {  // row r scaled by its own gate: the identity, uploaded once
    std::vector<std::int32_t> identity(z.shared_rows);
    std::iota(identity.begin(), identity.end(), 0);
    be.upload_bytes(shared_position.get(), identity.data(), identity.size() * sizeof(std::int32_t));
  }
  shared_weight = be.allocate_bytes(z.shared_rows * sizeof(float), MemoryKind::activations);
  if (s.expert_parallel() && s.dispatch == DispatchMode::allgather) {
    const std::vector<float> zeros(count(s.hidden), 0.0f);
    zero_row = static_cast<std::int32_t>(z.expert_out / zeros.size() - 1);
    be.copy_from_host(static_cast<char*>(expert_out.get()) + (z.expert_out - zeros.size()) * dtype_size(be.dtype()),
                      zeros.data(), zeros.size());
  }
}

ExpertChoices::ExpertChoices(int l, int s, int p, int k_)
    : layers(l), sequences(s), positions(p), k(k_), expert(count(l) * count(s) * count(p) * count(k_), -1) {}

std::int32_t* ExpertChoices::at(int layer, int sequence, int position) {
  return const_cast<std::int32_t*>(std::as_const(*this).at(layer, sequence, position));
}

const std::int32_t* ExpertChoices::at(int layer, int sequence, int position) const {
  if (layer < 0 || layer >= layers || sequence < 0 || sequence >= sequences || position < 0 || position >= positions)
    return nullptr;
  const std::size_t token = (count(layer) * count(sequences) + count(sequence)) * count(positions) + count(position);
  return expert.data() + token * count(k);
}

void moe_forward(Backend& be, const MoeWeights& w, const MoeRouting& routing, int layer, const TokenRows& tokens,
                 const void* xn, void* out, MoeWorkspace& ws, const MoePhases& phases,
                 std::vector<long long>* tokens_per_expert, const MoeGroup& group) {
  const MoeShape& s = ws.shape;
  const int rows = tokens.rows();
  if (rows > s.max_rows) throw Error("MoE call with more tokens than its workspace holds");
  MoeCall call(be, w, ws, phases);
  const std::vector<float> logits = call.router_logits(xn, rows);
  Choices chosen;
  {
    OptionalPhase p(phases, phases.route);
    chosen = choose(s, routing, layer, tokens, logits);
  }
  if (!s.expert_parallel())
    forward_local(call, chosen, rows, xn, out);
  else if (s.dispatch == DispatchMode::alltoall)
    forward_alltoall(call, *group.comm, chosen, rows, xn, out);
  else
    forward_allgather(call, group, chosen, rows, xn, out);
  if (s.shared_intermediate > 0) add_shared_expert(call, xn, out, rows);
  if (tokens_per_expert)
    for (int e : chosen.expert) ++(*tokens_per_expert)[count(e)];
}

}  // namespace llmt
