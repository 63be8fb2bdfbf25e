#include "engine/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/error.hpp"

namespace llmt {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct SequenceError {
  double abs = 0, rel = 0;
};

// One sequence's logits at one step, `n` values from `g` and `r`.
SequenceError sequence_error(const float* g, const float* r, std::size_t n) {
  double scale = 0, worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(r[i])));
    const double diff = std::fabs(static_cast<double>(g[i]) - r[i]);
    worst = std::isnan(diff) ? kInfinity : std::max(worst, diff);
  }
  return {worst, scale > 0 ? worst / scale : worst};
}

std::size_t argmax(const float* v, std::size_t n) {
  return static_cast<std::size_t>(std::max_element(v, v + n) - v);
}

// The most likely token of `g` against `r`'s: agrees, a near tie (r's logits of the two tokens
// within `tie` of each other, relative to r's largest), or a mismatch.
enum class Top1 { agrees, near_tie, mismatch };
Top1 compare_top1(const float* g, const float* r, std::size_t n, double tie) {
  const std::size_t want = argmax(r, n), got = argmax(g, n);
  if (want == got) return Top1::agrees;
  double scale = 0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, static_cast<double>(std::fabs(r[i])));
  return static_cast<double>(r[want]) - r[got] <= tie * scale ? Top1::near_tie : Top1::mismatch;
}

// Shape problems, or an empty string.
std::string shape_problem(const StepLogits& got, const StepLogits& reference, std::size_t vocab) {
  if (got.size() != reference.size())
    return fmt::format("{} steps of logits, the reference has {}", got.size(), reference.size());
  for (std::size_t s = 0; s < got.size(); ++s) {
    if (got[s].size() != reference[s].size())
      return fmt::format("step {}: {} logits, the reference has {}", s, got[s].size(), reference[s].size());
    if (vocab == 0 || got[s].size() % vocab != 0)
      return fmt::format("step {}: {} logits are not whole sequences of {}", s, got[s].size(), vocab);
  }
  return {};
}

// The floor the tolerance is built on: the measured one, or the cap when the measurement exceeds
// it (a bug every configuration shares must not loosen the tolerance); at least min_floor.
double floor_in_use(const Verification& v) {
  return std::max(v.floor_trusted ? v.floor : v.floor_cap, v.min_floor);
}

void apply_rule(const VerificationReference& reference, DType dtype, Verification& v) {
  const ToleranceRule rule = tolerance_rule(dtype);
  v.floor = reference.floor.error;
  v.floor_source = reference.floor.source.empty() ? "not measured: the minimum floor" : reference.floor.source;
  v.min_floor = rule.min_floor;
  v.floor_factor = rule.factor;
  v.floor_cap = reference.floor_cap;
  v.floor_trusted = !(v.floor_cap > 0) || v.floor <= v.floor_cap;  // a NaN floor is not trusted
  v.tolerance = rule.factor * floor_in_use(v);
  // No configuration may be off by more than rounding explains for the model, whatever the floor.
  if (v.floor_cap > 0) v.tolerance = std::min(v.tolerance, std::max(v.floor_cap, v.min_floor));
  v.reference = reference.description;
  v.reference_peak_bytes = reference.peak_bytes;
}

}  // namespace

ToleranceRule tolerance_rule(DType dtype) {
  // One unit in the last place of a logit, relative to the largest: what rounding the result to
  // the dtype costs at the least. fp32's allows for sums of thousands of products.
  switch (dtype) {
    case DType::f32: return {8, 1e-6};
    case DType::f16: return {8, 1.0 / 2048};
    case DType::bf16: return {8, 1.0 / 256};
  }
  return {};
}

std::vector<double> sequence_errors(const StepLogits& got, const StepLogits& reference, std::size_t vocab) {
  std::vector<double> out;
  for (std::size_t s = 0; s < std::min(got.size(), reference.size()); ++s)
    for (std::size_t at = 0; at + vocab <= std::min(got[s].size(), reference[s].size()) && vocab > 0; at += vocab)
      out.push_back(sequence_error(got[s].data() + at, reference[s].data() + at, vocab).rel);
  return out;
}

NoiseFloor measure_noise_floor(const StepLogits& one_rank, const StepLogits& reference, std::size_t vocab,
                               std::string source) {
  if (const std::string problem = shape_problem(one_rank, reference, vocab); !problem.empty())
    throw Error("the noise floor's logits do not match the reference: " + problem);
  NoiseFloor floor;
  for (double e : sequence_errors(one_rank, reference, vocab)) floor.error = std::max(floor.error, e);
  floor.source = std::move(source);
  return floor;
}

