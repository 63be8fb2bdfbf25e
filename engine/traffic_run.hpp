// Running and summarising a request-list workload (engine/traffic.hpp): each rank runs its
// replica's schedule step by step; afterwards the replicas' step records become per-request
// times and the metrics of docs/metrics.md, "Requests".
#pragma once

#include <functional>
#include <vector>

#include "engine/backend.hpp"
#include "engine/rank_outcome.hpp"
#include "engine/request_metrics.hpp"
#include "engine/traffic.hpp"
#include "engine/transformer.hpp"

namespace llmt {

// One replica's requests and their batching, run on one of its ranks (every rank of the replica
// runs the same steps: offline arrivals make the schedule independent of time, and open-loop
// arrivals are admitted only where a replica is one rank).
class ReplicaSchedule {
 public:
  ReplicaSchedule(const TrafficPlan& plan, int replica, int replicas);

  // Runs every step of one iteration; `after_step` sees each step once it is submitted (its
  // logits are in the transformer's output). The steps' stamps are the backend's, unresolved.
  std::vector<TrafficStepRecord> run(TransformerRank& transformer, Backend& backend,
                                     const std::function<void(const Step&)>& after_step, SlotUse& use) const;

  // Set-up: prepares the attention kernels of every step the schedule takes with all its
  // requests arrived (the offline schedule, exactly; an open-loop run's steps mostly coincide).
  void prepare(TransformerRank& transformer) const;

  const std::vector<int>& requests() const { return requests_; }

 private:
  const TrafficPlan& plan_;
  std::vector<int> requests_;
};

// Where each emitting item's logits go: request `request`'s row `output_index`.
int output_index(const RequestList& list, const StepItem& item);

// The figures of `plan` itself (its labels, slots and --slo label), before any measurement.
TrafficMetrics describe_traffic(const TrafficPlan& plan, const std::string& slo);

// The per-request summaries and rates of `m` from its samples (also what a results file's reader
// recomputes them with): latencies pooled over iterations, rates per iteration (their median).
void summarize_requests(TrafficMetrics& m, const RequestList& list, const SloLimits& slo);

// The measured iterations in `samples` (the largest iteration index plus one; 0 without samples).
int iteration_count(const std::vector<RequestSample>& samples);

// Each measured iteration's request metrics (index i: iteration i's samples alone): the
// iteration-level values `compare` tests, since the requests of one iteration are not independent.
std::vector<RequestMetrics> request_metrics_per_iteration(const std::vector<RequestSample>& samples,
                                                          const RequestList& list, const SloLimits& slo);

// The traffic metrics of a configuration from its ranks' outcomes (stamps resolved), with the
// reason a request could not be summarised thrown as Error.
TrafficMetrics traffic_metrics(const TrafficPlan& plan, const Layout& layout, const std::vector<RankOutcome>& ranks,
                               const SloLimits& slo);

}  // namespace llmt
