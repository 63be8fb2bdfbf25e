// llmthreads against HuggingFace transformers. tests/data/golden/NAME.json is a small model;
// NAME.safetensors holds the logits transformers computed for it (scripts/hf-golden: the weights
// llmthreads generates, exported as a checkpoint, loaded by transformers in fp32 with eager
// attention, one causal pass over the same token ids). Here the weights are exported again, read
// back with --weights, and every configuration's logits must match transformers' to fp32 rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "run_binary.hpp"
#include "safetensors_file.hpp"

namespace {

namespace fs = std::filesystem;
using llmt::testing::read_safetensors;
using llmt::testing::run_binary;

const fs::path kGolden = fs::path(LLMT_TEST_DATA) / "golden";
const std::string kWorkload = "b2.p5.g3";  // scripts/hf-golden's WORKLOAD
// The largest difference seen was 8e-7 of the largest logit (fp32 summation order); the exact and
// tanh GELU forms differ by far more (checked below), as would any wrong formula.
constexpr double kTolerance = 1e-5;

// max |a - b| / max |b|
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, largest = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
    largest = std::max(largest, std::abs(static_cast<double>(b[i])));
  }
  return largest > 0 ? worst / largest : INFINITY;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, EveryConfigurationMatchesTransformers) {
  const std::string name = GetParam();
  const auto golden = read_safetensors(kGolden / (name + ".safetensors"));
  const auto dir = llmt::testing::temp_path("llmt_golden", name);
  fs::remove_all(dir);
  const auto exported = run_binary("export-weights --model " + (kGolden / (name + ".json")).string() + " " + dir.string());
  ASSERT_EQ(exported.status, 0) << exported.output;
  const auto dump = llmt::testing::temp_path("llmt_golden", name + ".safetensors");
  // Mixtures of experts also under expert parallelism (experts split over 2 ranks).
  const bool moe = name.find("moe") != std::string::npos || name.find("mixtral") != std::string::npos;
  const auto ran = run_binary("bench --weights " + dir.string() + " --backend cpu --gpus 1,2 --strategy " +
                              (moe ? "tp,pp,ep" : "tp,pp") +
                              " --batch 2 --prompt 5 --gen 3 --iterations 1 --warmup 0 -q --dump-logits " + dump.string());
  ASSERT_EQ(ran.status, 0) << ran.output;
  const auto ours = read_safetensors(dump);
  ASSERT_EQ(ours.bytes.at("input_ids/" + kWorkload), golden.bytes.at("input_ids/" + kWorkload));
  const std::vector<float> want = golden.floats("logits/" + kWorkload);
  int compared = 0;
  for (const auto& [tensor, bytes] : ours.bytes) {
    if (tensor.starts_with("input_ids/")) continue;
    const std::vector<float> got = ours.floats(tensor);
    ASSERT_EQ(got.size(), want.size()) << tensor;
    EXPECT_LT(relative_error(got, want), kTolerance) << name << ": " << tensor;
    ++compared;
  }
  EXPECT_GE(compared, 3) << "the reference and at least tp1 and tp2";
}

INSTANTIATE_TEST_SUITE_P(Transformers, Golden,
                         ::testing::Values("llama", "llama3-rope", "yarn-rope", "qwen2", "qwen3", "mistral-window", "gpt2",
                                           "gpt2-gelu",
                                           // config.json as transformers 5 writes it, and with every optional
                                           // field left to the class defaults (docs/config-fields.md)
                                           "t5-llama3-rope", "t5-qwen2", "t5-mistral-window", "t5-llama-minimal",
                                           "t5-mistral-minimal", "t5-qwen2-minimal", "t5-qwen3-minimal",
                                           // mixtures of experts, checkpoints under transformers' names
                                           "t5-mixtral", "t5-mixtral-minimal", "t5-qwen3-moe", "t5-qwen3-moe-minimal",
                                           "t5-qwen2-moe", "t5-qwen2-moe-minimal"),
                         [](const ::testing::TestParamInfo<std::string>& case_info) {
                           std::string n = case_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The tolerance can tell the two GELU forms apart: the same GPT-2 weights give logits that
// differ by far more than it.
TEST(GoldenTolerance, SeparatesTheExactFromTheTanhGelu) {
  const auto tanh_form = read_safetensors(kGolden / "gpt2.safetensors").floats("logits/" + kWorkload);
  const auto exact = read_safetensors(kGolden / "gpt2-gelu.safetensors").floats("logits/" + kWorkload);
  EXPECT_GT(relative_error(tanh_form, exact), 10 * kTolerance);
}

}  // namespace
