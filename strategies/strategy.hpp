// A parallelisation strategy describes plans; the engine runs them. A strategy names the
// TP x PP x DP grids it uses for a rank count, the merge and sync modes that make sense for
// it, and any rule of its own that makes a configuration impossible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.hpp"
#include "engine/plan.hpp"

namespace llmt {

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  // Grids used on `ranks` ranks (a hybrid strategy returns several).
  virtual std::vector<Layout> layouts(int ranks) const = 0;
  // Meaningful merge modes; the first is the default. Others are reported invalid with `merge_note`.
  virtual std::vector<MergeMode> merges() const = 0;
  virtual std::vector<SyncMode> syncs() const { return {SyncMode::blocking}; }
  // Why a merge or sync mode this strategy does not support makes no sense for it.
  virtual std::string merge_note(MergeMode m) const;
  virtual std::string sync_note(SyncMode m) const;
  // Why layouts(ranks) is empty, when it can be.
  virtual std::string no_layouts_reason(int ranks) const;
  // Why this strategy has nothing to do for `model` at all (expert parallelism on a dense model):
  // `all` then leaves it out, and naming it lists one skipped point per rank count.
  virtual std::optional<std::string> model_problem(const ModelConfig& model) const;
  // Strategy-specific reason `point` cannot run; the engine checks the generic layout rules.
  virtual std::optional<std::string> why_invalid(const ModelConfig& model, const ConfigPoint& point) const;
};

}  // namespace llmt
