// Test seam: deliberate bugs in the configurations' forward pass (never in the streamed fp32
// reference), so that tests can show verification catches them (tests/test_fault_injection.cpp).
// Set only through ExecutionOptions::fault, which no command-line option reaches; off, it costs
// one comparison at set-up and one per reduction.
#pragma once

#include "engine/plan.hpp"
#include "model/model.hpp"

namespace llmt {

enum class FaultInjection {
  none,
  // A shard's offset forgotten (read from the start, as rank 0's): a tensor-parallel rank's MLP
  // columns, a pipeline stage's layers, an expert-parallel rank's experts (their weights; the
  // compute expects the right ones), and a data-parallel replica's sequences.
  shard_offset,
  dropped_all_reduce,  // the tensor-parallel sum after each rank's first layer's MLP is skipped
  swapped_rope,        // RoPE rotates with sin and cos swapped (every configuration, one rank too)
  wrong_expert,        // MoE routing replaces each token's first expert by the next one it did not pick
};

// The shard whose weights a rank builds: `shard` itself, or with shard_offset its ranges moved
// to start at 0 where that rank's place in the grid has a predecessor.
ShardPlan weight_shard(const ModelConfig& model, const ShardPlan& shard, FaultInjection fault);

// The global index of the replica's first sequence as the rank feeds it.
int first_fed_sequence(const ShardPlan& shard, FaultInjection fault);

}  // namespace llmt
