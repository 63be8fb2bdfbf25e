// The one GPU reference run of the CUDA backend: every figure a ratio measured within this run.
//  - GEMM: an 8192^3 GEMM through the backend against a bare cuBLASLt call (target >= 0.85).
//  - The engine's ceilings (engine/ceilings.cpp): streaming-read and copy bandwidth, L2-resident
//    bandwidth, GEMM; the same probe as `llmthreads bench --ceilings measure`.
//  - Attention: the engine's attention phase (per call) against a bare cuDNN SDPA call of the
//    same shape, each call between events of its own as the engine times a phase: prefill b1 x
//    p128, b16 x p128, b1 x p2048; decode b1 and b16 over 160 and 4096 keys (target <= 1.3).
//  - Ragged prefill: 16 prompts of the bundled Azure conversation sample in one ragged step, the
//    engine's attention phase (a cuDNN call per request) against one bare cuDNN SDPA call with a
//    padding mask and per-sequence lengths (target <= 1.3), and against the engine's prefill of
//    the same batch padded to its longest prompt (target <= 1).
//  - Prefill: TTFT at b1 x p2048 and b16 x p128 against their speed-of-light floors (<= 1.5, <= 1.3).
//  - Decode: the step of the full model at batch 1, eager and replayed as CUDA graphs, against
//    its floor (<= 1.5, <= 1.25).
// The floors use those ceilings, the GEMM's the better of the engine's and bare cuBLASLt's.
//   llmt_gpu_bench [--json gpu-bench.json] [--markdown gpu-bench.md] [--model llama-3-8b]
//                  [--dtype bf16] [--size 8192] [--quick]
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/backends.hpp"
#include "engine/ceilings.hpp"
#include "model/error.hpp"
#include "engine/runner.hpp"
#include "engine/traffic.hpp"
#include "engine/workload.hpp"
#include "reports/json_schema.hpp"
#include "kernels/builtin_backends.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#ifdef LLMT_WITH_CUDNN
#include "kernels/cuda/cudnn_attention.hpp"
#endif

namespace {

using namespace llmt;
using nlohmann::json;

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

struct Options {
  std::string json_path = "gpu-bench.json", markdown_path, model = "llama-3-8b", dtype = "bf16";
  int size = 8192;
  bool quick = false;  // fewer iterations and the smaller attention shapes only (a smoke run)
};

// Mean milliseconds of `reps` calls of f on `stream` (CUDA events), after `warmup` calls.
double time_ms(cudaStream_t stream, int warmup, int reps, const std::function<void()>& f) {
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

// Mean milliseconds of `reps` calls of f on `stream`, each between an event pair of its own:
// timed as the engine times each of its phases, so that a kernel of a few microseconds is
// compared with the engine's phase on the same terms (back-to-back calls would hide the gaps
// between kernels that the engine's bracketed phase includes).
double time_ms_each(cudaStream_t stream, int warmup, int reps, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<cudaEvent_t> events(2 * static_cast<std::size_t>(reps));
  for (cudaEvent_t& event : events) CHECK_CUDA(cudaEventCreate(&event));
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(events[2 * i], stream));
    f();
    CHECK_CUDA(cudaEventRecord(events[2 * i + 1], stream));
  }
  CHECK_CUDA(cudaEventSynchronize(events.back()));
  double total = 0;
  for (int i = 0; i < reps; ++i) {
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]));
    total += ms;
  }
  for (cudaEvent_t event : events) cudaEventDestroy(event);
  return total / reps;
}

// One line of the result: a measured figure, its reference, their ratio and the target.
struct Row {
  std::string name, unit;
  double value = 0, reference = 0;
  std::string reference_name;
  double target = 0;
  bool at_most = true;  // the ratio value / reference must be at most target (else at least)
  double ratio() const { return reference > 0 ? value / reference : 0; }
  bool met() const { return at_most ? ratio() <= target : ratio() >= target; }
};

