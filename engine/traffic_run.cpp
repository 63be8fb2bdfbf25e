#include "engine/traffic_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <thread>

#include "engine/stats.hpp"
#include "model/error.hpp"

namespace llmt {

ReplicaSchedule::ReplicaSchedule(const TrafficPlan& plan, int replica, int replicas)
    : plan_(plan), requests_(plan.assignment(replicas).at(static_cast<std::size_t>(replica))) {}

std::vector<TrafficStepRecord> ReplicaSchedule::run(TransformerRank& transformer, Backend& backend,
                                                    const std::function<void(const Step&)>& after_step,
                                                    SlotUse& use) const {
  Scheduler scheduler(*plan_.requests, requests_, plan_.batching);
  const bool open_loop = plan_.open_loop();
  const auto start = std::chrono::steady_clock::now();
  // Offline, every request has arrived at 0 and the schedule does not depend on time.
  auto now = [&] {
    return open_loop ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() : 0.0;
  };
  std::vector<TrafficStepRecord> out;
  auto host_ns = [] {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  };
  while (!scheduler.done()) {
    const std::uint64_t choose_start = host_ns();
    Step step = scheduler.next_step(now());
    if (step.empty()) {  // open loop: the replica idles until its next request arrives
      const double next = scheduler.next_arrival_s();
      if (!open_loop || !std::isfinite(next))
        throw Error("internal error: the scheduler has nothing to run and no request to wait for");
      std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                std::chrono::duration<double>(next)));
      continue;
    }
    TrafficStepRecord record;
    const std::vector<StepPiece> pieces = step_pieces(step);
    record.scheduler_ns = host_ns() - choose_start;
    record.begin = backend.stamp();
    transformer.step(pieces);
    record.end = backend.stamp();
    after_step(step);
    const std::uint64_t complete_start = host_ns();
    scheduler.complete(step, now());
    record.scheduler_ns += host_ns() - complete_start;
    record.step = std::move(step);
    out.push_back(std::move(record));
  }
  use = scheduler.slot_use();
  return out;
}

void ReplicaSchedule::prepare(TransformerRank& transformer) const {
  Scheduler scheduler(*plan_.requests, requests_, plan_.batching);
  double last = 0;
  for (int r : requests_) last = std::max(last, plan_.requests->requests.at(static_cast<std::size_t>(r)).arrival_s);
  while (!scheduler.done()) {
    const Step step = scheduler.next_step(last);
    if (step.empty()) throw Error("internal error: the scheduler has nothing to run with every request arrived");
    transformer.prepare_step(step_pieces(step));
    scheduler.complete(step, last);
  }
}

int output_index(const RequestList& list, const StepItem& item) {
  return item.first_position + item.tokens - list.requests.at(static_cast<std::size_t>(item.request)).prompt;
}

namespace {

double seconds_since(std::uint64_t ns, std::uint64_t start_ns) {
  return static_cast<double>(static_cast<std::int64_t>(ns - start_ns)) * 1e-9;
}

// The times of one replica's requests in one iteration, in seconds from `start_ns`: admitted
// when its first step began, each output token when the step that emitted it ended.
std::vector<RequestTimes> replica_request_times(const RequestList& list, const std::vector<int>& requests,
                                                const std::vector<TrafficStepRecord>& steps, std::uint64_t start_ns) {
  std::map<int, RequestTimes> by_request;
  for (int r : requests) {
    RequestTimes& t = by_request[r];
    t.request = r;
    t.arrival_s = list.requests.at(static_cast<std::size_t>(r)).arrival_s;
  }
  for (const TrafficStepRecord& s : steps) {
    const double begin = seconds_since(s.begin, start_ns), end = seconds_since(s.end, start_ns);
    for (const StepItem& item : s.step.items) {
      RequestTimes& t = by_request.at(item.request);
      if (std::isnan(t.admitted_s)) t.admitted_s = begin;
      if (item.emits) t.token_s.push_back(end);
    }
  }
  std::vector<RequestTimes> out;
  for (auto& [r, t] : by_request) {
    if (static_cast<int>(t.token_s.size()) != list.requests.at(static_cast<std::size_t>(r)).output)
      throw Error(fmt::format("{} produced {} of its {} tokens", list.describe(r), t.token_s.size(),
                              list.requests.at(static_cast<std::size_t>(r)).output));
    t.first_token_s = t.token_s.front();
    t.finished_s = t.token_s.back();
    out.push_back(std::move(t));
  }
  return out;
}

Summary in_ms(Summary s) {
  for (double* v : {&s.min, &s.median, &s.mean, &s.p90, &s.p99, &s.max, &s.stddev}) *v *= 1e3;
  return s;
}

// Mean over step indices of the replicas' balance of that step's tokens (a replica whose
// schedule has ended counts 0): how evenly the replicas' k-th steps were loaded.
double step_balance(const std::vector<std::vector<long long>>& step_tokens) {
  std::size_t steps = 0;
  for (const auto& replica : step_tokens) steps = std::max(steps, replica.size());
  if (steps == 0) return 1;
  double sum = 0;
  for (std::size_t k = 0; k < steps; ++k) {
    std::vector<long long> at_k;
    for (const auto& replica : step_tokens) at_k.push_back(k < replica.size() ? replica[k] : 0);
    sum += balance_ratio(at_k);
  }
  return sum / static_cast<double>(steps);
}

void add_slot_use(SlotUse& total, const SlotUse& u) {
  total.decode_rows += u.decode_rows;
  total.decode_slots_held += u.decode_slots_held;
  total.prefill_tokens += u.prefill_tokens;
  total.prefill_padded += u.prefill_padded;
}


}  // namespace

