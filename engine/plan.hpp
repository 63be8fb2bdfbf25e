// What one configuration is: the parallel layout (TP x PP x DP grid), the synchronisation and
// merge modes, the workload; and what each rank of it owns (its shard plan).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.hpp"

namespace llmt {

enum class SyncMode { blocking, overlap, param_server };
enum class MergeMode { concat, sum, mean };
// How expert parallelism moves tokens to the ranks holding their experts and back: an
// all-to-all of each token's rows to its experts' owners (counts exchanged first), or an
// all-gather of every token to every rank and a reduce-scatter of the partial outputs.
enum class DispatchMode { alltoall, allgather };

std::string_view sync_mode_name(SyncMode m);
std::string_view merge_mode_name(MergeMode m);
std::optional<SyncMode> parse_sync_mode(std::string_view s);
std::optional<MergeMode> parse_merge_mode(std::string_view s);
inline constexpr SyncMode kAllSyncModes[] = {SyncMode::blocking, SyncMode::overlap, SyncMode::param_server};
inline constexpr MergeMode kAllMergeModes[] = {MergeMode::concat, MergeMode::sum, MergeMode::mean};
std::string_view dispatch_mode_name(DispatchMode m);
std::optional<DispatchMode> parse_dispatch_mode(std::string_view s);
inline constexpr DispatchMode kAllDispatchModes[] = {DispatchMode::alltoall, DispatchMode::allgather};

struct Workload {
  int batch = 1;   // sequences (requests)
  int prompt = 1;  // prompt tokens per sequence
  int gen = 1;     // generated tokens per sequence: the first comes from prefill, gen-1 decode steps
  int decode_steps() const { return gen - 1; }
  int context() const { return prompt + gen - 1; }  // positions fed through the model per sequence
  std::string label() const;                    // "b4.p128.g16"
  bool operator==(const Workload&) const = default;
};

struct Layout {
  int tp = 1, pp = 1, dp = 1;
  // Expert parallelism: the data-parallel ranks also split the experts of every MoE layer
  // between them (attention stays data-parallel), so the dp dimension is the EP group.
  bool experts_split = false;
  int ranks() const { return tp * pp * dp; }
  int ep() const { return experts_split ? dp : 1; }
  std::string label() const;  // "tp2.pp1.dp2", or "tp2.pp1.ep4" when the experts are split
  bool operator==(const Layout&) const = default;
};

// A rank's place in the grid. Tensor-parallel ranks are adjacent (innermost), then pipeline
// stages, then data-parallel replicas: world = dp * (pp * tp) + pp * tp + tp.
struct RankCoords {
  int tp = 0, pp = 0, dp = 0;
};
RankCoords coords_of(const Layout& layout, int world_rank);
int world_rank_of(const Layout& layout, const RankCoords& c);
// Which instance of a group ("tp", "pp" or "dp") the rank at `c` belongs to: the ranks of one
// instance share the coordinates outside the group's own dimension. Anything else: 0 (world).
int group_instance(const Layout& layout, const RankCoords& c, std::string_view group);

struct Range {
  int begin = 0, end = 0;
  int size() const { return end - begin; }
  bool contains(int i) const { return i >= begin && i < end; }
  bool operator==(const Range&) const = default;
};
// Part `index` of [0, n) cut into `parts` contiguous pieces; the first n % parts get one more.
Range split_range(int n, int parts, int index);

struct TrafficPlan;  // engine/traffic.hpp: a request-list workload, its batching and its balancing

// One point of a sweep.
struct ConfigPoint {
  std::string strategy;
  Layout layout;
  SyncMode sync = SyncMode::blocking;
  MergeMode merge = MergeMode::concat;
  Workload workload;
  int microbatches = 1;  // pipeline micro-batches per replica (1 without pipeline stages)
  DispatchMode dispatch = DispatchMode::alltoall;  // expert parallelism only
  int requested_ranks = 0;  // the sweep's rank count when the strategy has no grid for it
  // Set: the workload is a list of unequal requests run by a scheduler (engine/traffic.hpp), and
  // `workload` only sizes the buffers: batch = slots of every replica together, prompt = the
  // longest step a slot holds, gen = the longest output.
  std::shared_ptr<const TrafficPlan> traffic = nullptr;
  int ranks() const { return layout.ranks() > 0 ? layout.ranks() : requested_ranks; }
  // "tp4.pp1.dp1", "tp1.pp2.dp1.mb4" with pipeline stages, "tp2.pp1.ep4.alltoall" with experts split.
  std::string grid_label() const;
  // What the configuration serves, for grouping and reports: workload.label(), or a request
  // list's label and its slots per replica ("req48.1a2b3c4d.s16").
  std::string workload_label() const;
  // For tables: "tp tp2.pp1.dp1 blocking concat b4.p128.g16", a request list's label then its
  // batching and balancing ("... req48.1a2b3c4d.s16 continuous least-tokens").
  std::string short_name() const;
  // Stable key, used to match configurations across runs: "tp|tp4.pp1.dp1|blocking|concat|b4.p128.g16".
  std::string id() const;
  // What actually runs, without the strategy's name (two strategies can name the same execution).
  std::string execution_key() const;
  // Merge of the tensor-parallel partial logits and of the data-parallel replicas' outputs.
  bool tp_sum() const { return merge == MergeMode::sum && layout.tp > 1; }
  bool ensemble() const { return merge == MergeMode::mean && layout.dp > 1; }
};

// What one rank owns.
struct ShardPlan {
  Layout layout;
  bool ensemble = false;  // data-parallel replicas are ensemble members: whole batch, own weights
  RankCoords coords;
  int world_rank = 0;
  Range q_heads;       // query heads of this tensor-parallel rank
  Range kv_heads;      // KV heads it needs (replicated when tp exceeds the KV heads)
  Range intermediate;  // MLP columns
  Range moe_intermediate;  // columns of each expert (MoE)
  Range experts;       // experts this rank holds (MoE): all, or its block of the EP group
  Range shared_intermediate;  // columns of the shared expert (Qwen2-MoE)
  Range vocab;         // rows of the vocabulary-parallel embedding and LM head
  Range hidden;        // hidden columns of the LM head when TP partial logits are summed
  Range batch;         // sequences of this data-parallel replica
  Range layers;        // layers of this pipeline stage
  int microbatches = 1;
  int weight_member = 0;  // ensemble member whose weights this rank holds (0 unless ensemble)
  bool first_stage() const { return coords.pp == 0; }
  bool last_stage() const { return coords.pp == layout.pp - 1; }
};
ShardPlan make_shard_plan(const ModelConfig& model, const ConfigPoint& point, int world_rank);
// Micro-batch `index` of the replica's sequences, as offsets within the replica's batch.
Range microbatch_range(const ShardPlan& shard, int index);
// Seed of ensemble member `member`'s weights (member 0 uses the run's seed itself).
std::uint64_t member_seed(std::uint64_t seed, int member);

// Contiguous layer ranges for `stages` pipeline stages that minimise the costliest stage,
// counting the embedding on the first stage and the final norm and LM head on the last.
std::vector<Range> partition_layers(const ModelConfig& model, int stages);
// Estimated forward FLOPs per token, as used by the partitioner.
double layer_cost(const ModelConfig& model);
double embedding_cost(const ModelConfig& model);
double head_cost(const ModelConfig& model);

// Why this point's grid cannot run this model and workload, or nullopt when it can.
std::optional<std::string> layout_problem(const ModelConfig& model, const ConfigPoint& point);
// The textbook pipeline bubble (p - 1) / (m + p - 1).
double textbook_bubble_fraction(int stages, int microbatches);

}  // namespace llmt
