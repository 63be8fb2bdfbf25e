#include "strategies/registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "model/error.hpp"

namespace llmt {

std::string Strategy::merge_note(MergeMode m) const {
  return fmt::format("merge '{}' is not meaningful for {}", merge_mode_name(m), name());
}

std::string Strategy::sync_note(SyncMode m) const {
  return fmt::format("sync '{}' is not supported by {}", sync_mode_name(m), name());
}

std::string Strategy::no_layouts_reason(int ranks) const {
  return fmt::format("{} has no grid on {} rank(s)", name(), ranks);
}

std::optional<std::string> Strategy::model_problem(const ModelConfig&) const { return std::nullopt; }

std::optional<std::string> Strategy::why_invalid(const ModelConfig&, const ConfigPoint&) const { return std::nullopt; }

namespace {

// What the merge and sync modes act on must exist in the grid: the same rules for every strategy.
std::optional<std::string> mode_problem(const ConfigPoint& p) {
  const Layout& l = p.layout;
  if (p.merge == MergeMode::sum && l.tp == 1)
    return "merge 'sum' adds tensor-parallel partial logits: it needs tp > 1 (with tp 1 it is concat)";
  if (p.merge == MergeMode::mean && l.dp == 1)
    return "merge 'mean' averages data-parallel replicas: it needs dp > 1";
  if (p.sync == SyncMode::overlap && l.tp == 1)
    return "sync 'overlap' hides the row-parallel all-reduces of tensor parallelism: it needs tp > 1";
  if (p.sync == SyncMode::param_server && l.tp == 1 && !p.ensemble())
    return "sync 'param-server' centralises reductions: this grid has none (tp 1 and no mean merge)";
  return std::nullopt;
}

}  // namespace

void StrategyRegistry::add(std::unique_ptr<Strategy> strategy) {
  if (find(strategy->name()))
    throw ConfigError(fmt::format("strategy '{}' registered twice", strategy->name()));
  strategies_.push_back(std::move(strategy));
}

const Strategy* StrategyRegistry::find(std::string_view name) const {
  for (const auto& s : strategies_)
    if (s->name() == name) return s.get();
  return nullptr;
}

const Strategy& StrategyRegistry::get(std::string_view name) const {
  if (const Strategy* s = find(name)) return *s;
  throw ConfigError(fmt::format("unknown strategy '{}' (known: {}, all)", name, fmt::join(names(), ", ")));
}

std::vector<const Strategy*> StrategyRegistry::all() const {
  std::vector<const Strategy*> out;
  for (const auto& s : strategies_) out.push_back(s.get());
  return out;
}

std::vector<std::string> StrategyRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& s : strategies_) out.emplace_back(s->name());
  return out;
}

void register_builtin_strategies(StrategyRegistry& registry) {
  registry.add(make_tensor_parallel());
  registry.add(make_data_parallel());
  registry.add(make_pipeline_parallel());
  registry.add(make_hybrid());
  registry.add(make_expert_parallel());
}

const StrategyRegistry& builtin_strategies() {
  static const StrategyRegistry registry = [] {
    StrategyRegistry r;
    register_builtin_strategies(r);
    return r;
  }();
  return registry;
}

std::optional<std::string> why_invalid(const StrategyRegistry& registry, const ModelConfig& model,
                                       const ConfigPoint& point) {
  const Strategy* s = registry.find(point.strategy);
  if (!s) return fmt::format("unknown strategy '{}'", point.strategy);
  const auto merges = s->merges();
  if (std::find(merges.begin(), merges.end(), point.merge) == merges.end()) return s->merge_note(point.merge);
  const auto syncs = s->syncs();
  if (std::find(syncs.begin(), syncs.end(), point.sync) == syncs.end()) return s->sync_note(point.sync);
  if (auto reason = s->why_invalid(model, point)) return reason;
  if (auto reason = mode_problem(point)) return reason;
  return layout_problem(model, point);
}

}  // namespace llmt
