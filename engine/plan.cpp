#include "engine/plan.hpp"

#include "engine/traffic.hpp"

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

std::string_view dispatch_mode_name(DispatchMode m) {
  switch (m) {
    case DispatchMode::alltoall: return "alltoall";
    case DispatchMode::allgather: return "allgather";
  }
  return "?";
}

std::optional<DispatchMode> parse_dispatch_mode(std::string_view s) {
  for (DispatchMode m : kAllDispatchModes)
    if (s == dispatch_mode_name(m)) return m;
  return std::nullopt;
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
std::string Layout::label() const { return fmt::format("tp{}.pp{}.{}{}", tp, pp, experts_split ? "ep" : "dp", dp); }

std::string ConfigPoint::grid_label() const {
  if (layout.ranks() == 0) return fmt::format("none.n{}", requested_ranks);
  std::string label = layout.label();
  if (layout.pp > 1) label += fmt::format(".mb{}", microbatches);
  if (layout.experts_split) label += fmt::format(".{}", dispatch_mode_name(dispatch));
  return label;
}

std::string ConfigPoint::execution_key() const {
  return fmt::format("{}|{}|{}|{}", grid_label(), sync_mode_name(sync), merge_mode_name(merge),
                     traffic ? traffic->label() : workload.label());
}

std::string ConfigPoint::workload_label() const {
  return traffic ? fmt::format("{}.s{}", traffic->requests->label(), traffic->batching.slots) : workload.label();
}

std::string ConfigPoint::short_name() const {
  std::string name = fmt::format("{} {} {} {} {}", strategy, grid_label(), sync_mode_name(sync), merge_mode_name(merge),
                                 workload_label());
  if (traffic)
    name += fmt::format(" {} {}", batching_mode_name(traffic->batching.mode), balance_policy_name(traffic->balance));
  return name;
}

std::string ConfigPoint::id() const { return strategy + "|" + execution_key(); }

RankCoords coords_of(const Layout& l, int r) { return {r % l.tp, (r / l.tp) % l.pp, r / (l.tp * l.pp)}; }
int world_rank_of(const Layout& l, const RankCoords& c) { return c.dp * l.pp * l.tp + c.pp * l.tp + c.tp; }

int group_instance(const Layout& l, const RankCoords& c, std::string_view group) {
  if (group == "tp") return c.dp * l.pp + c.pp;
  if (group == "pp") return c.dp * l.tp + c.tp;
  if (group == "dp") return c.pp * l.tp + c.tp;
  return 0;
}

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
  // Every layer costs the same, so a stage's cost depends only on its layer count and on whether
  // it is the first (embedding) or the last (final norm and LM head) stage. The bottleneck of an
  // optimal partition is therefore the cost of some stage; it is found by binary search over the
  // layer counts of each stage kind, with an O(1) greedy check of how many layers fit under it.
  // Ranges are the ones an exhaustive dynamic programme (minimise the costliest stage, later cut
  // on ties so earlier stages take the extra layer) picks, in O(stages * log n) instead of
  // O(stages * n^2).
  const int n = std::max(1, model.layers);
  stages = std::clamp(stages, 1, n);
  const double layer = layer_cost(model), first = embedding_cost(model), last = head_cost(model);
  auto stage_cost = [&](std::int64_t layers, int stage) {
    return static_cast<double>(layers) * layer + (stage == 0 ? first : 0.0) + (stage == stages - 1 ? last : 0.0);
  };
  // Most layers (at most n) that stage `stage` holds within `bound`; 0 when not even one fits.
  auto most_layers = [&](double bound, int stage) -> std::int64_t {
    if (!(stage_cost(1, stage) <= bound)) return 0;
    std::int64_t lo = 1, hi = n;  // stage_cost(lo) <= bound; find the largest such
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo + 1) / 2;
      if (stage_cost(mid, stage) <= bound) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  // Layers that stages 0..count-1 hold together within `bound`, or -1 when one of them cannot
  // hold a single layer. Stages of one kind hold the same, so this is O(log n).
  auto middles_of = [&](int count) -> std::int64_t { return count - 1 - (count == stages && stages > 1 ? 1 : 0); };
  auto capacity = [&](double bound, int count) -> std::int64_t {
    const std::int64_t k0 = most_layers(bound, 0);
    if (k0 == 0) return -1;
    std::int64_t total = k0;
    if (const std::int64_t middles = middles_of(count); middles > 0) {
      const std::int64_t k = most_layers(bound, 1);  // stage 1 is a middle stage when there are middles
      if (k == 0) return -1;
      total += middles * k;
    }
    if (count == stages && stages > 1) {
      const std::int64_t k = most_layers(bound, stages - 1);
      if (k == 0) return -1;
      total += k;
    }
    return std::min<std::int64_t>(total, n);
  };
  // Smallest possible costliest stage placing `layers` layers on stages 0..count-1: the cost of
  // one of its stages, found per stage kind as the fewest layers whose cost is a feasible bound.
  auto bottleneck = [&](std::int64_t layers, int count) {
    double best = std::numeric_limits<double>::infinity();
    std::vector<int> kinds = {0};
    if (middles_of(count) > 0) kinds.push_back(1);
    if (count == stages && stages > 1) kinds.push_back(stages - 1);
    for (int stage : kinds) {
      std::int64_t lo = 1, hi = layers;
      while (lo < hi) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (capacity(stage_cost(mid, stage), count) >= layers) hi = mid;
        else lo = mid + 1;
      }
      const double c = stage_cost(lo, stage);
      if (capacity(c, count) >= layers) best = std::min(best, c);
    }
    return best;
  };
  std::vector<Range> ranges(static_cast<std::size_t>(stages));
  std::int64_t end = n;
  for (int s = stages; s >= 1; --s) {
    std::int64_t begin = 0;
    if (s > 1) {
      // The latest cut whose prefix still fits under this prefix's optimal bottleneck.
      const double bound = bottleneck(end, s);
      begin = std::min(capacity(bound, s - 1), end - 1);
    }
    ranges[static_cast<std::size_t>(s - 1)] = {static_cast<int>(begin), static_cast<int>(end)};
    end = begin;
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
  p.moe_intermediate = split_range(m.moe_intermediate, layout.tp, p.coords.tp);
  p.shared_intermediate = split_range(m.shared_expert_intermediate, layout.tp, p.coords.tp);
  p.experts = layout.experts_split ? split_range(m.experts, layout.dp, p.coords.dp) : Range{0, m.experts};
  p.vocab = split_range(m.vocab, layout.tp, p.coords.tp);
  p.hidden = split_range(m.hidden, layout.tp, p.coords.tp);
  p.batch = p.ensemble ? Range{0, point.workload.batch} : split_range(point.workload.batch, layout.dp, p.coords.dp);
  {
    // Every rank of a point asks for the same partition: keep the last one per thread, so a
    // plan over p ranks partitions once, not p times.
    struct Cached {
      int layers = -1, stages = -1;
      double layer = 0, first = 0, last = 0;
      std::vector<Range> ranges;
    };
    thread_local Cached cached;
    const double layer = layer_cost(m), first = embedding_cost(m), last = head_cost(m);
    if (cached.layers != m.layers || cached.stages != layout.pp || cached.layer != layer || cached.first != first ||
        cached.last != last)
      cached = Cached{m.layers, layout.pp, layer, first, last, partition_layers(m, layout.pp)};
    p.layers = cached.ranges[static_cast<std::size_t>(p.coords.pp)];
  }
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

namespace {
// What of a mixture-of-experts model this build cannot run yet.
std::optional<std::string> moe_problem(const ModelConfig& m, const Layout& l) {
  if (l.experts_split && !m.moe())
    return fmt::format("expert parallelism splits the experts of MoE layers: {} has none", m.name);
  if (!m.moe()) return std::nullopt;
  if (l.experts_split && l.dp > m.experts)
    return fmt::format("expert parallel degree {} exceeds the {} experts: a rank would hold none", l.dp, m.experts);
  if (l.experts_split && l.pp > 1)
    return "expert parallelism with pipeline stages is not implemented (the EP group spans one stage)";
  if (l.tp > m.moe_intermediate)
    return fmt::format("tensor parallel degree {} exceeds the experts' MLP width {}", l.tp, m.moe_intermediate);
  if (m.shared_expert_intermediate > 0 && l.tp > m.shared_expert_intermediate)
    return fmt::format("tensor parallel degree {} exceeds the shared expert's MLP width {}", l.tp,
                       m.shared_expert_intermediate);
  return std::nullopt;
}
}  // namespace

std::optional<std::string> layout_problem(const ModelConfig& m, const ConfigPoint& point) {
  const Layout& l = point.layout;
  const Workload& w = point.workload;
  if (l.tp < 1 || l.pp < 1 || l.dp < 1) return fmt::format("invalid grid {}", l.label());
  if (auto problem = moe_problem(m, l)) return problem;
  if (m.heads % l.tp != 0)
    return fmt::format("tensor parallel degree {} does not divide the {} attention heads", l.tp, m.heads);
  if (m.kv_heads % l.tp != 0 && l.tp % m.kv_heads != 0)
    return fmt::format("tensor parallel degree {} neither divides the {} KV heads nor is a multiple of them", l.tp,
                       m.kv_heads);
  if (l.tp > m.intermediate) return fmt::format("tensor parallel degree {} exceeds the MLP width {}", l.tp, m.intermediate);
  if (l.pp > m.layers)
    return fmt::format("pipeline degree {} exceeds the {} layers run", l.pp, m.layers);
  if (l.dp > w.batch && !point.ensemble())
    return fmt::format("{} degree {} exceeds the batch of {}: a replica would have no sequence",
                       l.experts_split ? "expert parallel (data-parallel attention)" : "data parallel", l.dp, w.batch);
  if (point.microbatches < 1) return fmt::format("{} micro-batches: at least 1 is needed", point.microbatches);
  if (l.pp > 1) {
    const int smallest_replica = point.ensemble() ? w.batch : w.batch / l.dp;
    if (point.microbatches > smallest_replica)
      return fmt::format("{} micro-batches exceed the {} sequence(s) of the smallest replica", point.microbatches,
                         smallest_replica);
  }
  if (w.batch < 1 || w.prompt < 1 || w.gen < 1)
    return fmt::format("workload {} needs batch, prompt and gen of at least 1", w.label());
  if (point.traffic) return traffic_problem(m, point);
  if (w.context() > m.max_positions)
    return fmt::format("prompt + gen - 1 = {} positions exceed the model's {}", w.context(), m.max_positions);
  return std::nullopt;
}

}  // namespace llmt