namespace {

// Request times of one iteration's samples, in seconds.
std::vector<RequestTimes> times_of(const std::vector<RequestSample>& samples, int iteration) {
  std::vector<RequestTimes> out;
  for (const RequestSample& s : samples) {
    if (s.iteration != iteration) continue;
    RequestTimes t;
    t.request = s.request;
    t.arrival_s = s.arrival_ms * 1e-3;
    t.admitted_s = s.admitted_ms * 1e-3;
    t.first_token_s = s.first_token_ms * 1e-3;
    t.finished_s = s.finished_ms * 1e-3;
    for (double ms : s.token_ms) t.token_s.push_back(ms * 1e-3);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

TrafficMetrics describe_traffic(const TrafficPlan& plan, const std::string& slo) {
  TrafficMetrics m;
  m.available = true;
  m.requests = plan.requests->label();
  m.source = plan.requests->source;
  m.request_count = plan.requests->size();
  m.batching = std::string(batching_mode_name(plan.batching.mode));
  m.balance = std::string(balance_policy_name(plan.balance));
  m.slo = slo;
  m.slots = plan.batching.slots;
  m.token_budget = plan.batching.token_budget;
  m.prefill_chunk = plan.batching.prefill_chunk;
  return m;
}

int iteration_count(const std::vector<RequestSample>& samples) {
  int iterations = 0;
  for (const RequestSample& s : samples) iterations = std::max(iterations, s.iteration + 1);
  return iterations;
}

std::vector<RequestMetrics> request_metrics_per_iteration(const std::vector<RequestSample>& samples,
                                                          const RequestList& list, const SloLimits& slo) {
  std::vector<RequestMetrics> out;
  for (int i = 0; i < iteration_count(samples); ++i) out.push_back(request_metrics(list, times_of(samples, i), slo));
  return out;
}

void summarize_requests(TrafficMetrics& m, const RequestList& list, const SloLimits& slo) {
  const std::vector<RequestMetrics> per_iteration = request_metrics_per_iteration(m.samples, list, slo);
  if (per_iteration.empty()) return;
  std::vector<double> per_second[4], met;
  for (const RequestMetrics& it : per_iteration) {
    per_second[0].push_back(it.requests_per_s);
    per_second[1].push_back(it.output_tokens_per_s);
    per_second[2].push_back(it.total_tokens_per_s);
    per_second[3].push_back(it.goodput_per_s);
    met.push_back(it.slo_met_fraction);
  }
  std::vector<RequestTimes> pooled;
  for (int i = 0; i < static_cast<int>(per_iteration.size()); ++i) {
    const std::vector<RequestTimes> times = times_of(m.samples, i);
    pooled.insert(pooled.end(), times.begin(), times.end());
  }
  const RequestMetrics all = request_metrics(list, pooled, slo);
  m.ttft_ms = in_ms(all.ttft);
  m.tpot_ms = in_ms(all.tpot);
  m.itl_ms = in_ms(all.itl);
  m.e2e_ms = in_ms(all.e2e);
  m.queueing_ms = in_ms(all.queueing);
  m.requests_per_s = median_of(per_second[0]);
  m.output_tokens_per_s = median_of(per_second[1]);
  m.total_tokens_per_s = median_of(per_second[2]);
  m.goodput_per_s = median_of(per_second[3]);
  m.slo_met_fraction = mean_of(met);
}

TrafficMetrics traffic_metrics(const TrafficPlan& plan, const Layout& layout, const std::vector<RankOutcome>& ranks,
                               const SloLimits& slo) {
  const RequestList& list = *plan.requests;
  TrafficMetrics m = describe_traffic(plan, slo_label(slo));
  const int replicas = layout.dp;
  const auto assignment = plan.assignment(replicas);
  const std::size_t iterations = ranks.front().iterations.size();
  m.replicas.resize(static_cast<std::size_t>(replicas));
  std::vector<double> step_ratios;
  SlotUse slots;
  double scheduler_ms = 0, step_ms = 0, steps = 0;
  for (std::size_t i = 0; i < iterations; ++i) {
    std::uint64_t start = std::numeric_limits<std::uint64_t>::max(), end = 0;
    for (const RankOutcome& o : ranks) {
      start = std::min(start, o.iterations[i].begin);
      end = std::max(end, o.iterations[i].end);
    }
    std::vector<std::vector<long long>> step_tokens(static_cast<std::size_t>(replicas));
    for (int r = 0; r < replicas; ++r) {
      const IterationRecord& rec = ranks.at(static_cast<std::size_t>(world_rank_of(layout, {0, 0, r}))).iterations[i];
      const auto ri = static_cast<std::size_t>(r);
      ReplicaUse& use = m.replicas[ri];
      use.replica = r;
      use.requests = static_cast<int>(assignment[ri].size());
      double busy = 0;
      for (const TrafficStepRecord& s : rec.traffic_steps) {
        busy += static_cast<double>(s.end - s.begin) * 1e-6;
        scheduler_ms += static_cast<double>(s.scheduler_ns) * 1e-6;
        step_ms += static_cast<double>(s.end - s.begin) * 1e-6;
        ++steps;
        step_tokens[ri].push_back(s.step.tokens());
        use.tokens += s.step.tokens();
      }
      use.steps += static_cast<double>(rec.traffic_steps.size());
      use.busy_ms += busy;
      use.idle_ms += static_cast<double>(end - start) * 1e-6 - busy;
      add_slot_use(slots, rec.slot_use);
      for (const RequestTimes& t : replica_request_times(list, assignment[ri], rec.traffic_steps, start)) {
        const Request& q = list.requests.at(static_cast<std::size_t>(t.request));
        RequestSample& s = m.samples.emplace_back();
        s = {t.request, r, static_cast<int>(i), q.prompt, q.output, t.arrival_s * 1e3, t.admitted_s * 1e3,
             t.first_token_s * 1e3, t.finished_s * 1e3, {}, meets_slo(q, t, slo)};
        for (double sec : t.token_s) s.token_ms.push_back(sec * 1e3);
      }
    }
    step_ratios.push_back(step_balance(step_tokens));
  }
  if (iterations == 0) return m;
  const double n = static_cast<double>(iterations);
  std::vector<long long> tokens;
  for (ReplicaUse& use : m.replicas) {
    tokens.push_back(static_cast<long long>(use.tokens));
    use.steps /= n;
    use.tokens /= n;
    use.busy_ms /= n;
    use.idle_ms /= n;
  }
  summarize_requests(m, list, slo);
  m.balance_ratio = balance_ratio(tokens);
  m.step_balance_ratio = mean_of(step_ratios);
  m.useful_decode_fraction = slots.decode_fraction();
  m.useful_prefill_fraction = slots.prefill_fraction();
  m.scheduler_ms_per_step = steps > 0 ? scheduler_ms / steps : 0;
  m.scheduler_share = scheduler_ms + step_ms > 0 ? scheduler_ms / (scheduler_ms + step_ms) : 0;
  return m;
}

}  // namespace llmt
