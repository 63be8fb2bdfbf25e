// One rank's share of a transformer forward pass: its weight shard, KV cache and workspace,
// and the prefill and decode steps with the communication its place in the TP x PP x DP grid
// requires. Written once against the Backend and Communicator interfaces.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/communicator.hpp"
#include "engine/fault_injection.hpp"
#include "model/checkpoint.hpp"
#include "model/model.hpp"
#include "model/routing.hpp"
#include "engine/plan.hpp"
#include "engine/timeline.hpp"

namespace llmt {

// The rank's groups: tensor-parallel peers, its pipeline chain, its data-parallel peers.
struct RankComms {
  Communicator* world = nullptr;
  std::unique_ptr<Communicator> tp, pp, dp;
  // Collective over the world: every rank must call it.
  static RankComms split(Communicator& world, const ShardPlan& shard);
};

// Bytes a rank allocates, by kind; the transformer allocates exactly these sizes, so the
// prediction is checked against the allocator on every run.
struct MemoryPlan {
  std::size_t weights = 0;
  std::size_t kv_cache = 0;
  std::size_t activations = 0;
  std::size_t communication = 0;  // staging buffers of the parameter-server sync
  std::size_t total() const { return weights + kv_cache + activations + communication; }
};
MemoryPlan plan_rank_memory(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard, DType dtype);
// Run control: one float per rank, gathered to take measurement decisions together.
std::size_t run_control_bytes(const ConfigPoint& point);

// How a rank executes, beyond what the configuration point says.
struct ExpertChoices;    // engine/moe.hpp
struct RoutingAgreement;  // engine/moe.hpp

struct ExecutionOptions {
  std::uint64_t seed = 1234;  // token ids; weights use member_seed(seed, member)
  int member_offset = 0;      // added to the ensemble member (references of members > 0)
  int overlap_chunks = 4;     // row-parallel GEMM chunks in the overlap sync mode
  std::vector<double> ensemble_weights;  // mean merge: one weight per replica; empty = equal
  AttentionKernel attention = AttentionKernel::automatic;
  // Weights read from this HuggingFace checkpoint (--weights) instead of generated from the
  // seed; every rank reads only its shard. Ensemble members then all hold the same weights.
  std::shared_ptr<const Checkpoint> checkpoint;
  // How MoE layers route their tokens (--routing): the model's router, or a controlled law.
  RoutingMode routing;
  // Test seam: a deliberate bug (engine/fault_injection.hpp); no command-line option sets it.
  FaultInjection fault = FaultInjection::none;
  // MoE: the fp32 reference's experts for every token, taken instead of the router's top k
  // (teacher-forced routing, with_forced_routes); null: each rank routes by its own router.
  std::shared_ptr<const ExpertChoices> forced_routes;
};

// The GEMMs one rank issues per step, named by their phase (e.g. "attn/qkv", "head/gemm"):
// c[m, n] = a[m, k] * w[n, k]^T, m being the rows of the step (batch x new tokens).
struct GemmShape {
  std::string phase;
  int m = 0, n = 0, k = 0;
  double flops() const { return 2.0 * m * n * k; }
};
std::vector<GemmShape> gemm_shapes(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                   bool prefill);

// The attention calls one rank makes: one shape per distinct prefill micro-batch size, and
// the decode shapes (`past` = prompt: one shape serves every decode step).
std::vector<AttentionShape> attention_shapes(const ModelConfig& model, const ConfigPoint& point,
                                             const ShardPlan& shard);

// The work of one compute phase of one rank per iteration, for the speed-of-light floors
// (docs/metrics.md): calls, FLOPs and bytes read plus written, summed over the calls. Phase
// paths are the timeline's ("prefill/layer.3/attn/qkv").
struct PhaseWork {
  std::string phase;
  double calls = 0, flops = 0, bytes = 0;
  // Of `bytes`, those read from tensors read once per pass (weights, the KV cache), which a rank
  // whose weights exceed the caches cannot find there (docs/metrics.md, the cache rule).
  double cold_bytes = 0;
};
// `overlap_chunks`: ExecutionOptions::overlap_chunks (the overlap mode's GEMM chunks).
std::vector<PhaseWork> phase_work(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                                  DType dtype, int overlap_chunks = 4);

// Deterministic token ids: prompt token `pos` of global sequence `seq`, and the token fed at
// decode step k (position prompt + k - 1). Decoding is teacher-forced with these ids, so that
// every configuration computes the same sequence and can be compared logit for logit.
std::int32_t input_token(std::uint64_t seed, int seq, int pos, int vocab);

// One rank's weight shard. Read-only once built, so data-parallel replicas in one address
// space may share a single set (see RunOptions::replica_weights).
struct WeightSet;
// Allocates the shard on `backend` (charged to its memory tracker) and generates its values.
// The whole model's weights generated from `seed` (one rank, no parallelism), in the names and
// layouts of a HuggingFace checkpoint: `export-weights` writes them, so that transformers, or
// `bench --weights`, computes with exactly the weights llmthreads generates.
std::vector<NamedTensor> export_weights(const ModelConfig& model, std::uint64_t seed, Backend& backend);

std::shared_ptr<const WeightSet> build_weights(const ModelConfig& model, const ConfigPoint& point,
                                               const ShardPlan& shard, const ExecutionOptions& options,
                                               Backend& backend);

// One sequence's part of a ragged step (request-list workloads): `tokens` new positions of global
// sequence `sequence` from `first_position` (a whole prompt, a chunk of one, or one decode token),
// its keys and values in cache row `slot` of the rank's replica. `emits`: the step yields the
// logits of its last position (the sequence's next token).
struct StepPiece {
  int sequence = 0, slot = 0, first_position = 0, tokens = 1;
  bool emits = true;
};

class TransformerRank {
 public:
  TransformerRank(const ModelConfig& model, const ConfigPoint& point, const ShardPlan& shard,
                  const ExecutionOptions& options, std::shared_ptr<const WeightSet> weights, Backend& backend,
                  RankComms& comms, Timeline& timeline, PhaseTable& phases);
  ~TransformerRank();

  void prefill();
  void decode(int step);  // step in [1, gen)
  // Request-list workloads (ConfigPoint::traffic): one step over pieces of unequal sequences,
  // packed: GEMMs over their tokens only, attention per sequence. Every rank of the replica runs
  // the same steps. The output holds the emitting pieces' logits, in order, [emitted][vocab].
  void step(std::span<const StepPiece> pieces);
  // Prepares the attention kernels of a step's pieces without running it (set-up: cuDNN builds a
  // graph per new prefill shape), so that no timed step builds one.
  void prepare_step(std::span<const StepPiece> pieces);

  // Whether this rank ends every step holding the merged logits [batch, vocab].
  bool holds_output() const;
  const void* logits() const;
  // The attention kernel of each pass (prefill, decode) on this rank.
  std::vector<AttentionUse> attention_uses() const;
  // MoE: while on, the passes add the tokens each layer routes to each expert to expert_tokens()
  // ([local layer][expert]).
  void count_routing(bool on);
  std::vector<std::vector<long long>> expert_tokens() const;
  // The decode steps' share of expert_tokens() (the rest is the prefill's).
  const std::vector<std::vector<long long>>& expert_tokens_decode() const;
  // With forced routes, while count_routing is on: how often this rank's own choice agreed.
  const RoutingAgreement& routing_agreement() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmt
