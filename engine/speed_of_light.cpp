#include "engine/speed_of_light.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string_view>

namespace llmt {
namespace {

double share(double floor, double measured) { return measured > 0 ? floor / measured : 0.0; }

// Mean per-call work of one phase path over the ranks that run it.
struct CallWork {
  double flops = 0, bytes = 0, cold_bytes = 0;
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
      c.cold_bytes += w.cold_bytes / w.calls;
      c.ranks += 1;
    }
  for (auto& [path, c] : by_path) {
    c.flops /= c.ranks;
    c.bytes /= c.ranks;
    c.cold_bytes /= c.ranks;
  }
  return by_path;
}

}  // namespace

CallFloor call_floor(double flops, double bytes, const Ceilings& c, double cold_bytes) {
  CallFloor f;
  if (!c.valid()) return f;
  const double cold = std::clamp(cold_bytes, 0.0, bytes), warm = bytes - cold;
  const bool cache_resident = c.cache_bytes > 0 && warm <= c.cache_bytes;
  double memory_s = 0;
  if (!cache_resident) {
    memory_s = bytes / (c.bandwidth_gbps * 1e9);
    f.bound = "memory";
  } else {
    // The cold bytes from memory while the warm ones come from the cache: the slower of the two.
    const double cold_s = cold / (c.bandwidth_gbps * 1e9);
    const double warm_s = c.cache_bandwidth_gbps > 0 ? warm / (c.cache_bandwidth_gbps * 1e9) : 0.0;
    memory_s = std::max(cold_s, warm_s);
    if (memory_s > 0) f.bound = cold_s >= warm_s ? "memory" : "cache";
  }
  const double compute_s = flops / (c.gemm_tflops * 1e12);
  if (compute_s > memory_s) f.bound = "compute";
  f.ms = 1e3 * std::max(memory_s, compute_s);
  return f;
}

double floor_ms(double flops, double bytes, const Ceilings& c, double cold_bytes) {
  return call_floor(flops, bytes, c, cold_bytes).ms;
}

RankFloor rank_floor(const std::vector<PhaseWork>& work, const Ceilings& c) {
  RankFloor f;
  for (const PhaseWork& w : work) {
    if (w.calls <= 0) continue;
    const std::string_view path = w.phase;
    const double ms = w.calls * floor_ms(w.flops / w.calls, w.bytes / w.calls, c, w.cold_bytes / w.calls);
    if (path.starts_with("prefill/")) f.prefill_ms += ms;
    else if (path.starts_with("decode/")) f.decode_ms += ms;
  }
  return f;
}

PipelineShape pipeline_shape(const std::vector<ShardPlan>& shards) {
  PipelineShape p;
  for (const ShardPlan& s : shards) {
    p.stages = s.layout.pp;
    p.microbatches = std::max(1, s.microbatches);
    p.equal_microbatches = p.equal_microbatches && s.batch.size() % p.microbatches == 0;
    p.replica.push_back(s.coords.dp);
    p.stage.push_back(s.coords.pp);
  }
  return p;
}

double pipeline_pass_floor_ms(const std::vector<double>& f, int microbatches, bool with_tail) {
  double best = 0;
  for (std::size_t s = 0; s < f.size(); ++s) {
    double before = 0, after = 0;
    for (std::size_t t = 0; t < s; ++t) before += f[t];
    if (with_tail)
      for (std::size_t t = s + 1; t < f.size(); ++t) after += f[t];
    best = std::max(best, before + std::max(1, microbatches) * f[s] + after);
  }
  return best;
}

FloorMetrics floor_metrics(const std::vector<std::vector<PhaseWork>>& work_by_rank, const Ceilings& c,
                           int decode_steps, double ttft_median_ms, double decode_step_median_ms,
                           double e2e_median_ms, const PipelineShape& pipeline) {
  FloorMetrics m;
  const bool any_work = std::any_of(work_by_rank.begin(), work_by_rank.end(), [](const auto& w) { return !w.empty(); });
  if (!c.valid() || !any_work) return m;
  double prefill = 0, decode = 0, iteration = 0;
  std::vector<RankFloor> floors;
  for (const std::vector<PhaseWork>& rank : work_by_rank) {
    const RankFloor f = rank_floor(rank, c);
    floors.push_back(f);
    prefill = std::max(prefill, f.prefill_ms);
    decode = std::max(decode, f.decode_ms);
    iteration = std::max(iteration, f.prefill_ms + f.decode_ms);
  }
  if (pipeline.stages > 1 && pipeline.replica.size() == floors.size() && pipeline.stage.size() == floors.size()) {
    // Each replica's stages: the slowest rank of each (a stage's ranks finish a micro-batch together).
    std::map<int, std::vector<RankFloor>> replicas;
    for (std::size_t r = 0; r < floors.size(); ++r) {
      std::vector<RankFloor>& stages = replicas[pipeline.replica[r]];
      stages.resize(static_cast<std::size_t>(pipeline.stages));
      RankFloor& stage = stages.at(static_cast<std::size_t>(pipeline.stage[r]));
      stage.prefill_ms = std::max(stage.prefill_ms, floors[r].prefill_ms);
      stage.decode_ms = std::max(stage.decode_ms, floors[r].decode_ms);
    }
    const double mb = std::max(1, pipeline.microbatches);
    for (const auto& [replica, stages] : replicas) {
      std::vector<double> p, d;
      for (const RankFloor& s : stages) {
        p.push_back(s.prefill_ms / mb);
        d.push_back(decode_steps > 0 ? s.decode_ms / (mb * decode_steps) : 0.0);
      }
      const double ttft = pipeline_pass_floor_ms(p, pipeline.microbatches, pipeline.equal_microbatches);
      const double step = pipeline_pass_floor_ms(d, pipeline.microbatches, pipeline.equal_microbatches);
      prefill = std::max(prefill, ttft);
      decode = std::max(decode, step * decode_steps);
      iteration = std::max(iteration, ttft + step * decode_steps);
    }
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
    const CallFloor f = call_floor(ph.work_flops, ph.work_bytes, c, it->second.cold_bytes);
    ph.floor_ms = f.ms;
    ph.floor_bound = f.bound;
  }
}

