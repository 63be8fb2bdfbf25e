// Request-list workloads in a results file: the point's plan (its request list in full, so that a
// reader rebuilds the same configuration id) and its traffic metrics (per-request samples stored,
// their summaries recomputed on reading). Internal to the reports layer.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "engine/result.hpp"
#include "engine/traffic.hpp"
#include "reports/json_access.hpp"

namespace llmt {

nlohmann::json traffic_plan_json(const TrafficPlan& plan);
std::shared_ptr<const TrafficPlan> traffic_plan_from_json(const FieldReader& t);

nlohmann::json traffic_metrics_json(const TrafficMetrics& m);
TrafficMetrics traffic_metrics_from_json(const FieldReader& t, const TrafficPlan& plan);

}  // namespace llmt
