// Fused attention through cuDNN's SDPA graph (the kernel PyTorch picks on Hopper), built with the
// header-only cudnn-frontend. No cuDNN types here: only kernels/cuda/cudnn_attention.cpp sees them.
// Prefill is causal attention of the prompt over itself; decode is one query token over the
// whole cache capacity with a padding mask and per-sequence lengths, so one built graph serves
// every decode step (and can be captured in a CUDA graph: only the lengths' pointer changes).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>

#include "engine/backend.hpp"

namespace llmt::cuda {

// One attention call as cuDNN sees it. Q is read from the engine's qkv rows, K and V from its
// cache ([batch][kv heads][capacity][head dim]), O written as [rows][q heads x head dim].
struct SdpaSpec {
  DType dtype = DType::bf16;
  int batch = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  int s_q = 0, s_kv = 0;  // prefill: new tokens and past + new tokens (a chunk over cached
                          // tokens: bottom-right causal); decode: 1 and the cache capacity
  int max_len = 0;        // cache capacity: the stride between KV heads
  bool decode = false;    // padding mask with per-sequence lengths; else causal
  // A plain call as a user would make it (llmt_gpu_bench's reference): contiguous [b, h, s, d]
  // tensors, decode over exactly s_kv keys with no mask, prefill causal.
  bool bare = false;
  // With `bare`: a ragged prefill as a user would call it: `batch` prompts of unequal lengths in
  // [b, h, s_q, d] tensors padded to the longest (s_q == s_kv), causal, with a padding mask and
  // per-sequence lengths (run_varlen), so cuDNN skips each sequence's padding.
  bool varlen = false;
  static SdpaSpec from(const AttentionShape& shape, DType dtype);
  static SdpaSpec bare_call(DType dtype, int batch, int q_heads, int kv_heads, int head_dim, int s_q, int s_kv);
  static SdpaSpec bare_varlen(DType dtype, int batch, int q_heads, int kv_heads, int head_dim, int longest);
  using Key = std::tuple<DType, int, int, int, int, int, int, int, bool, bool, bool>;
  Key key() const { return {dtype, batch, q_heads, kv_heads, head_dim, s_q, s_kv, max_len, decode, bare, varlen}; }
  std::string describe() const;  // "b=1 hq=32 hkv=8 d=128 s_q=1 s_kv=161 decode bf16"
  std::int64_t q_row_stride() const { return static_cast<std::int64_t>(q_heads + 2 * kv_heads) * head_dim; }
};

// Why cuDNN cannot serve `shape` whatever the device (data type, sliding window...), or "".
std::string sdpa_unsupported(const AttentionShape& shape, DType dtype);
// Empty when cudnn-frontend's validate() accepts the graph for compute capability `sm` (90:
// Hopper), else its message. Needs no GPU.
std::string validate_sdpa(const SdpaSpec& spec, int sm);
// cudnnGetVersion(), e.g. 91900.
int cudnn_version();

// The graphs and plans of one device, built once per shape.
class CudnnAttention {
 public:
  explicit CudnnAttention(int device);
  ~CudnnAttention();
  CudnnAttention(const CudnnAttention&) = delete;
  CudnnAttention& operator=(const CudnnAttention&) = delete;

  // Builds the graph and plan of `spec` (once), its workspace and, for decode, the sequence
  // length table for caches of `spec.max_len`. Returns "" when ready, else cuDNN's reason.
  std::string prepare(const SdpaSpec& spec);
  // Runs a prepared spec on `stream`; `past` is the decode step's cached tokens (ignored in prefill).
  void run(const SdpaSpec& spec, const void* q, const void* k, const void* v, void* o, int past,
           cudaStream_t stream);
  // Runs a prepared varlen spec; seq_len_q and seq_len_kv: `batch` int32 lengths in device memory
  // (16-byte aligned), each at most spec.s_q.
  void run_varlen(const SdpaSpec& spec, const void* q, const void* k, const void* v, void* o,
                  const std::int32_t* seq_len_q, const std::int32_t* seq_len_kv, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmt::cuda
