// Per-request latency metrics of a run from the times each request passed each point, as vLLM's
// `bench serve` defines them, and goodput under service-level limits. Every figure is defined in
// docs/metrics.md ("Requests").
#pragma once

#include <optional>
#include <span>
#include <string>

#include "engine/scheduler.hpp"
#include "engine/stats.hpp"
#include "engine/workload.hpp"

namespace llmt {

// Service-level limits, in seconds; a request meets them when it meets every one given.
struct SloLimits {
  std::optional<double> ttft_s, tpot_s, itl_s, e2e_s;
  bool empty() const { return !ttft_s && !tpot_s && !itl_s && !e2e_s; }
  bool operator==(const SloLimits&) const = default;
};

// --slo "ttft=200ms,tpot=50ms,itl=100ms,e2e=2s": items KEY=VALUE with a unit (ms or s), each key
// once, values positive and finite. Empty text: no limits. Throws ConfigError naming the item.
SloLimits parse_slo(const std::string& text);
std::string slo_label(const SloLimits& limits);  // "ttft=200ms,tpot=50ms"; "" when empty

struct RequestMetrics {
  int requests = 0;
  long long prompt_tokens = 0, output_tokens = 0;
  double duration_s = 0;  // the first arrival to the last finish
  // In seconds; Summary's median is the p50.
  Summary ttft;      // first token - arrival
  Summary tpot;      // (finished - first token) / (output - 1), requests with output > 1 only
  Summary itl;       // every gap between consecutive output tokens of a request, all requests pooled
  Summary e2e;       // finished - arrival
  Summary queueing;  // admitted - arrival
  double requests_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  // Under the limits (every request when none are given):
  int slo_met = 0;
  double slo_met_fraction = 0;
  double goodput_per_s = 0;  // requests meeting every limit per second of duration
};

// Whether one request meets every limit. A request with one output token has no TPOT and no
// inter-token gap: it meets those limits (vLLM counts its TPOT as 0).
bool meets_slo(const Request& request, const RequestTimes& times, const SloLimits& limits);

// The metrics of finished requests: `times` of any subset of `list` (every replica's, joined).
// Throws std::invalid_argument for a request not finished or whose times are out of order.
RequestMetrics request_metrics(const RequestList& list, std::span<const RequestTimes> times, const SloLimits& limits);

}  // namespace llmt
