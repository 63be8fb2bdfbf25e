#include "reports/json_schema.hpp"

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
          {"warmup", r.warmup},
          {"iterations", r.iterations},
          {"seed", r.seed},
          {"model", to_json(r.model)},
          {"warnings", r.warnings}};
}

namespace {

json memory_json(const RankMemory& m) {
  return {{"predicted",
           {{"weights", m.predicted.weights},
            {"kv_cache", m.predicted.kv_cache},
            {"activations", m.predicted.activations},
            {"total", m.predicted.total()}}},
          {"measured",
           {{"weights", m.weights},
            {"kv_cache", m.kv_cache},
            {"activations_peak", m.activations_peak},
            {"peak_total", m.peak_total}}}};
}

}  // namespace

json to_json(const ConfigResult& r) {
  const ConfigPoint& p = r.point;
  json j = {{"id", p.id()},
            {"strategy", p.strategy},
            {"ranks", p.layout.ranks()},
            {"layout", {{"tp", p.layout.tp}, {"pp", p.layout.pp}, {"dp", p.layout.dp}, {"label", p.layout.label()}}},
            {"sync", sync_mode_name(p.sync)},
            {"merge", merge_mode_name(p.merge)},
            {"workload", {{"batch", p.workload.batch}, {"prompt", p.workload.prompt}, {"gen", p.workload.gen}}},
            {"status", config_status_name(r.status)},
            {"reason", r.reason},
            {"notes", r.notes}};
  if (r.status == ConfigStatus::skipped) return j;
  j["replica_weights"] = r.replica_weights_shared ? "shared" : "private";

  const RawSamples& s = r.samples;
  j["warmup"] = r.warmup;
  j["iterations"] = r.iterations;
  j["setup_s"] = r.setup_s;
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
  for (const PhaseSummary& ph : m.phases) {
    json e = {{"path", ph.path}, {"category", ph.category}, {"ranks", ph.ranks},        {"calls", ph.calls},
              {"ms", ph.ms},     {"ms_max_rank", ph.ms_max_rank}, {"bytes", ph.bytes}};
    if (!ph.detail.empty()) e["detail"] = ph.detail;
    if (!ph.op.empty()) {
      e["op"] = ph.op;
      e["group"] = ph.group;
      e["group_size"] = ph.group_size;
    }
    phases.push_back(std::move(e));
  }
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

json make_document(const RunMetadata& run, const std::vector<json>& configurations) {
  return {{"schema_version", kSchemaVersion}, {"run", to_json(run)}, {"configurations", configurations}};
}

}  // namespace llmt
