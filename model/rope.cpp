#include "model/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "model/math.hpp"

namespace llmt {

namespace {

std::vector<double> default_inv_freq(int dim, double base) {
  std::vector<double> f(static_cast<std::size_t>(dim / 2));
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = math::rope_inv_freq(static_cast<int>(i), dim, base);
  return f;
}

// Llama 3.1: long wavelengths divided by the factor, short ones kept, a smooth ramp between.
void apply_llama3(std::vector<double>& inv_freq, const RopeScaling& r) {
  const double old_context = r.original_max_positions;
  const double low_freq_wavelen = old_context / r.low_freq_factor;
  const double high_freq_wavelen = old_context / r.high_freq_factor;
  for (double& f : inv_freq) {
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen > low_freq_wavelen) {
      f /= r.factor;
    } else if (!(wavelen < high_freq_wavelen)) {
      const double smooth = (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      f = (1 - smooth) * f / r.factor + smooth * f;
    }
  }
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// YaRN: interpolated (divided by the factor) below the low-rotation dimension, extrapolated
// (kept) above the high one, a linear ramp between; cos and sin scaled by the attention factor.
RopeFrequencies yarn(int dim, double base, const RopeScaling& r) {
  auto correction_dim = [&](double rotations) {
    return dim * std::log(r.original_max_positions / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // as transformers: no singular ramp
  RopeFrequencies out;
  out.inv_freq = default_inv_freq(dim, base);
  for (std::size_t i = 0; i < out.inv_freq.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1 - ramp;
    const double f = out.inv_freq[i];
    out.inv_freq[i] = f / r.factor * (1 - extrapolation) + f * extrapolation;
  }
  if (r.attention_factor > 0)
    out.attention_factor = r.attention_factor;
  else if (r.mscale > 0 && r.mscale_all_dim > 0)
    out.attention_factor = yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim);
  else
    out.attention_factor = yarn_mscale(r.factor, 1.0);
  return out;
}

}  // namespace

RopeFrequencies rope_frequencies(const ModelConfig& model, int seq_len) {
  const RopeScaling& r = model.rope_scaling;
  const int dim = model.head_dim;
  if (r.type == "yarn") return yarn(dim, model.rope_theta, r);
  RopeFrequencies out;
  double base = model.rope_theta;
  if (r.type == "dynamic") {
    const double len = std::max<double>(seq_len, model.max_positions);
    base *= std::pow(r.factor * len / model.max_positions - (r.factor - 1), static_cast<double>(dim) / (dim - 2));
  }
  out.inv_freq = default_inv_freq(dim, base);
  if (r.type == "linear")
    for (double& f : out.inv_freq) f /= r.factor;
  if (r.type == "llama3") apply_llama3(out.inv_freq, r);
  return out;
}

RopeTables rope_tables(const ModelConfig& model, int context) {
  const std::size_t half = static_cast<std::size_t>(model.head_dim / 2);
  const RopeFrequencies rope = rope_frequencies(model, context);
  RopeTables t;
  t.cos.resize(static_cast<std::size_t>(context) * half);
  t.sin.resize(t.cos.size());
  for (std::size_t pos = 0; pos < static_cast<std::size_t>(context); ++pos)
    for (std::size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(pos) * rope.inv_freq[i];
      t.cos[pos * half + i] = static_cast<float>(std::cos(angle) * rope.attention_factor);
      t.sin[pos * half + i] = static_cast<float>(std::sin(angle) * rope.attention_factor);
    }
  return t;
}

}  // namespace llmt
