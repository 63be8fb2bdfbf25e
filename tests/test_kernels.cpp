// Every CPU kernel against a naive double-precision reference written out here.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "model/math.hpp"

namespace llmt {
namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << "at element " << i;
}

TEST(Kernels, GemmMatchesNaiveProduct) {
  const int m = 7, n = 13, k = 29;
  const auto a = random_vector(m * k, 1), w = random_vector(n * k, 2);
  std::vector<float> c(m * n, 0.5f);
  blas::sgemm_nt(m, n, k, a.data(), k, w.data(), k, c.data(), n, 1.0f);
  std::vector<double> want(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0.5;
      for (int p = 0; p < k; ++p) s += double(a[i * k + p]) * w[j * k + p];
      want[i * n + j] = s;
    }
  expect_close(c, want, 1e-5);
}

TEST(Kernels, RmsNorm) {
  const int rows = 3, cols = 37;
  const auto x = random_vector(rows * cols, 3), w = random_vector(cols, 4);
  std::vector<float> out(x.size());
  cpu::rms_norm(x.data(), w.data(), out.data(), rows, cols, 1e-5f);
  std::vector<double> want(x.size());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
    const double inv = 1.0 / std::sqrt(ss / cols + 1e-5);
    for (int c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * inv * w[c];
  }
  expect_close(out, want, 1e-5);
}

TEST(Kernels, LayerNorm) {
  const int rows = 4, cols = 50;
  const auto x = random_vector(rows * cols, 5, 3.0f), w = random_vector(cols, 6), b = random_vector(cols, 7);
  std::vector<float> out(x.size());
  cpu::layer_norm(x.data(), w.data(), b.data(), out.data(), rows, cols, 1e-5f);
  std::vector<double> want(x.size());
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    for (int c = 0; c < cols; ++c) want[r * cols + c] = (x[r * cols + c] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c];
  }
  expect_close(out, want, 1e-5);
}

TEST(Kernels, SiluGatedProduct) {
  const int rows = 2, cols = 19;
  const auto x = random_vector(rows * 2 * cols, 8, 4.0f);
  std::vector<float> out(rows * cols);
  cpu::silu_mul(x.data(), out.data(), rows, cols);
  std::vector<double> want(out.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double g = x[r * 2 * cols + c], u = x[r * 2 * cols + cols + c];
      want[r * cols + c] = g / (1.0 + std::exp(-g)) * u;
    }
  expect_close(out, want, 1e-5);
}

TEST(Kernels, GeluTanhApproximation) {
  auto x = random_vector(101, 9, 5.0f);
  const auto in = x;
  cpu::gelu(x.data(), x.size(), GeluForm::tanh);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = in[i];
    want[i] = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  expect_close(x, want, 1e-5);
}

// Qwen3's q/k norms: every q and k head normalised with its own weights, v untouched.
TEST(Kernels, HeadRmsNormNormalisesQAndKHeadsOnly) {
  const int rows = 2, q_heads = 2, kv_heads = 1, hd = 4, stride = (q_heads + 2 * kv_heads) * hd;
  auto qkv = random_vector(static_cast<std::size_t>(rows) * stride, 21, 2.0f);
  const auto in = qkv;
  const std::vector<float> qw = {1.0f, 2.0f, 0.5f, -1.0f}, kw = {0.25f, 1.0f, 1.0f, 3.0f};
  cpu::head_rms_norm(qkv.data(), qw.data(), kw.data(), rows, q_heads, kv_heads, hd, 1e-6f);
  std::vector<double> want(in.begin(), in.end());
  for (int r = 0; r < rows; ++r)
    for (int h = 0; h < q_heads + kv_heads; ++h) {
      const std::size_t at = static_cast<std::size_t>(r) * stride + static_cast<std::size_t>(h) * hd;
      double sum = 0;
      for (int c = 0; c < hd; ++c) sum += static_cast<double>(in[at + c]) * in[at + c];
      const double inv = 1.0 / std::sqrt(sum / hd + 1e-6);
      for (int c = 0; c < hd; ++c) want[at + c] = in[at + c] * inv * (h < q_heads ? qw[c] : kw[c]);
    }
  expect_close(qkv, want, 1e-5);
}

