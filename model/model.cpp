#include "model/model.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "model/error.hpp"
#include "model/family_defaults.hpp"
#include "model/file_io.hpp"

namespace llmt {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// No integer field of a model exceeds this; the shape checks below bound the products.
constexpr long long kMaxField = 1LL << 30;
constexpr long long kMaxDim = 1LL << 24;       // hidden, MLP width, heads, vocabulary, positions, head_dim
constexpr long long kMaxLayers = 1LL << 20;    // layers
constexpr long long kMaxExperts = 1LL << 12;   // MoE experts per layer
constexpr double kMaxParameters = 1e15;        // far beyond any model, far below int64's range

// Reads typed fields from one config.json and turns every problem into a ModelError that
// names the file and the field.
class FieldReader {
 public:
  FieldReader(const json& doc, std::string file) : doc_(doc), file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw ModelError(fmt::format("{}: field '{}': {}", file_, field, problem));
  }

  bool has(const std::string& field) const { return doc_.contains(field) && !doc_.at(field).is_null(); }
  const std::string& file() const { return file_; }

  int positive_int(const std::string& field) const {
    if (!has(field)) fail(field, "missing (a positive integer is required)");
    return checked_int(field);
  }
  std::optional<int> optional_positive_int(const std::string& field) const {
    if (!has(field)) return std::nullopt;
    return checked_int(field);
  }
  std::optional<int> optional_nonnegative_int(const std::string& field) const {
    if (!has(field)) return std::nullopt;
    return checked_int(field, true);
  }
  double positive_number(const std::string& field, double fallback) const {
    if (!has(field)) return fallback;
    const json& v = doc_.at(field);
    if (!v.is_number()) fail(field, fmt::format("must be a number, got {}", v.dump()));
    const double d = v.get<double>();
    if (!(d > 0.0)) fail(field, fmt::format("must be positive, got {}", v.dump()));
    return d;
  }
  bool boolean(const std::string& field, bool fallback) const {
    if (!has(field)) return fallback;
    const json& v = doc_.at(field);
    if (!v.is_boolean()) fail(field, fmt::format("must be true or false, got {}", v.dump()));
    return v.get<bool>();
  }
  // A list of non-negative integers (layer indices); absent or null: empty.
  std::vector<int> int_list(const std::string& field) const {
    std::vector<int> out;
    if (!has(field)) return out;
    const json& v = doc_.at(field);
    if (!v.is_array()) fail(field, fmt::format("must be a list of layer indices, got {}", v.dump()));
    for (const json& item : v) {
      if (!item.is_number_integer() || item.get<long long>() < 0 || item.get<long long>() > kMaxField)
        fail(field, fmt::format("must be a list of layer indices, got {}", v.dump()));
      out.push_back(static_cast<int>(item.get<long long>()));
    }
    return out;
  }
  std::string string(const std::string& field, const std::string& fallback) const {
    if (!has(field)) return fallback;
    const json& v = doc_.at(field);
    if (!v.is_string()) fail(field, fmt::format("must be a string, got {}", v.dump()));
    return v.get<std::string>();
  }

 private:
  int checked_int(const std::string& field, bool zero_allowed = false) const {
    const json& v = doc_.at(field);
    const char* what = zero_allowed ? "a non-negative integer" : "a positive integer";
    if (!v.is_number_integer() && !v.is_number_unsigned())
      fail(field, fmt::format("must be {}, got {}", what, v.dump()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxField))
      fail(field, fmt::format("value {} is implausibly large (at most {})", v.dump(), kMaxField));
    const auto i = v.get<long long>();
    if (i < (zero_allowed ? 0 : 1)) fail(field, fmt::format("must be {}, got {}", what, i));
    if (i > kMaxField) fail(field, fmt::format("value {} is implausibly large (at most {})", i, kMaxField));
    return static_cast<int>(i);
  }

  const json& doc_;
  std::string file_;
};

// A config field that changes the math, what llmthreads implements of it, and an example of a
// value it refuses (merged into a valid config by tests/test_model.cpp).
struct MathField {
  Architecture arch;
  const char* field;
  const char* accepted;
  const char* refused_example;  // a JSON object
  bool (*accepts)(const json& doc);
};

