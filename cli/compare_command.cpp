// `llmthreads compare base.json new.json`: a regression gate whose exit status means exactly
// "a significant regression beyond the threshold" (0 none, 1 regression, 2 unusable input, or
// samples too few for any gating test to reach alpha: a gate that cannot fire never passes).
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/output_paths.hpp"
#include "cli/parse.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"
#include "reports/compare.hpp"
#include "reports/json_schema.hpp"

namespace llmt::cli {

Command add_compare_command(CLI::App& app) {
  struct Options {
    std::string base, current, format = "table", output, correction = "holm";
    std::vector<std::string> thresholds, gate{"latency.median"};
    double alpha = 0.01;
    int min_samples = 3;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Compare two result files: per configuration and metric, the change, a Mann-Whitney U test "
                 "(latency and throughput share one; p-values corrected for the number of tests made) and a verdict. "
                 "Exit 0: no regression; 1: a regression; 2: unusable input, or too few samples to detect one");
  cmd->add_option("base", o->base,
                  "Baseline results (JSON from `llmthreads bench --json`); several runs of the same sweep, "
                  "comma-separated, are pooled")
      ->required();
  cmd->add_option("new", o->current, "New results (one file, or several comma-separated)")->required();
  cmd->add_option("--threshold", o->thresholds,
                  "Relative change that counts: 5% (all metrics) or metric=3% (latency.median, ttft.median, "
                  "tpot.median, throughput, sync.exposed: its change is a share of the base iteration; request "
                  "lists, one value per iteration: requests.ttft_p50, requests.tpot_p50, requests.e2e_p99, "
                  "requests.goodput); repeatable")
      ->default_str("5%");
  cmd->add_option("--alpha", o->alpha,
                  "Significance level of the two-sided Mann-Whitney U tests: of the whole comparison with "
                  "--correction holm, of each test with none")
      ->capture_default_str();
  cmd->add_option("--correction", o->correction,
                  "holm: Holm-Bonferroni over the tests made (the chance of any false alarm is at most alpha); "
                  "none: each test at alpha")
      ->capture_default_str();
  cmd->add_option("--gate", o->gate,
                  "Metrics whose tests decide the exit status, comma-separated, or all; the others are reported "
                  "(corrected among themselves) but never fail the gate")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--min-samples", o->min_samples, "Fewer samples on either side make a metric 'noisy'")
      ->capture_default_str();
  cmd->add_option("--format", o->format, "table, markdown (for a pull-request comment) or json")->capture_default_str();
  cmd->add_option("--output,-o", o->output, "Write the comparison to this file instead of stdout");
  return [o] {
    CompareOptions options;
    options.alpha = o->alpha;
    options.min_samples = o->min_samples;
    options.correction = parse_correction(o->correction);
    options.gate = parse_gate(o->gate);
    check_alpha(o->alpha);
    check_min_samples(o->min_samples);
    if (o->format != "table" && o->format != "markdown" && o->format != "json")
      throw ConfigError(fmt::format("--format: '{}' is not table, markdown or json", o->format));
    for (const std::string& t : o->thresholds) {
      const auto eq = t.find('=');
      if (eq == std::string::npos) {
        options.threshold = checked_threshold(t, "--threshold");
        continue;
      }
      const std::string metric = t.substr(0, eq);
      bool known = false;
      for (const MetricSpec& m : compared_metrics()) known |= m.name == metric;
      if (!known) throw ConfigError(fmt::format("--threshold: unknown metric '{}'", metric));
      options.per_metric[metric] = checked_threshold(t.substr(eq + 1), "--threshold " + metric);
    }
    if (!o->output.empty()) {
      check_output_target("--output", o->output);
      std::vector<NamedPath> inputs = each_file("base", o->base);
      for (NamedPath& p : each_file("new", o->current)) inputs.push_back(p);
      refuse_shared_paths({{"--output", o->output}}, inputs);
    }
    const Comparison c = compare_runs(read_compare_side(o->base), read_compare_side(o->current), options);
    const std::string text = format_comparison(c, o->format, options);
    if (o->output.empty()) {
      fmt::print("{}", text);
    } else {
      write_output_file(o->output, "--output", text);
    }
    for (const std::string& w : c.warnings) fmt::print(stderr, "warning: {}\n", w);
    if (c.exit_status() == 2) fmt::print(stderr, "llmthreads: error: compare: {}\n", c.undetectable);
    return c.exit_status();
  };
}

}  // namespace llmt::cli
