// Data parallelism: whole replicas, each serving part of the batch.
#include <fmt/format.h>

#include "strategies/registry.hpp"

namespace llmt {
namespace {

class DataParallel final : public Strategy {
 public:
  std::string_view name() const override { return "dp"; }
  std::string_view description() const override {
    return "data parallel: whole replicas, the batch (requests) split across them and outputs concatenated, "
           "or (merge mean) ensemble members with weights of their own, outputs averaged";
  }
  std::vector<Layout> layouts(int ranks) const override { return {Layout{1, 1, ranks}}; }
  std::vector<MergeMode> merges() const override { return {MergeMode::concat, MergeMode::mean}; }
  // param-server applies to the ensemble average; the output concat is an all-gather.
  std::vector<SyncMode> syncs() const override { return {SyncMode::blocking, SyncMode::param_server}; }
  std::string sync_note(SyncMode m) const override {
    if (m == SyncMode::overlap)
      return "sync 'overlap' does not apply to dp: the replicas' only collective ends the step, nothing computes "
             "beside it";
    return Strategy::sync_note(m);
  }
  std::string merge_note(MergeMode m) const override {
    if (m == MergeMode::sum)
      return "merge 'sum' is not meaningful for dp: replicas serve different requests, their logits do not add up";
    return Strategy::merge_note(m);
  }
};

}  // namespace

std::unique_ptr<Strategy> make_data_parallel() { return std::make_unique<DataParallel>(); }

}  // namespace llmt
