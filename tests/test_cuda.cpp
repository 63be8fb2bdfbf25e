// The CUDA backend against the CPU backend: every operation, every collective (NCCL across the
// GPUs present, and emulated ranks on one GPU), every strategy in emulation against the one-rank
// reference. Each test skips, saying why, where no GPU is found.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>
#include <thread>

#include "engine/backends.hpp"
#include "model/error.hpp"
#include "model/model.hpp"
#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "engine/traffic.hpp"
#include "hand_made_requests.hpp"
#include "quick_options.hpp"
#include "strategies/sweep.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace llmt {
namespace {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    const CudaRuntimeInfo info = cuda_runtime_info();
    if (info.device_count == 0) GTEST_SKIP() << "no GPU: " << info.why_none;
  }
};

// A buffer on `b` holding the values of FillSpec{seed, tensor} (scale `scale`, offset `offset`).
struct Filled {
  DeviceBuffer buf;
  std::size_t n;
};
Filled filled(Backend& b, std::size_t n, std::uint64_t tensor, float scale = 1.0f, float offset = 0.0f) {
  Filled f{b.allocate(n, MemoryKind::activations), n};
  b.fill(f.buf.get(), 1, static_cast<int>(n), FillSpec{7, tensor, 0, 0, static_cast<std::int64_t>(n), scale, offset});
  return f;
}
std::vector<float> host(Backend& b, const DeviceBuffer& buf, std::size_t n) {
  std::vector<float> out(n);
  b.synchronize();
  b.copy_to_host(out.data(), buf.get(), n);
  return out;
}
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0, worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
  }
  EXPECT_LE(worst, tol * std::max(scale, 1e-6)) << what << ": max abs error " << worst << " of scale " << scale;
}

class GpuKernels : public Gpu, public ::testing::WithParamInterface<DType> {};

// The engine's own attention kernel on `b`'s device and stream, whatever `b` chose for the shape.
void cuda_naive_attention(Backend& b, const void* qkv, const void* k, const void* v, void* out,
                          const AttentionShape& shape) {
  auto naive = make_backend("cuda", 0, b.dtype());
  naive->bind_thread();
  b.synchronize();
  naive->prepare_attention(shape, AttentionKernel::naive);
  naive->attention(qkv, k, v, out, shape);
  naive->synchronize();
}

