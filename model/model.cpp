#include "model/model.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "model/error.hpp"

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
  int checked_int(const std::string& field) const {
    const json& v = doc_.at(field);
    if (!v.is_number_integer() && !v.is_number_unsigned())
      fail(field, fmt::format("must be a positive integer, got {}", v.dump()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxField))
      fail(field, fmt::format("value {} is implausibly large (at most {})", v.dump(), kMaxField));
    const auto i = v.get<long long>();
    if (i <= 0) fail(field, fmt::format("must be a positive integer, got {}", i));
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

// Qwen2 windows only the layers from max_window_layers on; llmthreads windows every layer or none.
bool windows_every_layer_or_none(const json& doc) {
  const bool windowed = doc.contains("sliding_window") && !doc.at("sliding_window").is_null() &&
                        (!doc.contains("use_sliding_window") || doc.at("use_sliding_window") == true);
  return !windowed || absent_or(doc, "max_window_layers", 0);
}
bool one_layer_type(const json& doc) {
  if (!doc.contains("layer_types") || doc.at("layer_types").is_null()) return true;
  const json& types = doc.at("layer_types");
  if (!types.is_array() || types.empty()) return false;
  for (const json& t : types)
    if (t != types.front()) return false;
  const bool windowed = doc.contains("sliding_window") && !doc.at("sliding_window").is_null();
  return types.front() == (windowed ? "sliding_attention" : "full_attention");
}

const MathField kMathFields[] = {
    {Architecture::llama, "attention_bias", "false (Qwen2's q/k/v biases are built in; a bias on o_proj is not implemented)",
     R"({"attention_bias": true})",
     [](const json& d) { return d.value("model_type", "") == "qwen2" || absent_or_false(d, "attention_bias"); }},
    {Architecture::llama, "mlp_bias", "false", R"({"mlp_bias": true})",
     [](const json& d) { return absent_or_false(d, "mlp_bias"); }},
    {Architecture::llama, "partial_rotary_factor", "1.0 (rotary embedding over the whole head)",
     R"({"partial_rotary_factor": 0.5})", [](const json& d) { return absent_or(d, "partial_rotary_factor", 1.0); }},
    {Architecture::llama, "max_window_layers", "0 when the sliding window is used (every layer windowed, or none)",
     R"({"sliding_window": 64, "use_sliding_window": true, "max_window_layers": 2})", windows_every_layer_or_none},
    {Architecture::llama, "layer_types", "one kind for every layer, matching sliding_window",
     R"({"sliding_window": 64, "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]})",
     one_layer_type},
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

