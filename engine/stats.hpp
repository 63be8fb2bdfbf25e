// The one place where sample statistics are computed. Every report, every backend and the
// compare command use these functions, so a statistic means the same thing everywhere.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace llmt {

struct Summary {
  std::size_t n = 0;
  double min = 0, median = 0, mean = 0, p90 = 0, p99 = 0, max = 0;
  double stddev = 0;  // sample standard deviation (n - 1)
};

// Percentile q in [0, 1] of sorted samples, linear interpolation between closest ranks
// (numpy's default), so that p50 of an even count is the mean of the middle two.
double percentile_sorted(std::span<const double> sorted, double q);
Summary summarize(std::span<const double> samples);
double mean_of(std::span<const double> samples);

}  // namespace llmt
