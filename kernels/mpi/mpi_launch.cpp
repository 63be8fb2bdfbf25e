#include "kernels/mpi/mpi_launch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <cstring>
#include <string>
#include <vector>

#include "engine/process_world.hpp"
#include "kernels/mpi/mpi_internal.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

bool has_env(const char* name) { return std::getenv(name) != nullptr; }

// MPI counts are int: a message goes in pieces of at most this many bytes (1 GiB), so rank
// messages with a large run's logits (over 2 GiB) travel whole. LLMT_MPI_PIECE_BYTES lowers it,
// for the tests that check pieces reassemble.
std::size_t piece_bytes() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("LLMT_MPI_PIECE_BYTES");
    const long long n = v ? std::atoll(v) : 0;
    return n > 0 && n < (1LL << 30) ? static_cast<std::size_t>(n) : std::size_t{1} << 30;
  }();
  return bytes;
}

int piece_count(std::size_t bytes) { return static_cast<int>(std::min(bytes, piece_bytes())); }

std::string launcher_name() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string library(version, static_cast<std::size_t>(length));
  library = library.substr(0, library.find_first_of(",\n"));
  if (has_env("SLURM_STEP_ID") && !has_env("OMPI_COMM_WORLD_SIZE")) return fmt::format("srun (Slurm; {})", library);
  return fmt::format("mpirun ({})", library);
}

// Node-local ranks by host name, as nccl-tests does: a process's local rank is the number of
// lower ranks on the same host.
std::vector<HostRanks> hosts_of_world(int size) {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  std::vector<char> all(static_cast<std::size_t>(size) * MPI_MAX_PROCESSOR_NAME);
  mpi::check(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                           MPI_COMM_WORLD),
             "MPI_Allgather of the host names");
  std::vector<HostRanks> hosts;
  for (int r = 0; r < size; ++r) {
    const std::string host(all.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME);
    auto it = std::find_if(hosts.begin(), hosts.end(), [&](const HostRanks& h) { return h.host == host; });
    if (it == hosts.end()) it = hosts.insert(hosts.end(), HostRanks{host, {}, {}});
    it->ranks.push_back(r);
  }
  return hosts;
}