json to_json(const Row& r) {
  return {{"name", r.name},   {"unit", r.unit},        {"value", r.value}, {"reference", r.reference},
          {"reference_name", r.reference_name},        {"ratio", r.ratio()},
          {"target", fmt::format("{} {}", r.at_most ? "<=" : ">=", r.target)}, {"met", r.met()}};
}

// ---- GEMM and copy bandwidth ----------------------------------------------------------

struct GemmResult {
  double backend_ms = 0, bare_ms = 0, flops = 0;
};

GemmResult gemm_efficiency(int size, DType dtype) {
  auto backend = make_backend("cuda", 0, dtype);
  backend->bind_thread();
  const std::size_t n = static_cast<std::size_t>(size) * size;
  DeviceBuffer a = backend->allocate(n, MemoryKind::activations), w = backend->allocate(n, MemoryKind::weights),
               c = backend->allocate(n, MemoryKind::activations);
  backend->fill(a.get(), size, size, FillSpec{1, 1, 0, 0, size, 1.0f, 0.0f});
  backend->fill(w.get(), size, size, FillSpec{1, 2, 0, 0, size, 0.01f, 0.0f});
  backend->synchronize();
  // The backend's path, timed with the wall clock around its own stream's work.
  auto backend_call = [&] { backend->gemm(size, size, size, a.get(), size, w.get(), size, c.get(), size, 0.0f); };
  for (int i = 0; i < 3; ++i) backend_call();
  backend->synchronize();
  const int reps = 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) backend_call();
  backend->synchronize();
  GemmResult r;
  r.backend_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;

  // A bare cuBLASLt call of the same shape: descriptors made once, the heuristic's first algorithm.
  const cudaDataType_t type = dtype == DType::bf16 ? CUDA_R_16BF : dtype == DType::f16 ? CUDA_R_16F : CUDA_R_32F;
  cublasLtHandle_t lt = nullptr;
  CHECK_LT(cublasLtCreate(&lt));
  cublasLtMatmulDesc_t op = nullptr;
  CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn)));
  cublasLtMatrixLayout_t la, lb, lc;
  CHECK_LT(cublasLtMatrixLayoutCreate(&la, type, size, size, size));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lb, type, size, size, size));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lc, type, size, size, size));
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
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreate(&stream));
  const float alpha = 1.0f, beta = 0.0f;
  auto bare_call = [&] {
    CHECK_LT(cublasLtMatmul(lt, op, &alpha, w.get(), la, a.get(), lb, &beta, c.get(), lc, c.get(), lc, &heuristic.algo,
                            ws, ws_bytes, stream));
  };
  for (int i = 0; i < 3; ++i) bare_call();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) bare_call();
  CHECK_CUDA(cudaStreamSynchronize(stream));
  r.bare_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count() / reps;
  r.flops = 2.0 * size * size * static_cast<double>(size);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(lt);
  cudaFree(ws);
  cudaStreamDestroy(stream);
  return r;
}

// The engine's own ceilings (engine/ceilings.cpp, measure_ceilings): one probe for the engine
// and this bench, so that their floors agree; the GEMM ceiling is the better of the engine's and
// the bare cuBLASLt call's (a ceiling is what the device can do).
Ceilings device_ceilings(DType dtype, double bare_gemm_tflops) {
  auto backend = make_backend("cuda", 0, dtype);
  Ceilings c = measure_ceilings(*backend);
  c.gemm_tflops = std::max(c.gemm_tflops, bare_gemm_tflops);
  return c;
}

// ---- engine runs ------------------------------------------------------------------------

ConfigResult run_engine(const ModelConfig& model, const Workload& workload, const RunOptions& base, bool graphs,
                        int iterations) {
  RunOptions ro = base;
  ro.cuda_graphs = graphs;
  ro.warmup = 1;
  ro.iterations = iterations;
  const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, workload};
  ConfigResult r = run_configuration(model, point, ro, nullptr);
  if (r.status != ConfigStatus::ok) throw Error(fmt::format("{} failed: {}", workload.label(), r.reason));
  return r;
}

