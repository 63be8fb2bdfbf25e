#include "kernels/cuda/cudnn_attention.hpp"

#include <cudnn.h>
#include <fmt/format.h>

#include <cmath>
#include <cudnn_frontend.h>
#include <map>
#include <mutex>
#include <vector>

#include "model/error.hpp"
#include "kernels/cuda/cuda_common.hpp"

namespace llmt::cuda {
namespace {

namespace fe = cudnn_frontend;
using Graph = fe::graph::Graph;
using TensorAttr = fe::graph::Tensor_attributes;

enum Uid : std::int64_t { kQ = 1, kK, kV, kO, kSeqQ, kSeqKv };

// The SDPA graph of `s`: Q, K and V as strided views of the engine's buffers, fp32 softmax.
// `sm`: the target compute capability (0: the current device's). Nodes copy the graph's
// context when they are added, so it is set first.
std::shared_ptr<Graph> sdpa_graph(const SdpaSpec& s, int sm) {
  auto g = std::make_shared<Graph>();
  if (sm > 0) g->set_sm_version(sm);
  g->set_io_data_type(s.dtype == DType::bf16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const std::int64_t b = s.batch, hq = s.q_heads, hk = s.kv_heads, d = s.head_dim, sq = s.s_q, skv = s.s_kv;
  // Engine layout: Q inside the qkv rows, K and V in the cache; bare: contiguous [b, h, s, d].
  const std::int64_t row = s.q_row_stride(), head_cache = static_cast<std::int64_t>(s.max_len) * d;
  const std::vector<std::int64_t> q_stride = s.bare ? std::vector<std::int64_t>{hq * sq * d, sq * d, d, 1}
                                                    : std::vector<std::int64_t>{sq * row, d, row, 1};
  const std::vector<std::int64_t> kv_stride = s.bare ? std::vector<std::int64_t>{hk * skv * d, skv * d, d, 1}
                                                     : std::vector<std::int64_t>{hk * head_cache, head_cache, d, 1};
  const std::vector<std::int64_t> o_stride = s.bare ? q_stride : std::vector<std::int64_t>{sq * hq * d, d, hq * d, 1};
  auto q = g->tensor(TensorAttr().set_name("Q").set_uid(kQ).set_dim({b, hq, sq, d}).set_stride(q_stride));
  auto k = g->tensor(TensorAttr().set_name("K").set_uid(kK).set_dim({b, hk, skv, d}).set_stride(kv_stride));
  auto v = g->tensor(TensorAttr().set_name("V").set_uid(kV).set_dim({b, hk, skv, d}).set_stride(kv_stride));
  auto options = fe::graph::SDPA_attributes()
                     .set_name("attention")
                     .set_generate_stats(false)
                     .set_attn_scale(1.0f / std::sqrt(static_cast<float>(d)));
  if ((s.decode && !s.bare) || s.varlen) {
    auto lengths = [&](const char* name, Uid uid) {
      return g->tensor(TensorAttr().set_name(name).set_uid(uid).set_dim({b, 1, 1, 1}).set_stride({1, 1, 1, 1})
                           .set_data_type(fe::DataType_t::INT32));
    };
    options.set_padding_mask(true).set_seq_len_q(lengths("seq_len_q", kSeqQ)).set_seq_len_kv(lengths("seq_len_kv", kSeqKv));
    if (s.varlen) options.set_causal_mask(true);
  } else if (!s.decode && s.s_q < s.s_kv) {
    // A prefill chunk over cached tokens (chunked prefill): query i is position s_kv - s_q + i,
    // so the causal diagonal is aligned to the bottom right (cuDNN 9.6 and later).
    options.set_causal_mask_bottom_right(true);
  } else if (!s.decode) {
    options.set_causal_mask(true);
  }
  auto outputs = g->sdpa(q, k, v, options);
  outputs[0]->set_output(true).set_uid(kO).set_dim({b, hq, sq, d}).set_stride(o_stride);
  return g;
}

std::string message(const char* step, const fe::error_t& status) {
  return fmt::format("{}: {}", step, const_cast<fe::error_t&>(status).get_message());
}

void check_cudnn(cudnnStatus_t status, const char* expression) {
  if (status != CUDNN_STATUS_SUCCESS) throw Error(fmt::format("{}: {}", expression, cudnnGetErrorString(status)));
}

}  // namespace

SdpaSpec SdpaSpec::from(const AttentionShape& shape, DType dtype) {
  SdpaSpec s;
  s.dtype = dtype;
  s.batch = shape.batch;
  s.q_heads = shape.q_heads;
  s.kv_heads = shape.kv_heads;
  s.head_dim = shape.head_dim;
  s.max_len = shape.max_len;
  s.decode = shape.decode();
  s.s_q = shape.new_tokens;
  s.s_kv = s.decode ? shape.max_len : shape.past + shape.new_tokens;
  return s;
}

SdpaSpec SdpaSpec::bare_call(DType dtype, int batch, int q_heads, int kv_heads, int head_dim, int s_q, int s_kv) {
  SdpaSpec s;
  s.dtype = dtype;
  s.batch = batch;
  s.q_heads = q_heads;
  s.kv_heads = kv_heads;
  s.head_dim = head_dim;
  s.s_q = s_q;
  s.s_kv = s_kv;
  s.max_len = s_kv;
  s.decode = s_q == 1 && s_kv > 1;
  s.bare = true;
  return s;
}

SdpaSpec SdpaSpec::bare_varlen(DType dtype, int batch, int q_heads, int kv_heads, int head_dim, int longest) {
  SdpaSpec s = bare_call(dtype, batch, q_heads, kv_heads, head_dim, longest, longest);
  s.decode = false;
  s.varlen = true;
  return s;
}

std::string SdpaSpec::describe() const {
  return fmt::format("b={} hq={} hkv={} d={} s_q={} s_kv={} {}{}{} {}", batch, q_heads, kv_heads, head_dim, s_q, s_kv,
                     decode ? (bare ? "decode" : "decode (padding mask)")
                            : (s_q < s_kv ? "causal (bottom right)" : "causal"),
                     bare ? " bare" : "", varlen ? " varlen (padding mask)" : "", dtype_name(dtype));
}

std::string sdpa_unsupported(const AttentionShape& shape, DType dtype) {
  if (dtype == DType::f32) return "cuDNN SDPA needs fp16 or bf16 (fp32 run)";
  // A window binds once a query sees more keys than it: in decode, at the last step the cache holds.
  const int keys = shape.decode() ? shape.max_len : shape.past + shape.new_tokens;
  if (shape.window > 0 && shape.window < keys) return "sliding-window attention is served by the naive kernel";
  // A prefill over cached tokens (a chunk of a prompt) takes cuDNN's bottom-right causal mask,
  // which needs cuDNN 9.6 (earlier: s_q and s_kv multiples of 64).
  if (!shape.decode() && shape.past > 0 && cudnn_version() < 90600)
    return "a prefill over cached tokens needs cuDNN 9.6 (bottom-right causal mask); the naive kernel serves it";
  if (shape.q_heads % shape.kv_heads != 0) return "query heads are not a multiple of KV heads";
  return "";
}

std::string validate_sdpa(const SdpaSpec& spec, int sm) {
  try {
    auto graph = sdpa_graph(spec, sm);
    const fe::error_t status = graph->validate();
    return status.is_good() ? "" : message("validate", status);
  } catch (const std::exception& e) {
    return e.what();
  }
}

int cudnn_version() { return static_cast<int>(cudnnGetVersion()); }

struct CudnnAttention::Impl {
  struct Built {
    std::shared_ptr<Graph> graph;
    std::string refusal;  // non-empty: cuDNN cannot serve this spec
    std::unordered_map<std::int64_t, void*> pack;  // the variant pack, reused by every call
  };
  // Decode lengths for caches of one capacity: row i holds i + 1 for each of `batch` sequences,
  // so row 0 is every query length (1) and row `past` every key length of that step. Rows are
  // padded to 16 bytes, the alignment the graph declares for the length tensors.
  struct LengthTable {
    std::int32_t* data = nullptr;
    int row = 0;  // elements per row
  };
  int device = 0;
  cudnnHandle_t handle = nullptr;
  std::map<SdpaSpec::Key, Built> graphs;
  void* workspace = nullptr;
  std::int64_t workspace_bytes = 0;
  std::map<std::pair<int, int>, LengthTable> lengths;

