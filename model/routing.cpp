#include "model/routing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "model/math.hpp"

namespace llmt {
namespace {

constexpr std::uint64_t kRoutingTensor = 7;  // element_key's tensor id for routing draws

std::vector<double> softmax(const float* logits, int n) {
  const float top = *std::max_element(logits, logits + n);
  std::vector<double> p(static_cast<std::size_t>(n));
  double sum = 0;
  for (int e = 0; e < n; ++e) sum += p[static_cast<std::size_t>(e)] = std::exp(static_cast<double>(logits[e]) - top);
  for (double& v : p) v /= sum;
  return p;
}

void write_weights(const std::vector<double>& p, int k, bool renormalise, const int* chosen, float* weights) {
  double sum = 0;
  for (int i = 0; i < k; ++i) sum += p[static_cast<std::size_t>(chosen[i])];
  for (int i = 0; i < k; ++i)
    weights[i] = static_cast<float>(p[static_cast<std::size_t>(chosen[i])] / (renormalise ? sum : 1.0));
}

// A uniform number in [0, 1) from draw `i` of the token.
double uniform(std::uint64_t key, int i) {
  return static_cast<double>(math::splitmix64(key + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1)) >> 11) *
         0x1.0p-53;
}

// Draws from the experts not `taken` in proportion to `mass`. A steep law can leave every
// remaining weight rounded to 0: then the lowest free expert, so a token's choices stay distinct.
int draw(const std::vector<double>& mass, const std::vector<bool>& taken, double u) {
  double total = 0;
  for (std::size_t e = 0; e < mass.size(); ++e)
    if (!taken[e]) total += mass[e];
  double at = u * total;
  int last = -1;
  for (std::size_t e = 0; e < mass.size(); ++e) {
    if (taken[e] || mass[e] <= 0) continue;
    if (at < mass[e]) return static_cast<int>(e);
    at -= mass[e];
    last = static_cast<int>(e);
  }
  if (last >= 0) return last;  // rounding left `at` past the end: the last one with mass
  for (std::size_t e = 0; e < mass.size(); ++e)
    if (!taken[e]) return static_cast<int>(e);
  return 0;
}

}  // namespace

std::string RoutingMode::label() const {
  switch (kind) {
    case RoutingKind::model: return "model";
    case RoutingKind::uniform: return "uniform";
    case RoutingKind::zipf: return fmt::format("zipf:{:g}", param);
    case RoutingKind::hot: return fmt::format("hot:{:g}", param);
  }
  return "?";
}

std::optional<RoutingMode> parse_routing(std::string_view text) {
  if (text == "model") return RoutingMode{RoutingKind::model, 0};
  if (text == "uniform") return RoutingMode{RoutingKind::uniform, 0};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view name = text.substr(0, colon);
  const std::string number(text.substr(colon + 1));
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(v)) return std::nullopt;
  if (name == "zipf" && v > 0) return RoutingMode{RoutingKind::zipf, v};
  if (name == "hot" && v >= 0 && v <= 1) return RoutingMode{RoutingKind::hot, v};
  return std::nullopt;
}

void route_by_router(const float* logits, int experts, int k, bool renormalise, int* chosen, float* weights) {
  const std::vector<double> p = softmax(logits, experts);
  std::vector<int> order(static_cast<std::size_t>(experts));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
    const double pa = p[static_cast<std::size_t>(a)], pb = p[static_cast<std::size_t>(b)];
    return pa > pb || (pa == pb && a < b);
  });
  std::copy(order.begin(), order.begin() + k, chosen);
  write_weights(p, k, renormalise, chosen, weights);
}

void route_by_law(const RoutingMode& mode, std::uint64_t token_key, const float* logits, int experts, int k,
                  bool renormalise, int* chosen, float* weights) {
  std::vector<double> mass(static_cast<std::size_t>(experts), 1.0);
  if (mode.kind == RoutingKind::zipf)
    for (int e = 0; e < experts; ++e) mass[static_cast<std::size_t>(e)] = std::pow(e + 1.0, -mode.param);
  std::vector<bool> taken(static_cast<std::size_t>(experts), false);
  for (int i = 0; i < k; ++i) {
    const bool forced = mode.kind == RoutingKind::hot && i == 0 && uniform(token_key, -1) < mode.param;
    chosen[i] = forced ? 0 : draw(mass, taken, uniform(token_key, i));
    taken[static_cast<std::size_t>(chosen[i])] = true;
  }
  write_weights(softmax(logits, experts), k, renormalise, chosen, weights);
}

std::uint64_t routing_key(std::uint64_t seed, int layer, int sequence, int position) {
  const std::uint64_t token = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(sequence)) << 32) |
                              static_cast<std::uint32_t>(position);
  return math::element_key(seed ^ (static_cast<std::uint64_t>(layer) * 0x9E3779B97F4A7C15ull), kRoutingTensor, token);
}

}  // namespace llmt
