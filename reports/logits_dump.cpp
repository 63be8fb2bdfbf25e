#include "reports/logits_dump.hpp"

#include <bit>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "model/error.hpp"

namespace llmt {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

LogitsDump::LogitsDump(std::string path) : path_(std::move(path)), part_path_(path_ + ".part") {
  part_.open(part_path_, std::ios::binary | std::ios::trunc);
  if (!part_) throw ConfigError(fmt::format("--dump-logits {}: cannot write {}", path_, part_path_));
}

LogitsDump::~LogitsDump() {
  if (finished_) return;
  part_.close();
  std::error_code ec;
  std::filesystem::remove(part_path_, ec);
}

void LogitsDump::write(const void* data, std::size_t bytes) {
  part_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!part_) throw Error(fmt::format("--dump-logits {}: writing {} failed (disk full?)", path_, part_path_));
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
  part_.close();
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    std::ifstream data(part_path_, std::ios::binary);
    write_safetensors_header(out, tensors_, metadata);
    if (written_ > 0) out << data.rdbuf();
    if (!out) throw Error(fmt::format("--dump-logits {}: writing {} failed", path_, tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) throw Error(fmt::format("--dump-logits {}: {}", path_, ec.message()));
  std::filesystem::remove(part_path_, ec);
  finished_ = true;
  return tensors_.size();
}

}  // namespace llmt
