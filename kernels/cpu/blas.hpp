// The CBLAS the CPU backend links (OpenBLAS by default, any CBLAS through CMake's FindBLAS).
#pragma once

#include <string>

namespace llmt::blas {

// C = A * W^T + beta * C, row-major, A [m, k], W [n, k], C [m, n].
void sgemm_nt(int m, int n, int k, const float* a, int lda, const float* w, int ldw, float* c, int ldc,
              float beta);
// One BLAS thread per rank: ranks are the parallelism. Call once before any rank starts.
void use_single_thread();
// "OpenBLAS 0.3.21 ..." when the library says, else a generic name.
std::string library_description();

}  // namespace llmt::blas
