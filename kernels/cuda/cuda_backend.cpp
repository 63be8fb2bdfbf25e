// The CUDA backend: a rank is one GPU (or one share of a GPU when ranks are emulated). Weights
// and activations are stored as the chosen dtype; GEMMs go through cuBLASLt with fp32
// accumulation and a plan (descriptors and heuristic algorithm) cached per shape; every other
// operation is a kernel of cuda_kernels.cu on the rank's compute stream. Timestamps are CUDA
// events resolved against a host-clock anchor taken at the first stamp of each iteration.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_profiler_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "model/error.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_backend_impl.hpp"
#include "kernels/cuda/cuda_common.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#ifdef LLMT_WITH_CUDNN
#include "kernels/cuda/cudnn_attention.hpp"
#else
namespace llmt::cuda {
class CudnnAttention {};  // never built without cuDNN
}  // namespace llmt::cuda
#endif

namespace llmt {
namespace cuda {
namespace {

void check_lt(cublasStatus_t status, const char* expression, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) fail(cublasLtGetStatusString(status), expression, file, line);
}
#define LLMT_CUBLAS_CHECK(expr) check_lt((expr), #expr, __FILE__, __LINE__)

cudaDataType_t data_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

std::uint64_t host_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

constexpr std::size_t kWorkspaceBytes = 32u << 20;

}  // namespace

CudaBackend::CudaBackend(int device, DType dtype) : device_(device), dtype_(dtype) {
  bind();
  LLMT_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
  LLMT_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_, cudaStreamNonBlocking));
  LLMT_CUBLAS_CHECK(cublasLtCreate(&lt_));
  workspace_bytes_ = kWorkspaceBytes;
  LLMT_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

CudaBackend::~CudaBackend() {
  (void)cudaSetDevice(device_);
  (void)cudaStreamSynchronize(compute_);
  (void)cudaStreamSynchronize(comm_);
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
  }
  for (cudaEvent_t e : events_) (void)cudaEventDestroy(e);
  for (cudaGraphExec_t g : graphs_) (void)cudaGraphExecDestroy(g);
  cudnn_.reset();
  (void)cudaFree(workspace_);
  (void)cudaFree(flush_buffer_);
  if (lt_) cublasLtDestroy(lt_);
  (void)cudaStreamDestroy(compute_);
  (void)cudaStreamDestroy(comm_);
}

void CudaBackend::bind() const { LLMT_CUDA_CHECK(cudaSetDevice(device_)); }

std::string CudaBackend::device_description() const {
  cudaDeviceProp prop{};
  LLMT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  return fmt::format("{} (cc {}.{}, {} SMs, {:.1f} GiB), {}", prop.name, prop.major, prop.minor,
                     prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0, dtype_name(dtype_));
}

cudaEvent_t CudaBackend::event_at(std::size_t index) {
  while (events_.size() <= index) {
    cudaEvent_t e = nullptr;
    LLMT_CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
  }
  return events_[index];
}

void CudaBackend::recycle_stamps() {
  std::lock_guard lock(stamp_mutex_);
  next_event_ = 0;
}

std::uint64_t CudaBackend::stamp() {
  std::lock_guard lock(stamp_mutex_);
  if (next_event_ == 0) {
    // The anchor: the stream is drained, so the event completes at about the host time taken.
    wait_stream(compute_);
    anchor_ns_ = host_ns();
    LLMT_CUDA_CHECK(cudaEventRecord(event_at(0), compute_));
    next_event_ = 1;
  }
  LLMT_CUDA_CHECK(cudaEventRecord(event_at(next_event_), compute_));
  return next_event_++;
}

std::uint64_t CudaBackend::stamp_comm() {
  bool anchored = false;
  {
    std::lock_guard lock(stamp_mutex_);
    anchored = next_event_ > 0;
  }
  if (!anchored) (void)stamp();
  std::lock_guard lock(stamp_mutex_);
  LLMT_CUDA_CHECK(cudaEventRecord(event_at(next_event_), comm_));
  return next_event_++;
}

