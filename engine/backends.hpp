// Registry of compute backends and their communicators. The CPU backend is always present;
// the CUDA backend is registered when the build has it. `auto` picks CUDA when a device exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/async_comm.hpp"
#include "engine/backend.hpp"
#include "engine/communicator.hpp"

namespace llmt {

struct BackendChoice {
  std::string name;  // "cpu", "cuda", or "cuda-emulated" (ranks sharing one GPU)
  std::string why;   // one line for the console: what was asked, what was found
  DType dtype = DType::f32;
};

std::vector<std::string> compiled_backends();
// `requested`: auto, cpu or cuda; `dtype`: auto or a type name. Throws ConfigError for an
// unknown name, a backend that cannot run here, or a type it does not support.
BackendChoice resolve_backend(const std::string& requested, const std::string& dtype = "auto",
                              bool emulate_ranks = false);
bool is_emulated(const std::string& name);
// One-time process set-up (the CPU backend pins BLAS to one thread).
void prepare_backend(const std::string& name);
// Devices a sweep may use by default: GPUs for CUDA, online CPUs for the CPU backend.
int device_count(const std::string& name);
std::unique_ptr<Backend> make_backend(const std::string& name, int rank, DType dtype);
// One communicator per backend (one rank each). A collective that waits longer than
// `collective_timeout_s` (0: forever) fails, naming the ranks that did not arrive (where the
// communicator has such a watchdog; see Communicator::set_collective_timeout).
std::vector<std::unique_ptr<Communicator>> make_comm_world(const std::string& name,
                                                           const std::vector<Backend*>& backends,
                                                           double collective_timeout_s = 0);
// Runs collectives of `comm` beside `backend`'s compute (the overlap sync mode).
std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend);

// Where ranks' memory comes from: ranks sharing a pool must fit in it together.
struct MemoryPools {
  std::vector<int> pool_of_rank;
  std::vector<std::size_t> available_bytes;  // 0: unknown
};
MemoryPools memory_pools(const std::string& name, int ranks);

// Lines of run metadata about the devices (GPU names, driver, library versions, clocks).
std::vector<std::pair<std::string, std::string>> device_metadata(const std::string& name);

}  // namespace llmt
