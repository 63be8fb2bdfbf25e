#include "engine/backend.hpp"

#include <utility>

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

}  // namespace llmt
