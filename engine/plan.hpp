// What one configuration is: the parallel layout (TP x PP x DP grid), the synchronisation and
// merge modes, the workload; and what each rank of it owns (its shard plan).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model.hpp"

namespace llmt {

enum class SyncMode { blocking, overlap, param_server };
enum class MergeMode { concat, sum, mean };

std::string_view sync_mode_name(SyncMode m);
std::string_view merge_mode_name(MergeMode m);
std::optional<SyncMode> parse_sync_mode(std::string_view s);
std::optional<MergeMode> parse_merge_mode(std::string_view s);
inline constexpr SyncMode kAllSyncModes[] = {SyncMode::blocking, SyncMode::overlap, SyncMode::param_server};
inline constexpr MergeMode kAllMergeModes[] = {MergeMode::concat, MergeMode::sum, MergeMode::mean};

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
  int ranks() const { return tp * pp * dp; }
  std::string label() const;  // "tp2.pp1.dp2"
  bool operator==(const Layout&) const = default;
};

// A rank's place in the grid. Tensor-parallel ranks are adjacent (innermost), then pipeline
// stages, then data-parallel replicas: world = dp * (pp * tp) + pp * tp + tp.
struct RankCoords {
  int tp = 0, pp = 0, dp = 0;
};
RankCoords coords_of(const Layout& layout, int world_rank);
int world_rank_of(const Layout& layout, const RankCoords& c);

struct Range {
  int begin = 0, end = 0;
  int size() const { return end - begin; }
  bool contains(int i) const { return i >= begin && i < end; }
  bool operator==(const Range&) const = default;
};
// Part `index` of [0, n) cut into `parts` contiguous pieces; the first n % parts get one more.
Range split_range(int n, int parts, int index);

// One point of a sweep.
struct ConfigPoint {
  std::string strategy;
  Layout layout;
  SyncMode sync = SyncMode::blocking;
  MergeMode merge = MergeMode::concat;
  Workload workload;
  // Stable key, used to match configurations across runs: "tp|tp4.pp1.dp1|blocking|concat|b4.p128.g16".
  std::string id() const;
};

// What one rank owns.
struct ShardPlan {
  Layout layout;
  RankCoords coords;
  int world_rank = 0;
  Range q_heads;       // query heads of this tensor-parallel rank
  Range kv_heads;      // KV heads it needs (replicated when tp exceeds the KV heads)
  Range intermediate;  // MLP columns
  Range vocab;         // rows of the vocabulary-parallel embedding and LM head
  Range batch;         // sequences of this data-parallel replica
  Range layers;        // layers of this pipeline stage
  bool first_stage() const { return coords.pp == 0; }
  bool last_stage() const { return coords.pp == layout.pp - 1; }
};
ShardPlan make_shard_plan(const ModelConfig& model, const Layout& layout, const Workload& w, int world_rank);

// Contiguous layer ranges for `stages` pipeline stages that minimise the costliest stage,
// counting the embedding on the first stage and the final norm and LM head on the last.
std::vector<Range> partition_layers(const ModelConfig& model, int stages);
// Estimated forward FLOPs per token, as used by the partitioner.
double layer_cost(const ModelConfig& model);
double embedding_cost(const ModelConfig& model);
double head_cost(const ModelConfig& model);

// Why this layout cannot run this model and workload, or nullopt when it can.
std::optional<std::string> layout_problem(const ModelConfig& model, const Layout& layout, const Workload& w);

}  // namespace llmt
