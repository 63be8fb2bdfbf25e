#include "reports/json_schema.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "model/error.hpp"
#include "model/file_io.hpp"
#include "engine/metrics.hpp"
#include "model/model.hpp"

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
          {"device_used_at_end", m.device_used >= 0 ? nlohmann::json(m.device_used) : nlohmann::json(nullptr)}};
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
  json row = {{"workload", e.workload.label()},
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
  if (version >= kSchemaVersion) return "";
  return "measured before the fields of schema_version 2 (no per-pass bus bandwidth, no process or device memory "
         "beside the allocated bytes; param-server bytes counted once per call at the root)";
}

json make_document(const RunMetadata& run, const std::vector<json>& configurations, const RunSummary* summary) {
  json doc = {{"schema_version", kSchemaVersion}, {"run", to_json(run)}, {"configurations", configurations}};
  if (summary) doc["summary"] = to_json(*summary);
  return doc;
}

namespace {

// Field access with errors that say where.
class Reader {
 public:
  Reader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}
  const json& at(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) throw ConfigError(fmt::format("{}: missing field '{}'", where_, key));
    return j_.at(key);
  }
  template <typename T>
  T get(const char* key) const {
    try {
      return at(key).get<T>();
    } catch (const json::exception&) {
      throw ConfigError(fmt::format("{}: field '{}' has the wrong type ({})", where_, key, at(key).dump()));
    }
  }
  template <typename T>
  T get_or(const char* key, T fallback) const {
    return j_.is_object() && j_.contains(key) && !j_.at(key).is_null() ? get<T>(key) : fallback;
  }
  Reader sub(const char* key) const { return Reader(at(key), where_ + "." + key); }
  bool has(const char* key) const { return j_.is_object() && j_.contains(key) && !j_.at(key).is_null(); }
  bool has_null(const char* key) const { return j_.is_object() && j_.contains(key) && j_.at(key).is_null(); }

 private:
  const json& j_;
  std::string where_;
};

// Fields below were added after the first results files: all optional.
FloorMetrics floor_from_json(const Reader& metrics) {
  FloorMetrics f;
  if (!metrics.has("floor")) return f;
  const Reader fj = metrics.sub("floor");
  f.available = true;
  f.ttft_ms = fj.get<double>("ttft_ms");
  f.decode_step_ms = fj.get<double>("decode_step_ms");
  f.e2e_ms = fj.get<double>("e2e_ms");
  f.ttft_of_floor = fj.get<double>("ttft_of_floor");
  f.decode_step_of_floor = fj.get<double>("decode_step_of_floor");
  f.e2e_of_floor = fj.get<double>("e2e_of_floor");
  return f;
}

std::vector<AttentionUse> attention_from_json(const Reader& config, const std::string& where) {
  std::vector<AttentionUse> uses;
  for (const json& aj : config.get_or<json>("attention", json::array())) {
    const Reader a(aj, where + ".attention[]");
    uses.push_back({a.get<std::string>("pass"), a.get<std::string>("kernel"), a.get_or<std::string>("why", "")});
  }
  return uses;
}

PhaseSummary phase_from_json(const Reader& ph) {
  PhaseSummary s;
  s.path = ph.get<std::string>("path");
  s.category = ph.get<std::string>("category");
  s.detail = ph.get_or<std::string>("detail", "");
  s.op = ph.get_or<std::string>("op", "");
  s.group = ph.get_or<std::string>("group", "");
  s.group_size = ph.get_or<int>("group_size", 1);
  s.ranks = ph.get_or<int>("ranks", 0);
  s.calls = ph.get_or<double>("calls", 0.0);
  s.ms = ph.get_or<double>("ms", 0.0);
  s.ms_max_rank = ph.get_or<double>("ms_max_rank", 0.0);
  s.bytes = ph.get_or<double>("bytes", 0.0);
  s.timing = ph.get_or<std::string>("timing", "eager");
  if (ph.has("work")) {
    const Reader w = ph.sub("work");
    s.work_flops = w.get<double>("flops");
    s.work_bytes = w.get<double>("bytes");
    s.floor_ms = w.has_null("floor_ms") ? 0.0 : w.get<double>("floor_ms");
    s.floor_bound = w.get_or<std::string>("bound", "");
    s.below_floor = w.get_or<bool>("below_floor", false);
  }
  return s;
}

// Version 1 files call the allocated bytes `measured`, with the device's use inside.
RankMemory rank_memory_from_json(const Reader& rank) {
  const Reader pred = rank.sub("predicted");
  const bool version1 = !rank.has("allocated");
  const Reader alloc = rank.sub(version1 ? "measured" : "allocated");
  RankMemory rm;
  rm.predicted.weights = pred.get<std::size_t>("weights");
  rm.predicted.kv_cache = pred.get<std::size_t>("kv_cache");
  rm.predicted.activations = pred.get<std::size_t>("activations");
  rm.predicted.communication = pred.get_or<std::size_t>("communication", 0);
  rm.weights = alloc.get<std::size_t>("weights");
  rm.kv_cache = alloc.get<std::size_t>("kv_cache");
  rm.activations_peak = alloc.get<std::size_t>("activations_peak");
  rm.communication_peak = alloc.get_or<std::size_t>("communication_peak", 0);
  rm.peak_total = alloc.get<std::size_t>("peak_total");
  rm.device_used = version1 ? alloc.get_or<long long>("device_used", -1) : rank.get_or<long long>("device_used_at_end", -1);
  return rm;
}

std::vector<PhaseSummary> phases_from_json(const Reader& metrics, const std::string& where) {
  std::vector<PhaseSummary> phases;
  for (const json& pj : metrics.get_or<json>("phases", json::array()))
    phases.push_back(phase_from_json(Reader(pj, where + ".metrics.phases[]")));
  return phases;
}

}  // namespace

Ceilings ceilings_from_json(const json& run, const std::string& where) {
  Ceilings c;
  const Reader r(run, where);
  if (!r.has("ceilings")) return c;
  const Reader cj = r.sub("ceilings");
  c.bandwidth_gbps = cj.get<double>("bandwidth_gbps");
  c.gemm_tflops = cj.get<double>("gemm_tflops");
  c.source = cj.get_or<std::string>("source", "");
  c.dtype = cj.get_or<std::string>("dtype", "");
  c.device = cj.get_or<std::string>("device", "");
  c.cache_bandwidth_gbps = cj.get_or<double>("cache_bandwidth_gbps", 0.0);
  c.cache_bytes = cj.get_or<double>("cache_bytes", 0.0);
  c.bandwidth_probe = cj.get_or<std::string>("bandwidth_probe", "");
  return c;
}