// Mean milliseconds per call of the phases "<pass>/layer.N/attn/core", over all layers.
double attention_ms_per_call(const ConfigResult& r, const std::string& pass) {
  double ms = 0, calls = 0;
  for (const PhaseSummary& p : r.metrics.phases)
    if (p.path.rfind(pass + "/layer.", 0) == 0 && p.path.size() > 10 &&
        p.path.compare(p.path.size() - 10, 10, "/attn/core") == 0) {
      ms += p.ms;
      calls += p.calls;
    }
  if (calls == 0) throw Error(fmt::format("no {} attention phase was timed", pass));
  return ms / calls;
}

std::string kernel_of(const ConfigResult& r, const std::string& pass) {
  for (const AttentionUse& u : r.attention)
    if (u.pass == pass) return u.why.empty() ? u.kernel : fmt::format("{} ({})", u.kernel, u.why);
  return "?";
}

// Contiguous [b, h, s, d] tensors of a bare call, filled (the backend: its allocator and fill kernel).
struct BareTensors {
  std::unique_ptr<Backend> backend;  // first: the buffers go before it
  DeviceBuffer q, o, k, v;
  BareTensors(const ModelConfig& m, DType dtype, int batch, int s_q, int s_kv) : backend(make_backend("cuda", 0, dtype)) {
    backend->bind_thread();
    const std::size_t nq = static_cast<std::size_t>(batch) * m.heads * s_q * m.head_dim;
    const std::size_t nkv = static_cast<std::size_t>(batch) * m.kv_heads * s_kv * m.head_dim;
    q = backend->allocate(nq, MemoryKind::activations);
    o = backend->allocate(nq, MemoryKind::activations);
    k = backend->allocate(nkv, MemoryKind::kv_cache);
    v = backend->allocate(nkv, MemoryKind::kv_cache);
    std::uint64_t tensor = 1;
    for (DeviceBuffer* b : {&q, &k, &v}) {
      const std::size_t n = b == &q ? nq : nkv;
      backend->fill(b->get(), 1, static_cast<int>(n), FillSpec{3, tensor++, 0, 0, static_cast<std::int64_t>(n), 1.0f, 0.0f});
    }
    backend->synchronize();
  }
};

// A bare cuDNN SDPA call of the engine's shape, in contiguous [b, h, s, d] tensors.
double bare_sdpa_ms(const ModelConfig& m, DType dtype, int batch, int s_q, int s_kv) {
#ifdef LLMT_WITH_CUDNN
  const cuda::SdpaSpec spec = cuda::SdpaSpec::bare_call(dtype, batch, m.heads, m.kv_heads, m.head_dim, s_q, s_kv);
  cuda::CudnnAttention cudnn(0);
  if (const std::string why = cudnn.prepare(spec); !why.empty())
    throw Error(fmt::format("bare cuDNN SDPA {}: {}", spec.describe(), why));
  const BareTensors t(m, dtype, batch, s_q, s_kv);
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreate(&stream));
  const double ms = time_ms_each(
      stream, 3, 50, [&] { cudnn.run(spec, t.q.get(), t.k.get(), t.v.get(), t.o.get(), 0, stream); });
  cudaStreamDestroy(stream);
  return ms;
#else
  (void)m, (void)dtype, (void)batch, (void)s_q, (void)s_kv;
  throw Error("this build has no cuDNN attention (configure with cuDNN and cudnn-frontend)");
#endif
}

struct AttentionCase {
  std::string label;
  int batch, prompt, keys;  // keys > 0: a decode step over `keys` keys (prompt keys - 1)
};

std::vector<AttentionCase> attention_cases(bool quick) {
  std::vector<AttentionCase> cases = {{"prefill b1 x p128", 1, 128, 0},   {"prefill b16 x p128", 16, 128, 0},
                                      {"decode b1, 160 keys", 1, 159, 160}, {"decode b16, 160 keys", 16, 159, 160}};
  if (!quick) {
    cases.push_back({"prefill b1 x p2048", 1, 2048, 0});
    cases.push_back({"decode b1, 4096 keys", 1, 4095, 4096});
    cases.push_back({"decode b16, 4096 keys", 16, 4095, 4096});
  }
  return cases;
}

