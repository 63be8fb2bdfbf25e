// Checks a configuration's merged logits against the reference, with a tolerance from the
// measured noise floor of the run's dtype (docs/metrics.md, "Verification").
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/result.hpp"
#include "model/dtype.hpp"

namespace llmt {

struct ExpertChoices;  // engine/moe.hpp

// Logits of every generated token: [step][batch * vocab], step 0 from prefill.
using StepLogits = std::vector<std::vector<float>>;

// How far a configuration may be from the reference: `factor` noise floors, the floor being at
// least `min_floor` (the dtype's rounding of one logit, relative to the largest).
struct ToleranceRule {
  double factor = 8;
  double min_floor = 0;
};
ToleranceRule tolerance_rule(DType dtype);

// The error of each sequence at each step, [step * batch + sequence]: max |got - ref| over the
// sequence's `vocab` logits, over the largest |ref| among them (NaN counts as infinite).
std::vector<double> sequence_errors(const StepLogits& got, const StepLogits& reference, std::size_t vocab);

// What one rank computing in the run's dtype is off by, against the fp32 reference.
struct NoiseFloor {
  double error = 0;    // the largest of its sequence errors; 0 when not measured
  std::string source;  // how it was measured; empty when not measured (then min_floor applies)
};
NoiseFloor measure_noise_floor(const StepLogits& one_rank, const StepLogits& reference, std::size_t vocab,
                               std::string source);

// What a configuration's logits are checked against.
struct VerificationReference {
  StepLogits logits;
  NoiseFloor floor;
  double floor_cap = 0;          // the largest trusted floor (engine/noise_cap.hpp); 0: no cap
  std::shared_ptr<const ExpertChoices> routes;  // MoE: the reference's experts, forced on the configurations
  std::string description;       // what computed the logits
  std::size_t peak_bytes = 0;    // that computation's tracked peak memory (0: not known)
  VerificationReference() = default;
  explicit VerificationReference(StepLogits l, std::string what = "one-rank configuration")
      : logits(std::move(l)), description(std::move(what)) {}
};

// Passes when every sequence error is within the tolerance (ToleranceRule's factor times the
// floor, or the cap where the floor exceeds it) and every disagreement on the most likely token
// is a near tie. `floor_run`: the configuration is the one-rank run the floor was measured on,
// which fails when its floor exceeds the cap (nothing else would check it).
Verification verify_logits(const StepLogits& got, const VerificationReference& reference, DType dtype,
                           std::size_t vocab, bool floor_run = false);

// Adds the check of the last measured iteration: its logits of decode step `step` (the last
// written), [batch * vocab], against that step of the reference, by the same tolerance.
void verify_last_iteration(const std::vector<float>& got, int step, const VerificationReference& reference,
                           std::size_t vocab, Verification& v);

}  // namespace llmt
