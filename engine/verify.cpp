#include "engine/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace llmt {

Verification verify_logits(const StepLogits& got, const StepLogits& reference, DType dtype) {
  Verification v;
  v.checked = true;
  v.tolerance = verification_tolerance(dtype);
  if (got.size() != reference.size()) {
    v.note = fmt::format("{} steps of logits, the reference has {}", got.size(), reference.size());
    return v;
  }
  for (std::size_t s = 0; s < got.size(); ++s) {
    const auto& g = got[s];
    const auto& r = reference[s];
    if (g.size() != r.size()) {
      v.note = fmt::format("step {}: {} logits, the reference has {}", s, g.size(), r.size());
      return v;
    }
    double scale = 0.0, worst = 0.0;
    for (std::size_t i = 0; i < r.size(); ++i) {
      scale = std::max(scale, static_cast<double>(std::fabs(r[i])));
      const double diff = std::fabs(static_cast<double>(g[i]) - r[i]);
      worst = std::isnan(diff) ? std::numeric_limits<double>::infinity() : std::max(worst, diff);
    }
    v.max_abs_error = std::max(v.max_abs_error, worst);
    const double rel = scale > 0 ? worst / scale : worst;
    v.max_rel_error = std::max(v.max_rel_error, rel);
    v.elements += g.size();
  }
  v.passed = std::isfinite(v.max_rel_error) && v.max_rel_error <= v.tolerance;
  if (!v.passed && v.note.empty())
    v.note = fmt::format("max relative error {:.3g} exceeds the {} tolerance {:.1g}", v.max_rel_error,
                         dtype_name(dtype), v.tolerance);
  return v;
}

}  // namespace llmt
