// Comparison of two runs for regression gating: configurations are matched by id, and each
// metric's raw samples are compared with a two-sided Mann-Whitney U test. A change counts only
// when it exceeds the threshold *and* is significant (asv's rule); a change beyond the
// threshold that the test cannot confirm is `noisy`.
//
// Either side may be several result files (repeated runs of the same sweep): their samples are
// pooled per configuration, and a change no larger than the difference between two runs of the
// same side is `noisy`. Samples of one process are not independent of that process's
// conditions (a slow spell of the machine, memory placement), so one run against one run can
// show a significant shift with no change in the code; runs repeated, and alternated between
// base and new, spread those conditions over both sides.
//
// One comparison makes many tests (configurations x metrics). Throughput is computed from the
// same e2e samples as latency, so the two are one family and one test; the p-values of the tests
// made are Holm-Bonferroni corrected (by default), so that alpha bounds the chance that any of
// them is a false alarm. docs/metrics.md, "Comparison".
//
// Only the gating metrics (`CompareOptions::gate`, by default latency.median: one primary test
// per configuration) decide the exit status and form the corrected family; the others are
// reported, corrected among themselves, and never fail the gate. A gating test whose sample
// sizes cannot reach alpha after the correction could never flag anything: the comparison says
// so (`undetectable`) and exits 2 instead of passing.
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

// How the p-values of the tests one comparison makes are corrected for their number.
enum class Correction { none, holm };
std::string_view correction_name(Correction c);
// "holm" or "none"; throws ConfigError otherwise.
Correction parse_correction(const std::string& text);

struct CompareOptions {
  double threshold = 0.05;                    // relative change that counts
  std::map<std::string, double> per_metric;   // overrides by metric name
  double alpha = 0.01;                        // significance level of the U test
  int min_samples = 3;                        // fewer on either side: noisy
  Correction correction = Correction::holm;   // over the family of tests made
  // Metrics whose tests decide the exit status (one family, corrected together). A metric that
  // shares another's test gates with it (throughput with latency.median).
  std::vector<std::string> gate = {"latency.median"};
  double threshold_for(const std::string& metric) const;
  bool gates(const std::string& metric) const;
};

// The metrics compared, each with its samples and direction.
struct MetricSpec {
  std::string name;         // "latency.median", "ttft.median", "tpot.median", "throughput", "sync.exposed"
  bool higher_is_better;
  std::string unit;
  // The change is measured against the base iteration (median e2e latency) rather than the
  // metric itself: exposed communication is a few percent of an iteration, and its own relative
  // swings (8 -> 12 ms of a 150 ms iteration) are scheduling noise, not a slowdown anyone sees.
  bool change_of_iteration = false;
  // The metric whose test this one shares (its samples are a function of the same per-iteration
  // samples): throughput is batch x gen / e2e, so it is judged with latency.median's test and
  // counts once. Empty: a test of its own.
  std::string same_test_as;
};
const std::vector<MetricSpec>& compared_metrics();
// Per-iteration samples of `metric` for a result (empty when it has none).
std::vector<double> metric_samples(const ConfigResult& r, const std::string& metric);

struct MetricComparison {
  std::string config, metric, unit;
  double base = 0, current = 0;  // medians
  double change = 0;             // (current - base) / base, or / base e2e median (change_of_iteration)
  bool change_of_iteration = false;
  double p_value = 1;     // the U test's own
  double p_adjusted = 1;  // corrected for the number of tests made (= p_value without correction)
  std::string same_test_as;  // MetricSpec::same_test_as: the row whose test this one shares
  std::size_t base_n = 0, current_n = 0;
  std::size_t base_runs = 1, current_runs = 1;  // result files that contributed samples
  // Largest difference between the medians of two runs of the same side, on the scale of
  // `change` (0 with one run per side). A change within it is `noisy`, however small p is.
  double run_spread = 0;
  bool gating = true;  // decides the exit status; false: reported only (a secondary metric)
  // The smallest corrected p these sample sizes allow (smallest_mann_whitney_p times the family
  // size under Holm); at or above alpha the test cannot flag anything.
  double smallest_p_adjusted = 0;
  Verdict verdict = Verdict::same;
  std::string why;  // for noisy: what made it undecidable
};

struct Comparison {
  std::vector<MetricComparison> rows;
  std::vector<std::string> only_in_base, only_in_current;
  std::vector<std::string> status_regressions;  // ran fine in the base, failed now
  std::vector<std::string> warnings;            // different hardware, backend, schema...
  // The tests made: one per configuration and metric with enough samples on both sides, a metric
  // sharing another's test (same_test_as) not counted again; and the configurations they cover.
  std::size_t tests = 0, configurations_tested = 0;
  std::size_t secondary_tests = 0;  // tests of the non-gating metrics, corrected among themselves
  // Non-empty when a gating test cannot reach alpha with its samples: "cannot detect a
  // regression with n=5 per side at alpha 0.01 over 7 tests; need n >= 7 per side".
  std::string undetectable;
  bool regressed() const;  // a gating metric regressed, or a configuration failed now
  // 1 regressed, else 2 when a gating test could not have flagged anything, else 0.
  int exit_status() const;
};

// Verdicts counted once per judgement: a row that shares another's test (throughput with
// latency.median) joins that row, and the pair counts with the graver of its two verdicts.
// `gating` picks the gating judgements or the secondary ones.
struct VerdictCounts {
  std::size_t regressions = 0, improvements = 0, noisy = 0, same = 0;
};
VerdictCounts count_verdicts(const Comparison& c, bool gating = true);

// "12 tests over 4 configurations, Holm-corrected at alpha 0.01; throughput shares latency.median's test"
std::string describe_tests(const Comparison& c, const CompareOptions& options);

struct ResultsFile {
  std::string name;
  nlohmann::json doc;
};

// Reads one side of a comparison: one path, or several separated by commas (pooled). Every file
// goes through read_results_file (and so validate_results): ConfigError naming file,
// configuration and field for unusable input.
std::vector<ResultsFile> read_compare_side(const std::string& paths);

// Throws ConfigError for unusable input (every document is checked by validate_results first,
// named by its ResultsFile::name). Each side holds at least one file; several are pooled.
Comparison compare_runs(const std::vector<ResultsFile>& base, const std::vector<ResultsFile>& current,
                        const CompareOptions& options);
Comparison compare_runs(const nlohmann::json& base, const nlohmann::json& current, const CompareOptions& options,
                        const std::string& base_name, const std::string& current_name);

std::string format_comparison(const Comparison& c, const std::string& format, const CompareOptions& options);

// --gate's metric names (or "all"), checked against compared_metrics(); throws ConfigError.
std::vector<std::string> parse_gate(const std::vector<std::string>& names);

// "5%" -> 0.05, "0.05" -> 0.05; throws ConfigError naming `what`.
double parse_fraction(const std::string& text, const std::string& what);

}  // namespace llmt