TEST_P(GpuKernels, EveryOperationMatchesTheCpuBackend) {
  const DType type = GetParam();
  const double tol = type == DType::f32 ? 1e-5 : (type == DType::bf16 ? 2e-2 : 3e-3);
  auto cpu = make_cpu_backend();
  auto gpu = make_backend("cuda", 0, type);
  gpu->bind_thread();
  const int rows = 6, cols = 96, k = 80;

  auto both = [&](auto&& op, std::size_t out_n, const char* what) {
    std::vector<float> results[2];
    Backend* backends[2] = {cpu.get(), gpu.get()};
    for (int i = 0; i < 2; ++i) {
      Backend& b = *backends[i];
      DeviceBuffer out = b.allocate(out_n, MemoryKind::activations);
      op(b, out.get());
      results[i] = host(b, out, out_n);
    }
    expect_close(results[1], results[0], tol, what);
  };
  // Inputs are generated on each backend from the same FillSpec; bf16/fp16 round them first,
  // which the tolerance covers.
  both([&](Backend& b, void* out) {
         auto a = filled(b, static_cast<std::size_t>(rows) * k, 1), w = filled(b, static_cast<std::size_t>(cols) * k, 2, 0.2f);
         b.gemm(rows, cols, k, a.buf.get(), k, w.buf.get(), k, out, cols, 0.0f);
       },
       static_cast<std::size_t>(rows) * cols, "gemm");
  both([&](Backend& b, void* out) {
         auto x = filled(b, static_cast<std::size_t>(rows) * cols, 3), w = filled(b, cols, 4, 0.1f, 1.0f);
         b.rms_norm(x.buf.get(), w.buf.get(), out, rows, cols, 1e-5f);
       },
       static_cast<std::size_t>(rows) * cols, "rms_norm");
  both([&](Backend& b, void* out) {  // Qwen3's q/k norms over rows of 3 q heads, 1 kv head (k, v) of 32
         const std::size_t n = static_cast<std::size_t>(rows) * 5 * 32;
         auto qkv = filled(b, n, 13, 3.0f), qw = filled(b, 32, 14, 0.1f, 1.0f), kw = filled(b, 32, 15, 0.1f, 1.0f);
         b.head_rms_norm(qkv.buf.get(), qw.buf.get(), kw.buf.get(), rows, 3, 1, 32, 1e-6f);
         b.copy_2d(out, n, qkv.buf.get(), n, 1, n);
       },
       static_cast<std::size_t>(rows) * 5 * 32, "head_rms_norm");
  both([&](Backend& b, void* out) {
         auto x = filled(b, static_cast<std::size_t>(rows) * cols, 5, 3.0f), w = filled(b, cols, 6, 0.1f, 1.0f),
              bias = filled(b, cols, 7, 0.1f);
         b.layer_norm(x.buf.get(), w.buf.get(), bias.buf.get(), out, rows, cols, 1e-5f);
       },
       static_cast<std::size_t>(rows) * cols, "layer_norm");
  both([&](Backend& b, void* out) {
         auto x = filled(b, static_cast<std::size_t>(rows) * 2 * cols, 8, 3.0f);
         b.silu_mul(x.buf.get(), out, rows, cols);
       },
       static_cast<std::size_t>(rows) * cols, "silu_mul");
  both([&](Backend& b, void* out) {
         auto x = filled(b, static_cast<std::size_t>(rows) * cols, 9, 3.0f), y = filled(b, static_cast<std::size_t>(rows) * cols, 10);
         auto bias = filled(b, cols, 11);
         b.gelu(x.buf.get(), x.n / 2, GeluForm::tanh);
         b.gelu(static_cast<char*>(x.buf.get()) + x.n / 2 * dtype_size(b.dtype()), x.n - x.n / 2, GeluForm::erf);
         b.add(x.buf.get(), y.buf.get(), x.n);
         b.add_bias(x.buf.get(), bias.buf.get(), rows, cols);
         b.scale(x.buf.get(), 0.5f, x.n);
         b.copy_2d(out, cols, x.buf.get(), cols, rows, cols);
         b.add_2d(out, cols, y.buf.get(), cols, rows, cols / 2);
       },
       static_cast<std::size_t>(rows) * cols, "gelu (tanh and exact), add, add_bias, scale, copy_2d, add_2d");
  both([&](Backend& b, void* out) {
         auto table = filled(b, static_cast<std::size_t>(50) * cols, 12);
         const std::int32_t tokens[] = {3, 49, 10, 60, 0, 25};
         DeviceBuffer ids = b.allocate_bytes(sizeof(tokens), MemoryKind::activations);
         b.upload_bytes(ids.get(), tokens, sizeof(tokens));
         // rows of tokens outside [10, 60) are zero
         b.embed(static_cast<const std::int32_t*>(ids.get()), 6, table.buf.get(), 10, 60, cols, out);
       },
       static_cast<std::size_t>(rows) * cols, "embed");
  // MoE: rows gathered by index (a repeat among them), then each token's k expert rows summed
  // with its router weights.
  both([&](Backend& b, void* out) {
         auto src = filled(b, static_cast<std::size_t>(rows) * cols, 26, 2.0f);
         const std::int32_t index[] = {4, 0, 5, 4, 1, 2};
         DeviceBuffer ids = b.allocate_bytes(sizeof(index), MemoryKind::activations);
         b.upload_bytes(ids.get(), index, sizeof(index));
         b.gather_rows(out, src.buf.get(), static_cast<const std::int32_t*>(ids.get()), rows, cols);
       },
       static_cast<std::size_t>(rows) * cols, "gather_rows");
  both([&](Backend& b, void* out) {
         auto src = filled(b, static_cast<std::size_t>(2 * rows) * cols, 27, 2.0f);
         std::int32_t position[2 * rows];
         float weight[2 * rows];
         for (int i = 0; i < 2 * rows; ++i) {
           position[i] = (7 * i + 3) % (2 * rows);
           weight[i] = 0.25f + 0.125f * static_cast<float>(i % 3);
         }
         DeviceBuffer pos = b.allocate_bytes(sizeof(position), MemoryKind::activations);
         DeviceBuffer wts = b.allocate_bytes(sizeof(weight), MemoryKind::activations);
         b.upload_bytes(pos.get(), position, sizeof(position));
         b.upload_bytes(wts.get(), weight, sizeof(weight));
         b.weighted_sum_rows(out, src.buf.get(), static_cast<const std::int32_t*>(pos.get()),
                             static_cast<const float*>(wts.get()), rows, 2, cols);
       },
       static_cast<std::size_t>(rows) * cols, "weighted_sum_rows");
  for (const bool layer : {false, true})
    both([&](Backend& b, void* out) {
           const std::size_t n = static_cast<std::size_t>(rows) * cols;
           auto x = filled(b, n, 20, 2.0f), y = filled(b, n, 21), bias = filled(b, cols, 22, 0.1f);
           auto w = filled(b, cols, 23, 0.1f, 1.0f), nb = filled(b, cols, 24, 0.1f);
           b.add_norm(x.buf.get(), y.buf.get(), layer ? bias.buf.get() : nullptr, w.buf.get(),
                      layer ? nb.buf.get() : nullptr, out, rows, cols, 1e-5f, layer);
           b.add(out, x.buf.get(), n);  // the updated residual counts too
         },
         static_cast<std::size_t>(rows) * cols, layer ? "add_norm (layer norm, biases)" : "add_norm (rms)");
  // Attention: rope, store_kv and attention for a prefill of 7 tokens and a decode step.
  const AttentionShape prefill{2, 7, 0, 9, 4, 2, 16, 2, 0};
  const int half = 8;
  std::vector<float> cos_t(9 * half), sin_t(9 * half);
  for (int p = 0; p < 9; ++p)
    for (int i = 0; i < half; ++i) {
      cos_t[p * half + i] = static_cast<float>(std::cos(p * std::pow(10000.0, -2.0 * i / 16)));
      sin_t[p * half + i] = static_cast<float>(std::sin(p * std::pow(10000.0, -2.0 * i / 16)));
    }
  // RoPE tables and an empty KV cache for `prefill` on one backend.
  struct AttentionState {
    DeviceBuffer cos, sin, k, v;
    const float* c() const { return static_cast<const float*>(cos.get()); }
    const float* s() const { return static_cast<const float*>(sin.get()); }
  };
  auto attention_state = [&](Backend& b) {
    AttentionState st{b.allocate_bytes(cos_t.size() * 4, MemoryKind::activations),
                      b.allocate_bytes(sin_t.size() * 4, MemoryKind::activations), {}, {}};
    b.upload_bytes(st.cos.get(), cos_t.data(), cos_t.size() * 4);
    b.upload_bytes(st.sin.get(), sin_t.data(), sin_t.size() * 4);
    const std::size_t cache = 2u * 2 * 9 * 16;
    st.k = b.allocate(cache, MemoryKind::kv_cache);
    st.v = b.allocate(cache, MemoryKind::kv_cache);
    return st;
  };
  both([&](Backend& b, void* out) {
         AttentionState st = attention_state(b);
         auto qkv = filled(b, static_cast<std::size_t>(2) * 7 * prefill.row_stride(), 13);
         b.rope(qkv.buf.get(), prefill, st.c(), st.s());
         b.store_kv(qkv.buf.get(), st.k.get(), st.v.get(), prefill);
         DeviceBuffer first = b.allocate(static_cast<std::size_t>(2) * 7 * 4 * 16, MemoryKind::activations);
         b.attention(qkv.buf.get(), st.k.get(), st.v.get(), first.get(), prefill);
         AttentionShape decode = prefill;
         decode.new_tokens = 1;
         decode.past = 7;
         auto step = filled(b, static_cast<std::size_t>(2) * prefill.row_stride(), 14);
         b.rope(step.buf.get(), decode, st.c(), st.s());
         b.store_kv(step.buf.get(), st.k.get(), st.v.get(), decode);
         b.attention(step.buf.get(), st.k.get(), st.v.get(), out, decode);
       },
       static_cast<std::size_t>(2) * 4 * 16, "rope, store_kv, attention (prefill, then a decode step)");
  // The fused rope + store: the caches it fills, read back through the naive attention.
  both([&](Backend& b, void* out) {
         AttentionState st = attention_state(b);
         auto qkv = filled(b, static_cast<std::size_t>(2) * 7 * prefill.row_stride(), 25);
         b.prepare_attention(prefill, AttentionKernel::naive);
         b.rope_store_kv(qkv.buf.get(), st.k.get(), st.v.get(), prefill, st.c(), st.s());
         b.attention(qkv.buf.get(), st.k.get(), st.v.get(), out, prefill);
       },
       static_cast<std::size_t>(2) * 7 * 4 * 16, "rope_store_kv, then attention");
}

// cuDNN's fused SDPA against the engine's naive kernel on the same inputs: prefill (causal,
// grouped KV heads) and decode steps at several cache fills through one decode graph.
class CudnnAttention : public Gpu, public ::testing::WithParamInterface<DType> {};

TEST_P(CudnnAttention, MatchesTheNaiveKernelInPrefillAndEveryDecodeStep) {
  const DType type = GetParam();
  auto gpu = make_backend("cuda", 0, type);
  gpu->bind_thread();
  struct Case {
    int batch, prompt, capacity, q_heads, kv_heads, head_dim;
  };
  for (const Case c : {Case{2, 7, 12, 4, 2, 64}, Case{1, 128, 161, 32, 8, 128}, Case{3, 33, 40, 8, 8, 128}}) {
    const AttentionShape prefill{c.batch, c.prompt, 0, c.capacity, c.q_heads, c.kv_heads, c.head_dim,
                                 c.q_heads / c.kv_heads, 0};
    AttentionShape decode = prefill;
    decode.new_tokens = 1;
    decode.past = c.prompt;
    const AttentionPlan p = gpu->prepare_attention(prefill, AttentionKernel::cudnn);
    const AttentionPlan d = gpu->prepare_attention(decode, AttentionKernel::cudnn);
    ASSERT_EQ(p.kernel, "cudnn-sdpa") << p.why;
    ASSERT_EQ(d.kernel, "cudnn-sdpa") << d.why;
    const std::size_t cache = static_cast<std::size_t>(c.batch) * c.kv_heads * c.capacity * c.head_dim;
    auto kc = filled(*gpu, cache, 30), vc = filled(*gpu, cache, 31);
    auto qkv = filled(*gpu, static_cast<std::size_t>(c.batch) * c.prompt * prefill.row_stride(), 32);
    const std::size_t out_n = static_cast<std::size_t>(c.batch) * c.prompt * c.q_heads * c.head_dim;
    DeviceBuffer fused = gpu->allocate(out_n, MemoryKind::activations), naive = gpu->allocate(out_n, MemoryKind::activations);
    gpu->attention(qkv.buf.get(), kc.buf.get(), vc.buf.get(), fused.get(), prefill);
    cuda_naive_attention(*gpu, qkv.buf.get(), kc.buf.get(), vc.buf.get(), naive.get(), prefill);
    const double tol = type == DType::bf16 ? 2e-2 : 3e-3;
    expect_close(host(*gpu, fused, out_n), host(*gpu, naive, out_n), tol, "prefill");
    for (int past = c.prompt; past < c.capacity; past += std::max(1, (c.capacity - c.prompt) / 3)) {
      decode.past = past;
      const std::size_t step_n = static_cast<std::size_t>(c.batch) * c.q_heads * c.head_dim;
      gpu->attention(qkv.buf.get(), kc.buf.get(), vc.buf.get(), fused.get(), decode);
      cuda_naive_attention(*gpu, qkv.buf.get(), kc.buf.get(), vc.buf.get(), naive.get(), decode);
      expect_close(host(*gpu, fused, step_n), host(*gpu, naive, step_n), tol,
                   ("decode over " + std::to_string(past + 1) + " keys").c_str());
    }
  }
}