namespace {

// Each element of the array `key` of `parent` (absent: none), read by `read`.
template <typename ReadOne>
auto list_from_json(const Reader& parent, const char* key, const std::string& where, ReadOne read) {
  const json items = parent.get_or<json>(key, json::array());
  std::vector<decltype(read(Reader(items, where)))> out;
  for (const json& item : items) out.push_back(read(Reader(item, where)));
  return out;
}

ConfigPoint point_from_json(const Reader& c, const std::string& where) {
  ConfigPoint p;
  p.strategy = c.get<std::string>("strategy");
  const Reader layout = c.sub("layout");
  p.layout = Layout{layout.get<int>("tp"), layout.get<int>("pp"), layout.get<int>("dp"), layout.get_or<int>("ep", 1) > 1};
  if (p.layout.experts_split) {
    const auto dispatch = parse_dispatch_mode(c.get<std::string>("dispatch"));
    if (!dispatch) throw ConfigError(fmt::format("{}: unknown dispatch mode", where));
    p.dispatch = *dispatch;
  }
  p.microbatches = c.get_or<int>("microbatches", 1);
  p.requested_ranks = c.get<int>("ranks");
  const auto sync = parse_sync_mode(c.get<std::string>("sync"));
  const auto merge = parse_merge_mode(c.get<std::string>("merge"));
  if (!sync || !merge) throw ConfigError(fmt::format("{}: unknown sync or merge mode", where));
  p.sync = *sync;
  p.merge = *merge;
  const Reader w = c.sub("workload");
  p.workload = Workload{w.get<int>("batch"), w.get<int>("prompt"), w.get<int>("gen")};
  return p;
}

ConfigStatus status_from_json(const Reader& c, const std::string& where) {
  const std::string status = c.get<std::string>("status");
  if (status == "ok") return ConfigStatus::ok;
  if (status == "failed") return ConfigStatus::failed;
  if (status == "skipped") return ConfigStatus::skipped;
  throw ConfigError(fmt::format("{}: unknown status '{}'", where, status));
}

Measurement measurement_from_json(const Reader& me) {
  Measurement m;
  m.mode = me.get_or<std::string>("mode", "fixed");
  m.samples = me.get_or<int>("samples", 0);
  m.target_rse = me.get_or<double>("target_rse", 0.0);
  m.achieved_rse = me.has_null("achieved_rse") ? std::numeric_limits<double>::infinity()
                                               : me.get_or<double>("achieved_rse", 0.0);
  m.target_met = me.get_or<bool>("target_met", true);
  m.stop_reason = me.get_or<std::string>("stop_reason", "iterations");
  m.outliers = me.get_or<std::size_t>("outliers", 0);
  return m;
}

RawSamples samples_from_json(const Reader& s) {
  const Reader per_rank = s.sub("per_rank");
  RawSamples raw;
  raw.e2e_ms = s.get<std::vector<double>>("e2e_ms");
  raw.ttft_ms = s.get<std::vector<double>>("ttft_ms");
  raw.decode_step_ms = s.get<std::vector<double>>("decode_step_ms");
  using Table = std::vector<std::vector<double>>;
  raw.rank_iteration_ms = per_rank.get<Table>("iteration_ms");
  raw.rank_busy_ms = per_rank.get<Table>("busy_ms");
  raw.rank_sync_ms = per_rank.get<Table>("sync_ms");
  raw.rank_sync_total_ms = per_rank.get<Table>("sync_total_ms");
  raw.rank_transfer_ms = per_rank.get_or<Table>("transfer_ms", Table(raw.rank_busy_ms.size(),
                                                                      std::vector<double>(raw.e2e_ms.size(), 0.0)));
  return raw;
}

// Version 1 files also have algbw_gbps and busbw_gbps here, with the straggler wait: not read.
CommSummary collective_from_json(const Reader& cr) {
  CommSummary cs;
  cs.op = cr.get<std::string>("op");
  cs.group = cr.get<std::string>("group");
  cs.group_size = cr.get<int>("group_size");
  cs.category = cr.get_or<std::string>("category", "communication");
  cs.calls = cr.get<double>("calls");
  cs.bytes = cr.get<double>("bytes");
  cs.ms = cr.get<double>("ms");
  cs.rank_bytes = cr.get_or<std::vector<double>>("bytes_per_rank", {});
  return cs;
}

BusBandwidth bus_bandwidth_from_json(const Reader& br) {
  return {br.get<std::string>("pass"),     br.get<std::string>("op"), br.get<std::string>("group"),
          br.get<int>("group_size"),       br.get<double>("message_bytes"), br.get<double>("calls"),
          br.get<double>("ms"),            br.get<double>("algbw_gbps"), br.get<double>("busbw_gbps")};
}

PoolMemory pool_memory_from_json(const Reader& pr) {
  PoolMemory pool;
  pool.pool = pr.get<std::string>("pool");
  pool.ranks = pr.get<std::vector<int>>("ranks");
  pool.allocated_bytes = pr.get<long long>("allocated_bytes");
  pool.measured_peak_bytes = pr.get<long long>("measured_peak_bytes");
  pool.measured_by = pr.get<std::string>("measured_by");
  pool.rss_at_start_bytes = pr.get_or<long long>("rss_at_start_bytes", -1);
  return pool;
}

PipelineSummary pipeline_from_json(const Reader& pj, const std::string& where) {
  PipelineSummary pipe;
  pipe.stages = pj.get_or<int>("stages", 1);
  pipe.microbatches = pj.get_or<int>("microbatches", 1);
  pipe.bubble_fraction = pj.get_or<double>("bubble_fraction", 0.0);
  pipe.textbook_bubble_fraction = pj.get_or<double>("textbook_bubble_fraction", 0.0);
  pipe.per_stage = list_from_json(pj, "per_stage", where + ".metrics.pipeline.per_stage[]", [](const Reader& st) {
    const auto layers = st.get<std::vector<int>>("layers");
    return StageSummary{st.get<int>("stage"), Range{layers.at(0), layers.at(1)}, st.get<double>("busy_ms"),
                        st.get<double>("transfer_ms"), st.get_or<double>("sync_ms", 0.0)};
  });
  return pipe;
}

// JSON has no infinity: to_json writes an infinite error as null.
Verification verification_from_json(const Reader& v) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  Verification out;
  out.checked = v.get<bool>("checked");
  out.passed = v.get<bool>("passed");
  out.max_abs_error = v.has_null("max_abs_error") ? inf : v.get_or<double>("max_abs_error", 0.0);
  out.max_rel_error = v.has_null("max_rel_error") ? inf : v.get_or<double>("max_rel_error", 0.0);
  out.tolerance = v.get_or<double>("tolerance", 0.0);
  out.elements = v.get_or<std::size_t>("elements", 0);
  out.note = v.get_or<std::string>("note", "");
  // Written since the noise-floor rule; files before it have none of these.
  if (v.has("noise_floor")) {
    const Reader f = v.sub("noise_floor");
    out.floor = f.get<double>("rel_error");
    out.min_floor = f.get<double>("min");
    out.floor_factor = f.get<double>("factor");
    out.floor_source = f.get<std::string>("source");
    out.floor_cap = f.get_or<double>("cap", 0.0);  // written since the cap (issue 20)
    out.floor_trusted = f.get_or<bool>("trusted", true);
    out.error_over_floor = v.has_null("error_over_floor") ? inf : v.get<double>("error_over_floor");
  }
  if (v.has("reference")) {
    out.reference = v.sub("reference").get<std::string>("computed_by");
    out.reference_peak_bytes = v.sub("reference").get<std::size_t>("peak_bytes");
  }
  out.positions = v.get_or<std::size_t>("positions", 0);
  if (v.has("top1")) {
    const Reader t = v.sub("top1");
    out.top1_agreement = t.get<double>("agreement");
    out.top1_near_ties = t.get<std::size_t>("near_ties");
    out.top1_mismatches = t.get<std::size_t>("mismatches");
  }
  if (v.has("last_iteration")) {
    const Reader l = v.sub("last_iteration");
    out.last_iteration_checked = true;
    out.last_iteration_step = l.get<int>("step");
    out.last_iteration_rel_error = l.has_null("max_rel_error") ? inf : l.get<double>("max_rel_error");
  }
  return out;
}

