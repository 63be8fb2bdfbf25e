// Inside the MPI layer only: the communicator over an MPI communicator, and the polled wait that
// every MPI call of this layer goes through.
#pragma once

#include <mpi.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/error.hpp"

#include "engine/communicator.hpp"

namespace llmt::mpi {

// Throws Error naming `what` when an MPI call returned an error (MPI_ERRORS_RETURN is set).
void check(int status, const std::string& what);

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Messages of the control channel, beside the collectives: an abort (its reason), a question
// "how many collectives of communicator U have you entered?" and its answer.
enum Tag : int { kAbort = 1, kQuery = 2, kAnswer = 3 };
struct Query {
  std::uint64_t uid = 0, id = 0;
};
struct Answer {
  std::uint64_t id = 0, entered = 0;
};

// One per world (the communicators of one configuration, or of one test): its own duplicate of
// the world's MPI communicator carries aborts and progress questions, so that they never mix
// with another world's. Shared by the world's communicators; thread-safe (the overlap mode calls
// collectives from a second thread).
class Control {
 public:
  // Takes `own`, a duplicate of the world's communicator made for it.
  explicit Control(MPI_Comm own) : comm_(own) {
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~Control() {
    std::lock_guard lock(mutex_);
    for (Outgoing& o : outgoing_) {
      int done = 0;
      MPI_Test(&o.request, &done, MPI_STATUS_IGNORE);
      if (!done) (void)MPI_Request_free(&o.request);  // a lost peer never receives it; MPI may drop it
    }
    // A world that lost a process cannot be freed (MPI_Comm_free may wait for it): it is left.
    if (!aborted_.load()) MPI_Comm_free(&comm_);
  }

  MPI_Comm comm() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  double timeout_s() const { return timeout_s_.load(std::memory_order_relaxed); }
  void set_timeout(double s) { timeout_s_.store(s, std::memory_order_relaxed); }
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }

  [[noreturn]] void throw_aborted() {
    std::lock_guard lock(mutex_);
    throw RankError(fmt::format("collective abandoned: {}", reason_));
  }

  // Tells every other process of the world; their calls then throw RankError.
  void abort(const std::string& why) {
    std::lock_guard lock(mutex_);
    if (aborted_.exchange(true)) return;
    reason_ = why;
    for (int r = 0; r < size_; ++r)
      if (r != rank_) send_locked(r, kAbort, why.data(), why.size());
  }

  // Counts of collectives entered, per communicator uid, for the answers.
  void track(std::uint64_t uid, const std::atomic<std::uint64_t>* entered) {
    std::lock_guard lock(mutex_);
    entered_[uid] = entered;
  }
  void untrack(std::uint64_t uid) {
    std::lock_guard lock(mutex_);
    entered_.erase(uid);
  }

  // Handles what arrived: aborts, questions (answered at once) and answers.
  void poll() {
    std::lock_guard lock(mutex_);
    for (;;) {
      int found = 0;
      MPI_Message message;
      MPI_Status status;
      if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &found, &message, &status) != MPI_SUCCESS || !found) break;
      int bytes = 0;
      MPI_Get_count(&status, MPI_BYTE, &bytes);
      std::vector<char> data(static_cast<std::size_t>(std::max(bytes, 0)));
      if (MPI_Mrecv(data.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
      handle_locked(status.MPI_SOURCE, status.MPI_TAG, data);
    }
    complete_sends_locked();
  }

  // Asks `peers` (ranks of this world) how many collectives of `uid` they have entered; waits
  // up to `grace_s` for the answers. Peers that did not answer are absent from the result.
  std::map<int, std::uint64_t> ask_progress(std::uint64_t uid, const std::vector<int>& peers, double grace_s) {
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mutex_);
      id = ++next_query_;
      const Query q{uid, id};
      for (int p : peers) send_locked(p, kQuery, &q, sizeof q);
    }
    const auto start = Clock::now();
    for (;;) {
      poll();
      {
        std::lock_guard lock(mutex_);
        std::map<int, std::uint64_t> got;
        for (int p : peers)
          if (auto it = answers_.find(p); it != answers_.end() && it->second.id == id) got[p] = it->second.entered;
        if (got.size() == peers.size() || seconds_since(start) > grace_s) return got;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  struct Outgoing {
    MPI_Request request = MPI_REQUEST_NULL;
    std::shared_ptr<std::vector<char>> data;
  };

  void send_locked(int peer, int tag, const void* data, std::size_t bytes) {
    Outgoing o;
    o.data = std::make_shared<std::vector<char>>(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
    if (MPI_Isend(o.data->data(), static_cast<int>(bytes), MPI_BYTE, peer, tag, comm_, &o.request) == MPI_SUCCESS)
      outgoing_.push_back(std::move(o));
  }

  void complete_sends_locked() {
    std::erase_if(outgoing_, [](Outgoing& o) {
      int done = 0;
      return MPI_Test(&o.request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done;
    });
  }

  void handle_locked(int source, int tag, const std::vector<char>& data) {
    if (tag == kAbort && !aborted_.exchange(true)) {
      reason_.assign(data.begin(), data.end());
    } else if (tag == kQuery && data.size() == sizeof(Query)) {
      Query q;
      std::memcpy(&q, data.data(), sizeof q);
      const auto it = entered_.find(q.uid);
      const Answer a{q.id, it == entered_.end() ? 0 : it->second->load()};
      send_locked(source, kAnswer, &a, sizeof a);
    } else if (tag == kAnswer && data.size() == sizeof(Answer)) {
      std::memcpy(&answers_[source], data.data(), sizeof(Answer));
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::atomic<double> timeout_s_{0};
  std::atomic<bool> aborted_{false};
  std::mutex mutex_;  // guards everything below
  std::string reason_;
  std::map<std::uint64_t, const std::atomic<std::uint64_t>*> entered_;
  std::map<int, Answer> answers_;
  std::vector<Outgoing> outgoing_;
  std::uint64_t next_query_ = 0;
};

// A duplicate of `comm` by the non-blocking MPI_Comm_idup, polled: a member that never arrives
// (a lost process) ends the wait after `timeout_s` (0: never) with CollectiveTimeout naming `what`.
MPI_Comm duplicate(MPI_Comm comm, double timeout_s, const std::string& what);

// A new world over the members of `comm` (duplicated, so `comm` stays the caller's).
std::unique_ptr<Communicator> make_communicator(MPI_Comm comm, double timeout_s);

// Polls `request` until it completes (true) or `timeout_s` passes (false; 0: never), yielding
// the core between tests after a short spin (ranks may outnumber cores).
bool poll(MPI_Request& request, double timeout_s, const std::string& what);

}  // namespace llmt::mpi