TEST_P(CudnnAttention, AutoUsesCudnnAndNaiveIsHonoured) {
  auto gpu = make_backend("cuda", 0, GetParam());
  gpu->bind_thread();
  const AttentionShape s{1, 16, 0, 32, 8, 8, 64, 1, 0};
  EXPECT_EQ(gpu->prepare_attention(s, AttentionKernel::automatic).kernel, "cudnn-sdpa");
  EXPECT_EQ(gpu->prepare_attention(s, AttentionKernel::naive).kernel, "naive");
}

// A ragged step's pieces as the engine issues them: batch-1 calls at a slot's offset into caches
// of several rows, whole prompts (one of a single token), prefill chunks over cached tokens
// (cuDNN's bottom-right causal mask) and decode rows at several fills, cuDNN against the naive
// kernel on the same inputs.
TEST_P(CudnnAttention, RaggedStepPiecesMatchTheNaiveKernel) {
  const DType type = GetParam();
  auto gpu = make_backend("cuda", 0, type);
  gpu->bind_thread();
  const int slots = 3, capacity = 48, q_heads = 8, kv_heads = 2, head_dim = 64;
  const std::size_t slot_elements = static_cast<std::size_t>(kv_heads) * capacity * head_dim;
  auto kc = filled(*gpu, slots * slot_elements, 40), vc = filled(*gpu, slots * slot_elements, 41);
  struct Piece {
    int slot, tokens, past;
  };
  const double tol = type == DType::bf16 ? 2e-2 : 3e-3;
  for (const Piece p : {Piece{1, 9, 0}, Piece{1, 5, 9}, Piece{1, 1, 14}, Piece{2, 16, 20}, Piece{0, 1, 0},
                        Piece{2, 1, 36}, Piece{0, 30, 17}}) {
    const AttentionShape shape{1, p.tokens, p.past, capacity, q_heads, kv_heads, head_dim, q_heads / kv_heads, 0};
    const AttentionPlan plan = gpu->prepare_attention(shape, AttentionKernel::cudnn);
    ASSERT_EQ(plan.kernel, "cudnn-sdpa") << p.tokens << " at " << p.past << ": " << plan.why;
    auto qkv = filled(*gpu, static_cast<std::size_t>(p.tokens) * shape.row_stride(), 42 + p.past);
    const std::size_t out_n = static_cast<std::size_t>(p.tokens) * q_heads * head_dim;
    DeviceBuffer fused = gpu->allocate(out_n, MemoryKind::activations), naive = gpu->allocate(out_n, MemoryKind::activations);
    const std::size_t offset = static_cast<std::size_t>(p.slot) * slot_elements * dtype_size(type);
    const char* k = static_cast<const char*>(kc.buf.get()) + offset;
    const char* v = static_cast<const char*>(vc.buf.get()) + offset;
    gpu->attention(qkv.buf.get(), k, v, fused.get(), shape);
    cuda_naive_attention(*gpu, qkv.buf.get(), k, v, naive.get(), shape);
    expect_close(host(*gpu, fused, out_n), host(*gpu, naive, out_n), tol,
                 fmt::format("slot {}: {} tokens over {} cached", p.slot, p.tokens, p.past).c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudnnAttention, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& test) { return std::string(dtype_name(test.param)); });

TEST_F(Gpu, Fp32AttentionFallsBackToTheNaiveKernelWithAReason) {
  auto gpu = make_backend("cuda", 0, DType::f32);
  gpu->bind_thread();
  const AttentionShape s{1, 16, 0, 32, 8, 8, 64, 1, 0};
  const AttentionPlan plan = gpu->prepare_attention(s, AttentionKernel::automatic);
  EXPECT_EQ(plan.kernel, "naive");
  EXPECT_NE(plan.why.find("fp16 or bf16"), std::string::npos) << plan.why;
  EXPECT_THROW(gpu->prepare_attention(s, AttentionKernel::cudnn), Error);
}

INSTANTIATE_TEST_SUITE_P(Types, GpuKernels, ::testing::Values(DType::f32, DType::bf16, DType::f16),
                         [](const auto& test) { return std::string(dtype_name(test.param)); });

// all_to_all_v with uneven and zero counts (this rank's own block among them): throws on the first
// wrong element. Two-byte types move the same fp32 data as twice as many elements, which checks
// their offsets and NCCL's type.
void check_all_to_all(Backend& b, Communicator& c, int r, DType type) {
  const auto count = [](int src, int dst) { return static_cast<std::size_t>((3 * src + dst + 1) % 5) * 257; };
  const auto value = [](int src, int dst, std::size_t i) {
    return static_cast<float>(1000000 * src + 10000 * dst + static_cast<int>(i));
  };
  const std::size_t per_float = 4 / dtype_size(type);
  std::vector<std::size_t> send_counts, recv_counts;
  std::vector<float> mine;
  std::size_t incoming = 0;
  for (int k = 0; k < c.size(); ++k) {
    send_counts.push_back(count(r, k) * per_float);
    recv_counts.push_back(count(k, r) * per_float);
    for (std::size_t i = 0; i < count(r, k); ++i) mine.push_back(value(r, k, i));
    incoming += count(k, r);
  }
  DeviceBuffer send = b.allocate(mine.size() + 1, MemoryKind::communication);
  DeviceBuffer recv = b.allocate(incoming + 1, MemoryKind::communication);
  const std::vector<float> unwritten(incoming + 1, -1.0f);
  b.copy_from_host(send.get(), mine.data(), mine.size());
  b.copy_from_host(recv.get(), unwritten.data(), unwritten.size());
  c.all_to_all_v(send.get(), send_counts, recv.get(), recv_counts, type);
  const std::vector<float> got = host(b, recv, incoming + 1);
  std::size_t at = 0;
  for (int src = 0; src < c.size(); ++src)
    for (std::size_t i = 0; i < count(src, r); ++i, ++at)
      if (got[at] != value(src, r, i))
        throw std::runtime_error("all_to_all_v " + std::string(dtype_name(type)) + ": element " + std::to_string(i) +
                                 " from rank " + std::to_string(src));
  if (got[at] != -1.0f) throw std::runtime_error("all_to_all_v: written past the last block");
}

// Collectives with exact integer data, on every world the machine allows.
void check_collectives(const std::string& backend, int ranks) {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<Backend*> raw;
  for (int r = 0; r < ranks; ++r) {
    backends.push_back(make_backend(backend, r, DType::f32));
    raw.push_back(backends.back().get());
  }
  auto comms = make_comm_world(backend, raw);
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        Backend& b = *raw[static_cast<std::size_t>(r)];
        Communicator& c = *comms[static_cast<std::size_t>(r)];
        b.bind_thread();
        const std::size_t n = 1031;
        std::vector<float> mine(n), out(n * ranks);
        for (std::size_t i = 0; i < n; ++i) mine[i] = static_cast<float>((r * 7 + static_cast<int>(i)) % 13);
        DeviceBuffer buf = b.allocate(n * ranks, MemoryKind::communication);
        b.copy_from_host(buf.get(), mine.data(), n);
        c.all_reduce(buf.get(), buf.get(), n, DType::f32, ReduceOp::sum);
        b.synchronize();
        b.copy_to_host(out.data(), buf.get(), n);
        for (std::size_t i = 0; i < n; ++i) {
          float want = 0;
          for (int k = 0; k < ranks; ++k) want += static_cast<float>((k * 7 + static_cast<int>(i)) % 13);
          if (out[i] != want) throw std::runtime_error("all_reduce element " + std::to_string(i));
        }
        std::vector<std::size_t> counts(static_cast<std::size_t>(ranks));
        for (int k = 0; k < ranks; ++k) counts[static_cast<std::size_t>(k)] = n - static_cast<std::size_t>(k);
        DeviceBuffer part = b.allocate(n, MemoryKind::communication);
        b.copy_from_host(part.get(), mine.data(), counts[static_cast<std::size_t>(r)]);
        c.all_gather_v(part.get(), buf.get(), counts, DType::f32);
        b.synchronize();
        const std::size_t total = std::accumulate(counts.begin(), counts.end(), std::size_t{0});
        out.resize(total);
        b.copy_to_host(out.data(), buf.get(), total);
        std::size_t at = 0;
        for (int k = 0; k < ranks; ++k)
          for (std::size_t i = 0; i < counts[static_cast<std::size_t>(k)]; ++i, ++at)
            if (out[at] != static_cast<float>((k * 7 + static_cast<int>(i)) % 13))
              throw std::runtime_error("all_gather_v element " + std::to_string(at));
        c.broadcast(part.get(), n, DType::f32, ranks - 1);
        b.synchronize();
        out.resize(n);
        b.copy_to_host(out.data(), part.get(), n);
        for (std::size_t i = 0; i < n; ++i)
          if (out[i] != static_cast<float>(((ranks - 1) * 7 + static_cast<int>(i)) % 13) &&
              i < counts[static_cast<std::size_t>(ranks - 1)])
            throw std::runtime_error("broadcast element " + std::to_string(i));
        if (ranks > 1) c.send_recv(part.get(), 16, (r + 1) % ranks, buf.get(), 16, (r + ranks - 1) % ranks, DType::f32);
        for (DType type : {DType::f32, DType::bf16, DType::f16}) check_all_to_all(b, c, r, type);
        c.barrier();
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
        comms[static_cast<std::size_t>(r)]->abort(e.what());
      }
    });
  for (auto& t : threads) t.join();
  comms.clear();
  for (int r = 0; r < ranks; ++r) EXPECT_EQ(errors[static_cast<std::size_t>(r)], "") << backend << " rank " << r;
}