// activation_function "gelu" is the exact form, x * Phi(x): it differs from the tanh form by up
// to about 5e-4 near |x| = 2, far more than the tolerance, so the two cannot be confused.
TEST(Kernels, GeluExactForm) {
  auto x = random_vector(101, 9, 5.0f);
  const auto in = x;
  cpu::gelu(x.data(), x.size(), GeluForm::erf);
  std::vector<double> want(x.size());
  double largest_gap = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = in[i];
    want[i] = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double tanh_form = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    largest_gap = std::max(largest_gap, std::abs(want[i] - tanh_form));
  }
  expect_close(x, want, 1e-6);
  EXPECT_GT(largest_gap, 1e-4);
  EXPECT_NEAR(math::gelu_erf(1.0f), 0.8413447460685429, 1e-6);  // 1 * Phi(1)
}

TEST(Kernels, EmbeddingShardGivesZerosOutsideItsRange) {
  const int vocab = 10, hidden = 4;
  const auto table = random_vector(vocab * hidden, 10);
  const std::vector<std::int32_t> tokens = {0, 3, 9, 5};
  std::vector<float> out(tokens.size() * hidden, -1.0f);
  // Shard holding rows [3, 6) of the table.
  cpu::embed(tokens.data(), 4, table.data() + 3 * hidden, 3, 6, hidden, out.data());
  for (std::size_t i = 0; i < tokens.size(); ++i)
    for (int c = 0; c < hidden; ++c) {
      const bool mine = tokens[i] >= 3 && tokens[i] < 6;
      EXPECT_EQ(out[i * hidden + c], mine ? table[tokens[i] * hidden + c] : 0.0f);
    }
}

TEST(Kernels, FillIsDeterministicAndShardsAreSlicesOfTheWhole) {
  const int rows = 6, cols = 10;
  std::vector<float> whole(rows * cols), block(2 * 4);
  const FillSpec spec{7, 42, 0, 0, cols, 0.5f, 1.0f};
  cpu::fill(whole.data(), rows, cols, spec);
  // Rows [3, 5), columns [4, 8) of the same logical tensor.
  cpu::fill(block.data(), 2, 4, FillSpec{7, 42, 3, 4, cols, 0.5f, 1.0f});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(block[i * 4 + j], whole[(3 + i) * cols + 4 + j]);
  for (float v : whole) {
    EXPECT_GE(v, 0.5f);
    EXPECT_LT(v, 1.5f);
  }
  std::vector<float> other(rows * cols);
  cpu::fill(other.data(), rows, cols, FillSpec{8, 42, 0, 0, cols, 0.5f, 1.0f});
  EXPECT_NE(other, whole);
}

// Naive attention over a full (un-cached) sequence, in double, with RoPE applied directly.
struct AttentionCase {
  int batch, seq, q_heads, kv_heads, head_dim, window;
};

void PrintTo(const AttentionCase& c, std::ostream* os) {
  *os << "batch " << c.batch << " seq " << c.seq << " heads " << c.q_heads << "/" << c.kv_heads << " dim "
      << c.head_dim << " window " << c.window;
}

class AttentionTest : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionTest, PrefillThenDecodeMatchesNaiveCausalAttention) {
  const auto [batch, seq, qh, kvh, d, window] = GetParam();
  const int group = qh / kvh, stride = (qh + 2 * kvh) * d, prompt = seq - 2;
  const auto qkv_all = random_vector(static_cast<std::size_t>(batch) * seq * stride, 11);
  const int half = d / 2;
  std::vector<float> cos_t(seq * half), sin_t(seq * half);
  for (int p = 0; p < seq; ++p)
    for (int i = 0; i < half; ++i) {
      const double a = p * math::rope_inv_freq(i, d, 10000.0);
      cos_t[p * half + i] = float(std::cos(a));
      sin_t[p * half + i] = float(std::sin(a));
    }

