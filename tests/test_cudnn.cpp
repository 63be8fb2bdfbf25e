// cuDNN's fused attention without a GPU: every SDPA graph a default sweep would build is
// checked with cudnn-frontend's validate() against Hopper (sm 90) and Ampere (sm 80), and the
// shapes cuDNN must not serve fall back to the naive kernel with a reason. (Running the graphs
// is tests/test_cuda.cpp's job, on a GPU.)
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <utility>

#include "model/model.hpp"
#include "strategies/sweep.hpp"
#include "engine/transformer.hpp"
#include "kernels/cuda/cudnn_attention.hpp"

namespace llmt {
namespace {

using cuda::SdpaSpec;

// The sweeps the README and the GPU validation run, and llmt_gpu_bench's attention shapes.
std::vector<Workload> default_workloads() {
  return {{4, 128, 16}, {4, 64, 8}, {1, 128, 33}, {16, 128, 33}, {1, 2048, 2}, {1, 159, 2}, {16, 4095, 2}};
}

// Every attention shape of every rank of every runnable point of `model` over 1-8 ranks.
std::map<std::string, AttentionShape> planned_shapes(const ModelConfig& model) {
  SweepSpec spec;
  spec.ranks = {1, 2, 4, 8};
  spec.strategies = {"all"};
  for (const Workload& w : default_workloads()) {
    spec.batches.push_back(w.batch);
    spec.prompts.push_back(w.prompt);
    spec.gens.push_back(w.gen);
  }
  std::map<std::string, AttentionShape> shapes;
  for (const PlannedPoint& planned : plan_sweep(model, spec, builtin_strategies())) {
    if (planned.skip_reason) continue;
    for (int r = 0; r < planned.point.layout.ranks(); ++r)
      for (const AttentionShape& s : attention_shapes(model, planned.point, make_shard_plan(model, planned.point, r)))
        shapes.emplace(SdpaSpec::from(s, DType::bf16).describe() + (s.window > 0 ? " window" : ""), s);
  }
  return shapes;
}

TEST(Cudnn, EveryGraphOfTheDefaultSweepsValidatesOnHopperAndAmpere) {
  int checked = 0;
  for (const std::string name : {"tiny", "gpt2", "llama-3-8b", "llama-2-7b", "mistral-7b", "qwen2-7b", "llama-3-70b"}) {
    const ModelConfig model = load_model(name);
    const auto shapes = planned_shapes(model);
    ASSERT_FALSE(shapes.empty()) << name;
    for (const auto& [key, shape] : shapes)
      for (DType type : {DType::bf16, DType::f16}) {
        if (!cuda::sdpa_unsupported(shape, type).empty()) continue;
        const SdpaSpec spec = SdpaSpec::from(shape, type);
        for (int sm : {90, 80}) {
          EXPECT_EQ(cuda::validate_sdpa(spec, sm), "") << name << " " << spec.describe() << " sm" << sm;
          ++checked;
        }
      }
  }
  EXPECT_GT(checked, 100);
}

TEST(Cudnn, DecodeGraphsCoverTheWholeCacheAndPrefillGraphsThePrompt) {
  const AttentionShape prefill{2, 128, 0, 161, 32, 8, 128, 4, 0};
  const SdpaSpec p = SdpaSpec::from(prefill, DType::bf16);
  EXPECT_FALSE(p.decode);
  EXPECT_EQ(p.s_q, 128);
  EXPECT_EQ(p.s_kv, 128);
  EXPECT_EQ(p.q_row_stride(), (32 + 16) * 128);
  AttentionShape step = prefill;
  step.new_tokens = 1;
  step.past = 140;
  const SdpaSpec d = SdpaSpec::from(step, DType::bf16);
  EXPECT_TRUE(d.decode);
  EXPECT_EQ(d.s_q, 1);
  EXPECT_EQ(d.s_kv, 161);
  step.past = 150;  // another step: the same graph
  EXPECT_TRUE(SdpaSpec::from(step, DType::bf16).key() == d.key());
  EXPECT_FALSE(p.key() == d.key());
}

TEST(Cudnn, ShapesCudnnDoesNotServeSayWhy) {
  AttentionShape s{1, 16, 0, 32, 8, 8, 64, 1, 0};
  EXPECT_EQ(cuda::sdpa_unsupported(s, DType::bf16), "");
  EXPECT_NE(cuda::sdpa_unsupported(s, DType::f32).find("fp16 or bf16"), std::string::npos);
  s.window = 8;  // a window shorter than the context
  EXPECT_NE(cuda::sdpa_unsupported(s, DType::bf16).find("sliding"), std::string::npos);
  s.window = 64;  // a window the context never reaches changes nothing
  EXPECT_EQ(cuda::sdpa_unsupported(s, DType::bf16), "");
  AttentionShape step = s;  // decode: the window binds at the cache's last step
  step.new_tokens = 1;
  step.past = 16;
  step.window = 20;
  EXPECT_NE(cuda::sdpa_unsupported(step, DType::bf16).find("sliding"), std::string::npos);
  step.window = 32;
  EXPECT_EQ(cuda::sdpa_unsupported(step, DType::bf16), "");
  // cuDNN itself refuses what it cannot do, with its own message: head dimension 7.
  AttentionShape odd{1, 16, 0, 32, 2, 2, 7, 1, 0};
  EXPECT_NE(cuda::validate_sdpa(SdpaSpec::from(odd, DType::bf16), 90), "");
}

TEST(Cudnn, TheBenchmarksBareCallsValidate) {
  // llmt_gpu_bench's reference: contiguous tensors, Llama-3-8B heads, prefill and decode.
  for (const auto& [batch, s_q, s_kv] : {std::tuple{1, 128, 128}, {16, 128, 128}, {1, 2048, 2048}, {1, 1, 160},
                                          {16, 1, 160}, {1, 1, 4096}, {16, 1, 4096}}) {
    const SdpaSpec spec = SdpaSpec::bare_call(DType::bf16, batch, 32, 8, 128, s_q, s_kv);
    EXPECT_EQ(spec.decode, s_q == 1);
    EXPECT_EQ(cuda::validate_sdpa(spec, 90), "") << spec.describe();
  }
}

// A ragged step's pieces are batch-1 calls at offsets into a slot's cache row: whole prompts
// (one token among them), decode rows at any fill, and prefill chunks over cached tokens, whose
// causal diagonal cuDNN aligns to the bottom right (query i is key past + i).
TEST(Cudnn, RaggedStepPiecesValidateChunksAligningTheirCausalMaskBottomRight) {
  struct Heads {
    int q, kv, d;
  };
  for (const Heads h : {Heads{4, 2, 64}, Heads{32, 8, 128}}) {
    for (const auto& [tokens, past] : {std::pair{1, 0}, {7, 0}, {4, 8}, {3, 5}, {64, 128}, {1, 40}, {100, 28}}) {
      const AttentionShape piece{1, tokens, past, 161, h.q, h.kv, h.d, h.q / h.kv, 0};
      ASSERT_EQ(cuda::sdpa_unsupported(piece, DType::bf16), "") << tokens << " at " << past;
      const SdpaSpec spec = SdpaSpec::from(piece, DType::bf16);
      EXPECT_EQ(spec.s_q, tokens);
      EXPECT_EQ(spec.s_kv, piece.decode() ? 161 : past + tokens);
      if (!piece.decode() && past > 0) {
        EXPECT_NE(spec.describe().find("bottom right"), std::string::npos);
      }
      for (int sm : {90, 80}) EXPECT_EQ(cuda::validate_sdpa(spec, sm), "") << spec.describe() << " sm" << sm;
    }
  }
  // Every chunk is its own graph (its s_q and s_kv), decode rows share one whatever their fill.
  const AttentionShape a{1, 4, 8, 64, 4, 2, 64, 2, 0}, b{1, 4, 12, 64, 4, 2, 64, 2, 0};
  EXPECT_FALSE(SdpaSpec::from(a, DType::bf16).key() == SdpaSpec::from(b, DType::bf16).key());
}

TEST(Cudnn, TheBenchmarksBareRaggedPrefillValidates) {
  // llmt_gpu_bench's ragged reference: 16 prompts padded to the longest, a padding mask with
  // per-sequence lengths, causal.
  const SdpaSpec spec = SdpaSpec::bare_varlen(DType::bf16, 16, 32, 8, 128, 2221);
  EXPECT_TRUE(spec.varlen);
  EXPECT_FALSE(spec.decode);
  EXPECT_NE(spec.describe().find("varlen"), std::string::npos);
  EXPECT_FALSE(spec.key() == SdpaSpec::bare_call(DType::bf16, 16, 32, 8, 128, 2221, 2221).key());
  for (int sm : {90, 80}) EXPECT_EQ(cuda::validate_sdpa(spec, sm), "") << spec.describe() << " sm" << sm;
}

TEST(Cudnn, LibraryVersionIsTheOneBuiltAgainst) {
  EXPECT_GE(cuda::cudnn_version(), 90000);
}

}  // namespace
}  // namespace llmt
