#include "kernels/cpu/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "model/math.hpp"

namespace llmt::cpu {

void fill(float* dst, int rows, int cols, const FillSpec& spec) {
  for (int i = 0; i < rows; ++i) {
    const auto base = static_cast<std::uint64_t>((spec.row0 + i) * spec.global_cols + spec.col0);
    float* row = dst + static_cast<std::size_t>(i) * static_cast<std::size_t>(cols);
    for (int j = 0; j < cols; ++j)
      row[j] = spec.offset + spec.scale * math::uniform_pm1(math::element_key(spec.seed, spec.tensor, base + j));
  }
}

void rms_norm(const float* x, const float* weight, float* out, int rows, int cols, float eps) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<std::size_t>(r) * cols;
    float* o = out + static_cast<std::size_t>(r) * cols;
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) sum += xr[c] * xr[c];
    const float inv = math::rms_inverse(sum, cols, eps);
    for (int c = 0; c < cols; ++c) o[c] = xr[c] * inv * weight[c];
  }
}

void head_rms_norm(float* qkv, const float* q_weight, const float* k_weight, int rows, int q_heads, int kv_heads,
                   int head_dim, float eps) {
  const std::size_t row_stride = static_cast<std::size_t>(q_heads + 2 * kv_heads) * head_dim;
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < q_heads + kv_heads; ++h) {
      float* v = qkv + r * row_stride + static_cast<std::size_t>(h) * head_dim;
      rms_norm(v, h < q_heads ? q_weight : k_weight, v, 1, head_dim, eps);  // in place: the sum is taken first
    }
}

void layer_norm(const float* x, const float* weight, const float* bias, float* out, int rows, int cols, float eps) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<std::size_t>(r) * cols;
    float* o = out + static_cast<std::size_t>(r) * cols;
    float mean = 0.0f;
    for (int c = 0; c < cols; ++c) mean += xr[c];
    mean /= static_cast<float>(cols);
    float var = 0.0f;
    for (int c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    const float inv = math::rms_inverse(var, cols, eps);
    for (int c = 0; c < cols; ++c) o[c] = (xr[c] - mean) * inv * weight[c] + bias[c];
  }
}

void add_bias(float* x, const float* bias, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    float* xr = x + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c) xr[c] += bias[c];
  }
}

void silu_mul(const float* x, float* out, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* gate = x + static_cast<std::size_t>(r) * 2 * cols;
    const float* up = gate + cols;
    float* o = out + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c) o[c] = math::silu(gate[c]) * up[c];
  }
}

void gelu(float* x, std::size_t n, GeluForm form) {
  if (form == GeluForm::erf)
    for (std::size_t i = 0; i < n; ++i) x[i] = math::gelu_erf(x[i]);
  else
    for (std::size_t i = 0; i < n; ++i) x[i] = math::gelu_tanh(x[i]);
}

void embed(const std::int32_t* tokens, int n, const float* table, int vocab_begin, int vocab_end, int hidden,
           float* out) {
  for (int i = 0; i < n; ++i) {
    float* o = out + static_cast<std::size_t>(i) * hidden;
    const int t = tokens[i];
    if (t >= vocab_begin && t < vocab_end)
      std::memcpy(o, table + static_cast<std::size_t>(t - vocab_begin) * hidden, sizeof(float) * hidden);
    else
      std::fill(o, o + hidden, 0.0f);
  }
}

namespace {
std::size_t cache_offset(const AttentionShape& s, int b, int kv_head, int pos) {
  return ((static_cast<std::size_t>(b) * s.kv_heads + kv_head) * s.max_len + pos) * s.head_dim;
}
}  // namespace