TEST_F(Gpu, NcclCollectivesAcrossTheGpus) {
  const int gpus = cuda_runtime_info().device_count;
  for (int n = 1; n <= gpus; n *= 2) check_collectives("cuda", n);
}

TEST_F(Gpu, EmulatedCollectivesOnOneGpu) {
  for (int n : {1, 2, 3, 4}) check_collectives("cuda-emulated", n);
}

class GpuStrategies : public Gpu, public ::testing::WithParamInterface<const char*> {};

// Every strategy, sync and merge mode with ranks emulated on one GPU, against the one-GPU
// reference: the multi-rank logic of the CUDA path.
TEST_P(GpuStrategies, EmulatedRanksMatchTheOneGpuReference) {
  const ModelConfig model = load_model("tiny");
  for (DType type : {DType::f32, DType::bf16}) {
    RunOptions opts;
    opts.backend = "cuda-emulated";
    opts.dtype = type;
    opts.warmup = 1;
    opts.iterations = 2;
    SweepSpec spec;
    spec.ranks = {1, 2, 4};
    spec.strategies = {GetParam()};
    spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
    spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
    const Workload w{4, 6, 3};
    spec.batches = {w.batch};
    spec.prompts = {w.prompt};
    spec.gens = {w.gen};
    ReferenceSet references(model, opts);  // streamed fp32 on the GPU, floor of one GPU in `type`
    for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
      if (p.skip_reason) continue;
      const ConfigResult r = run_configuration(model, p.point, opts, &references.for_point(p.point));
      EXPECT_EQ(r.status, ConfigStatus::ok) << dtype_name(type) << " " << p.point.id() << ": " << r.reason;
      EXPECT_TRUE(r.verification.passed) << dtype_name(type) << " " << p.point.id() << ": " << r.verification.note;
      for (const RankMemory& m : r.metrics.memory) EXPECT_GT(m.device_used, 0) << p.point.id();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, GpuStrategies, ::testing::Values("tp", "dp", "pp", "hybrid"));

// The mixture-of-experts layer (router, gather_rows, expert GEMMs, weighted_sum_rows, a shared
// expert) under every
// strategy, expert parallelism's exchanges (all-to-all; all-gather and reduce-scatter) included,
// emulated on one GPU, against the streamed reference, with a skewed routing.
void check_moe_under_every_strategy(const std::string& name, DType type) {
  const ModelConfig model = load_model(name);
  RunOptions opts;
  opts.backend = "cuda-emulated";
  opts.dtype = type;
  opts.warmup = 1;
  opts.iterations = 2;
  opts.exec.routing = *parse_routing("zipf:1.2");
  SweepSpec spec;
  spec.ranks = {1, 2, 4};
  spec.strategies = {"tp", "dp", "pp", "hybrid", "ep"};
  spec.dispatches.assign(std::begin(kAllDispatchModes), std::end(kAllDispatchModes));
  spec.batches = {4};
  spec.prompts = {6};
  spec.gens = {3};
  ReferenceSet references(model, opts);
  int ran = 0;
  for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
    if (p.skip_reason) continue;
    const ConfigResult r = run_configuration(model, p.point, opts, &references.for_point(p.point));
    EXPECT_EQ(r.status, ConfigStatus::ok) << name << " " << dtype_name(type) << " " << p.point.id() << ": " << r.reason;
    EXPECT_TRUE(r.verification.passed) << name << " " << dtype_name(type) << " " << p.point.id() << ": "
                                       << r.verification.note;
    ++ran;
  }
  EXPECT_GE(ran, 10) << name << " " << dtype_name(type) << ": with ep, tp1.ep2, tp1.ep4 and tp2.ep2 in each dispatch";
}