// What is not recomputed from the samples: communication, memory, pipeline stages, phases, floors.
// Written for MoE models only; older files and dense models have none.
MoeMetrics moe_from_json(const Reader& m) {
  MoeMetrics out;
  out.available = true;
  out.routing = m.get<std::string>("routing");
  out.tokens_per_expert = m.get<std::vector<std::vector<long long>>>("tokens_per_expert");
  out.expert_balance = m.get<double>("expert_balance");
  out.worst_layer_balance = m.get<double>("worst_layer_balance");
  const Reader t = m.sub("time_ms");
  out.router_ms = t.get<double>("router");
  out.dispatch_ms = t.get<double>("dispatch");
  out.experts_ms = t.get<double>("experts");
  out.combine_ms = t.get<double>("combine");
  out.exchange_ms = t.get_or<double>("exchange", 0.0);
  out.exchange_transfer_ms = t.get_or<double>("exchange_transfer", 0.0);
  out.exchange_wait_ms = t.get_or<double>("exchange_wait", 0.0);
  out.ep_ranks = m.get_or<int>("ep_ranks", 1);
  out.tokens_per_ep_rank = m.get_or<std::vector<long long>>("tokens_per_ep_rank", {});
  out.ep_balance = m.get_or<double>("ep_balance", 1.0);
  out.worst_layer_ep_balance = m.get_or<double>("worst_layer_ep_balance", 1.0);
  if (m.has("ep_balance_by_pass")) {
    const Reader by_pass = m.sub("ep_balance_by_pass");
    out.ep_balance_prefill = by_pass.get<double>("prefill");
    out.ep_balance_decode = by_pass.get<double>("decode");
  }
  out.exchange_bytes = m.get_or<double>("exchange_bytes_per_iteration", 0.0);
  out.routing_agreement = m.get_or<double>("routing_agreement", -1.0);
  return out;
}

void stored_metrics_from_json(const Reader& m, const std::string& where, ConfigMetrics& metrics) {
  const Reader sync = m.sub("sync");
  metrics.comm_bytes = sync.get_or<double>("bytes_per_iteration", 0.0);
  metrics.comm = list_from_json(sync, "collectives", where + ".metrics.sync.collectives[]", collective_from_json);
  metrics.bus_bandwidth =
      list_from_json(sync, "bus_bandwidth", where + ".metrics.sync.bus_bandwidth[]", bus_bandwidth_from_json);
  metrics.memory = list_from_json(m, "memory", where + ".metrics.memory[]", rank_memory_from_json);
  metrics.memory_pools = list_from_json(m, "memory_pools", where + ".metrics.memory_pools[]", pool_memory_from_json);
  if (m.has("pipeline")) metrics.pipeline = pipeline_from_json(m.sub("pipeline"), where);
  metrics.phases = phases_from_json(m, where);
  metrics.floor = floor_from_json(m);
  if (m.has("moe")) metrics.moe = moe_from_json(m.sub("moe"));
}

}  // namespace

ConfigResult result_from_json(const json& j, const std::string& where) {
  const Reader c(j, where);
  ConfigResult r;
  r.point = point_from_json(c, where);
  r.status = status_from_json(c, where);
  r.reason = c.get_or<std::string>("reason", "");
  r.notes = c.get_or<std::vector<std::string>>("notes", {});
  if (!j.contains("samples")) return r;

  r.warmup = c.get_or<int>("warmup", 0);
  r.iterations = c.get_or<int>("iterations", 0);
  r.setup_s = c.get_or<double>("setup_s", 0.0);
  r.replica_weights_shared = c.get_or<std::string>("replica_weights", "private") == "shared";
  r.cuda_graphs = c.get_or<bool>("cuda_graphs", false);
  r.attention = attention_from_json(c, where);
  if (j.contains("measurement")) r.measurement = measurement_from_json(c.sub("measurement"));
  r.samples = samples_from_json(c.sub("samples"));
  fill_sample_metrics(r.point, r.samples, r.metrics);
  stored_metrics_from_json(c.sub("metrics"), where, r.metrics);
  if (j.contains("verification")) r.verification = verification_from_json(c.sub("verification"));
  return r;
}

