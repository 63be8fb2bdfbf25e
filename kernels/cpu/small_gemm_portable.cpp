// The small-m kernel with the target's baseline vectors (SSE2 on x86-64, NEON on AArch64, or
// whatever -march the build gives): what runs where no wider instruction set is found.
#define LLMT_SMALL_GEMM_FN small_gemm_nt_portable
#define LLMT_VECTOR_BYTES 16
#define LLMT_MR 2  // 8 accumulators + 4 weight vectors + 1 row of 16 registers
#define LLMT_NR 4
#include "kernels/cpu/small_gemm_kernel.inc"
