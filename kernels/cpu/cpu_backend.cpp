#include "kernels/cpu/cpu_backend.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <new>
#include <vector>
#include <algorithm>
#include <functional>

#include "engine/sysinfo.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/rank_threads.hpp"
#include "kernels/cpu/small_gemm.hpp"

namespace llmt {
namespace {

float* f(void* p) { return static_cast<float*>(p); }
const float* f(const void* p) { return static_cast<const float*>(p); }

// The data caches of CPU 0 from sysfs (the level-1 data cache is the fastest; the levels add up,
// as AMD's L3 is a victim cache of L2), else from sysconf. A rank thread may run on any CPU; they
// are alike here.
Backend::CacheSizes host_cache_sizes() {
  Backend::CacheSizes c;
  const std::filesystem::path dir = "/sys/devices/system/cpu/cpu0/cache";
  for (int index = 0; index < 8; ++index) {
    const std::filesystem::path entry = dir / ("index" + std::to_string(index));
    std::ifstream type_file(entry / "type"), level_file(entry / "level"), size_file(entry / "size");
    std::string type, size;
    int level = 0;
    if (!(type_file >> type) || !(level_file >> level) || !(size_file >> size) || type == "Instruction") continue;
    char* end = nullptr;
    std::size_t bytes = std::strtoull(size.c_str(), &end, 10);
    if (end && *end == 'K') bytes <<= 10;
    if (end && *end == 'M') bytes <<= 20;
    c.total_bytes += bytes;
    if (level == 1) c.fastest_bytes = bytes;
  }
  if (c.fastest_bytes == 0) {
    const long l1 = ::sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE),
               l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
    c.fastest_bytes = l1 > 0 ? static_cast<std::size_t>(l1) : 0;
    c.total_bytes = 0;
    for (long level : {l1, l2, l3}) c.total_bytes += level > 0 ? static_cast<std::size_t>(level) : 0;
  }
  return c;
}

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  DType dtype() const override { return DType::f32; }
  std::string device_description() const override {
    return fmt::format("{} ({}, small-m GEMMs {}, {} thread{} per rank)", host_info().cpu_model,
                       blas::library_description(), cpu::small_gemm_isa(), threads(), threads() == 1 ? "" : "s");
  }
  void set_threads(int threads) override {
    if (threads != this->threads()) pool_ = threads > 1 ? std::make_unique<cpu::RankThreads>(threads) : nullptr;
  }
  int threads() const override { return pool_ ? pool_->count() : 1; }

  std::uint64_t stamp() override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
  void synchronize() override {}

