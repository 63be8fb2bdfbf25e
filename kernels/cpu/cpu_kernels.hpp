// Reference-quality fp32 kernels of the CPU backend. Plain loops the compiler vectorises;
// GEMMs go to CBLAS (kernels/cpu/blas.hpp). The per-element formulas come from model/math.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/backend.hpp"

namespace llmt::cpu {

void fill(float* dst, int rows, int cols, const FillSpec& spec);
void rms_norm(const float* x, const float* weight, float* out, int rows, int cols, float eps);
void head_rms_norm(float* qkv, const float* q_weight, const float* k_weight, int rows, int q_heads, int kv_heads,
                   int head_dim, float eps);
void layer_norm(const float* x, const float* weight, const float* bias, float* out, int rows, int cols, float eps);
void add_bias(float* x, const float* bias, int rows, int cols);
void silu_mul(const float* x, float* out, int rows, int cols);
void gelu(float* x, std::size_t n, GeluForm form);
void embed(const std::int32_t* tokens, int n, const float* table, int vocab_begin, int vocab_end, int hidden,
           float* out);
void rope(float* qkv, const AttentionShape& s, const float* cos_table, const float* sin_table);
void store_kv(const float* qkv, float* k_cache, float* v_cache, const AttentionShape& s);
void attention(const float* qkv, const float* k_cache, const float* v_cache, float* out, const AttentionShape& s);
// Reads `bytes` of `data` `passes` times, as 64-bit words summed into independent accumulators
// (integer sums vectorise without reassociation flags), eight streams at once, and returns their sum.
std::uint64_t read_words(const void* data, std::size_t bytes, int passes);

}  // namespace llmt::cpu
