// Hybrid grids: tensor x pipeline x data parallel, every factorisation of the rank count with
// at least two parallel dimensions.
#include <fmt/format.h>

#include "strategies/registry.hpp"

namespace llmt {
namespace {

class Hybrid final : public Strategy {
 public:
  std::string_view name() const override { return "hybrid"; }
  std::string_view description() const override {
    return "hybrid grids TP x PP x DP whose product is the rank count (every factorisation with at least two "
           "parallel dimensions), TP innermost";
  }
  std::vector<Layout> layouts(int ranks) const override {
    std::vector<Layout> grids;
    for (int tp = 1; tp <= ranks; ++tp)
      for (int pp = 1; tp * pp <= ranks; ++pp) {
        if (ranks % (tp * pp) != 0) continue;
        const Layout l{tp, pp, ranks / (tp * pp)};
        if ((l.tp > 1) + (l.pp > 1) + (l.dp > 1) >= 2) grids.push_back(l);
      }
    return grids;
  }
  std::string no_layouts_reason(int ranks) const override {
    return fmt::format("no hybrid grid on {} rank(s): it needs at least two parallel dimensions above 1", ranks);
  }
  std::vector<MergeMode> merges() const override { return {MergeMode::concat, MergeMode::sum, MergeMode::mean}; }
  std::vector<SyncMode> syncs() const override {
    return {SyncMode::blocking, SyncMode::overlap, SyncMode::param_server};
  }
};

}  // namespace

std::unique_ptr<Strategy> make_hybrid() { return std::make_unique<Hybrid>(); }

}  // namespace llmt
