// NVTX ranges in an "llmthreads" domain, so Nsight Systems shows the configuration, each
// iteration, each layer and each phase under the names the timers use. Compiled to nothing
// without NVTX (builds without the CUDA toolkit).
#pragma once

#include <cstdint>
#include <string>

namespace llmt::nvtx {

enum class Color : std::uint32_t {
  compute = 0xFF1F77B4,
  communication = 0xFFFF7F0E,
  background = 0xFFFFBB78,
  transfer = 0xFF2CA02C,
  structure = 0xFF7F7F7F,  // configuration, iteration, layer
};

// A registered name (cheaper to push than a string); nullptr without NVTX.
const void* register_name(const std::string& name);
void push(const void* registered, Color color, std::uint64_t payload);
void push(const std::string& name, Color color);
void pop();

class Range {
 public:
  Range(const std::string& name, Color color = Color::structure) { push(name, color); }
  Range(const void* registered, Color color, std::uint64_t payload) { push(registered, color, payload); }
  ~Range() { pop(); }
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;
};

}  // namespace llmt::nvtx
