#include "kernels/cpu/rank_threads.hpp"

#include <algorithm>

namespace llmt::cpu {

RankThreads::RankThreads(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) helpers_.emplace_back(&RankThreads::helper, this, i);
}

RankThreads::~RankThreads() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void RankThreads::run(const std::function<void(int)>& part) {
  if (helpers_.empty()) return part(0);
  {
    std::lock_guard lock(mutex_);
    part_ = &part;
    pending_ = static_cast<int>(helpers_.size());
    ++generation_;
  }
  start_.notify_all();
  part(0);
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [&] { return pending_ == 0; });
  part_ = nullptr;
}

void RankThreads::helper(int index) {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* part = nullptr;
    {
      std::unique_lock lock(mutex_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      part = part_;
    }
    (*part)(index);
    std::lock_guard lock(mutex_);
    if (--pending_ == 0) finished_.notify_one();
  }
}

Range part_range(int n, int parts, int t, int align) {
  const int tiles = (n + align - 1) / align, per = tiles / parts, extra = tiles % parts;
  // The first `extra` parts take one tile more: the parts differ by one tile at most.
  const int first = t * per + std::min(t, extra), count = per + (t < extra ? 1 : 0);
  return {std::min(n, first * align), std::min(n, (first + count) * align)};
}

}  // namespace llmt::cpu
