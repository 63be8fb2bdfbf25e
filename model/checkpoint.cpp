#include "model/checkpoint.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "model/error.hpp"

namespace llmt {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Mixture-of-experts weights under the names of the hub's checkpoints, which transformers loads:
// Mixtral's block_sparse_moe with w1 (gate), w3 (up) and w2 (down) per expert; Qwen2-MoE's and
// Qwen3-MoE's mlp.gate (the router) and mlp.experts.E.{gate,up,down}_proj, and Qwen2-MoE's
// mlp.shared_expert with its mlp.shared_expert_gate.
HfLocation moe_location(const ModelConfig& m, WeightRole role, int layer, int expert) {
  const std::int64_t h = m.hidden, width = m.moe_intermediate, shared = m.shared_expert_intermediate;
  const bool mixtral = m.model_type == "mixtral";
  const std::string block = fmt::format("model.layers.{}.{}.", layer, mixtral ? "block_sparse_moe" : "mlp");
  const std::string E = fmt::format("{}experts.{}.", block, expert);
  switch (role) {
    case WeightRole::router: return {{block + "gate.weight"}, {m.experts, h}};
    case WeightRole::expert_gate: return {{E + (mixtral ? "w1.weight" : "gate_proj.weight")}, {width, h}};
    case WeightRole::expert_up: return {{E + (mixtral ? "w3.weight" : "up_proj.weight")}, {width, h}};
    case WeightRole::expert_down: return {{E + (mixtral ? "w2.weight" : "down_proj.weight")}, {h, width}};
    case WeightRole::shared_gate: return {{block + "shared_expert.gate_proj.weight"}, {shared, h}};
    case WeightRole::shared_up: return {{block + "shared_expert.up_proj.weight"}, {shared, h}};
    case WeightRole::shared_down: return {{block + "shared_expert.down_proj.weight"}, {h, shared}};
    case WeightRole::shared_expert_gate: return {{block + "shared_expert_gate.weight"}, {1, h}};
    default: break;
  }
  throw ModelError(fmt::format("{}: no mixture-of-experts weight of role {}", m.name, static_cast<int>(role)));
}

HfLocation llama_location(const ModelConfig& m, WeightRole role, int layer) {
  const std::int64_t h = m.hidden, q = m.q_dim(), kv = m.kv_dim(), inter = m.intermediate;
  const std::string L = fmt::format("model.layers.{}.", layer);
  switch (role) {
    case WeightRole::embed: return {{"model.embed_tokens.weight"}, {m.vocab, h}};
    case WeightRole::final_norm_w: return {{"model.norm.weight"}, {h}};
    case WeightRole::head: return {{"lm_head.weight"}, {m.vocab, h}};
    case WeightRole::norm1_w: return {{L + "input_layernorm.weight"}, {h}};
    case WeightRole::norm2_w: return {{L + "post_attention_layernorm.weight"}, {h}};
    case WeightRole::q: return {{L + "self_attn.q_proj.weight"}, {q, h}};
    case WeightRole::k: return {{L + "self_attn.k_proj.weight"}, {kv, h}};
    case WeightRole::v: return {{L + "self_attn.v_proj.weight"}, {kv, h}};
    case WeightRole::q_bias: return {{L + "self_attn.q_proj.bias"}, {q}};
    case WeightRole::k_bias: return {{L + "self_attn.k_proj.bias"}, {kv}};
    case WeightRole::v_bias: return {{L + "self_attn.v_proj.bias"}, {kv}};
    case WeightRole::out: return {{L + "self_attn.o_proj.weight"}, {h, q}};
    case WeightRole::out_bias: return {{L + "self_attn.o_proj.bias"}, {h}};
    case WeightRole::gate_bias: return {{L + "mlp.gate_proj.bias"}, {inter}};
    case WeightRole::up_bias: return {{L + "mlp.up_proj.bias"}, {inter}};
    case WeightRole::down_bias: return {{L + "mlp.down_proj.bias"}, {h}};
    case WeightRole::gate: return {{L + "mlp.gate_proj.weight"}, {inter, h}};
    case WeightRole::up: return {{L + "mlp.up_proj.weight"}, {inter, h}};
    case WeightRole::down: return {{L + "mlp.down_proj.weight"}, {h, inter}};
    case WeightRole::q_norm: return {{L + "self_attn.q_norm.weight"}, {m.head_dim}};
    case WeightRole::k_norm: return {{L + "self_attn.k_norm.weight"}, {m.head_dim}};
    default: break;
  }
  throw ModelError(fmt::format("{}: a Llama-family model has no weight of role {}", m.name, static_cast<int>(role)));
}

// GPT-2's Conv1D layers store [in, out]; c_attn fuses q, k and v along `out`. Saved either bare
// (the hub's gpt2) or under "transformer." (GPT2LMHeadModel.save_pretrained).
HfLocation gpt2_location(const ModelConfig& m, WeightRole role, int layer) {
  const std::int64_t h = m.hidden, inter = m.intermediate;
  const std::string L = fmt::format("h.{}.", layer);
  auto at = [](std::string name, std::vector<std::int64_t> shape, bool transposed = false, std::int64_t offset = 0) {
    return HfLocation{{name, "transformer." + name}, std::move(shape), transposed, offset};
  };
  switch (role) {
    case WeightRole::embed: return at("wte.weight", {m.vocab, h});
    case WeightRole::positions: return at("wpe.weight", {m.max_positions, h});
    case WeightRole::final_norm_w: return at("ln_f.weight", {h});
    case WeightRole::final_norm_b: return at("ln_f.bias", {h});
    case WeightRole::head: return {{"lm_head.weight"}, {m.vocab, h}};
    case WeightRole::norm1_w: return at(L + "ln_1.weight", {h});
    case WeightRole::norm1_b: return at(L + "ln_1.bias", {h});
    case WeightRole::norm2_w: return at(L + "ln_2.weight", {h});
    case WeightRole::norm2_b: return at(L + "ln_2.bias", {h});
    case WeightRole::q: return at(L + "attn.c_attn.weight", {h, 3 * h}, true, 0);
    case WeightRole::k: return at(L + "attn.c_attn.weight", {h, 3 * h}, true, h);
    case WeightRole::v: return at(L + "attn.c_attn.weight", {h, 3 * h}, true, 2 * h);
    case WeightRole::q_bias: return at(L + "attn.c_attn.bias", {3 * h}, false, 0);
    case WeightRole::k_bias: return at(L + "attn.c_attn.bias", {3 * h}, false, h);
    case WeightRole::v_bias: return at(L + "attn.c_attn.bias", {3 * h}, false, 2 * h);
    case WeightRole::out: return at(L + "attn.c_proj.weight", {h, h}, true);
    case WeightRole::out_bias: return at(L + "attn.c_proj.bias", {h});
    case WeightRole::up: return at(L + "mlp.c_fc.weight", {h, inter}, true);
    case WeightRole::up_bias: return at(L + "mlp.c_fc.bias", {inter});
    case WeightRole::down: return at(L + "mlp.c_proj.weight", {inter, h}, true);
    case WeightRole::down_bias: return at(L + "mlp.c_proj.bias", {h});
    default: break;
  }
  throw ModelError(fmt::format("{}: a GPT-2 model has no weight of role {}", m.name, static_cast<int>(role)));
}

std::size_t element_size(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

float element(const unsigned char* p, const std::string& dtype) {
  if (dtype == "F32") {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  std::uint16_t bits;
  std::memcpy(&bits, p, 2);
  return dtype == "BF16" ? bf16_to_float(bits) : fp16_to_float(bits);
}

}  // namespace

float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

float fp16_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  const float subnormal = static_cast<float>(mantissa) * 0x1p-24f;  // 2^-14 * mantissa / 2^10
  return (bits & 0x8000u) ? -subnormal : subnormal;
}

std::int64_t hf_index(const HfLocation& where, std::int64_t row, std::int64_t col) {
  if (where.shape.size() == 1) return where.out_offset + col;                             // a vector: [1, n]
  if (where.transposed) return col * where.shape[1] + where.out_offset + row;             // stored [in, out]
  return (where.out_offset + row) * where.shape[1] + col;                                 // stored [out, in]
}

HfLocation hf_location(const ModelConfig& model, WeightRole role, int layer, int expert) {
  if (role >= WeightRole::router) return moe_location(model, role, layer, expert);
  return model.arch == Architecture::gpt2 ? gpt2_location(model, role, layer) : llama_location(model, role, layer);
}

// One memory-mapped safetensors file.
struct Checkpoint::File {
  fs::path path;
  const unsigned char* base = nullptr;
  std::size_t size = 0;
  std::size_t data_start = 0;
  json header;

