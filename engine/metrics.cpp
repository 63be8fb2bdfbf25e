#include "engine/metrics.hpp"

#include <algorithm>
#include <span>

#include "engine/communicator.hpp"

namespace llmt {
namespace {

// Per-iteration mean over ranks of a [rank][iteration] table.
std::vector<double> mean_over_ranks(const std::vector<std::vector<double>>& table) {
  std::vector<double> out;
  if (table.empty()) return out;
  for (std::size_t i = 0; i < table.front().size(); ++i) {
    double sum = 0;
    for (const auto& rank : table) sum += rank[i];
    out.push_back(sum / static_cast<double>(table.size()));
  }
  return out;
}

// Per iteration, mean over ranks of e2e minus the rank's busy time: all the time of the
// iteration a rank spent other than computing.
std::vector<double> wait_per_iteration(const RawSamples& s) {
  std::vector<double> out;
  const std::vector<double> busy = mean_over_ranks(s.rank_busy_ms);
  for (std::size_t i = 0; i < busy.size() && i < s.e2e_ms.size(); ++i) out.push_back(s.e2e_ms[i] - busy[i]);
  return out;
}

}  // namespace

std::vector<double> param_server_bytes_by_rank(const std::vector<CommSummary>& comm) {
  std::vector<double> out;
  for (const CommSummary& c : comm) {
    if (c.op != comm_op_name(CommOp::reduce) && c.op != comm_op_name(CommOp::broadcast)) continue;
    out.resize(std::max(out.size(), c.rank_bytes.size()), 0.0);
    for (std::size_t r = 0; r < c.rank_bytes.size(); ++r) out[r] += c.rank_bytes[r];
  }
  return out;
}

double load_imbalance(const std::vector<double>& busy) {
  if (busy.size() < 2) return 0.0;
  const double mean = mean_of(busy);
  return mean > 0 ? *std::max_element(busy.begin(), busy.end()) / mean - 1.0 : 0.0;
}

double time_per_output_token_ms(const RawSamples& s) { return s.decode_step_ms.empty() ? 0.0 : mean_of(s.decode_step_ms); }

std::vector<double> tpot_per_iteration_ms(const RawSamples& s) {
  std::vector<double> out;
  const std::size_t steps = s.e2e_ms.empty() ? 0 : s.decode_step_ms.size() / s.e2e_ms.size();
  for (std::size_t i = 0; steps > 0 && i < s.e2e_ms.size(); ++i)
    out.push_back(mean_of(std::span<const double>(s.decode_step_ms).subspan(i * steps, steps)));
  return out;
}

double output_tokens_per_s(const Workload& w, double e2e_ms) {
  return e2e_ms > 0 ? w.batch * static_cast<double>(w.gen) / (e2e_ms * 1e-3) : 0.0;
}

void fill_sample_metrics(const ConfigPoint& point, const RawSamples& s, ConfigMetrics& m) {
  const Workload& w = point.workload;
  m.e2e_ms = summarize(s.e2e_ms);
  m.ttft_ms = summarize(s.ttft_ms);
  m.decode_step_ms = summarize(s.decode_step_ms);
  m.tpot_ms = time_per_output_token_ms(s);
  m.output_tokens_per_s = output_tokens_per_s(w, m.e2e_ms.mean);
  if (m.ttft_ms.mean > 0) m.prefill_tokens_per_s = w.batch * static_cast<double>(w.prompt) / (m.ttft_ms.mean * 1e-3);
  if (m.tpot_ms > 0) m.decode_tokens_per_s = w.batch / (m.tpot_ms * 1e-3);

  m.sync_ms = summarize(mean_over_ranks(s.rank_sync_ms));
  m.sync_total_ms = summarize(mean_over_ranks(s.rank_sync_total_ms));
  m.transfer_ms = summarize(mean_over_ranks(s.rank_transfer_ms));
  m.sync_fraction = m.e2e_ms.mean > 0 ? m.sync_ms.mean / m.e2e_ms.mean : 0.0;
  m.wait_ms = summarize(wait_per_iteration(s));
  m.wait_fraction = m.e2e_ms.mean > 0 ? m.wait_ms.mean / m.e2e_ms.mean : 0.0;

  m.rank_busy_ms.clear();
  for (const auto& rank : s.rank_busy_ms) m.rank_busy_ms.push_back(mean_of(rank));
  m.imbalance = load_imbalance(m.rank_busy_ms);
  m.straggler_rank = m.rank_busy_ms.empty()
                         ? 0
                         : static_cast<int>(std::max_element(m.rank_busy_ms.begin(), m.rank_busy_ms.end()) -
                                            m.rank_busy_ms.begin());
}

}  // namespace llmt

namespace llmt {

std::string_view config_status_name(ConfigStatus s) {
  switch (s) {
    case ConfigStatus::ok: return "ok";
    case ConfigStatus::failed: return "failed";
    case ConfigStatus::skipped: return "skipped";
  }
  return "?";
}

}  // namespace llmt
