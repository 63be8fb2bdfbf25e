// The small-m kernel for AVX2 with FMA (compiled with -mavx2 -mfma; run only where the CPU has them).
#define LLMT_SMALL_GEMM_FN small_gemm_nt_avx2
#define LLMT_VECTOR_BYTES 32
#define LLMT_MR 2  // 8 accumulators + 4 weight vectors + 1 row of 16 registers
#define LLMT_NR 4
#include "kernels/cpu/small_gemm_kernel.inc"