void CudaBackend::wait_stream(cudaStream_t stream) {
  if (!wait_watch_) {
    LLMT_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const cudaError_t state = cudaStreamQuery(stream);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) LLMT_CUDA_CHECK(state);
    wait_watch_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void CudaBackend::synchronize() {
  wait_stream(comm_);
  wait_stream(compute_);
}

std::uint64_t CudaBackend::to_ns(std::uint64_t stamp) {
  std::lock_guard lock(stamp_mutex_);
  if (stamp == 0 || stamp >= next_event_) return anchor_ns_;
  float ms = 0.0f;
  LLMT_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[0], events_[stamp]));
  return anchor_ns_ + static_cast<std::uint64_t>(static_cast<double>(ms) * 1e6);
}

long long CudaBackend::device_memory_used() {
  bind();
  std::size_t free_bytes = 0, total = 0;
  LLMT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return static_cast<long long>(total - free_bytes);
}

void CudaBackend::profiler_start() { LLMT_CUDA_CHECK(cudaProfilerStart()); }
void CudaBackend::profiler_stop() { LLMT_CUDA_CHECK(cudaProfilerStop()); }

void CudaBackend::flush_cache() {
  if (!flush_buffer_) {
    int l2 = 0;
    LLMT_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device_));
    flush_bytes_ = 2 * static_cast<std::size_t>(l2 > 0 ? l2 : (64 << 20));
    LLMT_CUDA_CHECK(cudaMalloc(&flush_buffer_, flush_bytes_));
  }
  LLMT_CUDA_CHECK(cudaMemsetAsync(flush_buffer_, 0, flush_bytes_, compute_));
  wait_stream(compute_);
}

void CudaBackend::begin_capture() {
  // Thread-local: the other ranks' threads keep using CUDA normally while this one captures.
  LLMT_CUDA_CHECK(cudaStreamBeginCapture(compute_, cudaStreamCaptureModeThreadLocal));
}

int CudaBackend::end_capture() {
  cudaGraph_t graph = nullptr;
  LLMT_CUDA_CHECK(cudaStreamEndCapture(compute_, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  LLMT_CUDA_CHECK(status);
  graphs_.push_back(exec);
  return static_cast<int>(graphs_.size() - 1);
}

void CudaBackend::replay(int graph) {
  LLMT_CUDA_CHECK(cudaGraphLaunch(graphs_.at(static_cast<std::size_t>(graph)), compute_));
}

void CudaBackend::release_graphs() {
  (void)cudaStreamSynchronize(compute_);
  for (cudaGraphExec_t g : graphs_) (void)cudaGraphExecDestroy(g);
  graphs_.clear();
}

void* CudaBackend::raw_allocate(std::size_t bytes) {
  bind();
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw std::bad_alloc();
  }
  LLMT_CUDA_CHECK(status);
  return p;
}

void CudaBackend::raw_free(void* ptr) noexcept { (void)cudaFree(ptr); }

void CudaBackend::fill(void* dst, int rows, int cols, const FillSpec& spec) {
  cuda::fill(dtype_, dst, rows, cols, spec, compute_);
}

void CudaBackend::copy_from_host(void* dst, const float* src, std::size_t n) {
  if (dtype_ == DType::f32) return upload_bytes(dst, src, n * sizeof(float));
  std::vector<std::uint16_t> converted(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (dtype_ == DType::bf16) {
      const __nv_bfloat16_raw raw = __float2bfloat16(src[i]);
      converted[i] = raw.x;
    } else {
      const __half_raw raw = __float2half(src[i]);
      converted[i] = raw.x;
    }
  }
  upload_bytes(dst, converted.data(), n * 2);
}

void CudaBackend::upload_bytes(void* dst, const void* src, std::size_t bytes) {
  LLMT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, compute_));
  wait_stream(compute_);
}

void CudaBackend::download_bytes(void* dst, const void* src, std::size_t bytes) {
  LLMT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, compute_));
  wait_stream(compute_);
}

