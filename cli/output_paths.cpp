#include "cli/output_paths.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>

#include "cli/parse.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"

namespace llmt::cli {
namespace {

bool character_device(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

}  // namespace

void refuse_shared_paths(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    if (out.path.empty()) continue;
    for (std::size_t j = i + 1; j < outputs.size(); ++j)
      if (!outputs[j].path.empty() && same_file(out.path, outputs[j].path) && !character_device(out.path))
        throw ConfigError(fmt::format("{} {} and {} {} are one file: one output would overwrite the other; give "
                                      "each its own file",
                                      out.option, out.path, outputs[j].option, outputs[j].path));
    struct stat st {};
    for (const NamedPath& in : inputs)  // an input that does not exist (a preset name) cannot be lost
      if (!in.path.empty() && ::stat(in.path.c_str(), &st) == 0 && same_file(out.path, in.path))
        throw ConfigError(fmt::format("{} {} is the input {} {}: writing it would destroy the input; give another "
                                      "file",
                                      out.option, out.path, in.option, in.path));
  }
}

void check_sweep_paths(const SweepPaths& p) {
  check_output_target("--json", p.json);
  check_output_target("--csv", p.csv);
  check_output_target("--dump-logits", p.dump_logits);
  namespace fs = std::filesystem;
  // --json onto the --resume file resumes in place (the file is read before it is rewritten).
  const bool resume_in_place = !p.json.empty() && !p.resume.empty() && same_file(p.json, p.resume);
  std::vector<NamedPath> inputs = {{"--resume", p.json.empty() || resume_in_place ? std::string() : p.resume},
                                   {"--model", p.model}, {"--ceilings", p.ceilings}, {"--hardware", p.hardware}};
  std::error_code ec;
  if (!p.model.empty() && fs::is_directory(p.model, ec)) inputs.push_back({"--model", (fs::path(p.model) / "config.json").string()});
  // Every file of the checkpoint: its config, its index and each shard.
  if (!p.weights.empty() && fs::is_directory(p.weights, ec))
    for (const auto& entry : fs::directory_iterator(p.weights, ec)) {
      const std::string name = entry.path().filename().string();
      if (name == "config.json" || name.ends_with(".safetensors") || name == "model.safetensors.index.json")
        inputs.push_back({"--weights", entry.path().string()});
    }
  std::vector<NamedPath> outputs = {{"--json", p.json}, {"--csv", p.csv}, {"--dump-logits", p.dump_logits}};
  if (p.json.empty()) outputs.push_back({"--resume (the JSON output without --json)", p.resume});
  refuse_shared_paths(outputs, inputs);
}

std::vector<NamedPath> each_file(const std::string& option, const std::string& paths) {
  std::vector<NamedPath> files;
  for (const std::string& p : split_list(paths)) files.push_back({option, p});
  return files;
}

}  // namespace llmt::cli
