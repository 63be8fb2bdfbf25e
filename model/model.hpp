// A model's shape, read from a HuggingFace config.json (Llama, Mistral, Qwen2/3, Mixtral, Qwen MoE, GPT-2)
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

// HuggingFace's rope_scaling (rope_type or the older type): how the rotary frequencies are
// scaled beyond the pre-training context (model/rope.hpp computes them as transformers does).
struct RopeScaling {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn
  double factor = 1.0;
  int original_max_positions = 0;                     // llama3, yarn
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  double beta_fast = 32.0, beta_slow = 1.0;           // yarn
  double attention_factor = 0.0;                      // yarn: 0 = derived from factor (and mscale)
  double mscale = 0.0, mscale_all_dim = 0.0;          // yarn (DeepSeek style)
  bool truncate = true;                               // yarn
};

// The MLP activation of GPT-2 models: activation_function gelu is the exact (erf) form,
// gelu_new / gelu_pytorch_tanh / gelu_fast the tanh approximation.
enum class GeluForm { tanh, erf };

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
  RopeScaling rope_scaling;
  GeluForm gelu = GeluForm::tanh;
  bool tied_embeddings = false;
  bool qkv_bias = false;     // Qwen2 (and GPT-2, whose every projection has a bias)
  bool out_bias = false;     // a bias on the attention output projection (Llama's attention_bias; GPT-2)
  bool mlp_bias = false;     // biases on gate, up and down (Llama's mlp_bias; GPT-2 has up and down)
  bool qk_norm = false;      // Qwen3: RMSNorm over each query and key head before RoPE
  int sliding_window = 0;    // 0: full causal attention
  // Mixture of experts (Mixtral, Qwen2-MoE, Qwen3-MoE): `experts` routed experts in each MoE
  // layer, each a SiLU-gated MLP of `moe_intermediate` columns; a token goes to
  // `experts_per_token` of them (model/routing.hpp). 0 experts: a dense model.
  int experts = 0;
  int experts_per_token = 0;
  int moe_intermediate = 0;     // Mixtral: intermediate_size; Qwen: moe_intermediate_size
  bool norm_topk_prob = true;   // renormalise the chosen experts' weights to sum to 1 (Mixtral: always)
  int decoder_sparse_step = 1;  // Qwen: layer l is MoE when (l + 1) % step == 0 and l is not in mlp_only_layers
  std::vector<int> mlp_only_layers;
  int shared_expert_intermediate = 0;  // Qwen2-MoE: a sigmoid-gated shared expert of this width (0: none)
  std::string torch_dtype;   // as published; the compute type is chosen by --dtype
  std::vector<std::string> notes;  // remarks on fields read (e.g. a rope_scaling that changes nothing here)

  int q_dim() const { return heads * head_dim; }
  bool moe() const { return experts > 0; }
  // Whether layer `l` routes to experts (otherwise its MLP is dense, `intermediate` wide).
  bool moe_layer(int l) const;
  int kv_dim() const { return kv_heads * head_dim; }
  bool gated_mlp() const { return arch == Architecture::llama; }
};

// Reads a config.json as transformers 5 does: a missing field takes its family's transformers
// default (model/family_defaults.hpp, docs/config-fields.md). Throws ModelError naming the file
// and the field on any problem, and on every field that would change the model's math in a way
// llmthreads does not implement (refused_math_fields lists them). A field the family does not
// have is ignored, as transformers ignores it, with a line in `notes` when it would have mattered.
ModelConfig load_model_file(const std::filesystem::path& path);
// Config fields that change the math in ways llmthreads refuses, each with an example of a
// refused value (a JSON object to merge into a valid Llama or GPT-2 config; it may set another
// model_type). tests/test_model.cpp
// walks this list: every one must be refused, naming the field.
struct RefusedMathField {
  std::string field;
  std::string example;
  bool gpt2 = false;  // the example applies to a GPT-2 config, else to a Llama-family one
};
std::vector<RefusedMathField> refused_math_fields();
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