namespace {

// docs/results.schema.json, verbatim (tests/test_results_validation.cpp keeps the two equal).
const char* const kResultsSchemaText = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://github.com/llmthreads/llmthreads/docs/results.schema.json",
  "title": "llmthreads results file (schema_version 2; version 1 files also validate)",
  "description": "What `llmthreads bench --json` writes and `compare`, `report` and `bench --resume` read. llmthreads checks every file it reads against this schema (reports/json_schema.cpp embeds the same text; a unit test keeps the two equal), then checks what no schema says: see docs/ci.md, 'What makes a results file unusable'.",
  "type": "object",
  "required": ["schema_version", "run", "configurations"],
  "properties": {
    "schema_version": {"type": "integer", "minimum": 1, "maximum": 1000000},
    "run": {"$ref": "#/$defs/run"},
    "configurations": {"type": "array", "items": {"$ref": "#/$defs/configuration"}},
    "summary": {"$ref": "#/$defs/summary"}
  },
  "$defs": {
    "ms": {"description": "a time in milliseconds", "type": "number", "minimum": 0, "maximum": 1e9},
    "ms_row": {"type": "array", "items": {"$ref": "#/$defs/ms"}},
    "busy_ms": {"description": "an iteration less its synchronisation and transfer: may round a hair below 0", "type": "number", "minimum": -1e-6, "maximum": 1e9},
    "count": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    "positive": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    "bytes": {"type": "integer", "minimum": 0},
    "amount": {"description": "a non-negative finite quantity (calls, bytes, flops, bandwidth)", "type": "number", "minimum": 0},
    "texts": {"type": "array", "items": {"type": "string"}},
    "string_map": {"type": "object", "additionalProperties": {"type": "string"}},
    "allocated": {
      "description": "peak bytes the rank's allocator handed out, per kind and in total",
      "type": "object",
      "required": ["weights", "kv_cache", "activations_peak", "peak_total"],
      "properties": {
        "weights": {"$ref": "#/$defs/bytes"}, "kv_cache": {"$ref": "#/$defs/bytes"}, "activations_peak": {"$ref": "#/$defs/bytes"},
        "communication_peak": {"$ref": "#/$defs/bytes"}, "peak_total": {"$ref": "#/$defs/bytes"},
        "device_used": {"type": ["null", "integer"], "minimum": 0}
      }
    },
    "run": {
      "type": "object",
      "properties": {
        "tool": {"type": "string"}, "version": {"type": "string"}, "git_commit": {"type": "string"},
        "timestamp": {"type": "string"}, "command_line": {"type": "string"}, "backend": {"type": "string"},
        "device": {"type": "string"}, "blas": {"type": "string"}, "dtype": {"type": "string"},
        "host": {"type": "string"}, "cpu_model": {"type": "string"}, "os": {"type": "string"},
        "cpu_governor": {"type": "string"},
        "logical_cpus": {"$ref": "#/$defs/count"}, "affinity_cpus": {"$ref": "#/$defs/count"},
        "max_ranks": {"$ref": "#/$defs/count"}, "memory_total_bytes": {"$ref": "#/$defs/bytes"},
        "load_average_1m": {"$ref": "#/$defs/amount"}, "cpu_busy_at_start": {"type": "number"},
        "warmup": {"$ref": "#/$defs/count"}, "iterations": {"$ref": "#/$defs/count"},
        "seed": {"type": "integer", "minimum": 0}, "overlap_chunks": {"$ref": "#/$defs/count"},
        "threads_per_rank": {"$ref": "#/$defs/count"},
        "replica_weights": {"type": "string"}, "inject_delay": {"type": "string"},
        "measurement": {
          "type": "object",
          "properties": {
            "mode": {"enum": ["fixed", "adaptive"]}, "target_rse": {"$ref": "#/$defs/amount"},
            "min_iters": {"$ref": "#/$defs/count"}, "max_iters": {"$ref": "#/$defs/count"},
            "max_time_s": {"$ref": "#/$defs/amount"}
          }
        },
        "cpu_mhz": {"$ref": "#/$defs/amount"}, "compiler": {"type": "string"},
        "libraries": {"$ref": "#/$defs/string_map"},
        "ensemble_weights": {"type": "array", "items": {"$ref": "#/$defs/amount"}},
        "resumed_from": {"type": "string"}, "emulated": {"type": "boolean"}, "attention": {"type": "string"},
        "routing": {"type": "string"},
        "weights": {"type": "string"},
        "ceilings": {
          "type": ["null", "object"],
          "required": ["bandwidth_gbps", "gemm_tflops"],
          "properties": {
            "bandwidth_gbps": {"$ref": "#/$defs/amount"}, "gemm_tflops": {"$ref": "#/$defs/amount"},
            "source": {"type": "string"}, "dtype": {"type": "string"}, "device": {"type": "string"},
            "cache_bandwidth_gbps": {"$ref": "#/$defs/amount"}, "cache_bytes": {"$ref": "#/$defs/amount"},
            "bandwidth_probe": {"type": "string"}
          }
        },
        "gpu": {"$ref": "#/$defs/string_map"},
        "model": {
          "type": "object",
          "properties": {"name": {"type": "string"}, "layers": {"$ref": "#/$defs/count"}, "notes": {"$ref": "#/$defs/texts"}}
        },
        "warnings": {"$ref": "#/$defs/texts"},
        "launch": {
          "type": "object",
          "required": ["mode", "launcher", "world_size", "hosts"],
          "properties": {
            "mode": {"enum": ["processes"]}, "launcher": {"type": "string"},
            "world_size": {"$ref": "#/$defs/count"},
            "hosts": {
              "type": "array",
              "items": {
                "type": "object",
                "required": ["host", "ranks"],
                "properties": {
                  "host": {"type": "string"}, "ranks": {"type": "array", "items": {"$ref": "#/$defs/count"}},
                  "environment": {"$ref": "#/$defs/string_map"}
                }
              }
            }
          }
        }
      }
    },
    "configuration": {
      "type": "object",
      "required": ["id", "strategy", "ranks", "layout", "sync", "merge", "workload", "status"],
      "dependentRequired": {"samples": ["metrics"]},
      "properties": {
        "id": {"type": "string", "minLength": 1},
        "strategy": {"type": "string", "minLength": 1},
        "ranks": {"$ref": "#/$defs/count"},
        "layout": {
          "type": "object",
          "required": ["tp", "pp", "dp"],
          "properties": {"tp": {"$ref": "#/$defs/count"}, "pp": {"$ref": "#/$defs/count"}, "dp": {"$ref": "#/$defs/count"}, "ep": {"$ref": "#/$defs/positive"}, "label": {"type": "string"}}
        },
        "dispatch": {"enum": ["alltoall", "allgather", null]},
        "microbatches": {"$ref": "#/$defs/positive"},
        "sync": {"enum": ["blocking", "overlap", "param-server"]},
        "merge": {"enum": ["concat", "sum", "mean"]},
        "workload": {
          "type": "object",
          "required": ["batch", "prompt", "gen"],
          "properties": {"batch": {"$ref": "#/$defs/positive"}, "prompt": {"$ref": "#/$defs/positive"}, "gen": {"$ref": "#/$defs/positive"}}
        },
        "status": {"enum": ["ok", "failed", "skipped"]},
        "reason": {"type": "string"},
        "notes": {"$ref": "#/$defs/texts"},
        "replica_weights": {"enum": ["shared", "private"]},
        "cuda_graphs": {"type": "boolean"},
        "attention": {
          "type": "array",
          "items": {"type": "object", "required": ["pass", "kernel"], "properties": {"pass": {"type": "string"}, "kernel": {"type": "string"}, "why": {"type": "string"}}}
        },
        "warmup": {"$ref": "#/$defs/count"},
        "iterations": {"$ref": "#/$defs/count"},
        "setup_s": {"$ref": "#/$defs/amount"},
        "measurement": {
          "type": "object",
          "properties": {
            "mode": {"enum": ["fixed", "adaptive"]}, "samples": {"$ref": "#/$defs/count"},
            "target_rse": {"$ref": "#/$defs/amount"}, "achieved_rse": {"type": ["null", "number"], "minimum": 0},
            "target_met": {"type": "boolean"}, "stop_reason": {"type": "string"}, "outliers": {"$ref": "#/$defs/count"}
          }
        },
        "samples": {
          "type": "object",
          "required": ["e2e_ms", "ttft_ms", "decode_step_ms", "per_rank"],
          "properties": {
            "e2e_ms": {"$ref": "#/$defs/ms_row"}, "ttft_ms": {"$ref": "#/$defs/ms_row"}, "decode_step_ms": {"$ref": "#/$defs/ms_row"},
            "per_rank": {
              "type": "object",
              "required": ["iteration_ms", "busy_ms", "sync_ms", "sync_total_ms"],
              "properties": {
                "iteration_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "busy_ms": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/busy_ms"}}},
                "sync_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "sync_total_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}},
                "transfer_ms": {"type": "array", "items": {"$ref": "#/$defs/ms_row"}}
              }
            }
          }
        },
        "metrics": {
          "type": "object",
          "required": ["sync"],
          "properties": {
            "sync": {
              "type": "object",
              "properties": {
                "bytes_per_iteration": {"$ref": "#/$defs/amount"},
                "collectives": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "description": "every collective and transfer of a kind; version 1 files also have algbw_gbps and busbw_gbps here (with the straggler wait, ignored)",
                    "required": ["op", "group", "group_size", "calls", "bytes", "ms"],
                    "properties": {
                      "op": {"type": "string"}, "group": {"type": "string"}, "group_size": {"$ref": "#/$defs/positive"},
                      "category": {"type": "string"}, "calls": {"$ref": "#/$defs/amount"}, "bytes": {"$ref": "#/$defs/amount"},
                      "ms": {"$ref": "#/$defs/ms"}, "algbw_gbps": {"$ref": "#/$defs/amount"}, "busbw_gbps": {"$ref": "#/$defs/amount"},
                      "bytes_per_rank": {"description": "bytes per iteration each rank of the configuration moved (0: not in the group); version 2", "type": "array", "items": {"$ref": "#/$defs/amount"}}
                    }
                  }
                },
                "bus_bandwidth": {
                  "description": "version 2: per pass, collective operation, group and message size; a call's time is the least over its group's ranks",
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": ["pass", "op", "group", "group_size", "message_bytes", "calls", "ms", "algbw_gbps", "busbw_gbps"],
                    "properties": {
                      "pass": {"enum": ["prefill", "decode"]}, "op": {"type": "string"}, "group": {"type": "string"},
                      "group_size": {"$ref": "#/$defs/positive"}, "message_bytes": {"$ref": "#/$defs/amount"},
                      "calls": {"$ref": "#/$defs/amount"}, "ms": {"$ref": "#/$defs/ms"},
                      "algbw_gbps": {"$ref": "#/$defs/amount"}, "busbw_gbps": {"$ref": "#/$defs/amount"}
                    }
                  }
                }
              }
            },
            "memory": {
              "type": "array",
              "items": {
                "description": "one entry per rank; version 1 files have measured (with device_used) where version 2 has allocated and device_used_at_end",
                "type": "object",
                "required": ["predicted"],
                "properties": {
                  "predicted": {
                    "type": "object",
                    "required": ["weights", "kv_cache", "activations"],
                    "properties": {"weights": {"$ref": "#/$defs/bytes"}, "kv_cache": {"$ref": "#/$defs/bytes"}, "activations": {"$ref": "#/$defs/bytes"}, "communication": {"$ref": "#/$defs/bytes"}, "total": {"$ref": "#/$defs/bytes"}}
                  },
                  "allocated": {"$ref": "#/$defs/allocated"},
                  "device_used_at_end": {"type": ["null", "integer"], "minimum": 0},
                  "measured": {"$ref": "#/$defs/allocated"}
                }
              }
            },
            "memory_pools": {
              "description": "version 2: per memory pool, the ranks' allocated bytes beside the measured peak (host: the process's RSS high-water mark; GPUs: the device's bytes in use at the end)",
              "type": "array",
              "items": {
                "type": "object",
                "required": ["pool", "ranks", "allocated_bytes", "measured_peak_bytes", "measured_by"],
                "properties": {
                  "pool": {"type": "string"}, "ranks": {"type": "array", "items": {"$ref": "#/$defs/count"}},
                  "allocated_bytes": {"$ref": "#/$defs/bytes"}, "measured_peak_bytes": {"$ref": "#/$defs/bytes"},
                  "measured_by": {"enum": ["process_rss_hwm_since_configuration_start", "process_rss_hwm_since_process_start", "device_used_at_end"]},
                  "rss_at_start_bytes": {"type": ["null", "integer"], "minimum": 0},
                  "untracked_bytes": {"type": "integer"}
                }
              }
            },
            "pipeline": {
              "type": "object",
              "properties": {
                "stages": {"$ref": "#/$defs/positive"}, "microbatches": {"$ref": "#/$defs/positive"},
                "bubble_fraction": {"type": "number"},
                "textbook_bubble_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "per_stage": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "required": ["stage", "layers", "busy_ms", "transfer_ms"],
                    "properties": {
                      "stage": {"$ref": "#/$defs/count"},
                      "layers": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"$ref": "#/$defs/count"}},
                      "busy_ms": {"$ref": "#/$defs/busy_ms"}, "transfer_ms": {"$ref": "#/$defs/ms"}, "sync_ms": {"$ref": "#/$defs/ms"}
                    }
                  }
                }
              }
            },
            "floor": {
              "type": ["null", "object"],
              "required": ["ttft_ms", "decode_step_ms", "e2e_ms", "ttft_of_floor", "decode_step_of_floor", "e2e_of_floor"],
              "properties": {
                "ttft_ms": {"$ref": "#/$defs/ms"}, "decode_step_ms": {"$ref": "#/$defs/ms"}, "e2e_ms": {"$ref": "#/$defs/ms"},
                "ttft_of_floor": {"$ref": "#/$defs/amount"}, "decode_step_of_floor": {"$ref": "#/$defs/amount"}, "e2e_of_floor": {"$ref": "#/$defs/amount"}
              }
            },
            "moe": {
              "type": ["null", "object"],
              "description": "mixture-of-experts models only: tokens per expert per layer, balance, MoE time",
              "required": ["routing", "tokens_per_expert", "expert_balance", "worst_layer_balance", "time_ms"],
              "properties": {
                "routing": {"type": "string"},
                "tokens_per_expert": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/bytes"}}},
                "expert_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "worst_layer_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "ep_ranks": {"$ref": "#/$defs/positive"},
                "tokens_per_ep_rank": {"type": "array", "items": {"$ref": "#/$defs/bytes"}},
                "ep_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "worst_layer_ep_balance": {"type": "number", "minimum": 0, "maximum": 1},
                "ep_balance_by_pass": {
                  "type": "object",
                  "required": ["prefill", "decode"],
                  "properties": {
                    "prefill": {"type": "number", "minimum": 0, "maximum": 1},
                    "decode": {"type": "number", "minimum": 0, "maximum": 1}
                  }
                },
                "routing_agreement": {"type": "number", "minimum": 0, "maximum": 1},
                "exchange_bytes_per_iteration": {"$ref": "#/$defs/amount"},
                "time_ms": {
                  "type": "object",
                  "required": ["router", "dispatch", "experts", "combine"],
                  "properties": {
                    "router": {"$ref": "#/$defs/ms"}, "dispatch": {"$ref": "#/$defs/ms"},
                    "experts": {"$ref": "#/$defs/ms"}, "combine": {"$ref": "#/$defs/ms"},
                    "exchange": {"$ref": "#/$defs/ms"}, "exchange_transfer": {"$ref": "#/$defs/ms"},
                    "exchange_wait": {"$ref": "#/$defs/ms"}
                  }
                }
              }
            },
            "phases": {"type": "array", "items": {"$ref": "#/$defs/phase"}}
          }
        },
        "verification": {
          "type": "object",
          "required": ["checked", "passed"],
          "properties": {
            "checked": {"type": "boolean"}, "passed": {"type": "boolean"},
            "max_abs_error": {"type": ["null", "number"], "minimum": 0}, "max_rel_error": {"type": ["null", "number"], "minimum": 0},
            "tolerance": {"$ref": "#/$defs/amount"}, "elements": {"$ref": "#/$defs/bytes"}, "note": {"type": "string"},
            "noise_floor": {
              "type": "object",
              "required": ["rel_error", "min", "factor", "source"],
              "properties": {
                "rel_error": {"$ref": "#/$defs/amount"}, "min": {"$ref": "#/$defs/amount"},
                "factor": {"$ref": "#/$defs/amount"}, "source": {"type": "string"},
                "cap": {"$ref": "#/$defs/amount"}, "trusted": {"type": "boolean"}
              }
            },
            "error_over_floor": {"type": ["null", "number"], "minimum": 0},
            "reference": {
              "type": "object",
              "required": ["computed_by", "peak_bytes"],
              "properties": {"computed_by": {"type": "string"}, "peak_bytes": {"$ref": "#/$defs/bytes"}}
            },
            "positions": {"$ref": "#/$defs/count"},
            "top1": {
              "type": "object",
              "required": ["agreement", "near_ties", "mismatches"],
              "properties": {
                "agreement": {"type": "number", "minimum": 0, "maximum": 1},
                "near_ties": {"$ref": "#/$defs/count"}, "mismatches": {"$ref": "#/$defs/count"}
              }
            },
            "last_iteration": {
              "type": "object",
              "required": ["step", "max_rel_error"],
              "properties": {"step": {"$ref": "#/$defs/count"}, "max_rel_error": {"type": ["null", "number"], "minimum": 0}}
            }
          }
        }
      }
    },
    "phase": {
      "type": "object",
      "required": ["path", "category"],
      "properties": {
        "path": {"type": "string", "minLength": 1}, "category": {"type": "string", "minLength": 1},
        "detail": {"type": "string"}, "op": {"type": "string"}, "group": {"type": "string"},
        "group_size": {"$ref": "#/$defs/positive"}, "ranks": {"$ref": "#/$defs/count"},
        "calls": {"$ref": "#/$defs/amount"}, "ms": {"$ref": "#/$defs/ms"}, "ms_max_rank": {"$ref": "#/$defs/ms"},
        "bytes": {"$ref": "#/$defs/amount"}, "timing": {"enum": ["eager", "eager_sample"]},
        "work": {
          "type": "object",
          "required": ["flops", "bytes", "floor_ms"],
          "properties": {"flops": {"$ref": "#/$defs/amount"}, "bytes": {"$ref": "#/$defs/amount"}, "floor_ms": {"type": ["null", "number"], "minimum": 0}, "of_floor": {"type": ["null", "number"], "minimum": 0},
                         "bound": {"enum": ["compute", "memory", "cache", "none"]}, "below_floor": {"type": "boolean"}}
        }
      }
    },
    "summary": {
      "type": "object",
      "required": ["ranking"],
      "properties": {
        "objective": {"type": "string"}, "interrupted": {"type": "boolean"}, "complete": {"type": "boolean"},
        "ranking": {"description": "single models only", "type": "array", "items": {"$ref": "#/$defs/ranking_row"}},
        "ensemble_ranking": {"description": "optional (absent in older files): merge-mean ensembles, ranked apart", "type": "array", "items": {"$ref": "#/$defs/ranking_row"}}
      }
    },
    "ranking_row": {
      "type": "object",
      "required": ["workload", "ranks", "best", "e2e_ms_median", "speedup", "efficiency"],
      "properties": {
        "workload": {"type": "string"}, "ranks": {"$ref": "#/$defs/count"}, "candidates": {"$ref": "#/$defs/count"},
        "best": {"type": "string"}, "e2e_ms_median": {"$ref": "#/$defs/ms"},
        "output_tokens_per_s": {"$ref": "#/$defs/amount"}, "peak_bytes": {"$ref": "#/$defs/amount"},
        "speedup": {"type": ["null", "number"], "minimum": 0}, "efficiency": {"type": ["null", "number"], "minimum": 0},
        "ensemble": {"type": "boolean"}, "members": {"$ref": "#/$defs/positive"},
        "e2e_ms_interval": {"$ref": "#/$defs/interval"},
        "baseline": {"type": ["null", "string"]}, "baseline_e2e_ms_median": {"type": ["null", "number"], "minimum": 0, "maximum": 1e9},
        "baseline_e2e_ms_interval": {"$ref": "#/$defs/interval"},
        "speedup_interval": {"$ref": "#/$defs/interval"}, "efficiency_interval": {"$ref": "#/$defs/interval"},
        "superlinear": {
          "type": ["null", "object"],
          "required": ["cause", "why"],
          "properties": {"cause": {"enum": ["noise", "working_set", "slow_baseline"]}, "why": {"type": "string"}}
        }
      }
    },
    "interval": {
      "description": "[low, high] with the chance that it covers the true value (exact for a median's order statistics, a lower bound for a ratio); null where there is none",
      "type": ["null", "object"],
      "required": ["low", "high", "confidence"],
      "properties": {"low": {"$ref": "#/$defs/amount"}, "high": {"$ref": "#/$defs/amount"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}}
    }
  }
}
)schema";