bool absent_or(const json& doc, const char* field, const json& value) {
  return !doc.contains(field) || doc.at(field).is_null() || doc.at(field) == value;
}
bool absent_or_false(const json& doc, const char* field) { return absent_or(doc, field, false); }

const MathField kMathFields[] = {
    {Architecture::llama, "partial_rotary_factor", "1.0 (rotary embedding over the whole head)",
     R"({"partial_rotary_factor": 0.5})", [](const json& d) { return absent_or(d, "partial_rotary_factor", 1.0); }},
    {Architecture::llama, "attn_logit_softcapping", "absent (no soft-capping)", R"({"attn_logit_softcapping": 50.0})",
     [](const json& d) { return absent_or(d, "attn_logit_softcapping", nullptr); }},
    {Architecture::llama, "final_logit_softcapping", "absent (no soft-capping)", R"({"final_logit_softcapping": 30.0})",
     [](const json& d) { return absent_or(d, "final_logit_softcapping", nullptr); }},
    {Architecture::llama, "use_qk_norm", "false (per-head q/k norms come with model_type qwen3)", R"({"use_qk_norm": true})",
     [](const json& d) { return absent_or_false(d, "use_qk_norm") && absent_or_false(d, "qk_layernorm"); }},
    {Architecture::gpt2, "scale_attn_weights", "true", R"({"scale_attn_weights": false})",
     [](const json& d) { return absent_or(d, "scale_attn_weights", true); }},
    {Architecture::gpt2, "scale_attn_by_inverse_layer_idx", "false", R"({"scale_attn_by_inverse_layer_idx": true})",
     [](const json& d) { return absent_or_false(d, "scale_attn_by_inverse_layer_idx"); }},
};

void refuse_unimplemented_math(const FieldReader& f, const json& doc, Architecture arch) {
  for (const MathField& m : kMathFields)
    if (m.arch == arch && !m.accepts(doc))
      f.fail(m.field, fmt::format("{}: changes the model's math in a way llmthreads does not implement (accepted: {})",
                                  doc.contains(m.field) ? doc.at(m.field).dump() : std::string("this combination"),
                                  m.accepted));
}

// Two fields that say different things about one parameter: transformers 4 and 5 do not agree on
// which one wins, so the file is refused rather than read one way.
[[noreturn]] void disagree(const FieldReader& f, const std::string& a, const std::string& va, const std::string& b,
                           const std::string& vb) {
  throw ModelError(fmt::format("{}: fields '{}' ({}) and '{}' ({}) disagree; keep one of them", f.file(), a, va, b, vb));
}

// One rope dictionary: transformers 5's rope_parameters or 4.x's rope_scaling (same keys; the
// older one says `type`). Its rope_theta, if any, goes to `theta`.
RopeScaling read_rope_dict(const FieldReader& top, const json& doc, const char* key, int max_positions,
                           std::optional<double>& theta) {
  RopeScaling r;
  const json& rs = doc.at(key);
  if (!rs.is_object()) top.fail(key, fmt::format("must be an object, got {}", rs.dump()));
  if (rs.contains("full_attention") || rs.contains("sliding_attention"))
    top.fail(key, "rope parameters per layer type are not implemented (one set for every layer)");
  const FieldReader f(rs, fmt::format("{}: {}", top.file(), key));
  if (f.has("rope_theta")) theta = f.positive_number("rope_theta", 0.0);
  if (!absent_or(rs, "partial_rotary_factor", 1.0))
    f.fail("partial_rotary_factor", fmt::format("{}: a partial rotary embedding is not implemented (accepted: 1.0)",
                                                rs.at("partial_rotary_factor").dump()));
  r.type = f.string("rope_type", f.string("type", "default"));
  if (r.type == "default") return r;
  if (r.type != "linear" && r.type != "dynamic" && r.type != "llama3" && r.type != "yarn")
    f.fail("rope_type", fmt::format("'{}' is not implemented (default, linear, dynamic, llama3, yarn)", r.type));
  // transformers: original_max_position_embeddings defaults to max_position_embeddings (llama3, yarn).
  r.original_max_positions = f.optional_positive_int("original_max_position_embeddings").value_or(max_positions);
  if (r.type == "yarn" && !f.has("factor")) {
    r.factor = static_cast<double>(max_positions) / r.original_max_positions;
  } else {
    r.factor = f.positive_number("factor", 0.0);
    if (!(r.factor > 0)) f.fail("factor", "missing (a positive number is required)");
  }
  if (r.type == "llama3") {
    r.low_freq_factor = f.positive_number("low_freq_factor", 1.0);
    r.high_freq_factor = f.positive_number("high_freq_factor", 4.0);
    if (!(r.high_freq_factor > r.low_freq_factor))
      f.fail("high_freq_factor", fmt::format("must exceed low_freq_factor ({})", r.low_freq_factor));
  }
  if (r.type == "yarn") {
    r.beta_fast = f.positive_number("beta_fast", 32.0);
    r.beta_slow = f.positive_number("beta_slow", 1.0);
    r.attention_factor = f.positive_number("attention_factor", 0.0);
    r.mscale = f.positive_number("mscale", 0.0);
    r.mscale_all_dim = f.positive_number("mscale_all_dim", 0.0);
    r.truncate = f.boolean("truncate", true);
  }
  return r;
}

