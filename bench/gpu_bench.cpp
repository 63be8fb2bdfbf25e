// The CUDA backend's reference measurements, each a ratio within one run:
//  - GEMM efficiency: an 8192^3 bf16 GEMM through the backend's GEMM path against a bare
//    cuBLASLt call of the same shape (target: at least 0.85 of its throughput);
//  - HBM bandwidth from a device-to-device copy (bytes read plus bytes written per second);
//  - a decode step of the full Llama-3-8B in bf16 at batch 1 against the time to read its
//    weights once at that bandwidth (target: at most 1.3x), and its prefill.
//   llmt_gpu_bench --json out.json [--model llama-3-8b] [--size 8192]
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/backends.hpp"
#include "engine/error.hpp"
#include "engine/runner.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace {

using namespace llmt;

#define CHECK_CUDA(x)                                                                            \
  do {                                                                                           \
    const cudaError_t e = (x);                                                                   \
    if (e != cudaSuccess) throw Error(fmt::format("{}: {}", #x, cudaGetErrorString(e)));         \
  } while (0)
#define CHECK_LT(x)                                                                              \
  do {                                                                                           \
    const cublasStatus_t s = (x);                                                                \
    if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("{}: {}", #x, cublasLtGetStatusString(s))); \
  } while (0)

// Mean milliseconds of `reps` calls of f on `stream`, after `warmup` calls.
template <typename F>
double time_ms(cudaStream_t stream, int warmup, int reps, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  CHECK_CUDA(cudaEventRecord(a, stream));
  for (int i = 0; i < reps; ++i) f();
  CHECK_CUDA(cudaEventRecord(b, stream));
  CHECK_CUDA(cudaEventSynchronize(b));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / reps;
}

nlohmann::json gemm_efficiency(int size) {
  auto backend = make_backend("cuda", 0, DType::bf16);
  backend->bind_thread();
  const std::size_t n = static_cast<std::size_t>(size) * size;
  DeviceBuffer a = backend->allocate(n, MemoryKind::activations), w = backend->allocate(n, MemoryKind::weights),
               c = backend->allocate(n, MemoryKind::activations);
  backend->fill(a.get(), size, size, FillSpec{1, 1, 0, 0, size, 1.0f, 0.0f});
  backend->fill(w.get(), size, size, FillSpec{1, 2, 0, 0, size, 0.01f, 0.0f});
  backend->synchronize();
  // The backend's path: its stream is the one it enqueues on; time on the default stream
  // after draining, with the backend synchronising at the end.
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreate(&stream));
  auto backend_call = [&] { backend->gemm(size, size, size, a.get(), size, w.get(), size, c.get(), size, 0.0f); };
  for (int i = 0; i < 3; ++i) backend_call();
  backend->synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 20;
  for (int i = 0; i < reps; ++i) backend_call();
  backend->synchronize();
  const double backend_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;

  // A bare cuBLASLt call of the same shape: descriptors made once, the heuristic's first algorithm.
  cublasLtHandle_t lt = nullptr;
  CHECK_LT(cublasLtCreate(&lt));
  cublasLtMatmulDesc_t op = nullptr;
  CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn)));
  cublasLtMatrixLayout_t la, lb, lc;
  CHECK_LT(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, size, size, size));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, size, size, size));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, size, size, size));
  std::size_t ws_bytes = 32u << 20;
  void* ws = nullptr;
  CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
  cublasLtMatmulPreference_t pref;
  CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                sizeof(ws_bytes)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &heuristic, &found));
  if (found == 0) throw Error("no cuBLASLt algorithm for the bare GEMM");
  const float alpha = 1.0f, beta = 0.0f;
  // Timed like the backend's path: wall clock around `reps` calls on a drained stream.
  auto bare_call = [&] {
    CHECK_LT(cublasLtMatmul(lt, op, &alpha, w.get(), la, a.get(), lb, &beta, c.get(), lc, c.get(), lc, &heuristic.algo,
                            ws, ws_bytes, stream));
  };
  for (int i = 0; i < 3; ++i) bare_call();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) bare_call();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  const double bare_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count() / reps;
  const double flops = 2.0 * size * size * static_cast<double>(size);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(lt);
  cudaFree(ws);
  cudaStreamDestroy(stream);
  return {{"shape", fmt::format("{0}x{0}x{0} bf16", size)},
          {"backend_ms", backend_ms},
          {"bare_cublaslt_ms", bare_ms},
          {"backend_tflops", flops / backend_ms * 1e-9},
          {"bare_tflops", flops / bare_ms * 1e-9},
          {"ratio", bare_ms / backend_ms},
          {"target", 0.85},
          {"met", bare_ms / backend_ms >= 0.85}};
}