  explicit File(fs::path p) : path(std::move(p)) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ModelError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < 8) {
      ::close(fd);
      throw ModelError(fmt::format("{}: not a safetensors file (too short)", path.string()));
    }
    size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) throw ModelError(fmt::format("{}: cannot map: {}", path.string(), std::strerror(errno)));
    base = static_cast<const unsigned char*>(map);
    std::uint64_t length = 0;
    std::memcpy(&length, base, 8);
    if (length > size - 8) throw ModelError(fmt::format("{}: header length {} exceeds the file", path.string(), length));
    data_start = 8 + length;
    try {
      header = json::parse(reinterpret_cast<const char*>(base) + 8, reinterpret_cast<const char*>(base) + data_start);
    } catch (const json::exception& e) {
      throw ModelError(fmt::format("{}: header is not valid JSON: {}", path.string(), e.what()));
    }
    if (!header.is_object()) throw ModelError(fmt::format("{}: header is not a JSON object", path.string()));
  }
  ~File() {
    if (base) ::munmap(const_cast<unsigned char*>(base), size);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
};

Checkpoint::~Checkpoint() = default;

std::shared_ptr<const Checkpoint> Checkpoint::open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ModelError(fmt::format("--weights {}: not a directory", dir.string()));
  std::set<fs::path> paths;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    std::ifstream in(index);
    json doc;
    try {
      doc = json::parse(in);
    } catch (const json::exception& e) {
      throw ModelError(fmt::format("{}: not valid JSON: {}", index.string(), e.what()));
    }
    if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
      throw ModelError(fmt::format("{}: field 'weight_map' missing or not an object", index.string()));
    for (const auto& [name, file] : doc["weight_map"].items()) {
      if (!file.is_string()) throw ModelError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), name));
      paths.insert(dir / file.get<std::string>());
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") paths.insert(entry.path());
  }
  if (paths.empty()) throw ModelError(fmt::format("--weights {}: no *.safetensors file", dir.string()));
  auto ckpt = std::shared_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir_ = dir;
  for (const fs::path& p : paths) {
    ckpt->files_.push_back(std::make_unique<File>(p));
    const File& f = *ckpt->files_.back();
    for (const auto& [name, info] : f.header.items()) {
      if (name == "__metadata__") continue;
      Tensor t;
      t.file = &f;
      if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
        throw ModelError(fmt::format("{}: tensor '{}': dtype, shape or data_offsets missing", p.string(), name));
      t.dtype = info["dtype"].get<std::string>();
      t.shape = info["shape"].get<std::vector<std::int64_t>>();
      const auto begin = info["data_offsets"][0].get<std::uint64_t>(), end = info["data_offsets"][1].get<std::uint64_t>();
      std::uint64_t elements = 1;
      for (std::int64_t s : t.shape) elements *= static_cast<std::uint64_t>(std::max<std::int64_t>(s, 0));
      const bool known = t.dtype == "F32" || t.dtype == "BF16" || t.dtype == "F16";
      if (known && (end < begin || end - begin != elements * element_size(t.dtype) || f.data_start + end > f.size))
        throw ModelError(fmt::format("{}: tensor '{}': data_offsets [{}, {}] do not fit its shape or the file",
                                     p.string(), name, begin, end));
      t.data = f.base + f.data_start + begin;
      ckpt->tensors_[name] = t;  // unknown dtypes are refused when read
    }
  }
  return ckpt;
}