bool same_rope(const RopeScaling& a, const RopeScaling& b) {
  auto key = [](const RopeScaling& r) {
    return std::tie(r.type, r.factor, r.original_max_positions, r.low_freq_factor, r.high_freq_factor, r.beta_fast,
                    r.beta_slow, r.attention_factor, r.mscale, r.mscale_all_dim, r.truncate);
  };
  return key(a) == key(b);
}

// The rotary embedding as transformers 5 reads it: rope_parameters (or 4.x's rope_scaling, which
// transformers 5 takes in its place) holds the type and scaling; rope_theta comes from that
// dictionary, else the top-level rope_theta of 4.x, else the family's default_theta. Forms that
// are both present must agree.
void read_rope(const FieldReader& f, const json& doc, const FamilyDefaults& fam, ModelConfig& m) {
  std::optional<double> params_theta, legacy_theta, top_theta;
  std::optional<RopeScaling> params, legacy;
  if (f.has("rope_parameters")) params = read_rope_dict(f, doc, "rope_parameters", m.max_positions, params_theta);
  if (f.has("rope_scaling")) legacy = read_rope_dict(f, doc, "rope_scaling", m.max_positions, legacy_theta);
  if (f.has("rope_theta")) top_theta = f.positive_number("rope_theta", fam.rope_theta);
  if (params && legacy && !same_rope(*params, *legacy))
    disagree(f, "rope_scaling", doc.at("rope_scaling").dump(), "rope_parameters", doc.at("rope_parameters").dump());
  m.rope_scaling = legacy ? *legacy : params ? *params : RopeScaling{};
  const std::pair<const char*, std::optional<double>> thetas[] = {
      {"rope_scaling.rope_theta", legacy_theta}, {"rope_parameters.rope_theta", params_theta}, {"rope_theta", top_theta}};
  const std::pair<const char*, std::optional<double>>* first = nullptr;
  for (const auto& t : thetas) {
    if (!t.second) continue;
    if (!first) first = &t;
    else if (*t.second != *first->second)
      disagree(f, t.first, fmt::format("{}", *t.second), first->first, fmt::format("{}", *first->second));
  }
  m.rope_theta = first ? *first->second : fam.rope_theta;
}

GeluForm gelu_form(const FieldReader& f) {
  const std::string act = f.string("activation_function", "gelu_new");
  if (act == "gelu") return GeluForm::erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return GeluForm::tanh;
  f.fail("activation_function",
         fmt::format("'{}' is not supported (gelu: exact; gelu_new, gelu_pytorch_tanh, gelu_fast: tanh form)", act));
}