TEST_F(Gpu, MixtureOfExpertsUnderEveryStrategyMatchesTheReference) {
  // Mixtral-style, and Qwen2-MoE-style with a shared expert and a dense layer.
  for (const std::string& name : {std::string("tiny-moe"), std::string(LLMT_TEST_DATA) + "/tiny-qwen2-moe.json"})
    for (DType type : {DType::f32, DType::bf16}) check_moe_under_every_strategy(name, type);
}

// GPT-2 in fp32 (naive attention) and a Llama-style model in bf16 (cuDNN attention inside the
// graphs): replays equal eager execution, and the decode phases come from the eager sample.
class CudaGraphs : public Gpu, public ::testing::WithParamInterface<std::pair<const char*, DType>> {};

TEST_P(CudaGraphs, ReplayEqualsEagerExecutionAndKeepsAPhaseBreakdown) {
  const ModelConfig model = load_model(GetParam().first);
  RunOptions opts;
  opts.backend = "cuda";
  opts.dtype = GetParam().second;
  opts.iterations = 2;
  const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{3, 6, 5}};
  StepLogits eager, graphed;
  ASSERT_EQ(run_configuration(model, point, opts, nullptr, &eager).status, ConfigStatus::ok);
  opts.cuda_graphs = true;
  const ConfigResult r = run_configuration(model, point, opts, nullptr, &graphed);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  EXPECT_TRUE(r.cuda_graphs);
  EXPECT_EQ(graphed, eager) << "the same kernels on the same data: bit for bit";
  EXPECT_EQ(r.samples.decode_step_ms.size(), 2u * 4);
  int sampled = 0;
  for (const PhaseSummary& p : r.metrics.phases)
    if (p.path.rfind("decode/", 0) == 0 && p.category == "compute") {
      EXPECT_EQ(p.timing, "eager_sample") << p.path;
      EXPECT_DOUBLE_EQ(p.calls, 1.0) << p.path << ": one sampled step per iteration";
      EXPECT_GT(p.ms, 0.0) << p.path;
      ++sampled;
    } else if (p.path.rfind("prefill/", 0) == 0) {
      EXPECT_EQ(p.timing, "eager") << p.path;
    }
  EXPECT_GT(sampled, 5);
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGraphs,
                         ::testing::Values(std::pair{"tiny-gpt2", DType::f32}, std::pair{"tiny", DType::bf16}),
                         [](const auto& test) { return std::string(dtype_name(test.param.second)); });