// A value for a message: scalars as written, containers by their shape (a hostile file may nest
// them deeper than dump's recursion should go).
std::string brief(const json& v) {
  if (v.is_array()) return v.empty() ? "[]" : fmt::format("[...{} items]", v.size());
  if (v.is_object()) return v.empty() ? "{}" : fmt::format("{{...{} fields}}", v.size());
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

bool has_type(const json& v, const std::string& type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  return false;
}

std::string type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

class SchemaChecker {
 public:
  explicit SchemaChecker(const json& root) : root_(root) {}

  // "<path>: <what>" for the first violation, empty when none.
  std::string check(const json& schema, const json& v, const std::string& path) const {
    const json& s = resolve(schema);
    if (v.is_number_float() && !std::isfinite(v.get<double>())) return path + ": is not a finite number";
    if (s.contains("type")) {
      const json& t = s["type"];
      bool ok = false;
      std::string wanted;
      for (const json& one : t.is_array() ? t : json::array({t})) {
        ok |= has_type(v, one.get<std::string>());
        wanted += (wanted.empty() ? "" : " or ") + one.get<std::string>();
      }
      if (!ok) return fmt::format("{}: has the wrong type: {} {}, expected {}", path, type_name(v), brief(v), wanted);
    }
    if (s.contains("enum")) {
      bool ok = false;
      for (const json& e : s["enum"]) ok |= e == v;
      if (!ok) return fmt::format("{}: {} is not one of {}", path, brief(v), s["enum"].dump());
    }
    if (v.is_number()) {
      const double x = v.get<double>();
      if (s.contains("minimum") && x < s["minimum"].get<double>())
        return fmt::format("{}: {} is below the minimum {}", path, brief(v), s["minimum"].dump());
      if (s.contains("maximum") && x > s["maximum"].get<double>())
        return fmt::format("{}: {} is above the maximum {}", path, brief(v), s["maximum"].dump());
      // Large unsigned integers lose precision as double: compare them exactly against 0.
      if (s.contains("minimum") && v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0 &&
          s["minimum"].get<double>() >= 0)
        return fmt::format("{}: {} is below the minimum {}", path, brief(v), s["minimum"].dump());
    }
    if (v.is_string() && s.contains("minLength") && v.get_ref<const std::string&>().size() < s["minLength"].get<std::size_t>())
      return fmt::format("{}: is empty", path);
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>())
        return fmt::format("{}: has {} items, fewer than {}", path, v.size(), s["minItems"].get<std::size_t>());
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<std::size_t>())
        return fmt::format("{}: has {} items, more than {}", path, v.size(), s["maxItems"].get<std::size_t>());
      if (s.contains("items"))
        for (std::size_t i = 0; i < v.size(); ++i) {
          std::string e = check(s["items"], v[i], fmt::format("{}[{}]", path, i));
          if (!e.empty()) return e;
        }
    }
    if (v.is_object()) {
      const std::string prefix = path.empty() ? "" : path + ".";
      for (const json& key : s.value("required", json::array()))
        if (!v.contains(key.get<std::string>())) return fmt::format("{}{}: missing", prefix, key.get<std::string>());
      if (s.contains("dependentRequired"))
        for (const auto& [key, needs] : s["dependentRequired"].items())
          if (v.contains(key))
            for (const json& n : needs)
              if (!v.contains(n.get<std::string>()))
                return fmt::format("{}{}: missing (required with {})", prefix, n.get<std::string>(), key);
      const json no_properties = json::object();
      const json& properties = s.contains("properties") ? s["properties"] : no_properties;
      for (const auto& [key, value] : v.items()) {
        std::string e;
        if (properties.contains(key))
          e = check(properties[key], value, prefix + key);
        else if (s.contains("additionalProperties") && s["additionalProperties"].is_object())
          e = check(s["additionalProperties"], value, prefix + key);
        else if (s.contains("additionalProperties") && s["additionalProperties"] == false)
          e = prefix + key + ": is not a known field";
        else
          e = finite_everywhere(value, prefix + key);
        if (!e.empty()) return e;
      }
    }
    return {};
  }

 private:
  const json& resolve(const json& schema) const {
    if (!schema.contains("$ref")) return schema;
    const std::string ref = schema["$ref"].get<std::string>();
    return resolve(root_.at(json::json_pointer(ref.substr(1))));
  }

  // Fields the schema does not describe are allowed, but no reader may meet a NaN or infinity.
  static std::string finite_everywhere(const json& v, const std::string& path, int depth = 0) {
    constexpr int kMaxDepth = 64;
    if (v.is_number_float() && !std::isfinite(v.get<double>())) return path + ": is not a finite number";
    if ((v.is_array() || v.is_object()) && !v.empty() && depth >= kMaxDepth)
      return fmt::format("{}: nests deeper than {} levels", path, kMaxDepth);
    if (v.is_array())
      for (std::size_t i = 0; i < v.size(); ++i) {
        std::string e = finite_everywhere(v[i], fmt::format("{}[{}]", path, i), depth + 1);
        if (!e.empty()) return e;
      }
    if (v.is_object())
      for (const auto& [key, value] : v.items()) {
        std::string e = finite_everywhere(value, path + "." + key, depth + 1);
        if (!e.empty()) return e;
      }
    return {};
  }

  const json& root_;
};

