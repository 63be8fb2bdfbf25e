// The CPU backend's small-m GEMM path (kernels/cpu/small_gemm.hpp) and its threads per rank
// (kernels/cpu/rank_threads.hpp), checked by value against CBLAS: every instruction set this
// machine runs, every shape class a decode step issues, every type the CPU backend supports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "engine/backends.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/rank_threads.hpp"
#include "kernels/cpu/small_gemm.hpp"

namespace llmt {
namespace {

using cpu::SmallGemmIsa;

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// One GEMM problem: C[m, n] = A W^T + beta C with leading dimensions wider than the rows.
struct Problem {
  int m, n, k;
  int lda, ldw, ldc;
  float beta;
  std::vector<float> a, w, c;
  Problem(int m_, int n_, int k_, float beta_ = 0.0f, int pad = 0)
      : m(m_), n(n_), k(k_), lda(k_ + pad), ldw(k_ + 2 * pad), ldc(n_ + pad), beta(beta_),
        a(random_vector(std::size_t(m_) * lda, 1)), w(random_vector(std::size_t(n_) * ldw, 2)),
        c(random_vector(std::size_t(m_) * ldc, 3)) {
    // beta 0 must ignore C: NaN there would show.
    if (beta == 0.0f) std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
  }
  std::vector<float> cblas() const {
    std::vector<float> out = c;
    if (beta == 0.0f) std::fill(out.begin(), out.end(), 0.0f);
    blas::sgemm_nt(m, n, k, a.data(), lda, w.data(), ldw, out.data(), ldc, beta);
    return out;
  }
  // Two fp32 sums of k products differ by at most 2 k eps sum |a w| (each is within k eps of the
  // exact one), plus beta C's rounding.
  void expect_matches_cblas(const std::vector<float>& got, const char* what) const {
    const std::vector<float> want = cblas();
    const double eps = std::numeric_limits<float>::epsilon();
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double magnitude = beta == 0.0f ? 0.0 : std::fabs(double(beta) * c[std::size_t(i) * ldc + j]);
        for (int p = 0; p < k; ++p) magnitude += std::fabs(double(a[std::size_t(i) * lda + p]) * w[std::size_t(j) * ldw + p]);
        const std::size_t at = std::size_t(i) * ldc + j;
        ASSERT_NEAR(got[at], want[at], 2 * (k + 2) * eps * magnitude + 1e-30)
            << what << ": m " << m << " n " << n << " k " << k << " at row " << i << " column " << j;
      }
  }
};

std::vector<SmallGemmIsa> available_isas() {
  std::vector<SmallGemmIsa> isas;
  for (SmallGemmIsa isa : {SmallGemmIsa::portable, SmallGemmIsa::avx2, SmallGemmIsa::avx512})
    if (cpu::small_gemm_isa_available(isa)) isas.push_back(isa);
  return isas;
}
const char* isa_name(SmallGemmIsa isa) {
  return isa == SmallGemmIsa::avx512 ? "avx512" : isa == SmallGemmIsa::avx2 ? "avx2" : "portable";
}

// Shape classes: every row tile and the rows left over (m 1 to 16), columns that are not a whole
// tile, k below one vector, not a multiple of one, and over several k chunks (16 KiB of A each) with a remainder.
TEST(SmallGemm, EveryInstructionSetMatchesCblasOnEveryShapeClass) {
  for (SmallGemmIsa isa : available_isas())
    for (int m : {1, 2, 3, 4, 5, 7, 8, 13, 16})
      for (int n : {1, 5, 19, 64})
        for (int k : {1, 7, 16, 100, 2048 + 37}) {
          Problem p(m, n, k, 0.0f, 3);
          std::vector<float> got = p.c;
          cpu::small_gemm_nt_with(isa, m, 0, n, k, p.a.data(), p.lda, p.w.data(), p.ldw, got.data(), p.ldc, 0.0f);
          p.expect_matches_cblas(got, isa_name(isa));
          if (HasFatalFailure()) return;
        }
}

TEST(SmallGemm, BetaAddsToWhatCHeld) {
  for (SmallGemmIsa isa : available_isas())
    for (float beta : {1.0f, 0.5f})
      for (int k : {33, 4096 + 5}) {
        Problem p(6, 21, k, beta, 1);
        std::vector<float> got = p.c;
        cpu::small_gemm_nt_with(isa, p.m, 0, p.n, k, p.a.data(), p.lda, p.w.data(), p.ldw, got.data(), p.ldc, beta);
        p.expect_matches_cblas(got, isa_name(isa));
      }
}

// Threads split the columns: any split gives the same bits as one call over all of them.
TEST(SmallGemm, ColumnRangesGiveTheSameBitsAsTheWhole) {
  for (SmallGemmIsa isa : available_isas()) {
    Problem p(5, 53, 300);
    std::vector<float> whole = p.c, parts = p.c;
    cpu::small_gemm_nt_with(isa, p.m, 0, p.n, p.k, p.a.data(), p.lda, p.w.data(), p.ldw, whole.data(), p.ldc, 0.0f);
    for (auto [begin, end] : {std::pair{0, 3}, std::pair{3, 20}, std::pair{20, 53}})
      cpu::small_gemm_nt_with(isa, p.m, begin, end, p.k, p.a.data(), p.lda, p.w.data(), p.ldw, parts.data(), p.ldc,
                              0.0f);
    EXPECT_EQ(whole, parts) << isa_name(isa);
  }
}

// Each row's sums are the same bits whatever rows come with it: one row alone (the one-row
// tile), four (one register tile) and sixteen (k in chunks, weights reused from L1) agree.
TEST(SmallGemm, RowsGiveTheSameBitsWhateverTheRowsBesideThem) {
  for (SmallGemmIsa isa : available_isas())
    for (int k : {300, 2048 + 37}) {
      Problem p(16, 37, k, 1.0f, 1);  // C random, not NaN: its padding compares equal
      std::vector<float> all = p.c;
      cpu::small_gemm_nt_with(isa, 16, 0, p.n, k, p.a.data(), p.lda, p.w.data(), p.ldw, all.data(), p.ldc, 0.0f);
      for (int rows : {1, 4}) {
        std::vector<float> some = p.c;
        for (int row = 0; row < 16; row += rows)
          cpu::small_gemm_nt_with(isa, rows, 0, p.n, k, p.a.data() + std::size_t(row) * p.lda, p.lda, p.w.data(), p.ldw,
                                  some.data() + std::size_t(row) * p.ldc, p.ldc, 0.0f);
        EXPECT_EQ(all, some) << isa_name(isa) << ": " << rows << " rows at a time, k " << k;
      }
    }
}

// The decode shapes of the models the benchmarks use (Llama-3-8B's projections, Qwen3-30B-A3B's
// experts), scaled down only in n to keep the test short; k as the models have it.
TEST(SmallGemm, DecodeShapesMatchCblas) {
  struct Shape {
    int n, k;
  };
  for (Shape s : {Shape{96, 4096}, Shape{64, 14336}, Shape{1536, 2048}, Shape{256, 768}})
    for (int m : {1, 4, 16}) {
      Problem p(m, s.n, s.k);
      std::vector<float> got = p.c;
      cpu::small_gemm_nt(m, 0, p.n, p.k, p.a.data(), p.lda, p.w.data(), p.ldw, got.data(), p.ldc, 0.0f);
      p.expect_matches_cblas(got, cpu::small_gemm_isa());
      if (HasFatalFailure()) return;
    }
}

// The backend's GEMM, both paths (m up to kSmallGemmMaxRows and beyond), on 1 to 3 threads, in
// every type the CPU backend supports, against CBLAS on the same values.
TEST(SmallGemm, BackendGemmOnAnyThreadsMatchesCblasInEveryType) {
  for (DType dtype : backend_entry("cpu").dtypes)
    for (int threads : {1, 2, 3})
      for (int m : {1, 4, cpu::kSmallGemmMaxRows, cpu::kSmallGemmMaxRows + 1, 64}) {
        Problem p(m, 70, 130, 1.0f);
        const auto backend = make_backend("cpu", 0, dtype, threads);
        ASSERT_EQ(backend->threads(), threads);
        auto upload = [&](const std::vector<float>& v) {
          DeviceBuffer b = backend->allocate(v.size(), MemoryKind::activations);
          backend->copy_from_host(b.get(), v.data(), v.size());
          return b;
        };
        const DeviceBuffer a = upload(p.a), w = upload(p.w), c = upload(p.c);
        backend->gemm(m, p.n, p.k, a.get(), p.lda, w.get(), p.ldw, c.get(), p.ldc, p.beta);
        std::vector<float> got(p.c.size());
        backend->copy_to_host(got.data(), c.get(), got.size());
        p.expect_matches_cblas(got, dtype_name(dtype).data());
        if (HasFatalFailure()) return;
      }
}

// The read probe's sum is the buffer's, whatever the threads (each reads its share).
TEST(SmallGemm, ReadProbeOnThreadsSumsTheWholeBuffer) {
  std::vector<std::uint64_t> words(10007);
  for (std::size_t i = 0; i < words.size(); ++i) words[i] = i * 2654435761u;
  std::uint64_t want = 0;
  for (std::uint64_t w : words) want += 3 * w;
  for (int threads : {1, 2, 5}) {
    const auto backend = make_backend("cpu", 0, DType::f32, threads);
    std::uint64_t sink[8] = {};
    backend->read_probe(words.data(), words.size() * sizeof(std::uint64_t), 3, sink);
    EXPECT_EQ(sink[0], want) << threads << " threads";
  }
}

TEST(RankThreads, PartsCoverTheRangeOnceOnWholeTiles) {
  for (int n : {0, 1, 15, 16, 17, 100, 1000})
    for (int parts : {1, 2, 3, 8})
      for (int align : {1, 16}) {
        int next = 0;
        for (int t = 0; t < parts; ++t) {
          const cpu::Range r = cpu::part_range(n, parts, t, align);
          EXPECT_EQ(r.begin, next) << n << " " << parts << " " << t;
          EXPECT_TRUE(r.begin % align == 0 || r.begin == n);
          EXPECT_LE(r.begin, r.end);
          next = r.end;
        }
        EXPECT_EQ(next, n);
      }
}

TEST(RankThreads, EveryPartRunsOncePerCall) {
  cpu::RankThreads threads(4);
  ASSERT_EQ(threads.count(), 4);
  std::vector<int> runs(4, 0);
  for (int call = 0; call < 100; ++call) threads.run([&](int t) { ++runs[static_cast<std::size_t>(t)]; });
  EXPECT_EQ(runs, std::vector<int>(4, 100));
}

}  // namespace
}  // namespace llmt
