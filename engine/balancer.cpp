#include "engine/balancer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "model/error.hpp"

namespace llmt {
namespace {

long long request_tokens(const Request& r) { return static_cast<long long>(r.prompt) + r.output; }

// The replicas' queues under the model of balancer.hpp: first come first served at `speed`
// tokens per second; speed 0: nothing finishes.
class QueueModel {
 public:
  QueueModel(int replicas, double speed) : speed_(speed), queues_(static_cast<std::size_t>(replicas)) {}

  // Requests assigned to `replica` and not finished at `now` (times never go back).
  int unfinished(int replica, double now) {
    Queue& q = queues_[static_cast<std::size_t>(replica)];
    if (speed_ == 0) return static_cast<int>(q.finishes.size());
    while (q.first_unfinished < q.finishes.size() && q.finishes[q.first_unfinished] <= now) ++q.first_unfinished;
    return static_cast<int>(q.finishes.size() - q.first_unfinished);
  }
  // Tokens `replica` has still to serve at `now`.
  double outstanding_tokens(int replica, double now) const {
    const Queue& q = queues_[static_cast<std::size_t>(replica)];
    if (speed_ == 0) return static_cast<double>(q.tokens);
    return std::max(0.0, q.busy_until - now) * speed_;
  }
  void add(int replica, double arrival, long long tokens) {
    Queue& q = queues_[static_cast<std::size_t>(replica)];
    q.tokens += tokens;
    if (speed_ == 0) {
      q.finishes.push_back(0);  // counted, never finished
      return;
    }
    q.busy_until = std::max(q.busy_until, arrival) + static_cast<double>(tokens) / speed_;
    q.finishes.push_back(q.busy_until);
  }

 private:
  struct Queue {
    std::vector<double> finishes;  // in assignment order, which FCFS keeps increasing
    std::size_t first_unfinished = 0;
    double busy_until = 0;
    long long tokens = 0;
  };
  double speed_;
  std::vector<Queue> queues_;
};

// The replica with the least `load` (ties: the lowest index).
template <typename Load>
int least_loaded(int replicas, Load load) {
  int best = 0;
  auto best_load = load(0);
  for (int r = 1; r < replicas; ++r)
    if (const auto l = load(r); l < best_load) {
      best = r;
      best_load = l;
    }
  return best;
}

std::vector<int> arrival_order(const RequestList& list) {
  std::vector<int> order(list.requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return list.requests[static_cast<std::size_t>(a)].arrival_s < list.requests[static_cast<std::size_t>(b)].arrival_s;
  });
  return order;
}

double nominal_speed(const RequestList& list, const std::vector<int>& order, int replicas) {
  if (order.empty()) return 0;
  const double span = list.requests[static_cast<std::size_t>(order.back())].arrival_s -
                      list.requests[static_cast<std::size_t>(order.front())].arrival_s;
  if (!(span > 0)) return 0;
  return static_cast<double>(list.prompt_tokens() + list.output_tokens()) / (replicas * span);
}

}  // namespace

std::string_view balance_policy_name(BalancePolicy p) {
  switch (p) {
    case BalancePolicy::round_robin: return "round-robin";
    case BalancePolicy::shortest_queue: return "shortest-queue";
    case BalancePolicy::least_tokens: return "least-tokens";
  }
  return "?";
}

std::optional<BalancePolicy> parse_balance_policy(std::string_view s) {
  for (BalancePolicy p : kAllBalancePolicies)
    if (s == balance_policy_name(p)) return p;
  return std::nullopt;
}

std::vector<std::vector<int>> assign_requests(const RequestList& list, int replicas, BalancePolicy policy) {
  if (replicas < 1) throw ConfigError(fmt::format("balancing: {} replicas; at least 1", replicas));
  const std::vector<int> order = arrival_order(list);
  std::vector<int> replica_of(list.requests.size(), 0);
  QueueModel model(replicas, nominal_speed(list, order, replicas));
  for (std::size_t k = 0; k < order.size();) {
    // The requests arriving together: order[k, group_end).
    std::size_t group_end = k + 1;
    const double now = list.requests[static_cast<std::size_t>(order[k])].arrival_s;
    while (group_end < order.size() && list.requests[static_cast<std::size_t>(order[group_end])].arrival_s == now)
      ++group_end;
    std::vector<int> group(order.begin() + static_cast<long>(k), order.begin() + static_cast<long>(group_end));
    if (policy == BalancePolicy::least_tokens)
      std::stable_sort(group.begin(), group.end(), [&](int a, int b) {
        return request_tokens(list.requests[static_cast<std::size_t>(a)]) >
               request_tokens(list.requests[static_cast<std::size_t>(b)]);
      });
    for (std::size_t g = 0; g < group.size(); ++g) {
      const int i = group[g];
      int replica = 0;
      switch (policy) {
        case BalancePolicy::round_robin: replica = static_cast<int>((k + g) % static_cast<std::size_t>(replicas)); break;
        case BalancePolicy::shortest_queue:
          replica = least_loaded(replicas, [&](int r) { return model.unfinished(r, now); });
          break;
        case BalancePolicy::least_tokens:
          replica = least_loaded(replicas, [&](int r) { return model.outstanding_tokens(r, now); });
          break;
      }
      replica_of[static_cast<std::size_t>(i)] = replica;
      model.add(replica, now, request_tokens(list.requests[static_cast<std::size_t>(i)]));
    }
    k = group_end;
  }
  std::vector<std::vector<int>> assignment(static_cast<std::size_t>(replicas));
  for (int i : order) assignment[static_cast<std::size_t>(replica_of[static_cast<std::size_t>(i)])].push_back(i);
  return assignment;
}

std::vector<long long> replica_tokens(const RequestList& list, const std::vector<std::vector<int>>& assignment) {
  std::vector<long long> tokens;
  for (const std::vector<int>& requests : assignment) {
    long long sum = 0;
    for (int i : requests) sum += request_tokens(list.requests.at(static_cast<std::size_t>(i)));
    tokens.push_back(sum);
  }
  return tokens;
}

double balance_ratio(std::span<const long long> tokens_per_replica) {
  if (tokens_per_replica.empty()) return 1;
  const long long most = *std::max_element(tokens_per_replica.begin(), tokens_per_replica.end());
  if (most <= 0) return 1;
  const double total = std::accumulate(tokens_per_replica.begin(), tokens_per_replica.end(), 0.0);
  return total / static_cast<double>(tokens_per_replica.size()) / static_cast<double>(most);
}

}  // namespace llmt