void read_gpt2(const FieldReader& f, const FamilyDefaults& fam, ModelConfig& m) {
  m.arch = Architecture::gpt2;
  m.hidden = f.positive_int("n_embd");
  m.heads = f.positive_int("n_head");
  m.kv_heads = m.heads;
  m.layers = f.positive_int("n_layer");
  m.vocab = f.positive_int("vocab_size");
  m.max_positions = f.positive_int("n_positions");
  m.intermediate = f.optional_positive_int("n_inner").value_or(4 * m.hidden);
  m.norm_eps = f.positive_number("layer_norm_epsilon", fam.norm_eps);
  m.tied_embeddings = f.boolean("tie_word_embeddings", fam.tie_word_embeddings);
  m.qkv_bias = true;
  m.out_bias = true;
  m.mlp_bias = true;
  if (m.hidden % m.heads != 0)
    f.fail("n_head", fmt::format("{} heads do not divide n_embd {}", m.heads, m.hidden));
  m.head_dim = m.hidden / m.heads;
  m.gelu = gelu_form(f);
}

// The routed experts, with the defaults of the family's class: Mixtral and Qwen3-MoE count them
// in num_local_experts (alias num_experts), Qwen2-MoE in num_experts; Mixtral sizes them by
// intermediate_size and always renormalises the chosen weights.
void read_experts(const FieldReader& f, const FamilyDefaults& fam, ModelConfig& m) {
  if (fam.experts == 0) return;
  const char* count_field = fam.experts_field;
  std::optional<int> count = f.optional_positive_int(fam.experts_field);
  if (fam.experts_alias) {
    const std::optional<int> alias = f.optional_positive_int(fam.experts_alias);
    if (alias && count && *alias != *count)
      disagree(f, fam.experts_field, std::to_string(*count), fam.experts_alias, std::to_string(*alias));
    if (alias && !count) count_field = fam.experts_alias;
    if (!count) count = alias;
  }
  m.experts = count.value_or(fam.experts);
  m.experts_per_token = f.optional_positive_int("num_experts_per_tok").value_or(fam.experts_per_token);
  if (m.experts_per_token > m.experts)
    f.fail("num_experts_per_tok", fmt::format("{} exceeds {} {}", m.experts_per_token, count_field, m.experts));
  m.moe_intermediate = fam.moe_intermediate == 0
                           ? m.intermediate
                           : f.optional_positive_int("moe_intermediate_size").value_or(fam.moe_intermediate);
  m.norm_topk_prob = fam.norm_topk_field ? f.boolean("norm_topk_prob", fam.norm_topk_prob) : true;
  if (fam.sparse_layers) {
    m.decoder_sparse_step = f.optional_positive_int("decoder_sparse_step").value_or(1);
    m.mlp_only_layers = f.int_list("mlp_only_layers");
  }
  // 0 is a shared expert of no width: it adds nothing, as in transformers.
  if (fam.shared_expert_intermediate > 0)
    m.shared_expert_intermediate =
        f.optional_nonnegative_int("shared_expert_intermediate_size").value_or(fam.shared_expert_intermediate);
}

// The sliding window: its size and which layers it covers, by the family's rule or an explicit
// layer_types. llmthreads windows every layer or none; anything between is refused by name.
void read_window(const FieldReader& f, const json& doc, const FamilyDefaults& fam, ModelConfig& m) {
  if (fam.window == WindowRule::none) return;
  const bool use = family_reads(fam, "use_sliding_window") ? f.boolean("use_sliding_window", fam.use_sliding_window)
                                                           : true;
  int window = 0;  // 0: null
  if (use) {
    if (!doc.contains("sliding_window")) window = fam.sliding_window;
    else if (!doc.at("sliding_window").is_null()) window = f.positive_int("sliding_window");
  }
  const int max_window_layers = family_reads(fam, "max_window_layers")
                                    ? f.optional_nonnegative_int("max_window_layers").value_or(fam.max_window_layers)
                                    : 0;
  std::vector<bool> windowed = windowed_layers(fam, m.layers, use, window > 0, max_window_layers);
  const char* decided_by = "max_window_layers";
  if (fam.layer_types && f.has("layer_types")) {
    decided_by = "layer_types";
    const json& types = doc.at("layer_types");
    if (!types.is_array() || types.size() != static_cast<std::size_t>(m.layers))
      f.fail("layer_types", fmt::format("must list one type for each of the {} layers", m.layers));
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] != "full_attention" && types[i] != "sliding_attention")
        f.fail("layer_types", fmt::format("{} is not implemented (full_attention, sliding_attention)", types[i].dump()));
      windowed[i] = types[i] == "sliding_attention";
    }
  }
  const auto count = std::count(windowed.begin(), windowed.end(), true);
  if (count == 0) return;
  if (window == 0)
    f.fail(decided_by, "names sliding layers but no window size is in use (sliding_window null, or "
                       "use_sliding_window false)");
  if (count != m.layers) {
    std::vector<int> which;
    for (int i = 0; i < m.layers; ++i)
      if (windowed[static_cast<std::size_t>(i)]) which.push_back(i);
    const std::string list = which.size() > 8 ? fmt::format("{} of the", which.size()) : fmt::format("{}", fmt::join(which, ", "));
    f.fail(decided_by, fmt::format("the window covers layers {} of {} only, as transformers' {} reads it; llmthreads "
                                   "windows every layer or none",
                                   list, m.layers, fam.config_class));
  }
  m.sliding_window = window;
}