class MpiProcessWorld final : public ProcessWorld {
 public:
  MpiProcessWorld() {
    mpi::check(MPI_Comm_dup(MPI_COMM_WORLD, &base_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(base_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(base_, &rank_);
    MPI_Comm_size(base_, &size_);
    MPI_Comm control = MPI_COMM_NULL;
    mpi::check(MPI_Comm_dup(base_, &control), "MPI_Comm_dup");
    control_ = std::make_unique<mpi::Control>(control);
    // Every configuration's processes, split once while all are alive: a join then only
    // duplicates one, which can be polled (MPI_Comm_split cannot).
    first_.assign(static_cast<std::size_t>(size_) + 1, MPI_COMM_NULL);
    for (int k = 1; k <= size_; ++k)
      mpi::check(MPI_Comm_split(base_, rank_ < k ? 0 : MPI_UNDEFINED, rank_, &first_[static_cast<std::size_t>(k)]),
                 "MPI_Comm_split");
    control_->track(kJoinUid, &joins_reached_);
    launch_.world_size = size_;
    launch_.launcher = launcher_name();
    launch_.hosts = hosts_of_world(size_);
    for (const HostRanks& h : launch_.hosts)
      for (std::size_t i = 0; i < h.ranks.size(); ++i)
        if (h.ranks[i] == rank_) local_rank_ = static_cast<int>(i);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  LaunchInfo launch() const override { return launch_; }

  std::unique_ptr<Communicator> join(int ranks, double timeout_s) override {
    if (ranks < 1 || ranks > size_)
      throw ConfigError(fmt::format("a configuration of {} ranks in an MPI world of {} processes", ranks, size_));
    joins_reached_.store(++joins_);
    MPI_Request r;
    mpi::check(MPI_Ibarrier(base_, &r), "MPI_Ibarrier");
    if (!wait_for_world(r, took_part_ ? timeout_s : 0)) throw CollectiveTimeout(join_timeout(timeout_s));
    took_part_ = rank_ < ranks;
    if (!took_part_) return nullptr;
    try {
      return mpi::make_communicator(first_[static_cast<std::size_t>(ranks)], timeout_s);
    } catch (const CollectiveTimeout&) {
      throw CollectiveTimeout(join_timeout(timeout_s));  // which process is missing: it does not answer
    }
  }

  std::vector<std::optional<std::string>> gather(const std::string& mine, int ranks, double timeout_s) override {
    const int tag = static_cast<int>(joins_ % 30000) + 1;  // a late message of an earlier configuration never matches
    if (rank_ != 0) {
      // The length first, then the pieces, in order (MPI does not reorder one sender's messages).
      const unsigned long long length = mine.size();
      std::vector<MPI_Request> sends(1);
      mpi::check(MPI_Isend(&length, 1, MPI_UNSIGNED_LONG_LONG, 0, tag, base_, &sends[0]), "MPI_Isend");
      for (std::size_t at = 0; at < mine.size(); at += piece_bytes()) {
        sends.emplace_back();
        mpi::check(MPI_Isend(mine.data() + at, piece_count(mine.size() - at), MPI_BYTE, 0, tag, base_, &sends.back()),
                   "MPI_Isend");
      }
      const auto start = mpi::Clock::now();
      for (MPI_Request& r : sends) {
        const double left = timeout_s > 0 ? std::max(1e-3, timeout_s - mpi::seconds_since(start)) : 0;
        if (!wait_for_world(r, left)) (void)MPI_Request_free(&r);
      }
      return {};
    }
    std::vector<std::optional<std::string>> out(static_cast<std::size_t>(ranks));
    out[0] = mine;
    receive_from_ranks(out, tag, timeout_s);
    return out;
  }

  // Polled, so that a waiting process still answers the others' questions, and bounded by
  // wait_limit(): a lost rank 0 ends the wait with an error instead of a hang. In pieces.
  std::string broadcast(const std::string& text) override {
    unsigned long long size = text.size();
    MPI_Request r;
    mpi::check(MPI_Ibcast(&size, 1, MPI_UNSIGNED_LONG_LONG, 0, base_, &r), "MPI_Ibcast");
    wait_for_broadcast(r);
    std::string out = rank_ == 0 ? text : std::string(size, '\0');
    for (std::size_t at = 0; at < out.size(); at += piece_bytes()) {
      mpi::check(MPI_Ibcast(out.data() + at, piece_count(out.size() - at), MPI_CHAR, 0, base_, &r), "MPI_Ibcast");
      wait_for_broadcast(r);
    }
    return out;
  }

  [[noreturn]] void abort_job(int status) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }

 private:
  static constexpr std::uint64_t kJoinUid = 0;  // the joins' count on the control channel

  // Bounded only where this process took part in the last configuration (as a join is): one that
  // did not waits while rank 0 runs a configuration without it, which may take any time.
  void wait_for_broadcast(MPI_Request& r) {
    if (wait_for_world(r, took_part_ ? wait_limit() : 0)) return;
    throw CollectiveTimeout(fmt::format(
        "collective timeout: process {} waited more than {:g} s (--collective-timeout) for rank 0's broadcast of the "
        "sweep's next step; rank 0 or another process is lost (its process died) or hung",
        rank_, wait_limit()));
  }

  // Polls `r`, answering the others' questions meanwhile; false when `timeout_s` (0: never) passed.
  bool wait_for_world(MPI_Request& r, double timeout_s) {
    const auto start = mpi::Clock::now();
    for (unsigned spins = 0;; ++spins) {
      int done = 0;
      mpi::check(MPI_Test(&r, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return true;
      if (spins % 64 == 0) {
        control_->poll();
        if (timeout_s > 0 && mpi::seconds_since(start) > timeout_s) return false;
      }
      if (spins > 4096) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // Names the processes that did not reach this join: asked, they answered with fewer joins
  // reached, or did not answer at all.
  std::string join_timeout(double timeout_s) {
    std::vector<int> peers;
    for (int p = 0; p < size_; ++p)
      if (p != rank_) peers.push_back(p);
    const double grace_s = std::clamp(timeout_s, 0.2, 2.0);
    const auto answers = control_->ask_progress(kJoinUid, peers, grace_s);
    std::string missing, silent;
    for (int p : peers) {
      const auto it = answers.find(p);
      if (it == answers.end()) silent += (silent.empty() ? "" : ", ") + std::to_string(p);
      if (it == answers.end() || it->second < joins_) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
    }
    return fmt::format(
        "collective timeout: rank {} waited more than {:g} s (--collective-timeout) for every process of the MPI world "
        "to reach the next configuration; rank(s) {} did not arrive{}",
        rank_, timeout_s, missing.empty() ? "?" : missing,
        silent.empty() ? "" : fmt::format("; rank(s) {} did not answer within {:g} s: lost (its process died) or hung",
                                          silent, grace_s));
  }

  // One rank's message as it arrives: its length, then its pieces.
  struct Incoming {
    bool sized = false;
    std::string data;
    std::size_t received = 0;
  };

  // Takes what has arrived of rank `r`'s message; true once it is whole.
  bool receive_some(int r, int tag, Incoming& in) {
    for (;;) {
      if (in.sized && in.received == in.data.size()) return true;
      int found = 0;
      MPI_Message message;
      MPI_Status status;
      mpi::check(MPI_Improbe(r, tag, base_, &found, &message, &status), "MPI_Improbe");
      if (!found) return false;
      if (!in.sized) {
        unsigned long long length = 0;
        mpi::check(MPI_Mrecv(&length, 1, MPI_UNSIGNED_LONG_LONG, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
        in.data.assign(static_cast<std::size_t>(length), '\0');
        in.sized = true;
        continue;
      }
      int bytes = 0;
      MPI_Get_count(&status, MPI_BYTE, &bytes);
      if (bytes < 0 || static_cast<std::size_t>(bytes) > in.data.size() - in.received)
        throw Error(fmt::format("process {} sent a piece of {} bytes beyond its message's length", r, bytes));
      mpi::check(MPI_Mrecv(in.data.data() + in.received, bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
      in.received += static_cast<std::size_t>(bytes);
    }
  }

  void receive_from_ranks(std::vector<std::optional<std::string>>& out, int tag, double timeout_s) {
    const auto start = std::chrono::steady_clock::now();
    int missing = static_cast<int>(out.size()) - 1;
    std::vector<Incoming> incoming(out.size());
    while (missing > 0) {
      for (std::size_t r = 1; r < out.size(); ++r) {
        if (out[r] || !receive_some(static_cast<int>(r), tag, incoming[r])) continue;
        out[r] = std::move(incoming[r].data);
        --missing;
      }
      if (missing == 0) return;
      if (timeout_s > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s)
        return;
      control_->poll();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  MPI_Comm base_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  LaunchInfo launch_;
  std::uint64_t joins_ = 0;
  std::atomic<std::uint64_t> joins_reached_{0};
  std::unique_ptr<mpi::Control> control_;
  std::vector<MPI_Comm> first_;  // [k]: the first k processes (MPI_COMM_NULL where this one is not among them)
  bool took_part_ = true;
};

bool g_initialised = false;

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"})
    if (has_env(v)) return true;
  const char* tasks = std::getenv("SLURM_NTASKS");
  return has_env("SLURM_STEP_ID") && tasks && std::atoi(tasks) > 1;
}

bool start_mpi_process_mode() {
  if (!launched_by_mpi()) return false;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init_thread failed: cannot start process mode");
  g_initialised = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) return false;  // one process: thread mode, as without a launcher
  if (provided < MPI_THREAD_MULTIPLE)
    throw Error("the MPI library does not provide MPI_THREAD_MULTIPLE, which process mode needs (the overlap mode "
                "runs collectives on a second thread)");
  set_process_world(std::make_unique<MpiProcessWorld>());
  return true;
}

void end_mpi_process_mode() {
  if (!g_initialised) return;
  set_process_world(nullptr);
  MPI_Finalize();
  g_initialised = false;
}

}  // namespace llmt
