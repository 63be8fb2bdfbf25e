#include "engine/moe.hpp"

#include <algorithm>
#include <optional>

#include "model/error.hpp"

namespace llmt {
namespace {

std::size_t count(int v) { return v > 0 ? static_cast<std::size_t>(v) : 0; }

// Each token's experts and weights, then the pairs (token, expert) ordered by expert (tokens in
// order within one), and per token the places of its pairs in that order, by expert index (the
// order HuggingFace adds the experts' outputs in).
struct RoutedTokens {
  std::vector<int> expert_offset;          // experts + 1: first pair of each expert
  std::vector<std::int32_t> pair_token;    // per pair, its token row
  std::vector<std::int32_t> token_pair;    // per token and choice, its pair
  std::vector<float> token_weight;         // per token and choice, its weight
};

RoutedTokens route(const MoeShape& s, const MoeRouting& routing, int layer, const TokenRows& tokens,
                   const std::vector<float>& logits) {
  const int rows = tokens.rows(), k = s.top_k;
  std::vector<int> chosen(count(rows * k));
  std::vector<float> weight(chosen.size());
  for (int r = 0; r < rows; ++r) {
    const float* l = logits.data() + static_cast<std::size_t>(r) * s.experts;
    int* c = chosen.data() + static_cast<std::size_t>(r) * k;
    float* w = weight.data() + static_cast<std::size_t>(r) * k;
    if (routing.mode.kind == RoutingKind::model) {
      route_by_router(l, s.experts, k, s.renormalise, c, w);
    } else {
      const int seq = tokens.first_sequence + r / tokens.tokens, pos = tokens.first_position + r % tokens.tokens;
      route_by_law(routing.mode, routing_key(routing.seed, layer, seq, pos), l, s.experts, k, s.renormalise, c, w);
    }
  }
  RoutedTokens out;
  out.expert_offset.assign(count(s.experts + 1), 0);
  for (int e : chosen) ++out.expert_offset[count(e + 1)];
  for (int e = 0; e < s.experts; ++e) out.expert_offset[count(e + 1)] += out.expert_offset[count(e)];
  std::vector<int> next(out.expert_offset.begin(), out.expert_offset.end() - 1);
  out.pair_token.resize(chosen.size());
  out.token_pair.resize(chosen.size());
  out.token_weight.resize(chosen.size());
  for (int r = 0; r < rows; ++r) {
    // This token's choices by expert index.
    std::vector<int> order(count(k));
    for (int j = 0; j < k; ++j) order[count(j)] = j;
    const int* c = chosen.data() + static_cast<std::size_t>(r) * k;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return c[a] < c[b]; });
    for (int j = 0; j < k; ++j) {
      const int e = c[order[count(j)]];
      const int pair = next[count(e)]++;
      out.pair_token[count(pair)] = r;
      out.token_pair[static_cast<std::size_t>(r) * k + j] = pair;
      out.token_weight[static_cast<std::size_t>(r) * k + j] = weight[static_cast<std::size_t>(r) * k + order[count(j)]];
    }
  }
  // Tokens within an expert in row order, as a stable counting sort leaves them.
  return out;
}

class OptionalPhase {
 public:
  OptionalPhase(const MoePhases& p, PhaseId id) {
    if (p.timeline) phase_.emplace(*p.timeline, id);
  }

 private:
  std::optional<ScopedPhase> phase_;
};

}  // namespace

MoeSizes moe_sizes(const MoeShape& s) {
  const std::size_t rows = count(s.max_rows), pairs = rows * count(s.top_k);
  MoeSizes z;
  z.router_logits = rows * count(s.experts);
  z.expert_in = pairs * count(s.hidden);
  z.expert_up = pairs * 2 * count(s.intermediate);
  z.expert_act = pairs * count(s.intermediate);
  z.expert_out = pairs * count(s.hidden);
  z.table_bytes = pairs * (2 * sizeof(std::int32_t) + sizeof(float));
  return z;
}

