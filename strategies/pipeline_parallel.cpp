// Pipeline parallelism: contiguous layer stages, activations passed stage to stage.
#include <fmt/format.h>

#include "strategies/registry.hpp"

namespace llmt {
namespace {

class PipelineParallel final : public Strategy {
 public:
  std::string_view name() const override { return "pp"; }
  std::string_view description() const override {
    return "pipeline parallel: contiguous layer stages balanced by cost (embedding on the first, LM head on the "
           "last), micro-batches passed stage to stage with send/recv";
  }
  std::vector<Layout> layouts(int ranks) const override { return {Layout{1, ranks, 1}}; }
  // The last stage holds every micro-batch's logits: they are concatenated.
  std::vector<MergeMode> merges() const override { return {MergeMode::concat}; }
  std::string merge_note(MergeMode m) const override {
    return fmt::format("merge '{}' is not meaningful for pp: one stage computes all the logits", merge_mode_name(m));
  }
  std::vector<SyncMode> syncs() const override { return {SyncMode::blocking}; }
  std::string sync_note(SyncMode m) const override {
    return fmt::format("sync '{}' does not apply to pp: stages exchange activations point to point, the sync modes "
                       "change collectives",
                       sync_mode_name(m));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_pipeline_parallel() { return std::make_unique<PipelineParallel>(); }

}  // namespace llmt
