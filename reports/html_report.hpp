// One self-contained HTML file from a results file (or a comparison of two): inline CSS and
// inline SVG drawn by llmthreads, no scripts and no network access needed to view it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "reports/compare.hpp"

namespace llmt {

// Plots: latency, speed-up and scaling efficiency against rank count per strategy; time
// breakdown, memory per rank, load imbalance and (when the run had ceilings) the share of the
// speed-of-light floor achieved per configuration; then the ranking and the verification table.
std::string html_report(const nlohmann::json& results, const std::string& source);

// The comparison table and a chart of each configuration's change in median latency.
std::string html_comparison(const Comparison& comparison, const CompareOptions& options, const std::string& base,
                            const std::string& current);

}  // namespace llmt
