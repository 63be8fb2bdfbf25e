// The shared statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/metrics.hpp"
#include "engine/stats.hpp"
#include "engine/sysinfo.hpp"

namespace llmt {
namespace {

TEST(Stats, SummaryOfKnownSamples) {
  const std::vector<double> s = {5, 1, 4, 2, 3};
  const Summary m = summarize(s);
  EXPECT_EQ(m.n, 5u);
  EXPECT_DOUBLE_EQ(m.min, 1);
  EXPECT_DOUBLE_EQ(m.max, 5);
  EXPECT_DOUBLE_EQ(m.median, 3);
  EXPECT_DOUBLE_EQ(m.mean, 3);
  EXPECT_DOUBLE_EQ(m.p90, 4.6);  // linear interpolation: 4 + 0.6 * (5 - 4)
  EXPECT_NEAR(m.stddev, 1.5811388300841898, 1e-12);
}

TEST(Stats, EvenCountMedianAndEdgeCases) {
  EXPECT_DOUBLE_EQ(summarize(std::vector<double>{4, 1, 3, 2}).median, 2.5);
  const Summary one = summarize(std::vector<double>{7});
  EXPECT_EQ(one.stddev, 0);
  EXPECT_EQ(one.p99, 7);
  EXPECT_EQ(summarize(std::vector<double>{}).n, 0u);
}

TEST(Stats, LoadImbalance) {
  EXPECT_DOUBLE_EQ(load_imbalance({10, 10, 10}), 0.0);
  EXPECT_DOUBLE_EQ(load_imbalance({10, 20}), 20.0 / 15.0 - 1.0);
  EXPECT_DOUBLE_EQ(load_imbalance({5}), 0.0);
}

}  // namespace
}  // namespace llmt

namespace llmt {
namespace {

// The two-sided permutation p-value of the rank-sum statistic, by enumerating every way to
// pick the first sample's positions: the definition the U test approximates.
double brute_force_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  std::vector<double> sorted = pooled;
  std::sort(sorted.begin(), sorted.end());
  auto midrank = [&](double v) {
    const auto lo = std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin();
    const auto hi = std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin();
    return (static_cast<double>(lo) + static_cast<double>(hi - 1)) / 2.0 + 1.0;
  };
  std::vector<double> ranks;
  for (double v : pooled) ranks.push_back(midrank(v));
  const std::size_t n = a.size(), total = pooled.size();
  double observed = 0, mean = static_cast<double>(n) * (total + 1) / 2.0;
  for (std::size_t i = 0; i < n; ++i) observed += ranks[i];
  std::vector<bool> pick(total, false);
  std::fill(pick.begin(), pick.begin() + static_cast<long>(n), true);
  std::size_t count = 0, extreme = 0;
  std::sort(pick.begin(), pick.end(), std::greater<>());
  do {
    double sum = 0;
    for (std::size_t i = 0; i < total; ++i)
      if (pick[i]) sum += ranks[i];
    ++count;
    if (std::fabs(sum - mean) >= std::fabs(observed - mean) - 1e-9) ++extreme;
  } while (std::prev_permutation(pick.begin(), pick.end()));
  return static_cast<double>(extreme) / static_cast<double>(count);
}

TEST(MannWhitney, ExactForSmallSamplesWithoutTies) {
  EXPECT_NEAR(mann_whitney_p(std::vector<double>{1, 2, 3}, std::vector<double>{4, 5, 6}), 0.1, 1e-12);
  EXPECT_NEAR(mann_whitney_p(std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{6, 7, 8, 9, 10}), 2.0 / 252,
              1e-12);
  const std::vector<double> a = {1.5, 3.1, 5.2, 7.7, 9.3, 2.2}, b = {2.4, 4.4, 6.1, 8.5, 10.2};
  EXPECT_NEAR(mann_whitney_p(a, b), brute_force_p(a, b), 1e-12);
  EXPECT_NEAR(mann_whitney_p(b, a), mann_whitney_p(a, b), 1e-12) << "symmetric";
  EXPECT_DOUBLE_EQ(mann_whitney_p(std::vector<double>{}, b), 1.0);
}

TEST(MannWhitney, NormalApproximationWithTiesIsClose) {
  const std::vector<double> a = {1, 2, 2, 3, 3, 3, 4, 5}, b = {3, 4, 4, 5, 5, 6, 6, 7};
  EXPECT_NEAR(mann_whitney_p(a, b), brute_force_p(a, b), 0.02);
  const std::vector<double> same = {5, 5, 5, 5};
  EXPECT_NEAR(mann_whitney_p(same, same), 1.0, 1e-9);
}

TEST(Outliers, ModifiedZScoreFlagsOnlyTheFarSample) {
  EXPECT_EQ(count_outliers(std::vector<double>{10, 11, 9, 10, 12, 10, 50}), 1u);
  EXPECT_EQ(count_outliers(std::vector<double>{10, 11, 9, 10, 12, 10, 13}), 0u);
  EXPECT_EQ(count_outliers(std::vector<double>{10, 10, 10, 10, 90}), 0u) << "MAD 0: undecidable, nothing flagged";
}

// Holm's step-down on a worked example: sorted p 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, each
// raised to the largest before it; returned in the order given.
TEST(Holm, StepDownAdjustmentOfAKnownFamily) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  const std::vector<double> adjusted = holm_adjusted(p);
  ASSERT_EQ(adjusted.size(), 4u);
  EXPECT_DOUBLE_EQ(adjusted[0], 0.03);
  EXPECT_DOUBLE_EQ(adjusted[1], 0.06);  // 0.04 x 1, but never below the 0.06 before it
  EXPECT_DOUBLE_EQ(adjusted[2], 0.06);
  EXPECT_DOUBLE_EQ(adjusted[3], 0.02);
  EXPECT_DOUBLE_EQ(holm_adjusted(std::vector<double>{0.5, 0.9})[1], 1.0);  // capped at 1
  EXPECT_DOUBLE_EQ(holm_adjusted(std::vector<double>{0.004})[0], 0.004);  // one test: unchanged
  EXPECT_TRUE(holm_adjusted(std::vector<double>{}).empty());
}

