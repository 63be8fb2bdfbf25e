// Launchers of the CUDA backend's kernels. Element type `type` is the backend's dtype (fp32,
// fp16 or bf16 storage; arithmetic in fp32); the per-element formulas are model/math.hpp's,
// shared with the CPU kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/backend.hpp"

namespace llmt::cuda {

void fill(DType type, void* dst, int rows, int cols, const FillSpec& spec, cudaStream_t stream);
void head_rms_norm(DType type, void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads,
                   int kv_heads, int head_dim, float eps, cudaStream_t stream);
void rms_norm(DType type, const void* x, const void* weight, void* out, int rows, int cols, float eps,
              cudaStream_t stream);
void layer_norm(DType type, const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                float eps, cudaStream_t stream);
void add_bias(DType type, void* x, const void* bias, int rows, int cols, cudaStream_t stream);
void add_2d(DType type, void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
            std::size_t cols, cudaStream_t stream);
void scale(DType type, void* x, float factor, std::size_t n, cudaStream_t stream);
void silu_mul(DType type, const void* x, void* out, int rows, int cols, cudaStream_t stream);
void gather_rows(DType type, void* dst, const void* src, const std::int32_t* index, int n, int cols,
                 cudaStream_t stream);
void weighted_sum_rows(DType type, void* dst, const void* src, const std::int32_t* position, const float* weight,
                       int rows, int k, int cols, cudaStream_t stream);
void gelu(DType type, void* x, std::size_t n, GeluForm form, cudaStream_t stream);
// tokens: device memory.
void embed(DType type, const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end,
           int hidden, void* out, cudaStream_t stream);
void rope(DType type, void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table,
          cudaStream_t stream);
void store_kv(DType type, const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape,
              cudaStream_t stream);
// rope() and store_kv() in one pass: q heads rotated in place, k heads rotated into the cache,
// v heads copied into it.
void rope_store_kv(DType type, void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape,
                   const float* cos_table, const float* sin_table, cudaStream_t stream);
// x += y (+ bias per column); out = norm(x): LayerNorm with norm_bias when `layer_norm`, else
// RMSNorm. One block per row; 16-byte loads where rows and pointers allow.
void add_norm(DType type, void* x, const void* y, const void* bias, const void* weight, const void* norm_bias,
              void* out, int rows, int cols, float eps, bool layer_norm, cudaStream_t stream);
void attention(DType type, const void* qkv, const void* k_cache, const void* v_cache, void* out,
               const AttentionShape& shape, cudaStream_t stream);
// Reads `bytes` of `data` (16-byte aligned) `passes` times over with `blocks` blocks, through L2
// only, reducing into `sink` (Backend::read_probe).
void read_probe(const void* data, std::size_t bytes, int passes, void* sink, int blocks, cudaStream_t stream);
void to_float(DType type, const void* src, float* dst, std::size_t n, cudaStream_t stream);
void from_float(DType type, const float* src, void* dst, std::size_t n, cudaStream_t stream);
// dst[i] = sum (or mean) over k < count of sources[k][i]; at most kMaxReduceSources sources.
inline constexpr int kMaxReduceSources = 16;
void reduce(DType type, void* dst, const void* const* sources, int count, std::size_t n, bool average,
            cudaStream_t stream);

}  // namespace llmt::cuda
