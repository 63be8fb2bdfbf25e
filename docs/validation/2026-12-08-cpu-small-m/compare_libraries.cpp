// The decode GEMMs (C[m, n] = A[m, k] W[n, k]^T, fp32, one thread) through the libraries Debian
// offers, against the single-thread read bandwidth measured in the same run: the measurement
// behind ../2026-12-08-cpu-small-m.md. Each library is loaded with dlopen, so that their CBLAS
// symbols do not clash; a library that is not found is skipped. build.sh builds and runs it.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/small_gemm.hpp"

namespace {

using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using DnnlSgemm = int (*)(char, char, long, long, long, float, const float*, long, const float*, long, float, float*,
                          long);
using Xsmm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                      const int*, const float*, const int*, const float*, float*, const int*);

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Best of `reps` after one untimed run: what the library can do, not what the machine's load let it.
template <typename F>
double best_seconds(int reps, F&& f) {
  f();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}

// A vectorised streaming read (the engine's probe: 64-bit words into 16 sums).
std::uint64_t read_words(const std::uint64_t* w, std::size_t n) {
  std::uint64_t acc[16] = {};
  for (std::size_t i = 0; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += w[i + j];
  std::uint64_t s = 0;
  for (auto a : acc) s += a;
  return s;
}

void* open_lib(const char* env, const char* fallback) {
  const char* path = std::getenv(env);
  return dlopen(path ? path : fallback, RTLD_NOW | RTLD_LOCAL);
}

}  // namespace

int main() {
  const int reps = 5;
  struct Shape { const char* name; int n, k; };
  const Shape shapes[] = {{"llama3-8b qkv", 6144, 4096},   {"llama3-8b attn/out", 4096, 4096},
                          {"llama3-8b mlp/up", 28672, 4096}, {"llama3-8b mlp/down", 4096, 14336},
                          {"qwen3-30b-a3b expert up", 1536, 2048}, {"qwen3-30b-a3b expert down", 2048, 768}};
  void* openblas = open_lib("OPENBLAS_LIB", "libopenblas.so.0");
  void* blis = open_lib("BLIS_LIB", "libblis.so.4");
  void* dnnl = open_lib("DNNL_LIB", "libdnnl.so.2");
  void* xsmm = open_lib("XSMM_LIB", "libxsmm_shared.so");
  auto* set_threads = openblas ? reinterpret_cast<void (*)(int)>(dlsym(openblas, "openblas_set_num_threads")) : nullptr;
  if (set_threads) set_threads(1);
  auto* ob = openblas ? reinterpret_cast<Sgemm>(dlsym(openblas, "cblas_sgemm")) : nullptr;
  auto* bl = blis ? reinterpret_cast<Sgemm>(dlsym(blis, "cblas_sgemm")) : nullptr;
  auto* dn = dnnl ? reinterpret_cast<DnnlSgemm>(dlsym(dnnl, "dnnl_sgemm")) : nullptr;
  auto* xs = xsmm ? reinterpret_cast<Xsmm>(dlsym(xsmm, "libxsmm_sgemm")) : nullptr;
  std::printf("small-m path: %s; found: openblas %d, blis %d, onednn %d, libxsmm %d\n", llmt::cpu::small_gemm_isa(),
              ob != nullptr, bl != nullptr, dn != nullptr, xs != nullptr);

  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> big(std::size_t{28672} * 4096 + std::size_t{64} * 14336);
  for (float& x : big) x = dist(gen);
  const double read_s = best_seconds(reps, [&] {
    volatile std::uint64_t sink = read_words(reinterpret_cast<const std::uint64_t*>(big.data()), big.size() / 2);
    (void)sink;
  });
  const double read_gbps = big.size() * 4.0 / read_s / 1e9;
  std::printf("read %.1f GB/s (%.0f MB)\n", read_gbps, big.size() * 4.0 / 1e6);
  std::printf("%-26s %3s %10s %10s %10s %10s %10s   (GB/s of weights; %% of read)\n", "shape", "m", "ours",
              "openblas", "blis", "onednn", "libxsmm");
  for (const Shape& s : shapes)
    for (int m : {1, 4, 16, 32, 64}) {
      const float* w = big.data();
      const float* a = big.data() + std::size_t{28672} * 4096;
      std::vector<float> c(std::size_t(m) * s.n);
      const double bytes = double(s.n) * s.k * 4;
      auto gbps = [&](auto&& f) { return bytes / best_seconds(reps, f) / 1e9; };
      const double ours = gbps([&] { llmt::cpu::small_gemm_nt(m, 0, s.n, s.k, a, s.k, w, s.k, c.data(), s.n, 0); });
      const double o = ob ? gbps([&] { ob(101, 111, 112, m, s.n, s.k, 1, a, s.k, w, s.k, 0, c.data(), s.n); }) : 0;
      const double b = bl ? gbps([&] { bl(101, 111, 112, m, s.n, s.k, 1, a, s.k, w, s.k, 0, c.data(), s.n); }) : 0;
      const double d = dn ? gbps([&] { dn('N', 'T', m, s.n, s.k, 1, a, s.k, w, s.k, 0, c.data(), s.n); }) : 0;
      // Column-major: C^T [n, m] = W [n, k] (as W^T col-major, transposed) * A^T.
      const char t = 'T', nt = 'N';
      const float one = 1, zero = 0;
      const double x = xs ? gbps([&] { xs(&t, &nt, &s.n, &m, &s.k, &one, w, &s.k, a, &s.k, &zero, c.data(), &s.n); }) : 0;
      std::printf("%-26s %3d %10.1f %10.1f %10.1f %10.1f %10.1f   %3.0f%% %3.0f%% %3.0f%% %3.0f%% %3.0f%%\n", s.name, m,
                  ours, o, b, d, x, 100 * ours / read_gbps, 100 * o / read_gbps, 100 * b / read_gbps,
                  100 * d / read_gbps, 100 * x / read_gbps);
    }
}
