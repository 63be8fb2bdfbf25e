#include "model/family_defaults.hpp"

#include <algorithm>

namespace llmt {
namespace {

// Each value is the default of the transformers 5.25 config class (its dataclass field, or what
// its __post_init__ derives), checked by printing XConfig().to_dict() (docs/config-fields.md).
const FamilyDefaults kFamilies[] = {
    {.model_type = "llama", .config_class = "LlamaConfig", .norm_eps = 1e-6, .rope_theta = 10000.0,
     .kv_heads = 0, .head_dim = 0, .bias = AttentionBias::field, .mlp_bias = true},
    {.model_type = "mistral", .config_class = "MistralConfig", .norm_eps = 1e-6, .rope_theta = 10000.0,
     .kv_heads = 8, .head_dim = 0, .window = WindowRule::every_layer, .sliding_window = 4096},
    {.model_type = "mixtral", .config_class = "MixtralConfig", .norm_eps = 1e-5, .rope_theta = 1e6, .kv_heads = 8,
     .head_dim = 0, .window = WindowRule::every_layer, .sliding_window = 0, .experts_field = "num_local_experts",
     .experts_alias = "num_experts", .experts = 8, .experts_per_token = 2, .moe_intermediate = 0},
    {.model_type = "qwen2", .config_class = "Qwen2Config", .norm_eps = 1e-6, .rope_theta = 10000.0, .kv_heads = 32,
     .head_dim = 0, .window = WindowRule::from_max_window_layers, .use_sliding_window = false,
     .sliding_window = 4096, .max_window_layers = 28, .layer_types = true, .bias = AttentionBias::qkv_always},
    {.model_type = "qwen3", .config_class = "Qwen3Config", .norm_eps = 1e-6, .rope_theta = 10000.0, .kv_heads = 32,
     .head_dim = 128, .window = WindowRule::from_max_window_layers, .use_sliding_window = false,
     .sliding_window = 4096, .max_window_layers = 28, .layer_types = true, .bias = AttentionBias::field,
     .qk_norm = true},
    {.model_type = "qwen2_moe", .config_class = "Qwen2MoeConfig", .norm_eps = 1e-6, .rope_theta = 10000.0,
     .kv_heads = 16, .kv_heads_null_is_heads = false, .head_dim = 0, .window = WindowRule::qwen2_moe,
     .use_sliding_window = false, .sliding_window = 4096, .max_window_layers = 28, .layer_types = true,
     .bias = AttentionBias::qkv_bias_field, .experts_field = "num_experts", .experts = 60, .experts_per_token = 4,
     .moe_intermediate = 1408, .shared_expert_intermediate = 5632, .norm_topk_field = true,
     .norm_topk_prob = false, .sparse_layers = true},
    {.model_type = "qwen3_moe", .config_class = "Qwen3MoeConfig", .norm_eps = 1e-6, .rope_theta = 10000.0,
     .kv_heads = 4, .kv_heads_null_is_heads = false, .head_dim = 0, .window = WindowRule::every_layer_if_used,
     .use_sliding_window = false, .sliding_window = 4096, .bias = AttentionBias::field, .qk_norm = true,
     .experts_field = "num_local_experts", .experts_alias = "num_experts", .experts = 128, .experts_per_token = 8,
     .moe_intermediate = 768, .norm_topk_field = true, .norm_topk_prob = false, .sparse_layers = true},
    {.model_type = "gpt2", .config_class = "GPT2Config", .gpt2 = true, .norm_eps = 1e-5,
     .tie_word_embeddings = true},
};

}  // namespace

const FamilyDefaults* family_defaults(const std::string& model_type) {
  // A file without model_type has always read as Llama.
  const std::string type = model_type.empty() ? "llama" : model_type;
  for (const FamilyDefaults& f : kFamilies)
    if (type == f.model_type) return &f;
  return nullptr;
}

std::vector<std::string> supported_model_types() {
  std::vector<std::string> out;
  for (const FamilyDefaults& f : kFamilies) out.emplace_back(f.model_type);
  return out;
}

const std::vector<std::string>& family_specific_fields() {
  static const std::vector<std::string> fields = {
      "attention_bias", "mlp_bias", "qkv_bias", "sliding_window", "use_sliding_window", "max_window_layers",
      "layer_types", "num_local_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
      "shared_expert_intermediate_size", "norm_topk_prob", "decoder_sparse_step", "mlp_only_layers"};
  return fields;
}

bool family_reads(const FamilyDefaults& f, const std::string& field) {
  const bool moe = f.experts > 0;
  if (field == "attention_bias") return f.bias == AttentionBias::field;
  if (field == "mlp_bias") return f.mlp_bias;
  if (field == "qkv_bias") return f.bias == AttentionBias::qkv_bias_field;
  if (field == "sliding_window") return f.window != WindowRule::none;
  if (field == "use_sliding_window")
    return f.window != WindowRule::none && f.window != WindowRule::every_layer;
  if (field == "max_window_layers")
    return f.window == WindowRule::from_max_window_layers || f.window == WindowRule::qwen2_moe;
  if (field == "layer_types") return f.layer_types;
  if (field == "num_local_experts" || field == "num_experts")
    return moe && ((f.experts_field && field == f.experts_field) || (f.experts_alias && field == f.experts_alias));
  if (field == "num_experts_per_tok") return moe;
  if (field == "moe_intermediate_size") return moe && f.moe_intermediate > 0;
  if (field == "shared_expert_intermediate_size") return f.shared_expert_intermediate > 0;
  if (field == "norm_topk_prob") return f.norm_topk_field;
  if (field == "decoder_sparse_step" || field == "mlp_only_layers") return f.sparse_layers;
  return true;
}

std::vector<bool> windowed_layers(const FamilyDefaults& f, int layers, bool use_sliding_window,
                                  bool has_window, int max_window_layers) {
  std::vector<bool> out(static_cast<std::size_t>(std::max(layers, 0)), false);
  for (int i = 0; i < layers; ++i) {
    bool w = false;
    switch (f.window) {
      case WindowRule::none: w = false; break;
      case WindowRule::every_layer: w = has_window; break;
      case WindowRule::every_layer_if_used: w = use_sliding_window && has_window; break;
      // Qwen2Config / Qwen3Config: sliding_window is not None (after use_sliding_window) and i >= max_window_layers.
      case WindowRule::from_max_window_layers: w = use_sliding_window && has_window && i >= max_window_layers; break;
      // Qwen2MoeConfig: (i + 1) % 2 and i < max_window_layers and use_sliding_window (the size is not asked).
      case WindowRule::qwen2_moe: w = use_sliding_window && (i + 1) % 2 == 1 && i < max_window_layers; break;
    }
    out[static_cast<std::size_t>(i)] = w;
  }
  return out;
}

}  // namespace llmt