  ~Impl() {
    (void)cudaSetDevice(device);
    graphs.clear();
    for (auto& [key, table] : lengths) (void)cudaFree(table.data);
    (void)cudaFree(workspace);
    if (handle) cudnnDestroy(handle);
  }

  std::string build(const SdpaSpec& spec, Graph& g) {
    if (const auto s = g.validate(); s.is_bad()) return message("validate", s);
    if (const auto s = g.build_operation_graph(handle); s.is_bad()) return message("build_operation_graph", s);
    if (const auto s = g.create_execution_plans({fe::HeurMode_t::A}); s.is_bad())
      return message("create_execution_plans", s);
    if (const auto s = g.check_support(handle); s.is_bad()) return message("check_support", s);
    if (const auto s = g.build_plans(handle); s.is_bad()) return message("build_plans", s);
    std::int64_t bytes = 0;
    if (const auto s = g.get_workspace_size(bytes); s.is_bad()) return message("get_workspace_size", s);
    grow_workspace(bytes);
    if (spec.decode && !spec.bare) length_table(spec.batch, spec.max_len);
    return "";
  }

  // Runs the prepared graph of `spec`; the lengths are bound where the graph has them.
  void execute(const SdpaSpec& spec, const void* q, const void* k, const void* v, void* o, const std::int32_t* seq_q,
               const std::int32_t* seq_kv, cudaStream_t stream) {
    const auto it = graphs.find(spec.key());
    if (it == graphs.end() || !it->second.graph)
      throw Error(fmt::format("cuDNN attention was not prepared for {}", spec.describe()));
    Built& built = it->second;
    check_cudnn(cudnnSetStream(handle, stream), "cudnnSetStream");
    built.pack[kQ] = const_cast<void*>(q);
    built.pack[kK] = const_cast<void*>(k);
    built.pack[kV] = const_cast<void*>(v);
    built.pack[kO] = o;
    if (built.pack.count(kSeqQ)) {
      built.pack[kSeqQ] = const_cast<std::int32_t*>(seq_q);
      built.pack[kSeqKv] = const_cast<std::int32_t*>(seq_kv);
    }
    const fe::error_t status = built.graph->execute(handle, built.pack, workspace);
    if (status.is_bad()) throw Error(message("cuDNN SDPA execute", status));
  }