void rope(float* qkv, const AttentionShape& s, const float* cos_table, const float* sin_table) {
  const int half = s.head_dim / 2;
  const int rows = s.batch * s.new_tokens;
  for (int r = 0; r < rows; ++r) {
    const int pos = s.past + r % s.new_tokens;
    const float* cs = cos_table + static_cast<std::size_t>(pos) * half;
    const float* sn = sin_table + static_cast<std::size_t>(pos) * half;
    float* row = qkv + static_cast<std::size_t>(r) * s.row_stride();
    for (int h = 0; h < s.q_heads + s.kv_heads; ++h) {
      float* x = row + static_cast<std::size_t>(h) * s.head_dim;
      for (int i = 0; i < half; ++i) math::rope_rotate(x[i], x[i + half], cs[i], sn[i]);
    }
  }
}

void store_kv(const float* qkv, float* k_cache, float* v_cache, const AttentionShape& s) {
  const std::size_t d = s.head_dim;
  for (int r = 0; r < s.batch * s.new_tokens; ++r) {
    const int b = r / s.new_tokens, pos = s.past + r % s.new_tokens;
    const float* row = qkv + static_cast<std::size_t>(r) * s.row_stride();
    for (int h = 0; h < s.kv_heads; ++h) {
      std::memcpy(k_cache + cache_offset(s, b, h, pos), row + (s.q_heads + h) * d, d * sizeof(float));
      std::memcpy(v_cache + cache_offset(s, b, h, pos), row + (s.q_heads + s.kv_heads + h) * d, d * sizeof(float));
    }
  }
}

void attention(const float* qkv, const float* k_cache, const float* v_cache, float* out, const AttentionShape& s) {
  const int d = s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<float> scores(static_cast<std::size_t>(s.past + s.new_tokens));
  for (int r = 0; r < s.batch * s.new_tokens; ++r) {
    const int b = r / s.new_tokens, pos = s.past + r % s.new_tokens;
    const int first = s.window > 0 ? std::max(0, pos - s.window + 1) : 0;
    for (int h = 0; h < s.q_heads; ++h) {
      const float* q = qkv + static_cast<std::size_t>(r) * s.row_stride() + static_cast<std::size_t>(h) * d;
      const int kv = h / s.group;
      const float* keys = k_cache + cache_offset(s, b, kv, 0);
      const float* values = v_cache + cache_offset(s, b, kv, 0);
      float max_score = -INFINITY;
      for (int j = first; j <= pos; ++j) {
        const float* k = keys + static_cast<std::size_t>(j) * d;
        float dot = 0.0f;
        for (int i = 0; i < d; ++i) dot += q[i] * k[i];
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float total = 0.0f;
      for (int j = first; j <= pos; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        total += scores[j];
      }
      float* o = out + static_cast<std::size_t>(r) * s.q_heads * d + static_cast<std::size_t>(h) * d;
      std::fill(o, o + d, 0.0f);
      for (int j = first; j <= pos; ++j) {
        const float p = scores[j] / total;
        const float* v = values + static_cast<std::size_t>(j) * d;
        for (int i = 0; i < d; ++i) o[i] += p * v[i];
      }
    }
  }
}

std::uint64_t read_words(const void* data, std::size_t bytes, int passes) {
  const auto* w = static_cast<const std::uint64_t*>(data);
  const std::size_t n = bytes / sizeof(std::uint64_t);
  // Eight streams, a cache line from each per step: a core's prefetchers keep more lines in
  // flight over several streams than over one (up to 40% more read here), as a GEMM reading
  // several weight rows at once gets; one stream would make the ceiling lower than a GEMM.
  constexpr std::size_t streams = 8, line = 8;
  const std::size_t part = n / streams / line * line;
  std::uint64_t acc[streams][line] = {};
  for (int p = 0; p < passes; ++p) {
    for (std::size_t i = 0; i < part; i += line)
      for (std::size_t s = 0; s < streams; ++s)
        for (std::size_t j = 0; j < line; ++j) acc[s][j] += w[s * part + i + j];
    for (std::size_t i = streams * part; i < n; ++i) acc[0][0] += w[i];
    // Each pass reads memory again: the compiler may not fold the passes into one.
    asm volatile("" ::: "memory");
  }
  std::uint64_t sum = 0;
  for (const auto& stream : acc)
    for (std::uint64_t a : stream) sum += a;
  return sum;
}

}  // namespace llmt::cpu
