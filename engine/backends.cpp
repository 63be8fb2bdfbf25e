#include "engine/backends.hpp"

#include <fmt/format.h>

#include "engine/error.hpp"
#include "engine/sysinfo.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/shm_communicator.hpp"
#ifdef LLMT_WITH_CUDA
#include "kernels/cuda/cuda_backend.hpp"
#endif

namespace llmt {

std::vector<std::string> compiled_backends() {
#ifdef LLMT_WITH_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

bool is_emulated(const std::string& name) { return name == "cuda-emulated"; }

namespace {

DType choose_dtype(const std::string& backend, const std::string& dtype) {
  if (dtype == "auto") return backend == "cpu" ? DType::f32 : DType::bf16;
  const auto dt = parse_dtype(dtype);
  if (!dt) throw ConfigError(fmt::format("--dtype: unknown type '{}' (fp32, bf16, fp16, auto)", dtype));
  if (backend == "cpu" && *dt != DType::f32)
    throw ConfigError(fmt::format("--dtype {}: the CPU backend computes in fp32 only", dtype));
  return *dt;
}

}  // namespace

BackendChoice resolve_backend(const std::string& requested, const std::string& dtype, bool emulate_ranks) {
  BackendChoice c;
  if (requested != "auto" && requested != "cpu" && requested != "cuda")
    throw ConfigError(fmt::format("--backend {}: unknown backend (auto, cpu, cuda)", requested));
#ifdef LLMT_WITH_CUDA
  const CudaRuntimeInfo info = cuda_runtime_info();
  if (requested == "cuda" && info.device_count == 0)
    throw ConfigError(fmt::format("--backend cuda: no GPU ({})", info.why_none));
  if (requested == "cuda" || (requested == "auto" && info.device_count > 0)) {
    c.name = emulate_ranks ? "cuda-emulated" : "cuda";
    c.why = fmt::format("backend: cuda ({}{} GPU(s): {}){}", requested == "auto" ? "auto: " : "", info.device_count,
                        info.devices.empty() ? "?" : info.devices[0].name,
                        emulate_ranks ? "; ranks EMULATED on GPU 0: timings are not multi-GPU timings" : "");
  } else {
    c.name = "cpu";
    c.why = requested == "auto" ? fmt::format("backend: cpu (auto: no GPU: {})", info.why_none)
                                : "backend: cpu (requested)";
  }
#else
  if (requested == "cuda")
    throw ConfigError("--backend cuda: this build has no CUDA backend (configure with the CUDA toolkit present)");
  c.name = "cpu";
  c.why = requested == "auto" ? "backend: cpu (auto: this build has no CUDA backend)" : "backend: cpu (requested)";
#endif
  if (emulate_ranks && c.name == "cpu")
    throw ConfigError("--emulate-ranks: emulation shares one GPU between ranks; the CPU backend needs none");
  c.dtype = choose_dtype(c.name, dtype);
  return c;
}

void prepare_backend(const std::string& name) {
  if (name == "cpu") blas::use_single_thread();
}

int device_count(const std::string& name) {
  if (name == "cpu") return host_info().logical_cpus;
#ifdef LLMT_WITH_CUDA
  if (name == "cuda") return cuda_runtime_info().device_count;
  if (name == "cuda-emulated") return 4;
#endif
  return 0;
}

std::unique_ptr<Backend> make_backend(const std::string& name, int rank, DType dtype) {
  if (name == "cpu") return make_cpu_backend();
#ifdef LLMT_WITH_CUDA
  if (name == "cuda") return make_cuda_backend(rank, dtype);
  if (name == "cuda-emulated") return make_cuda_backend(0, dtype);
#else
  (void)rank;
  (void)dtype;
#endif
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

namespace {

std::vector<std::unique_ptr<Communicator>> new_comm_world(const std::string& name,
                                                          const std::vector<Backend*>& backends) {
  if (name == "cpu") return make_shared_memory_world(static_cast<int>(backends.size()));
#ifdef LLMT_WITH_CUDA
  if (name == "cuda") return make_nccl_world(backends);
  if (name == "cuda-emulated") return make_emulated_world(backends);
#endif
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_comm_world(const std::string& name,
                                                           const std::vector<Backend*>& backends,
                                                           double collective_timeout_s) {
  if (!(collective_timeout_s >= 0))
    throw ConfigError(fmt::format("collective timeout {} s: must be at least 0 (0: wait forever)", collective_timeout_s));
  auto world = new_comm_world(name, backends);
  if (!world.empty()) world.front()->set_collective_timeout(collective_timeout_s);  // the whole world's
  return world;
}

std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend) {
  if (name == "cpu") return make_thread_reducer(comm, backend);
#ifdef LLMT_WITH_CUDA
  if (name == "cuda" || name == "cuda-emulated") return make_cuda_async_reducer(comm, backend);
#endif
  throw ConfigError(fmt::format("backend '{}' is not available in this build", name));
}

MemoryPools memory_pools(const std::string& name, int ranks) {
  MemoryPools p;
  p.pool_of_rank.assign(static_cast<std::size_t>(ranks), 0);
  if (name == "cpu") {
    p.available_bytes = {available_memory_bytes()};
    return p;
  }
#ifdef LLMT_WITH_CUDA
  const CudaRuntimeInfo info = cuda_runtime_info();
  if (name == "cuda-emulated") {
    p.available_bytes = {info.devices.empty() ? 0 : info.devices[0].memory_bytes};
    return p;
  }
  for (int r = 0; r < ranks; ++r) {
    p.pool_of_rank[static_cast<std::size_t>(r)] = r;
    p.available_bytes.push_back(r < static_cast<int>(info.devices.size()) ? info.devices[static_cast<std::size_t>(r)].memory_bytes : 0);
  }
#endif
  return p;
}

std::vector<std::pair<std::string, std::string>> device_metadata(const std::string& name) {
  std::vector<std::pair<std::string, std::string>> out;
  if (name == "cpu") return out;
#ifdef LLMT_WITH_CUDA
  const CudaRuntimeInfo info = cuda_runtime_info();
  auto version = [](int v) { return fmt::format("{}.{}", v / 1000, v % 1000 / 10); };
  out.emplace_back("cuda_driver", version(info.driver_version));
  out.emplace_back("cuda_runtime", version(info.runtime_version));
  out.emplace_back("cublas", std::to_string(info.cublas_version));
  out.emplace_back("cudnn", info.cudnn_version ? std::to_string(info.cudnn_version) : "none (no cuDNN attention in this build)");
  out.emplace_back("nccl", fmt::format("{}.{}.{}", info.nccl_version / 10000, info.nccl_version / 100 % 100,
                                       info.nccl_version % 100));
  for (const CudaDeviceInfo& d : info.devices)
    out.emplace_back(fmt::format("gpu{}", d.index),
                     fmt::format("{} | pci {} | cc {}.{} | {} SMs | {:.1f} GiB | SM clock {} MHz | memory clock {} MHz "
                                 "x {} bits | L2 {} MiB",
                                 d.name, d.pci_bus_id, d.compute_capability / 10, d.compute_capability % 10,
                                 d.multiprocessors, d.memory_bytes / 1073741824.0, d.clock_mhz, d.memory_clock_mhz,
                                 d.memory_bus_bits, d.l2_bytes >> 20));
#endif
  return out;
}

}  // namespace llmt
