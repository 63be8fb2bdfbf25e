#include "engine/fault_injection.hpp"

namespace llmt {
namespace {

// The rank's offset forgotten: its share read from the start, as rank 0's is.
Range from_start(Range r) { return Range{0, r.size()}; }

// Moving a stage's layers must not turn an MoE layer's weights into a dense layer's (the
// transformer would find none where it expects them): then the stage keeps its layers.
bool same_layer_kinds(const ModelConfig& m, Range from, Range to) {
  for (int i = 0; i < from.size(); ++i)
    if (m.moe_layer(from.begin + i) != m.moe_layer(to.begin + i)) return false;
  return true;
}

}  // namespace

ShardPlan weight_shard(const ModelConfig& model, const ShardPlan& shard, FaultInjection fault) {
  if (fault != FaultInjection::shard_offset) return shard;
  ShardPlan s = shard;
  if (shard.coords.tp > 0) {
    s.intermediate = from_start(s.intermediate);
    s.moe_intermediate = from_start(s.moe_intermediate);
    s.shared_intermediate = from_start(s.shared_intermediate);
  }
  if (shard.coords.pp > 0 && same_layer_kinds(model, shard.layers, from_start(shard.layers)))
    s.layers = from_start(s.layers);
  if (shard.layout.experts_split) s.experts = from_start(s.experts);
  return s;
}

int first_fed_sequence(const ShardPlan& shard, FaultInjection fault) {
  const bool moved = fault == FaultInjection::shard_offset && shard.coords.dp > 0 && !shard.ensemble;
  return moved ? 0 : shard.batch.begin;
}

}  // namespace llmt
