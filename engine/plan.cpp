#include "engine/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace llmt {

std::string_view sync_mode_name(SyncMode m) {
  switch (m) {
    case SyncMode::blocking: return "blocking";
    case SyncMode::overlap: return "overlap";
    case SyncMode::param_server: return "param-server";
  }
  return "?";
}

std::string_view merge_mode_name(MergeMode m) {
  switch (m) {
    case MergeMode::concat: return "concat";
    case MergeMode::sum: return "sum";
    case MergeMode::mean: return "mean";
  }
  return "?";
}

std::optional<SyncMode> parse_sync_mode(std::string_view s) {
  for (SyncMode m : kAllSyncModes)
    if (s == sync_mode_name(m)) return m;
  if (s == "param_server" || s == "ps") return SyncMode::param_server;
  return std::nullopt;
}

std::optional<MergeMode> parse_merge_mode(std::string_view s) {
  for (MergeMode m : kAllMergeModes)
    if (s == merge_mode_name(m)) return m;
  return std::nullopt;
}

std::string Workload::label() const { return fmt::format("b{}.p{}.g{}", batch, prompt, gen); }
std::string Layout::label() const { return fmt::format("tp{}.pp{}.dp{}", tp, pp, dp); }

std::string ConfigPoint::grid_label() const {
  if (layout.ranks() == 0) return fmt::format("none.n{}", requested_ranks);
  return layout.pp > 1 ? fmt::format("{}.mb{}", layout.label(), microbatches) : layout.label();
}

std::string ConfigPoint::execution_key() const {
  return fmt::format("{}|{}|{}|{}", grid_label(), sync_mode_name(sync), merge_mode_name(merge), workload.label());
}

std::string ConfigPoint::id() const { return strategy + "|" + execution_key(); }

RankCoords coords_of(const Layout& l, int r) { return {r % l.tp, (r / l.tp) % l.pp, r / (l.tp * l.pp)}; }
int world_rank_of(const Layout& l, const RankCoords& c) { return c.dp * l.pp * l.tp + c.pp * l.tp + c.tp; }

