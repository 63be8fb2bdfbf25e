#include "engine/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace llmt {

double percentile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double mean_of(std::span<const double> samples) {
  if (samples.empty()) return 0.0;
  return std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
}

Summary summarize(std::span<const double> samples) {
  Summary s;
  s.n = samples.size();
  if (s.n == 0) return s;
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  s.min = sorted.front();
  s.max = sorted.back();
  s.mean = mean_of(sorted);
  s.median = percentile_sorted(sorted, 0.5);
  s.p90 = percentile_sorted(sorted, 0.9);
  s.p99 = percentile_sorted(sorted, 0.99);
  if (s.n > 1) {
    double ss = 0.0;
    for (double v : sorted) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(s.n - 1));
  }
  return s;
}

double median_of(std::span<const double> samples) {
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  return percentile_sorted(sorted, 0.5);
}

namespace {

// Exact two-sided p of the U statistic for sizes n, m without ties: the count of rank
// arrangements with each U value, by the recurrence f(n, m, u) = f(n-1, m, u-m) + f(n, m-1, u).
double exact_mann_whitney_p(std::size_t n, std::size_t m, double u) {
  const std::size_t max_u = n * m;
  // previous[j] / current[j]: distribution of U for sizes (i - 1, j) / (i, j); only two rows live.
  std::vector<std::vector<double>> previous(m + 1), current(m + 1);
  for (std::size_t j = 0; j <= m; ++j) previous[j] = {1.0};  // i = 0: U is 0
  for (std::size_t i = 1; i <= n; ++i) {
    current[0] = {1.0};
    for (std::size_t j = 1; j <= m; ++j) {
      auto& w = current[j];
      w.assign(i * j + 1, 0.0);
      const auto& a = previous[j];     // the largest value is in the first sample: adds j
      const auto& b = current[j - 1];  // the largest value is in the second sample
      for (std::size_t v = 0; v < w.size(); ++v) {
        if (v >= j && v - j < a.size()) w[v] += a[v - j];
        if (v < b.size()) w[v] += b[v];
      }
    }
    std::swap(previous, current);
  }
  const auto& dist = previous[m];
  const double total = std::accumulate(dist.begin(), dist.end(), 0.0);
  const double mean = static_cast<double>(max_u) / 2.0;
  const double extreme = std::fabs(u - mean);
  double tail = 0.0;
  for (std::size_t v = 0; v <= max_u; ++v)
    if (std::fabs(static_cast<double>(v) - mean) >= extreme - 1e-9) tail += dist[v];
  return std::min(1.0, tail / total);
}

}  // namespace

double mann_whitney_p(std::span<const double> a, std::span<const double> b) {
  const std::size_t n = a.size(), m = b.size();
  if (n == 0 || m == 0) return 1.0;
  // Mid-ranks of the pooled samples.
  std::vector<std::pair<double, int>> pooled;
  for (double x : a) pooled.emplace_back(x, 0);
  for (double x : b) pooled.emplace_back(x, 1);
  std::sort(pooled.begin(), pooled.end());
  std::vector<double> ranks(pooled.size());
  double tie_term = 0.0;
  bool ties = false;
  for (std::size_t i = 0; i < pooled.size();) {
    std::size_t j = i;
    while (j + 1 < pooled.size() && pooled[j + 1].first == pooled[i].first) ++j;
    const double mid = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[k] = mid;
    const double t = static_cast<double>(j - i + 1);
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j + 1;
  }
  double rank_sum_a = 0.0;
  for (std::size_t k = 0; k < pooled.size(); ++k)
    if (pooled[k].second == 0) rank_sum_a += ranks[k];
  const double u = rank_sum_a - static_cast<double>(n) * (n + 1) / 2.0;
  if (!ties && n * m <= 2500) return exact_mann_whitney_p(n, m, u);
  const double nm = static_cast<double>(n) * m, total = static_cast<double>(n + m);
  const double variance = nm / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
  if (variance <= 0) return 1.0;
  const double z = std::max(0.0, std::fabs(u - nm / 2.0) - 0.5) / std::sqrt(variance);
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

double smallest_mann_whitney_p(std::size_t n, std::size_t m) {
  // The same code as the test itself, on samples fully apart, so the two can never disagree.
  std::vector<double> low(n), high(m);
  std::iota(low.begin(), low.end(), 0.0);
  std::iota(high.begin(), high.end(), static_cast<double>(n));
  return mann_whitney_p(low, high);
}

std::vector<double> holm_adjusted(std::span<const double> p_values) {
  const std::size_t m = p_values.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  std::vector<double> adjusted(m);
  double running = 0.0;  // step-down: an adjusted p never falls below a smaller p's
  for (std::size_t j = 0; j < m; ++j) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - j) * p_values[order[j]]));
    adjusted[order[j]] = running;
  }
  return adjusted;
}

Interval median_interval(std::span<const double> samples, double confidence) {
  Interval out;
  const std::size_t n = samples.size();
  if (n == 0) return out;
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  // below = P(Binomial(n, 1/2) < k): the chance that fewer than k samples fall below the median.
  // Terms in logarithms, so that large n does not underflow 2^-n.
  const auto term = [n](std::size_t j) {
    return std::exp(std::lgamma(n + 1.0) - std::lgamma(j + 1.0) - std::lgamma(n - j + 1.0) - n * std::log(2.0));
  };
  std::size_t k = 1;
  double below = term(0);
  while (k + 1 <= (n + 1) / 2 && 1.0 - 2.0 * (below + term(k)) >= confidence) below += term(k++);
  out.low = sorted[k - 1];
  out.high = sorted[n - k];
  out.confidence = std::max(0.0, 1.0 - 2.0 * below);
  return out;
}

std::size_t count_outliers(std::span<const double> samples) {
  if (samples.size() < 3) return 0;
  const double med = median_of(samples);
  std::vector<double> deviations;
  for (double x : samples) deviations.push_back(std::fabs(x - med));
  const double mad = median_of(deviations);
  if (mad <= 0) return 0;
  return static_cast<std::size_t>(std::count_if(samples.begin(), samples.end(), [&](double x) {
    return 0.6745 * std::fabs(x - med) / mad > 3.5;
  }));
}

double relative_standard_error(std::span<const double> samples) {
  if (samples.size() < 2) return std::numeric_limits<double>::infinity();
  const Summary s = summarize(samples);
  if (s.mean <= 0) return std::numeric_limits<double>::infinity();
  return s.stddev / (s.mean * std::sqrt(static_cast<double>(s.n)));
}

StopReason should_stop(const StoppingRule& rule, std::span<const double> samples_ms) {
  const auto n = static_cast<int>(samples_ms.size());
  if (n < std::max(1, rule.min_iters)) return StopReason::keep_going;
  if (rule.target_rse <= 0) return StopReason::target_met;  // fixed count: min_iters samples
  if (relative_standard_error(samples_ms) <= rule.target_rse) return StopReason::target_met;
  if (n >= rule.max_iters) return StopReason::max_iterations;
  const double measured_s = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) * 1e-3;
  if (rule.max_time_s > 0 && measured_s >= rule.max_time_s) return StopReason::max_time;
  return StopReason::keep_going;
}

}  // namespace llmt