Verification verify_logits(const StepLogits& got, const VerificationReference& reference, DType dtype,
                           std::size_t vocab, bool floor_run) {
  Verification v;
  v.checked = true;
  apply_rule(reference, dtype, v);
  if (const std::string problem = shape_problem(got, reference.logits, vocab); !problem.empty()) {
    v.note = problem;
    return v;
  }
  const double tie = 2 * floor_in_use(v);
  std::size_t agree = 0;
  for (std::size_t s = 0; s < got.size(); ++s)
    for (std::size_t at = 0; at < got[s].size(); at += vocab) {
      const float* g = got[s].data() + at;
      const float* r = reference.logits[s].data() + at;
      const SequenceError e = sequence_error(g, r, vocab);
      v.max_abs_error = std::max(v.max_abs_error, e.abs);
      v.max_rel_error = std::max(v.max_rel_error, e.rel);
      const Top1 top1 = compare_top1(g, r, vocab, tie);
      agree += top1 == Top1::agrees;
      v.top1_near_ties += top1 == Top1::near_tie;
      v.top1_mismatches += top1 == Top1::mismatch;
      v.elements += vocab;
      ++v.positions;
    }
  v.top1_agreement = v.positions ? static_cast<double>(agree) / static_cast<double>(v.positions) : 0.0;
  v.error_over_floor = v.max_rel_error / floor_in_use(v);
  v.passed = std::isfinite(v.max_rel_error) && v.max_rel_error <= v.tolerance && v.top1_mismatches == 0;
  if (floor_run && !v.floor_trusted) {
    v.passed = false;
    v.note = fmt::format("the noise floor is not trusted: this one-rank run in {} is off by {:.3g} from the fp32 "
                         "reference, above the cap {:.3g} that {} rounding explains for this model (a bug every "
                         "configuration shares?); the others are held to the cap",
                         dtype_name(dtype), v.floor, v.floor_cap, dtype_name(dtype));
  } else if (!(std::isfinite(v.max_rel_error) && v.max_rel_error <= v.tolerance)) {
    if (v.tolerance < v.floor_factor * floor_in_use(v))
      v.note = fmt::format("max relative error {:.3g} exceeds the cap {:.3g}, the most {} rounding explains for this "
                           "model{}",
                           v.max_rel_error, v.tolerance, dtype_name(dtype),
                           v.floor_trusted ? "" : fmt::format(" (the noise floor {:.3g} exceeds it too)", v.floor));
    else
      v.note = fmt::format("max relative error {:.3g} is {:.3g} noise floors; {:g} allowed ({} tolerance {:.3g})",
                           v.max_rel_error, v.error_over_floor, v.floor_factor, dtype_name(dtype), v.tolerance);
  }
  else if (v.top1_mismatches > 0)
    v.note = fmt::format("the most likely token differs from the reference's at {} of {} positions, beyond a near tie",
                         v.top1_mismatches, v.positions);
  return v;
}

void verify_last_iteration(const std::vector<float>& got, int step, const VerificationReference& reference,
                           std::size_t vocab, Verification& v) {
  if (step < 0 || static_cast<std::size_t>(step) >= reference.logits.size() ||
      got.size() != reference.logits[static_cast<std::size_t>(step)].size() || vocab == 0) {
    v.passed = false;
    v.note = fmt::format("the last measured iteration's logits (step {}, {} values) do not match the reference's shape",
                         step, got.size());
    return;
  }
  const std::vector<float>& want = reference.logits[static_cast<std::size_t>(step)];
  double worst = 0;
  for (std::size_t at = 0; at < got.size(); at += vocab)
    worst = std::max(worst, sequence_error(got.data() + at, want.data() + at, vocab).rel);
  v.last_iteration_checked = true;
  v.last_iteration_step = step;
  v.last_iteration_rel_error = worst;
  if (std::isfinite(worst) && worst <= v.tolerance) return;
  if (v.passed)
    v.note = fmt::format("the last measured iteration drifted: step {} is off by {:.3g} (tolerance {:.3g}), while the "
                         "first iteration passed",
                         step, worst, v.tolerance);
  v.passed = false;
}

}  // namespace llmt
