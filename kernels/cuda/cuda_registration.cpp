// The CUDA backend's two entries in the backend table: `cuda` (one GPU per rank, NCCL) and
// `cuda-emulated` (every rank on GPU 0, the shared-memory communicator with device copies),
// which --emulate-ranks selects to check multi-rank logic on one GPU.
#include <fmt/format.h>

#include "engine/backends.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace llmt {

namespace {

std::vector<std::pair<std::string, std::string>> cuda_device_metadata() {
  std::vector<std::pair<std::string, std::string>> out;
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
  return out;
}

// What both entries share.
BackendEntry cuda_entry_common() {
  BackendEntry e;
  e.descriptors_per_rank = 16;
#ifdef LLMT_WITH_CUDNN
  e.has_cudnn_attention = true;
#endif
  e.dtypes = {DType::bf16, DType::f16, DType::f32};
  e.unavailable = []() -> std::optional<std::string> {
    const CudaRuntimeInfo info = cuda_runtime_info();
    if (info.device_count == 0) return "no GPU: " + info.why_none;
    return std::nullopt;
  };
  e.found = [] {
    const CudaRuntimeInfo info = cuda_runtime_info();
    return fmt::format("{} GPU(s): {}", info.device_count, info.devices.empty() ? "?" : info.devices[0].name);
  };
  e.make_async_reducer = [](Communicator& comm, Backend& backend) { return make_cuda_async_reducer(comm, backend); };
  e.device_metadata = cuda_device_metadata;
  return e;
}

}  // namespace

void register_cuda_backends(BackendRegistry& registry) {
  BackendEntry gpu = cuda_entry_common();
  gpu.name = "cuda";
  gpu.description = "one GPU per rank, cuBLASLt GEMMs, NCCL collectives";
  gpu.auto_priority = 10;
  gpu.emulated_variant = "cuda-emulated";
  gpu.rank_per_device = true;
  gpu.device_noun = "GPUs";
  gpu.device_count = [] { return cuda_runtime_info().device_count; };
  gpu.make_backend = [](int rank, DType dtype) { return make_cuda_backend(rank, dtype); };
  gpu.make_world = [](const std::vector<Backend*>& backends) { return make_nccl_world(backends); };
  gpu.make_process_comm = [](Backend& backend, std::unique_ptr<Communicator> host) {
    return make_nccl_process_communicator(backend, std::move(host));
  };
  gpu.memory_pools = [](int ranks) {
    const CudaRuntimeInfo info = cuda_runtime_info();
    MemoryPools p;
    for (int r = 0; r < ranks; ++r) {
      p.pool_of_rank.push_back(r);
      p.available_bytes.push_back(r < static_cast<int>(info.devices.size())
                                      ? info.devices[static_cast<std::size_t>(r)].memory_bytes
                                      : 0);
    }
    return p;
  };
  gpu.pool_name = [](int pool) { return fmt::format("GPU {}", pool); };
  registry.add(std::move(gpu));

  BackendEntry emulated = cuda_entry_common();
  emulated.name = "cuda-emulated";
  emulated.description = "every rank on GPU 0 (checks multi-rank logic; not multi-GPU timings)";
  emulated.emulated = true;
  emulated.no_graphs_reason = "they need one GPU per rank";
  emulated.device_count = [] { return 4; };
  emulated.make_backend = [](int, DType dtype) { return make_cuda_backend(0, dtype); };
  emulated.make_world = [](const std::vector<Backend*>& backends) { return make_emulated_world(backends); };
  emulated.memory_pools = [](int ranks) {
    const CudaRuntimeInfo info = cuda_runtime_info();
    MemoryPools p;
    p.pool_of_rank.assign(static_cast<std::size_t>(ranks), 0);
    p.available_bytes = {info.devices.empty() ? 0 : info.devices[0].memory_bytes};
    return p;
  };
  emulated.pool_name = [](int) { return std::string("GPU 0"); };
  registry.add(std::move(emulated));
}

}  // namespace llmt
