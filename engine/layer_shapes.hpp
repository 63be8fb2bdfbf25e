// Shapes shared by the transformer and its work model (engine/work_model.cpp): the GEMMs and
// attention calls one rank issues. Internal to the engine.
#pragma once

#include <vector>

#include "engine/backend.hpp"
#include "engine/transformer.hpp"
#include "engine/weights.hpp"

namespace llmt {

// The GEMMs of a step of `rows` token rows (the head's rows: the replica's sequences).
std::vector<GemmShape> local_gemm_shapes(const Dims& d, int rows, int vocab);
AttentionShape attention_shape(const Dims& d, int sequences, int new_tokens, int past);
// Whether the residual step and the next norm run as one fused call: always, except in the
// overlap mode, whose residual is added chunk by chunk as the background all-reduces finish.
bool fuses_residual_norm(const Dims& d);

}  // namespace llmt
