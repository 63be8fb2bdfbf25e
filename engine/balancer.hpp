// Which data-parallel replica serves each request. The decisions are made once, up front, from
// the requests' lengths and arrival times under a simple model of each replica's queue (below),
// not from the replicas' live state: so every configuration with the same replica count runs
// the same assignment, and configurations compare on equal terms. docs/workloads.md.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/workload.hpp"

namespace llmt {

// round_robin: the i-th request in arrival order goes to replica i % replicas (SGLang's
//   round_robin).
// shortest_queue: each request, at its arrival, goes to the replica with the fewest requests
//   assigned and not finished in the model (ties: the lowest index). SGLang's shortest_queue.
// least_tokens: requests arriving together are taken longest first (prompt + output tokens) and
//   each goes to the replica with the fewest outstanding tokens in the model (longest processing
//   time first; ties: the lowest index). SGLang's minimum_tokens.
// The queue model: each replica serves its requests one after another, first come first served,
// at the same nominal speed of (the list's tokens) / (replicas x the span of its arrivals) tokens
// per second: the speed at which the replicas together just keep up with the arrivals. A request
// finishes (prompt + output) / speed after it starts; a replica's outstanding tokens are its
// unserved work. When every request arrives at once there is no such speed and nothing finishes:
// shortest_queue takes the replica with the fewest requests so far, least_tokens the one with the
// fewest tokens so far.
enum class BalancePolicy { round_robin, shortest_queue, least_tokens };
inline constexpr BalancePolicy kAllBalancePolicies[] = {BalancePolicy::round_robin, BalancePolicy::shortest_queue,
                                                        BalancePolicy::least_tokens};
std::string_view balance_policy_name(BalancePolicy p);  // "round-robin", "shortest-queue", "least-tokens"
std::optional<BalancePolicy> parse_balance_policy(std::string_view s);

// Per replica, the indices of its requests in arrival order (ties: list order). Requests are
// taken in arrival order whatever the list's order. replicas >= 1.
std::vector<std::vector<int>> assign_requests(const RequestList& list, int replicas, BalancePolicy policy);

// Prompt plus output tokens of each replica's requests.
std::vector<long long> replica_tokens(const RequestList& list, const std::vector<std::vector<int>>& assignment);

// Mean over max of the tokens per replica (TensorRT-LLM's balance ratio for attention data
// parallelism): 1 is perfect balance, 1/replicas all on one. 1 when every replica has none.
double balance_ratio(std::span<const long long> tokens_per_replica);

}  // namespace llmt