void CudaBackend::copy_to_host(float* dst, const void* src, std::size_t n) {
  if (dtype_ == DType::f32) return download_bytes(dst, src, n * sizeof(float));
  std::vector<std::uint16_t> raw(n);
  download_bytes(raw.data(), src, n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    if (dtype_ == DType::bf16) {
      __nv_bfloat16_raw bits;
      bits.x = raw[i];
      dst[i] = __bfloat162float(__nv_bfloat16(bits));
    } else {
      __half_raw bits;
      bits.x = raw[i];
      dst[i] = __half2float(__half(bits));
    }
  }
}

void CudaBackend::copy_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
                          std::size_t cols) {
  if (rows * cols == 0) return;
  const std::size_t e = dtype_size(dtype_);
  LLMT_CUDA_CHECK(
      cudaMemcpy2DAsync(dst, dst_ld * e, src, src_ld * e, cols * e, rows, cudaMemcpyDeviceToDevice, compute_));
}

namespace {
// The largest power of two (at most 256) dividing the address: cuBLASLt's heuristic may pick an
// algorithm needing 256-byte alignment unless told otherwise, and column offsets into a matrix
// (overlap chunks, the sum merge's hidden slice) are less aligned than an allocation.
std::uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}
}  // namespace

const CudaBackend::GemmPlan& CudaBackend::plan_for(int m, int n, int k, int lda, int ldw, int ldc,
                                                   const void* a_ptr, const void* w_ptr, const void* c_ptr) {
  const std::uint32_t align_a = alignment_of(a_ptr), align_w = alignment_of(w_ptr), align_c = alignment_of(c_ptr);
  const GemmKey key{m, n, k, lda, ldw, ldc, align_a, align_w, align_c};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  // Row-major C[m,n] = A[m,k] W[n,k]^T is, column-major, C^T[n,m] = (W^T)^T[n,k] A^T[k,m]:
  // cuBLASLt's A is the weight viewed as k x n (transposed), its B the activations as k x m.
  GemmPlan plan;
  const cudaDataType_t dt = data_type(dtype_);
  LLMT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  LLMT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
  LLMT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof(none)));
  LLMT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.a, dt, static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n), ldw));
  LLMT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.b, dt, static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(m), lda));
  LLMT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.c, dt, static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(m), ldc));
  cublasLtMatmulPreference_t preference = nullptr;
  LLMT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  LLMT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &workspace_bytes_, sizeof(workspace_bytes_)));
  // cuBLASLt's A is the weight, its B the activations, C and D the output.
  for (auto [attribute, value] : {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_w},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_a},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
                                  std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}})
    LLMT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(lt_, plan.op, plan.a, plan.b, plan.c, plan.c,
                                                                preference, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  LLMT_CUBLAS_CHECK(status);
  if (found == 0)
    fail(fmt::format("no cuBLASLt algorithm for m={} n={} k={} {}", m, n, k, dtype_name(dtype_)),
         "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
  plan.algo = result.algo;
  return plans_.emplace(key, plan).first->second;
}

void CudaBackend::gemm(int m, int n, int k, const void* a, int lda, const void* w, int ldw, void* c, int ldc,
                       float beta) {
  if (m == 0 || n == 0) return;
  const GemmPlan& plan = plan_for(m, n, k, lda, ldw, ldc, a, w, c);
  const float alpha = 1.0f;
  LLMT_CUBLAS_CHECK(cublasLtMatmul(lt_, plan.op, &alpha, w, plan.a, a, plan.b, &beta, c, plan.c, c, plan.c,
                                   &plan.algo, workspace_, workspace_bytes_, compute_));
}

void CudaBackend::rms_norm(const void* x, const void* weight, void* out, int rows, int cols, float eps) {
  cuda::rms_norm(dtype_, x, weight, out, rows, cols, eps, compute_);
}
void CudaBackend::head_rms_norm(void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads,
                                int kv_heads, int head_dim, float eps) {
  cuda::head_rms_norm(dtype_, qkv, q_weight, k_weight, rows, q_heads, kv_heads, head_dim, eps, compute_);
}
void CudaBackend::layer_norm(const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                             float eps) {
  cuda::layer_norm(dtype_, x, weight, bias, out, rows, cols, eps, compute_);
}
void CudaBackend::add_bias(void* x, const void* bias, int rows, int cols) {
  cuda::add_bias(dtype_, x, bias, rows, cols, compute_);
}
void CudaBackend::add(void* x, const void* y, std::size_t n) { cuda::add_2d(dtype_, x, n, y, n, 1, n, compute_); }
void CudaBackend::add_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
                         std::size_t cols) {
  cuda::add_2d(dtype_, dst, dst_ld, src, src_ld, rows, cols, compute_);
}
void CudaBackend::read_probe(const void* data, std::size_t bytes, int passes, void* sink) {
  // Enough resident threads on every SM to keep the memory system busy.
  int sms = 0;
  LLMT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_));
  cuda::read_probe(data, bytes, passes, sink, 8 * sms, compute_);
}

