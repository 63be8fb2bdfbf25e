// CSV output: one row per configuration, appended and flushed as each one finishes.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "engine/metrics.hpp"
#include "engine/traffic.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

// RFC 4180: quote fields holding separators, quotes or line breaks.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

const char* kColumns[] = {
    "id", "strategy", "layout", "tp", "pp", "dp", "microbatches", "ranks", "sync", "merge", "batch", "prompt", "gen",
    "status", "reason", "iterations", "target_met", "e2e_outliers", "e2e_ms_median", "e2e_ms_mean", "e2e_ms_p99", "ttft_ms_median",
    "ttft_ms_mean", "decode_step_ms_median", "decode_step_ms_mean", "decode_step_ms_p99", "tpot_ms", "output_tokens_per_s",
    "prefill_tokens_per_s", "decode_tokens_per_s", "sync_exposed_ms_mean", "sync_total_ms_mean", "sync_fraction",
    "wait_ms_mean", "wait_fraction", "transfer_ms_mean", "comm_bytes_per_iteration", "max_rank_allocated_bytes", "max_rank_predicted_bytes",
    "max_rank_weights_bytes", "max_rank_kv_cache_bytes", "imbalance", "straggler_rank", "bubble_fraction",
    "max_abs_error", "max_rel_error", "verified", "replica_weights", "ttft_floor_ms", "decode_step_floor_ms",
    "e2e_floor_ms", "ttft_of_floor", "decode_step_of_floor", "e2e_of_floor", "ps_root_bytes_per_iteration",
    "ps_other_rank_bytes_per_iteration", "prefill_busbw_gbps", "decode_busbw_gbps", "transfer_bytes_per_rank",
    "pool", "pool_allocated_bytes", "pool_measured_peak_bytes", "pool_measured_by", "pool_untracked_bytes",
    "rss_at_start_bytes", "attention", "noise_floor", "error_over_floor", "tolerance", "top1_agreement",
    "last_iteration_rel_error", "noise_floor_cap", "noise_floor_trusted", "dispatch", "ep", "expert_balance",
    "ep_balance", "moe_dispatch_ms", "moe_experts_ms", "moe_combine_ms", "moe_exchange_ms", "moe_exchange_transfer_ms",
    "moe_exchange_wait_ms", "moe_exchange_bytes_per_iteration", "routing_agreement"};

// Request-list workloads (docs/metrics.md, "Requests"), after every other column: the plan, each
// per-request latency's p50, p90, p99, mean and max (ms, pooled over the measured iterations), the
// rates (medians over iterations) and how evenly replicas and slots were used. Empty for a
// uniform workload.
const char* kTrafficPlanColumns[] = {"requests", "batching", "balance", "slots", "slo"};
const char* kRequestLatencies[] = {"ttft", "tpot", "itl", "e2e", "queueing"};
const char* kLatencyStatistics[] = {"p50", "p90", "p99", "mean", "max"};
const char* kTrafficFigureColumns[] = {"requests_per_s",       "request_output_tokens_per_s",
                                       "request_total_tokens_per_s", "goodput_per_s",
                                       "slo_met_fraction",     "balance_ratio",
                                       "step_balance_ratio",   "useful_decode_fraction",
                                       "useful_prefill_fraction"};

std::vector<std::string> header_columns() {
  std::vector<std::string> out(std::begin(kColumns), std::end(kColumns));
  out.insert(out.end(), std::begin(kTrafficPlanColumns), std::end(kTrafficPlanColumns));
  for (const char* latency : kRequestLatencies)
    for (const char* statistic : kLatencyStatistics) out.push_back(fmt::format("request_{}_ms_{}", latency, statistic));
  out.insert(out.end(), std::begin(kTrafficFigureColumns), std::end(kTrafficFigureColumns));
  return out;
}

std::string number_field(double v) { return fmt::format("{:.6g}", v); }

// The request list's plan (known before the configuration ran, so written for failed ones too)
// and the --slo it was measured under.
std::vector<std::string> traffic_plan_fields(const ConfigResult& r) {
  if (!r.point.traffic) return std::vector<std::string>(std::size(kTrafficPlanColumns));
  const TrafficPlan& t = *r.point.traffic;
  return {t.requests->label(), std::string(batching_mode_name(t.batching.mode)),
          std::string(balance_policy_name(t.balance)), std::to_string(t.batching.slots),
          csv_field(r.metrics.traffic.slo)};
}

