// `llmthreads report r.json -o report.html`, or `report --compare base.json new.json -o ...`:
// one self-contained HTML file with the plots drawn as inline SVG.
#include <fmt/format.h>

#include <cmath>

#include "cli/commands.hpp"
#include "cli/output_paths.hpp"
#include "cli/parse.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"
#include "reports/html_report.hpp"
#include "reports/json_schema.hpp"

namespace llmt::cli {

Command add_report_command(CLI::App& app) {
  struct Options {
    std::string results, output = "report.html";
    std::vector<std::string> compare;
    double alpha = 0.01, threshold = 0.05;
    std::string correction = "holm";
    std::vector<std::string> gate{"latency.median"};
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("report", "Write a self-contained HTML report of a results file, or of a "
                                               "comparison of two (--compare base.json new.json)");
  cmd->add_option("results", o->results, "Results file (JSON from `llmthreads bench --json`)");
  cmd->add_option("--compare", o->compare, "Compare two results files instead (each may be several comma-separated runs, pooled)")->expected(2);
  cmd->add_option("--output,-o", o->output, "HTML file to write")->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "--compare: significance level")->capture_default_str();
  cmd->add_option("--threshold", o->threshold, "--compare: relative change that counts (0.05 = 5%)")
      ->capture_default_str();
  cmd->add_option("--correction", o->correction, "--compare: holm (over the tests made) or none")->capture_default_str();
  cmd->add_option("--gate", o->gate, "--compare: metrics whose tests decide the verdict (as compare's --gate)")
      ->delimiter(',')
      ->capture_default_str();
  return [o] {
    check_output_target("--output", o->output);
    std::vector<NamedPath> inputs = each_file("results", o->results);
    for (const std::string& side : o->compare)
      for (NamedPath& p : each_file("--compare", side)) inputs.push_back(p);
    refuse_shared_paths({{"--output", o->output}}, inputs);
    std::string html;
    if (!o->compare.empty()) {
      check_alpha(o->alpha);
      if (!std::isfinite(o->threshold) || o->threshold < 0)
        throw ConfigError(fmt::format("--threshold: {} is not a fraction >= 0 (0.05 = 5%)", o->threshold));
      CompareOptions options;
      options.alpha = o->alpha;
      options.threshold = o->threshold;
      options.correction = parse_correction(o->correction);
      options.gate = parse_gate(o->gate);
      const Comparison c = compare_runs(read_compare_side(o->compare[0]), read_compare_side(o->compare[1]), options);
      html = html_comparison(c, options, o->compare[0], o->compare[1]);
    } else {
      if (o->results.empty()) throw ConfigError("report: give a results file, or --compare base.json new.json");
      html = html_report(read_results_file(o->results), o->results);
    }
    write_output_file(o->output, "--output", html);
    fmt::print("wrote {}\n", o->output);
    return 0;
  };
}

}  // namespace llmt::cli
