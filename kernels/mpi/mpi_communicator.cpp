#include "kernels/mpi/mpi_communicator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/mpi/mpi_internal.hpp"
#include "model/error.hpp"

namespace llmt::mpi {
namespace {


std::string join_ranks(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

// splitmix64: a child communicator's uid from its parent's, the split's ordinal and its colour,
// the same on every member.
std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

MPI_Datatype element_type(DType t) { return t == DType::f32 ? MPI_FLOAT : MPI_UINT16_T; }

int mpi_count(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw ConfigError(fmt::format("{}: {} elements exceed what one MPI call carries ({})", what, n, INT_MAX));
  return static_cast<int>(n);
}

void check_reducible(DType t, const char* what) {
  if (t != DType::f32)
    throw ConfigError(fmt::format("MPI communicator: {} of {} is not supported (fp32 only)", what, dtype_name(t)));
}

void scale(void* data, std::size_t count, int ranks) {
  const float inv = 1.0f / static_cast<float>(ranks);
  float* f = static_cast<float*>(data);
  for (std::size_t i = 0; i < count; ++i) f[i] *= inv;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(std::shared_ptr<Control> control, MPI_Comm comm, std::uint64_t uid)
      : control_(std::move(control)), comm_(comm), uid_(uid) {
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    world_ranks_ = translate_ranks();
    control_->track(uid_, &entered_);
  }
  ~MpiCommunicator() override {
    control_->untrack(uid_);
    try {
      complete_sends("the end of a communicator", true);
    } catch (...) {  // an aborted world: the sends are left to MPI
    }
    if (!control_->aborted()) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }

  void all_reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op) override {
    check_reducible(type, "all_reduce");
    MPI_Request r;
    start("all_reduce");
    check(MPI_Iallreduce(send == recv ? MPI_IN_PLACE : send, recv, mpi_count(count, "all_reduce"), MPI_FLOAT, MPI_SUM,
                         comm_, &r),
          "MPI_Iallreduce");
    wait(r, "all_reduce");
    if (op == ReduceOp::avg) scale(recv, count, size_);
  }

  void all_gather_v(const void* send, void* recv, std::span<const std::size_t> counts, DType type) override {
    if (counts.size() != static_cast<std::size_t>(size_))
      throw ConfigError(fmt::format("all_gather_v: {} counts for {} ranks", counts.size(), size_));
    if (counts[static_cast<std::size_t>(rank_)] > 0 && send == nullptr)
      throw ConfigError("all_gather_v: null send buffer");
    const auto [n, displ] = counts_and_offsets(counts, "all_gather_v");
    const std::size_t e = dtype_size(type);
    const bool in_place = static_cast<const char*>(recv) + static_cast<std::size_t>(displ[static_cast<std::size_t>(rank_)]) * e == send;
    MPI_Request r;
    start("all_gather");
    check(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : send, n[static_cast<std::size_t>(rank_)], element_type(type), recv,
                          n.data(), displ.data(), element_type(type), comm_, &r),
          "MPI_Iallgatherv");
    wait(r, "all_gather");
  }

  void all_to_all_v(const void* send, std::span<const std::size_t> send_counts, void* recv,
                    std::span<const std::size_t> recv_counts, DType type) override {
    if (send_counts.size() != static_cast<std::size_t>(size_) || recv_counts.size() != static_cast<std::size_t>(size_))
      throw ConfigError(fmt::format("all_to_all_v: {} send and {} recv counts for {} ranks", send_counts.size(),
                                    recv_counts.size(), size_));
    const auto [sn, sd] = counts_and_offsets(send_counts, "all_to_all_v");
    const auto [rn, rd] = counts_and_offsets(recv_counts, "all_to_all_v");
    if ((sd.back() + sn.back() > 0 && send == nullptr) || (rd.back() + rn.back() > 0 && recv == nullptr))
      throw ConfigError("all_to_all_v: null buffer");
    MPI_Request r;
    start("all_to_all");
    check(MPI_Ialltoallv(send, sn.data(), sd.data(), element_type(type), recv, rn.data(), rd.data(), element_type(type),
                         comm_, &r),
          "MPI_Ialltoallv");
    wait(r, "all_to_all");
  }

  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DType type, ReduceOp op) override {
    check_reducible(type, "reduce_scatter");
    MPI_Request r;
    start("reduce_scatter");
    check(MPI_Ireduce_scatter_block(send == recv ? MPI_IN_PLACE : send, recv, mpi_count(recv_count, "reduce_scatter"),
                                    MPI_FLOAT, MPI_SUM, comm_, &r),
          "MPI_Ireduce_scatter_block");
    wait(r, "reduce_scatter");
    if (op == ReduceOp::avg) scale(recv, recv_count, size_);
  }

