#include "strategies/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "engine/admission.hpp"
#include "engine/backends.hpp"
#include "engine/traffic.hpp"
#include "model/error.hpp"

namespace llmt {

int resolve_microbatches(int requested, const Layout& layout, const Workload& workload, bool ensemble) {
  if (layout.pp == 1) return 1;
  if (requested > 0) return requested;
  const int smallest_replica = ensemble ? workload.batch : workload.batch / layout.dp;
  return std::max(1, std::min(layout.pp, smallest_replica));
}

namespace {

// The request-list plans of one grid: one per batching mode and, with replicas to balance,
// per balancing policy (one replica: the first policy only, all would run alike). A uniform
// sweep has one, null.
std::vector<std::shared_ptr<const TrafficPlan>> traffic_plans(const SweepSpec& spec, int slots, const Layout& layout) {
  if (!spec.requests) return {nullptr};
  const std::vector<BatchingMode> modes =
      spec.batchings.empty() ? std::vector<BatchingMode>{BatchingMode::static_batches} : spec.batchings;
  std::vector<BalancePolicy> policies =
      spec.balances.empty() ? std::vector<BalancePolicy>{BalancePolicy::round_robin} : spec.balances;
  if (layout.dp <= 1) policies.resize(1);
  std::vector<std::shared_ptr<const TrafficPlan>> out;
  for (BatchingMode mode : modes)
    for (BalancePolicy policy : policies) {
      auto plan = std::make_shared<TrafficPlan>();
      plan->requests = spec.requests;
      plan->batching = BatchingOptions{mode, slots, spec.token_budget, spec.prefill_chunk};
      plan->balance = policy;
      out.push_back(std::move(plan));
    }
  return out;
}

}  // namespace

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
    if (name == "all") {  // every strategy that applies to the model
      for (const Strategy* s : registry.all())
        if (!s->model_problem(model)) strategies.push_back(s);
    } else {
      strategies.push_back(&registry.get(name));
    }
  }
  const std::vector<SyncMode> syncs = spec.syncs.empty() ? std::vector<SyncMode>{SyncMode::blocking} : spec.syncs;
  const std::vector<int> microbatches = spec.microbatches.empty() ? std::vector<int>{0} : spec.microbatches;
  const std::vector<DispatchMode> dispatches =
      spec.dispatches.empty() ? std::vector<DispatchMode>{DispatchMode::alltoall} : spec.dispatches;
  // The dispatch modes that make `layout` differ: every one with experts split, else none.
  auto dispatches_of = [&](const Layout& layout) {
    return layout.experts_split ? dispatches : std::vector<DispatchMode>{DispatchMode::alltoall};
  };

  std::vector<PlannedPoint> plan;
  std::set<std::string> seen;                   // point ids already planned
  std::map<std::string, std::string> runs_as;  // execution key -> first point id
  auto add = [&](PlannedPoint p) {
    const std::string id = p.point.id();
    if (!seen.insert(id).second) return;  // the same point reached twice (repeated list items)
    if (!p.skip_reason) p.skip_reason = why_invalid(registry, model, p.point);
    if (!p.skip_reason) {
      auto [it, inserted] = runs_as.emplace(p.point.execution_key(), id);
      if (!inserted) p.skip_reason = fmt::format("same execution as {}", it->second);
    }
    plan.push_back(std::move(p));
  };

  for (int batch : spec.batches)
    for (int prompt : spec.prompts)
      for (int gen : spec.gens)
        for (int ranks : spec.ranks)
          for (const Strategy* s : strategies) {
            const Workload workload{batch, prompt, gen};
            const std::optional<std::string> not_for_model = s->model_problem(model);
            const std::vector<Layout> layouts = not_for_model ? std::vector<Layout>{} : s->layouts(ranks);
            if (layouts.empty()) {  // listed once per rank count, with the reason
              PlannedPoint p;
              p.point = ConfigPoint{std::string(s->name()), Layout{0, 0, 0}, syncs.front(), s->merges().front(),
                                    workload};
              p.point.requested_ranks = ranks;
              p.skip_reason = not_for_model ? not_for_model : s->no_layouts_reason(ranks);
              if (seen.insert(p.point.id()).second) plan.push_back(std::move(p));
              continue;
            }
            const std::vector<MergeMode> merges =
                spec.merges.empty() ? std::vector<MergeMode>{s->merges().front()} : spec.merges;
            for (const Layout& layout : layouts)
              for (SyncMode sync : syncs)
                for (MergeMode merge : merges)
                  for (int mb : microbatches)
                    for (DispatchMode dispatch : dispatches_of(layout))
                      for (const auto& traffic : traffic_plans(spec, batch, layout)) {
                        PlannedPoint p;
                        p.point = ConfigPoint{std::string(s->name()), layout, sync, merge, workload};
                        if (traffic) p.point.workload = sizing_workload(*traffic, layout.dp);
                        p.point.traffic = traffic;
                        p.point.microbatches =
                            resolve_microbatches(mb, layout, p.point.workload, p.point.ensemble());
                        p.point.dispatch = dispatch;
                        add(std::move(p));
                      }
          }
  return plan;
}

void admit_plan(std::vector<PlannedPoint>& plan, const ModelConfig& model, const RunOptions& options, int devices) {
  const BackendEntry& backend = backend_entry(options.backend);
  const std::vector<double>& weights = options.exec.ensemble_weights;
  // Planned devices are not this process's: its threads and descriptors do not limit them.
  const RankBudget budget = options.planned_device ? RankBudget{} : rank_budget(options.backend);
  std::map<std::string, std::optional<std::string>> reference_problem;  // by workload
  for (PlannedPoint& p : plan) {
    if (p.skip_reason) continue;
    const int ranks = p.point.ranks();
    if (backend.rank_per_device && !options.planned_device && ranks > devices) {
      p.skip_reason = fmt::format("{} ranks need {} {}, {} present{}", ranks, ranks, backend.device_noun, devices,
                                  backend.emulated_variant.empty() ? "" : " (--emulate-ranks checks the logic on one)");
    } else if (!weights.empty() && p.point.ensemble() && static_cast<int>(weights.size()) != p.point.layout.dp) {
      p.skip_reason = fmt::format("{} ensemble weights given for {} replicas", weights.size(), p.point.layout.dp);
    } else if (auto problem = admission_problem(model, p.point, options, budget)) {
      p.skip_reason = std::move(problem);
    } else {
      const std::string key = p.point.traffic ? p.point.traffic->requests->label() : p.point.workload.label();
      if (!reference_problem.count(key)) reference_problem[key] = admit_reference(model, reference_positions(p.point), options);
      p.skip_reason = reference_problem[key];
    }
  }
}

}  // namespace llmt
