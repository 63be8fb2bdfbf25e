#include "model/checkpoint.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "model/file_io.hpp"

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

namespace {

// Bits per element of each safetensors dtype (the specification's list; sub-byte types included
// so that a checkpoint holding them is validated, not refused).
int dtype_bits(const std::string& dtype) {
  static const std::map<std::string, int> bits = {
      {"BOOL", 8},  {"U8", 8},       {"I8", 8},       {"F8_E5M2", 8},  {"F8_E4M3", 8}, {"F8_E8M0", 8},
      {"I16", 16},  {"U16", 16},     {"F16", 16},     {"BF16", 16},    {"I32", 32},    {"U32", 32},
      {"F32", 32},  {"F64", 64},     {"I64", 64},     {"U64", 64},     {"C64", 64},    {"F4", 4},
      {"F6_E2M3", 6}, {"F6_E3M2", 6}};
  const auto it = bits.find(dtype);
  return it == bits.end() ? 0 : it->second;
}

// The specification's header limit (the Rust crate's MAX_HEADER_SIZE): a length above it is a
// corrupt or hostile file, not a header to allocate.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

}  // namespace

// One memory-mapped safetensors file, its header validated as the safetensors specification
// (and its reference implementation) does: 8-byte little-endian length N <= 100 MB, N bytes of
// JSON starting with '{', each tensor's data_offsets exactly [begin, end] relative to the
// byte buffer after the header, sorted they tile the buffer from 0 without hole or overlap, each
// range is dtype x shape bytes, and the buffer ends where the file ends.
struct Checkpoint::File {
  fs::path path;
  const unsigned char* base = nullptr;
  std::size_t size = 0;
  std::size_t data_start = 0;
  json header;

  explicit File(fs::path p) : path(std::move(p)) {
    const int fd = open_regular_file(path, "--weights");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < 8) {
      ::close(fd);
      throw ModelError(fmt::format("{}: not a safetensors file (shorter than its 8-byte header length)", path.string()));
    }
    size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_error = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw ModelError(fmt::format("{}: cannot map: {}", path.string(), std::strerror(map_error)));
    base = static_cast<const unsigned char*>(map);
    try {
      read_header();
    } catch (...) {
      ::munmap(map, size);  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  void read_header() {
    std::uint64_t length = 0;
    std::memcpy(&length, base, 8);
    if (length > kMaxHeaderBytes)
      fail(fmt::format("header length {} exceeds the safetensors limit of {} bytes", length, kMaxHeaderBytes));
    if (length > size - 8) fail(fmt::format("header length {} exceeds the file ({} bytes)", length, size));
    data_start = 8 + static_cast<std::size_t>(length);
    if (length == 0 || base[8] != '{') fail("the header does not start with '{'");
    try {
      header = json::parse(reinterpret_cast<const char*>(base) + 8, reinterpret_cast<const char*>(base) + data_start);
    } catch (const json::exception& e) {
      fail(fmt::format("header is not valid JSON: {}", e.what()));
    }
    if (!header.is_object()) fail("header is not a JSON object");
  }
  ~File() {
    if (base) ::munmap(const_cast<unsigned char*>(base), size);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  [[noreturn]] void fail(const std::string& what) const {
    throw ModelError(fmt::format("{}: {}", path.string(), what));
  }

  // The tensors of the header, validated; every problem names the file, the tensor and the field.
  std::map<std::string, Tensor> tensors() const {
    std::map<std::string, Tensor> out;
    std::vector<std::pair<std::pair<std::uint64_t, std::uint64_t>, std::string>> ranges;
    for (const auto& [name, info] : header.items()) {
      if (name == "__metadata__") {
        if (!info.is_object()) fail("field '__metadata__' must be an object of strings");
        for (const auto& [key, value] : info.items())
          if (!value.is_string()) fail(fmt::format("field '__metadata__.{}' must be a string", key));
        continue;
      }
      const std::string at = fmt::format("tensor '{}'", name);
      if (!info.is_object()) fail(at + ": must be an object with dtype, shape and data_offsets");
      for (const char* field : {"dtype", "shape", "data_offsets"})
        if (!info.contains(field)) fail(fmt::format("{}: field '{}' missing", at, field));
      const json& dtype = info["dtype"];
      if (!dtype.is_string() || dtype_bits(dtype.get<std::string>()) == 0)
        fail(fmt::format("{}: field 'dtype' {} is not a safetensors dtype", at, dtype.dump()));
      Tensor t;
      t.file = this;
      t.dtype = dtype.get<std::string>();
      const json& shape = info["shape"];
      if (!shape.is_array()) fail(at + ": field 'shape' must be an array of integers >= 0");
      // Elements times bits, checked against overflow at every step.
      unsigned __int128 bits = static_cast<unsigned>(dtype_bits(t.dtype));
      for (const json& d : shape) {
        if (!d.is_number_unsigned() || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
          fail(fmt::format("{}: field 'shape' {} must hold integers >= 0", at, shape.dump()));
        t.shape.push_back(d.get<std::int64_t>());
        bits *= d.get<std::uint64_t>();
        if (bits > (static_cast<unsigned __int128>(size) << 3) && bits != 0)
          fail(fmt::format("{}: shape {} of {} is larger than the file", at, shape.dump(), t.dtype));
      }
      if (bits % 8 != 0) fail(fmt::format("{}: shape {} of {} is not a whole number of bytes", at, shape.dump(), t.dtype));
      const json& offsets = info["data_offsets"];
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned())
        fail(fmt::format("{}: field 'data_offsets' {} must be [begin, end], two integers >= 0", at, offsets.dump()));
      const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
      if (end < begin) fail(fmt::format("{}: field 'data_offsets' [{}, {}] decreases", at, begin, end));
      if (end - begin != static_cast<std::uint64_t>(bits / 8))
        fail(fmt::format("{}: field 'data_offsets' [{}, {}] holds {} bytes; dtype {} x shape {} needs {}", at, begin,
                         end, end - begin, t.dtype, shape.dump(), static_cast<std::uint64_t>(bits / 8)));
      if (end > size - data_start)
        fail(fmt::format("{}: field 'data_offsets' [{}, {}] lies beyond the file (its data holds {} bytes)", at, begin,
                         end, size - data_start));
      t.data = base + data_start + begin;
      ranges.push_back({{begin, end}, name});
      out.emplace(name, std::move(t));
    }
    // Sorted, the ranges must tile the data from its first byte to the end of the file.
    std::sort(ranges.begin(), ranges.end());
    std::uint64_t covered = 0;
    for (const auto& [range, name] : ranges) {
      if (range.first != covered)
        fail(fmt::format("tensor '{}': field 'data_offsets' [{}, {}] {} (the data must be covered from offset 0, "
                         "without holes or overlaps)", name, range.first, range.second,
                         range.first < covered ? fmt::format("overlaps the tensor before it, which ends at {}", covered)
                                               : fmt::format("leaves bytes [{}, {}) unused", covered, range.first)));
      covered = range.second;
    }
    if (covered != size - data_start)
      fail(fmt::format("the tensors cover {} bytes of data, the file holds {} after its header", covered,
                       size - data_start));
    return out;
  }
};

Checkpoint::~Checkpoint() = default;

namespace {

// model.safetensors.index.json: tensor name -> file name (a plain name in the directory).
std::map<std::string, std::string> read_weight_map(const fs::path& index) {
  json doc;
  try {
    doc = json::parse(read_input_file(index, "--weights index", kMaxHeaderBytes));
  } catch (const json::exception& e) {
    throw ModelError(fmt::format("{}: not valid JSON: {}", index.string(), e.what()));
  }
  if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
    throw ModelError(fmt::format("{}: field 'weight_map' missing or not an object", index.string()));
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : doc["weight_map"].items()) {
    if (!file.is_string()) throw ModelError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), name));
    const std::string f = file.get<std::string>();
    // A shard is a file of this directory: no path that leads out of it.
    if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos)
      throw ModelError(fmt::format("{}: weight_map['{}'] = '{}' is not a file name in {}", index.string(), name, f,
                                   index.parent_path().string()));
    map[name] = f;
  }
  if (map.empty()) throw ModelError(fmt::format("{}: field 'weight_map' names no tensor", index.string()));
  return map;
}

}  // namespace

