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
  std::string name;  // "cpu" or "cuda"
  std::string why;   // one line for the console: what was asked, what was found
};

std::vector<std::string> compiled_backends();
// Throws ConfigError for an unknown name or a backend that cannot run here.
BackendChoice resolve_backend(const std::string& requested);
// One-time process set-up (the CPU backend pins BLAS to one thread).
void prepare_backend(const std::string& name);
// Devices a sweep may use: GPUs for CUDA, online CPUs for the CPU backend.
int device_count(const std::string& name);
std::unique_ptr<Backend> make_backend(const std::string& name, int rank);
std::vector<std::unique_ptr<Communicator>> make_comm_world(const std::string& name, int ranks);
// Runs collectives of `comm` beside `backend`'s compute (the overlap sync mode).
std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend);

}  // namespace llmt
