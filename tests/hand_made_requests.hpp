// A small request list of unequal lengths, and a request-list configuration point of it, shared by
// the CPU (test_traffic_run) and GPU (test_cuda) tests of ragged steps.
#pragma once

#include <memory>

#include "engine/plan.hpp"
#include "engine/traffic.hpp"

namespace llmt::testing {

// Unequal prompts (1 to 12 tokens) and outputs (1 to 5), all arriving at once.
inline std::shared_ptr<const RequestList> hand_made_requests() {
  auto list = std::make_shared<RequestList>();
  list->source = "hand-made";
  const int prompts[] = {5, 12, 1, 7, 3, 9, 2};
  const int outputs[] = {3, 1, 5, 2, 4, 1, 3};
  for (int i = 0; i < 7; ++i) list->requests.push_back({prompts[i], outputs[i], 0.0});
  return list;
}

inline ConfigPoint traffic_point(const char* strategy, Layout layout, std::shared_ptr<const RequestList> requests,
                                 BatchingOptions batching, BalancePolicy balance = BalancePolicy::round_robin) {
  auto plan = std::make_shared<TrafficPlan>();
  plan->requests = std::move(requests);
  plan->batching = batching;
  plan->balance = balance;
  ConfigPoint p{strategy, layout, SyncMode::blocking, MergeMode::concat, sizing_workload(*plan, layout.dp)};
  p.traffic = plan;
  return p;
}

}  // namespace llmt::testing
