#include "reports/logits_dump.hpp"

#include <bit>
#include <cstdio>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "model/error.hpp"
#include "model/file_io.hpp"

namespace llmt {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

LogitsDump::LogitsDump(std::string path) : path_(std::move(path)) {
  // The spill file is created exclusively (mkstemp): beside a regular FILE, so that the final
  // rename stays on one filesystem; in the temporary directory when FILE is a device or a FIFO.
  const std::filesystem::path beside = path_ + ".part.XXXXXX";
  std::string pattern = (replaced_by_rename(path_) ? beside
                                                   : std::filesystem::temp_directory_path() / "llmthreads-logits.part.XXXXXX")
                            .string();
  part_fd_ = ::mkstemp(pattern.data());
  if (part_fd_ < 0)
    throw ConfigError(fmt::format("--dump-logits {}: cannot create {}: {}", path_, pattern, os_reason(errno)));
  ::fcntl(part_fd_, F_SETFD, FD_CLOEXEC);
  part_path_ = pattern;
}

LogitsDump::~LogitsDump() {
  if (part_fd_ >= 0) ::close(part_fd_);
  ::unlink(part_path_.c_str());
}

void LogitsDump::write(const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  for (std::size_t left = bytes; left > 0;) {
    const ssize_t n = ::write(part_fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(fmt::format("--dump-logits {}: writing {} failed: {}", path_, part_path_, os_reason(n < 0 ? errno : EIO)));
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  written_ += bytes;
}

void LogitsDump::record(const std::string& name, SafetensorsEntry t, std::uint64_t begin) {
  t.begin = begin;
  t.end = written_;
  tensors_.emplace(name, std::move(t));
}

void LogitsDump::add_logits(const std::string& name, const StepLogits& logits, int batch, int vocab) {
  const std::size_t per_step = static_cast<std::size_t>(batch) * static_cast<std::size_t>(vocab);
  for (const std::vector<float>& step : logits)
    if (step.size() != per_step)
      throw Error(fmt::format("--dump-logits: '{}' has a step of {} logits, expected {}", name, step.size(), per_step));
  if (has(name)) throw Error(fmt::format("--dump-logits: tensor '{}' written twice", name));
  const std::uint64_t begin = written_;
  for (const std::vector<float>& step : logits) write(step.data(), step.size() * sizeof(float));
  record(name, {"F32", {static_cast<std::int64_t>(logits.size()), batch, vocab}}, begin);
}

void LogitsDump::add_token_ids(const std::string& name, const std::vector<std::int32_t>& ids, int batch,
                               int positions) {
  if (ids.size() != static_cast<std::size_t>(batch) * static_cast<std::size_t>(positions))
    throw Error(fmt::format("--dump-logits: '{}' has {} ids, expected {} x {}", name, ids.size(), batch, positions));
  if (has(name)) throw Error(fmt::format("--dump-logits: tensor '{}' written twice", name));
  const std::uint64_t begin = written_;
  write(ids.data(), ids.size() * sizeof(std::int32_t));
  record(name, {"I32", {batch, positions}}, begin);
}

std::size_t LogitsDump::finish(const std::map<std::string, std::string>& metadata) {
  write_output_file(path_, "--dump-logits", [&](std::ostream& out) {
    write_safetensors_header(out, tensors_, metadata);
    std::vector<char> chunk(std::size_t{1} << 20);
    for (std::uint64_t at = 0; at < written_ && out;) {
      const ssize_t n = ::pread(part_fd_, chunk.data(), chunk.size(), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(fmt::format("--dump-logits {}: reading back {} failed: {}", path_, part_path_,
                                          os_reason(n < 0 ? errno : EIO)));
      out.write(chunk.data(), n);
      at += static_cast<std::uint64_t>(n);
    }
  });
  return tensors_.size();
}

}  // namespace llmt
