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
#include "engine/transformer.hpp"
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

// The bench's references: the streamed fp32 logits, and the floor of one rank in the run's dtype.
// A configuration is verified against them on its first and its last measured iteration.
TEST(ReferenceSet, VerifiesAgainstTheStreamedPassWithAMeasuredFloor) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts = quick_options();
  opts.iterations = 3;
  const Workload w{3, 6, 4};
  ReferenceSet references(model, opts);
  const ConfigPoint point{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, w};
  const VerificationReference& ref = references.for_point(point);
  EXPECT_NE(ref.description.find("streamed pass in fp32"), std::string::npos) << ref.description;
  EXPECT_EQ(ref.floor.source, "one-rank configuration in fp32");
  EXPECT_GT(ref.peak_bytes, 0u);
  EXPECT_LT(ref.floor.error, 2e-6) << "fp32 one rank is the streamed pass to rounding";
  EXPECT_LT(relative_error(ref.logits, compute_reference(model, w, opts)), 2e-6);

  const ConfigResult r = run_configuration(model, point, opts, &ref);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  const Verification& v = r.verification;
  EXPECT_TRUE(v.passed) << v.note;
  EXPECT_EQ(v.positions, 3u * 4);
  EXPECT_DOUBLE_EQ(v.top1_agreement, 1.0);
  EXPECT_DOUBLE_EQ(v.tolerance, 8 * std::max(ref.floor.error, 1e-6));
  EXPECT_TRUE(v.last_iteration_checked);
  EXPECT_EQ(v.last_iteration_step, w.gen - 1);
  EXPECT_LE(v.last_iteration_rel_error, v.tolerance);
  EXPECT_EQ(v.reference_peak_bytes, ref.peak_bytes);

  // A reference that is wrong only in its last step fails the last measured iteration's check too.
  VerificationReference wrong_last = ref;
  wrong_last.logits.back()[5] += 1.0f;
  const ConfigResult bad = run_configuration(model, point, opts, &wrong_last);
  EXPECT_EQ(bad.status, ConfigStatus::failed);
  EXPECT_GT(bad.verification.last_iteration_rel_error, bad.verification.tolerance);
}

// Where the one-rank configuration does not fit, the floor comes from the streamed pass in the
// run's dtype, and the reference still exists.
TEST(ReferenceSet, TheFloorFallsBackToTheStreamedPassWhereOneRankDoesNotFit) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts = quick_options();
  const Workload w{2, 5, 3};
  ConfigPoint one_rank;
  one_rank.strategy = "reference";
  one_rank.workload = w;
  const double host = static_cast<double>(backend_entry("cpu").memory_pools(1).available_bytes.front());
  // Room for the streamed pass but not for the whole one-rank model.
  const double streamed = static_cast<double>(predict_streamed_memory(model, w, DType::f32).total());
  const double whole = static_cast<double>(predicted_total_memory(model, one_rank, DType::f32));
  ASSERT_LT(streamed, whole);
  opts.memory_headroom = (streamed + whole) / 2 / host;
  ReferenceSet references(model, opts);
  const VerificationReference& ref = references.for_point(ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking,
                                                                      MergeMode::concat, w});
  EXPECT_NE(ref.floor.source.find("streamed pass in fp32 (the one-rank configuration does not fit"), std::string::npos)
      << ref.floor.source;
  EXPECT_EQ(ref.floor.error, 0.0) << "the same pass in the same dtype";
  EXPECT_EQ(ref.logits.size(), 3u);
}

}  // namespace
}  // namespace llmt
