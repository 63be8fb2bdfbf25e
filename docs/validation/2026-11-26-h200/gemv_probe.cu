// Exploration: decode-step GEMV (m = 1..16) on Llama-3-8B shapes, bf16: cuBLASLt heuristic top-1
// (what the backend does), the best of the top-16 heuristics timed, and a hand-written GEMV.
// Weights rotate over copies totalling >= 1 GiB so that L2 never holds them.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <vector>
#include <algorithm>
#define CK(x) do { auto e = (x); if (e != cudaSuccess) { printf("cuda %s line %d\n", cudaGetErrorString(e), __LINE__); exit(1);} } while (0)
#define BK(x) do { auto e = (x); if (e != CUBLAS_STATUS_SUCCESS) { printf("cublas %d line %d\n", (int)e, __LINE__); exit(1);} } while (0)

__global__ void fill(__nv_bfloat16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned h = (unsigned)i * 2654435761u ^ seed; h ^= h >> 13; h *= 0x5bd1e995; h ^= h >> 15;
    p[i] = __float2bfloat16(((h & 0xffff) / 32768.0f - 1.0f) * 0.05f);
  }
}

// c[m, j] = sum_k a[m, k] w[j, k] + beta c[m, j]; one warp per ROWS output columns.
template <int M, int ROWS>
__global__ void __launch_bounds__(256) gemv(const __nv_bfloat16* __restrict__ a, int lda, const __nv_bfloat16* __restrict__ w,
                     int ldw, __nv_bfloat16* __restrict__ c, int ldc, int n, int k, float beta) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  const int j0 = warp * ROWS;
  if (j0 >= n) return;
  float acc[ROWS][M];
#pragma unroll
  for (int r = 0; r < ROWS; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = 0.f;
  for (int k0 = lane * 8; k0 < k; k0 += 32 * 8) {
    uint4 wv[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
      wv[r] = (j0 + r < n) ? __ldcs(reinterpret_cast<const uint4*>(w + (size_t)(j0 + r) * ldw + k0)) : make_uint4(0,0,0,0);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const uint4 av = __ldg(reinterpret_cast<const uint4*>(a + (size_t)m * lda + k0));
      const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&av);
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv[r]);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float2 x = __bfloat1622float2(a2[q]), y = __bfloat1622float2(w2[q]);
          acc[r][m] += x.x * y.x + x.y * y.y;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < ROWS; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float v = acc[r][m];
      for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && j0 + r < n) {
        __nv_bfloat16* out = c + (size_t)m * ldc + j0 + r;
        *out = __float2bfloat16(v + (beta != 0.f ? beta * __bfloat162float(*out) : 0.f));
      }
    }
}

template <int M, int ROWS>
void launch_gemv(const __nv_bfloat16* a, const __nv_bfloat16* w, __nv_bfloat16* c, int n, int k, cudaStream_t s) {
  const int warps = (n + ROWS - 1) / ROWS;
  gemv<M, ROWS><<<(warps + 7) / 8, 256, 0, s>>>(a, k, w, k, c, n, n, k, 0.f);
}

struct Shape { const char* name; int n, k; };

