// The small-m kernel for AVX-512 (compiled with -mavx512f; run only where the CPU has it).
#define LLMT_SMALL_GEMM_FN small_gemm_nt_avx512
#define LLMT_VECTOR_BYTES 64
#define LLMT_MR 4  // 16 accumulators + 4 weight vectors + 1 row of 32 registers
#define LLMT_NR 4
#include "kernels/cpu/small_gemm_kernel.inc"
