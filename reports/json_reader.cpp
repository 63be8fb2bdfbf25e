// The results file's reader: result_from_json, ceilings_from_json and read_results_file of
// reports/json_schema.hpp (read_results_file validates through reports/results_validator.cpp).
#include <fmt/format.h>

#include <filesystem>
#include <limits>

#include "engine/metrics.hpp"
#include "model/error.hpp"
#include "model/file_io.hpp"
#include "model/model.hpp"
#include "reports/json_access.hpp"
#include "reports/json_schema.hpp"
#include "reports/json_traffic.hpp"

namespace llmt {

using nlohmann::json;

namespace {


// Fields below were added after the first results files: all optional.
FloorMetrics floor_from_json(const FieldReader& metrics) {
  FloorMetrics f;
  if (!metrics.has("floor")) return f;
  const FieldReader fj = metrics.sub("floor");
  f.available = true;
  f.ttft_ms = fj.get<double>("ttft_ms");
  f.decode_step_ms = fj.get<double>("decode_step_ms");
  f.e2e_ms = fj.get<double>("e2e_ms");
  f.ttft_of_floor = fj.get<double>("ttft_of_floor");
  f.decode_step_of_floor = fj.get<double>("decode_step_of_floor");
  f.e2e_of_floor = fj.get<double>("e2e_of_floor");
  return f;
}

std::vector<AttentionUse> attention_from_json(const FieldReader& config, const std::string& where) {
  std::vector<AttentionUse> uses;
  for (const json& aj : config.get_or<json>("attention", json::array())) {
    const FieldReader a(aj, where + ".attention[]");
    uses.push_back({a.get<std::string>("pass"), a.get<std::string>("kernel"), a.get_or<std::string>("why", "")});
  }
  return uses;
}

PhaseSummary phase_from_json(const FieldReader& ph) {
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
    const FieldReader w = ph.sub("work");
    s.work_flops = w.get<double>("flops");
    s.work_bytes = w.get<double>("bytes");
    s.floor_ms = w.has_null("floor_ms") ? 0.0 : w.get<double>("floor_ms");
    s.floor_bound = w.get_or<std::string>("bound", "");
    s.below_floor = w.get_or<bool>("below_floor", false);
  }
  return s;
}

// Version 1 files call the allocated bytes `measured`, with the device's use inside.
RankMemory rank_memory_from_json(const FieldReader& rank) {
  const FieldReader pred = rank.sub("predicted");
  const bool version1 = !rank.has("allocated");
  const FieldReader alloc = rank.sub(version1 ? "measured" : "allocated");
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
  rm.device_used_max = rank.get_or<long long>("device_used_max_of_samples", -1);  // written since issue 20
  rm.device_used_samples = rank.get_or<int>("device_used_samples", 0);
  return rm;
}

std::vector<PhaseSummary> phases_from_json(const FieldReader& metrics, const std::string& where) {
  std::vector<PhaseSummary> phases;
  for (const json& pj : metrics.get_or<json>("phases", json::array()))
    phases.push_back(phase_from_json(FieldReader(pj, where + ".metrics.phases[]")));
  return phases;
}

}  // namespace

