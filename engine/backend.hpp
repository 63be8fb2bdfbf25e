// The compute backend interface: one instance per rank, owning that rank's memory and its
// kernels. The CPU backend (kernels/cpu) and the CUDA backend implement it; the transformer
// code in engine/ is written once against it. Pointers passed in are the backend's own
// memory; element types are the backend's dtype() unless a parameter says float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include <string_view>

#include "model/dtype.hpp"
#include "model/model.hpp"
#include "engine/memory.hpp"

namespace llmt {

class Backend;

// Owned, tracked allocation on a backend. Movable, not copyable.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* owner, void* ptr, std::size_t bytes, MemoryKind kind)
      : owner_(owner), ptr_(ptr), bytes_(bytes), kind_(kind) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void reset();
  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  explicit operator bool() const { return ptr_ != nullptr; }

 private:
  Backend* owner_ = nullptr;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
  MemoryKind kind_ = MemoryKind::activations;
};

// Values of a weight block: value(i, j) = offset + scale * u(seed, tensor, (row0+i)*global_cols + col0+j),
// u uniform in [-1, 1) (model/math.hpp). A shard passes its own row/column origin.
struct FillSpec {
  std::uint64_t seed = 0;
  std::uint64_t tensor = 0;
  std::int64_t row0 = 0;
  std::int64_t col0 = 0;
  std::int64_t global_cols = 0;
  float scale = 1.0f;
  float offset = 0.0f;
};

// Geometry of one attention call. q rows hold [q heads | k heads | v heads] of head_dim each;
// the cache holds [batch][kv_heads][max_len][head_dim] for keys and for values.
struct AttentionShape {
  int batch = 0;
  int new_tokens = 0;  // prompt length in prefill, 1 in decode
  int past = 0;        // tokens already in the cache
  int max_len = 0;     // cache capacity per sequence
  int q_heads = 0;     // local query heads
  int kv_heads = 0;    // local KV heads
  int head_dim = 0;
  int group = 1;       // query heads per KV head
  int window = 0;      // sliding window, 0 = none
  int row_stride() const { return (q_heads + 2 * kv_heads) * head_dim; }
  bool decode() const { return new_tokens == 1 && past > 0; }
};

// Which attention kernel a run asks for (--attention): the backend's best (cuDNN's fused SDPA
// on the CUDA backend when the build has it and cuDNN accepts the shape), cuDNN or else fail,
// or the engine's own reference kernel.
enum class AttentionKernel { automatic, cudnn, naive };
std::string_view attention_kernel_name(AttentionKernel k);
// Parses "auto", "cudnn" or "naive"; throws ConfigError otherwise.
AttentionKernel parse_attention_kernel(const std::string& name);

// The kernel that will serve an attention shape, and why it was chosen when it is not the
// one asked for ("naive": "cuDNN SDPA needs fp16 or bf16").
struct AttentionPlan {
  std::string kernel;  // "cpu", "naive", "cudnn-sdpa"
  std::string why;
};
// The kernel that served one pass of a configuration.
struct AttentionUse {
  std::string pass;  // "prefill" or "decode"
  std::string kernel;
  std::string why;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual DType dtype() const = 0;
  // Device description for reports ("AMD EPYC (OpenBLAS ..., 1 thread per rank)", "NVIDIA H100 80GB HBM3").
  virtual std::string device_description() const = 0;

  MemoryTracker& memory() { return memory_; }
  // The threads this rank computes with (--threads-per-rank): the CPU backend splits its GEMMs
  // and its read probe among them. A backend whose rank is one device ignores it.
  virtual void set_threads(int /*threads*/) {}
  virtual int threads() const { return 1; }
  // Called first on every thread that uses this backend (CUDA: its device becomes current).
  virtual void bind_thread() {}
  DeviceBuffer allocate_bytes(std::size_t bytes, MemoryKind kind);
  // A copy of host `values` in this backend's memory, bytes unconverted (index and RoPE tables).
  template <typename T>
  DeviceBuffer upload_table(const std::vector<T>& values, MemoryKind kind = MemoryKind::activations) {
    DeviceBuffer buf = allocate_bytes(values.size() * sizeof(T), kind);
    if (buf) upload_bytes(buf.get(), values.data(), values.size() * sizeof(T));
    return buf;
  }
  DeviceBuffer allocate(std::size_t elements, MemoryKind kind) {
    return allocate_bytes(elements * dtype_size(dtype()), kind);
  }

  // A timestamp ordered with the work submitted so far on this rank. The CPU backend returns
  // steady-clock nanoseconds; asynchronous backends return a token (an event) that to_ns()
  // turns into nanoseconds on the host's steady clock once synchronize() has returned.
  virtual std::uint64_t stamp() = 0;
  virtual void synchronize() = 0;
  virtual std::uint64_t to_ns(std::uint64_t stamp) { return stamp; }
  // Tokens already resolved may be reused (called once per iteration).
  virtual void recycle_stamps() {}

