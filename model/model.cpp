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
  const std::string act = f.string("activation_function", "gelu_new");
  if (act != "gelu_new" && act != "gelu")
    f.fail("activation_function", fmt::format("'{}' is not supported (gelu_new, gelu)", act));
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
  m.qkv_bias = m.model_type == "qwen2" || f.boolean("attention_bias", false);

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

  if (f.has("num_local_experts")) {
    m.experts = f.positive_int("num_local_experts");
    m.experts_per_token = f.positive_int("num_experts_per_tok");
    if (m.experts_per_token > m.experts)
      f.fail("num_experts_per_tok",
             fmt::format("{} exceeds num_local_experts {}", m.experts_per_token, m.experts));
  }
  if (f.has("rope_scaling")) m.notes.push_back("rope_scaling is read but not modelled");
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
  // Query, key and value columns of one layer: (heads + 2 * kv_heads) * head_dim.
  const long long qkv = (static_cast<long long>(m.heads) + 2LL * m.kv_heads) * m.head_dim;
  limit(qkv, kMaxDim, gpt2 ? "n_head" : "head_dim", "(heads + 2 * KV heads) * head_dim =");
  // Parameters, in floating point so the check itself cannot overflow.
  const double h = m.hidden, q = static_cast<double>(m.heads) * m.head_dim,
               kv = static_cast<double>(m.kv_heads) * m.head_dim, inter = m.intermediate;
  const double mlp = (gpt2 ? 2.0 : 3.0) * h * inter;
  const double per_layer = 2 * h * q + 2 * h * kv + (m.experts > 0 ? m.experts * (mlp + h) : mlp);
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
  } else if (m.model_type.empty() || m.model_type == "llama" || m.model_type == "mistral" ||
             m.model_type == "qwen2" || m.model_type == "mixtral") {
    read_llama_family(f, m);
  } else {
    f.fail("model_type", fmt::format("'{}' is not supported (llama, mistral, qwen2, mixtral, gpt2)",
                                     m.model_type));
  }
  check_shape(f, m);
  m.published_layers = m.layers;
  return m;
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

std::int64_t layer_parameter_count(const ModelConfig& m) {
  const std::int64_t h = m.hidden, q = m.q_dim(), kv = m.kv_dim(), inter = m.intermediate;
  const std::int64_t attention = h * q + 2 * h * kv + q * h;
  const std::int64_t mlp_one = (m.gated_mlp() ? 3 : 2) * h * inter;
  const std::int64_t router = m.experts > 0 ? h * m.experts : 0;
  return attention + (m.experts > 0 ? m.experts * mlp_one : mlp_one) + router;
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
  return layer_parameter_count(m) * m.layers + embedding_parameters(m);
}

std::int64_t active_parameter_count(const ModelConfig& m) {
  if (m.experts == 0) return parameter_count(m);
  const std::int64_t h = m.hidden, q = m.q_dim(), kv = m.kv_dim();
  const std::int64_t attention = h * q + 2 * h * kv + q * h;
  const std::int64_t per_layer = attention + m.experts_per_token * 3 * h * m.intermediate + h * m.experts;
  return per_layer * m.layers + embedding_parameters(m);
}

}  // namespace llmt
