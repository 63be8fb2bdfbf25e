#include "kernels/builtin_backends.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>

#include "engine/backends.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "model/error.hpp"
#ifdef LLMT_WITH_CUDA
#include "kernels/cuda/cuda_backend.hpp"
#endif
#ifdef LLMT_WITH_MPI
#include "kernels/mpi/mpi_launch.hpp"
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

bool start_process_mode() {
#ifdef LLMT_WITH_MPI
  return start_mpi_process_mode();
#else
  // Every process would run the whole sweep alone and write the same files: refuse.
  for (const char* size : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(size); v && std::atoi(v) > 1)
      throw ConfigError(fmt::format("started by an MPI launcher ({}={}), but this llmthreads was built without MPI "
                                    "(LLMT_MPI): rebuild with Open MPI installed, or run it without mpirun",
                                    size, v));
  return false;
#endif
}

void end_process_mode() {
#ifdef LLMT_WITH_MPI
  end_mpi_process_mode();
#endif
}

bool process_mode_built() {
#ifdef LLMT_WITH_MPI
  return true;
#else
  return false;
#endif
}

}  // namespace llmt