// A request-list configuration of the hand-made list (unequal prompts and outputs).
ConfigPoint request_list_point(const char* strategy, Layout layout, BatchingOptions batching) {
  return testing::traffic_point(strategy, layout, testing::hand_made_requests(), batching);
}

// The largest over requests of max |got - want| over the request's logits, over its largest |want|.
double max_request_error(const StepLogits& got, const StepLogits& want) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (std::size_t r = 0; r < std::min(got.size(), want.size()); ++r) {
    EXPECT_EQ(got[r].size(), want[r].size()) << "request " << r;
    double error = 0, scale = 1e-30;
    for (std::size_t i = 0; i < std::min(got[r].size(), want[r].size()); ++i) {
      error = std::max(error, static_cast<double>(std::fabs(got[r][i] - want[r][i])));
      scale = std::max(scale, static_cast<double>(std::fabs(want[r][i])));
    }
    worst = std::max(worst, error / scale);
  }
  return worst;
}

// Ragged steps on the GPU (prefill of whole prompts and of chunks over cached tokens, decode rows
// of unequal contexts, one tp2 and one dp2 layout emulated on one GPU): each attention kernel's
// per-request logits pass verification against the streamed reference, and agree with the CPU
// backend's and with each other's within the run's tolerance (the noise-floor rule of
// docs/metrics.md); the kernels that served them are the ones asked for.
class GpuRequestLists : public Gpu, public ::testing::WithParamInterface<DType> {};

