// The CPU backend's GEMM for the few rows a decode step multiplies (m up to the batch): each
// weight row streamed from memory once while every row of the batch is accumulated against it,
// so that a decode GEMM runs at the read bandwidth where CBLAS, blocking for large m, does not
// (docs/validation/2026-12-08-cpu-small-m.md). Vectorised per instruction set, chosen at run
// time (AVX-512, AVX2, else the compiler's portable vectors: SSE2 on x86-64, NEON on AArch64).
#pragma once

namespace llmt::cpu {

// The rule, fixed so that tests never depend on a timing: the small-m path serves m rows up to
// this many (CBLAS beyond, where a GEMM is compute-bound and OpenBLAS's blocking wins; measured
// in the validation note above).
inline constexpr int kSmallGemmMaxRows = 16;
inline bool small_gemm_applies(int m) { return m >= 1 && m <= kSmallGemmMaxRows; }

// C[:, n0:n1) = A W[n0:n1)^T + beta C[:, n0:n1), row-major, A [m, k], W [n, k], C [m, n]; beta 0
// ignores what C held. Each output element is the same sum whatever [n0, n1) is, so splitting the
// columns among threads changes no bit of the result.
void small_gemm_nt(int m, int n0, int n1, int k, const float* a, int lda, const float* w, int ldw, float* c,
                   int ldc, float beta);
// The instruction set the small-m path runs with here: "avx512", "avx2" or "portable".
const char* small_gemm_isa();

// The same, one instruction set each (small_gemm_<isa>.cpp); small_gemm_nt picks one. Exposed so
// that the tests check every one this machine can run against CBLAS.
enum class SmallGemmIsa { portable, avx2, avx512 };
bool small_gemm_isa_available(SmallGemmIsa isa);
void small_gemm_nt_with(SmallGemmIsa isa, int m, int n0, int n1, int k, const float* a, int lda, const float* w,
                        int ldw, float* c, int ldc, float beta);

}  // namespace llmt::cpu
