// Collectives among ranks of one process whose buffers every rank can address: thread ranks
// on the CPU (host memory) and emulated ranks sharing one GPU (its memory). Each collective
// publishes the ranks' buffer addresses, splits the work by element ranges (uneven sizes
// included) and copies/reduces directly between the ranks' buffers. Sums run in rank order, so
// every rank gets bit-identical results. How bytes move is the SharedMemoryOps' business.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/communicator.hpp"

namespace llmt {

class SharedMemoryOps {
 public:
  virtual ~SharedMemoryOps() = default;
  // Waits for this rank's earlier writes and copies, so that other ranks may read its buffers
  // (and so that it may leave a collective whose copies it issued).
  virtual void flush() {}
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  // dst[i] = op over k, in order, of sources[k][i] for i < count.
  virtual void reduce(void* dst, std::span<const void* const> sources, std::size_t count, DType type,
                      ReduceOp op) = 0;
  // Between the ranks' buffers and host memory (the point-to-point mailboxes live on the host).
  virtual void to_host(void* host, const void* src, std::size_t bytes) = 0;
  virtual void from_host(void* dst, const void* host, std::size_t bytes) = 0;
  virtual std::string kind() const = 0;
};

// Host memory, fp32 reductions (the CPU backend's ranks).
std::unique_ptr<SharedMemoryOps> make_host_memory_ops();

using SharedMemoryOpsFactory = std::function<std::unique_ptr<SharedMemoryOps>(int rank)>;

// One communicator per rank of a new world of `ranks` ranks; hand element i to rank i.
std::vector<std::unique_ptr<Communicator>> make_shared_memory_world(int ranks,
                                                                    const SharedMemoryOpsFactory& ops = nullptr);

}  // namespace llmt