// "<source>: configuration <id> (configurations[i]): field '<rest>' <what>", or for fields
// outside the configurations "<source>: field '<path>' <what>".
[[noreturn]] void unusable(const std::string& source, const json& doc, const std::string& violation) {
  const auto colon = violation.find(": ");
  std::string path = violation.substr(0, colon);
  const std::string what = colon == std::string::npos ? "is malformed" : violation.substr(colon + 2);
  const std::string head = "configurations[";
  if (path.rfind(head, 0) == 0 && path.find(']') != std::string::npos) {
    const std::size_t close = path.find(']');
    const std::string index = path.substr(head.size(), close - head.size());
    std::string field = path.substr(close + 1);
    if (!field.empty() && field[0] == '.') field.erase(0, 1);
    std::string name;
    const std::size_t i = std::stoul(index);
    const json& configs = doc.at("configurations");
    if (i < configs.size() && configs[i].is_object() && configs[i].contains("id") && configs[i]["id"].is_string())
      name = configs[i]["id"].get<std::string>() + " ";
    throw ConfigError(fmt::format("{}: configuration {}(configurations[{}]): {} {}", source, name, index,
                                  field.empty() ? std::string("the entry") : "field '" + field + "'", what));
  }
  throw ConfigError(fmt::format("{}: field '{}' {}", source, path, what));
}

