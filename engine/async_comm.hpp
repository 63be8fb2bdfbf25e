// Collectives running beside the compute, for the `overlap` sync mode: a communication thread
// per rank on the CPU backend (a communication stream on GPUs). The caller starts a reduction,
// keeps computing, and waits for it only where the result is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/backend.hpp"
#include "engine/communicator.hpp"

namespace llmt {

struct AsyncTiming {
  std::uint64_t begin = 0, end = 0;  // backend stamps of the collective itself
};

class AsyncReducer {
 public:
  virtual ~AsyncReducer() = default;
  // Starts a sum all-reduce of `buf` in place; returns a ticket.
  virtual std::uint64_t start_all_reduce(void* buf, std::size_t count, DType type) = 0;
  // Blocks until the ticket's collective is done; rethrows its failure.
  virtual AsyncTiming wait(std::uint64_t ticket) = 0;
};

// Runs the collectives on a thread of its own, in the order they were started. Works with any
// communicator whose calls block until done (shared memory, MPI).
std::unique_ptr<AsyncReducer> make_thread_reducer(Communicator& comm, Backend& backend);

}  // namespace llmt