std::shared_ptr<const Checkpoint> Checkpoint::open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    const std::string kind = describe_file_kind(dir);  // the OS reason when it cannot be reached
    throw ModelError(fmt::format("--weights {}: {}", dir.string(), kind.starts_with("is ") ? kind + ", not a directory" : kind));
  }
  std::set<fs::path> paths;
  const fs::path index = dir / "model.safetensors.index.json";
  const bool indexed = fs::exists(fs::symlink_status(index, ec));
  std::map<std::string, std::string> weight_map;
  if (indexed) {
    weight_map = read_weight_map(index);
    for (const auto& [name, file] : weight_map) paths.insert(dir / file);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") paths.insert(entry.path());
    if (ec) throw ModelError(fmt::format("--weights {}: cannot list: {}", dir.string(), ec.message()));
  }
  if (paths.empty()) throw ModelError(fmt::format("--weights {}: no *.safetensors file", dir.string()));
  auto ckpt = std::shared_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir_ = dir;
  for (const fs::path& p : paths) {
    ckpt->files_.push_back(std::make_unique<File>(p));
    for (auto& [name, t] : ckpt->files_.back()->tensors()) {
      const auto [it, fresh] = ckpt->tensors_.emplace(name, t);
      if (!fresh)
        throw ModelError(fmt::format("--weights {}: tensor '{}' is in both {} and {}; a checkpoint holds each tensor "
                                     "once", dir.string(), name, it->second.file->path.string(), p.string()));
    }
  }
  if (indexed) {
    // The index and the shards must agree both ways: the index is what transformers reads.
    for (const auto& [name, file] : weight_map) {
      const auto it = ckpt->tensors_.find(name);
      if (it == ckpt->tensors_.end() || it->second.file->path.filename() != file)
        throw ModelError(fmt::format("{}: weight_map['{}'] names {}, which does not hold it", index.string(), name, file));
    }
    for (const auto& [name, t] : ckpt->tensors_)
      if (!weight_map.count(name))
        throw ModelError(fmt::format("{}: tensor '{}' of {} is not in weight_map", index.string(), name,
                                     t.file->path.filename().string()));
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
  write_output_file(path.string(), "export-weights", [&](std::ostream& out) {
    write_safetensors_header(out, entries, metadata);
    for (const NamedTensor* t : tensors)
      out.write(reinterpret_cast<const char*>(t->values.data()), static_cast<std::streamsize>(t->values.size() * 4));
  });
}