  void reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op, int root) override {
    check_reducible(type, "reduce");
    check_peer(root, "reduce root");
    const bool in_place = rank_ == root && send == recv;
    MPI_Request r;
    start("reduce");
    check(MPI_Ireduce(in_place ? MPI_IN_PLACE : send, recv, mpi_count(count, "reduce"), MPI_FLOAT, MPI_SUM, root, comm_,
                      &r),
          "MPI_Ireduce");
    wait(r, "reduce");
    if (op == ReduceOp::avg && rank_ == root) scale(recv, count, size_);
  }

  void broadcast(void* buffer, std::size_t count, DType type, int root) override {
    check_peer(root, "broadcast root");
    MPI_Request r;
    start("broadcast");
    check(MPI_Ibcast(buffer, mpi_count(count, "broadcast"), element_type(type), root, comm_, &r), "MPI_Ibcast");
    wait(r, "broadcast");
  }

  // Eager, as the shared-memory communicator's: the message is copied and the call returns, so
  // that exchanges in any order cannot deadlock; the copies are sent in the background.
  void send(const void* buffer, std::size_t count, DType type, int peer) override {
    check_peer(peer, "send peer");
    if (control_->aborted()) control_->throw_aborted();
    const std::size_t bytes = count * dtype_size(type);
    Pending p;
    p.data = std::make_unique<std::vector<char>>(static_cast<const char*>(buffer),
                                                 static_cast<const char*>(buffer) + bytes);
    check(MPI_Isend(p.data->data(), mpi_count(bytes, "send"), MPI_BYTE, peer, 0, comm_, &p.request), "MPI_Isend");
    pending_.push_back(std::move(p));
    complete_sends("send", false);
  }

  void recv(void* buffer, std::size_t count, DType type, int peer) override {
    check_peer(peer, "recv peer");
    const std::size_t bytes = count * dtype_size(type);
    const std::string what = fmt::format("recv from rank {}", world_ranks_[static_cast<std::size_t>(peer)]);
    MPI_Request r;
    MPI_Status status;
    check(MPI_Irecv(buffer, mpi_count(bytes, "recv"), MPI_BYTE, peer, 0, comm_, &r), "MPI_Irecv");
    wait(r, what, &status, {peer});
    int got = 0;
    MPI_Get_count(&status, MPI_BYTE, &got);
    if (static_cast<std::size_t>(got) != bytes)
      throw RankError(fmt::format("recv from rank {}: expected {} bytes, the matching send had {}", peer, bytes, got));
    complete_sends("recv", false);
  }

  void barrier() override {
    complete_sends("barrier", true);
    MPI_Request r;
    start("barrier");
    check(MPI_Ibarrier(comm_, &r), "MPI_Ibarrier");
    wait(r, "barrier");
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    // Everyone arrives first (under the watchdog); MPI_Comm_split itself cannot be polled.
    int mine[2] = {color, key};
    std::vector<int> all(static_cast<std::size_t>(2 * size_));
    MPI_Request r;
    start("split");
    check(MPI_Iallgather(mine, 2, MPI_INT, all.data(), 2, MPI_INT, comm_, &r), "MPI_Iallgather");
    wait(r, "split");
    MPI_Comm child = MPI_COMM_NULL;
    check(MPI_Comm_split(comm_, color, key, &child), "MPI_Comm_split");
    const std::uint64_t uid = mix(mix(uid_, ++splits_), static_cast<std::uint64_t>(static_cast<std::uint32_t>(color)));
    return std::make_unique<MpiCommunicator>(control_, child, uid);
  }

  void abort(const std::string& reason) override { control_->abort(reason); }

  void set_collective_timeout(double seconds) override {
    if (!(seconds >= 0)) throw ConfigError(fmt::format("collective timeout {} s: must be at least 0", seconds));
    control_->set_timeout(seconds);
  }

 private:
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::unique_ptr<std::vector<char>> data;
  };

  // MPI's int counts and displacements of consecutive blocks.
  static std::pair<std::vector<int>, std::vector<int>> counts_and_offsets(std::span<const std::size_t> counts,
                                                                          const char* what) {
    std::vector<int> n(counts.size()), displ(counts.size());
    std::size_t offset = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      n[i] = mpi_count(counts[i], what);
      displ[i] = mpi_count(offset, what);
      offset += counts[i];
    }
    return {n, displ};
  }

  std::vector<int> translate_ranks() const {
    MPI_Group mine, world;
    MPI_Comm_group(comm_, &mine);
    MPI_Comm_group(control_->comm(), &world);
    std::vector<int> in(static_cast<std::size_t>(size_)), out(in.size());
    for (int i = 0; i < size_; ++i) in[static_cast<std::size_t>(i)] = i;
    MPI_Group_translate_ranks(mine, size_, in.data(), world, out.data());
    MPI_Group_free(&mine);
    MPI_Group_free(&world);
    return out;
  }

  void start(const char*) {
    if (control_->aborted()) control_->throw_aborted();
    entered_.fetch_add(1, std::memory_order_relaxed);
  }

  // Sends still in flight; `all`: waits for every one (under the watchdog).
  void complete_sends(const char* what, bool all) {
    std::erase_if(pending_, [](Pending& p) {
      int done = 0;
      MPI_Test(&p.request, &done, MPI_STATUS_IGNORE);
      return done != 0;
    });
    if (!all) return;
    for (Pending& p : pending_) wait(p.request, fmt::format("{} (a send still in flight)", what));
    pending_.clear();
  }

  // Polls until done, handling the control channel; on the watchdog's deadline, names the
  // ranks that did not arrive and aborts the world. `suspects`: the ranks a receive waits for.
  void wait(MPI_Request& r, const std::string& what, MPI_Status* status = nullptr, std::vector<int> suspects = {}) {
    const auto start_time = Clock::now();
    for (unsigned spins = 0;; ++spins) {
      int done = 0;
      check(MPI_Test(&r, &done, status ? status : MPI_STATUS_IGNORE), what);
      if (done) return;
      if (spins % 64 == 0) {
        control_->poll();
        if (control_->aborted()) control_->throw_aborted();
        const double timeout = control_->timeout_s();
        if (timeout > 0 && seconds_since(start_time) > timeout) timed_out(what, timeout, suspects);
      }
      if (spins > 4096) std::this_thread::yield();
    }
  }

  // Which ranks did not arrive: those whose answer shows fewer collectives of this communicator
  // entered than here, and those that did not answer at all.
  [[noreturn]] void timed_out(const std::string& what, double timeout_s, const std::vector<int>& suspects) {
    std::vector<int> peers;
    for (int g = 0; g < size_; ++g)
      if (g != rank_) peers.push_back(world_ranks_[static_cast<std::size_t>(g)]);
    const double grace_s = std::clamp(timeout_s, 0.2, 2.0);
    const auto answers = control_->ask_progress(uid_, peers, grace_s);
    std::vector<int> missing, silent;
    for (int p : peers) {
      const auto it = answers.find(p);
      if (it == answers.end()) silent.push_back(p);
      if (it == answers.end() || it->second < entered_.load()) missing.push_back(p);
    }
    if (!suspects.empty() && missing.empty())
      for (int s : suspects) missing.push_back(world_ranks_[static_cast<std::size_t>(s)]);
    const std::string group =
        size_ != control_->size() ? fmt::format(" (a group of {} ranks: {})", size_, join_ranks(world_ranks_)) : "";
    const std::string lost =
        silent.empty() ? ""
                       : fmt::format("; rank(s) {} did not answer within {:g} s: lost (its process died) or hung "
                                     "outside a collective",
                                     join_ranks(silent), grace_s);
    const std::string why = fmt::format(
        "collective timeout: {} on rank {} waited more than {:g} s (--collective-timeout); rank(s) {} did not "
        "arrive{}{}",
        what, world_ranks_[static_cast<std::size_t>(rank_)], timeout_s, missing.empty() ? "?" : join_ranks(missing),
        group, lost);
    control_->abort(why);
    throw CollectiveTimeout(why);
  }

  void check_peer(int peer, const char* what) const {
    if (peer < 0 || peer >= size_)
      throw ConfigError(fmt::format("{} {} outside the group of {} ranks", what, peer, size_));
  }

  std::shared_ptr<Control> control_;
  MPI_Comm comm_;
  const std::uint64_t uid_;
  int rank_ = 0, size_ = 1;
  std::vector<int> world_ranks_;  // of the group's ranks, in group order
  std::atomic<std::uint64_t> entered_{0};
  std::uint64_t splits_ = 0;
  std::vector<Pending> pending_;
};

}  // namespace

