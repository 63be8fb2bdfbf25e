// A sweep is the cartesian product of named axes (ranks, strategy, sync, merge, batch,
// prompt, gen), expanded, deduplicated and validated before anything runs. Every point that
// will not run keeps its reason.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "engine/plan.hpp"
#include "engine/traffic.hpp"
#include "engine/runner.hpp"
#include "strategies/registry.hpp"

namespace llmt {

struct SweepSpec {
  std::vector<int> ranks;
  std::vector<std::string> strategies;  // "all" expands to the registry
  std::vector<SyncMode> syncs;          // empty: blocking
  std::vector<MergeMode> merges;        // empty: each strategy's default
  std::vector<int> batches, prompts, gens;
  std::vector<int> microbatches;  // pipeline micro-batches; 0 or empty: as many as stages (auto)
  std::vector<DispatchMode> dispatches;  // expert parallelism's; empty: alltoall (other grids ignore it)
  // A request-list workload (engine/traffic.hpp): `batches` are then each replica's slots, and
  // prompts and gens are not used. Empty modes: static; empty policies: round-robin.
  std::shared_ptr<const RequestList> requests;
  std::vector<BatchingMode> batchings;
  std::vector<BalancePolicy> balances;
  int token_budget = 0, prefill_chunk = 0;  // continuous batching's (BatchingOptions)
};

// The micro-batches `requested` means for a grid: 1 without pipeline stages; `auto` (0) is one
// per stage, bounded by the smallest replica's sequences.
int resolve_microbatches(int requested, const Layout& layout, const Workload& workload, bool ensemble);

struct PlannedPoint {
  ConfigPoint point;
  std::optional<std::string> skip_reason;
};

// Throws ConfigError for an unknown strategy name or an empty axis.
std::vector<PlannedPoint> plan_sweep(const ModelConfig& model, const SweepSpec& spec,
                                     const StrategyRegistry& registry);

// Marks the points of `plan` that cannot start here, before any reference is computed or rank
// thread created: more ranks than devices where each rank needs its own (`devices`), ensemble
// weights that do not match the replicas, threads and descriptors, then memory for all the
// point's ranks together and for the one-rank reference it is verified against
// (engine/admission.hpp). Points already skipped keep their reason. --dry-run applies the same.
void admit_plan(std::vector<PlannedPoint>& plan, const ModelConfig& model, const RunOptions& options, int devices);

}  // namespace llmt
