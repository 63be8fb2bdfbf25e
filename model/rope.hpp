// Rotary embedding frequencies as HuggingFace transformers computes them
// (modeling_rope_utils.py: default, linear, dynamic, llama3, yarn), in double precision
// (transformers uses fp32: the two agree to fp32 rounding).
#pragma once

#include <vector>

#include "model/model.hpp"

namespace llmt {

struct RopeFrequencies {
  std::vector<double> inv_freq;   // one per rotated pair, head_dim / 2
  double attention_factor = 1.0;  // cos and sin are multiplied by it (yarn)
};

// For a forward pass whose largest position is seq_len - 1. Only `dynamic` depends on it, and
// only beyond max_position_embeddings, which llmthreads never runs (a longer context is refused).
RopeFrequencies rope_frequencies(const ModelConfig& model, int seq_len);

// cos and sin of every position below `context` and every rotated pair, attention factor
// applied, as the backends' rope kernels read them: [context][head_dim / 2] floats each.
struct RopeTables {
  std::vector<float> cos, sin;
};
RopeTables rope_tables(const ModelConfig& model, int context);

}  // namespace llmt