bool below_floor(const PhaseSummary& ph) {
  return ph.floor_ms > 0 && ph.calls > 0 && ph.ms > 0 && ph.ms / ph.calls < ph.floor_ms;
}

std::vector<std::string> flag_below_floor(std::vector<PhaseSummary>& phases, const FloorMetrics& floor) {
  std::vector<std::string> notes;
  std::vector<const PhaseSummary*> below;
  for (PhaseSummary& ph : phases) {
    ph.below_floor = below_floor(ph);
    if (ph.below_floor) below.push_back(&ph);
  }
  auto of_floor = [](const PhaseSummary* ph) { return ph->floor_ms / (ph->ms / ph->calls); };
  if (!below.empty()) {
    std::sort(below.begin(), below.end(), [&](auto* a, auto* b) { return of_floor(a) > of_floor(b); });
    std::string worst;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, below.size()); ++i)
      worst += fmt::format("{}{} at {:.0f}% ({})", i ? ", " : "", below[i]->path, 100 * of_floor(below[i]),
                           below[i]->floor_bound);
    notes.push_back(fmt::format("WARNING: {} phase(s) measured faster than their speed-of-light floor, which is "
                                "then no lower bound: {}{}",
                                below.size(), worst, below.size() > 3 ? ", ..." : ""));
  }
  if (floor.available)
    for (const auto& [name, share] : {std::pair{"ttft", floor.ttft_of_floor},
                                      std::pair{"decode step", floor.decode_step_of_floor},
                                      std::pair{"e2e", floor.e2e_of_floor}})
      if (share > 1)
        notes.push_back(fmt::format("WARNING: the {} median is faster than its speed-of-light floor ({:.0f}%)", name,
                                    100 * share));
  return notes;
}

bool weights_stream_from_memory(const ModelConfig& model, const ConfigPoint& point, const std::vector<ShardPlan>& shards,
                                DType dtype, const Ceilings& c) {
  if (!(c.cache_bytes > 0) || shards.empty()) return false;
  return std::all_of(shards.begin(), shards.end(), [&](const ShardPlan& shard) {
    const MemoryPlan plan = plan_rank_memory(model, point, shard, dtype);
    return static_cast<double>(plan.weights) + static_cast<double>(plan.kv_cache) > 2 * c.cache_bytes;
  });
}

void apply_speed_of_light(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                          ConfigResult& result) {
  if (!options.ceilings.valid()) return;
  if (model.moe()) {
    // An expert's work depends on how many tokens the router sends it; no floor is claimed.
    result.notes.push_back("no speed-of-light floor: the experts' work of a MoE model depends on the routing");
    return;
  }
  std::vector<ShardPlan> shards;
  std::vector<std::vector<PhaseWork>> work_by_rank;
  for (int r = 0; r < point.layout.ranks(); ++r) {
    shards.push_back(make_shard_plan(model, point, r));
    work_by_rank.push_back(phase_work(model, point, shards.back(), options.dtype, options.exec.overlap_chunks));
  }
  if (!weights_stream_from_memory(model, point, shards, options.dtype, options.ceilings))
    for (std::vector<PhaseWork>& rank : work_by_rank)
      for (PhaseWork& w : rank) w.cold_bytes = 0;  // they may stay in the caches: no byte is known cold
  ConfigMetrics& m = result.metrics;
  m.floor = floor_metrics(work_by_rank, options.ceilings, point.workload.decode_steps(), m.ttft_ms.median,
                          m.decode_step_ms.median, m.e2e_ms.median, pipeline_shape(shards));
  annotate_phases(work_by_rank, options.ceilings, m.phases);
  for (std::string& note : flag_below_floor(m.phases, m.floor)) result.notes.push_back(std::move(note));
}

}  // namespace llmt