// The order-statistic interval of the median against binomial tables: n = 20 gives ranks 6 and
// 15 at 95.86%; n = 6 is the least that reaches 95% ([min, max], 96.875%); n = 5 cannot.
TEST(MedianInterval, OrderStatisticsOfKnownSamples) {
  std::vector<double> twenty;
  for (int i = 20; i >= 1; --i) twenty.push_back(i);
  const Interval a = median_interval(twenty);
  EXPECT_DOUBLE_EQ(a.low, 6);
  EXPECT_DOUBLE_EQ(a.high, 15);
  EXPECT_NEAR(a.confidence, 1 - 2 * 21700.0 / 1048576, 1e-12);  // P(Bin(20, 1/2) <= 5) = 21700 / 2^20
  const Interval six = median_interval(std::vector<double>{3, 1, 6, 2, 5, 4});
  EXPECT_DOUBLE_EQ(six.low, 1);
  EXPECT_DOUBLE_EQ(six.high, 6);
  EXPECT_DOUBLE_EQ(six.confidence, 1 - 2.0 / 64);
  const Interval five = median_interval(std::vector<double>{5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(five.low, 1);
  EXPECT_DOUBLE_EQ(five.high, 5);
  EXPECT_DOUBLE_EQ(five.confidence, 1 - 2.0 / 32);
  const Interval one = median_interval(std::vector<double>{7});
  EXPECT_DOUBLE_EQ(one.low, 7);
  EXPECT_DOUBLE_EQ(one.high, 7);
  EXPECT_DOUBLE_EQ(one.confidence, 0);
  // Many samples: coverage just above 95%, about 1.96 standard errors of the median each side
  // (sqrt(n) / 2 ranks), and no underflow of 2^-n.
  std::vector<double> many;
  for (int i = 0; i < 2001; ++i) many.push_back(i);
  const Interval big = median_interval(many);
  EXPECT_GE(big.confidence, 0.95);
  EXPECT_LT(big.confidence, 0.96);
  EXPECT_NEAR(big.low, 1000 - 1.96 * std::sqrt(2001.0) / 2, 2);
  EXPECT_NEAR(big.high, 1000 + 1.96 * std::sqrt(2001.0) / 2, 2);
}

TEST(StoppingRule, SyntheticStreams) {
  const StoppingRule rule{0.01, 5, 100, 0};
  // A steady stream meets 1% as soon as it has the minimum number of samples.
  std::vector<double> steady;
  StopReason r = StopReason::keep_going;
  for (int i = 0; r == StopReason::keep_going; ++i) {
    steady.push_back(100.0 + (i % 2 ? 0.5 : -0.5));
    r = should_stop(rule, steady);
  }
  EXPECT_EQ(r, StopReason::target_met);
  EXPECT_EQ(steady.size(), 5u);
  // Alternating 1 and 2: the relative standard error falls as 1/3/sqrt(n), so 1% needs ~1100
  // samples: the cap ends it, and says so.
  std::vector<double> noisy;
  for (r = StopReason::keep_going; r == StopReason::keep_going;) {
    noisy.push_back(noisy.size() % 2 ? 2.0 : 1.0);
    r = should_stop(rule, noisy);
  }
  EXPECT_EQ(r, StopReason::max_iterations);
  EXPECT_EQ(noisy.size(), 100u);
  // A moderately noisy stream stops when its estimate gets there: the standard error shrinks.
  std::vector<double> moderate;
  const StoppingRule three{0.03, 5, 1000, 0};
  for (r = StopReason::keep_going; r == StopReason::keep_going;) {
    moderate.push_back(moderate.size() % 2 ? 1.3 : 1.0);
    r = should_stop(three, moderate);
  }
  EXPECT_EQ(r, StopReason::target_met);
  EXPECT_LE(relative_standard_error(moderate), 0.03);
  EXPECT_GT(relative_standard_error(std::vector<double>(moderate.begin(), moderate.end() - 2)), 0.03);
  // A time budget: samples of 1 s each stop after 3 s.
  std::vector<double> slow;
  const StoppingRule timed{0.0001, 2, 100, 3.0};
  for (r = StopReason::keep_going; r == StopReason::keep_going;) {
    slow.push_back(slow.size() % 2 ? 1000.0 : 1500.0);
    r = should_stop(timed, slow);
  }
  EXPECT_EQ(r, StopReason::max_time);
  EXPECT_EQ(slow.size(), 3u);
  // No target: a fixed count of min_iters.
  EXPECT_EQ(should_stop(StoppingRule{0, 4, 4, 0}, std::vector<double>{1, 9, 1}), StopReason::keep_going);
  EXPECT_EQ(should_stop(StoppingRule{0, 4, 4, 0}, std::vector<double>{1, 9, 1, 9}), StopReason::target_met);
}

// The busy-CPU measurement decides; the lagging load average only when it is unknown.
TEST(TimingWarnings, BusyCpusWarnButALoadAverageLeftByAFinishedRunDoesNot) {
  HostInfo host;
  host.logical_cpus = host.affinity_cpus = 2;
  host.load_average_1m = 1.9;
  host.cpu_busy_at_start = 0.02;
  EXPECT_TRUE(timing_warnings(host, 2).empty());

  host.cpu_busy_at_start = 0.6;
  const auto busy = timing_warnings(host, 2);
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_NE(busy[0].find("60%"), std::string::npos) << busy[0];

  host.cpu_busy_at_start = -1;  // unknown: fall back to the load average
  EXPECT_EQ(timing_warnings(host, 2).size(), 1u);
  host.load_average_1m = 0.2;
  EXPECT_TRUE(timing_warnings(host, 2).empty());

  const auto oversubscribed = timing_warnings(host, 4);
  ASSERT_EQ(oversubscribed.size(), 1u);
  EXPECT_NE(oversubscribed[0].find("4 ranks on 2 usable CPUs"), std::string::npos) << oversubscribed[0];
}

}  // namespace
}  // namespace llmt