// The engine's attention phase on two layers of the model, against the bare call.
Row attention_row(const ModelConfig& model, const AttentionCase& c, const RunOptions& ro, int iterations,
                  json& detail) {
  const bool decode = c.keys > 0;
  const ConfigResult r =
      run_engine(with_layers(model, std::min(2, model.layers)), Workload{c.batch, c.prompt, decode ? 2 : 1}, ro,
                 false, iterations);
  const std::string pass = decode ? "decode" : "prefill";
  Row row;
  row.name = "attention, " + c.label;
  row.unit = "ms per layer";
  row.value = attention_ms_per_call(r, pass);
  row.reference = bare_sdpa_ms(model, ro.dtype, c.batch, decode ? 1 : c.prompt, decode ? c.keys : c.prompt);
  row.reference_name = "bare cuDNN SDPA";
  row.target = 1.3;
  detail[row.name] = {{"engine_kernel", kernel_of(r, pass)}};
  return row;
}

// ---- ragged prefill ------------------------------------------------------------------

// The first `count` prompt lengths of the bundled Azure conversation sample (at most `longest`).
std::vector<int> azure_prompts(int count, int longest) {
  RequestListOptions lo;
  lo.requests = count;
  const RequestList list = make_request_list(parse_workload_source("azure-conv"), lo);
  std::vector<int> out;
  for (const Request& r : list.requests) out.push_back(std::min(r.prompt, longest));
  return out;
}

// The engine's ragged prefill of `prompts` (one step: every request a slot, one output token each).
ConfigResult run_ragged_prefill(const ModelConfig& model, const std::vector<int>& prompts, const RunOptions& base,
                                int iterations) {
  auto list = std::make_shared<RequestList>();
  list->source = "azure-conv";
  for (int p : prompts) list->requests.push_back({p, 1, 0.0});
  auto plan = std::make_shared<TrafficPlan>();
  plan->requests = list;
  plan->batching = {BatchingMode::static_batches, static_cast<int>(prompts.size()), 0, 0};
  ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, sizing_workload(*plan, 1)};
  point.traffic = plan;
  RunOptions ro = base;
  ro.warmup = 1;
  ro.iterations = iterations;
  ConfigResult r = run_configuration(model, point, ro, nullptr);
  if (r.status != ConfigStatus::ok) throw Error(fmt::format("ragged prefill failed: {}", r.reason));
  return r;
}

// A bare cuDNN ragged prefill of `prompts`: one SDPA call over [b, h, longest, d] tensors with a
// padding mask and the per-sequence lengths, causal (what a user of cuDNN would write).
double bare_ragged_sdpa_ms(const ModelConfig& m, DType dtype, const std::vector<int>& prompts) {
#ifdef LLMT_WITH_CUDNN
  const int batch = static_cast<int>(prompts.size());
  const int longest = *std::max_element(prompts.begin(), prompts.end());
  const cuda::SdpaSpec spec = cuda::SdpaSpec::bare_varlen(dtype, batch, m.heads, m.kv_heads, m.head_dim, longest);
  cuda::CudnnAttention cudnn(0);
  if (const std::string why = cudnn.prepare(spec); !why.empty())
    throw Error(fmt::format("bare cuDNN SDPA {}: {}", spec.describe(), why));
  const BareTensors t(m, dtype, batch, longest, longest);
  const DeviceBuffer lengths = t.backend->upload_table(prompts);
  t.backend->synchronize();
  const auto* seq = static_cast<const std::int32_t*>(lengths.get());
  cudaStream_t stream = nullptr;
  CHECK_CUDA(cudaStreamCreate(&stream));
  const double ms = time_ms_each(
      stream, 3, 50, [&] { cudnn.run_varlen(spec, t.q.get(), t.k.get(), t.v.get(), t.o.get(), seq, seq, stream); });
  cudaStreamDestroy(stream);
  return ms;
#else
  (void)m, (void)dtype, (void)prompts;
  throw Error("this build has no cuDNN attention (configure with cuDNN and cudnn-frontend)");
#endif
}