// Fields another family reads but this one's class does not have: transformers keeps them as
// attributes its model never reads, so they change nothing here either; a note says so.
void note_ignored_fields(const json& doc, const FamilyDefaults& fam, ModelConfig& m) {
  for (const std::string& field : family_specific_fields()) {
    if (family_reads(fam, field) || !doc.contains(field)) continue;
    const json& v = doc.at(field);
    if (v.is_null() || v == false || v == 0 || (v.is_array() && v.empty())) continue;
    std::string shown = v.dump();
    if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
    m.notes.push_back(fmt::format("field '{}' ({}) ignored: transformers' {} has no such field and its model never "
                                  "reads it",
                                  field, shown, fam.config_class));
  }
}

void read_llama_family(const FieldReader& f, const json& doc, const FamilyDefaults& fam, ModelConfig& m) {
  m.arch = Architecture::llama;
  // Shape fields stay required (their class defaults are a 7B model's, never what a small file meant).
  m.hidden = f.positive_int("hidden_size");
  m.intermediate = f.positive_int("intermediate_size");
  m.heads = f.positive_int("num_attention_heads");
  if (doc.contains("num_key_value_heads") && doc.at("num_key_value_heads").is_null()) {
    if (!fam.kv_heads_null_is_heads)
      f.fail("num_key_value_heads", fmt::format("null: transformers' {} keeps None and cannot build the model",
                                                fam.config_class));
    m.kv_heads = m.heads;
  } else {
    m.kv_heads = f.optional_positive_int("num_key_value_heads").value_or(fam.kv_heads > 0 ? fam.kv_heads : m.heads);
  }
  m.layers = f.positive_int("num_hidden_layers");
  m.vocab = f.positive_int("vocab_size");
  m.max_positions = f.positive_int("max_position_embeddings");
  m.norm_eps = f.positive_number("rms_norm_eps", fam.norm_eps);
  m.tied_embeddings = f.boolean("tie_word_embeddings", fam.tie_word_embeddings);
  switch (fam.bias) {
    case AttentionBias::none: break;
    case AttentionBias::field: m.qkv_bias = m.out_bias = f.boolean("attention_bias", false); break;
    case AttentionBias::qkv_always: m.qkv_bias = true; break;
    case AttentionBias::qkv_bias_field: m.qkv_bias = f.boolean("qkv_bias", true); break;
  }
  m.mlp_bias = fam.mlp_bias && f.boolean("mlp_bias", false);
  m.qk_norm = fam.qk_norm;

  if (auto hd = f.optional_positive_int("head_dim")) {
    m.head_dim = *hd;
  } else if (fam.head_dim > 0) {
    m.head_dim = fam.head_dim;
  } else {
    if (m.hidden % m.heads != 0)
      f.fail("num_attention_heads",
             fmt::format("{} heads do not divide hidden_size {} (and no head_dim is given)", m.heads, m.hidden));
    m.head_dim = m.hidden / m.heads;
  }
  if (m.head_dim % 2 != 0)
    f.fail("head_dim", fmt::format("rotary embeddings need an even head dimension, got {}", m.head_dim));
  if (m.heads % m.kv_heads != 0)
    f.fail("num_key_value_heads",
           fmt::format("{} KV heads do not divide num_attention_heads {}", m.kv_heads, m.heads));

  read_window(f, doc, fam, m);
  read_experts(f, fam, m);
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu") f.fail("hidden_act", fmt::format("'{}' is not supported (silu)", act));
}

