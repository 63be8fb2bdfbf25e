#include "reports/json_schema.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "engine/error.hpp"
#include "engine/metrics.hpp"
#include "engine/model.hpp"

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
          {"device", c.device}};
}

json to_json(const RunMetadata& r) {
  return {{"tool", r.tool},
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
          {"ceilings", to_json(r.ceilings)},
          {"gpu", r.devices},
          {"model", to_json(r.model)},
          {"warnings", r.warnings}};
}

namespace {

json memory_json(const RankMemory& m) {
  return {{"predicted",
           {{"weights", m.predicted.weights},
            {"kv_cache", m.predicted.kv_cache},
            {"activations", m.predicted.activations},
            {"communication", m.predicted.communication},
            {"total", m.predicted.total()}}},
          {"measured",
           {{"weights", m.weights},
            {"kv_cache", m.kv_cache},
            {"activations_peak", m.activations_peak},
            {"communication_peak", m.communication_peak},
            {"peak_total", m.peak_total},
            {"device_used", m.device_used >= 0 ? nlohmann::json(m.device_used) : nlohmann::json(nullptr)}}}};
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
  if (ph.floor_ms > 0) {
    // Per timed call, like floor_ms; of_floor is derived (floor over the measured mean call).
    const double call_ms = ph.calls > 0 ? ph.ms / ph.calls : 0.0;
    e["work"] = {{"flops", ph.work_flops},
                 {"bytes", ph.work_bytes},
                 {"floor_ms", ph.floor_ms},
                 {"of_floor", call_ms > 0 ? ph.floor_ms / call_ms : 0.0}};
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

json to_json(const ConfigResult& r) {
  const ConfigPoint& p = r.point;
  json j = {{"id", p.id()},
            {"strategy", p.strategy},
            {"ranks", p.ranks()},
            {"layout", {{"tp", p.layout.tp}, {"pp", p.layout.pp}, {"dp", p.layout.dp}, {"label", p.grid_label()}}},
            {"microbatches", p.microbatches},
            {"sync", sync_mode_name(p.sync)},
            {"merge", merge_mode_name(p.merge)},
            {"workload", {{"batch", p.workload.batch}, {"prompt", p.workload.prompt}, {"gen", p.workload.gen}}},
            {"status", config_status_name(r.status)},
            {"reason", r.reason},
            {"notes", r.notes}};
  if (r.samples.e2e_ms.empty()) return j;  // skipped, or failed before measuring
  j["replica_weights"] = r.replica_weights_shared ? "shared" : "private";
  j["cuda_graphs"] = r.cuda_graphs;
  j["attention"] = attention_json(r.attention);

  const RawSamples& s = r.samples;
  j["warmup"] = r.warmup;
  j["iterations"] = r.iterations;
  j["setup_s"] = r.setup_s;
  const Measurement& me = r.measurement;
  j["measurement"] = {{"mode", me.mode},
                      {"samples", me.samples},
                      {"target_rse", me.target_rse},
                      {"achieved_rse", std::isfinite(me.achieved_rse) ? nlohmann::json(me.achieved_rse) : nullptr},
                      {"target_met", me.target_met},
                      {"stop_reason", me.stop_reason},
                      {"outliers", me.outliers}};
  j["samples"] = {{"e2e_ms", s.e2e_ms},
                  {"ttft_ms", s.ttft_ms},
                  {"decode_step_ms", s.decode_step_ms},
                  {"per_rank",
                   {{"iteration_ms", s.rank_iteration_ms},
                    {"busy_ms", s.rank_busy_ms},
                    {"sync_ms", s.rank_sync_ms},
                    {"sync_total_ms", s.rank_sync_total_ms},
                    {"transfer_ms", s.rank_transfer_ms}}}};

  const ConfigMetrics& m = r.metrics;
  json comm = json::array();
  for (const CommSummary& c : m.comm)
    comm.push_back({{"op", c.op},
                    {"group", c.group},
                    {"group_size", c.group_size},
                    {"category", c.category},
                    {"calls", c.calls},
                    {"bytes", c.bytes},
                    {"ms", c.ms},
                    {"algbw_gbps", c.algbw_gbps},
                    {"busbw_gbps", c.busbw_gbps}});
  json memory = json::array();
  for (const RankMemory& rm : m.memory) memory.push_back(memory_json(rm));
  json phases = json::array();
  for (const PhaseSummary& ph : m.phases) phases.push_back(phase_json(ph));
  j["metrics"] = {{"latency", {{"e2e_ms", to_json(m.e2e_ms)}, {"ttft_ms", to_json(m.ttft_ms)}, {"decode_step_ms", to_json(m.decode_step_ms)}}},
                  {"throughput",
                   {{"output_tokens_per_s", m.output_tokens_per_s},
                    {"prefill_tokens_per_s", m.prefill_tokens_per_s},
                    {"decode_tokens_per_s", m.decode_tokens_per_s}}},
                  {"sync",
                   {{"exposed_ms", to_json(m.sync_ms)},
                    {"total_ms", to_json(m.sync_total_ms)},
                    {"fraction", m.sync_fraction},
                    {"transfer_ms", to_json(m.transfer_ms)},
                    {"bytes_per_iteration", m.comm_bytes},
                    {"collectives", comm}}},
                  {"memory", memory},
                  {"load_balance",
                   {{"busy_ms", m.rank_busy_ms}, {"imbalance", m.imbalance}, {"straggler_rank", m.straggler_rank}}},
                  {"pipeline", pipeline_json(m.pipeline)},
                  {"floor", floor_json(m.floor)},
                  {"phases", phases}};
  const Verification& v = r.verification;
  j["verification"] = {{"checked", v.checked},
                       {"passed", v.passed},
                       {"max_abs_error", v.max_abs_error},
                       {"max_rel_error", v.max_rel_error},
                       {"tolerance", v.tolerance},
                       {"elements", v.elements},
                       {"note", v.note}};
  return j;
}

json to_json(const RunSummary& s) {
  json ranking = json::array();
  for (const RankingEntry& e : s.ranking) {
    json row = {{"workload", e.workload.label()},
                {"ranks", e.ranks},
                {"candidates", e.candidates},
                {"best", e.best_id},
                {"e2e_ms_median", e.e2e_ms},
                {"output_tokens_per_s", e.output_tokens_per_s},
                {"peak_bytes", e.peak_bytes},
                {"speedup", nullptr},
                {"efficiency", nullptr}};
    if (e.speedup) row["speedup"] = *e.speedup;
    if (e.efficiency) row["efficiency"] = *e.efficiency;
    ranking.push_back(std::move(row));
  }
  return {{"objective", s.objective}, {"interrupted", s.interrupted}, {"complete", s.complete}, {"ranking", ranking}};
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
    s.floor_ms = w.get<double>("floor_ms");
  }
  return s;
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
  return c;
}

ConfigResult result_from_json(const json& j, const std::string& where) {
  const Reader c(j, where);
  ConfigResult r;
  ConfigPoint& p = r.point;
  p.strategy = c.get<std::string>("strategy");
  const Reader layout = c.sub("layout");
  p.layout = Layout{layout.get<int>("tp"), layout.get<int>("pp"), layout.get<int>("dp")};
  p.microbatches = c.get_or<int>("microbatches", 1);
  p.requested_ranks = c.get<int>("ranks");
  const auto sync = parse_sync_mode(c.get<std::string>("sync"));
  const auto merge = parse_merge_mode(c.get<std::string>("merge"));
  if (!sync || !merge) throw ConfigError(fmt::format("{}: unknown sync or merge mode", where));
  p.sync = *sync;
  p.merge = *merge;
  const Reader w = c.sub("workload");
  p.workload = Workload{w.get<int>("batch"), w.get<int>("prompt"), w.get<int>("gen")};
  const std::string status = c.get<std::string>("status");
  if (status == "ok") r.status = ConfigStatus::ok;
  else if (status == "failed") r.status = ConfigStatus::failed;
  else if (status == "skipped") r.status = ConfigStatus::skipped;
  else throw ConfigError(fmt::format("{}: unknown status '{}'", where, status));
  r.reason = c.get_or<std::string>("reason", "");
  r.notes = c.get_or<std::vector<std::string>>("notes", {});
  if (!j.contains("samples")) return r;

  r.warmup = c.get_or<int>("warmup", 0);
  r.iterations = c.get_or<int>("iterations", 0);
  r.setup_s = c.get_or<double>("setup_s", 0.0);
  r.replica_weights_shared = c.get_or<std::string>("replica_weights", "private") == "shared";
  r.cuda_graphs = c.get_or<bool>("cuda_graphs", false);
  r.attention = attention_from_json(c, where);
  if (j.contains("measurement")) {
    const Reader me = c.sub("measurement");
    r.measurement.mode = me.get_or<std::string>("mode", "fixed");
    r.measurement.samples = me.get_or<int>("samples", 0);
    r.measurement.target_rse = me.get_or<double>("target_rse", 0.0);
    r.measurement.achieved_rse = me.has_null("achieved_rse") ? std::numeric_limits<double>::infinity()
                                                              : me.get_or<double>("achieved_rse", 0.0);
    r.measurement.target_met = me.get_or<bool>("target_met", true);
    r.measurement.stop_reason = me.get_or<std::string>("stop_reason", "iterations");
    r.measurement.outliers = me.get_or<std::size_t>("outliers", 0);
  }
  const Reader s = c.sub("samples");
  const Reader per_rank = s.sub("per_rank");
  RawSamples& raw = r.samples;
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
  fill_sample_metrics(p, raw, r.metrics);

  const Reader m = c.sub("metrics");
  const Reader sync_m = m.sub("sync");
  r.metrics.comm_bytes = sync_m.get_or<double>("bytes_per_iteration", 0.0);
  for (const json& cj : sync_m.get_or<json>("collectives", json::array())) {
    const Reader cr(cj, where + ".metrics.sync.collectives[]");
    CommSummary cs;
    cs.op = cr.get<std::string>("op");
    cs.group = cr.get<std::string>("group");
    cs.group_size = cr.get<int>("group_size");
    cs.category = cr.get_or<std::string>("category", "communication");
    cs.calls = cr.get<double>("calls");
    cs.bytes = cr.get<double>("bytes");
    cs.ms = cr.get<double>("ms");
    cs.algbw_gbps = cr.get<double>("algbw_gbps");
    cs.busbw_gbps = cr.get<double>("busbw_gbps");
    r.metrics.comm.push_back(cs);
  }
  for (const json& mj : m.get_or<json>("memory", json::array())) {
    const Reader rank(mj, where + ".metrics.memory[]");
    const Reader pred = rank.sub("predicted"), meas = rank.sub("measured");
    RankMemory rm;
    rm.predicted.weights = pred.get<std::size_t>("weights");
    rm.predicted.kv_cache = pred.get<std::size_t>("kv_cache");
    rm.predicted.activations = pred.get<std::size_t>("activations");
    rm.predicted.communication = pred.get_or<std::size_t>("communication", 0);
    rm.weights = meas.get<std::size_t>("weights");
    rm.kv_cache = meas.get<std::size_t>("kv_cache");
    rm.activations_peak = meas.get<std::size_t>("activations_peak");
    rm.communication_peak = meas.get_or<std::size_t>("communication_peak", 0);
    rm.peak_total = meas.get<std::size_t>("peak_total");
    rm.device_used = meas.get_or<long long>("device_used", -1);
    r.metrics.memory.push_back(rm);
  }
  if (m.has("pipeline")) {
    const Reader pj = m.sub("pipeline");
    PipelineSummary& pipe = r.metrics.pipeline;
    pipe.stages = pj.get_or<int>("stages", 1);
    pipe.microbatches = pj.get_or<int>("microbatches", 1);
    pipe.bubble_fraction = pj.get_or<double>("bubble_fraction", 0.0);
    pipe.textbook_bubble_fraction = pj.get_or<double>("textbook_bubble_fraction", 0.0);
    for (const json& sj : pj.get_or<json>("per_stage", json::array())) {
      const Reader st(sj, where + ".metrics.pipeline.per_stage[]");
      const auto layers = st.get<std::vector<int>>("layers");
      pipe.per_stage.push_back({st.get<int>("stage"), Range{layers.at(0), layers.at(1)}, st.get<double>("busy_ms"),
                                st.get<double>("transfer_ms"), st.get_or<double>("sync_ms", 0.0)});
    }
  }
  r.metrics.phases = phases_from_json(m, where);
  r.metrics.floor = floor_from_json(m);
  // JSON has no infinity: to_json writes an infinite error as null.
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (j.contains("verification")) {
    const Reader v = c.sub("verification");
    r.verification.checked = v.get<bool>("checked");
    r.verification.passed = v.get<bool>("passed");
    r.verification.max_abs_error = v.has_null("max_abs_error") ? inf : v.get_or<double>("max_abs_error", 0.0);
    r.verification.max_rel_error = v.has_null("max_rel_error") ? inf : v.get_or<double>("max_rel_error", 0.0);
    r.verification.tolerance = v.get_or<double>("tolerance", 0.0);
    r.verification.elements = v.get_or<std::size_t>("elements", 0);
    r.verification.note = v.get_or<std::string>("note", "");
  }
  return r;
}

json read_results_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the results file", path));
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!doc.is_object() || !doc.contains("schema_version") || !doc.contains("configurations") ||
      !doc["configurations"].is_array() || !doc.contains("run"))
    throw ConfigError(fmt::format("{}: not an llmthreads results file (schema_version, run, configurations)", path));
  if (!doc["schema_version"].is_number_integer() || doc["schema_version"].get<int>() != kSchemaVersion)
    throw ConfigError(fmt::format("{}: schema_version {} (this llmthreads reads {})", path,
                                  doc["schema_version"].dump(), kSchemaVersion));
  return doc;
}

}  // namespace llmt
