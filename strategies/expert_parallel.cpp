// Expert parallelism: the experts of every MoE layer in contiguous blocks across the ranks of
// the EP group, each token sent to the ranks holding its experts and its results brought back
// (all-to-all, or all-gather and reduce-scatter: --dispatch); attention and everything outside
// the experts data-parallel across the group, or tensor-parallel inside a tp x ep grid.
#include <fmt/format.h>

#include "strategies/registry.hpp"

namespace llmt {
namespace {

class ExpertParallel final : public Strategy {
 public:
  std::string_view name() const override { return "ep"; }
  std::string_view description() const override {
    return "expert parallel (MoE models): experts split in contiguous blocks across the EP group, tokens "
           "dispatched to them and combined back (--dispatch alltoall|allgather), attention data-parallel across "
           "the group; every tp x ep grid, tp innermost";
  }
  std::vector<Layout> layouts(int ranks) const override {
    std::vector<Layout> grids;
    for (int tp = 1; tp <= ranks / 2; ++tp)
      if (ranks % tp == 0) grids.push_back(Layout{tp, 1, ranks / tp, true});
    return grids;
  }
  std::string no_layouts_reason(int ranks) const override {
    return fmt::format("ep needs an EP group of at least 2 ranks to split the experts; {} rank(s) hold them all",
                       ranks);
  }
  std::optional<std::string> model_problem(const ModelConfig& model) const override {
    for (int l = 0; l < model.layers; ++l)
      if (model.moe_layer(l)) return std::nullopt;
    return fmt::format("ep splits the experts of MoE layers: {} has none", model.name);
  }
  std::vector<MergeMode> merges() const override { return {MergeMode::concat}; }
  std::vector<SyncMode> syncs() const override {
    return {SyncMode::blocking, SyncMode::overlap, SyncMode::param_server};
  }
  std::string merge_note(MergeMode m) const override {
    return fmt::format("merge '{}' is not meaningful for ep: the EP group's ranks serve different requests with "
                       "one model's experts, their outputs are concatenated",
                       merge_mode_name(m));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_expert_parallel() { return std::make_unique<ExpertParallel>(); }

}  // namespace llmt