// Sample rows, per-rank tables, phases and stages against the configuration's own counts.
void check_configuration(const json& c, const std::string& at, std::vector<std::string>& problems) {
  auto fail = [&](const std::string& field, const std::string& what) { problems.push_back(at + "." + field + ": " + what); };
  const std::string status = c["status"].get<std::string>();
  const int ranks = c["ranks"].get<int>();
  const json& layout = c["layout"];
  long long grid = 1;
  for (const char* d : {"tp", "pp", "dp"})
    if (__builtin_mul_overflow(grid, layout[d].get<long long>(), &grid))
      return fail("layout", "tp * pp * dp overflows");
  if (grid > 0 && grid != ranks)
    return fail("ranks", fmt::format("is {}, but the layout tp{}.pp{}.dp{} has {} ranks", ranks,
                                     layout["tp"].get<int>(), layout["pp"].get<int>(), layout["dp"].get<int>(), grid));
  if (status == "ok" && grid == 0) return fail("layout", "an ok configuration needs tp, pp and dp of at least 1");
  if (!c.contains("samples")) {
    if (status == "ok")
      fail("samples", "missing: a configuration with status ok must have its samples (an unmeasured ok configuration "
                      "cannot be judged)");
    return;
  }
  if (status == "skipped") return fail("samples", "present on a skipped configuration");
  const json& s = c["samples"];
  const std::size_t n = s["e2e_ms"].size();
  if (n == 0) return fail("samples.e2e_ms", "is empty: a measured configuration needs at least one iteration");
  if (c.contains("iterations") && c["iterations"].get<std::size_t>() != n)
    return fail("iterations", fmt::format("is {}, but samples.e2e_ms has {} iterations", c["iterations"].get<std::size_t>(), n));
  if (s["ttft_ms"].size() != n)
    return fail("samples.ttft_ms", fmt::format("has {} values for {} iterations (samples.e2e_ms)", s["ttft_ms"].size(), n));
  const std::size_t steps = static_cast<std::size_t>(c["workload"]["gen"].get<int>() - 1);
  if (s["decode_step_ms"].size() != n * steps)
    return fail("samples.decode_step_ms", fmt::format("has {} values; {} iterations of gen - 1 = {} decode steps make {}",
                                                      s["decode_step_ms"].size(), n, steps, n * steps));
  for (const char* table : {"iteration_ms", "busy_ms", "sync_ms", "sync_total_ms", "transfer_ms"}) {
    const json& pr = s["per_rank"];
    if (!pr.contains(table)) continue;
    const json& rows = pr[table];
    const std::string field = std::string("samples.per_rank.") + table;
    if (rows.size() != static_cast<std::size_t>(ranks))
      return fail(field, fmt::format("has {} rows for {} ranks", rows.size(), ranks));
    for (std::size_t r = 0; r < rows.size(); ++r)
      if (rows[r].size() != n)
        return fail(fmt::format("{}[{}]", field, r),
                    fmt::format("has {} values, but samples.e2e_ms has {} iterations (rows of unequal length)",
                                rows[r].size(), n));
  }
  const json& m = c["metrics"];
  if (m.contains("phases"))
    for (std::size_t i = 0; i < m["phases"].size(); ++i) {
      const json& ph = m["phases"][i];
      const std::string field = fmt::format("metrics.phases[{}]", i);
      if (ph.contains("ranks") && ph["ranks"].get<int>() > ranks)
        return fail(field + ".ranks", fmt::format("is {}, more than the configuration's {} ranks", ph["ranks"].get<int>(), ranks));
      if (ph.contains("group_size") && ph["group_size"].get<int>() > ranks)
        return fail(field + ".group_size", fmt::format("is {}, more than the configuration's {} ranks", ph["group_size"].get<int>(), ranks));
      if (ph.contains("op") != ph.contains("group"))
        return fail(field, "names a collective op without its group, or a group without its op");
    }
  if (m.contains("pipeline") && m["pipeline"].contains("per_stage"))
    for (std::size_t i = 0; i < m["pipeline"]["per_stage"].size(); ++i) {
      const json& layers = m["pipeline"]["per_stage"][i]["layers"];
      if (layers[0].get<int>() > layers[1].get<int>())
        return fail(fmt::format("metrics.pipeline.per_stage[{}].layers", i),
                    fmt::format("{} ends before it begins", layers.dump()));
    }
  if (m.contains("memory") && !m["memory"].empty() && m["memory"].size() != static_cast<std::size_t>(ranks))
    return fail("metrics.memory", fmt::format("has {} entries for {} ranks", m["memory"].size(), ranks));
  if (m["sync"].contains("collectives"))
    for (std::size_t i = 0; i < m["sync"]["collectives"].size(); ++i) {
      const json& coll = m["sync"]["collectives"][i];
      if (coll.contains("bytes_per_rank") && !coll["bytes_per_rank"].empty() &&
          coll["bytes_per_rank"].size() != static_cast<std::size_t>(ranks))
        return fail(fmt::format("metrics.sync.collectives[{}].bytes_per_rank", i),
                    fmt::format("has {} entries for {} ranks", coll["bytes_per_rank"].size(), ranks));
    }
  if (m.contains("memory_pools"))
    for (std::size_t i = 0; i < m["memory_pools"].size(); ++i)
      for (const json& rank : m["memory_pools"][i]["ranks"])
        if (rank.get<long long>() >= ranks)
          return fail(fmt::format("metrics.memory_pools[{}].ranks", i),
                      fmt::format("names rank {} of a configuration of {} ranks", rank.get<long long>(), ranks));
  if (m.contains("memory"))
    for (std::size_t i = 0; i < m["memory"].size(); ++i)
      if (!m["memory"][i].contains("allocated") && !m["memory"][i].contains("measured"))  // measured: version 1
        return fail(fmt::format("metrics.memory[{}].allocated", i), "missing");
}

}  // namespace