void check(int status, const std::string& what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw Error(fmt::format("{} failed: {}", what, std::string(text, static_cast<std::size_t>(length))));
}

bool poll(MPI_Request& request, double timeout_s, const std::string& what) {
  const auto start = Clock::now();
  for (unsigned spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return true;
    if (timeout_s > 0 && spins % 64 == 0 && seconds_since(start) > timeout_s) return false;
    if (spins > 4096) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

MPI_Comm duplicate(MPI_Comm comm, double timeout_s, const std::string& what) {
  MPI_Comm out = MPI_COMM_NULL;
  MPI_Request r;
  check(MPI_Comm_idup(comm, &out, &r), "MPI_Comm_idup");
  if (!poll(r, timeout_s, what))
    throw CollectiveTimeout(fmt::format("collective timeout: {} waited more than {:g} s (--collective-timeout) for "
                                        "every process to arrive; a process was lost, or hangs",
                                        what, timeout_s));
  return out;
}

std::unique_ptr<Communicator> make_communicator(MPI_Comm comm, double timeout_s) {
  const std::string what = "setting up the communicator of a configuration";
  MPI_Comm mine = duplicate(comm, timeout_s, what);
  auto control = std::make_shared<Control>(duplicate(comm, timeout_s, what));
  control->set_timeout(timeout_s);
  return std::make_unique<MpiCommunicator>(std::move(control), mine, 1);
}

}  // namespace llmt::mpi

namespace llmt {

std::unique_ptr<Communicator> make_mpi_world_communicator(double timeout_s) {
  return mpi::make_communicator(MPI_COMM_WORLD, timeout_s);
}

}  // namespace llmt