const Checkpoint::Tensor& Checkpoint::find(const HfLocation& where, std::string& name) const {
  for (const std::string& n : where.names)
    if (auto it = tensors_.find(n); it != tensors_.end()) {
      name = n;
      return it->second;
    }
  throw ModelError(fmt::format("--weights {}: tensor '{}' not found", dir_.string(), where.names.front()));
}

namespace {

// The weights a model of this architecture and config holds, as (role, layer).
// A model's weights as (role, layer, expert): expert is 0 for every role but the expert_* ones.
struct WeightId {
  WeightRole role;
  int layer = 0, expert = 0;
};

std::vector<WeightId> model_weights(const ModelConfig& m) {
  using R = WeightRole;
  const bool gpt2 = m.arch == Architecture::gpt2;
  std::vector<WeightId> out = {{R::embed}, {R::final_norm_w}};
  if (gpt2) out.insert(out.end(), {{R::positions}, {R::final_norm_b}});
  if (!m.tied_embeddings) out.push_back({R::head});
  const auto add = [&](std::initializer_list<R> roles, int l) {
    for (R r : roles) out.push_back({r, l});
  };
  for (int l = 0; l < m.layers; ++l) {
    add({R::norm1_w, R::norm2_w, R::q, R::k, R::v, R::out}, l);
    if (m.moe_layer(l)) {
      add({R::router}, l);
      for (int e = 0; e < m.experts; ++e)
        for (R r : {R::expert_gate, R::expert_up, R::expert_down}) out.push_back({r, l, e});
      if (m.shared_expert_intermediate > 0) add({R::shared_gate, R::shared_up, R::shared_down, R::shared_expert_gate}, l);
    } else {
      add({R::up, R::down}, l);
      if (!gpt2) add({R::gate}, l);
      if (!gpt2 && m.mlp_bias) add({R::gate_bias, R::up_bias, R::down_bias}, l);
    }
    if (m.qkv_bias) add({R::q_bias, R::k_bias, R::v_bias}, l);
    if (m.qk_norm) add({R::q_norm, R::k_norm}, l);
    if (gpt2) add({R::norm1_b, R::norm2_b, R::out_bias, R::up_bias, R::down_bias}, l);
    if (!gpt2 && m.out_bias) add({R::out_bias}, l);
  }
  return out;
}

}  // namespace

