// Run options for short configurations on the CPU backend in tests: one warm-up, two measured
// iterations.
#pragma once

#include "engine/backends.hpp"
#include "engine/runner.hpp"

namespace llmt::testing {

inline RunOptions quick_options() {
  RunOptions o;
  o.backend = "cpu";
  o.warmup = 1;
  o.iterations = 2;
  prepare_backend("cpu");
  return o;
}

}  // namespace llmt::testing
