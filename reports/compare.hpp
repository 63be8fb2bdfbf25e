// Comparison of two runs for regression gating: configurations are matched by id, and each
// metric's raw samples are compared with a two-sided Mann-Whitney U test. A change counts only
// when it exceeds the threshold *and* is significant (asv's rule); a change beyond the
// threshold that the test cannot confirm is `noisy`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/result.hpp"

namespace llmt {

enum class Verdict { same, regression, improvement, noisy };
std::string_view verdict_name(Verdict v);

struct CompareOptions {
  double threshold = 0.05;                    // relative change that counts
  std::map<std::string, double> per_metric;   // overrides by metric name
  double alpha = 0.01;                        // significance level of the U test
  int min_samples = 3;                        // fewer on either side: noisy
  double threshold_for(const std::string& metric) const;
};

// The metrics compared, each with its samples and direction.
struct MetricSpec {
  std::string name;         // "latency.median", "ttft.median", "tpot.median", "throughput", "sync.exposed"
  bool higher_is_better;
  std::string unit;
};
const std::vector<MetricSpec>& compared_metrics();
// Per-iteration samples of `metric` for a result (empty when it has none).
std::vector<double> metric_samples(const ConfigResult& r, const std::string& metric);

struct MetricComparison {
  std::string config, metric, unit;
  double base = 0, current = 0;  // medians
  double change = 0;             // (current - base) / base
  double p_value = 1;
  std::size_t base_n = 0, current_n = 0;
  Verdict verdict = Verdict::same;
  std::string why;  // for noisy: what made it undecidable
};

struct Comparison {
  std::vector<MetricComparison> rows;
  std::vector<std::string> only_in_base, only_in_current;
  std::vector<std::string> status_regressions;  // ran fine in the base, failed now
  std::vector<std::string> warnings;            // different hardware, backend, schema...
  bool regressed() const;
};

// Throws ConfigError for unusable input.
Comparison compare_runs(const nlohmann::json& base, const nlohmann::json& current, const CompareOptions& options,
                        const std::string& base_name, const std::string& current_name);

std::string format_comparison(const Comparison& c, const std::string& format, const CompareOptions& options);

// "5%" -> 0.05, "0.05" -> 0.05; throws ConfigError naming `what`.
double parse_fraction(const std::string& text, const std::string& what);

}  // namespace llmt
