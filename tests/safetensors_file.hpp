// Reading a safetensors file in a test (the --dump-logits output, the golden files): its header
// and each tensor's raw bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmt::testing {

struct SafetensorsFile {
  nlohmann::json header;                     // without __metadata__
  nlohmann::json metadata;
  std::map<std::string, std::string> bytes;  // tensor name -> its data

  std::vector<float> floats(const std::string& name) const {
    const std::string& b = bytes.at(name);
    std::vector<float> out(b.size() / sizeof(float));
    std::memcpy(out.data(), b.data(), out.size() * sizeof(float));
    return out;
  }
};

// Throws std::runtime_error on a file too short for its header.
inline SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 8) throw std::runtime_error(path.string() + ": too short for a safetensors file");
  std::uint64_t length = 0;
  std::memcpy(&length, data.data(), 8);
  if (length > data.size() - 8) throw std::runtime_error(path.string() + ": header beyond the file");
  SafetensorsFile f;
  f.header = nlohmann::json::parse(data.substr(8, length));
  if (f.header.contains("__metadata__")) {
    f.metadata = f.header["__metadata__"];
    f.header.erase("__metadata__");
  }
  for (const auto& [name, t] : f.header.items()) {
    const auto begin = t["data_offsets"][0].get<std::size_t>(), end = t["data_offsets"][1].get<std::size_t>();
    if (end < begin || end > data.size() - 8 - length)  // no overflow: length <= size - 8 was checked
      throw std::runtime_error(path.string() + ": " + name + " has data_offsets outside the file");
    f.bytes[name] = data.substr(8 + length + begin, end - begin);
  }
  return f;
}

}  // namespace llmt::testing