// The tensor at `where`, its shape the one `where` expects and its dtype one llmthreads reads.
const Checkpoint::Tensor& Checkpoint::usable(const HfLocation& where, std::string& name) const {
  const Tensor& t = find(where, name);
  if (t.shape != where.shape)
    throw ModelError(fmt::format("{}: tensor '{}' has shape [{}], this config needs [{}]", t.file->path.string(), name,
                                 fmt::join(t.shape, ", "), fmt::join(where.shape, ", ")));
  if (t.dtype != "F32" && t.dtype != "BF16" && t.dtype != "F16")
    throw ModelError(fmt::format("{}: tensor '{}': dtype {} is not supported (F32, BF16, F16)", t.file->path.string(),
                                 name, t.dtype));
  return t;
}

void Checkpoint::check(const ModelConfig& model) const {
  std::string name;
  for (const WeightId& w : model_weights(model)) usable(hf_location(model, w.role, w.layer, w.expert), name);
}

std::vector<float> Checkpoint::read(const HfLocation& where, std::int64_t row0, std::int64_t col0, int rows,
                                    int cols) const {
  std::string name;
  const Tensor& t = usable(where, name);
  const std::size_t es = element_size(t.dtype);
  std::vector<float> out(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
  // Stored [out, in] (or a vector), a row of the block is contiguous in the file; [in, out] it is strided.
  const std::int64_t step = where.transposed && where.shape.size() == 2 ? where.shape[1] : 1;
  for (int r = 0; r < rows; ++r) {
    const unsigned char* p = t.data + static_cast<std::size_t>(hf_index(where, row0 + r, col0)) * es;
    float* o = out.data() + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c, p += step * es) o[c] = element(p, t.dtype);
  }
  return out;
}

void write_safetensors_header(std::ostream& out, const std::map<std::string, SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  for (const auto& [name, t] : tensors)
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t length = text.size();
  out.write(reinterpret_cast<const char*>(&length), sizeof(length));
  out << text;
}

namespace {

void write_one(const fs::path& path, const std::vector<const NamedTensor*>& tensors,
               const std::map<std::string, std::string>& metadata) {
  std::map<std::string, SafetensorsEntry> entries;
  std::uint64_t offset = 0;
  for (const NamedTensor* t : tensors) {
    const std::uint64_t bytes = t->values.size() * sizeof(float);
    entries[t->name] = {"F32", t->shape, offset, offset + bytes};
    offset += bytes;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  write_safetensors_header(out, entries, metadata);
  for (const NamedTensor* t : tensors)
    out.write(reinterpret_cast<const char*>(t->values.data()), static_cast<std::streamsize>(t->values.size() * 4));
  if (!out) throw Error(fmt::format("{}: cannot write", path.string()));
}

}  // namespace

void write_safetensors(const fs::path& dir, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, int shards) {
  shards = std::max(1, std::min<int>(shards, static_cast<int>(tensors.size())));
  if (shards == 1) {
    std::vector<const NamedTensor*> all;
    for (const NamedTensor& t : tensors) all.push_back(&t);
    write_one(dir / "model.safetensors", all, metadata);
    return;
  }
  std::vector<std::vector<const NamedTensor*>> parts(static_cast<std::size_t>(shards));
  for (std::size_t i = 0; i < tensors.size(); ++i) parts[i * parts.size() / tensors.size()].push_back(&tensors[i]);
  json index = {{"metadata", metadata}, {"weight_map", json::object()}};
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, parts.size());
    write_one(dir / file, parts[k], metadata);
    for (const NamedTensor* t : parts[k]) index["weight_map"][t->name] = file;
  }
  std::ofstream(dir / "model.safetensors.index.json") << index.dump(2) << "\n";
}

}  // namespace llmt