MoeWorkspace::MoeWorkspace(Backend& be, const MoeShape& s) : shape(s) {
  const MoeSizes z = moe_sizes(s);
  auto activations = [&](std::size_t n) { return be.allocate(n, MemoryKind::activations); };
  router_logits = activations(z.router_logits);
  expert_in = activations(z.expert_in);
  expert_up = activations(z.expert_up);
  expert_act = activations(z.expert_act);
  expert_out = activations(z.expert_out);
  const std::size_t pairs = count(s.max_rows) * count(s.top_k);
  gather_index = be.allocate_bytes(pairs * sizeof(std::int32_t), MemoryKind::activations);
  combine_position = be.allocate_bytes(pairs * sizeof(std::int32_t), MemoryKind::activations);
  combine_weight = be.allocate_bytes(pairs * sizeof(float), MemoryKind::activations);
}

void moe_forward(Backend& be, const MoeWeights& w, const MoeRouting& routing, int layer, const TokenRows& tokens,
                 const void* xn, void* out, MoeWorkspace& ws, const MoePhases& phases,
                 std::vector<long long>* tokens_per_expert) {
  const MoeShape& s = ws.shape;
  const int rows = tokens.rows(), h = s.hidden, inter = s.intermediate;
  if (rows > s.max_rows) throw Error("MoE call with more tokens than its workspace holds");
  const std::size_t esize = dtype_size(be.dtype());
  auto at = [&](const DeviceBuffer& b, std::size_t elements) { return static_cast<char*>(b.get()) + elements * esize; };
  std::vector<float> logits(static_cast<std::size_t>(rows) * s.experts);
  {
    OptionalPhase p(phases, phases.router);
    be.gemm(rows, s.experts, h, xn, h, w.router, h, ws.router_logits.get(), s.experts, 0.0f);
    be.copy_to_host(logits.data(), ws.router_logits.get(), logits.size());  // waits for the GEMM
  }
  RoutedTokens routed;
  {
    OptionalPhase p(phases, phases.route);
    routed = route(s, routing, layer, tokens, logits);
    const std::size_t pairs = routed.pair_token.size();
    be.upload_bytes(ws.gather_index.get(), routed.pair_token.data(), pairs * sizeof(std::int32_t));
    be.upload_bytes(ws.combine_position.get(), routed.token_pair.data(), pairs * sizeof(std::int32_t));
    be.upload_bytes(ws.combine_weight.get(), routed.token_weight.data(), pairs * sizeof(float));
    be.gather_rows(ws.expert_in.get(), xn, static_cast<const std::int32_t*>(ws.gather_index.get()),
                   static_cast<int>(pairs), h);
  }
  {
    OptionalPhase p(phases, phases.experts);
    const std::size_t up_size = static_cast<std::size_t>(2 * inter) * h, down_size = static_cast<std::size_t>(h) * inter;
    for (int e = 0; e < s.experts; ++e) {
      const int first = routed.expert_offset[static_cast<std::size_t>(e)];
      const int n = routed.expert_offset[static_cast<std::size_t>(e) + 1] - first;
      if (n == 0) continue;
      const auto f = static_cast<std::size_t>(first);
      be.gemm(n, 2 * inter, h, at(ws.expert_in, f * h), h, static_cast<const char*>(w.up) + e * up_size * esize, h,
              at(ws.expert_up, f * 2 * inter), 2 * inter, 0.0f);
      be.silu_mul(at(ws.expert_up, f * 2 * inter), at(ws.expert_act, f * inter), n, inter);
      be.gemm(n, h, inter, at(ws.expert_act, f * inter), inter, static_cast<const char*>(w.down) + e * down_size * esize,
              inter, at(ws.expert_out, f * h), h, 0.0f);
    }
  }
  {
    OptionalPhase p(phases, phases.combine);
    be.weighted_sum_rows(out, ws.expert_out.get(), static_cast<const std::int32_t*>(ws.combine_position.get()),
                         static_cast<const float*>(ws.combine_weight.get()), rows, s.top_k, h);
  }
  if (tokens_per_expert)
    for (int e = 0; e < s.experts; ++e)
      (*tokens_per_expert)[static_cast<std::size_t>(e)] +=
          routed.expert_offset[static_cast<std::size_t>(e) + 1] - routed.expert_offset[static_cast<std::size_t>(e)];
}

}  // namespace llmt
