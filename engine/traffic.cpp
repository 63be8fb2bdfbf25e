#include "engine/traffic.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace llmt {

bool TrafficPlan::open_loop() const {
  return std::any_of(requests->requests.begin(), requests->requests.end(),
                     [](const Request& r) { return r.arrival_s > 0; });
}

std::string TrafficPlan::label() const {
  std::string out = fmt::format("{}.{}.s{}.{}", requests->label(), batching_mode_name(batching.mode), batching.slots,
                                balance_policy_name(balance));
  if (batching.mode == BatchingMode::continuous && batching.token_budget > 0)
    out += fmt::format(".tb{}", batching.token_budget);
  if (batching.mode == BatchingMode::continuous && batching.prefill_chunk > 0)
    out += fmt::format(".chunk{}", batching.prefill_chunk);
  return out;
}

std::vector<std::vector<int>> TrafficPlan::assignment(int replicas) const {
  return assign_requests(*requests, replicas, balance);
}

Workload sizing_workload(const TrafficPlan& plan, int replicas) {
  int prompt = 1, output = 1;
  for (const Request& r : plan.requests->requests) {
    prompt = std::max(prompt, r.prompt);
    output = std::max(output, r.output);
  }
  return Workload{plan.batching.slots * std::max(1, replicas), prompt, output};
}

std::optional<std::string> traffic_problem(const ModelConfig& model, const ConfigPoint& point) {
  const TrafficPlan& t = *point.traffic;
  const std::string not_yet = "request-list workloads do not run ";
  if (model.moe()) return not_yet + "mixture-of-experts models yet (their routing tables assume equal sequences)";
  if (point.layout.pp > 1) return not_yet + "pipeline stages yet (micro-batches by tokens are not built)";
  if (point.ensemble()) return not_yet + "ensembles (the mean merge) yet";
  if (t.open_loop() && point.layout.tp > 1)
    return "open-loop arrivals need one rank per replica for now (tensor-parallel peers would admit requests by "
           "clocks of their own)";
  if (point.workload.context() > model.max_positions)
    return fmt::format("the longest request needs {} positions, the model has {}", point.workload.context(),
                       model.max_positions);
  return std::nullopt;
}

LogitPositions request_logit_positions(const RequestList& list) {
  LogitPositions p{Workload{list.size(), 1, std::max(1, list.max_context())}, {}};
  for (int r = 0; r < list.size(); ++r) {
    const Request& q = list.requests[static_cast<std::size_t>(r)];
    auto& group = p.groups.emplace_back();
    for (int j = 0; j < q.output; ++j) group.emplace_back(r, q.prompt - 1 + j);
  }
  return p;
}

LogitPositions reference_positions(const ConfigPoint& point) {
  return point.traffic ? request_logit_positions(*point.traffic->requests) : LogitPositions::of_workload(point.workload);
}

std::vector<StepPiece> step_pieces(const Step& step) {
  std::vector<StepPiece> pieces;
  pieces.reserve(step.items.size());
  for (const StepItem& item : step.items)
    pieces.push_back({item.request, item.slot, item.first_position, item.tokens, item.emits});
  return pieces;
}

}  // namespace llmt
