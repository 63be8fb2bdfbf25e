#include "engine/async_comm.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

namespace llmt {
namespace {

class ThreadReducer final : public AsyncReducer {
 public:
  ThreadReducer(Communicator& comm, Backend& backend) : comm_(comm), backend_(backend), worker_([this] { serve(); }) {}

  ~ThreadReducer() override {
    {
      std::lock_guard lock(mutex_);
      // Leaving with collectives in flight means the rank failed: release the peers they wait for.
      if (!queue_.empty() || busy_) comm_.abort("a rank left with collectives in flight");
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  std::uint64_t start_all_reduce(void* buf, std::size_t count, DType type) override {
    std::lock_guard lock(mutex_);
    const std::uint64_t ticket = next_++;
    queue_.push_back({ticket, buf, count, type});
    cv_.notify_all();
    return ticket;
  }

  AsyncTiming wait(std::uint64_t ticket) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_.count(ticket) > 0; });
    Done d = done_[ticket];
    done_.erase(ticket);
    if (d.error) std::rethrow_exception(d.error);
    return d.timing;
  }

 private:
  struct Job {
    std::uint64_t ticket;
    void* buf;
    std::size_t count;
    DType type;
  };
  struct Done {
    AsyncTiming timing;
    std::exception_ptr error;
  };

  void serve() {
    backend_.bind_thread();
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const Job job = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      Done d;
      try {
        d.timing.begin = backend_.stamp();
        comm_.all_reduce(job.buf, job.buf, job.count, job.type, ReduceOp::sum);
        d.timing.end = backend_.stamp();
      } catch (...) {
        d.error = std::current_exception();
      }
      lock.lock();
      busy_ = false;
      done_[job.ticket] = d;
      cv_.notify_all();
    }
  }

  Communicator& comm_;
  Backend& backend_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::map<std::uint64_t, Done> done_;
  std::uint64_t next_ = 0;
  bool busy_ = false, stop_ = false;
  std::thread worker_;  // last: started once the members above exist
};

}  // namespace

std::unique_ptr<AsyncReducer> make_thread_reducer(Communicator& comm, Backend& backend) {
  return std::make_unique<ThreadReducer>(comm, backend);
}

}  // namespace llmt
