// The model families llmthreads reads from config.json, each with the defaults of its
// HuggingFace transformers config class (transformers 5.25: LlamaConfig, MistralConfig,
// MixtralConfig, Qwen2Config, Qwen3Config, Qwen2MoeConfig, Qwen3MoeConfig, GPT2Config): a field a
// file leaves out takes the value transformers would give it, never one of llmthreads' own.
// docs/config-fields.md is this table in words; tests/test_model.cpp checks every default.
#pragma once

#include <string>
#include <vector>

namespace llmt {

// Which layers a family's sliding window covers, as its transformers config class and model decide.
enum class WindowRule {
  none,          // no window in the family (Llama, GPT-2): sliding_window is ignored
  every_layer,   // Mistral, Mixtral: every layer while sliding_window is not null
  every_layer_if_used,  // Qwen3-MoE: every layer while use_sliding_window
  from_max_window_layers,  // Qwen2, Qwen3: layer i >= max_window_layers while use_sliding_window
  qwen2_moe,     // Qwen2-MoE: layer i even and i < max_window_layers while use_sliding_window
};

// Where a family's attention projections have biases.
enum class AttentionBias {
  none,            // never (Mistral, Mixtral)
  field,           // attention_bias: q, k, v and o (Llama, Qwen3, Qwen3-MoE)
  qkv_always,      // q, k and v always, o never (Qwen2)
  qkv_bias_field,  // qkv_bias (default true): q, k and v; o never (Qwen2-MoE)
};

struct FamilyDefaults {
  const char* model_type;
  const char* config_class;  // transformers' class, for messages
  bool gpt2 = false;
  double norm_eps = 1e-6;    // rms_norm_eps (GPT-2: layer_norm_epsilon)
  double rope_theta = 10000.0;  // the class's default_theta
  int kv_heads = 0;          // num_key_value_heads when absent; 0: num_attention_heads
  bool kv_heads_null_is_heads = true;  // an explicit null means num_attention_heads (else refused)
  int head_dim = 0;          // head_dim when absent; 0: hidden_size / num_attention_heads
  bool tie_word_embeddings = false;
  WindowRule window = WindowRule::none;
  bool use_sliding_window = false;  // default of use_sliding_window, where the class has it
  int sliding_window = 0;           // default of sliding_window (0: null)
  int max_window_layers = 0;        // default of max_window_layers, where the class has it
  bool layer_types = false;         // the class reads layer_types (an explicit list overrides the rule)
  AttentionBias bias = AttentionBias::none;
  bool mlp_bias = false;            // the class has mlp_bias (gate, up and down biases)
  bool qk_norm = false;             // per-head RMSNorm of q and k (Qwen3)
  // Mixture of experts; experts == 0: a dense family.
  const char* experts_field = nullptr;  // the class's name for the expert count
  const char* experts_alias = nullptr;  // its attribute_map alias, also read
  int experts = 0, experts_per_token = 0;
  int moe_intermediate = 0;         // moe_intermediate_size when absent; 0: intermediate_size (Mixtral)
  int shared_expert_intermediate = 0;  // Qwen2-MoE's shared expert when absent
  bool norm_topk_field = false;     // the class has norm_topk_prob (else: always renormalised)
  bool norm_topk_prob = true;
  bool sparse_layers = false;       // decoder_sparse_step and mlp_only_layers
};

// The family of `model_type` ("" reads as llama), or nullptr when llmthreads does not support it.
const FamilyDefaults* family_defaults(const std::string& model_type);
// The supported model types, in table order.
std::vector<std::string> supported_model_types();

// Whether the family's config class has `field` among the fields some other family reads to
// change the math (biases, windows, experts). For these, a family without the field ignores it as
// transformers does (it is set as an attribute the model never reads); llmthreads says so in a note.
bool family_reads(const FamilyDefaults& family, const std::string& field);
// The fields family_reads is asked about.
const std::vector<std::string>& family_specific_fields();

// Which of `layers` layers the family's rule marks as sliding (before any explicit layer_types),
// given use_sliding_window, whether a window size is set (sliding_window not null after
// use_sliding_window is applied) and max_window_layers, as read.
std::vector<bool> windowed_layers(const FamilyDefaults& family, int layers, bool use_sliding_window,
                                  bool has_window, int max_window_layers);

}  // namespace llmt
