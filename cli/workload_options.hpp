// bench's traffic options: a request-list workload (--workload and how to take and time its
// requests), the batching modes and balancing policies to sweep, and --slo. docs/workloads.md.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/balancer.hpp"
#include "engine/request_metrics.hpp"
#include "engine/scheduler.hpp"
#include "engine/workload.hpp"
#include "model/model.hpp"

namespace llmt::cli {

// The options as typed; empty: not given.
struct WorkloadFlags {
  std::string workload, requests, request_offset, length_scale;
  std::string arrival, rate, burstiness, time_scale;
  std::string batching, balance, token_budget, prefill_chunk;
  std::string slo;
};

struct TrafficOptions {
  std::optional<WorkloadSourceSpec> workload;  // none: today's --batch/--prompt/--gen
  RequestListOptions list;                     // --requests, --request-offset, --length-scale, arrivals, --seed
  std::vector<BatchingMode> batching = {BatchingMode::static_batches};
  std::vector<BalancePolicy> balance = {BalancePolicy::round_robin};
  int token_budget = 0;   // 0: no limit
  int prefill_chunk = 0;  // 0: whole prompts
  SloLimits slo;
};

// Registers the options on `cmd`; CLI11 fills `flags`.
void add_workload_options(CLI::App* cmd, WorkloadFlags& flags);

// Checks and converts the flags (ConfigError naming the option on a bad value, or on an option
// that needs another: --rate without --arrival poisson or gamma, any of them without --workload).
TrafficOptions parse_traffic_options(const WorkloadFlags& flags, std::uint64_t seed);

// The request list of --workload, checked against `model`'s positions (a ConfigError names the
// file and row); nullopt without --workload.
std::optional<RequestList> traffic_request_list(const TrafficOptions& traffic, const ModelConfig& model);

}  // namespace llmt::cli