// L1 does not keep data between kernels, so L2 is the one cache (fastest and total alike).
Backend::CacheSizes CudaBackend::cache_sizes() const {
  int l2 = 0;
  LLMT_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device_));
  const auto bytes = static_cast<std::size_t>(std::max(l2, 0));
  return {bytes, bytes};
}

void CudaBackend::scale(void* x, float factor, std::size_t n) { cuda::scale(dtype_, x, factor, n, compute_); }
void CudaBackend::silu_mul(const void* x, void* out, int rows, int cols) {
  cuda::silu_mul(dtype_, x, out, rows, cols, compute_);
}

void CudaBackend::gather_rows(void* dst, const void* src, const std::int32_t* index, int n, int cols) {
  cuda::gather_rows(dtype_, dst, src, index, n, cols, compute_);
}

void CudaBackend::weighted_sum_rows(void* dst, const void* src, const std::int32_t* position, const float* weight,
                                    int rows, int k, int cols) {
  cuda::weighted_sum_rows(dtype_, dst, src, position, weight, rows, k, cols, compute_);
}
void CudaBackend::gelu(void* x, std::size_t n, GeluForm form) { cuda::gelu(dtype_, x, n, form, compute_); }

void CudaBackend::embed(const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end,
                        int hidden, void* out) {
  cuda::embed(dtype_, tokens, n, table, vocab_begin, vocab_end, hidden, out, compute_);
}

void CudaBackend::rope(void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table) {
  cuda::rope(dtype_, qkv, shape, cos_table, sin_table, compute_);
}
void CudaBackend::store_kv(const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape) {
  cuda::store_kv(dtype_, qkv, k_cache, v_cache, shape, compute_);
}
void CudaBackend::rope_store_kv(void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape,
                                const float* cos_table, const float* sin_table) {
  cuda::rope_store_kv(dtype_, qkv, k_cache, v_cache, shape, cos_table, sin_table, compute_);
}

void CudaBackend::add_norm(void* x, const void* y, const void* bias, const void* weight, const void* norm_bias,
                           void* out, int rows, int cols, float eps, bool layer_norm) {
  cuda::add_norm(dtype_, x, y, bias, weight, layer_norm ? norm_bias : nullptr, out, rows, cols, eps, layer_norm,
                 compute_);
}

CudaBackend::AttentionKey CudaBackend::attention_key(const AttentionShape& s) {
  return {s.batch, s.new_tokens, s.decode() ? -1 : s.past, s.max_len, s.q_heads, s.kv_heads, s.head_dim, s.window};
}

