#include "kernels/cuda/cuda_common.hpp"

#include <fmt/format.h>

#include "model/error.hpp"

namespace llmt::cuda {

void fail(const std::string& status, const char* expression, const char* file, int line) {
  throw Error(fmt::format("{} failed at {}:{}: {}", expression, file, line, status));
}

}  // namespace llmt::cuda