// The engine's ragged prefill attention (a call per request) of 16 Azure-conversation prompts on
// two layers, against the bare cuDNN ragged call, and against the engine's prefill of the same
// batch padded to its longest prompt.
std::vector<Row> ragged_prefill_rows(const ModelConfig& model, const RunOptions& ro, int iterations, json& detail) {
  const ModelConfig two = with_layers(model, std::min(2, model.layers));
  const std::vector<int> prompts = azure_prompts(16, model.max_positions - 1);
  const int longest = *std::max_element(prompts.begin(), prompts.end());
  const ConfigResult ragged = run_ragged_prefill(two, prompts, ro, iterations);
  const double engine_ms = attention_ms_per_call(ragged, "prefill");
  const ConfigResult padded = run_engine(two, Workload{static_cast<int>(prompts.size()), longest, 1}, ro, false, iterations);
  const std::string label = fmt::format("ragged prefill, 16 azure-conv (longest {})", longest);
  Row bare;
  bare.name = "attention, " + label;
  bare.unit = "ms per layer";
  bare.value = engine_ms;
  bare.reference = bare_ragged_sdpa_ms(model, ro.dtype, prompts);
  bare.reference_name = "bare cuDNN ragged SDPA";
  bare.target = 1.3;
  Row pad = bare;
  pad.name = "attention, " + label + " vs padded";
  pad.reference = attention_ms_per_call(padded, "prefill");
  pad.reference_name = fmt::format("the engine, padded to b16 x p{}", longest);
  pad.target = 1.0;
  long long tokens = 0;
  for (int p : prompts) tokens += p;
  detail[bare.name] = {{"prompts", prompts},
                       {"tokens", tokens},
                       {"padded_tokens", static_cast<long long>(longest) * static_cast<long long>(prompts.size())},
                       {"engine_kernel", kernel_of(ragged, "prefill")},
                       {"padded_kernel", kernel_of(padded, "prefill")}};
  return {bare, pad};
}

// A latency median against its speed-of-light floor.
Row floor_row(const std::string& name, double median_ms, double floor_ms, double target) {
  Row row;
  row.name = name;
  row.unit = "ms";
  row.value = median_ms;
  row.reference = floor_ms;
  row.reference_name = "speed-of-light floor";
  row.target = target;
  return row;
}

std::string markdown(const std::vector<Row>& rows, const json& header) {
  std::string out = fmt::format("# llmt_gpu_bench on {}\n\n{}\n\n", header.value("device", "?"), header.dump());
  out += "| measurement | llmthreads | reference | ratio | target | met |\n|---|---|---|---|---|---|\n";
  for (const Row& r : rows)
    out += fmt::format("| {} | {:.4g} {} | {:.4g} ({}) | {:.3f} | {} {} | {} |\n", r.name, r.value, r.unit,
                       r.reference, r.reference_name, r.ratio(), r.at_most ? "<=" : ">=", r.target,
                       r.met() ? "yes" : "**no**");
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigError(key + " needs a value");
      return argv[++i];
    };
    if (key == "--json") o.json_path = value();
    else if (key == "--markdown") o.markdown_path = value();
    else if (key == "--model") o.model = value();
    else if (key == "--dtype") o.dtype = value();
    else if (key == "--size") o.size = std::stoi(value());
    else if (key == "--quick") o.quick = true;
    else if (key == "--help" || key == "-h") {
      fmt::print("usage: llmt_gpu_bench [--json FILE] [--markdown FILE] [--model NAME] [--dtype bf16|f16] "
                 "[--size N] [--quick]\n");
      std::exit(0);
    } else {
      throw ConfigError("unknown option " + key);
    }
  }
  return o;
}