  // Set-up only (never during a capture): nothing may still use the old workspace.
  void grow_workspace(std::int64_t bytes) {
    if (bytes <= workspace_bytes) return;
    LLMT_CUDA_CHECK(cudaDeviceSynchronize());
    LLMT_CUDA_CHECK(cudaFree(workspace));
    workspace = nullptr;
    workspace_bytes = 0;
    LLMT_CUDA_CHECK(cudaMalloc(&workspace, static_cast<std::size_t>(bytes)));
    workspace_bytes = bytes;
  }

  // Built during set-up (prepare); run() only looks it up.
  const LengthTable& length_table(int batch, int capacity) {
    LengthTable& table = lengths[{batch, capacity}];
    if (!table.data) {
      table.row = (batch + 3) / 4 * 4;
      std::vector<std::int32_t> host(static_cast<std::size_t>(table.row) * capacity, 1);
      for (int i = 0; i < capacity; ++i)
        for (int b = 0; b < batch; ++b) host[static_cast<std::size_t>(i) * table.row + b] = i + 1;
      LLMT_CUDA_CHECK(cudaMalloc(&table.data, host.size() * sizeof(std::int32_t)));
      LLMT_CUDA_CHECK(cudaMemcpy(table.data, host.data(), host.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice));
      LLMT_CUDA_CHECK(cudaDeviceSynchronize());  // complete before any stream reads it
    }
    return table;
  }
};

CudnnAttention::CudnnAttention(int device) : impl_(std::make_unique<Impl>()) { impl_->device = device; }
CudnnAttention::~CudnnAttention() = default;

std::string CudnnAttention::prepare(const SdpaSpec& spec) {
  Impl& m = *impl_;
  const SdpaSpec::Key key = spec.key();
  if (auto it = m.graphs.find(key); it != m.graphs.end()) return it->second.refusal;
  LLMT_CUDA_CHECK(cudaSetDevice(m.device));
  Impl::Built built;
  try {
    if (!m.handle) check_cudnn(cudnnCreate(&m.handle), "cudnnCreate");
    built.graph = sdpa_graph(spec, 0);
    built.refusal = m.build(spec, *built.graph);
  } catch (const std::exception& e) {
    built.refusal = e.what();
  }
  if (!built.refusal.empty()) built.graph.reset();
  for (std::int64_t uid : {kQ, kK, kV, kO}) built.pack[uid] = nullptr;
  if ((spec.decode && !spec.bare) || spec.varlen) built.pack[kSeqQ] = built.pack[kSeqKv] = nullptr;
  return m.graphs.emplace(key, std::move(built)).first->second.refusal;
}

void CudnnAttention::run(const SdpaSpec& spec, const void* q, const void* k, const void* v, void* o, int past,
                         cudaStream_t stream) {
  Impl& m = *impl_;
  if (spec.varlen) throw Error(fmt::format("cuDNN attention {} needs its lengths (run_varlen)", spec.describe()));
  const std::int32_t *seq_q = nullptr, *seq_kv = nullptr;
  if (spec.decode && !spec.bare) {
    if (past < 0 || past >= spec.max_len) throw Error(fmt::format("decode step past {} outside the cache", past));
    const auto table = m.lengths.find({spec.batch, spec.max_len});
    if (table == m.lengths.end()) throw Error("cuDNN decode lengths were not prepared");
    seq_q = table->second.data;
    seq_kv = table->second.data + static_cast<std::size_t>(past) * table->second.row;
  }
  m.execute(spec, q, k, v, o, seq_q, seq_kv, stream);
}

void CudnnAttention::run_varlen(const SdpaSpec& spec, const void* q, const void* k, const void* v, void* o,
                                const std::int32_t* seq_len_q, const std::int32_t* seq_len_kv, cudaStream_t stream) {
  if (!spec.varlen) throw Error(fmt::format("cuDNN attention {} takes no lengths (run)", spec.describe()));
  impl_->execute(spec, q, k, v, o, seq_len_q, seq_len_kv, stream);
}

}  // namespace llmt::cuda
