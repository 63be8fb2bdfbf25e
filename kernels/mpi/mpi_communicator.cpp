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
#include "kernels/mpi/mpi_view.hpp"
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

// The largest MPI tag (MPI_TAG_UB; at least 32767).
int tag_upper_bound() {
  int* value = nullptr;
  int found = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &value, &found);
  return found && value ? *value : 32767;
}

// How many splits one group may make: a view's tag is its parent's times this plus the split's
// ordinal, so that two views with one tag on one MPI communicator are the same group or share
// no rank (by induction: same parent and split, hence other colours, or disjoint parents).
constexpr long long kSplitsPerGroup = 256;

// An MPI communicator shared by the group made on it and the views over it: freed with the last
// of them, unless the world was aborted (MPI_Comm_free might wait for a lost process).
struct SharedComm {
  SharedComm(MPI_Comm c, std::shared_ptr<Control> ctl) : comm(c), control(std::move(ctl)) {}
  ~SharedComm() {
    if (!control->aborted()) MPI_Comm_free(&comm);
  }
  MPI_Comm comm;
  std::shared_ptr<Control> control;
};

// Where a view's members are: their ranks on the MPI communicator, this process's group rank,
// and the group's tag.
struct ViewPlace {
  std::shared_ptr<SharedComm> comm;
  std::vector<int> members;
  int me = 0, tag = 0;
};

// A group of processes: either the whole of an MPI communicator (the world of a configuration,
// or a split that kept every rank in order: MPI's collectives), or a view of some of its ranks
// (a split's group: collectives of point-to-point messages, mpi_view.hpp). Every MPI
// communicator here is a duplicate of the configuration's, so a rank on it is a rank of the world.
class MpiCommunicator final : public Communicator {
 public:
  // The whole of `comm`, which it takes.
  MpiCommunicator(std::shared_ptr<Control> control, MPI_Comm comm, std::uint64_t uid)
      : control_(std::move(control)), shared_(std::make_shared<SharedComm>(comm, control_)), comm_(comm), uid_(uid) {
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    for (int r = 0; r < size_; ++r) members_.push_back(r);
    control_->track(uid_, &entered_);
  }
  // A view.
  MpiCommunicator(std::shared_ptr<Control> control, ViewPlace place, std::uint64_t uid)
      : control_(std::move(control)), shared_(std::move(place.comm)), comm_(shared_->comm), uid_(uid),
        rank_(place.me), size_(static_cast<int>(place.members.size())), members_(std::move(place.members)),
        tag_(place.tag), view_(std::make_unique<ViewCollectives>(comm_, members_, rank_, 2 * tag_ + 1)) {
    control_->track(uid_, &entered_);
  }
  ~MpiCommunicator() override {
    control_->untrack(uid_);
    try {
      complete_sends("the end of a communicator", true);
    } catch (...) {  // an aborted world: the sends are left to MPI
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }

  void all_reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op) override {
    check_reducible(type, "all_reduce");
    const int n = mpi_count(count, "all_reduce");
    start("all_reduce");
    if (view_) {
      view_->all_reduce(static_cast<const float*>(send), static_cast<float*>(recv), count, waiter("all_reduce"));
    } else {
      MPI_Request r;
      check(MPI_Iallreduce(send == recv ? MPI_IN_PLACE : send, recv, n, MPI_FLOAT, MPI_SUM, comm_, &r),
            "MPI_Iallreduce");
      wait(r, "all_reduce");
    }
    if (op == ReduceOp::avg) scale(recv, count, size_);
  }

