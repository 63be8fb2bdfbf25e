// Running the llmthreads binary from a test: its exit status and its output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace llmt::testing {

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

inline Outcome run_binary(const std::string& args) {
  Outcome o;
  FILE* pipe = popen((std::string(LLMT_BINARY) + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return o;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) o.output += buf.data();
  const int raw = pclose(pipe);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return o;
}

// A file path in a directory of this test process's own.
inline std::filesystem::path temp_path(const std::string& prefix, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace llmt::testing
