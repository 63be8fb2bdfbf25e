// `llmthreads export-weights`: the weights llmthreads generates for a model and seed, written
// as a HuggingFace checkpoint (config.json and safetensors), so that transformers (or any other
// implementation) can compute with exactly the weights a bench run uses, and `bench --weights`
// can read them back.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "engine/backends.hpp"
#include "engine/sysinfo.hpp"
#include "engine/transformer.hpp"
#include "model/checkpoint.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"
#include "model/model.hpp"

namespace llmt::cli {
namespace {

struct ExportOptions {
  std::string model = "tiny", seed = "1234", layers, dir;
  int shards = 1;
};

// The model's own config.json, with the layer count it was cut to.
void write_config(const ModelConfig& model, const std::filesystem::path& dir) {
  nlohmann::json config = nlohmann::json::parse(read_input_file(model.source, "--model"));
  config[model.arch == Architecture::gpt2 ? "n_layer" : "num_hidden_layers"] = model.layers;
  // transformers 5 lists one type per layer: keep the first ones, as the layers are.
  if (config.contains("layer_types") && config["layer_types"].is_array() &&
      config["layer_types"].size() > static_cast<std::size_t>(model.layers))
    config["layer_types"].erase(config["layer_types"].begin() + model.layers, config["layer_types"].end());
  config["torch_dtype"] = "float32";
  if (config.contains("dtype")) config["dtype"] = "float32";  // transformers 5's name for it
  write_output_file((dir / "config.json").string(), "export-weights", config.dump(2) + "\n");
}

int run_export(const ExportOptions& o) {
  namespace fs = std::filesystem;
  ModelConfig model = load_model(o.model);
  if (!o.layers.empty()) model = with_layers(model, single_positive_int("--layers", o.layers));
  const std::uint64_t seed = parse_seed(o.seed);
  if (o.shards < 1 || o.shards > 1000) throw ConfigError(fmt::format("--shards: {} is not from 1 to 1000", o.shards));
  // The whole model in fp32 twice (generated, then laid out as the checkpoint's tensors).
  const double need = 2.0 * 4.0 * static_cast<double>(parameter_count(model));
  if (const std::size_t available = available_memory_bytes(); available > 0 && need > 0.9 * available)
    throw ConfigError(fmt::format("{}: exporting needs about {:.1f} GiB of host memory, {:.1f} GiB usable (--layers N "
                                  "exports fewer layers)",
                                  model.name, need / 1073741824.0, 0.9 * available / 1073741824.0));
  if (o.dir.empty()) throw ConfigError("export-weights: the directory is an empty name");
  check_export_directory(o.dir);
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec || !fs::is_directory(o.dir))
    throw ConfigError(fmt::format("export-weights {}: cannot create this directory: {}", o.dir,
                                  ec ? ec.message() : describe_file_kind(o.dir)));
  prepare_backend("cpu");
  auto backend = make_backend("cpu", 0, DType::f32);
  const std::vector<NamedTensor> tensors = export_weights(model, seed, *backend);
  write_safetensors(o.dir, tensors,
                    {{"format", "pt"}, {"llmthreads", tool_version()}, {"seed", std::to_string(seed)}}, o.shards);
  write_config(model, o.dir);
  std::size_t elements = 0;
  for (const NamedTensor& t : tensors) elements += t.values.size();
  fmt::print("{}: {} ({} layers, seed {}): {} tensors, {:.1f} M parameters, fp32, {} file(s)\n", o.dir, model.name,
             model.layers, seed, tensors.size(), elements / 1e6, o.shards);
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export-weights", "Write the weights llmthreads generates for a model and seed as a HuggingFace checkpoint "
                        "(config.json and fp32 safetensors), for transformers or `bench --weights`");
  cmd->add_option("dir", o->dir, "Directory to write")->required();
  cmd->add_option("--model,-m", o->model, "Model preset name or path to a config.json")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the weights, as given to bench")->capture_default_str();
  cmd->add_option("--layers", o->layers, "Only the first N layers");
  cmd->add_option("--shards", o->shards, "Files to split the tensors over (with model.safetensors.index.json)")
      ->capture_default_str();
  return [o] { return run_export(*o); };
}

}  // namespace llmt::cli