// rope_scaling (or transformers 5's rope_parameters): the type and its parameters, each checked.
RopeScaling read_rope_scaling(const FieldReader& top, const json& doc, int max_positions) {
  RopeScaling r;
  const char* key = doc.contains("rope_scaling") && !doc.at("rope_scaling").is_null() ? "rope_scaling"
                    : doc.contains("rope_parameters") && !doc.at("rope_parameters").is_null() ? "rope_parameters"
                                                                                                : nullptr;
  if (!key) return r;
  const json& rs = doc.at(key);
  if (!rs.is_object()) top.fail(key, fmt::format("must be an object, got {}", rs.dump()));
  const FieldReader f(rs, fmt::format("{}: {}", top.file(), key));
  r.type = f.string("rope_type", f.string("type", "default"));
  if (r.type == "default") return r;
  if (r.type != "linear" && r.type != "dynamic" && r.type != "llama3" && r.type != "yarn")
    f.fail("rope_type", fmt::format("'{}' is not implemented (default, linear, dynamic, llama3, yarn)", r.type));
  r.original_max_positions = f.optional_positive_int("original_max_position_embeddings").value_or(max_positions);
  if (r.type == "yarn" && !f.has("factor")) {
    r.factor = static_cast<double>(max_positions) / r.original_max_positions;
  } else {
    r.factor = f.positive_number("factor", 0.0);
    if (!(r.factor > 0)) f.fail("factor", "missing (a positive number is required)");
  }
  if (r.type == "llama3") {
    if (!f.has("original_max_position_embeddings")) f.fail("original_max_position_embeddings", "missing (llama3)");
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

GeluForm gelu_form(const FieldReader& f) {
  const std::string act = f.string("activation_function", "gelu_new");
  if (act == "gelu") return GeluForm::erf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return GeluForm::tanh;
  f.fail("activation_function",
         fmt::format("'{}' is not supported (gelu: exact; gelu_new, gelu_pytorch_tanh, gelu_fast: tanh form)", act));
}

void read_gpt2(const FieldReader& f, ModelConfig& m) {
  m.arch = Architecture::gpt2;
  m.hidden = f.positive_int("n_embd");
  m.heads = f.positive_int("n_head");
  m.kv_heads = m.heads;
  m.layers = f.positive_int("n_layer");
  m.vocab = f.positive_int("vocab_size");
  m.max_positions = f.positive_int("n_positions");
  m.intermediate = f.optional_positive_int("n_inner").value_or(4 * m.hidden);
  m.norm_eps = f.positive_number("layer_norm_epsilon", 1e-5);
  m.tied_embeddings = f.boolean("tie_word_embeddings", true);
  m.qkv_bias = true;
  if (m.hidden % m.heads != 0)
    f.fail("n_head", fmt::format("{} heads do not divide n_embd {}", m.heads, m.hidden));
  m.head_dim = m.hidden / m.heads;
  m.gelu = gelu_form(f);
}

// Mixtral names its experts num_local_experts and sizes them by intermediate_size; the Qwen MoE
// models say num_experts and moe_intermediate_size, and may keep some layers dense.
void read_experts(const FieldReader& f, ModelConfig& m) {
  const bool qwen = m.model_type == "qwen2_moe" || m.model_type == "qwen3_moe";
  const char* count = qwen ? "num_experts" : "num_local_experts";
  if (!f.has(count)) {
    if (qwen) f.fail(count, "missing (a positive integer is required)");
    return;
  }
  m.experts = f.positive_int(count);
  m.experts_per_token = f.positive_int("num_experts_per_tok");
  if (m.experts_per_token > m.experts)
    f.fail("num_experts_per_tok", fmt::format("{} exceeds {} {}", m.experts_per_token, count, m.experts));
  if (!qwen) {
    m.moe_intermediate = m.intermediate;
    return;
  }
  m.moe_intermediate = f.positive_int("moe_intermediate_size");
  m.norm_topk_prob = f.boolean("norm_topk_prob", false);
  m.decoder_sparse_step = f.optional_positive_int("decoder_sparse_step").value_or(1);
  m.mlp_only_layers = f.int_list("mlp_only_layers");
  if (m.model_type == "qwen2_moe")
    m.shared_expert_intermediate = f.optional_positive_int("shared_expert_intermediate_size").value_or(0);
}

void read_llama_family(const FieldReader& f, ModelConfig& m) {
  m.arch = Architecture::llama;
  m.hidden = f.positive_int("hidden_size");
  m.intermediate = f.positive_int("intermediate_size");
  m.heads = f.positive_int("num_attention_heads");
  m.kv_heads = f.optional_positive_int("num_key_value_heads").value_or(m.heads);
  m.layers = f.positive_int("num_hidden_layers");
  m.vocab = f.positive_int("vocab_size");
  m.max_positions = f.positive_int("max_position_embeddings");
  m.norm_eps = f.positive_number("rms_norm_eps", 1e-6);
  m.rope_theta = f.positive_number("rope_theta", 10000.0);
  m.tied_embeddings = f.boolean("tie_word_embeddings", false);
  m.qkv_bias = m.model_type == "qwen2" || m.model_type == "qwen2_moe" || f.boolean("attention_bias", false);
  m.qk_norm = m.model_type == "qwen3" || m.model_type == "qwen3_moe";

  if (auto hd = f.optional_positive_int("head_dim")) {
    m.head_dim = *hd;
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

  // Qwen2 publishes a window but disables it with use_sliding_window; Mistral uses it.
  if (f.has("sliding_window") && f.boolean("use_sliding_window", true))
    m.sliding_window = f.positive_int("sliding_window");

  read_experts(f, m);
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
  limit(m.experts, kMaxExperts, "num_local_experts", "experts");
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

ModelConfig load_model_file(const fs::path& path) {
  const std::string file = path.string();
  std::ifstream in(path);
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ModelError(fmt::format("{}: is a directory, not a model file", file));
  if (!in) throw ModelError(fmt::format("{}: cannot open the model file", file));
  json doc;
  try {
    doc = json::parse(in);
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
  m.torch_dtype = f.string("torch_dtype", "float32");

  const bool gpt2 = m.model_type == "gpt2" || (m.model_type.empty() && f.has("n_embd"));
  if (gpt2) {
    read_gpt2(f, m);
    refuse_unimplemented_math(f, doc, Architecture::gpt2);
  } else if (m.model_type.empty() || m.model_type == "llama" || m.model_type == "mistral" ||
             m.model_type == "qwen2" || m.model_type == "qwen3" || m.model_type == "mixtral" ||
             m.model_type == "qwen2_moe" || m.model_type == "qwen3_moe") {
    read_llama_family(f, m);
    refuse_unimplemented_math(f, doc, Architecture::llama);
    m.rope_scaling = read_rope_scaling(f, doc, m.max_positions);
  } else {
    f.fail("model_type", fmt::format("'{}' is not supported (llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, "
                                     "qwen3_moe, gpt2)",
                                     m.model_type));
  }
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
      if (!fs::is_regular_file(as_path / "config.json", ec))
        throw ModelError(fmt::format("{}: a directory without a config.json", spec));
      return load_model_file(as_path / "config.json");
    }
    if (!fs::is_regular_file(as_path, ec)) throw ModelError(fmt::format("{}: not a regular file", spec));
    return load_model_file(as_path);
  }
  for (const auto& dir : preset_directories()) {
    const fs::path candidate = dir / (spec + ".json");
    if (fs::exists(candidate, ec)) {
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