int run(const Options& o) {
  const CudaRuntimeInfo info = cuda_runtime_info();
  if (info.device_count == 0) {
    fmt::print(stderr, "llmt_gpu_bench: no GPU: {}\n", info.why_none);
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();
  const DType dtype = parse_dtype(o.dtype).value_or(DType::bf16);
  const ModelConfig model = load_model(o.model);
  json header = {{"device", info.devices[0].name}, {"model", o.model}, {"dtype", dtype_name(dtype)},
                 {"cudnn", info.cudnn_version},     {"cublas", info.cublas_version}};
  std::vector<Row> rows;
  json detail;
  auto progress = [&](const Row& r) {
    fmt::print("{:<34} {:>10.4g} {:<13} vs {:>10.4g} ({}): ratio {:.3f} (target {} {}) {}\n", r.name, r.value, r.unit,
               r.reference, r.reference_name, r.ratio(), r.at_most ? "<=" : ">=", r.target, r.met() ? "met" : "NOT MET");
    std::fflush(stdout);
  };

  const GemmResult gemm = gemm_efficiency(o.size, dtype);
  Row g;
  g.name = fmt::format("GEMM {0}^3 {1}, throughput", o.size, dtype_name(dtype));
  g.unit = "TFLOP/s";
  g.value = gemm.flops / gemm.backend_ms * 1e-9;
  g.reference = gemm.flops / gemm.bare_ms * 1e-9;
  g.reference_name = "bare cuBLASLt";
  g.target = 0.85;
  g.at_most = false;
  rows.push_back(g);
  progress(g);
  RunOptions ro;
  ro.backend = "cuda";
  ro.dtype = dtype;
  ro.ceilings = device_ceilings(dtype, g.reference);
  header["ceilings"] = to_json(ro.ceilings);
  fmt::print("{}\n", describe_ceilings(ro.ceilings));
  const int iterations = o.quick ? 2 : 5;

  for (const AttentionCase& c : attention_cases(o.quick)) {
    rows.push_back(attention_row(model, c, ro, iterations, detail));
    progress(rows.back());
  }
  for (const Row& row : ragged_prefill_rows(model, ro, iterations, detail)) {
    rows.push_back(row);
    progress(rows.back());
  }
  auto prefill = [&](int batch, int prompt, double target) {
    const ConfigResult r = run_engine(model, Workload{batch, prompt, 1}, ro, false, o.quick ? 2 : 3);
    rows.push_back(floor_row(fmt::format("TTFT b{} x p{}", batch, prompt), r.metrics.ttft_ms.median,
                             r.metrics.floor.ttft_ms, target));
    progress(rows.back());
  };
  if (!o.quick) prefill(1, 2048, 1.5);
  prefill(16, 128, 1.3);
  for (const bool graphs : {false, true}) {
    const ConfigResult r = run_engine(model, Workload{1, 128, 33}, ro, graphs, iterations);
    rows.push_back(floor_row(fmt::format("decode step b1, {}", graphs ? "CUDA graphs" : "eager"),
                             r.metrics.decode_step_ms.median, r.metrics.floor.decode_step_ms, graphs ? 1.25 : 1.5));
    detail[rows.back().name] = {{"attention", kernel_of(r, "decode")}, {"cuda_graphs", r.cuda_graphs}};
    progress(rows.back());
  }

  header["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json out = header;
  for (const Row& r : rows) out["rows"].push_back(to_json(r));
  out["detail"] = detail;
  std::ofstream(o.json_path) << out.dump(1) << "\n";
  if (!o.markdown_path.empty()) std::ofstream(o.markdown_path) << markdown(rows, header);
  int unmet = 0;
  for (const Row& r : rows) unmet += r.met() ? 0 : 1;
  fmt::print("{} of {} targets met in {:.0f} s\n", rows.size() - unmet, rows.size(), header["seconds"].get<double>());
  return unmet == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  llmt::register_builtin_backends();
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    fmt::print(stderr, "llmt_gpu_bench: {}\n", e.what());
    return 2;
  }
}
