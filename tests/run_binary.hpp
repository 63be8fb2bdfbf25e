// Running the llmthreads binary from a test: its exit status and its output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace llmt::testing {

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// A shell command line, stdout and stderr as the command redirects them; status 128 + signal
// when the command was killed.
inline Outcome run_command(const std::string& cmd) {
  Outcome o;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return o;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) o.output += buf.data();
  const int raw = pclose(pipe);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : (WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : -1);
  return o;
}

inline Outcome run_binary(const std::string& args) {
  return run_command(std::string(LLMT_BINARY) + " " + args + " 2>&1");
}

// Fields of `line` between separators (an empty line is one empty field).
inline std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == sep) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

// A file path in a directory of this test process's own.
inline std::filesystem::path temp_path(const std::string& prefix, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace llmt::testing