const json& results_schema() {
  static const json schema = json::parse(kResultsSchemaText);
  return schema;
}

std::string schema_violation(const json& root, const json& value) { return SchemaChecker(root).check(root, value, ""); }

void validate_results(const json& doc, const std::string& source) {
  if (!doc.is_object())
    throw ConfigError(fmt::format("{}: a JSON {}, not an llmthreads results file (an object with schema_version, run "
                                  "and configurations)", source, type_name(doc)));
  if (!doc.contains("schema_version"))
    throw ConfigError(fmt::format("{}: field 'schema_version' missing: not an llmthreads results file", source));
  const json& version = doc["schema_version"];
  if (version.is_number_integer() && !version.is_number_unsigned() && version.get<std::int64_t>() > kSchemaVersion)
    throw ConfigError(fmt::format("{}: field 'schema_version' is {}, from a newer llmthreads (this one reads {})", source,
                                  version.dump(), kSchemaVersion));
  if (version.is_number_unsigned() && version.get<std::uint64_t>() > static_cast<std::uint64_t>(kSchemaVersion))
    throw ConfigError(fmt::format("{}: field 'schema_version' is {}, from a newer llmthreads (this one reads {})", source,
                                  version.dump(), kSchemaVersion));
  if (const std::string e = schema_violation(results_schema(), doc); !e.empty()) unusable(source, doc, e);
  if (version.get<std::int64_t>() < kOldestSchemaVersion)
    throw ConfigError(fmt::format("{}: field 'schema_version' is {}, older than this llmthreads reads ({} to {})",
                                  source, version.dump(), kOldestSchemaVersion, kSchemaVersion));
  const json& configs = doc["configurations"];
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const json& c = configs[i];
    const std::string at = fmt::format("configurations[{}]", i);
    std::vector<std::string> problems;
    check_configuration(c, at, problems);
    if (!problems.empty()) unusable(source, doc, problems.front());
    // The reader itself, so that no caller meets an error this pass missed.
    ConfigResult r;
    try {
      r = result_from_json(c, fmt::format("{}: configuration {} ({})", source, c["id"].get<std::string>(), at));
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("{}: configuration {} ({}): {}", source, c["id"].get<std::string>(), at, e.what()));
    }
    const std::string id = c["id"].get<std::string>();
    if (id != r.point.id())
      unusable(source, doc, fmt::format("{}.id: does not match the configuration's strategy, layout, sync, merge and "
                                        "workload (they make '{}')", at, r.point.id()));
    const auto [it, fresh] = seen.emplace(id, i);
    if (!fresh)
      unusable(source, doc, fmt::format("{}.id: repeats configurations[{}]; one file holds each configuration once (pool "
                                        "repeated runs as separate files instead)", at, it->second));
  }
}

json read_results_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(fmt::format("{}: is a directory, not a results file", path));
  if (!std::filesystem::exists(path, ec)) throw ConfigError(fmt::format("{}: cannot open the results file: no such file", path));
  // /dev/zero or /dev/urandom would never end; a pipe (`compare <(...)`) is fine.
  if (std::filesystem::is_character_file(path, ec) || std::filesystem::is_block_file(path, ec))
    throw ConfigError(fmt::format("{}: is a device, not a results file", path));
  // Opened without blocking: a FIFO with no writer reads as empty instead of hanging.
  constexpr std::size_t kMaxBytes = std::size_t{1} << 30;
  std::string content;
  try {
    content = read_input_file(path, "results file", kMaxBytes, /*allow_pipe=*/true);
  } catch (const Error& e) {
    throw ConfigError(e.what());
  }
  if (content.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ConfigError(fmt::format("{}: is empty, not a results file", path));
  json doc;
  try {
    doc = json::parse(content);
  } catch (const json::exception& e) {
    // Syntax errors, truncation, NaN/Infinity literals, numbers beyond a double.
    throw ConfigError(fmt::format("{}: not valid JSON (truncated or malformed): {}", path, e.what()));
  }
  validate_results(doc, path);
  return doc;
}

}  // namespace llmt