// The measured figures of a request list; empty for a uniform workload or without samples.
std::vector<std::string> traffic_figure_fields(const TrafficMetrics& t) {
  std::vector<std::string> out;
  if (!t.available) {
    out.resize(std::size(kRequestLatencies) * std::size(kLatencyStatistics) + std::size(kTrafficFigureColumns));
    return out;
  }
  for (const Summary* s : {&t.ttft_ms, &t.tpot_ms, &t.itl_ms, &t.e2e_ms, &t.queueing_ms})
    for (double v : {s->median, s->p90, s->p99, s->mean, s->max}) out.push_back(s->n > 0 ? number_field(v) : "");
  for (double v : {t.requests_per_s, t.output_tokens_per_s, t.total_tokens_per_s, t.goodput_per_s, t.slo_met_fraction,
                   t.balance_ratio, t.step_balance_ratio, t.useful_decode_fraction, t.useful_prefill_fraction})
    out.push_back(number_field(v));
  return out;
}

std::vector<std::string> traffic_fields(const ConfigResult& r) {
  std::vector<std::string> out = traffic_plan_fields(r);
  const std::vector<std::string> figures = traffic_figure_fields(r.metrics.traffic);
  out.insert(out.end(), figures.begin(), figures.end());
  return out;
}

// The memory pool with the largest measured peak: its allocated bytes beside the measured peak.
std::vector<std::string> pool_fields(const ConfigMetrics& m) {
  const PoolMemory* p = largest_pool(m);
  if (!p) return std::vector<std::string>(6);
  return {csv_field(p->pool), std::to_string(p->allocated_bytes), std::to_string(p->measured_peak_bytes),
          p->measured_by, std::to_string(p->untracked_bytes()),
          p->rss_at_start_bytes >= 0 ? std::to_string(p->rss_at_start_bytes) : ""};
}

// The parameter-server star's bytes as moved: the busiest rank (a group's root) and the least
// busy one; empty without a parameter server.
std::vector<std::string> param_server_fields(const ConfigMetrics& m) {
  const std::vector<double> ps = param_server_bytes_by_rank(m.comm);
  if (ps.empty()) return std::vector<std::string>(2);
  return {fmt::format("{:.6g}", *std::max_element(ps.begin(), ps.end())),
          fmt::format("{:.6g}", *std::min_element(ps.begin(), ps.end()))};
}

// The speed-of-light columns: empty when the run had no ceilings (--ceilings none).
std::vector<std::string> floor_fields(const FloorMetrics& f) {
  if (!f.available) return std::vector<std::string>(6);
  std::vector<std::string> out;
  for (double v : {f.ttft_ms, f.decode_step_ms, f.e2e_ms, f.ttft_of_floor, f.decode_step_of_floor, f.e2e_of_floor})
    out.push_back(fmt::format("{:.6g}", v));
  return out;
}

// "prefill:cudnn-sdpa decode:naive"
std::string attention_field(const std::vector<AttentionUse>& uses) {
  std::vector<std::string> parts;
  for (const AttentionUse& u : uses) parts.push_back(u.pass + ":" + u.kernel);
  return csv_field(fmt::format("{}", fmt::join(parts, " ")));
}

// Mixture of experts: the dispatch and EP group of the grid, balances, the MoE time split with
// the exchange's transfer and wait, and the routing agreement of teacher-forced runs
// (docs/metrics.md); empty for dense models, the agreement empty where not compared.
std::vector<std::string> moe_fields(const ConfigResult& r) {
  const MoeMetrics& m = r.metrics.moe;
  std::vector<std::string> out = {r.point.layout.experts_split ? std::string(dispatch_mode_name(r.point.dispatch)) : "",
                                  std::to_string(r.point.layout.ep())};
  constexpr std::size_t kMoeColumns = 12;
  if (!m.available) {
    out.resize(kMoeColumns);
    return out;
  }
  for (double v : {m.expert_balance, m.ep_balance, m.dispatch_ms, m.experts_ms, m.combine_ms, m.exchange_ms,
                   m.exchange_transfer_ms, m.exchange_wait_ms, m.exchange_bytes})
    out.push_back(fmt::format("{:.6g}", v));
  out.push_back(m.routing_agreement >= 0 ? fmt::format("{:.6g}", m.routing_agreement) : "");
  return out;
}

// The noise floor's cap and whether the floor was trusted under it; empty when not verified or
// without a cap (files written before it).
std::vector<std::string> cap_fields(const Verification& v) {
  if (!v.checked || v.floor_cap <= 0) return std::vector<std::string>(2);
  return {fmt::format("{:.6g}", v.floor_cap), v.floor_trusted ? "yes" : "no"};
}

class CsvReporter final : public Reporter {
 public:
  explicit CsvReporter(std::string path) : path_(std::move(path)) {}

