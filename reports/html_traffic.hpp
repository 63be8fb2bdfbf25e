// The HTML report's sections for request-list workloads (docs/metrics.md, "Requests"): each
// configuration's per-request figures, latency CDFs, replica timelines and busy/idle time, and
// balance by policy.
#pragma once

#include <string>
#include <vector>

#include "engine/result.hpp"

namespace llmt {

// Empty when no configuration ran a request list.
std::string traffic_sections(const std::vector<const ConfigResult*>& measured);

// Each replica's spans with a request in flight (admitted, not yet finished) in iteration
// `iteration`, overlapping spans joined, in ms from the iteration's start; [replica][span].
std::vector<std::vector<std::pair<double, double>>> replica_spans(const TrafficMetrics& t, int replicas, int iteration);

}  // namespace llmt
