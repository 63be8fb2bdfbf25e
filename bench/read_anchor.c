/* A streaming read anyone can build and run without llmthreads: the anchor line of
 * llmt_gemm_bench's decode table (bench/decode_table.cpp), so that its read ceiling can be
 * checked against code that shares nothing with the engine's probe. A float sum over 32
 * independent lanes of a buffer far beyond the caches, best of several passes.
 *
 *   cc -O3 -march=native -DREAD_ANCHOR_MAIN bench/read_anchor.c -o read_anchor && ./read_anchor
 *
 * (numpy gives a comparable figure: python3 -c "import numpy as np, time; a = np.ones(2**28,
 * np.float32); a.sum(); t = time.perf_counter(); a.sum(); print(a.nbytes / (time.perf_counter() - t) / 1e9, 'GB/s')")
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 32 independent sums, which the compiler keeps in vector registers without any reassociation
 * flag: several adds in flight, so that the loop waits on memory, not on the adds. */
static float sum32(const float* x, size_t n) {
  float acc[32] = {0};
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) acc[j] += x[i + j];
  float s = 0;
  for (int j = 0; j < 32; ++j) s += acc[j];
  return s;
}

/* GB/s of the best of `reps` reads of `bytes` (after one untimed read); 0 if out of memory. */
double read_anchor_gbps(size_t bytes, int reps) {
  const size_t n = bytes / sizeof(float);
  float* x = (float*)malloc(n * sizeof(float)); /* C and C++ alike (CMake builds it as C++) */
  if (!x) return 0;
  for (size_t i = 0; i < n; ++i) x[i] = (float)(i % 7);
  volatile float sink = sum32(x, n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = now();
    sink = sum32(x, n);
    const double s = now() - t;
    if (s < best) best = s;
  }
  (void)sink;
  free(x);
  return n * sizeof(float) / best / 1e9;
}

#ifdef READ_ANCHOR_MAIN
int main(void) {
  printf("read anchor: %.1f GB/s (256 MiB, best of 10)\n", read_anchor_gbps((size_t)256 << 20, 10));
  return 0;
}
#endif
