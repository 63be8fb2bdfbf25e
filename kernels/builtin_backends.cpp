#include "kernels/builtin_backends.hpp"

#include <mutex>

#include "engine/backends.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#ifdef LLMT_WITH_CUDA
#include "kernels/cuda/cuda_backend.hpp"
#endif

namespace llmt {

void register_builtin_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_backend(backend_registry());
#ifdef LLMT_WITH_CUDA
    register_cuda_backends(backend_registry());
#endif
  });
}

}  // namespace llmt
