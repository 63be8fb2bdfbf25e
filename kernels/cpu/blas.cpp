#include "kernels/cpu/blas.hpp"

#include <string>

// The CBLAS prototype, declared here so that any vendor's library links without its header
// (the enum arguments are plain ints in the C ABI).
extern "C" {
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc);
// Vendor extensions, present only in some libraries: weak, so their absence is a null pointer.
void openblas_set_num_threads(int) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
void mkl_set_num_threads(int) __attribute__((weak));
void bli_thread_set_num_threads(long) __attribute__((weak));
}

namespace llmt::blas {
namespace {
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
}

void sgemm_nt(int m, int n, int k, const float* a, int lda, const float* w, int ldw, float* c, int ldc,
              float beta) {
  cblas_sgemm(kRowMajor, kNoTrans, kTrans, m, n, k, 1.0f, a, lda, w, ldw, beta, c, ldc);
}

void use_single_thread() {
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  if (mkl_set_num_threads) mkl_set_num_threads(1);
  if (bli_thread_set_num_threads) bli_thread_set_num_threads(1);
}

std::string library_description() {
  if (openblas_get_config) return std::string("OpenBLAS ") + openblas_get_config();
  if (mkl_set_num_threads) return "Intel MKL";
  if (bli_thread_set_num_threads) return "BLIS";
  return "CBLAS (vendor unknown)";
}

}  // namespace llmt::blas