  // Reference: rotate, then attend causally in double.
  std::vector<double> rotated(qkv_all.begin(), qkv_all.end());
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seq; ++t)
      for (int h = 0; h < qh + kvh; ++h)
        for (int i = 0; i < half; ++i) {
          double* x = &rotated[(std::size_t(b) * seq + t) * stride + h * d];
          const double a = t * math::rope_inv_freq(i, d, 10000.0), x0 = x[i], x1 = x[i + half];
          x[i] = x0 * std::cos(a) - x1 * std::sin(a);
          x[i + half] = x1 * std::cos(a) + x0 * std::sin(a);
        }
  auto reference = [&](int b, int t, int h, int i) {
    const double* q = &rotated[(std::size_t(b) * seq + t) * stride + h * d];
    const int kv = h / group, first = window > 0 ? std::max(0, t - window + 1) : 0;
    std::vector<double> s;
    double mx = -1e300;
    for (int j = first; j <= t; ++j) {
      const double* k = &rotated[(std::size_t(b) * seq + j) * stride + (qh + kv) * d];
      double dot = 0;
      for (int e = 0; e < d; ++e) dot += q[e] * k[e];
      s.push_back(dot / std::sqrt(double(d)));
      mx = std::max(mx, s.back());
    }
    double total = 0, out = 0;
    for (double& v : s) total += (v = std::exp(v - mx));
    for (int j = first; j <= t; ++j)
      out += s[j - first] / total * rotated[(std::size_t(b) * seq + j) * stride + (qh + kvh + kv) * d + i];
    return out;
  };

  // Kernels: prefill `prompt` tokens, then decode the remaining ones one at a time.
  std::vector<float> k_cache(std::size_t(batch) * kvh * seq * d), v_cache(k_cache.size());
  auto run = [&](int past, int n, std::vector<float>& out) {
    std::vector<float> qkv(std::size_t(batch) * n * stride);
    for (int b = 0; b < batch; ++b)
      std::copy_n(&qkv_all[(std::size_t(b) * seq + past) * stride], std::size_t(n) * stride, &qkv[std::size_t(b) * n * stride]);
    const AttentionShape s{batch, n, past, seq, qh, kvh, d, group, window};
    cpu::rope(qkv.data(), s, cos_t.data(), sin_t.data());
    cpu::store_kv(qkv.data(), k_cache.data(), v_cache.data(), s);
    out.assign(std::size_t(batch) * n * qh * d, 0.0f);
    cpu::attention(qkv.data(), k_cache.data(), v_cache.data(), out.data(), s);
  };
  std::vector<float> out;
  run(0, prompt, out);
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < prompt; ++t)
      for (int h = 0; h < qh; ++h)
        for (int i = 0; i < d; ++i)
          ASSERT_NEAR(out[((std::size_t(b) * prompt + t) * qh + h) * d + i], reference(b, t, h, i), 2e-5)
              << "prefill b=" << b << " t=" << t << " h=" << h;
  for (int t = prompt; t < seq; ++t) {
    run(t, 1, out);
    for (int b = 0; b < batch; ++b)
      for (int h = 0; h < qh; ++h)
        for (int i = 0; i < d; ++i)
          ASSERT_NEAR(out[(std::size_t(b) * qh + h) * d + i], reference(b, t, h, i), 2e-5) << "decode t=" << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(AttentionCase{1, 9, 2, 2, 8, 0},     // multi-head
                                           AttentionCase{2, 12, 8, 2, 16, 0},   // grouped-query
                                           AttentionCase{3, 10, 4, 1, 6, 0},    // multi-query, odd batch
                                           AttentionCase{2, 14, 4, 2, 8, 5}));  // sliding window

}  // namespace
}  // namespace llmt
