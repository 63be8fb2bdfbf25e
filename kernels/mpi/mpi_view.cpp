#include "kernels/mpi/mpi_view.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/mpi/mpi_internal.hpp"

namespace llmt::mpi {

void Batch::send(const void* data, int count, MPI_Datatype type, int to, int tag, MPI_Comm comm) {
  MPI_Request r;
  check(MPI_Isend(data, count, type, to, tag, comm, &r), "MPI_Isend");
  sends.push_back(r);
}

void Batch::recv(void* data, int count, MPI_Datatype type, int from, int tag, MPI_Comm comm) {
  MPI_Request r;
  check(MPI_Irecv(data, count, type, from, tag, comm, &r), "MPI_Irecv");
  recvs.push_back(r);
}

bool Batch::test() {
  int sent = 0, received = 0;
  check(MPI_Testall(static_cast<int>(sends.size()), sends.data(), &sent, MPI_STATUSES_IGNORE), "MPI_Testall");
  check(MPI_Testall(static_cast<int>(recvs.size()), recvs.data(), &received, MPI_STATUSES_IGNORE), "MPI_Testall");
  return sent && received;
}

void Batch::abandon() {
  for (MPI_Request& r : recvs)
    if (r != MPI_REQUEST_NULL) {
      (void)MPI_Cancel(&r);
      (void)MPI_Request_free(&r);
    }
  for (MPI_Request& r : sends)
    if (r != MPI_REQUEST_NULL) (void)MPI_Request_free(&r);  // a lost peer never receives it
  sends.clear();
  recvs.clear();
}

ViewCollectives::ViewCollectives(MPI_Comm comm, std::vector<int> members, int me, int tag)
    : comm_(comm), members_(std::move(members)), me_(me), tag_(tag) {}

void ViewCollectives::all_gather_v(const void* send, void* recv, std::span<const int> counts,
                                   std::span<const int> displs, MPI_Datatype type, std::size_t elem,
                                   const Wait& wait) {
  const auto me = static_cast<std::size_t>(me_);
  char* out = static_cast<char*>(recv);
  Batch batch;
  for (std::size_t g = 0; g < members_.size(); ++g) {
    if (g == me) continue;
    batch.recv(out + static_cast<std::size_t>(displs[g]) * elem, counts[g], type, members_[g], tag_, comm_);
    batch.send(send, counts[me], type, members_[g], tag_, comm_);
  }
  char* mine = out + static_cast<std::size_t>(displs[me]) * elem;
  if (mine != send && counts[me] > 0) std::memcpy(mine, send, static_cast<std::size_t>(counts[me]) * elem);
  wait(batch);
}

void ViewCollectives::all_to_all_v(const void* send, std::span<const int> send_counts,
                                   std::span<const int> send_displs, void* recv, std::span<const int> recv_counts,
                                   std::span<const int> recv_displs, MPI_Datatype type, std::size_t elem,
                                   const Wait& wait) {
  const auto me = static_cast<std::size_t>(me_);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  const auto at = [elem](int displ) { return static_cast<std::size_t>(displ) * elem; };
  Batch batch;
  for (std::size_t g = 0; g < members_.size(); ++g) {
    if (g == me) continue;
    batch.recv(out + at(recv_displs[g]), recv_counts[g], type, members_[g], tag_, comm_);
    batch.send(in + at(send_displs[g]), send_counts[g], type, members_[g], tag_, comm_);
  }
  if (send_counts[me] > 0)
    std::memcpy(out + at(recv_displs[me]), in + at(send_displs[me]), static_cast<std::size_t>(send_counts[me]) * elem);
  wait(batch);
}

// A reduce-scatter into near-equal blocks, then an all-gather of the sums: each member sends
// about 2 (n-1)/n of the data, as MPI's ring all-reduce does, in two steps.
void ViewCollectives::all_reduce(const float* send, float* recv, std::size_t count, const Wait& wait) {
  const std::size_t n = members_.size();
  std::vector<int> lengths(n), offsets(n);
  for (std::size_t g = 0; g < n; ++g) {
    offsets[g] = static_cast<int>(count * g / n);
    lengths[g] = static_cast<int>(count * (g + 1) / n) - offsets[g];
  }
  const auto me = static_cast<std::size_t>(me_);
  sum_blocks(send, recv + offsets[me], lengths, std::vector<std::size_t>(offsets.begin(), offsets.end()), wait);
  all_gather_v(recv + offsets[me], recv, lengths, offsets, MPI_FLOAT, sizeof(float), wait);
}

void ViewCollectives::reduce_scatter(const float* send, float* recv, std::size_t recv_count, const Wait& wait) {
  const std::size_t n = members_.size();
  std::vector<int> lengths(n, static_cast<int>(recv_count));
  std::vector<std::size_t> offsets(n);
  for (std::size_t g = 0; g < n; ++g) offsets[g] = g * recv_count;
  sum_blocks(send, recv, lengths, offsets, wait);
}

void ViewCollectives::sum_blocks(const float* send, float* out, const std::vector<int>& lengths,
                                 const std::vector<std::size_t>& offsets, const Wait& wait) {
  const auto me = static_cast<std::size_t>(me_);
  const auto mine = static_cast<std::size_t>(lengths[me]);
  scratch_.resize(mine * members_.size());
  Batch batch;
  std::vector<const float*> parts;
  for (std::size_t g = 0; g < members_.size(); ++g) {
    float* slot = scratch_.data() + g * mine;
    parts.push_back(g == me ? send + offsets[me] : slot);
    if (g == me) continue;
    batch.recv(slot, lengths[me], MPI_FLOAT, members_[g], tag_, comm_);
    batch.send(send + offsets[g], lengths[g], MPI_FLOAT, members_[g], tag_, comm_);
  }
  wait(batch);
  sum_in_order(parts, mine, out);
}

// A star: every member sends the root its contribution.
void ViewCollectives::reduce(const float* send, float* recv, std::size_t count, int root, const Wait& wait) {
  const auto r = static_cast<std::size_t>(root);
  Batch batch;
  if (me_ != root) {
    batch.send(send, static_cast<int>(count), MPI_FLOAT, members_[r], tag_, comm_);
    wait(batch);
    return;
  }
  scratch_.resize(count * members_.size());
  std::vector<const float*> parts;
  for (std::size_t g = 0; g < members_.size(); ++g) {
    float* slot = scratch_.data() + g * count;
    parts.push_back(g == r ? send : slot);
    if (g != r) batch.recv(slot, static_cast<int>(count), MPI_FLOAT, members_[g], tag_, comm_);
  }
  wait(batch);
  sum_in_order(parts, count, recv);
}

void ViewCollectives::sum_in_order(const std::vector<const float*>& parts, std::size_t count, float* out) {
  sum_.assign(parts.front(), parts.front() + count);
  for (std::size_t p = 1; p < parts.size(); ++p)
    for (std::size_t i = 0; i < count; ++i) sum_[i] += parts[p][i];
  std::copy(sum_.begin(), sum_.end(), out);
}

// A star from the root.
void ViewCollectives::broadcast(void* buffer, int count, MPI_Datatype type, int root, const Wait& wait) {
  Batch batch;
  if (me_ != root) batch.recv(buffer, count, type, members_[static_cast<std::size_t>(root)], tag_, comm_);
  for (std::size_t g = 0; me_ == root && g < members_.size(); ++g)
    if (static_cast<int>(g) != root) batch.send(buffer, count, type, members_[g], tag_, comm_);
  wait(batch);
}

// An empty message to and from every other member.
void ViewCollectives::barrier(const Wait& wait) {
  Batch batch;
  for (std::size_t g = 0; g < members_.size(); ++g) {
    if (static_cast<int>(g) == me_) continue;
    batch.recv(nullptr, 0, MPI_BYTE, members_[g], tag_, comm_);
    batch.send(nullptr, 0, MPI_BYTE, members_[g], tag_, comm_);
  }
  wait(batch);
}

}  // namespace llmt::mpi
