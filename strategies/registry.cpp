#include "strategies/registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "engine/error.hpp"

namespace llmt {

std::string Strategy::merge_note(MergeMode m) const {
  return fmt::format("merge '{}' is not meaningful for {}", merge_mode_name(m), name());
}

std::optional<std::string> Strategy::why_invalid(const ModelConfig&, const ConfigPoint&) const { return std::nullopt; }

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
  if (std::find(syncs.begin(), syncs.end(), point.sync) == syncs.end())
    return fmt::format("sync '{}' is not supported by {}", sync_mode_name(point.sync), s->name());
  if (auto reason = s->why_invalid(model, point)) return reason;
  return layout_problem(model, point.layout, point.workload);
}

}  // namespace llmt
