// Megatron-style tensor parallelism: every rank holds a slice of every layer.
#include <fmt/format.h>

#include "strategies/registry.hpp"

namespace llmt {
namespace {

class TensorParallel final : public Strategy {
 public:
  std::string_view name() const override { return "tp"; }
  std::string_view description() const override {
    return "tensor parallel (Megatron): QKV and MLP-up column-parallel, attention-out and MLP-down "
           "row-parallel with 2 all-reduces per layer; vocabulary-parallel embedding and LM head";
  }
  std::vector<Layout> layouts(int ranks) const override { return {Layout{ranks, 1, 1}}; }
  // concat: vocabulary-parallel LM head, logits all-gathered; sum: the head split along the
  // hidden dimension, partial logits all-reduced.
  std::vector<MergeMode> merges() const override { return {MergeMode::concat, MergeMode::sum}; }
  std::vector<SyncMode> syncs() const override {
    return {SyncMode::blocking, SyncMode::overlap, SyncMode::param_server};
  }
  std::string merge_note(MergeMode m) const override {
    if (m == MergeMode::mean)
      return "merge 'mean' is not meaningful for tp: ranks hold parts of one model, not replicas to average";
    return Strategy::merge_note(m);
  }
};

}  // namespace

std::unique_ptr<Strategy> make_tensor_parallel() { return std::make_unique<TensorParallel>(); }

}  // namespace llmt
