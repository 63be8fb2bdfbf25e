#include "engine/backends.hpp"

#include <fmt/format.h>

#include "engine/error.hpp"
#include "engine/sysinfo.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/shm_communicator.hpp"

namespace llmt {

std::vector<std::string> compiled_backends() { return {"cpu"}; }

BackendChoice resolve_backend(const std::string& requested) {
  if (requested == "cpu") return {"cpu", "backend: cpu (requested)"};
  if (requested == "auto")
    return {"cpu", "backend: cpu (auto: this build has no CUDA backend)"};
  if (requested == "cuda")
    throw ConfigError("--backend cuda: this build has no CUDA backend (configure with the CUDA toolkit present)");
  throw ConfigError(fmt::format("--backend {}: unknown backend (auto, cpu, cuda)", requested));
}

void prepare_backend(const std::string& name) {
  if (name == "cpu") blas::use_single_thread();
}

int device_count(const std::string& name) {
  if (name == "cpu") return host_info().logical_cpus;
  return 0;
}

std::unique_ptr<Backend> make_backend(const std::string& name, int /*rank*/) {
  if (name == "cpu") return make_cpu_backend();
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend) {
  if (name == "cpu") return make_thread_reducer(comm, backend);
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

std::vector<std::unique_ptr<Communicator>> make_comm_world(const std::string& name, int ranks) {
  if (name == "cpu") return make_shared_memory_world(ranks);
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

}  // namespace llmt
