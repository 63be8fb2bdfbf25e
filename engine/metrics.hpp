// Derives a configuration's metrics from its raw samples. Definitions: docs/metrics.md.
#pragma once

#include "engine/result.hpp"

namespace llmt {

// Latency summaries, throughputs, sync time and fraction, per-rank busy time and imbalance.
void fill_sample_metrics(const ConfigPoint& point, const RawSamples& samples, ConfigMetrics& metrics);

// max / mean - 1 of per-rank busy times (0 for one rank or no data).
double load_imbalance(const std::vector<double>& busy);

}  // namespace llmt