Range split_range(int n, int parts, int index) {
  const int base = n / parts, extra = n % parts;
  const int begin = index * base + std::min(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

double layer_cost(const ModelConfig& m) {
  // 2 FLOPs per weight, plus attention over an average context of half the positions used.
  return 2.0 * static_cast<double>(layer_parameter_count(m)) +
         4.0 * m.heads * m.head_dim * std::min(m.max_positions, 2048) / 2.0;
}
double embedding_cost(const ModelConfig& m) { return 2.0 * m.hidden; }
double head_cost(const ModelConfig& m) { return 2.0 * m.hidden * static_cast<double>(m.vocab) + 4.0 * m.hidden; }

std::vector<Range> partition_layers(const ModelConfig& model, int stages) {
  const int n = model.layers;
  stages = std::clamp(stages, 1, std::max(1, n));
  const double layer = layer_cost(model), first = embedding_cost(model), last = head_cost(model);
  auto stage_cost = [&](int begin, int end, int stage) {
    return (end - begin) * layer + (stage == 0 ? first : 0.0) + (stage == stages - 1 ? last : 0.0);
  };
  // best[s][i]: smallest achievable max stage cost placing the first i layers on stages 0..s-1
  // (each stage at least one layer); cut[s][i] remembers where stage s-1 starts.
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(stages + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(n + 1, 0));
  best[0][0] = 0.0;
  for (int s = 1; s <= stages; ++s)
    for (int i = s; i <= n; ++i)
      for (int j = s - 1; j < i; ++j) {
        const double c = std::max(best[s - 1][j], stage_cost(j, i, s - 1));
        // Prefer the later cut on ties, so earlier stages take the extra layer.
        if (c <= best[s][i]) {
          best[s][i] = c;
          cut[s][i] = j;
        }
      }
  std::vector<Range> ranges(static_cast<std::size_t>(stages));
  int end = n;
  for (int s = stages; s >= 1; --s) {
    ranges[static_cast<std::size_t>(s - 1)] = {cut[s][end], end};
    end = cut[s][end];
  }
  return ranges;
}

ShardPlan make_shard_plan(const ModelConfig& m, const ConfigPoint& point, int world_rank) {
  const Layout& layout = point.layout;
  ShardPlan p;
  p.layout = layout;
  p.ensemble = point.ensemble();
  p.world_rank = world_rank;
  p.coords = coords_of(layout, world_rank);
  p.q_heads = split_range(m.heads, layout.tp, p.coords.tp);
  const int group = m.heads / m.kv_heads;
  p.kv_heads = {p.q_heads.begin / group, (p.q_heads.end + group - 1) / group};
  p.intermediate = split_range(m.intermediate, layout.tp, p.coords.tp);
  p.vocab = split_range(m.vocab, layout.tp, p.coords.tp);
  p.hidden = split_range(m.hidden, layout.tp, p.coords.tp);
  p.batch = p.ensemble ? Range{0, point.workload.batch} : split_range(point.workload.batch, layout.dp, p.coords.dp);
  p.layers = partition_layers(m, layout.pp)[static_cast<std::size_t>(p.coords.pp)];
  p.microbatches = std::max(1, std::min(point.microbatches, p.batch.size()));
  p.weight_member = p.ensemble ? p.coords.dp : 0;
  return p;
}

Range microbatch_range(const ShardPlan& shard, int index) {
  return split_range(shard.batch.size(), shard.microbatches, index);
}

std::uint64_t member_seed(std::uint64_t seed, int member) {
  return member == 0 ? seed : seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(member));
}

double textbook_bubble_fraction(int stages, int microbatches) {
  return static_cast<double>(stages - 1) / static_cast<double>(microbatches + stages - 1);
}

std::optional<std::string> layout_problem(const ModelConfig& m, const ConfigPoint& point) {
  const Layout& l = point.layout;
  const Workload& w = point.workload;
  if (l.tp < 1 || l.pp < 1 || l.dp < 1) return fmt::format("invalid grid {}", l.label());
  if (m.experts > 0)
    return fmt::format("MoE not yet supported: {} has {} experts per layer (num_local_experts)", m.name, m.experts);
  if (m.heads % l.tp != 0)
    return fmt::format("tensor parallel degree {} does not divide the {} attention heads", l.tp, m.heads);
  if (m.kv_heads % l.tp != 0 && l.tp % m.kv_heads != 0)
    return fmt::format("tensor parallel degree {} neither divides the {} KV heads nor is a multiple of them", l.tp,
                       m.kv_heads);
  if (l.tp > m.intermediate) return fmt::format("tensor parallel degree {} exceeds the MLP width {}", l.tp, m.intermediate);
  if (l.pp > m.layers)
    return fmt::format("pipeline degree {} exceeds the {} layers run", l.pp, m.layers);
  if (l.dp > w.batch && !point.ensemble())
    return fmt::format("data parallel degree {} exceeds the batch of {}: a replica would have no sequence", l.dp,
                       w.batch);
  if (point.microbatches < 1) return fmt::format("{} micro-batches: at least 1 is needed", point.microbatches);
  if (l.pp > 1) {
    const int smallest_replica = point.ensemble() ? w.batch : w.batch / l.dp;
    if (point.microbatches > smallest_replica)
      return fmt::format("{} micro-batches exceed the {} sequence(s) of the smallest replica", point.microbatches,
                         smallest_replica);
  }
  if (w.batch < 1 || w.prompt < 1 || w.gen < 1)
    return fmt::format("workload {} needs batch, prompt and gen of at least 1", w.label());
  if (w.context() > m.max_positions)
    return fmt::format("prompt + gen - 1 = {} positions exceed the model's {}", w.context(), m.max_positions);
  return std::nullopt;
}

}  // namespace llmt
