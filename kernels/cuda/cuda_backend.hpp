// The CUDA backend's entry points. No CUDA types here: the engine and CLI include this header
// only when the build has the backend (LLMT_WITH_CUDA).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/communicator.hpp"
#include "engine/async_comm.hpp"

namespace llmt {

struct CudaDeviceInfo {
  int index = 0;
  std::string name, pci_bus_id;
  int compute_capability = 0;  // major * 10 + minor
  int multiprocessors = 0;
  std::size_t memory_bytes = 0, free_bytes = 0, l2_bytes = 0;
  int clock_mhz = 0, memory_clock_mhz = 0, memory_bus_bits = 0;
};

struct CudaRuntimeInfo {
  int device_count = 0;
  std::string why_none;  // when device_count is 0: what the runtime said
  int driver_version = 0, runtime_version = 0, cublas_version = 0, nccl_version = 0;
  int cudnn_version = 0;  // cudnnGetVersion(); 0 when the build has no cuDNN attention
  std::vector<CudaDeviceInfo> devices;
};

// Never throws: no driver or no device is a count of 0 with the reason.
CudaRuntimeInfo cuda_runtime_info();

// A rank on `device`, storing weights and activations as `dtype` (arithmetic in fp32).
std::unique_ptr<Backend> make_cuda_backend(int device, DType dtype);

// One NCCL communicator per backend (one GPU each), created together in this process.
std::vector<std::unique_ptr<Communicator>> make_nccl_world(const std::vector<Backend*>& backends);
// Process mode: this process's NCCL communicator, bootstrapped over `host` (MPI on the host),
// which it keeps: a watchdog polls NCCL while the host waits for the GPU and, past `host`'s
// collective timeout or on an NCCL error, aborts NCCL and `host` (so that the MPI side of every
// process learns it) instead of waiting forever for a lost peer.
std::unique_ptr<Communicator> make_nccl_process_communicator(Backend& backend, std::unique_ptr<Communicator> host);
// Emulated ranks sharing one GPU: the shared-memory communicator with device copies and a
// reduction kernel. For checking multi-rank logic on one GPU; its timings are not multi-GPU timings.
std::vector<std::unique_ptr<Communicator>> make_emulated_world(const std::vector<Backend*>& backends);
// Collectives on the rank's communication stream, ordered with its compute stream by events.
std::unique_ptr<AsyncReducer> make_cuda_async_reducer(Communicator& comm, Backend& backend);

class BackendRegistry;
// Adds the `cuda` and `cuda-emulated` entries (kernels/cuda/cuda_registration.cpp).
void register_cuda_backends(BackendRegistry& registry);

}  // namespace llmt