// The file names an export writes: model.safetensors, or model-0000k-of-0000n.safetensors and
// the index.
bool export_file_name(const std::string& name) {
  if (name == "config.json" || name == "model.safetensors" || name == "model.safetensors.index.json") return true;
  unsigned k = 0, n = 0;
  char tail[16] = {};
  return std::sscanf(name.c_str(), "model-%5u-of-%5u.%15s", &k, &n, tail) == 3 && std::string(tail) == "safetensors" &&
         name.size() == std::string("model-00001-of-00001.safetensors").size();
}

// Whether the safetensors file at `path` was written by llmthreads (its __metadata__ says so).
bool written_by_llmthreads(const fs::path& path) {
  int fd = -1;
  try {
    fd = open_regular_file(path, "export-weights");
  } catch (const Error&) {
    return false;
  }
  std::uint64_t length = 0;
  std::string text;
  if (::pread(fd, &length, 8, 0) == 8 && length <= kMaxHeaderBytes) {
    text.resize(static_cast<std::size_t>(length));
    if (::pread(fd, text.data(), text.size(), 8) != static_cast<ssize_t>(text.size())) text.clear();
  }
  ::close(fd);
  const json header = json::parse(text, nullptr, false);
  return header.is_object() && header.contains("__metadata__") && header["__metadata__"].is_object() &&
         header["__metadata__"].contains("llmthreads");
}

}  // namespace

void check_export_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return;
  if (!fs::is_directory(dir, ec))
    throw ConfigError(fmt::format("export-weights {}: {}, not a directory", dir.string(), describe_file_kind(dir)));
  bool empty = true, ours = false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // FILE.tmp: what an interrupted export left; this one removes it.
    if (name.ends_with(".tmp") && export_file_name(name.substr(0, name.size() - 4))) continue;
    empty = false;
    if (!export_file_name(name))
      throw ConfigError(fmt::format("export-weights {}: holds {}, which an llmthreads export does not write; give an "
                                    "empty or new directory, or an earlier export", dir.string(), name));
    if (name.ends_with(".safetensors")) ours = ours || written_by_llmthreads(entry.path());
  }
  if (ec) throw ConfigError(fmt::format("export-weights {}: cannot list: {}", dir.string(), ec.message()));
  if (!empty && !ours)
    throw ConfigError(fmt::format("export-weights {}: not empty and not an earlier llmthreads export (no safetensors "
                                  "file there says llmthreads wrote it); give an empty or new directory",
                                  dir.string()));
}

void write_safetensors(const fs::path& dir, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, int shards) {
  shards = std::max(1, std::min<int>(shards, static_cast<int>(tensors.size())));
  std::set<std::string> written;
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (shards == 1) {
    std::vector<const NamedTensor*> all;
    for (const NamedTensor& t : tensors) all.push_back(&t);
    write_one(dir / "model.safetensors", all, metadata);
    written.insert("model.safetensors");
  } else {
    std::vector<std::vector<const NamedTensor*>> parts(static_cast<std::size_t>(shards));
    for (std::size_t i = 0; i < tensors.size(); ++i) parts[i * parts.size() / tensors.size()].push_back(&tensors[i]);
    json index = {{"metadata", metadata}, {"weight_map", json::object()}};
    for (std::size_t k = 0; k < parts.size(); ++k) {
      const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, parts.size());
      write_one(dir / file, parts[k], metadata);
      written.insert(file);
      for (const NamedTensor* t : parts[k]) index["weight_map"][t->name] = file;
    }
    // The index goes last: until it is renamed into place, a reader still sees the old export whole.
    write_output_file(index_path.string(), "export-weights", index.dump(2) + "\n");
    written.insert(index_path.filename().string());
  }
  // What an earlier export left (its index, shards of another count) would be read with the new
  // files: remove it, the index first.
  std::error_code ec;
  if (!written.count(index_path.filename().string()) && fs::exists(fs::symlink_status(index_path, ec)) &&
      !fs::remove(index_path, ec))
    throw Error(fmt::format("export-weights {}: cannot remove the earlier export's {}: {}", dir.string(),
                            index_path.filename().string(), ec.message()));
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool leftover = name.ends_with(".tmp") && export_file_name(name.substr(0, name.size() - 4));
    if ((name.ends_with(".safetensors") && export_file_name(name) && !written.count(name)) || leftover)
      stale.push_back(entry.path());
  }
  for (const fs::path& p : stale)
    if (!fs::remove(p, ec))
      throw Error(fmt::format("export-weights {}: cannot remove the earlier export's {}: {}", dir.string(),
                              p.filename().string(), ec.message()));
}

}  // namespace llmt
