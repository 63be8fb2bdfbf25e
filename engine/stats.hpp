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
double median_of(std::span<const double> samples);

// Two-sided Mann-Whitney U test of two independent samples: the probability, were both drawn
// from one distribution, of a rank-sum difference at least as extreme. Exact (by counting)
// for small samples without ties, normal approximation with tie and continuity corrections
// otherwise. Returns 1 when either sample is empty.
double mann_whitney_p(std::span<const double> a, std::span<const double> b);

// The smallest p mann_whitney_p can return for samples of sizes n and m (two samples fully
// apart, no ties): 2 / C(n + m, n) where it counts exactly. A test whose family correction makes
// this reach alpha can never reject, whatever the data: the regression gate's power check.
double smallest_mann_whitney_p(std::size_t n, std::size_t m);

// Holm-Bonferroni adjusted p-values of a family of tests, in the order given: with the p-values
// sorted ascending, p(i) becomes max over j <= i of min(1, (m - j + 1) p(j)). Rejecting where the
// adjusted p is below alpha bounds the chance of any false rejection in the family by alpha.
std::vector<double> holm_adjusted(std::span<const double> p_values);

// Distribution-free confidence interval of the median: the order statistics x(k) and x(n+1-k)
// of the sorted samples, with the largest k whose coverage 1 - 2 P(Binomial(n, 1/2) < k) is at
// least `confidence`. Fewer than 6 samples cannot reach 95%: they get [min, max] and the coverage
// that has (n = 5: 93.75%, n = 3: 75%; one sample: a point, coverage 0). Empty: all zero.
struct Interval {
  double low = 0, high = 0;
  double confidence = 0;  // the chance that [low, high] covers the true value (exact, or a lower bound)
};
Interval median_interval(std::span<const double> samples, double confidence = 0.95);

// Samples whose modified Z-score 0.6745 |x - median| / MAD exceeds 3.5 (Iglewicz and Hoaglin).
// Counted and reported, never dropped. With MAD 0 nothing is an outlier.
std::size_t count_outliers(std::span<const double> samples);

// Relative standard error of the mean: stddev / (mean sqrt(n)); infinity below 2 samples.
double relative_standard_error(std::span<const double> samples);

// The adaptive measurement's stopping rule: keep measuring until the relative standard error
// of the mean is at most `target` (0: no target, stop at min_iters), with at least min_iters
// and at most max_iters samples and at most max_time_s seconds of measured time (0: no limit).
struct StoppingRule {
  double target_rse = 0;
  int min_iters = 5, max_iters = 5;
  double max_time_s = 0;
};
enum class StopReason { keep_going, target_met, max_iterations, max_time };
StopReason should_stop(const StoppingRule& rule, std::span<const double> samples_ms);

}  // namespace llmt
