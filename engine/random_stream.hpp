// A seeded stream of random numbers that gives the same values on every platform and standard
// library: the std:: distributions are implementation-defined (libstdc++ and libc++ draw
// different normals from the same engine), so the transforms are written here, over splitmix64.
#pragma once

#include <cmath>
#include <cstdint>

#include "model/math.hpp"

namespace llmt {

class RandomStream {
 public:
  explicit RandomStream(std::uint64_t seed) : state_(math::splitmix64(seed)) {}

  std::uint64_t next_u64() {
    const std::uint64_t value = math::splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ull;
    return value;
  }
  // Uniform in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(next_u64() >> 11) * 0x1p-53; }
  // Uniform integer in [low, high] (low <= high), by rejection, so no value is favoured.
  long long integer(long long low, long long high) {
    const std::uint64_t span = static_cast<std::uint64_t>(high - low) + 1;
    if (span == 0) return static_cast<long long>(next_u64());  // the whole 64-bit range
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    std::uint64_t x = next_u64();
    while (x >= limit) x = next_u64();
    return low + static_cast<long long>(x % span);
  }
  // Standard normal, Box-Muller (one of the pair; the other is dropped to keep the stream simple).
  double normal() {
    const double u1 = 1.0 - unit();  // (0, 1]: log is finite
    const double u2 = unit();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Exponential of mean 1.
  double exponential() { return -std::log(1.0 - unit()); }
  // Gamma of the given shape (> 0) and scale 1: Marsaglia and Tsang (2000); below shape 1 the
  // boost Gamma(shape + 1) * U^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(1.0 - unit(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x = 0, v = 0;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = 1.0 - unit();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }

 private:
  std::uint64_t state_;
};

}  // namespace llmt
