// Checks a configuration's merged logits against the one-rank reference.
#pragma once

#include <vector>

#include "model/dtype.hpp"
#include "engine/result.hpp"

namespace llmt {

// Logits of every generated token: [step][batch * vocab], step 0 from prefill.
using StepLogits = std::vector<std::vector<float>>;

// max_abs_error = max |got - ref|; max_rel_error = max over steps of max |got - ref| / max |ref|
// (the error relative to the step's largest reference logit); passes when max_rel_error is
// finite and at most the dtype's tolerance.
Verification verify_logits(const StepLogits& got, const StepLogits& reference, DType dtype);

}  // namespace llmt
