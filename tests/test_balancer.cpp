// Assignment of requests to data-parallel replicas, on hand-made lists whose answers are worked
// out in the comments, and the balance ratio.
#include <gtest/gtest.h>

#include "engine/balancer.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

using Assignment = std::vector<std::vector<int>>;

// Eight requests arriving together; prompt + output tokens 11, 3, 8, 5, 10, 2, 6, 5 (50 in all).
RequestList offline_eight() {
  RequestList list;
  list.source = "eight";
  list.requests = {{10, 1, 0}, {2, 1, 0}, {7, 1, 0}, {3, 2, 0}, {9, 1, 0}, {1, 1, 0}, {5, 1, 0}, {4, 1, 0}};
  return list;
}

// Tokens 30, 10 at 0 s; 10 at 2 s; 10 at 2.5 s. The model's speed: 60 tokens / (2 replicas x
// 2.5 s) = 12 tokens/s, so request 0 keeps its replica until 2.5 s and request 1 until 0.83 s.
RequestList timed_four() {
  RequestList list;
  list.source = "timed";
  list.requests = {{29, 1, 0.0}, {9, 1, 0.0}, {9, 1, 2.0}, {9, 1, 2.5}};
  return list;
}

TEST(Balancer, PolicyNames) {
  for (BalancePolicy p : kAllBalancePolicies) EXPECT_EQ(parse_balance_policy(balance_policy_name(p)), p);
  EXPECT_EQ(balance_policy_name(BalancePolicy::least_tokens), "least-tokens");
  EXPECT_EQ(parse_balance_policy("shortest-queue"), BalancePolicy::shortest_queue);
  EXPECT_FALSE(parse_balance_policy("round_robin"));
  EXPECT_FALSE(parse_balance_policy(""));
}

TEST(Balancer, RoundRobinDealsInArrivalOrder) {
  const RequestList list = offline_eight();
  EXPECT_EQ(assign_requests(list, 2, BalancePolicy::round_robin), (Assignment{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  EXPECT_EQ(assign_requests(list, 3, BalancePolicy::round_robin), (Assignment{{0, 3, 6}, {1, 4, 7}, {2, 5}}));
  EXPECT_EQ(assign_requests(list, 1, BalancePolicy::round_robin), (Assignment{{0, 1, 2, 3, 4, 5, 6, 7}}));
  // More replicas than requests: the last ones have none.
  RequestList two;
  two.requests = {{1, 1, 0}, {1, 1, 0}};
  EXPECT_EQ(assign_requests(two, 4, BalancePolicy::round_robin), (Assignment{{0}, {1}, {}, {}}));
}

TEST(Balancer, RoundRobinFollowsArrivalsNotListOrder) {
  RequestList list;
  list.requests = {{1, 1, 3.0}, {1, 1, 1.0}, {1, 1, 2.0}};
  // In arrival order 1, 2, 0: replica 0 gets requests 1 and 0, replica 1 gets request 2.
  EXPECT_EQ(assign_requests(list, 2, BalancePolicy::round_robin), (Assignment{{1, 0}, {2}}));
}

TEST(Balancer, LeastTokensTakesLongestFirst) {
  // Longest first: 11 (r0) -> A, 10 (r4) -> B, 8 (r2) -> B (10 < 11), 6 (r6) -> A (11 < 18),
  // 5 (r3) -> A (17 < 18), 5 (r7) -> B (18 < 22), 3 (r1) -> A (22 < 23), 2 (r5) -> B (23 < 25).
  const RequestList list = offline_eight();
  const Assignment a = assign_requests(list, 2, BalancePolicy::least_tokens);
  EXPECT_EQ(a, (Assignment{{0, 1, 3, 6}, {2, 4, 5, 7}}));
  EXPECT_EQ(replica_tokens(list, a), (std::vector<long long>{25, 25}));
  const std::vector<long long> rr = replica_tokens(list, assign_requests(list, 2, BalancePolicy::round_robin));
  EXPECT_EQ(rr, (std::vector<long long>{35, 15}));
  EXPECT_DOUBLE_EQ(balance_ratio(replica_tokens(list, a)), 1.0);
  EXPECT_DOUBLE_EQ(balance_ratio(rr), 25.0 / 35.0);
}

TEST(Balancer, ShortestQueueOfflineIsFewestAssigned) {
  // Nothing finishes when all arrive at once: fewest assigned so far, lowest index on ties.
  EXPECT_EQ(assign_requests(offline_eight(), 3, BalancePolicy::shortest_queue),
            (Assignment{{0, 3, 6}, {1, 4, 7}, {2, 5}}));
}

TEST(Balancer, ShortestQueueUsesTheQueueModel) {
  // At 2 s replica A still serves request 0 (until 2.5 s), B is empty: request 2 -> B (until
  // 2.83 s). At 2.5 s A is empty, B busy: request 3 -> A. Round-robin would give A 0 and 2.
  const RequestList list = timed_four();
  EXPECT_EQ(assign_requests(list, 2, BalancePolicy::shortest_queue), (Assignment{{0, 3}, {1, 2}}));
  EXPECT_EQ(assign_requests(list, 2, BalancePolicy::round_robin), (Assignment{{0, 2}, {1, 3}}));
}

TEST(Balancer, LeastTokensUsesOutstandingWork) {
  // At 2 s A has (2.5 - 2) x 12 = 6 tokens left, B none: request 2 -> B. At 2.5 s A has none,
  // B (2.83 - 2.5) x 12 = 4: request 3 -> A.
  EXPECT_EQ(assign_requests(timed_four(), 2, BalancePolicy::least_tokens), (Assignment{{0, 3}, {1, 2}}));
}

TEST(Balancer, SameAssignmentEveryTime) {
  const RequestList list = offline_eight();
  for (BalancePolicy p : kAllBalancePolicies)
    EXPECT_EQ(assign_requests(list, 3, p), assign_requests(list, 3, p)) << balance_policy_name(p);
}

TEST(Balancer, LeastTokensBalancesTheAzureSampleBetterThanRoundRobin) {
  // The first 48 requests of the bundled conversation trace on 4 replicas, all at once.
  RequestListOptions o;
  o.requests = 48;
  const RequestList list = make_request_list(parse_workload_source("azure-conv"), o);
  const double rr = balance_ratio(replica_tokens(list, assign_requests(list, 4, BalancePolicy::round_robin)));
  const double lt = balance_ratio(replica_tokens(list, assign_requests(list, 4, BalancePolicy::least_tokens)));
  EXPECT_GT(lt, rr);
  EXPECT_GT(lt, 0.95);
}

TEST(Balancer, BalanceRatio) {
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<long long>{10, 10, 10, 10}), 1.0);
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<long long>{40, 0, 0, 0}), 0.25);
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<long long>{30, 10}), 20.0 / 30.0);
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<long long>{0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(balance_ratio(std::vector<long long>{}), 1.0);
}

TEST(Balancer, RefusesNoReplicas) {
  EXPECT_THROW(assign_requests(offline_eight(), 0, BalancePolicy::round_robin), ConfigError);
}

}  // namespace
}  // namespace llmt
