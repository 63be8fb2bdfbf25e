// Inside the MPI layer only: the collectives of a view, a group of some of the ranks of an MPI
// communicator (a split's tp, pp or dp group). MPI can make a communicator of a subset only with
// a blocking call (MPI_Comm_split, MPI_Comm_create_group), which never returns when a member
// dies while the others are inside it; a view needs none: its collectives are non-blocking
// point-to-point messages among its members, under the tags of the group, waited for by the
// communicator's watchdog like every other MPI wait.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

namespace llmt::mpi {

// Non-blocking messages posted together and waited for together.
struct Batch {
  std::vector<MPI_Request> sends, recvs;

  void send(const void* data, int count, MPI_Datatype type, int to, int tag, MPI_Comm comm);
  void recv(void* data, int count, MPI_Datatype type, int from, int tag, MPI_Comm comm);
  // MPI_Testall over every message: whether all are done.
  bool test();
  // After a failed wait: receives not yet matched are cancelled (their buffers may go away),
  // the requests are released.
  void abandon();
};

// One group rank's view of the group: where each member is and what tag its messages carry.
// Every member calls each collective, in the same order; sums add the members' contributions in
// group rank order, so that every member gets the same bits.
class ViewCollectives {
 public:
  using Wait = std::function<void(Batch&)>;  // completes a batch or throws (the watchdog)

  // `members`: each group rank's rank on `comm`; `me`: this process's group rank.
  ViewCollectives(MPI_Comm comm, std::vector<int> members, int me, int tag);

  int size() const { return static_cast<int>(members_.size()); }
  // Blocks of `elem` bytes: counts[i] elements from member i, at element offset displs[i] of recv.
  void all_gather_v(const void* send, void* recv, std::span<const int> counts, std::span<const int> displs,
                    MPI_Datatype type, std::size_t elem, const Wait& wait);
  void all_to_all_v(const void* send, std::span<const int> send_counts, std::span<const int> send_displs, void* recv,
                    std::span<const int> recv_counts, std::span<const int> recv_displs, MPI_Datatype type,
                    std::size_t elem, const Wait& wait);
  // fp32 sums; send == recv is allowed in each.
  void all_reduce(const float* send, float* recv, std::size_t count, const Wait& wait);
  void reduce_scatter(const float* send, float* recv, std::size_t recv_count, const Wait& wait);
  void reduce(const float* send, float* recv, std::size_t count, int root, const Wait& wait);
  void broadcast(void* buffer, int count, MPI_Datatype type, int root, const Wait& wait);
  void barrier(const Wait& wait);

 private:
  // Member i's block of `send` (blocks at `offsets`, `lengths` elements) goes to member i; the
  // sum of the blocks this member received, its own among them, lands at `out`.
  void sum_blocks(const float* send, float* out, const std::vector<int>& lengths,
                  const std::vector<std::size_t>& offsets, const Wait& wait);
  // out = the sum of `parts` (count elements each) in their order.
  void sum_in_order(const std::vector<const float*>& parts, std::size_t count, float* out);

  MPI_Comm comm_;
  std::vector<int> members_;
  int me_, tag_;
  std::vector<float> scratch_, sum_;  // received blocks, and a sum before it may overwrite its inputs
};

}  // namespace llmt::mpi