AttentionPlan CudaBackend::prepare_attention(const AttentionShape& shape, AttentionKernel wanted) {
  bind();
  const AttentionKey key = attention_key(shape);
  auto choose = [&](bool cudnn, std::string why) {
    use_cudnn_[key] = cudnn;
    return AttentionPlan{cudnn ? "cudnn-sdpa" : "naive", std::move(why)};
  };
  if (wanted == AttentionKernel::naive) return choose(false, "");
#ifdef LLMT_WITH_CUDNN
  std::string refusal = sdpa_unsupported(shape, dtype_);
  if (refusal.empty()) {
    if (!cudnn_) cudnn_ = std::make_unique<CudnnAttention>(device_);
    refusal = cudnn_->prepare(SdpaSpec::from(shape, dtype_));
  }
  if (refusal.empty()) return choose(true, "");
  if (wanted == AttentionKernel::cudnn)
    throw Error(fmt::format("--attention cudnn: cuDNN cannot serve {}: {}", SdpaSpec::from(shape, dtype_).describe(),
                            refusal));
  return choose(false, "cuDNN refused: " + refusal);
#else
  if (wanted == AttentionKernel::cudnn)
    throw Error("--attention cudnn: this build has no cuDNN attention (configure with cuDNN and cudnn-frontend)");
  return choose(false, "this build has no cuDNN attention");
#endif
}

void CudaBackend::attention(const void* qkv, const void* k_cache, const void* v_cache, void* out,
                            const AttentionShape& shape) {
  auto choice = use_cudnn_.find(attention_key(shape));
  if (choice == use_cudnn_.end()) {
    // Preparing allocates and synchronises, which a graph capture cannot contain.
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    LLMT_CUDA_CHECK(cudaStreamIsCapturing(compute_, &capturing));
    if (capturing != cudaStreamCaptureStatusNone)
      throw Error("attention shape captured in a CUDA graph before prepare_attention");
    prepare_attention(shape, AttentionKernel::automatic);
    choice = use_cudnn_.find(attention_key(shape));
  }
#ifdef LLMT_WITH_CUDNN
  if (choice->second) {
    cudnn_->run(SdpaSpec::from(shape, dtype_), qkv, k_cache, v_cache, out, shape.past, compute_);
    return;
  }
#endif
  cuda::attention(dtype_, qkv, k_cache, v_cache, out, shape, compute_);
}

CudaBackend& as_cuda(Backend& b) {
  auto* c = dynamic_cast<CudaBackend*>(&b);
  if (!c) throw Error(fmt::format("a CUDA communicator needs CUDA backends, got '{}'", b.name()));
  return *c;
}

}  // namespace cuda

CudaRuntimeInfo cuda_runtime_info() {
  CudaRuntimeInfo info;
  const cudaError_t status = cudaGetDeviceCount(&info.device_count);
  if (status != cudaSuccess) {
    info.device_count = 0;
    info.why_none = cudaGetErrorString(status);
    (void)cudaGetLastError();
  } else if (info.device_count == 0) {
    info.why_none = "the CUDA runtime reports no device";
  }
  (void)cudaDriverGetVersion(&info.driver_version);
  (void)cudaRuntimeGetVersion(&info.runtime_version);
  info.cublas_version = static_cast<int>(cublasLtGetVersion());
  (void)ncclGetVersion(&info.nccl_version);
#ifdef LLMT_WITH_CUDNN
  info.cudnn_version = cuda::cudnn_version();
#endif
  for (int i = 0; i < info.device_count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = prop.name;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof(bus), i) == cudaSuccess) d.pci_bus_id = bus;
    d.compute_capability = prop.major * 10 + prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    d.memory_bytes = prop.totalGlobalMem;
    d.l2_bytes = static_cast<std::size_t>(prop.l2CacheSize);
    int value = 0;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrClockRate, i) == cudaSuccess) d.clock_mhz = value / 1000;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrMemoryClockRate, i) == cudaSuccess) d.memory_clock_mhz = value / 1000;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrGlobalMemoryBusWidth, i) == cudaSuccess) d.memory_bus_bits = value;
    info.devices.push_back(d);
  }
  (void)cudaGetLastError();
  return info;
}

std::unique_ptr<Backend> make_cuda_backend(int device, DType dtype) {
  return std::make_unique<cuda::CudaBackend>(device, dtype);
}

}  // namespace llmt
