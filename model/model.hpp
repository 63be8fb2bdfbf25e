// A model's shape, read from a HuggingFace config.json (Llama/Mistral/Qwen2/Mixtral or GPT-2)
// or from a preset name under profiles/models/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace llmt {

enum class Architecture {
  llama,  // RMSNorm, RoPE, SiLU-gated MLP, grouped-query attention (Llama, Mistral, Qwen2, Mixtral)
  gpt2,   // LayerNorm with bias, learned positions, GELU MLP, biases everywhere
};

struct ModelConfig {
  std::string name;        // preset name or the file's stem
  std::string source;      // file it was read from
  std::string model_type;  // HF "model_type"
  Architecture arch = Architecture::llama;

  int hidden = 0;
  int intermediate = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int layers = 0;            // layers run (may be fewer than published, see --layers)
  int published_layers = 0;  // layers in the file
  int vocab = 0;
  int max_positions = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tied_embeddings = false;
  bool qkv_bias = false;     // Qwen2 (and GPT-2, whose every projection has a bias)
  int sliding_window = 0;    // 0: full causal attention
  int experts = 0;           // MoE experts per layer, 0 for dense models
  int experts_per_token = 0;
  std::string torch_dtype;   // as published; the compute type is chosen by --dtype
  std::vector<std::string> notes;  // fields read but not modelled (e.g. rope_scaling)

  int q_dim() const { return heads * head_dim; }
  int kv_dim() const { return kv_heads * head_dim; }
  bool gated_mlp() const { return arch == Architecture::llama; }
};

// Reads a config.json. Throws ModelError naming the file and the field on any problem.
ModelConfig load_model_file(const std::filesystem::path& path);
// `spec` is a preset name (see list_model_presets) or a path to a config.json.
ModelConfig load_model(const std::string& spec);
// Names of the presets found, sorted.
std::vector<std::string> list_model_presets();
// Directories searched for presets, in order.
// Where profiles of a kind ("models", "hardware") are looked up, in order: $env_var,
// profiles/<kind> beside the executable, ../share/llmthreads/<kind>, the source tree's profiles/<kind>.
std::vector<std::filesystem::path> profile_directories(const std::string& kind, const char* env_var);
std::vector<std::filesystem::path> preset_directories();
// Returns a copy that runs only the first `layers` layers. Throws ModelError when out of range.
ModelConfig with_layers(const ModelConfig& model, int layers);

// Parameter counts of the weight matrices (norms and biases excluded), for all layers in
// `model.layers`: per layer, embeddings and LM head (once when tied), and the total.
std::int64_t layer_parameter_count(const ModelConfig& model);
std::int64_t parameter_count(const ModelConfig& model);
// Parameters one token passes through (MoE: only the routed experts).
std::int64_t active_parameter_count(const ModelConfig& model);

}  // namespace llmt
