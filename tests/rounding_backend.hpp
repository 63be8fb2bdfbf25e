// bf16 and fp16 on the CPU, for tests: the CPU backend computes in fp32 only, so this backend
// rounds every value the engine stores (weights, activations, each operation's output) to the
// dtype's significand while it computes with the CPU backend's fp32 kernels: what a GPU does with
// bf16 or fp16 tensors and fp32 accumulation, to rounding-mode details (fp16's range, subnormals
// and overflow are not modelled). Registered as "cpu-rounded" (not a --backend choice: tests
// only), so that bf16 and fp16 verification runs end to end without a GPU.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "engine/backend.hpp"
#include "engine/backends.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace llmt::testing {

// Round to nearest even, keeping the top `kept` of fp32's 23 fraction bits (bf16 7, fp16 10);
// NaN and infinity kept.
inline float round_fraction(float x, int kept) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  const int drop = 23 - kept;
  u += ((1u << (drop - 1)) - 1u) + ((u >> drop) & 1u);
  u &= ~((1u << drop) - 1u);
  std::memcpy(&x, &u, sizeof u);
  return x;
}

class RoundingBackend final : public Backend {
 public:
  explicit RoundingBackend(DType rounded)
      : inner_(make_cpu_backend()), rounded_(rounded), kept_(rounded == DType::bf16 ? 7 : 10) {}

  std::string name() const override { return "cpu-rounded"; }
  DType dtype() const override { return DType::f32; }  // stored as floats holding rounded values
  std::string device_description() const override {
    return inner_->device_description() + " (rounded to " + std::string(dtype_name(rounded_)) + ")";
  }
  void bind_thread() override { inner_->bind_thread(); }
  std::uint64_t stamp() override { return inner_->stamp(); }
  void synchronize() override { inner_->synchronize(); }
  std::uint64_t to_ns(std::uint64_t s) override { return inner_->to_ns(s); }
  void set_threads(int threads) override { inner_->set_threads(threads); }
  int threads() const override { return inner_->threads(); }
  void read_probe(const void* data, std::size_t bytes, int passes, void* sink) override {
    inner_->read_probe(data, bytes, passes, sink);
  }
  CacheSizes cache_sizes() const override { return inner_->cache_sizes(); }
  AttentionPlan prepare_attention(const AttentionShape& shape, AttentionKernel wanted) override {
    return inner_->prepare_attention(shape, wanted);
  }

