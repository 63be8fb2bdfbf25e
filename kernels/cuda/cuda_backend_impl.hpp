// The CUDA backend's class, shared by the files of kernels/cuda (the communicators need its
// streams). Everything outside kernels/cuda goes through cuda_backend.hpp.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.hpp"

namespace llmt::cuda {

class CudnnAttention;

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, DType dtype);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  DType dtype() const override { return dtype_; }
  std::string device_description() const override;

  int device() const { return device_; }
  cudaStream_t compute_stream() const { return compute_; }
  cudaStream_t comm_stream() const { return comm_; }
  // Makes this thread use the backend's device (CUDA's current device is per thread).
  void bind() const;
  void bind_thread() override { bind(); }

  std::uint64_t stamp() override;
  // A stamp recorded on the communication stream (the overlap mode's collectives).
  std::uint64_t stamp_comm();
  void synchronize() override;
  // Waits for `stream`. With a watch set (process mode's NCCL watchdog) the wait polls, calling
  // the watch with the seconds waited so far every ~50 us; the watch throws to end a wait that
  // can no longer finish (a lost peer), the only way out of a collective that never completes.
  void wait_stream(cudaStream_t stream);
  void set_wait_watch(std::function<void(double waited_s)> watch) { wait_watch_ = std::move(watch); }
  std::uint64_t to_ns(std::uint64_t stamp) override;
  void recycle_stamps() override;

  long long device_memory_used() override;
  void profiler_start() override;
  void profiler_stop() override;
  void flush_cache() override;
  bool supports_graphs() const override { return true; }
  void begin_capture() override;
  int end_capture() override;
  void replay(int graph) override;
  void release_graphs() override;

  void fill(void* dst, int rows, int cols, const FillSpec& spec) override;
  void copy_from_host(void* dst, const float* src, std::size_t n) override;
  void upload_bytes(void* dst, const void* src, std::size_t bytes) override;
  void download_bytes(void* dst, const void* src, std::size_t bytes) override;
  void copy_to_host(float* dst, const void* src, std::size_t n) override;
  void copy_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
               std::size_t cols) override;

  void read_probe(const void* data, std::size_t bytes, int passes, void* sink) override;
  CacheSizes cache_sizes() const override;

  void gemm(int m, int n, int k, const void* a, int lda, const void* w, int ldw, void* c, int ldc,
            float beta) override;
  void rms_norm(const void* x, const void* weight, void* out, int rows, int cols, float eps) override;
  void head_rms_norm(void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads, int kv_heads,
                     int head_dim, float eps) override;
  void layer_norm(const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                  float eps) override;
  void add_bias(void* x, const void* bias, int rows, int cols) override;
  void add(void* x, const void* y, std::size_t n) override;
  void add_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
              std::size_t cols) override;
  void scale(void* x, float factor, std::size_t n) override;
  void silu_mul(const void* x, void* out, int rows, int cols) override;
  void gather_rows(void* dst, const void* src, const std::int32_t* index, int n, int cols) override;
  void weighted_sum_rows(void* dst, const void* src, const std::int32_t* position, const float* weight, int rows,
                         int k, int cols) override;
  void gelu(void* x, std::size_t n, GeluForm form) override;
  void embed(const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end, int hidden,
             void* out) override;
  void rope(void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table) override;
  void rope_store_kv(void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape, const float* cos_table,
                     const float* sin_table) override;
  void add_norm(void* x, const void* y, const void* bias, const void* weight, const void* norm_bias, void* out,
                int rows, int cols, float eps, bool layer_norm) override;
  AttentionPlan prepare_attention(const AttentionShape& shape, AttentionKernel wanted) override;
  void store_kv(const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape) override;
  void attention(const void* qkv, const void* k_cache, const void* v_cache, void* out,
                 const AttentionShape& shape) override;

 protected:
  void* raw_allocate(std::size_t bytes) override;
  void raw_free(void* ptr) noexcept override;

 private:
  // A cuBLASLt plan for one GEMM shape: descriptors and the heuristic's algorithm, made once.
  struct GemmPlan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // Shape, leading dimensions and the alignments of the activation, weight and output pointers.
  using GemmKey = std::tuple<int, int, int, int, int, int, std::uint32_t, std::uint32_t, std::uint32_t>;
  const GemmPlan& plan_for(int m, int n, int k, int lda, int ldw, int ldc, const void* a, const void* w,
                           const void* c);
  cudaEvent_t event_at(std::size_t index);
  // The kernel chosen for an attention shape (decode shapes keyed without `past`).
  using AttentionKey = std::tuple<int, int, int, int, int, int, int, int>;
  static AttentionKey attention_key(const AttentionShape& shape);

  int device_;
  DType dtype_;
  cudaStream_t compute_ = nullptr, comm_ = nullptr;
  std::function<void(double)> wait_watch_;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;  // cuBLASLt workspace: the backend's own, outside the engine's accounting
  std::size_t workspace_bytes_ = 0;
  std::map<GemmKey, GemmPlan> plans_;
  std::vector<cudaEvent_t> events_;
  std::size_t next_event_ = 0;
  std::uint64_t anchor_ns_ = 0;  // host steady-clock time of events_[0]
  std::mutex stamp_mutex_;       // an emulated rank's communication thread stamps too
  std::vector<cudaGraphExec_t> graphs_;
  void* flush_buffer_ = nullptr;
  std::size_t flush_bytes_ = 0;
  std::unique_ptr<CudnnAttention> cudnn_;   // built on first use (LLMT_WITH_CUDNN builds)
  std::map<AttentionKey, bool> use_cudnn_;  // per attention_key: cuDNN (true) or naive
};

// The backend behind `b`; throws when it is not a CUDA backend.
CudaBackend& as_cuda(Backend& b);

}  // namespace llmt::cuda
