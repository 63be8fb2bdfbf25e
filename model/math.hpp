// Per-element math shared by every backend: the CPU kernels include it today and the CUDA
// kernels compile the same functions as __host__ __device__, so the CPU tests exercise the
// exact formulas the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define LLMT_HD __host__ __device__ __forceinline__
#else
#define LLMT_HD inline
#endif

namespace llmt::math {

LLMT_HD std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Key of one element of a logical (unsharded) tensor. Every shard computes the values of its
// own elements from their global indices, so a shard is bit-identical to the matching slice
// of the one-rank tensor without any rank ever materialising the whole tensor.
LLMT_HD std::uint64_t element_key(std::uint64_t seed, std::uint64_t tensor_id, std::uint64_t index) {
  return splitmix64(splitmix64(seed ^ (tensor_id * 0xD6E8FEB86659FD93ull)) + index);
}

// Uniform in [-1, 1) with 24 random bits: exactly representable in fp32 on every device.
LLMT_HD float uniform_pm1(std::uint64_t key) {
  const auto bits = static_cast<std::uint32_t>(splitmix64(key) >> 40);
  return static_cast<float>(bits) * 0x1p-23f - 1.0f;
}

LLMT_HD float silu(float x) { return x / (1.0f + expf(-x)); }

// GELU, exact: x * Phi(x) (GPT-2's activation_function "gelu", torch's default).
LLMT_HD float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

// GPT-2's gelu_new: the tanh approximation.
LLMT_HD float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

LLMT_HD float rms_inverse(float sum_squares, int n, float eps) {
  return 1.0f / sqrtf(sum_squares / static_cast<float>(n) + eps);
}

// Rotary embedding, rotate-half convention (Llama/HF): dimension i pairs with i + d/2.
LLMT_HD double rope_inv_freq(int pair, int head_dim, double theta) {
  return pow(theta, -2.0 * pair / head_dim);
}
LLMT_HD void rope_rotate(float& x0, float& x1, float cos_a, float sin_a) {
  const float a = x0, b = x1;
  x0 = a * cos_a - b * sin_a;
  x1 = b * cos_a + a * sin_a;
}

}  // namespace llmt::math