  void all_gather_v(const void* send, void* recv, std::span<const std::size_t> counts, DType type) override {
    if (counts.size() != static_cast<std::size_t>(size_))
      throw ConfigError(fmt::format("all_gather_v: {} counts for {} ranks", counts.size(), size_));
    const auto me = static_cast<std::size_t>(rank_);
    if (counts[me] > 0 && send == nullptr) throw ConfigError("all_gather_v: null send buffer");
    const auto [n, displ] = counts_and_offsets(counts, "all_gather_v");
    const std::size_t e = dtype_size(type);
    start("all_gather");
    if (view_) return view_->all_gather_v(send, recv, n, displ, element_type(type), e, waiter("all_gather"));
    const bool in_place = static_cast<const char*>(recv) + static_cast<std::size_t>(displ[me]) * e == send;
    MPI_Request r;
    check(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : send, n[me], element_type(type), recv, n.data(), displ.data(),
                          element_type(type), comm_, &r),
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
    start("all_to_all");
    if (view_)
      return view_->all_to_all_v(send, sn, sd, recv, rn, rd, element_type(type), dtype_size(type),
                                 waiter("all_to_all"));
    MPI_Request r;
    check(MPI_Ialltoallv(send, sn.data(), sd.data(), element_type(type), recv, rn.data(), rd.data(), element_type(type),
                         comm_, &r),
          "MPI_Ialltoallv");
    wait(r, "all_to_all");
  }

  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DType type, ReduceOp op) override {
    check_reducible(type, "reduce_scatter");
    const int n = mpi_count(recv_count, "reduce_scatter");
    start("reduce_scatter");
    if (view_) {
      view_->reduce_scatter(static_cast<const float*>(send), static_cast<float*>(recv), recv_count,
                            waiter("reduce_scatter"));
    } else {
      MPI_Request r;
      check(MPI_Ireduce_scatter_block(send == recv ? MPI_IN_PLACE : send, recv, n, MPI_FLOAT, MPI_SUM, comm_, &r),
            "MPI_Ireduce_scatter_block");
      wait(r, "reduce_scatter");
    }
    if (op == ReduceOp::avg) scale(recv, recv_count, size_);
  }

  void reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op, int root) override {
    check_reducible(type, "reduce");
    check_peer(root, "reduce root");
    const int n = mpi_count(count, "reduce");
    start("reduce");
    if (view_) {
      view_->reduce(static_cast<const float*>(send), static_cast<float*>(recv), count, root, waiter("reduce"));
    } else {
      const bool in_place = rank_ == root && send == recv;
      MPI_Request r;
      check(MPI_Ireduce(in_place ? MPI_IN_PLACE : send, recv, n, MPI_FLOAT, MPI_SUM, root, comm_, &r), "MPI_Ireduce");
      wait(r, "reduce");
    }
    if (op == ReduceOp::avg && rank_ == root) scale(recv, count, size_);
  }

  void broadcast(void* buffer, std::size_t count, DType type, int root) override {
    check_peer(root, "broadcast root");
    const int n = mpi_count(count, "broadcast");
    start("broadcast");
    if (view_) return view_->broadcast(buffer, n, element_type(type), root, waiter("broadcast"));
    MPI_Request r;
    check(MPI_Ibcast(buffer, n, element_type(type), root, comm_, &r), "MPI_Ibcast");
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
    check(MPI_Isend(p.data->data(), mpi_count(bytes, "send"), MPI_BYTE, members_[static_cast<std::size_t>(peer)],
                    2 * tag_, comm_, &p.request),
          "MPI_Isend");
    pending_.push_back(std::move(p));
    complete_sends("send", false);
  }

  void recv(void* buffer, std::size_t count, DType type, int peer) override {
    check_peer(peer, "recv peer");
    const std::size_t bytes = count * dtype_size(type);
    const int from = members_[static_cast<std::size_t>(peer)];
    MPI_Request r;
    MPI_Status status;
    check(MPI_Irecv(buffer, mpi_count(bytes, "recv"), MPI_BYTE, from, 2 * tag_, comm_, &r), "MPI_Irecv");
    wait(r, fmt::format("recv from rank {}", from), &status, {peer});
    int got = 0;
    MPI_Get_count(&status, MPI_BYTE, &got);
    if (static_cast<std::size_t>(got) != bytes)
      throw RankError(fmt::format("recv from rank {}: expected {} bytes, the matching send had {}", peer, bytes, got));
    complete_sends("recv", false);
  }

  void barrier() override {
    complete_sends("barrier", true);
    start("barrier");
    if (view_) return view_->barrier(waiter("barrier"));
    MPI_Request r;
    check(MPI_Ibarrier(comm_, &r), "MPI_Ibarrier");
    wait(r, "barrier");
  }

  // No blocking MPI call (MPI_Comm_split would never return if a member died inside it): the
  // members exchange colours and keys under the watchdog; a group of every rank in order is a
  // polled MPI_Comm_idup, any other a view over this group's MPI communicator.
  std::unique_ptr<Communicator> split(int color, int key) override {
    const std::vector<int> group = members_of(color, key);
    const std::uint64_t uid = mix(mix(uid_, ++splits_), static_cast<std::uint64_t>(static_cast<std::uint32_t>(color)));
    bool whole = group.size() == members_.size();
    for (std::size_t g = 0; whole && g < group.size(); ++g) whole = group[g] == static_cast<int>(g);
    if (whole && !view_) return std::make_unique<MpiCommunicator>(control_, duplicate_here(), uid);
    ViewPlace place{shared_, {}, 0, child_tag()};
    for (std::size_t g = 0; g < group.size(); ++g) {
      if (group[g] == rank_) place.me = static_cast<int>(g);
      place.members.push_back(members_[static_cast<std::size_t>(group[g])]);
    }
    return std::make_unique<MpiCommunicator>(control_, std::move(place), uid);
  }

  void abort(const std::string& reason) override { control_->abort(reason); }

  void set_collective_timeout(double seconds) override {
    if (!(seconds >= 0)) throw ConfigError(fmt::format("collective timeout {} s: must be at least 0", seconds));
    control_->set_timeout(seconds);
  }
  double collective_timeout() const override { return control_->timeout_s(); }

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

  // The group ranks passing `color`, ordered by (key, group rank): every member's pair gathered
  // under the watchdog.
  std::vector<int> members_of(int color, int key) {
    struct Pairs {
      int mine[2];
      std::vector<int> all;
    };
    auto pairs = std::make_unique<Pairs>(Pairs{{color, key}, std::vector<int>(static_cast<std::size_t>(2 * size_))});
    try {
      gather_pairs(pairs->mine, pairs->all.data());
    } catch (...) {
      (void)pairs.release();  // left to MPI: a member arriving late still completes the gather into it
      throw;
    }
    const std::vector<int>& all = pairs->all;
    std::vector<int> group;
    for (int g = 0; g < size_; ++g)
      if (all[static_cast<std::size_t>(2 * g)] == color) group.push_back(g);
    std::stable_sort(group.begin(), group.end(), [&](int a, int b) {
      return all[static_cast<std::size_t>(2 * a + 1)] < all[static_cast<std::size_t>(2 * b + 1)];
    });
    return group;
  }

  void gather_pairs(const int* mine, int* all) {
    start("split");
    if (view_) {
      const std::vector<int> twos(static_cast<std::size_t>(size_), 2);
      std::vector<int> at;
      for (int g = 0; g < size_; ++g) at.push_back(2 * g);
      return view_->all_gather_v(mine, all, twos, at, MPI_INT, sizeof(int), waiter("split"));
    }
    MPI_Request r;
    check(MPI_Iallgather(mine, 2, MPI_INT, all, 2, MPI_INT, comm_, &r), "MPI_Iallgather");
    wait(r, "split");
  }

  // A duplicate of this group's MPI communicator by the polled MPI_Comm_idup.
  MPI_Comm duplicate_here() {
    MPI_Comm child = MPI_COMM_NULL;
    MPI_Request r;
    start("split");
    check(MPI_Comm_idup(comm_, &child, &r), "MPI_Comm_idup");
    wait(r, "split");
    return child;
  }

  // The tag of the view this split makes (its point-to-point messages carry twice the tag, its
  // collectives' twice plus one, so that neither can take the other's).
  int child_tag() const {
    const long long tag = tag_ * kSplitsPerGroup + static_cast<long long>(splits_);
    static const int upper = tag_upper_bound();
    if (static_cast<long long>(splits_) >= kSplitsPerGroup || 2 * tag + 1 > upper)
      throw ConfigError(fmt::format("MPI communicator: split {} of a group with tag {} exceeds MPI's message tags "
                                    "(at most {} splits per group, MPI_TAG_UB {})",
                                    splits_, tag_, kSplitsPerGroup - 1, upper));
    return static_cast<int>(tag);
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

  void wait(MPI_Request& r, const std::string& what, MPI_Status* status = nullptr, std::vector<int> suspects = {}) {
    watch(
        [&] {
          int done = 0;
          check(MPI_Test(&r, &done, status ? status : MPI_STATUS_IGNORE), what);
          return done != 0;
        },
        what, suspects);
  }

  // A view's wait: its messages, under the watchdog; abandoned when it throws.
  ViewCollectives::Wait waiter(const char* what) {
    return [this, what](Batch& batch) {
      try {
        watch([&] { return batch.test(); }, what, {});
      } catch (...) {
        batch.abandon();
        throw;
      }
    };
  }

  // Polls `done` until true, handling the control channel; on the watchdog's deadline, names
  // the ranks that did not arrive and aborts the world. `suspects`: the ranks a receive waits for.
  template <typename Done>
  void watch(Done&& done, const std::string& what, const std::vector<int>& suspects) {
    const auto start_time = Clock::now();
    for (unsigned spins = 0;; ++spins) {
      if (done()) return;
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
      if (g != rank_) peers.push_back(members_[static_cast<std::size_t>(g)]);
    const double grace_s = std::clamp(timeout_s, 0.2, 2.0);
    const auto answers = control_->ask_progress(uid_, peers, grace_s);
    std::vector<int> missing, silent;
    for (int p : peers) {
      const auto it = answers.find(p);
      if (it == answers.end()) silent.push_back(p);
      if (it == answers.end() || it->second < entered_.load()) missing.push_back(p);
    }
    if (!suspects.empty() && missing.empty())
      for (int s : suspects) missing.push_back(members_[static_cast<std::size_t>(s)]);
    const std::string group =
        size_ != control_->size() ? fmt::format(" (a group of {} ranks: {})", size_, join_ranks(members_)) : "";
    const std::string lost =
        silent.empty() ? ""
                       : fmt::format("; rank(s) {} did not answer within {:g} s: lost (its process died) or hung "
                                     "outside a collective",
                                     join_ranks(silent), grace_s);
    const std::string why = fmt::format(
        "collective timeout: {} on rank {} waited more than {:g} s (--collective-timeout); rank(s) {} did not "
        "arrive{}{}",
        what, members_[static_cast<std::size_t>(rank_)], timeout_s, missing.empty() ? "?" : join_ranks(missing), group,
        lost);
    control_->abort(why);
    throw CollectiveTimeout(why);
  }

  void check_peer(int peer, const char* what) const {
    if (peer < 0 || peer >= size_)
      throw ConfigError(fmt::format("{} {} outside the group of {} ranks", what, peer, size_));
  }

  std::shared_ptr<Control> control_;
  std::shared_ptr<SharedComm> shared_;  // freed with the last group on it
  MPI_Comm comm_;
  const std::uint64_t uid_;
  int rank_ = 0, size_ = 1;
  std::vector<int> members_;  // each group rank's rank on comm_ (and in the world)
  int tag_ = 0;               // 0: the whole of comm_; a view's: see child_tag
  std::unique_ptr<ViewCollectives> view_;  // a view's collectives; none: MPI's
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
