// Strategies by name. Filled by explicit registration (no static initialisers, which the
// linker drops from static libraries); unknown or duplicate names are loud errors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "strategies/strategy.hpp"

namespace llmt {

class StrategyRegistry {
 public:
  void add(std::unique_ptr<Strategy> strategy);  // throws on a duplicate name
  const Strategy* find(std::string_view name) const;
  const Strategy& get(std::string_view name) const;  // throws ConfigError naming the known ones
  std::vector<const Strategy*> all() const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<Strategy>> strategies_;
};

void register_builtin_strategies(StrategyRegistry& registry);
// The built-in registry, filled on first use.
const StrategyRegistry& builtin_strategies();

// Every reason `point` cannot run: unknown strategy, unsupported merge or sync, the
// strategy's own rules, then the generic layout rules. nullopt when it can run.
std::optional<std::string> why_invalid(const StrategyRegistry& registry, const ModelConfig& model,
                                       const ConfigPoint& point);

// Factories, one per strategy file.
std::unique_ptr<Strategy> make_tensor_parallel();
std::unique_ptr<Strategy> make_data_parallel();
std::unique_ptr<Strategy> make_pipeline_parallel();
std::unique_ptr<Strategy> make_hybrid();
std::unique_ptr<Strategy> make_expert_parallel();

}  // namespace llmt
