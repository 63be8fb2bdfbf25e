#include "reports/logits_dump.hpp"

#include <bit>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

void LogitsDump::append(const std::string& name, Tensor t, const void* data, std::size_t bytes) {
  if (tensors_.count(name)) throw Error(fmt::format("--dump-logits: tensor '{}' written twice", name));
  part_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!part_) throw Error(fmt::format("--dump-logits {}: writing {} failed (disk full?)", path_, part_path_));
  t.begin = written_;
  written_ += bytes;
  t.end = written_;
  tensors_.emplace(name, std::move(t));
}

void LogitsDump::add_logits(const std::string& name, const StepLogits& logits, int batch, int vocab) {
  const std::size_t per_step = static_cast<std::size_t>(batch) * static_cast<std::size_t>(vocab);
  for (const std::vector<float>& step : logits)
    if (step.size() != per_step)
      throw Error(fmt::format("--dump-logits: '{}' has a step of {} logits, expected {}", name, step.size(), per_step));
  std::vector<float> flat;
  flat.reserve(per_step * logits.size());
  for (const std::vector<float>& step : logits) flat.insert(flat.end(), step.begin(), step.end());
  append(name, {"F32", {static_cast<std::int64_t>(logits.size()), batch, vocab}}, flat.data(),
         flat.size() * sizeof(float));
}

void LogitsDump::add_token_ids(const std::string& name, const std::vector<std::int32_t>& ids, int batch,
                               int positions) {
  if (ids.size() != static_cast<std::size_t>(batch) * static_cast<std::size_t>(positions))
    throw Error(fmt::format("--dump-logits: '{}' has {} ids, expected {} x {}", name, ids.size(), batch, positions));
  append(name, {"I32", {batch, positions}}, ids.data(), ids.size() * sizeof(std::int32_t));
}

std::size_t LogitsDump::finish(const std::map<std::string, std::string>& metadata) {
  part_.close();
  nlohmann::json header = nlohmann::json::object();
  for (const auto& [name, t] : tensors_)
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    std::ifstream data(part_path_, std::ios::binary);
    const std::uint64_t length = text.size();
    out.write(reinterpret_cast<const char*>(&length), sizeof(length));
    out << text;
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
