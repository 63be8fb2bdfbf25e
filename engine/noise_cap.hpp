// The largest noise floor a correct one-rank run may have: a forward-error bound that depends
// only on the dtype, the model's depth and its reduction lengths, never on a measurement. It
// anchors verification: a bug shared by every configuration (the one-rank run included) inflates
// the measured floor past it instead of loosening the tolerance (docs/metrics.md, "Verification").
#pragma once

#include "model/dtype.hpp"
#include "model/model.hpp"

namespace llmt {

struct NoiseFloorCap {
  double unit = 0;        // u, the dtype's unit roundoff: fp32 2^-24, fp16 2^-11, bf16 2^-8
  int reductions = 0;     // n, the reductions (GEMMs, attention's two) on one logit's path
  double path_error = 0;  // E = sqrt(sum over them of (2u + sqrt(K) u_fp32)^2)
  double constant = 0;    // c, calibrated on the test models and presets
  double value() const { return constant * path_error; }
};

// cap = c * E. Each reduction of length K on the path (per layer: QKV projection, scores,
// weighted sum of values, output projection, the MLP's up and down or the MoE router, an expert's
// up and down and a shared expert's down; then the LM head) is off by at most about 2u (its
// inputs and its output rounded to the dtype) plus sqrt(K) u_fp32 (the probabilistic bound of
// a length-K sum accumulated in fp32); independent roundings add in quadrature over the path.
// `context`: the longest sequence attended over (prompt + fed tokens).
NoiseFloorCap noise_floor_cap(const ModelConfig& model, DType dtype, int context);

}  // namespace llmt