TEST_P(GpuRequestLists, EveryKernelMatchesTheReferenceTheCpuBackendAndEachOther) {
  const DType type = GetParam();
  const ModelConfig model = load_model("tiny");
  struct Case {
    const char* strategy;
    Layout layout;
    BatchingOptions batching;
  };
  const Case cases[] = {{"tp", Layout{1, 1, 1}, {BatchingMode::static_batches, 3, 0, 0}},
                        {"tp", Layout{1, 1, 1}, {BatchingMode::continuous, 3, 8, 4}},
                        {"tp", Layout{2, 1, 1}, {BatchingMode::continuous, 2, 0, 3}},
                        {"dp", Layout{1, 1, 2}, {BatchingMode::static_batches, 2, 0, 0}}};
  RunOptions opts;
  opts.backend = "cuda-emulated";
  opts.dtype = type;
  opts.warmup = 1;
  opts.iterations = 2;
  const RunOptions cpu_opts = testing::quick_options();
  ReferenceSet references(model, opts);
  // cuDNN serves fp16 and bf16 only: fp32 runs take the naive kernel (automatic says why).
  const std::vector<AttentionKernel> kernels =
      type == DType::f32 ? std::vector{AttentionKernel::naive, AttentionKernel::automatic}
                         : std::vector{AttentionKernel::cudnn, AttentionKernel::naive};
  for (const Case& c : cases) {
    const ConfigPoint point = request_list_point(c.strategy, c.layout, c.batching);
    const std::string what = fmt::format("{} {} {} chunk {}", dtype_name(type), point.id(),
                                         batching_mode_name(c.batching.mode), c.batching.prefill_chunk);
    StepLogits on_cpu;
    const ConfigResult cpu = run_configuration(model, point, cpu_opts, nullptr, &on_cpu);
    ASSERT_EQ(cpu.status, ConfigStatus::ok) << what << " on the CPU: " << cpu.reason;
    std::vector<StepLogits> got;
    double tolerance = 0;
    for (AttentionKernel kernel : kernels) {
      RunOptions o = opts;
      o.exec.attention = kernel;
      StepLogits logits;
      const ConfigResult r = run_configuration(model, point, o, &references.for_point(point), &logits);
      const std::string run = what + " --attention " + std::string(attention_kernel_name(kernel));
      ASSERT_EQ(r.status, ConfigStatus::ok) << run << ": " << r.reason;
      EXPECT_TRUE(r.verification.passed) << run << ": " << r.verification.note;
      ASSERT_EQ(logits.size(), testing::hand_made_requests()->requests.size()) << run;
      tolerance = std::max(tolerance, r.verification.tolerance);
      EXPECT_LE(max_request_error(logits, on_cpu), r.verification.tolerance) << run << " against the CPU backend";
      const std::string want = kernel == AttentionKernel::cudnn ? "cudnn-sdpa" : "naive";
      std::set<std::string> passes;
      for (const AttentionUse& u : r.attention) {
        EXPECT_EQ(u.kernel, want) << run << ", " << u.pass << ": " << u.why;
        passes.insert(u.pass);
      }
      EXPECT_EQ(passes, (std::set<std::string>{"decode", "prefill"})) << run;
      got.push_back(std::move(logits));
    }
    EXPECT_GT(tolerance, 0.0) << what;
    EXPECT_LE(max_request_error(got[0], got[1]), tolerance) << what << ": the two kernels against each other";
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GpuRequestLists, ::testing::Values(DType::f32, DType::bf16),
                         [](const auto& test) { return std::string(dtype_name(test.param)); });

// What `--attention auto` does with a ragged step on one GPU in bf16: every piece, prefill
// chunks over cached tokens included, is served by cuDNN, prepared at set-up.
TEST_F(Gpu, RaggedStepsPrefillAndDecodePiecesAreServedByCudnn) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts;
  opts.backend = "cuda";
  opts.dtype = DType::bf16;
  opts.warmup = 1;
  opts.iterations = 2;
  for (const BatchingOptions batching :
       {BatchingOptions{BatchingMode::static_batches, 4, 0, 0}, BatchingOptions{BatchingMode::continuous, 3, 0, 4}}) {
    const ConfigPoint point = request_list_point("tp", Layout{1, 1, 1}, batching);
    const ConfigResult r = run_configuration(model, point, opts, nullptr);
    ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
    std::set<std::string> passes;
    for (const AttentionUse& u : r.attention) {
      EXPECT_EQ(u.kernel, "cudnn-sdpa") << point.id() << " " << u.pass << ": " << u.why;
      passes.insert(u.pass);
    }
    EXPECT_EQ(passes, (std::set<std::string>{"decode", "prefill"})) << point.id();
  }
}

TEST_F(Gpu, RealRanksOnEveryGpuMatchTheReference) {
  const int gpus = cuda_runtime_info().device_count;
  if (gpus < 2) GTEST_SKIP() << "one GPU: NCCL refuses two ranks on one device (the emulated tests cover the logic)";
  const ModelConfig model = load_model("tiny");
  RunOptions opts;
  opts.backend = "cuda";
  opts.dtype = DType::bf16;
  opts.iterations = 2;
  const Workload w{4, 6, 3};
  const VerificationReference reference(compute_reference(model, w, opts));
  for (SyncMode sync : kAllSyncModes) {
    const ConfigResult r =
        run_configuration(model, ConfigPoint{"tp", Layout{2, 1, 1}, sync, MergeMode::concat, w}, opts, &reference);
    EXPECT_EQ(r.status, ConfigStatus::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed) << r.verification.note;
  }
}

}  // namespace
}  // namespace llmt