// Bounds on the shape so that every size the engine derives from it (per-rank element counts in
// int, parameter counts in int64) is representable: a file beyond them is rejected, naming the
// field, instead of wrapping around.
void check_shape(const FieldReader& f, const ModelConfig& m) {
  const bool gpt2 = m.arch == Architecture::gpt2;
  auto limit = [&](long long value, long long most, const char* field, const char* what) {
    if (value > most) f.fail(field, fmt::format("{} {} exceeds the most llmthreads models ({})", what, value, most));
  };
  limit(m.hidden, kMaxDim, gpt2 ? "n_embd" : "hidden_size", "hidden size");
  limit(m.intermediate, kMaxDim, gpt2 ? "n_inner" : "intermediate_size", "MLP width");
  limit(m.heads, kMaxDim, gpt2 ? "n_head" : "num_attention_heads", "attention heads");
  limit(m.vocab, kMaxDim, "vocab_size", "vocabulary size");
  limit(m.max_positions, kMaxDim, gpt2 ? "n_positions" : "max_position_embeddings", "positions");
  limit(m.layers, kMaxLayers, gpt2 ? "n_layer" : "num_hidden_layers", "layers");
  limit(m.head_dim, kMaxDim, "head_dim", "head dimension");
  limit(m.experts, kMaxExperts, m.model_type == "qwen2_moe" ? "num_experts" : "num_local_experts", "experts");
  limit(m.moe_intermediate, kMaxDim, "moe_intermediate_size", "expert MLP width");
  limit(m.shared_expert_intermediate, kMaxDim, "shared_expert_intermediate_size", "shared expert MLP width");
  // Query, key and value columns of one layer: (heads + 2 * kv_heads) * head_dim.
  const long long qkv = (static_cast<long long>(m.heads) + 2LL * m.kv_heads) * m.head_dim;
  limit(qkv, kMaxDim, gpt2 ? "n_head" : "head_dim", "(heads + 2 * KV heads) * head_dim =");
  // Parameters, in floating point so the check itself cannot overflow.
  const double h = m.hidden, q = static_cast<double>(m.heads) * m.head_dim,
               kv = static_cast<double>(m.kv_heads) * m.head_dim, inter = m.intermediate;
  const double mlp = (gpt2 ? 2.0 : 3.0) * h * inter;
  const double expert_mlp = 3.0 * h * (m.moe_intermediate + m.shared_expert_intermediate);
  const double per_layer = 2 * h * q + 2 * h * kv + mlp + (m.experts > 0 ? m.experts * (expert_mlp + h) : 0.0);
  const double total = per_layer * m.layers + 2.0 * m.vocab * h + static_cast<double>(m.max_positions) * h;
  if (total > kMaxParameters)
    f.fail(gpt2 ? "n_layer" : "num_hidden_layers",
           fmt::format("the shape has {:.3g} parameters, more than the {:.3g} llmthreads can count", total,
                       kMaxParameters));
}

fs::path executable_directory() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{} : exe.parent_path();
}

}  // namespace

std::vector<fs::path> profile_directories(const std::string& kind, const char* env_var) {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv(env_var)) dirs.emplace_back(env);
  const fs::path exe_dir = executable_directory();
  if (!exe_dir.empty()) {
    dirs.push_back(exe_dir / "profiles" / kind);
    dirs.push_back(exe_dir / ".." / "share" / "llmthreads" / kind);
  }
#ifdef LLMT_SOURCE_DIR
  dirs.push_back(fs::path(LLMT_SOURCE_DIR) / "profiles" / kind);
#endif
  return dirs;
}

std::vector<fs::path> preset_directories() { return profile_directories("models", "LLMT_PROFILE_DIR"); }

