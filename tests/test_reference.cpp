// The streamed reference (engine/reference.cpp): one causal pass, layer by layer, equals the
// incremental one-rank run (KV cache, one decode step at a time) and transformers' golden
// logits to fp32 rounding, while holding one layer's weights instead of the model's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/backends.hpp"
#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"
#include "safetensors_file.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;
using testing::quick_options;

const fs::path kGolden = fs::path(LLMT_TEST_DATA) / "golden";

// max over steps of max |a - b| / max |b|
double relative_error(const StepLogits& a, const StepLogits& b) {
  double worst = 0;
  for (std::size_t s = 0; s < b.size(); ++s) {
    double diff = 0, largest = 0;
    for (std::size_t i = 0; i < b[s].size(); ++i) {
      diff = std::max(diff, std::abs(static_cast<double>(a[s][i]) - b[s][i]));
      largest = std::max(largest, std::abs(static_cast<double>(b[s][i])));
    }
    worst = std::max(worst, diff / largest);
  }
  return worst;
}

StreamedLogits streamed(const ModelConfig& model, const Workload& w, int member = 0) {
  const std::unique_ptr<Backend> backend = make_backend("cpu", 0, DType::f32);
  return streamed_logits(model, w, ExecutionOptions{}, member, *backend);
}

class StreamedReference : public ::testing::TestWithParam<std::string> {};

// Every architecture the golden files cover: plain, grouped, rope-scaled, windowed (a prompt
// longer than the window), biased, q/k-normed, GPT-2 with both GELU forms.
TEST_P(StreamedReference, EqualsTheIncrementalReference) {
  const ModelConfig model = load_model((kGolden / (GetParam() + ".json")).string());
  const Workload w{3, 9, 4};
  const StreamedLogits s = streamed(model, w);
  const StepLogits incremental = compute_reference(model, w, quick_options());
  ASSERT_EQ(s.logits.size(), incremental.size());
  ASSERT_EQ(s.logits[0].size(), incremental[0].size());
  EXPECT_LT(relative_error(s.logits, incremental), 2e-6) << GetParam();
  EXPECT_GT(relative_error(s.logits, streamed(model, w, 1).logits), 1e-2) << "another member's weights differ";
}

INSTANTIATE_TEST_SUITE_P(Golden, StreamedReference,
                         ::testing::Values("llama", "llama3-rope", "yarn-rope", "qwen2", "qwen3", "mistral-window",
                                           "gpt2", "gpt2-gelu"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The golden logits were computed by transformers from the weights llmthreads generates with the
// default seed, for the workload b2.p5.g3: the streamed pass reproduces them.
TEST(StreamedReference, EqualsTransformers) {
  for (const std::string name : {"llama", "qwen3", "gpt2"}) {
    const ModelConfig model = load_model((kGolden / (name + ".json")).string());
    const auto golden = testing::read_safetensors(kGolden / (name + ".safetensors")).floats("logits/b2.p5.g3");
    const StreamedLogits s = streamed(model, Workload{2, 5, 3});
    StepLogits want(3);
    const std::size_t per_step = s.logits[0].size();
    ASSERT_EQ(golden.size(), 3 * per_step) << name;
    for (std::size_t step = 0; step < 3; ++step)
      want[step].assign(golden.begin() + static_cast<long>(step * per_step),
                        golden.begin() + static_cast<long>((step + 1) * per_step));
    EXPECT_LT(relative_error(s.logits, want), 1e-5) << name;
  }
}

// One layer's weights (or one block of the vocabulary) plus activations and logits, whatever the
// depth: a 12-layer model needs no more than a 2-layer one, and far less than its weights.
TEST(StreamedReference, HoldsOneLayerOfWeights) {
  const ModelConfig base = load_model("tiny");
  const Workload w{2, 6, 3};
  ModelConfig deep = base;
  deep.layers = 12;
  const ModelConfig shallow = with_layers(base, 2);
  const StreamedLogits d = streamed(deep, w);
  const StreamedLogits s = streamed(shallow, w);
  // One layer of the tiny model, by its shapes: q, k, v, o, gate, up, down and two norms.
  const std::size_t h = 64, hd = 8, heads = 8, kv = 4, inter = 200;
  const std::size_t layer = ((heads + 2 * kv) * hd * h + heads * hd * h + 3 * h * inter + 2 * h) * sizeof(float);
  EXPECT_LE(d.predicted.weights, layer + h * sizeof(float)) << "a layer, or a vocabulary block and the final norm";
  EXPECT_EQ(d.predicted.total(), s.predicted.total());
  EXPECT_LE(d.peak_bytes, d.predicted.total());
  EXPECT_LE(d.peak_bytes, layer + d.predicted.activations + d.predicted.logits);
  EXPECT_GE(d.peak_bytes, d.predicted.activations + d.predicted.logits) << "every activation and the logits are live";
  ConfigPoint one_rank;
  one_rank.strategy = "reference";
  one_rank.workload = w;
  const std::size_t all_weights = predicted_total_memory(deep, one_rank, DType::f32);
  EXPECT_LT(d.peak_bytes, all_weights / 2) << "less than half of what the whole model's one-rank run needs";
  EXPECT_LT(relative_error(d.logits, compute_reference(deep, w, quick_options())), 2e-6);
}

}  // namespace
}  // namespace llmt