  // Bytes in use on the device as the device itself reports them (GPUs: cudaMemGetInfo), or
  // -1 where there is no such figure.
  virtual long long device_memory_used() { return -1; }
  // Bracket the measured iterations for profilers that capture a range (cudaProfilerStart/Stop).
  virtual void profiler_start() {}
  virtual void profiler_stop() {}
  // Evicts the device's cache between iterations (--flush-l2); nothing on the CPU backend.
  virtual void flush_cache() {}
  // Speed-of-light probes (engine/ceilings.cpp). read_probe reads the `bytes` at `data` (this
  // backend's memory) `passes` times over, as fast as one rank can (CPU: one thread, vectorised;
  // GPU: the whole device, in one kernel), and reduces them into `sink` (this backend's memory,
  // at least 64 bytes), so that no read can be skipped. `passes` > 1 re-reads a buffer that fits
  // a cache without a call per pass.
  virtual void read_probe(const void* data, std::size_t bytes, int passes, void* sink) = 0;
  // The data caches a rank's working set can stay in between two of its kernels: the fastest
  // one's size (where the cache-resident probe reads) and all of them together. 0: unknown.
  struct CacheSizes {
    std::size_t fastest_bytes = 0, total_bytes = 0;
  };
  virtual CacheSizes cache_sizes() const { return {}; }
  // CUDA Graphs: the work submitted between begin_capture and end_capture is recorded, not run,
  // and replay(graph) launches it again. Backends without graphs return false.
  virtual bool supports_graphs() const { return false; }
  virtual void begin_capture() {}
  virtual int end_capture() { return -1; }
  virtual void replay(int /*graph*/) {}
  // Frees the graphs. Must happen before the communicators whose collectives they captured die.
  virtual void release_graphs() {}

  // Chooses and prepares (cuDNN: builds the graph and its plan) the attention kernel for
  // `shape`, outside any timed region and before any graph capture. Decode shapes are
  // prepared once for every `past`. Throws Error when `wanted` is cudnn and cuDNN refuses.
  virtual AttentionPlan prepare_attention(const AttentionShape& /*shape*/, AttentionKernel /*wanted*/) {
    return {name(), ""};
  }

  // Data movement (counts in elements of dtype() unless noted).
  virtual void fill(void* dst, int rows, int cols, const FillSpec& spec) = 0;
  virtual void copy_from_host(void* dst, const float* src, std::size_t n) = 0;  // converts to dtype()
  virtual void upload_bytes(void* dst, const void* src, std::size_t bytes) = 0;      // no conversion
  virtual void download_bytes(void* dst, const void* src, std::size_t bytes) = 0;    // no conversion
  virtual void copy_to_host(float* dst, const void* src, std::size_t n) = 0;
  // dst[r * dst_ld + c] = src[r * src_ld + c] for r < rows, c < cols.
  virtual void copy_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
                       std::size_t cols) = 0;

  // c[m, n] = a[m, k] * w[n, k]^T + beta * c  (weights stored as [out, in], like torch.nn.Linear).
  virtual void gemm(int m, int n, int k, const void* a, int lda, const void* w, int ldw, void* c, int ldc,
                    float beta) = 0;
  virtual void rms_norm(const void* x, const void* weight, void* out, int rows, int cols, float eps) = 0;
  // Qwen3's q/k norms, in place: RMSNorm over each head_dim vector of the q and k heads of `rows`
  // qkv rows ([q heads | kv heads of k | kv heads of v]), with q_weight for q heads, k_weight for k.
  virtual void head_rms_norm(void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads,
                             int kv_heads, int head_dim, float eps) = 0;
  virtual void layer_norm(const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                          float eps) = 0;
  virtual void add_bias(void* x, const void* bias, int rows, int cols) = 0;
  virtual void add(void* x, const void* y, std::size_t n) = 0;  // x += y
  // dst[r * dst_ld + c] += src[r * src_ld + c] for r < rows, c < cols.
  virtual void add_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
                      std::size_t cols) = 0;
  virtual void scale(void* x, float factor, std::size_t n) = 0;
  // out[r, :] = silu(x[r, 0:cols]) * x[r, cols:2*cols]
  virtual void silu_mul(const void* x, void* out, int rows, int cols) = 0;
  virtual void gelu(void* x, std::size_t n, GeluForm form) = 0;
  // Rows of `tokens` (ids in this backend's memory) in [vocab_begin, vocab_end) copy their table
  // row, others get zeros.
  virtual void embed(const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end,
                     int hidden, void* out) = 0;
  // Mixture of experts: dst[i, :] = src[index[i], :] for i < n (index in this backend's memory):
  // the rows each expert receives, gathered into one block per expert.
  virtual void gather_rows(void* dst, const void* src, const std::int32_t* index, int n, int cols) = 0;
  // dst[r, :] = sum over j < k, in order, of weight[r * k + j] * src[position[r * k + j], :], for
  // r < rows, accumulated in fp32 (position and float weight in this backend's memory): each
  // token's experts' outputs, weighted by its router.
  virtual void weighted_sum_rows(void* dst, const void* src, const std::int32_t* position, const float* weight,
                                 int rows, int k, int cols) = 0;
  // Rotates the q and k heads of every row of qkv in place; cos/sin tables are float
  // [max_len][head_dim/2]; row r is token r % new_tokens of its sequence at position past + that.
  virtual void rope(void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table) = 0;
  // Appends the new tokens' k and v heads to the caches.
  virtual void store_kv(const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape) = 0;
  // rope() then store_kv(), in one pass where the backend fuses them (the k heads rotated into
  // the cache; their copy in qkv is then unspecified).
  virtual void rope_store_kv(void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape,
                             const float* cos_table, const float* sin_table);
  // The residual step and the next norm, fused where the backend can: x += y (+ bias, per
  // column, when given); out = norm(x) with `weight`, LayerNorm with `norm_bias` when
  // `layer_norm`, else RMSNorm.
  virtual void add_norm(void* x, const void* y, const void* bias, const void* weight, const void* norm_bias,
                        void* out, int rows, int cols, float eps, bool layer_norm);
  // Causal attention of the new tokens over the cache; out is [batch * new_tokens, q_heads * head_dim].
  virtual void attention(const void* qkv, const void* k_cache, const void* v_cache, void* out,
                         const AttentionShape& shape) = 0;

 protected:
  virtual void* raw_allocate(std::size_t bytes) = 0;
  virtual void raw_free(void* ptr) noexcept = 0;

 private:
  friend class DeviceBuffer;
  MemoryTracker memory_;
};

}  // namespace llmt