std::vector<std::string> list_model_presets() {
  std::set<std::string> names;
  for (const auto& dir : preset_directories()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".json") names.insert(entry.path().stem().string());
    }
  }
  return {names.begin(), names.end()};
}

namespace {

// A config.json is a few kilobytes; anything near this is not one.
constexpr std::size_t kMaxModelFileBytes = std::size_t{64} << 20;

// A model file found by name (a preset, a directory's config.json) that exists but is not a
// regular file is refused by name before anything opens it: a FIFO would block the read, a
// device would never end. `found_as`: how the path was found, for the message.
void refuse_non_regular(const fs::path& path, const std::string& found_as) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return;
  throw ModelError(fmt::format("{}: {}, not a model file ({})", path.string(), describe_file_kind(path), found_as));
}

}  // namespace

ModelConfig load_model_file(const fs::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ModelError(fmt::format("{}: is a directory, not a model file", file));
  // Opened without blocking and refused unless a regular file: a FIFO never hangs the load.
  std::string text;
  try {
    text = read_input_file(path, "model file", kMaxModelFileBytes);
  } catch (const ModelError&) {
    throw;
  } catch (const Error& e) {
    throw ModelError(e.what());
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(fmt::format("{}: not valid JSON: {}", file, e.what()));
  }
  if (!doc.is_object()) throw ModelError(fmt::format("{}: expected a JSON object at the top level", file));

  FieldReader f(doc, file);
  ModelConfig m;
  m.source = file;
  m.name = path.stem().string();
  if (m.name == "config") m.name = path.parent_path().filename().string();
  m.model_type = f.string("model_type", "");
  // transformers 5 writes `dtype`, 4.x `torch_dtype`.
  m.torch_dtype = f.string("torch_dtype", f.string("dtype", "float32"));

  const bool gpt2 = m.model_type == "gpt2" || (m.model_type.empty() && f.has("n_embd"));
  const FamilyDefaults* fam = family_defaults(gpt2 ? "gpt2" : m.model_type);
  if (!fam)
    f.fail("model_type", fmt::format("'{}' is not supported ({})", m.model_type,
                                     fmt::join(supported_model_types(), ", ")));
  if (fam->gpt2) {
    read_gpt2(f, *fam, m);
    refuse_unimplemented_math(f, doc, Architecture::gpt2);
  } else {
    read_llama_family(f, doc, *fam, m);
    refuse_unimplemented_math(f, doc, Architecture::llama);
    read_rope(f, doc, *fam, m);
  }
  note_ignored_fields(doc, *fam, m);
  check_shape(f, m);
  m.published_layers = m.layers;
  return m;
}

std::vector<RefusedMathField> refused_math_fields() {
  std::vector<RefusedMathField> out;
  for (const MathField& m : kMathFields) out.push_back({m.field, m.refused_example, m.arch == Architecture::gpt2});
  out.push_back({"rope_type", R"({"rope_scaling": {"rope_type": "longrope", "factor": 4.0}})", false});
  out.push_back({"activation_function", R"({"activation_function": "quick_gelu"})", true});
  out.push_back({"hidden_act", R"({"hidden_act": "gelu"})", false});
  // Windows over some layers only (the examples' models have 2 layers).
  out.push_back({"max_window_layers",
                 R"({"model_type": "qwen2", "sliding_window": 64, "use_sliding_window": true, "max_window_layers": 1})",
                 false});
  out.push_back({"layer_types", R"({"model_type": "qwen2", "sliding_window": 64, "use_sliding_window": true,
                 "layer_types": ["sliding_attention", "full_attention"]})",
                 false});
  out.push_back({"max_window_layers",
                 R"({"model_type": "qwen2_moe", "sliding_window": 64, "use_sliding_window": true, "max_window_layers": 2})",
                 false});
  out.push_back({"partial_rotary_factor", R"({"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}})",
                 false});
  out.push_back({"rope_parameters", R"({"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
                 "rope_scaling": {"rope_type": "linear", "factor": 2.0}})",
                 false});
  out.push_back({"rope_theta", R"({"rope_theta": 10000.0, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}})",
                 false});
  return out;
}

