// One check for CUDA runtime status codes: a failing call throws llmt::Error naming the call,
// the file and the line, after clearing the sticky error state.
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace llmt::cuda {

[[noreturn]] void fail(const std::string& status, const char* expression, const char* file, int line);

inline void check(cudaError_t status, const char* expression, const char* file, int line) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    fail(std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status), expression, file, line);
  }
}

}  // namespace llmt::cuda

#define LLMT_CUDA_CHECK(expr) ::llmt::cuda::check((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: launch errors are reported by cudaGetLastError.
#define LLMT_CUDA_CHECK_LAUNCH() LLMT_CUDA_CHECK(cudaGetLastError())