  void begin(const RunMetadata&, const CarriedResults& carried) override {
    out_ = std::make_unique<OutputStream>(path_, "--csv");
    out_->write(fmt::format("{}\n", fmt::join(header_columns(), ",")));
    for (const ConfigResult& r : carried.results) add(r);
  }
  void end(const RunSummary&) override {}

  void add(const ConfigResult& r) override {
    const ConfigPoint& p = r.point;
    std::vector<std::string> f = {csv_field(p.id()),
                                  p.strategy,
                                  p.grid_label(),
                                  std::to_string(p.layout.tp),
                                  std::to_string(p.layout.pp),
                                  std::to_string(p.layout.dp),
                                  std::to_string(p.microbatches),
                                  std::to_string(p.ranks()),
                                  std::string(sync_mode_name(p.sync)),
                                  std::string(merge_mode_name(p.merge)),
                                  std::to_string(p.workload.batch),
                                  std::to_string(p.workload.prompt),
                                  std::to_string(p.workload.gen),
                                  std::string(config_status_name(r.status)),
                                  csv_field(r.reason)};
    if (r.samples.e2e_ms.empty()) {
      f.resize(std::size(kColumns));
    } else {
      const ConfigMetrics& m = r.metrics;
      std::size_t peak = 0, predicted = 0, weights = 0, kv = 0;
      for (const RankMemory& rm : m.memory) {
        peak = std::max(peak, rm.peak_total);
        predicted = std::max(predicted, rm.predicted.total());
        weights = std::max(weights, rm.weights);
        kv = std::max(kv, rm.kv_cache);
      }
      auto num = [](double v) { return fmt::format("{:.6g}", v); };
      const std::vector<std::string> values = {
            std::to_string(r.iterations), r.measurement.target_met ? "yes" : "no",
            std::to_string(r.measurement.outliers), num(m.e2e_ms.median), num(m.e2e_ms.mean), num(m.e2e_ms.p99),
            num(m.ttft_ms.median), num(m.ttft_ms.mean), num(m.decode_step_ms.median), num(m.decode_step_ms.mean),
            num(m.decode_step_ms.p99), num(m.tpot_ms), num(m.output_tokens_per_s), num(m.prefill_tokens_per_s),
            num(m.decode_tokens_per_s), num(m.sync_ms.mean), num(m.sync_total_ms.mean), num(m.sync_fraction),
            num(m.wait_ms.mean), num(m.wait_fraction), num(m.transfer_ms.mean), num(m.comm_bytes), std::to_string(peak), std::to_string(predicted),
            std::to_string(weights), std::to_string(kv), num(m.imbalance), std::to_string(m.straggler_rank),
            num(m.pipeline.bubble_fraction), num(r.verification.max_abs_error), num(r.verification.max_rel_error),
            r.verification.checked ? (r.verification.passed ? "yes" : "no") : "not checked",
            r.replica_weights_shared ? "shared" : "private"};
      f.insert(f.end(), values.begin(), values.end());
      const std::vector<std::string> floors = floor_fields(m.floor);
      f.insert(f.end(), floors.begin(), floors.end());
      const std::vector<std::string> ps = param_server_fields(m);
      f.insert(f.end(), ps.begin(), ps.end());
      for (const char* pass : {"prefill", "decode"}) {
        const double busbw = pass_bus_bandwidth_gbps(m.bus_bandwidth, pass);
        f.push_back(busbw > 0 ? fmt::format("{:.6g}", busbw) : "");
      }
      f.push_back(fmt::format("{:.6g}", transfer_bytes_per_rank(m)));
      const std::vector<std::string> pool = pool_fields(m);
      f.insert(f.end(), pool.begin(), pool.end());
      f.push_back(attention_field(r.attention));
      const Verification& v = r.verification;
      for (double x : {v.floor, v.error_over_floor, v.tolerance, v.top1_agreement}) f.push_back(v.checked ? num(x) : "");
      f.push_back(v.last_iteration_checked ? num(v.last_iteration_rel_error) : "");
      const std::vector<std::string> cap = cap_fields(v);
      f.insert(f.end(), cap.begin(), cap.end());
      const std::vector<std::string> moe = moe_fields(r);
      f.insert(f.end(), moe.begin(), moe.end());
    }
    const std::vector<std::string> traffic = traffic_fields(r);
    f.insert(f.end(), traffic.begin(), traffic.end());
    out_->write(fmt::format("{}\n", fmt::join(f, ",")));
  }

 private:
  std::string path_;
  std::unique_ptr<OutputStream> out_;  // unbuffered: each row is on disk before the next configuration
};

}  // namespace

std::unique_ptr<Reporter> make_csv_reporter(const std::string& path) { return std::make_unique<CsvReporter>(path); }

}  // namespace llmt
