// Sweep progress on stderr: configuration k of n, the one running, elapsed time and an
// estimate of what remains. On a terminal a status line redrawn in place; otherwise (a pipe,
// CI set in the environment) one plain line per configuration; nothing with --quiet.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace llmt::cli {

class Progress {
 public:
  // `runs`: configurations that will run (skipped ones take no time).
  Progress(int runs, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void start(int index, int planned, const std::string& id);
  void finish();
  // Around output to the terminal: the live line is cleared and redrawn after.
  void pause();
  void resume();
  void message(const std::string& line);  // a line of its own on stderr

  static bool live_terminal();

 private:
  void draw_locked();
  std::string status_locked() const;

  const bool quiet_, live_;
  const int runs_;
  int done_ = 0, index_ = 0, planned_ = 0;
  std::string current_;
  const std::chrono::steady_clock::time_point begin_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point started_{};
  double finished_seconds_ = 0;  // time spent in finished configurations
  bool paused_ = false, stop_ = false, running_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread ticker_;
};

}  // namespace llmt::cli
