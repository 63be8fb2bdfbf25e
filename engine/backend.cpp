#include "engine/backend.hpp"

#include <utility>

#include "model/error.hpp"

namespace llmt {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    kind_ = o.kind_;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (ptr_ && owner_) {
    owner_->raw_free(ptr_);
    owner_->memory().on_free(kind_, bytes_);
  }
  owner_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

DeviceBuffer Backend::allocate_bytes(std::size_t bytes, MemoryKind kind) {
  if (bytes == 0) return {};
  void* p = raw_allocate(bytes);
  memory_.on_allocate(kind, bytes);
  return DeviceBuffer(this, p, bytes, kind);
}

std::string_view attention_kernel_name(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::automatic: return "auto";
    case AttentionKernel::cudnn: return "cudnn";
    case AttentionKernel::naive: return "naive";
  }
  return "auto";
}

AttentionKernel parse_attention_kernel(const std::string& name) {
  for (AttentionKernel k : {AttentionKernel::automatic, AttentionKernel::cudnn, AttentionKernel::naive})
    if (name == attention_kernel_name(k)) return k;
  throw ConfigError("--attention " + name + ": unknown attention kernel (auto, cudnn, naive)");
}

void Backend::rope_store_kv(void* qkv, void* k_cache, void* v_cache, const AttentionShape& shape,
                            const float* cos_table, const float* sin_table) {
  rope(qkv, shape, cos_table, sin_table);
  store_kv(qkv, k_cache, v_cache, shape);
}

void Backend::add_norm(void* x, const void* y, const void* bias, const void* weight, const void* norm_bias, void* out,
                       int rows, int cols, float eps, bool layer_norm) {
  add(x, y, static_cast<std::size_t>(rows) * cols);
  if (bias) add_bias(x, bias, rows, cols);
  if (layer_norm)
    this->layer_norm(x, weight, norm_bias, out, rows, cols, eps);
  else
    rms_norm(x, weight, out, rows, cols, eps);
}

}  // namespace llmt
