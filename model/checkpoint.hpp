// HuggingFace checkpoints: safetensors files (one, or sharded with model.safetensors.index.json)
// read through a memory map, so that a rank touches only the blocks of its own shard, and the
// map between llmthreads' logical weight tensors and the names and layouts transformers uses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace llmt {

// llmthreads' logical weight tensors. A matrix is [out, in] (torch.nn.Linear's layout); a
// vector (norm weight, bias) is [1, n].
enum class WeightRole {
  embed, positions, final_norm_w, final_norm_b, head,
  norm1_w, norm1_b, q, k, v, q_bias, k_bias, v_bias, out, out_bias,
  norm2_w, norm2_b, gate, up, up_bias, down, down_bias,
  gate_bias,  // Llama's mlp_bias
  q_norm, k_norm,  // Qwen3's per-head norms: [1, head_dim]
  // Mixture of experts: the router [experts, hidden]; one routed expert's gate, up ([width,
  // hidden]) and down ([hidden, width]); Qwen2-MoE's shared expert and its sigmoid gate [1, hidden].
  router, expert_gate, expert_up, expert_down, shared_gate, shared_up, shared_down, shared_expert_gate,
};

// Where a logical tensor lives in a checkpoint: the tensor's name (and the names it may have
// under another prefix), its full shape there, whether it is stored [in, out] (GPT-2's Conv1D),
// and where along the `out` dimension it starts inside a fused tensor (GPT-2's c_attn).
struct HfLocation {
  std::vector<std::string> names;  // the first is the canonical one
  std::vector<std::int64_t> shape;
  bool transposed = false;
  std::int64_t out_offset = 0;
};
// `expert`: which routed expert, for the expert_* roles (transformers stores one tensor each).
HfLocation hf_location(const ModelConfig& model, WeightRole role, int layer, int expert = 0);
// Element (row, col) of the logical tensor: its index in the checkpoint tensor at `where`.
std::int64_t hf_index(const HfLocation& where, std::int64_t row, std::int64_t col);

class Checkpoint {
 public:
  // `dir`: model.safetensors.index.json and its files, or every *.safetensors file there.
  // Throws ModelError naming the file on anything unreadable.
  static std::shared_ptr<const Checkpoint> open(const std::filesystem::path& dir);
  ~Checkpoint();

  // Block [row0, row0 + rows) x [col0, col0 + cols) of the logical tensor at `where`, as fp32,
  // row-major. Throws ModelError naming the file and tensor when it is absent or its shape is
  // not the one `where` expects.
  std::vector<float> read(const HfLocation& where, std::int64_t row0, std::int64_t col0, int rows, int cols) const;
  // Every weight `model` needs is present with the shape it needs; else ModelError naming the
  // first that is not. Called before anything runs.
  void check(const ModelConfig& model) const;
  const std::filesystem::path& directory() const { return dir_; }
  std::size_t tensor_count() const { return tensors_.size(); }

 private:
  struct File;
  struct Tensor {
    const File* file = nullptr;
    std::string dtype;  // F32, BF16, F16
    std::vector<std::int64_t> shape;
    const unsigned char* data = nullptr;
  };
  const Tensor& find(const HfLocation& where, std::string& name) const;
  const Tensor& usable(const HfLocation& where, std::string& name) const;

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, Tensor> tensors_;
};

// One tensor of a safetensors header: its dtype ("F32", "I32"...), shape and byte range in the data.
struct SafetensorsEntry {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};
// The start of a safetensors file: the header's 8-byte little-endian length, then the header
// (JSON: each tensor's entry and the metadata), padded so that the data after it is 8-byte aligned.
void write_safetensors_header(std::ostream& out, const std::map<std::string, SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata);

// An fp32 tensor to write.
struct NamedTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};
// Writes `tensors` as safetensors files in `dir`: one model.safetensors, or `shards` files
// model-0000k-of-0000n.safetensors and model.safetensors.index.json. Each file is replaced
// atomically, the index last; what an earlier export left there (its index, shards of another
// count) is removed after. Throws Error naming the file and the reason when it cannot.
void write_safetensors(const std::filesystem::path& dir, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, int shards = 1);

// export-weights DIR may be new, empty, or an earlier llmthreads export (only the files an export
// writes, one safetensors file saying llmthreads wrote it), which it replaces; anything else is
// a ConfigError naming what is in the way, so no one's other files are mixed with or removed by
// an export.
void check_export_directory(const std::filesystem::path& dir);

// Half-precision storage types to fp32, as the hardware rounds them (exact: fp32 holds both).
float bf16_to_float(std::uint16_t bits);
float fp16_to_float(std::uint16_t bits);

}  // namespace llmt