  void fill(void* dst, int rows, int cols, const FillSpec& spec) override { cpu::fill(f(dst), rows, cols, spec); }
  // Empty copies are legal (an expert-parallel rank may receive no token), and their pointers may
  // be null, which memcpy does not allow.
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes > 0) std::memcpy(dst, src, bytes);
  }
  void copy_from_host(void* dst, const float* src, std::size_t n) override { copy(dst, src, n * 4); }
  void upload_bytes(void* dst, const void* src, std::size_t bytes) override { copy(dst, src, bytes); }
  void download_bytes(void* dst, const void* src, std::size_t bytes) override { copy(dst, src, bytes); }
  void copy_to_host(float* dst, const void* src, std::size_t n) override { copy(dst, src, n * 4); }
  void copy_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
               std::size_t cols) override {
    for (std::size_t r = 0; r < rows; ++r) std::memcpy(f(dst) + r * dst_ld, f(src) + r * src_ld, cols * 4);
  }

  // Each of the rank's threads reads its share (whole cache lines), as its GEMMs would.
  void read_probe(const void* data, std::size_t bytes, int passes, void* sink) override {
    const int lines = static_cast<int>(std::min<std::size_t>(bytes / 64, 1u << 30));
    std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads()), 0);
    split([&](int t) {
      const cpu::Range r = cpu::part_range(lines, threads(), t, 1);
      const std::size_t last = t + 1 == threads() ? bytes : std::size_t(r.end) * 64;  // the tail with the last
      sums[static_cast<std::size_t>(t)] =
          cpu::read_words(static_cast<const char*>(data) + std::size_t(r.begin) * 64, last - std::size_t(r.begin) * 64,
                          passes);
    });
    std::uint64_t total = 0;
    for (std::uint64_t s : sums) total += s;
    *static_cast<std::uint64_t*>(sink) = total;
  }
  CacheSizes cache_sizes() const override { return host_cache_sizes(); }

  void gemm(int m, int n, int k, const void* a, int lda, const void* w, int ldw, void* c, int ldc,
            float beta) override {
    const bool small = cpu::small_gemm_applies(m);
    // The output columns split among the rank's threads: each reads its own rows of W once.
    split([&](int t) {
      const cpu::Range r = cpu::part_range(n, threads(), t, 16);
      if (r.end <= r.begin) return;
      if (small) cpu::small_gemm_nt(m, r.begin, r.end, k, f(a), lda, f(w), ldw, f(c), ldc, beta);
      else
        blas::sgemm_nt(m, r.end - r.begin, k, f(a), lda, f(w) + std::size_t(r.begin) * ldw, ldw, f(c) + r.begin, ldc,
                       beta);
    });
  }
  void head_rms_norm(void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads, int kv_heads,
                     int head_dim, float eps) override {
    cpu::head_rms_norm(f(qkv), f(q_weight), f(k_weight), rows, q_heads, kv_heads, head_dim, eps);
  }
  void rms_norm(const void* x, const void* weight, void* out, int rows, int cols, float eps) override {
    cpu::rms_norm(f(x), f(weight), f(out), rows, cols, eps);
  }
  void layer_norm(const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                  float eps) override {
    cpu::layer_norm(f(x), f(weight), f(bias), f(out), rows, cols, eps);
  }
  void add_bias(void* x, const void* bias, int rows, int cols) override { cpu::add_bias(f(x), f(bias), rows, cols); }
  void add(void* x, const void* y, std::size_t n) override {
    float* a = f(x);
    const float* b = f(y);
    for (std::size_t i = 0; i < n; ++i) a[i] += b[i];
  }
  void add_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
              std::size_t cols) override {
    for (std::size_t r = 0; r < rows; ++r) add(f(dst) + r * dst_ld, f(src) + r * src_ld, cols);
  }
  void scale(void* x, float factor, std::size_t n) override {
    float* a = f(x);
    for (std::size_t i = 0; i < n; ++i) a[i] *= factor;
  }
  void silu_mul(const void* x, void* out, int rows, int cols) override { cpu::silu_mul(f(x), f(out), rows, cols); }
  void gelu(void* x, std::size_t n, GeluForm form) override { cpu::gelu(f(x), n, form); }
  void embed(const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end, int hidden,
             void* out) override {
    cpu::embed(tokens, n, f(table), vocab_begin, vocab_end, hidden, f(out));
  }
  void gather_rows(void* dst, const void* src, const std::int32_t* index, int n, int cols) override {
    for (int i = 0; i < n; ++i)
      std::memcpy(f(dst) + static_cast<std::size_t>(i) * cols, f(src) + static_cast<std::size_t>(index[i]) * cols,
                  sizeof(float) * static_cast<std::size_t>(cols));
  }
  void weighted_sum_rows(void* dst, const void* src, const std::int32_t* position, const float* weight, int rows,
                         int k, int cols) override {
    for (int r = 0; r < rows; ++r) {
      float* out = f(dst) + static_cast<std::size_t>(r) * cols;
      std::fill(out, out + cols, 0.0f);
      for (int j = 0; j < k; ++j) {
        const std::size_t at = static_cast<std::size_t>(r) * k + j;
        const float* in = f(src) + static_cast<std::size_t>(position[at]) * cols;
        for (int c = 0; c < cols; ++c) out[c] += weight[at] * in[c];
      }
    }
  }
  void rope(void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table) override {
    cpu::rope(f(qkv), shape, cos_table, sin_table);
  }
  void store_kv(const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape) override {
    cpu::store_kv(f(qkv), f(k_cache), f(v_cache), shape);
  }
  void attention(const void* qkv, const void* k_cache, const void* v_cache, void* out,
                 const AttentionShape& shape) override {
    cpu::attention(f(qkv), f(k_cache), f(v_cache), f(out), shape);
  }

 protected:
  void* raw_allocate(std::size_t bytes) override {
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void raw_free(void* ptr) noexcept override { std::free(ptr); }

 private:
  // part(t) for each of the rank's threads; on the calling thread alone when it has no helpers.
  template <typename Part>
  void split(Part&& part) {
    if (!pool_) return part(0);
    pool_->run(std::function<void(int)>(std::ref(part)));
  }

  std::unique_ptr<cpu::RankThreads> pool_;  // null: one thread, the rank's own
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace llmt
