// The communicator interface: collectives and point-to-point transfers among the ranks of one
// group. Implementations: shared memory among thread ranks (kernels/cpu), NCCL among GPUs
// (kernels/cuda); an MPI one fits the same calls. Buffers are the rank's backend memory.
// Every call is collective over the group (all ranks call it, in the same order), except
// send/recv, which pair up. Counts are in elements of `type`.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "model/dtype.hpp"
#include "model/error.hpp"

namespace llmt {

enum class ReduceOp { sum, avg };

// A collective (or a receive) waited longer than the world's collective timeout; the message
// names the call and the ranks that did not arrive. Not a RankError: it is the cause of the
// failure, while the ranks it releases see RankError.
struct CollectiveTimeout : Error {
  using Error::Error;
};

enum class CommOp { all_reduce, all_gather, reduce_scatter, all_to_all, reduce, broadcast, send_recv, barrier };
std::string_view comm_op_name(CommOp op);

// nccl-tests' bus bandwidth factor: busbw = algbw * factor, algbw = bytes / time.
double bus_bandwidth_factor(CommOp op, int ranks);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string kind() const = 0;  // "shared-memory", "nccl", ...

  // recv = op over ranks of send. send == recv (in place) is allowed.
  virtual void all_reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op) = 0;
  // recv = concatenation of every rank's send, counts[i] elements from rank i;
  // send_count must equal counts[rank()]. Equal counts give NCCL's all_gather.
  virtual void all_gather_v(const void* send, void* recv, std::span<const std::size_t> counts, DType type) = 0;
  // Every rank sends send_counts[j] elements to rank j, taken from `send` as consecutive blocks
  // in rank order (block j starts after the elements of blocks 0..j-1), and receives
  // recv_counts[i] elements from rank i into `recv`, blocks in rank order likewise. Each rank's
  // recv_counts[i] must equal rank i's send_counts[rank()]; both spans have size() entries. The
  // block for rank() itself is copied locally. Counts may be zero. Collective over the group.
  virtual void all_to_all_v(const void* send, std::span<const std::size_t> send_counts, void* recv,
                            std::span<const std::size_t> recv_counts, DType type) = 0;
  // recv (recv_count elements) = op over ranks of block rank() of send (size() * recv_count elements).
  virtual void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DType type, ReduceOp op) = 0;
  // recv on `root` = op over ranks of send; recv is ignored elsewhere.
  virtual void reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op, int root) = 0;
  virtual void broadcast(void* buffer, std::size_t count, DType type, int root) = 0;
  virtual void send(const void* buffer, std::size_t count, DType type, int peer) = 0;
  virtual void recv(void* buffer, std::size_t count, DType type, int peer) = 0;
  virtual void barrier() = 0;
  // Sends to `dst` and receives from `src` as one operation (NCCL groups the two), so that a
  // ring of exchanges cannot deadlock. The default sends, then receives (fine for eager sends).
  virtual void send_recv(const void* send_buffer, std::size_t send_count, int dst, void* recv_buffer,
                         std::size_t recv_count, int src, DType type);

  // Collective: ranks passing the same color form a new group, ordered by (key, rank).
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Not collective: makes every pending and later call of every group of this world throw
  // RankError, so that one failing rank cannot leave the others waiting forever.
  virtual void abort(const std::string& reason) = 0;

  // Not collective: a collective or receive of any group of this world that waits longer than
  // `seconds` for its peers (0: forever) throws CollectiveTimeout naming the call and the ranks
  // that did not arrive, and aborts the world so that the others are released too. The default
  // ignores it (a communicator with a watchdog of its own, such as NCCL's).
  virtual void set_collective_timeout(double seconds) { (void)seconds; }
  // The collective timeout in force (0: none, or a communicator that does not keep one).
  virtual double collective_timeout() const { return 0; }

  // Collective over the group with equal counts.
  void all_gather(const void* send, void* recv, std::size_t count, DType type);
};

}  // namespace llmt