  void fill(void* dst, int rows, int cols, const FillSpec& spec) override {
    inner_->fill(dst, rows, cols, spec);
    round(dst, static_cast<std::size_t>(rows) * cols);
  }
  void copy_from_host(void* dst, const float* src, std::size_t n) override {
    inner_->copy_from_host(dst, src, n);
    round(dst, n);
  }
  void upload_bytes(void* dst, const void* src, std::size_t bytes) override { inner_->upload_bytes(dst, src, bytes); }
  void download_bytes(void* dst, const void* src, std::size_t bytes) override {
    inner_->download_bytes(dst, src, bytes);
  }
  void copy_to_host(float* dst, const void* src, std::size_t n) override { inner_->copy_to_host(dst, src, n); }
  void copy_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
               std::size_t cols) override {
    inner_->copy_2d(dst, dst_ld, src, src_ld, rows, cols);
  }
  void gemm(int m, int n, int k, const void* a, int lda, const void* w, int ldw, void* c, int ldc,
            float beta) override {
    inner_->gemm(m, n, k, a, lda, w, ldw, c, ldc, beta);
    round_2d(c, static_cast<std::size_t>(ldc), static_cast<std::size_t>(m), static_cast<std::size_t>(n));
  }
  void rms_norm(const void* x, const void* weight, void* out, int rows, int cols, float eps) override {
    inner_->rms_norm(x, weight, out, rows, cols, eps);
    round(out, static_cast<std::size_t>(rows) * cols);
  }
  void head_rms_norm(void* qkv, const void* q_weight, const void* k_weight, int rows, int q_heads, int kv_heads,
                     int head_dim, float eps) override {
    inner_->head_rms_norm(qkv, q_weight, k_weight, rows, q_heads, kv_heads, head_dim, eps);
    round(qkv, static_cast<std::size_t>(rows) * (q_heads + 2 * kv_heads) * head_dim);
  }
  void layer_norm(const void* x, const void* weight, const void* bias, void* out, int rows, int cols,
                  float eps) override {
    inner_->layer_norm(x, weight, bias, out, rows, cols, eps);
    round(out, static_cast<std::size_t>(rows) * cols);
  }
  void add_bias(void* x, const void* bias, int rows, int cols) override {
    inner_->add_bias(x, bias, rows, cols);
    round(x, static_cast<std::size_t>(rows) * cols);
  }
  void add(void* x, const void* y, std::size_t n) override {
    inner_->add(x, y, n);
    round(x, n);
  }
  void add_2d(void* dst, std::size_t dst_ld, const void* src, std::size_t src_ld, std::size_t rows,
              std::size_t cols) override {
    inner_->add_2d(dst, dst_ld, src, src_ld, rows, cols);
    round_2d(dst, dst_ld, rows, cols);
  }
  void scale(void* x, float factor, std::size_t n) override {
    inner_->scale(x, factor, n);
    round(x, n);
  }
  void silu_mul(const void* x, void* out, int rows, int cols) override {
    inner_->silu_mul(x, out, rows, cols);
    round(out, static_cast<std::size_t>(rows) * cols);
  }
  void gelu(void* x, std::size_t n, GeluForm form) override {
    inner_->gelu(x, n, form);
    round(x, n);
  }
  void embed(const std::int32_t* tokens, int n, const void* table, int vocab_begin, int vocab_end, int hidden,
             void* out) override {
    inner_->embed(tokens, n, table, vocab_begin, vocab_end, hidden, out);
  }
  void gather_rows(void* dst, const void* src, const std::int32_t* index, int n, int cols) override {
    inner_->gather_rows(dst, src, index, n, cols);
  }
  void weighted_sum_rows(void* dst, const void* src, const std::int32_t* position, const float* weight, int rows,
                         int k, int cols) override {
    inner_->weighted_sum_rows(dst, src, position, weight, rows, k, cols);
    round(dst, static_cast<std::size_t>(rows) * cols);
  }
  void rope(void* qkv, const AttentionShape& shape, const float* cos_table, const float* sin_table) override {
    inner_->rope(qkv, shape, cos_table, sin_table);
    round(qkv, static_cast<std::size_t>(shape.batch) * shape.new_tokens * shape.row_stride());
  }
  void store_kv(const void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape) override {
    inner_->store_kv(qkv, k_cache, v_cache, shape);
  }
  // rope_store_kv and add_norm: the base class's unfused forms, through the rounding ops above.
  void rope_store_kv(void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape, const float* cos_table,
                     const float* sin_table) override {
    Backend::rope_store_kv(qkv, k_cache, v_cache, shape, cos_table, sin_table);
  }
  void add_norm(void* x, const void* y, const void* bias, const void* weight, const void* norm_bias, void* out,
                int rows, int cols, float eps, bool layer_norm) override {
    Backend::add_norm(x, y, bias, weight, norm_bias, out, rows, cols, eps, layer_norm);
  }
  void attention(const void* qkv, const void* k_cache, const void* v_cache, void* out,
                 const AttentionShape& shape) override {
    inner_->attention(qkv, k_cache, v_cache, out, shape);
    round(out, static_cast<std::size_t>(shape.batch) * shape.new_tokens * shape.q_heads * shape.head_dim);
  }

 protected:
  void* raw_allocate(std::size_t bytes) override { return std::calloc(bytes ? bytes : 1, 1); }
  void raw_free(void* ptr) noexcept override { std::free(ptr); }

 private:
  void round(void* p, std::size_t n) const {
    float* f = static_cast<float*>(p);
    for (std::size_t i = 0; i < n; ++i) f[i] = round_fraction(f[i], kept_);
  }
  void round_2d(void* p, std::size_t ld, std::size_t rows, std::size_t cols) const {
    for (std::size_t r = 0; r < rows; ++r) round(static_cast<float*>(p) + r * ld, cols);
  }
  std::unique_ptr<Backend> inner_;
  const DType rounded_;
  const int kept_;
};

// Registers "cpu-rounded" once: the CPU backend's entry, whose bf16 and fp16 backends round
// (fp32 ones do not: the reference stays fp32).
inline void register_rounding_backend() {
  if (backend_registry().find("cpu-rounded")) return;
  BackendEntry e = backend_entry("cpu");
  e.name = "cpu-rounded";
  e.description = "tests only: the CPU backend with every stored value rounded to bf16 or fp16";
  e.dtypes = {DType::f32, DType::bf16, DType::f16};
  e.make_backend = [](int, DType dtype) -> std::unique_ptr<Backend> {
    if (dtype == DType::f32) return make_cpu_backend();
    return std::make_unique<RoundingBackend>(dtype);
  };
  backend_registry().add(std::move(e));
}

}  // namespace llmt::testing