Ceilings ceilings_from_json(const json& run, const std::string& where) {
  Ceilings c;
  const FieldReader r(run, where);
  if (!r.has("ceilings")) return c;
  const FieldReader cj = r.sub("ceilings");
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
auto list_from_json(const FieldReader& parent, const char* key, const std::string& where, ReadOne read) {
  const json items = parent.get_or<json>(key, json::array());
  std::vector<decltype(read(FieldReader(items, where)))> out;
  for (const json& item : items) out.push_back(read(FieldReader(item, where)));
  return out;
}

ConfigPoint point_from_json(const FieldReader& c, const std::string& where) {
  ConfigPoint p;
  p.strategy = c.get<std::string>("strategy");
  const FieldReader layout = c.sub("layout");
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
  const FieldReader w = c.sub("workload");
  p.workload = Workload{w.get<int>("batch"), w.get<int>("prompt"), w.get<int>("gen")};
  if (c.has("traffic")) p.traffic = traffic_plan_from_json(c.sub("traffic"));
  return p;
}

ConfigStatus status_from_json(const FieldReader& c, const std::string& where) {
  const std::string status = c.get<std::string>("status");
  if (status == "ok") return ConfigStatus::ok;
  if (status == "failed") return ConfigStatus::failed;
  if (status == "skipped") return ConfigStatus::skipped;
  throw ConfigError(fmt::format("{}: unknown status '{}'", where, status));
}

Measurement measurement_from_json(const FieldReader& me) {
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

RawSamples samples_from_json(const FieldReader& s) {
  const FieldReader per_rank = s.sub("per_rank");
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
CommSummary collective_from_json(const FieldReader& cr) {
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

BusBandwidth bus_bandwidth_from_json(const FieldReader& br) {
  return {br.get<std::string>("pass"),     br.get<std::string>("op"), br.get<std::string>("group"),
          br.get<int>("group_size"),       br.get<double>("message_bytes"), br.get<double>("calls"),
          br.get<double>("ms"),            br.get<double>("algbw_gbps"), br.get<double>("busbw_gbps")};
}

PoolMemory pool_memory_from_json(const FieldReader& pr) {
  PoolMemory pool;
  pool.pool = pr.get<std::string>("pool");
  pool.ranks = pr.get<std::vector<int>>("ranks");
  pool.allocated_bytes = pr.get<long long>("allocated_bytes");
  pool.measured_peak_bytes = pr.get<long long>("measured_peak_bytes");
  pool.measured_by = pr.get<std::string>("measured_by");
  pool.rss_at_start_bytes = pr.get_or<long long>("rss_at_start_bytes", -1);
  return pool;
}

PipelineSummary pipeline_from_json(const FieldReader& pj, const std::string& where) {
  PipelineSummary pipe;
  pipe.stages = pj.get_or<int>("stages", 1);
  pipe.microbatches = pj.get_or<int>("microbatches", 1);
  pipe.bubble_fraction = pj.get_or<double>("bubble_fraction", 0.0);
  pipe.textbook_bubble_fraction = pj.get_or<double>("textbook_bubble_fraction", 0.0);
  pipe.per_stage = list_from_json(pj, "per_stage", where + ".metrics.pipeline.per_stage[]", [](const FieldReader& st) {
    const auto layers = st.get<std::vector<int>>("layers");
    return StageSummary{st.get<int>("stage"), Range{layers.at(0), layers.at(1)}, st.get<double>("busy_ms"),
                        st.get<double>("transfer_ms"), st.get_or<double>("sync_ms", 0.0)};
  });
  return pipe;
}

// JSON has no infinity: to_json writes an infinite error as null.
Verification verification_from_json(const FieldReader& v) {
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
    const FieldReader f = v.sub("noise_floor");
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
    const FieldReader t = v.sub("top1");
    out.top1_agreement = t.get<double>("agreement");
    out.top1_near_ties = t.get<std::size_t>("near_ties");
    out.top1_mismatches = t.get<std::size_t>("mismatches");
  }
  if (v.has("last_iteration")) {
    const FieldReader l = v.sub("last_iteration");
    out.last_iteration_checked = true;
    out.last_iteration_step = l.get<int>("step");
    out.last_iteration_rel_error = l.has_null("max_rel_error") ? inf : l.get<double>("max_rel_error");
  }
  return out;
}

// What is not recomputed from the samples: communication, memory, pipeline stages, phases, floors.
// Written for MoE models only; older files and dense models have none.
MoeMetrics moe_from_json(const FieldReader& m) {
  MoeMetrics out;
  out.available = true;
  out.routing = m.get<std::string>("routing");
  out.tokens_per_expert = m.get<std::vector<std::vector<long long>>>("tokens_per_expert");
  out.expert_balance = m.get<double>("expert_balance");
  out.worst_layer_balance = m.get<double>("worst_layer_balance");
  const FieldReader t = m.sub("time_ms");
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
    const FieldReader by_pass = m.sub("ep_balance_by_pass");
    out.ep_balance_prefill = by_pass.get<double>("prefill");
    out.ep_balance_decode = by_pass.get<double>("decode");
  }
  out.exchange_bytes = m.get_or<double>("exchange_bytes_per_iteration", 0.0);
  out.routing_agreement = m.get_or<double>("routing_agreement", -1.0);
  return out;
}

void stored_metrics_from_json(const FieldReader& m, const std::string& where, ConfigMetrics& metrics) {
  const FieldReader sync = m.sub("sync");
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
  const FieldReader c(j, where);
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
  const FieldReader metrics = c.sub("metrics");
  if (r.point.traffic && metrics.has("traffic")) {
    r.metrics.traffic = traffic_metrics_from_json(metrics.sub("traffic"), *r.point.traffic);
    r.metrics.output_tokens_per_s = r.metrics.traffic.output_tokens_per_s;
  }
  if (j.contains("verification")) r.verification = verification_from_json(c.sub("verification"));
  return r;
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
