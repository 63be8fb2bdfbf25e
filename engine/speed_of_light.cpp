#include "engine/speed_of_light.hpp"

#include <algorithm>
#include <map>
#include <string_view>

namespace llmt {
namespace {

double share(double floor, double measured) { return measured > 0 ? floor / measured : 0.0; }

// Mean per-call work of one phase path over the ranks that run it.
struct CallWork {
  double flops = 0, bytes = 0;
  int ranks = 0;
};

std::map<std::string, CallWork> per_call_work(const std::vector<std::vector<PhaseWork>>& work_by_rank) {
  std::map<std::string, CallWork> by_path;
  for (const std::vector<PhaseWork>& rank : work_by_rank)
    for (const PhaseWork& w : rank) {
      if (w.calls <= 0) continue;
      CallWork& c = by_path[w.phase];
      c.flops += w.flops / w.calls;
      c.bytes += w.bytes / w.calls;
      c.ranks += 1;
    }
  for (auto& [path, c] : by_path) {
    c.flops /= c.ranks;
    c.bytes /= c.ranks;
  }
  return by_path;
}

}  // namespace

double floor_ms(double flops, double bytes, const Ceilings& c) {
  if (!c.valid()) return 0.0;
  const double memory_s = bytes / (c.bandwidth_gbps * 1e9);
  const double compute_s = flops / (c.gemm_tflops * 1e12);
  return 1e3 * std::max(memory_s, compute_s);
}

RankFloor rank_floor(const std::vector<PhaseWork>& work, const Ceilings& c) {
  RankFloor f;
  for (const PhaseWork& w : work) {
    const std::string_view path = w.phase;
    if (path.starts_with("prefill/")) f.prefill_ms += floor_ms(w.flops, w.bytes, c);
    else if (path.starts_with("decode/")) f.decode_ms += floor_ms(w.flops, w.bytes, c);
  }
  return f;
}

FloorMetrics floor_metrics(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& c,
                           int decode_steps, double ttft_median_ms, double decode_step_median_ms,
                           double e2e_median_ms) {
  FloorMetrics m;
  const bool any_work = std::any_of(work_by_rank.begin(), work_by_rank.end(), [](const auto& w) { return !w.empty(); });
  if (!c.valid() || !any_work) return m;
  double prefill = 0, decode = 0, iteration = 0;
  for (const std::vector<PhaseWork>& rank : work_by_rank) {
    const RankFloor f = rank_floor(rank, c);
    prefill = std::max(prefill, f.prefill_ms);
    decode = std::max(decode, f.decode_ms);
    iteration = std::max(iteration, f.prefill_ms + f.decode_ms);
  }
  m.available = true;
  m.ttft_ms = prefill;
  m.decode_step_ms = decode_steps > 0 ? decode / decode_steps : 0.0;
  m.e2e_ms = iteration;
  m.ttft_of_floor = share(m.ttft_ms, ttft_median_ms);
  m.decode_step_of_floor = share(m.decode_step_ms, decode_step_median_ms);
  m.e2e_of_floor = share(m.e2e_ms, e2e_median_ms);
  return m;
}

void annotate_phases(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& c,
                     std::vector<PhaseSummary>& phases) {
  const std::map<std::string, CallWork> work = per_call_work(work_by_rank);
  for (PhaseSummary& ph : phases) {
    const auto it = work.find(ph.path);
    if (it == work.end()) continue;
    ph.work_flops = it->second.flops;
    ph.work_bytes = it->second.bytes;
    ph.floor_ms = floor_ms(ph.work_flops, ph.work_bytes, c);
  }
}

void apply_speed_of_light(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                          ConfigResult& result) {
  if (!options.ceilings.valid()) return;
  if (model.moe()) {
    // An expert's work depends on how many tokens the router sends it; no floor is claimed.
    result.notes.push_back("no speed-of-light floor: the experts' work of a MoE model depends on the routing");
    return;
  }
  std::vector<std::vector<PhaseWork>> work_by_rank;
  for (int r = 0; r < point.layout.ranks(); ++r)
    work_by_rank.push_back(
        phase_work(model, point, make_shard_plan(model, point, r), options.dtype, options.exec.overlap_chunks));
  ConfigMetrics& m = result.metrics;
  m.floor = floor_metrics(work_by_rank, options.ceilings, point.workload.decode_steps(), m.ttft_ms.median,
                          m.decode_step_ms.median, m.e2e_ms.median);
  annotate_phases(work_by_rank, options.ceilings, m.phases);
}

}  // namespace llmt
