// The results file's writer: every to_json of reports/json_schema.hpp and make_document. The
// reader is reports/json_reader.cpp, the schema reports/results_schema.cpp, the validator
// reports/results_validator.cpp.
#include <cmath>

#include "engine/metrics.hpp"
#include "model/model.hpp"
#include "reports/json_schema.hpp"
#include "reports/json_traffic.hpp"

namespace llmt {

using nlohmann::json;

json to_json(const Summary& s) {
  return {{"n", s.n},       {"min", s.min}, {"median", s.median}, {"mean", s.mean},
          {"p90", s.p90},   {"p99", s.p99}, {"max", s.max},       {"stddev", s.stddev}};
}

json to_json(const ModelConfig& m) {
  return {{"name", m.name},
          {"source", m.source},
          {"model_type", m.model_type},
          {"architecture", m.arch == Architecture::gpt2 ? "gpt2" : "llama"},
          {"hidden_size", m.hidden},
          {"intermediate_size", m.intermediate},
          {"num_attention_heads", m.heads},
          {"num_key_value_heads", m.kv_heads},
          {"head_dim", m.head_dim},
          {"layers", m.layers},
          {"published_layers", m.published_layers},
          {"vocab_size", m.vocab},
          {"max_position_embeddings", m.max_positions},
          {"norm_eps", m.norm_eps},
          {"rope_theta", m.rope_theta},
          {"tie_word_embeddings", m.tied_embeddings},
          {"sliding_window", m.sliding_window},
          {"experts", m.experts},
          {"torch_dtype", m.torch_dtype},
          {"parameters", parameter_count(m)},
          {"notes", m.notes}};
}

json to_json(const Ceilings& c) {
  if (!c.valid()) return nullptr;
  return {{"bandwidth_gbps", c.bandwidth_gbps},
          {"gemm_tflops", c.gemm_tflops},
          {"source", c.source},
          {"dtype", c.dtype},
          {"device", c.device},
          {"cache_bandwidth_gbps", c.cache_bandwidth_gbps},
          {"cache_bytes", c.cache_bytes},
          {"bandwidth_probe", c.bandwidth_probe}};
}

namespace {
// Process mode's launch: who started the processes, how many, on which hosts.
json launch_json(const LaunchInfo& l) {
  json hosts = json::array();
  for (const HostRanks& h : l.hosts)
    hosts.push_back({{"host", h.host}, {"ranks", h.ranks}, {"environment", h.environment}});
  return {{"mode", "processes"}, {"launcher", l.launcher}, {"world_size", l.world_size}, {"hosts", hosts}};
}
}  // namespace

json to_json(const RunMetadata& r) {
  json doc = {{"tool", r.tool},
          {"version", r.version},
          {"git_commit", r.git_commit},
          {"timestamp", r.timestamp},
          {"command_line", r.command_line},
          {"backend", r.backend},
          {"device", r.device},
          {"blas", r.blas},
          {"dtype", r.dtype},
          {"host", r.host},
          {"cpu_model", r.cpu_model},
          {"os", r.os},
          {"cpu_governor", r.cpu_governor},
          {"logical_cpus", r.logical_cpus},
          {"affinity_cpus", r.affinity_cpus},
          {"max_ranks", r.max_ranks},
          {"memory_total_bytes", r.memory_total_bytes},
          {"load_average_1m", r.load_average_1m},
          {"cpu_busy_at_start", r.cpu_busy_at_start},
          {"warmup", r.warmup},
          {"iterations", r.iterations},
          {"seed", r.seed},
          {"overlap_chunks", r.overlap_chunks},
          {"threads_per_rank", r.threads_per_rank},
          {"replica_weights", r.replica_weights},
          {"inject_delay", r.inject_delay},
          {"measurement",
           {{"mode", r.target_rse > 0 ? "adaptive" : "fixed"},
            {"target_rse", r.target_rse},
            {"min_iters", r.min_iters},
            {"max_iters", r.max_iters},
            {"max_time_s", r.max_time_s}}},
          {"cpu_mhz", r.cpu_mhz},
          {"compiler", r.compiler},
          {"libraries", r.libraries},
          {"ensemble_weights", r.ensemble_weights},
          {"resumed_from", r.resumed_from},
          {"emulated", r.emulated},
          {"attention", r.attention},
          {"routing", r.routing},
          {"weights", r.weights},
          {"ceilings", to_json(r.ceilings)},
          {"gpu", r.devices},
          {"model", to_json(r.model)},
          {"warnings", r.warnings}};
  if (r.launch) doc["launch"] = launch_json(*r.launch);
  return doc;
}

namespace {

json memory_json(const RankMemory& m) {
  return {{"predicted",
           {{"weights", m.predicted.weights},
            {"kv_cache", m.predicted.kv_cache},
            {"activations", m.predicted.activations},
            {"communication", m.predicted.communication},
            {"total", m.predicted.total()}}},
          {"allocated",
           {{"weights", m.weights},
            {"kv_cache", m.kv_cache},
            {"activations_peak", m.activations_peak},
            {"communication_peak", m.communication_peak},
            {"peak_total", m.peak_total}}},
          {"device_used_at_end", m.device_used >= 0 ? nlohmann::json(m.device_used) : nlohmann::json(nullptr)},
          {"device_used_max_of_samples", m.device_used_max >= 0 ? json(m.device_used_max) : json(nullptr)},
          {"device_used_samples", m.device_used_samples}};
}

json pool_memory_json(const PoolMemory& p) {
  return {{"pool", p.pool},
          {"ranks", p.ranks},
          {"allocated_bytes", p.allocated_bytes},
          {"measured_peak_bytes", p.measured_peak_bytes},
          {"measured_by", p.measured_by},
          {"rss_at_start_bytes", p.rss_at_start_bytes >= 0 ? json(p.rss_at_start_bytes) : json(nullptr)},
          {"untracked_bytes", p.untracked_bytes()}};
}

json floor_json(const FloorMetrics& f) {
  if (!f.available) return nullptr;
  return {{"ttft_ms", f.ttft_ms},
          {"decode_step_ms", f.decode_step_ms},
          {"e2e_ms", f.e2e_ms},
          {"ttft_of_floor", f.ttft_of_floor},
          {"decode_step_of_floor", f.decode_step_of_floor},
          {"e2e_of_floor", f.e2e_of_floor}};
}

json attention_json(const std::vector<AttentionUse>& uses) {
  json a = json::array();
  for (const AttentionUse& u : uses) a.push_back({{"pass", u.pass}, {"kernel", u.kernel}, {"why", u.why}});
  return a;
}

json phase_json(const PhaseSummary& ph) {
  json e = {{"path", ph.path}, {"category", ph.category}, {"ranks", ph.ranks},        {"calls", ph.calls},
            {"ms", ph.ms},     {"ms_max_rank", ph.ms_max_rank}, {"bytes", ph.bytes}, {"timing", ph.timing}};
  if (!ph.detail.empty()) e["detail"] = ph.detail;
  if (!ph.op.empty()) {
    e["op"] = ph.op;
    e["group"] = ph.group;
    e["group_size"] = ph.group_size;
  }
  if (ph.floor_ms > 0 || !ph.floor_bound.empty()) {
    // Per timed call, like floor_ms; of_floor is derived (floor over the measured mean call).
    // A cache-resident call without a cache ceiling has no floor: floor_ms and of_floor null.
    const double call_ms = ph.calls > 0 ? ph.ms / ph.calls : 0.0;
    const bool none = !(ph.floor_ms > 0);
    e["work"] = {{"flops", ph.work_flops},
                 {"bytes", ph.work_bytes},
                 {"floor_ms", none ? json(nullptr) : json(ph.floor_ms)},
                 {"of_floor", none ? json(nullptr) : json(call_ms > 0 ? ph.floor_ms / call_ms : 0.0)},
                 {"bound", ph.floor_bound.empty() ? std::string("memory") : ph.floor_bound},
                 {"below_floor", ph.below_floor}};
  }
  return e;
}

json pipeline_json(const PipelineSummary& p) {
  json stages = json::array();
  for (const StageSummary& s : p.per_stage)
    stages.push_back({{"stage", s.stage},
                      {"layers", {s.layers.begin, s.layers.end}},
                      {"busy_ms", s.busy_ms},
                      {"transfer_ms", s.transfer_ms},
                      {"sync_ms", s.sync_ms}});
  return {{"stages", p.stages},
          {"microbatches", p.microbatches},
          {"bubble_fraction", p.bubble_fraction},
          {"textbook_bubble_fraction", p.textbook_bubble_fraction},
          {"per_stage", stages}};
}

}  // namespace

namespace {

template <typename T, typename ToJson>
json array_of(const std::vector<T>& items, ToJson to) {
  json a = json::array();
  for (const T& item : items) a.push_back(to(item));
  return a;
}

json identity_json(const ConfigResult& r) {
  const ConfigPoint& p = r.point;
  return {{"id", p.id()},
          {"strategy", p.strategy},
          {"ranks", p.ranks()},
          {"layout",
           {{"tp", p.layout.tp}, {"pp", p.layout.pp}, {"dp", p.layout.dp}, {"ep", p.layout.ep()}, {"label", p.grid_label()}}},
          {"dispatch", p.layout.experts_split ? json(dispatch_mode_name(p.dispatch)) : json(nullptr)},
          {"microbatches", p.microbatches},
          {"sync", sync_mode_name(p.sync)},
          {"merge", merge_mode_name(p.merge)},
          {"workload", {{"batch", p.workload.batch}, {"prompt", p.workload.prompt}, {"gen", p.workload.gen}}},
          {"traffic", p.traffic ? traffic_plan_json(*p.traffic) : json(nullptr)},
          {"status", config_status_name(r.status)},
          {"reason", r.reason},
          {"notes", r.notes}};
}

json measurement_json(const Measurement& me) {
  return {{"mode", me.mode},
          {"samples", me.samples},
          {"target_rse", me.target_rse},
          {"achieved_rse", std::isfinite(me.achieved_rse) ? json(me.achieved_rse) : nullptr},
          {"target_met", me.target_met},
          {"stop_reason", me.stop_reason},
          {"outliers", me.outliers}};
}

json samples_json(const RawSamples& s) {
  return {{"e2e_ms", s.e2e_ms},
          {"ttft_ms", s.ttft_ms},
          {"decode_step_ms", s.decode_step_ms},
          {"per_rank",
           {{"iteration_ms", s.rank_iteration_ms},
            {"busy_ms", s.rank_busy_ms},
            {"sync_ms", s.rank_sync_ms},
            {"sync_total_ms", s.rank_sync_total_ms},
            {"transfer_ms", s.rank_transfer_ms}}}};
}

json collective_json(const CommSummary& c) {
  return {{"op", c.op},       {"group", c.group}, {"group_size", c.group_size}, {"category", c.category},
          {"calls", c.calls}, {"bytes", c.bytes}, {"ms", c.ms},                 {"bytes_per_rank", c.rank_bytes}};
}

json bus_bandwidth_json(const BusBandwidth& b) {
  return {{"pass", b.pass},   {"op", b.op},       {"group", b.group},   {"group_size", b.group_size},
          {"message_bytes", b.message_bytes},     {"calls", b.calls},   {"ms", b.ms},
          {"algbw_gbps", b.algbw_gbps},           {"busbw_gbps", b.busbw_gbps}};
}

json sync_json(const ConfigMetrics& m) {
  return {{"exposed_ms", to_json(m.sync_ms)},
          {"total_ms", to_json(m.sync_total_ms)},
          {"fraction", m.sync_fraction},
          {"transfer_ms", to_json(m.transfer_ms)},
          {"wait_ms", to_json(m.wait_ms)},
          {"wait_fraction", m.wait_fraction},
          {"bytes_per_iteration", m.comm_bytes},
          {"collectives", array_of(m.comm, collective_json)},
          {"bus_bandwidth", array_of(m.bus_bandwidth, bus_bandwidth_json)}};
}

json moe_json(const MoeMetrics& m) {
  if (!m.available) return nullptr;
  json j = {{"routing", m.routing},
          {"tokens_per_expert", m.tokens_per_expert},
          {"expert_balance", m.expert_balance},
          {"worst_layer_balance", m.worst_layer_balance},
          {"ep_ranks", m.ep_ranks},
          {"tokens_per_ep_rank", m.tokens_per_ep_rank},
          {"ep_balance", m.ep_balance},
          {"worst_layer_ep_balance", m.worst_layer_ep_balance},
          {"ep_balance_by_pass", {{"prefill", m.ep_balance_prefill}, {"decode", m.ep_balance_decode}}},
          {"exchange_bytes_per_iteration", m.exchange_bytes},
          {"time_ms", {{"router", m.router_ms}, {"dispatch", m.dispatch_ms}, {"experts", m.experts_ms},
                       {"combine", m.combine_ms}, {"exchange", m.exchange_ms},
                       {"exchange_transfer", m.exchange_transfer_ms}, {"exchange_wait", m.exchange_wait_ms}}}};
  if (m.routing_agreement >= 0) j["routing_agreement"] = m.routing_agreement;  // teacher-forced runs only
  return j;
}

json metrics_json(const ConfigMetrics& m) {
  return {{"latency",
           {{"e2e_ms", to_json(m.e2e_ms)},
            {"ttft_ms", to_json(m.ttft_ms)},
            {"decode_step_ms", to_json(m.decode_step_ms)},
            {"tpot_ms", m.tpot_ms}}},
          {"throughput",
           {{"output_tokens_per_s", m.output_tokens_per_s},
            {"prefill_tokens_per_s", m.prefill_tokens_per_s},
            {"decode_tokens_per_s", m.decode_tokens_per_s}}},
          {"sync", sync_json(m)},
          {"memory", array_of(m.memory, memory_json)},
          {"memory_pools", array_of(m.memory_pools, pool_memory_json)},
          {"load_balance", {{"busy_ms", m.rank_busy_ms}, {"imbalance", m.imbalance}, {"straggler_rank", m.straggler_rank}}},
          {"pipeline", pipeline_json(m.pipeline)},
          {"floor", floor_json(m.floor)},
          {"moe", moe_json(m.moe)},
          {"traffic", traffic_metrics_json(m.traffic)},
          {"phases", array_of(m.phases, phase_json)}};
}

json verification_json(const Verification& v) {
  json j = {{"checked", v.checked},
            {"passed", v.passed},
            {"max_abs_error", v.max_abs_error},
            {"max_rel_error", v.max_rel_error},
            {"tolerance", v.tolerance},
            {"noise_floor", {{"rel_error", v.floor}, {"min", v.min_floor}, {"factor", v.floor_factor},
                             {"source", v.floor_source}, {"cap", v.floor_cap}, {"trusted", v.floor_trusted}}},
            {"error_over_floor", v.error_over_floor},
            {"reference", {{"computed_by", v.reference}, {"peak_bytes", v.reference_peak_bytes}}},
            {"elements", v.elements},
            {"positions", v.positions},
            {"top1", {{"agreement", v.top1_agreement}, {"near_ties", v.top1_near_ties}, {"mismatches", v.top1_mismatches}}},
            {"note", v.note}};
  if (v.last_iteration_checked)
    j["last_iteration"] = {{"step", v.last_iteration_step}, {"max_rel_error", v.last_iteration_rel_error}};
  return j;
}

}  // namespace

json to_json(const ConfigResult& r) {
  json j = identity_json(r);
  if (r.samples.e2e_ms.empty()) return j;  // skipped, or failed before measuring
  j["replica_weights"] = r.replica_weights_shared ? "shared" : "private";
  j["cuda_graphs"] = r.cuda_graphs;
  j["attention"] = attention_json(r.attention);
  j["warmup"] = r.warmup;
  j["iterations"] = r.iterations;
  j["setup_s"] = r.setup_s;
  j["measurement"] = measurement_json(r.measurement);
  j["samples"] = samples_json(r.samples);
  j["metrics"] = metrics_json(r.metrics);
  j["verification"] = verification_json(r.verification);
  return j;
}

namespace {

json interval_json(const std::optional<Interval>& i) {
  if (!i) return nullptr;
  return {{"low", i->low}, {"high", i->high}, {"confidence", i->confidence}};
}

json ranking_row(const RankingEntry& e) {
  const bool has_baseline = !e.baseline_id.empty();
  json row = {{"workload", e.workload_label},
              {"ranks", e.ranks},
              {"candidates", e.candidates},
              {"best", e.best_id},
              {"e2e_ms_median", e.e2e_ms},
              {"output_tokens_per_s", e.output_tokens_per_s},
              {"peak_bytes", e.peak_bytes},
              {"speedup", nullptr},
              {"efficiency", nullptr},
              {"ensemble", e.ensemble},
              {"members", e.members},
              {"e2e_ms_interval", interval_json(e.e2e_interval)},
              {"baseline", has_baseline ? json(e.baseline_id) : json()},
              {"baseline_e2e_ms_median", has_baseline ? json(e.baseline_e2e_ms) : json()},
              {"baseline_e2e_ms_interval", has_baseline ? interval_json(e.baseline_e2e_interval) : json()},
              {"speedup_interval", interval_json(e.speedup_interval)},
              {"efficiency_interval", interval_json(e.efficiency_interval)},
              {"superlinear", nullptr}};
  if (e.speedup) row["speedup"] = *e.speedup;
  if (e.efficiency) row["efficiency"] = *e.efficiency;
  if (e.superlinear)
    row["superlinear"] = {{"cause", superlinear_cause_name(e.superlinear->cause)}, {"why", e.superlinear->why}};
  return row;
}

}  // namespace

json to_json(const RunSummary& s) {
  // Ensembles answer another question than single models: rows of their own.
  json ranking = json::array(), ensembles = json::array();
  for (const RankingEntry& e : s.ranking) (e.ensemble ? ensembles : ranking).push_back(ranking_row(e));
  return {{"objective", s.objective},
          {"interrupted", s.interrupted},
          {"complete", s.complete},
          {"ranking", ranking},
          {"ensemble_ranking", ensembles}};
}

std::string schema_upgrade_note(int version) {
  if (version >= 2) return "";  // version 3 only added request-list workloads, which older files cannot hold
  return "measured before the fields of schema_version 2 (no per-pass bus bandwidth, no process or device memory "
         "beside the allocated bytes; param-server bytes counted once per call at the root)";
}

json make_document(const RunMetadata& run, const std::vector<json>& configurations, const RunSummary* summary) {
  json doc = {{"schema_version", kSchemaVersion}, {"run", to_json(run)}, {"configurations", configurations}};
  if (summary) doc["summary"] = to_json(*summary);
  return doc;
}

}  // namespace llmt
