// The threads of one CPU rank (--threads-per-rank): the rank's own thread and threads - 1 helpers
// that sleep between calls. A kernel splits its work into one part per thread; the rank's
// thread does part 0 and returns when every part is done.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llmt::cpu {

class RankThreads {
 public:
  explicit RankThreads(int threads);
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int count() const { return static_cast<int>(helpers_.size()) + 1; }
  // Runs part(t) for t < count(), t = 0 on the calling thread; returns once all have returned.
  // `part` must not throw (kernels do not).
  void run(const std::function<void(int)>& part);

 private:
  void helper(int index);

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable start_, finished_;
  const std::function<void(int)>* part_ = nullptr;
  std::uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

// [begin, end) of part `t` of `parts` over `n` items, each boundary a multiple of `align` (the
// last part takes the rest), so that every part starts on a whole tile.
struct Range {
  int begin = 0, end = 0;
};
Range part_range(int n, int parts, int t, int align);

}  // namespace llmt::cpu
