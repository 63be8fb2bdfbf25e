// The CUDA backend against the CPU backend: every operation, every collective (NCCL across the
// GPUs present, and emulated ranks on one GPU), every strategy in emulation against the one-rank
// reference. Each test skips, saying why, where no GPU is found.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <thread>

#include "engine/backends.hpp"
#include "engine/model.hpp"
#include "engine/runner.hpp"
#include "engine/sweep.hpp"
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
         b.gelu(x.buf.get(), x.n);
         b.add(x.buf.get(), y.buf.get(), x.n);
         b.add_bias(x.buf.get(), bias.buf.get(), rows, cols);
         b.scale(x.buf.get(), 0.5f, x.n);
         b.copy_2d(out, cols, x.buf.get(), cols, rows, cols);
         b.add_2d(out, cols, y.buf.get(), cols, rows, cols / 2);
       },
       static_cast<std::size_t>(rows) * cols, "gelu, add, add_bias, scale, copy_2d, add_2d");
  both([&](Backend& b, void* out) {
         auto table = filled(b, static_cast<std::size_t>(50) * cols, 12);
         const std::int32_t tokens[] = {3, 49, 10, 60, 0, 25};
         DeviceBuffer ids = b.allocate_bytes(sizeof(tokens), MemoryKind::activations);
         b.upload_bytes(ids.get(), tokens, sizeof(tokens));
         // rows of tokens outside [10, 60) are zero
         b.embed(static_cast<const std::int32_t*>(ids.get()), 6, table.buf.get(), 10, 60, cols, out);
       },
       static_cast<std::size_t>(rows) * cols, "embed");
  // Attention: rope, store_kv and attention for a prefill of 7 tokens and a decode step.
  const AttentionShape prefill{2, 7, 0, 9, 4, 2, 16, 2, 0};
  const int half = 8;
  std::vector<float> cos_t(9 * half), sin_t(9 * half);
  for (int p = 0; p < 9; ++p)
    for (int i = 0; i < half; ++i) {
      cos_t[p * half + i] = static_cast<float>(std::cos(p * std::pow(10000.0, -2.0 * i / 16)));
      sin_t[p * half + i] = static_cast<float>(std::sin(p * std::pow(10000.0, -2.0 * i / 16)));
    }
  both([&](Backend& b, void* out) {
         DeviceBuffer cs = b.allocate_bytes(cos_t.size() * 4, MemoryKind::activations);
         DeviceBuffer sn = b.allocate_bytes(sin_t.size() * 4, MemoryKind::activations);
         b.upload_bytes(cs.get(), cos_t.data(), cos_t.size() * 4);
         b.upload_bytes(sn.get(), sin_t.data(), sin_t.size() * 4);
         const std::size_t cache = 2u * 2 * 9 * 16;
         DeviceBuffer kc = b.allocate(cache, MemoryKind::kv_cache), vc = b.allocate(cache, MemoryKind::kv_cache);
         auto qkv = filled(b, static_cast<std::size_t>(2) * 7 * prefill.row_stride(), 13);
         b.rope(qkv.buf.get(), prefill, static_cast<const float*>(cs.get()), static_cast<const float*>(sn.get()));
         b.store_kv(qkv.buf.get(), kc.get(), vc.get(), prefill);
         DeviceBuffer first = b.allocate(static_cast<std::size_t>(2) * 7 * 4 * 16, MemoryKind::activations);
         b.attention(qkv.buf.get(), kc.get(), vc.get(), first.get(), prefill);
         AttentionShape decode = prefill;
         decode.new_tokens = 1;
         decode.past = 7;
         auto step = filled(b, static_cast<std::size_t>(2) * prefill.row_stride(), 14);
         b.rope(step.buf.get(), decode, static_cast<const float*>(cs.get()), static_cast<const float*>(sn.get()));
         b.store_kv(step.buf.get(), kc.get(), vc.get(), decode);
         b.attention(step.buf.get(), kc.get(), vc.get(), out, decode);
       },
       static_cast<std::size_t>(2) * 4 * 16, "rope, store_kv, attention (prefill, then a decode step)");
}

INSTANTIATE_TEST_SUITE_P(Types, GpuKernels, ::testing::Values(DType::f32, DType::bf16, DType::f16),
                         [](const auto& test) { return std::string(dtype_name(test.param)); });

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
    std::map<int, StepLogits> members;
    for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
      if (p.skip_reason) continue;
      const int n = p.point.ensemble() ? p.point.layout.dp : 1;
      std::vector<const StepLogits*> refs;
      for (int k = 0; k < n; ++k) {
        if (!members.count(k)) members[k] = compute_reference(model, w, opts, k);
        refs.push_back(&members[k]);
      }
      const StepLogits reference = weighted_mean(refs, {});
      const ConfigResult r = run_configuration(model, p.point, opts, &reference);
      EXPECT_EQ(r.status, ConfigStatus::ok) << dtype_name(type) << " " << p.point.id() << ": " << r.reason;
      EXPECT_TRUE(r.verification.passed) << dtype_name(type) << " " << p.point.id() << ": " << r.verification.note;
      for (const RankMemory& m : r.metrics.memory) EXPECT_GT(m.device_used, 0) << p.point.id();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, GpuStrategies, ::testing::Values("tp", "dp", "pp", "hybrid"));

TEST_F(Gpu, CudaGraphReplayEqualsEagerExecution) {
  const ModelConfig model = load_model("tiny-gpt2");
  RunOptions opts;
  opts.backend = "cuda";
  opts.dtype = DType::f32;
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
  const StepLogits reference = compute_reference(model, w, opts);
  for (SyncMode sync : kAllSyncModes) {
    const ConfigResult r =
        run_configuration(model, ConfigPoint{"tp", Layout{2, 1, 1}, sync, MergeMode::concat, w}, opts, &reference);
    EXPECT_EQ(r.status, ConfigStatus::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed) << r.verification.note;
  }
}

}  // namespace
}  // namespace llmt
