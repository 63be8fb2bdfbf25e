#include "kernels/cpu/small_gemm.hpp"

namespace llmt::cpu {

// One per instruction set (small_gemm_<isa>.cpp, the kernel in small_gemm_kernel.inc).
void small_gemm_nt_portable(int m, int n0, int n1, int k, const float* a, int lda, const float* w, int ldw, float* c,
                            int ldc, float beta);
#if defined(LLMT_SMALL_GEMM_X86)
void small_gemm_nt_avx2(int m, int n0, int n1, int k, const float* a, int lda, const float* w, int ldw, float* c,
                        int ldc, float beta);
void small_gemm_nt_avx512(int m, int n0, int n1, int k, const float* a, int lda, const float* w, int ldw, float* c,
                          int ldc, float beta);
#endif

bool small_gemm_isa_available(SmallGemmIsa isa) {
  switch (isa) {
    case SmallGemmIsa::portable: return true;
#if defined(LLMT_SMALL_GEMM_X86)
    case SmallGemmIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SmallGemmIsa::avx512: return __builtin_cpu_supports("avx512f");
#else
    default: return false;
#endif
  }
  return false;
}

namespace {

// The widest instruction set this CPU runs, decided once.
SmallGemmIsa best_isa() {
  static const SmallGemmIsa best = small_gemm_isa_available(SmallGemmIsa::avx512) ? SmallGemmIsa::avx512
                                   : small_gemm_isa_available(SmallGemmIsa::avx2) ? SmallGemmIsa::avx2
                                                                                  : SmallGemmIsa::portable;
  return best;
}

}  // namespace

void small_gemm_nt_with(SmallGemmIsa isa, int m, int n0, int n1, int k, const float* a, int lda, const float* w,
                        int ldw, float* c, int ldc, float beta) {
  switch (isa) {
#if defined(LLMT_SMALL_GEMM_X86)
    case SmallGemmIsa::avx512: return small_gemm_nt_avx512(m, n0, n1, k, a, lda, w, ldw, c, ldc, beta);
    case SmallGemmIsa::avx2: return small_gemm_nt_avx2(m, n0, n1, k, a, lda, w, ldw, c, ldc, beta);
#endif
    default: return small_gemm_nt_portable(m, n0, n1, k, a, lda, w, ldw, c, ldc, beta);
  }
}

void small_gemm_nt(int m, int n0, int n1, int k, const float* a, int lda, const float* w, int ldw, float* c, int ldc,
                   float beta) {
  small_gemm_nt_with(best_isa(), m, n0, n1, k, a, lda, w, ldw, c, ldc, beta);
}

const char* small_gemm_isa() {
  switch (best_isa()) {
    case SmallGemmIsa::avx512: return "avx512";
    case SmallGemmIsa::avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace llmt::cpu
