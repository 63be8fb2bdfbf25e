#include "engine/memory.hpp"

namespace llmt {

std::string_view memory_kind_name(MemoryKind k) {
  switch (k) {
    case MemoryKind::weights: return "weights";
    case MemoryKind::kv_cache: return "kv_cache";
    case MemoryKind::activations: return "activations";
    case MemoryKind::communication: return "communication";
  }
  return "?";
}

void MemoryTracker::raise_peak(std::atomic<std::size_t>& peak, std::size_t value) {
  std::size_t old = peak.load();
  while (value > old && !peak.compare_exchange_weak(old, value)) {
  }
}

void MemoryTracker::on_allocate(MemoryKind kind, std::size_t bytes) {
  raise_peak(peak_[index(kind)], live_[index(kind)].fetch_add(bytes) + bytes);
  raise_peak(peak_total_, live_total_.fetch_add(bytes) + bytes);
}

void MemoryTracker::on_free(MemoryKind kind, std::size_t bytes) {
  live_[index(kind)].fetch_sub(bytes);
  live_total_.fetch_sub(bytes);
}

}  // namespace llmt
