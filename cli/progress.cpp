#include "cli/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace llmt::cli {
namespace {

std::string duration(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
}

}  // namespace

bool Progress::live_terminal() {
  const char* ci = std::getenv("CI");
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) && !(ci && *ci) && !(term && std::string(term) == "dumb");
}

Progress::Progress(int runs, bool quiet) : quiet_(quiet), live_(!quiet && live_terminal()), runs_(runs) {
  if (!live_) return;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (running_ && !paused_) draw_locked();
      cv_.wait_for(lock, std::chrono::milliseconds(500));
    }
  });
}

Progress::~Progress() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    if (live_) std::fputs("\r\033[K", stderr);
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

std::string Progress::status_locked() const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
  std::string eta = "estimating";
  if (done_ > 0) {
    const double in_current = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const double per_run = finished_seconds_ / done_;
    const double left = std::max(0.0, per_run * (runs_ - done_) - (running_ ? std::min(in_current, per_run) : 0.0));
    eta = "about " + duration(left) + " left";
  }
  return fmt::format("[{}/{}] {} | {} elapsed, {}", index_, planned_, current_, duration(elapsed), eta);
}

void Progress::draw_locked() {
  std::string line = status_locked();
  if (line.size() > 150) line = line.substr(0, 147) + "...";
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::start(int index, int planned, const std::string& id) {
  if (quiet_) return;
  std::lock_guard lock(mutex_);
  index_ = index;
  planned_ = planned;
  current_ = id;
  started_ = std::chrono::steady_clock::now();
  running_ = true;
  if (live_) {
    draw_locked();
  } else {
    std::fprintf(stderr, "%s\n", status_locked().c_str());
    std::fflush(stderr);
  }
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  finished_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  ++done_;
  running_ = false;
}

void Progress::pause() {
  std::lock_guard lock(mutex_);
  paused_ = true;
  if (live_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
}

void Progress::resume() {
  std::lock_guard lock(mutex_);
  paused_ = false;
  if (live_ && running_) draw_locked();
}

void Progress::message(const std::string& line) {
  if (quiet_) return;
  pause();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  resume();
}

}  // namespace llmt::cli