ModelConfig load_model(const std::string& spec) {
  if (spec.empty()) throw ModelError("--model: empty model name");
  const fs::path as_path(spec);
  const bool looks_like_path = spec.find('/') != std::string::npos || as_path.extension() == ".json";
  std::error_code ec;
  const bool exists = fs::exists(as_path, ec);
  if (looks_like_path || exists) {
    if (!exists) throw ModelError(fmt::format("{}: no such model file", spec));
    if (fs::is_directory(as_path, ec)) {
      const fs::path config = as_path / "config.json";
      if (!fs::exists(fs::symlink_status(config, ec)))
        throw ModelError(fmt::format("{}: a directory without a config.json", spec));
      refuse_non_regular(config, "the config.json of the directory --model names");
      return load_model_file(config);
    }
    if (!fs::is_regular_file(as_path, ec)) throw ModelError(fmt::format("{}: not a regular file", spec));
    return load_model_file(as_path);
  }
  for (const auto& dir : preset_directories()) {
    const fs::path candidate = dir / (spec + ".json");
    if (fs::exists(fs::symlink_status(candidate, ec))) {
      refuse_non_regular(candidate, fmt::format("the preset '{}' in {}", spec, dir.string()));
      ModelConfig m = load_model_file(candidate);
      m.name = spec;
      return m;
    }
  }
  const auto presets = list_model_presets();
  throw ModelError(fmt::format("unknown model '{}': not a file and not a preset (presets: {})", spec,
                               presets.empty() ? std::string("none found") : fmt::format("{}", fmt::join(presets, ", "))));
}

ModelConfig with_layers(const ModelConfig& model, int layers) {
  if (layers <= 0 || layers > model.published_layers)
    throw ModelError(fmt::format("--layers {}: {} has {} layers", layers, model.name, model.published_layers));
  ModelConfig m = model;
  m.layers = layers;
  return m;
}

bool ModelConfig::moe_layer(int l) const {
  if (experts == 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), l) != mlp_only_layers.end()) return false;
  return (l + 1) % decoder_sparse_step == 0;
}

namespace {
std::int64_t attention_parameters(const ModelConfig& m) {
  const std::int64_t h = m.hidden, q = m.q_dim(), kv = m.kv_dim();
  return h * q + 2 * h * kv + q * h;
}
// The MLP of layer `l`; `active`: only what one token passes through.
std::int64_t mlp_parameters(const ModelConfig& m, int l, bool active) {
  const std::int64_t h = m.hidden;
  if (!m.moe_layer(l)) return (m.gated_mlp() ? 3 : 2) * h * m.intermediate;
  const std::int64_t routed = active ? m.experts_per_token : m.experts;
  const std::int64_t shared = m.shared_expert_intermediate > 0 ? 3 * h * m.shared_expert_intermediate + h : 0;
  return routed * 3 * h * m.moe_intermediate + h * m.experts + shared;  // experts, router, shared expert and its gate
}
}  // namespace

std::int64_t layer_parameter_count(const ModelConfig& m) {
  std::int64_t total = 0;
  for (int l = 0; l < m.layers; ++l) total += attention_parameters(m) + mlp_parameters(m, l, false);
  return m.layers > 0 ? total / m.layers : 0;
}

namespace {
std::int64_t embedding_parameters(const ModelConfig& m) {
  const std::int64_t table = static_cast<std::int64_t>(m.vocab) * m.hidden;
  const std::int64_t positions =
      m.arch == Architecture::gpt2 ? static_cast<std::int64_t>(m.max_positions) * m.hidden : 0;
  return table * (m.tied_embeddings ? 1 : 2) + positions;
}
}  // namespace

std::int64_t parameter_count(const ModelConfig& m) {
  std::int64_t total = embedding_parameters(m);
  for (int l = 0; l < m.layers; ++l) total += attention_parameters(m) + mlp_parameters(m, l, false);
  return total;
}

std::int64_t active_parameter_count(const ModelConfig& m) {
  std::int64_t total = embedding_parameters(m);
  for (int l = 0; l < m.layers; ++l) total += attention_parameters(m) + mlp_parameters(m, l, true);
  return total;
}

}  // namespace llmt
