#include "engine/sweep.hpp"

#include <fmt/format.h>

#include <map>

#include "engine/error.hpp"

namespace llmt {

std::vector<PlannedPoint> plan_sweep(const ModelConfig& model, const SweepSpec& spec,
                                     const StrategyRegistry& registry) {
  auto require = [](bool ok, const char* axis) {
    if (!ok) throw ConfigError(fmt::format("--{}: the list is empty", axis));
  };
  require(!spec.ranks.empty(), "gpus");
  require(!spec.strategies.empty(), "strategy");
  require(!spec.batches.empty(), "batch");
  require(!spec.prompts.empty(), "prompt");
  require(!spec.gens.empty(), "gen");

  std::vector<const Strategy*> strategies;
  for (const std::string& name : spec.strategies) {
    if (name == "all") {
      for (const Strategy* s : registry.all()) strategies.push_back(s);
    } else {
      strategies.push_back(&registry.get(name));
    }
  }
  const std::vector<SyncMode> syncs = spec.syncs.empty() ? std::vector<SyncMode>{SyncMode::blocking} : spec.syncs;

  std::vector<PlannedPoint> plan;
  std::map<std::string, std::string> seen_id;    // point id -> present
  std::map<std::string, std::string> runs_as;    // what actually runs -> first point id
  for (int batch : spec.batches)
    for (int prompt : spec.prompts)
      for (int gen : spec.gens)
        for (int ranks : spec.ranks)
          for (const Strategy* s : strategies) {
            const std::vector<MergeMode> merges = spec.merges.empty() ? std::vector<MergeMode>{s->merges().front()} : spec.merges;
            for (const Layout& layout : s->layouts(ranks))
              for (SyncMode sync : syncs)
                for (MergeMode merge : merges) {
                  PlannedPoint p;
                  p.point = ConfigPoint{std::string(s->name()), layout, sync, merge, Workload{batch, prompt, gen}};
                  if (ranks < 1) {
                    p.skip_reason = fmt::format("{} ranks: at least one is needed", ranks);
                  } else {
                    p.skip_reason = why_invalid(registry, model, p.point);
                  }
                  const std::string id = p.point.id();
                  if (seen_id.count(id)) continue;  // the same point listed twice
                  seen_id[id] = id;
                  // Different strategies can name the same execution (tp and dp on one rank).
                  const std::string execution = fmt::format("{}|{}|{}|{}", layout.label(), sync_mode_name(sync),
                                                            merge_mode_name(merge), p.point.workload.label());
                  if (!p.skip_reason) {
                    auto [it, inserted] = runs_as.emplace(execution, id);
                    if (!inserted) p.skip_reason = fmt::format("same execution as {}", it->second);
                  }
                  plan.push_back(std::move(p));
                }
          }
  return plan;
}

}  // namespace llmt
