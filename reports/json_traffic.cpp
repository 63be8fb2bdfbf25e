#include "reports/json_traffic.hpp"

#include <string>
#include <vector>

#include "engine/traffic_run.hpp"
#include "model/error.hpp"
#include "reports/json_schema.hpp"

namespace llmt {

using nlohmann::json;

namespace {

// Sample rows as arrays, named once by kSampleFields: a run keeps requests x iterations of them.
constexpr const char* kSampleFields[] = {"request",        "replica",     "iteration", "prompt",   "output",
                                         "arrival_ms",     "admitted_ms", "first_token_ms", "finished_ms",
                                         "slo_met",        "token_ms"};

json sample_row(const RequestSample& s) {
  return json::array({s.request, s.replica, s.iteration, s.prompt, s.output, s.arrival_ms, s.admitted_ms,
                      s.first_token_ms, s.finished_ms, s.slo_met, s.token_ms});
}

RequestSample sample_from_row(const json& row, const std::string& where) {
  if (!row.is_array() || row.size() != std::size(kSampleFields))
    throw ConfigError(fmt::format("{}: a sample row has {} fields, not {}", where, row.is_array() ? row.size() : 0,
                                  std::size(kSampleFields)));
  try {
    RequestSample s;
    s.request = row[0].get<int>();
    s.replica = row[1].get<int>();
    s.iteration = row[2].get<int>();
    s.prompt = row[3].get<int>();
    s.output = row[4].get<int>();
    s.arrival_ms = row[5].get<double>();
    s.admitted_ms = row[6].get<double>();
    s.first_token_ms = row[7].get<double>();
    s.finished_ms = row[8].get<double>();
    s.slo_met = row[9].get<bool>();
    s.token_ms = row[10].get<std::vector<double>>();
    return s;
  } catch (const json::exception&) {
    throw ConfigError(fmt::format("{}: a sample row has a field of the wrong type ({})", where, row.dump()));
  }
}

}  // namespace

json traffic_plan_json(const TrafficPlan& plan) {
  json list = json::array();
  for (const Request& r : plan.requests->requests) list.push_back(json::array({r.prompt, r.output, r.arrival_s}));
  return {{"requests", plan.requests->label()},
          {"source", plan.requests->source},
          {"batching", batching_mode_name(plan.batching.mode)},
          {"slots", plan.batching.slots},
          {"token_budget", plan.batching.token_budget},
          {"prefill_chunk", plan.batching.prefill_chunk},
          {"balance", balance_policy_name(plan.balance)},
          {"request_list_fields", {"prompt", "output", "arrival_s"}},
          {"request_list", list}};
}

std::shared_ptr<const TrafficPlan> traffic_plan_from_json(const FieldReader& t) {
  auto requests = std::make_shared<RequestList>();
  requests->source = t.get<std::string>("source");
  for (const auto& row : t.get<std::vector<std::vector<double>>>("request_list")) {
    if (row.size() != 3) throw ConfigError("traffic.request_list: a row is not [prompt, output, arrival_s]");
    requests->requests.push_back({static_cast<int>(row[0]), static_cast<int>(row[1]), row[2]});
  }
  if (requests->label() != t.get<std::string>("requests"))
    throw ConfigError(fmt::format("traffic.request_list: its hash gives {}, the file says {}", requests->label(),
                                  t.get<std::string>("requests")));
  auto plan = std::make_shared<TrafficPlan>();
  plan->requests = std::move(requests);
  const auto mode = parse_batching_mode(t.get<std::string>("batching"));
  const auto balance = parse_balance_policy(t.get<std::string>("balance"));
  if (!mode || !balance) throw ConfigError("traffic: unknown batching mode or balancing policy");
  plan->batching = BatchingOptions{*mode, t.get<int>("slots"), t.get_or<int>("token_budget", 0),
                                   t.get_or<int>("prefill_chunk", 0)};
  plan->balance = *balance;
  return plan;
}

json traffic_metrics_json(const TrafficMetrics& m) {
  if (!m.available) return nullptr;
  json replicas = json::array(), samples = json::array();
  for (const ReplicaUse& u : m.replicas)
    replicas.push_back({{"replica", u.replica}, {"requests", u.requests}, {"steps", u.steps}, {"tokens", u.tokens},
                        {"busy_ms", u.busy_ms}, {"idle_ms", u.idle_ms}});
  for (const RequestSample& s : m.samples) samples.push_back(sample_row(s));
  return {{"requests", m.requests},
          {"request_count", m.request_count},
          {"slo", m.slo},
          {"per_request_ms",
           {{"ttft", to_json(m.ttft_ms)}, {"tpot", to_json(m.tpot_ms)}, {"itl", to_json(m.itl_ms)},
            {"e2e", to_json(m.e2e_ms)}, {"queueing", to_json(m.queueing_ms)}}},
          {"rates",
           {{"requests_per_s", m.requests_per_s}, {"output_tokens_per_s", m.output_tokens_per_s},
            {"total_tokens_per_s", m.total_tokens_per_s}, {"goodput_per_s", m.goodput_per_s},
            {"slo_met_fraction", m.slo_met_fraction}}},
          {"replicas", replicas},
          {"balance_ratio", m.balance_ratio},
          {"step_balance_ratio", m.step_balance_ratio},
          {"useful_fraction", {{"decode", m.useful_decode_fraction}, {"prefill", m.useful_prefill_fraction}}},
          {"scheduler", {{"ms_per_step", m.scheduler_ms_per_step}, {"share", m.scheduler_share}}},
          {"sample_fields", kSampleFields},
          {"samples", samples}};
}

TrafficMetrics traffic_metrics_from_json(const FieldReader& t, const TrafficPlan& plan) {
  TrafficMetrics m = describe_traffic(plan, t.get_or<std::string>("slo", ""));
  for (const json& r : t.at("replicas")) {
    const FieldReader u(r, "traffic.replicas[]");
    m.replicas.push_back({u.get<int>("replica"), u.get<int>("requests"), u.get<double>("steps"), u.get<double>("tokens"),
                          u.get<double>("busy_ms"), u.get<double>("idle_ms")});
  }
  m.balance_ratio = t.get<double>("balance_ratio");
  m.step_balance_ratio = t.get<double>("step_balance_ratio");
  const FieldReader useful = t.sub("useful_fraction");
  m.useful_decode_fraction = useful.get<double>("decode");
  m.useful_prefill_fraction = useful.get<double>("prefill");
  if (t.has("scheduler")) {
    const FieldReader scheduler = t.sub("scheduler");
    m.scheduler_ms_per_step = scheduler.get<double>("ms_per_step");
    m.scheduler_share = scheduler.get<double>("share");
  }
  for (const json& row : t.at("samples")) m.samples.push_back(sample_from_row(row, "traffic.samples"));
  try {
    summarize_requests(m, *plan.requests, parse_slo(m.slo));
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("traffic.samples: {}", e.what()));
  }
  return m;
}

}  // namespace llmt
