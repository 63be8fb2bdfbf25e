// A request-list workload as one sweep point runs it: the requests (engine/workload.hpp), how
// each replica batches them (engine/scheduler.hpp) and how they are spread over the replicas
// (engine/balancer.hpp). docs/workloads.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/balancer.hpp"
#include "engine/plan.hpp"
#include "engine/reference.hpp"
#include "engine/scheduler.hpp"
#include "engine/workload.hpp"
#include "model/model.hpp"

namespace llmt {

struct TrafficPlan {
  std::shared_ptr<const RequestList> requests;
  BatchingOptions batching;  // per replica: `slots` sequences at once
  BalancePolicy balance = BalancePolicy::round_robin;
  bool open_loop() const;  // some request arrives after the run starts
  // "req48.1a2b3c4d.static.s16.round-robin" (continuous adds ".tb<budget>" and ".chunk<T>" when set).
  std::string label() const;
  // Per replica, its requests in arrival order.
  std::vector<std::vector<int>> assignment(int replicas) const;
};

// The workload that sizes a rank's buffers for `plan` on `replicas` replicas: every slot of
// every replica (batch), the longest prompt (the most tokens a slot feeds in one step) and the
// longest output, so that the KV cache holds the longest request.
Workload sizing_workload(const TrafficPlan& plan, int replicas);

// Why `point` (whose traffic is set) cannot run its request list on `model`, or nullopt: the
// layouts and modes ragged steps do not support yet are refused by name.
std::optional<std::string> traffic_problem(const ModelConfig& model, const ConfigPoint& point);

// The reference's positions for a request list: every request a sequence (its global index), the
// logits of each position that yields an output token, grouped by request.
LogitPositions request_logit_positions(const RequestList& list);

// The positions a point's reference covers: its request list's, or its uniform workload's steps.
LogitPositions reference_positions(const ConfigPoint& point);

// A scheduler step as the transformer runs it.
std::vector<StepPiece> step_pieces(const Step& step);

}  // namespace llmt