double copy_bandwidth_gbps() {
  CHECK_CUDA(cudaSetDevice(0));
  const std::size_t bytes = 2ull << 30;
  void *src = nullptr, *dst = nullptr;
  CHECK_CUDA(cudaMalloc(&src, bytes));
  CHECK_CUDA(cudaMalloc(&dst, bytes));
  CHECK_CUDA(cudaMemset(src, 1, bytes));
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));
  const double ms = time_ms(stream, 2, 10, [&] {
    CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
  });
  cudaFree(src);
  cudaFree(dst);
  cudaStreamDestroy(stream);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) * 1e-9;  // read + written
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "gpu-bench.json", model_name = "llama-3-8b";
  int size = 8192;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--json") json_path = value;
    else if (key == "--model") model_name = value;
    else if (key == "--size") size = std::stoi(value);
  }
  try {
    const CudaRuntimeInfo info = cuda_runtime_info();
    if (info.device_count == 0) {
      fmt::print(stderr, "llmt_gpu_bench: no GPU: {}\n", info.why_none);
      return 2;
    }
    nlohmann::json out;
    out["device"] = info.devices[0].name;
    out["gemm"] = gemm_efficiency(size);
    fmt::print("GEMM {}: backend {:.1f} TFLOP/s, bare cuBLASLt {:.1f} TFLOP/s, ratio {:.3f} (target >= 0.85)\n",
               out["gemm"]["shape"].get<std::string>(), out["gemm"]["backend_tflops"].get<double>(),
               out["gemm"]["bare_tflops"].get<double>(), out["gemm"]["ratio"].get<double>());
    const double bandwidth = copy_bandwidth_gbps();
    out["hbm_copy_gbps"] = bandwidth;
    fmt::print("device-to-device copy: {:.0f} GB/s (read + written)\n", bandwidth);

    const ModelConfig model = load_model(model_name);
    RunOptions ro;
    ro.backend = "cuda";
    ro.dtype = DType::bf16;
    ro.warmup = 2;
    ro.iterations = 5;
    const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{1, 128, 33}};
    const ConfigResult r = run_configuration(model, point, ro, nullptr);
    if (r.status != ConfigStatus::ok) throw Error("the decode run failed: " + r.reason);
    const double weight_bytes = static_cast<double>(r.metrics.memory.at(0).weights);
    const double ideal_ms = weight_bytes / (bandwidth * 1e9) * 1e3;
    const double step_ms = r.metrics.decode_step_ms.median;
    out["decode"] = {{"model", model_name},       {"batch", 1},
                     {"step_ms_median", step_ms}, {"weights_bytes", weight_bytes},
                     {"weights_read_ms", ideal_ms}, {"ratio", step_ms / ideal_ms},
                     {"target", 1.3},             {"met", step_ms / ideal_ms <= 1.3},
                     {"prefill_128_ms_median", r.metrics.ttft_ms.median}};
    fmt::print("{} bf16 decode step: {:.3f} ms; reading its {:.2f} GB of weights once: {:.3f} ms; ratio {:.3f} "
               "(target <= 1.3); prefill of 128 tokens {:.2f} ms\n",
               model_name, step_ms, weight_bytes * 1e-9, ideal_ms, step_ms / ideal_ms, r.metrics.ttft_ms.median);
    std::ofstream(json_path) << out.dump(1) << "\n";
    const bool met = out["gemm"]["met"].get<bool>() && out["decode"]["met"].get<bool>();
    return met ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "llmt_gpu_bench: {}\n", e.what());
    return 2;
  }
}