int main() {
  cublasLtHandle_t lt; BK(cublasLtCreate(&lt));
  cudaStream_t s; CK(cudaStreamCreate(&s));
  size_t ws_bytes = 32 << 20; void* ws; CK(cudaMalloc(&ws, ws_bytes));
  cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
  Shape shapes[] = {{"qkv", 6144, 4096}, {"out", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336},
                    {"head", 128256, 4096}};
  for (int m : {1, 4, 16}) for (const Shape& sh : shapes) {
    const size_t wbytes = (size_t)sh.n * sh.k * 2;
    const int copies = (int)std::max<size_t>(1, ((size_t)1 << 30) / wbytes + 1);
    std::vector<__nv_bfloat16*> W(copies);
    for (auto& p : W) { CK(cudaMalloc(&p, wbytes)); fill<<<1024, 256, 0, s>>>(p, (size_t)sh.n * sh.k, 7); }
    __nv_bfloat16 *a, *c, *c2; CK(cudaMalloc(&a, (size_t)m * sh.k * 2)); CK(cudaMalloc(&c, (size_t)m * sh.n * 2)); CK(cudaMalloc(&c2, (size_t)m * sh.n * 2));
    fill<<<64, 256, 0, s>>>(a, (size_t)m * sh.k, 3);
    // cuBLASLt plan, as the backend makes it.
    cublasLtMatmulDesc_t op; BK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t T = CUBLAS_OP_T, N = CUBLAS_OP_N;
    BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &T, sizeof(T)));
    BK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &N, sizeof(N)));
    cublasLtMatrixLayout_t la, lb, lc;
    BK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, sh.k, sh.n, sh.k));
    BK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, sh.k, m, sh.k));
    BK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, sh.n, m, sh.n));
    cublasLtMatmulPreference_t pref; BK(cublasLtMatmulPreferenceCreate(&pref));
    BK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes)));
    cublasLtMatmulHeuristicResult_t res[16]; int found = 0;
    BK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 16, res, &found));
    const float alpha = 1.f, beta = 0.f;
    const int reps = 200;
    auto time = [&](auto&& call) {
      for (int i = 0; i < 10; ++i) call(W[i % copies]);
      CK(cudaEventRecord(e0, s));
      for (int i = 0; i < reps; ++i) call(W[i % copies]);
      CK(cudaEventRecord(e1, s)); CK(cudaEventSynchronize(e1));
      float ms; CK(cudaEventElapsedTime(&ms, e0, e1)); return ms * 1000 / reps;  // us
    };
    std::vector<float> algo_us;
    for (int i = 0; i < found; ++i)
      algo_us.push_back(time([&](__nv_bfloat16* w) {
        BK(cublasLtMatmul(lt, op, &alpha, w, la, a, lb, &beta, c, lc, c, lc, &res[i].algo, ws, ws_bytes, s)); }));
    const float best = *std::min_element(algo_us.begin(), algo_us.end());
    const int best_i = (int)(std::min_element(algo_us.begin(), algo_us.end()) - algo_us.begin());
    auto gbps = [&](float us) { return wbytes / (us * 1e3); };
    printf("m=%2d %-8s n=%6d k=%5d %7.1f MB | lt top1 %8.2f us %6.0f GB/s | lt best-of-%2d (#%d) %8.2f us %6.0f GB/s",
           m, sh.name, sh.n, sh.k, wbytes / 1e6, algo_us[0], gbps(algo_us[0]), found, best_i, best, gbps(best));
    float g1 = 0, g2 = 0, g4 = 0;
    if (m == 1) {
      g1 = time([&](__nv_bfloat16* w) { launch_gemv<1, 1>(a, w, c2, sh.n, sh.k, s); });
      g2 = time([&](__nv_bfloat16* w) { launch_gemv<1, 2>(a, w, c2, sh.n, sh.k, s); });
      g4 = time([&](__nv_bfloat16* w) { launch_gemv<1, 4>(a, w, c2, sh.n, sh.k, s); });
    } else if (m == 4) {
      g1 = time([&](__nv_bfloat16* w) { launch_gemv<4, 1>(a, w, c2, sh.n, sh.k, s); });
      g2 = time([&](__nv_bfloat16* w) { launch_gemv<4, 2>(a, w, c2, sh.n, sh.k, s); });
    }
    if (g1 > 0) {
      // Correctness against cuBLASLt on the first copy.
      BK(cublasLtMatmul(lt, op, &alpha, W[0], la, a, lb, &beta, c, lc, c, lc, &res[0].algo, ws, ws_bytes, s));
      if (m == 1) launch_gemv<1, 2>(a, W[0], c2, sh.n, sh.k, s); else launch_gemv<4, 2>(a, W[0], c2, sh.n, sh.k, s);
      std::vector<__nv_bfloat16> h1((size_t)m * sh.n), h2((size_t)m * sh.n);
      CK(cudaMemcpy(h1.data(), c, h1.size() * 2, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(h2.data(), c2, h2.size() * 2, cudaMemcpyDeviceToHost));
      double maxd = 0, maxv = 0;
      for (size_t i = 0; i < h1.size(); ++i) { maxd = std::max(maxd, (double)fabsf(__bfloat162float(h1[i]) - __bfloat162float(h2[i]))); maxv = std::max(maxv, (double)fabsf(__bfloat162float(h1[i]))); }
      printf(" | gemv r1 %7.2f us %5.0f GB/s, r2 %7.2f us %5.0f, r4 %7.2f us %5.0f (max diff %.2e of %.2e)", g1, gbps(g1), g2, gbps(g2), g4, g4 > 0 ? gbps(g4) : 0.0, maxd, maxv);
    }
    printf("\n");
    fflush(stdout);
    for (auto& p : W) CK(cudaFree(p));
    CK(cudaFree(a)); CK(cudaFree(c)); CK(cudaFree(c2));
  }
  return 0;
}
