// Per-rank memory accounting: every allocation a backend makes is charged to one kind, and
// the tracker keeps live and peak bytes per kind and in total.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <string_view>

namespace llmt {

enum class MemoryKind { weights, kv_cache, activations, communication };
inline constexpr std::size_t kMemoryKinds = 4;

std::string_view memory_kind_name(MemoryKind k);

class MemoryTracker {
 public:
  void on_allocate(MemoryKind kind, std::size_t bytes);
  void on_free(MemoryKind kind, std::size_t bytes);

  std::size_t live(MemoryKind kind) const { return live_[index(kind)].load(); }
  std::size_t peak(MemoryKind kind) const { return peak_[index(kind)].load(); }
  std::size_t live_total() const { return live_total_.load(); }
  std::size_t peak_total() const { return peak_total_.load(); }

 private:
  static std::size_t index(MemoryKind k) { return static_cast<std::size_t>(k); }
  static void raise_peak(std::atomic<std::size_t>& peak, std::size_t value);

  std::array<std::atomic<std::size_t>, kMemoryKinds> live_{};
  std::array<std::atomic<std::size_t>, kMemoryKinds> peak_{};
  std::atomic<std::size_t> live_total_{0};
  std::atomic<std::size_t> peak_total_{0};
};

}  // namespace llmt
