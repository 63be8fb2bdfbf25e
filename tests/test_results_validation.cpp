// One validation pass for results files (issue 13): every reader (compare, report, bench
// --resume) goes through read_results_file, which checks the published JSON Schema
// (docs/results.schema.json) and the semantics no schema says. A table of mutations of a valid
// document, each with the error it must give; the files a careless script produces (empty,
// truncated, a directory, NaN); and the binary end to end: unusable input exits 2 naming the
// file, the configuration and the field, never a verdict.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "model/error.hpp"
#include "engine/metrics.hpp"
#include "reports/compare.hpp"
#include "reports/json_schema.hpp"
#include "run_binary.hpp"

namespace llmt {
namespace {

using nlohmann::json;
using testing::run_binary;

std::string source_dir() { return std::filesystem::path(LLMT_TEST_DATA).parent_path().parent_path().string(); }

// A measured configuration: `ranks` ranks of `layout`, three iterations, gen 3 (2 decode steps).
ConfigResult measured(const std::string& strategy, Layout layout, double base_ms) {
  ConfigResult r;
  r.point = ConfigPoint{strategy, layout, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
  const int ranks = layout.ranks();
  const std::vector<double> e2e = {base_ms, base_ms + 1, base_ms + 2};
  r.iterations = 3;
  r.warmup = 1;
  RawSamples& s = r.samples;
  for (double ms : e2e) {
    s.e2e_ms.push_back(ms);
    s.ttft_ms.push_back(ms * 0.5);
    s.decode_step_ms.push_back(ms * 0.25);
    s.decode_step_ms.push_back(ms * 0.25);
  }
  s.rank_iteration_ms.assign(static_cast<std::size_t>(ranks), e2e);
  s.rank_busy_ms.assign(static_cast<std::size_t>(ranks), std::vector<double>{base_ms - 1, base_ms, base_ms + 1});
  s.rank_sync_ms.assign(static_cast<std::size_t>(ranks), std::vector<double>(3, 1.0));
  s.rank_sync_total_ms = s.rank_sync_ms;
  s.rank_transfer_ms.assign(static_cast<std::size_t>(ranks), std::vector<double>(3, 0.0));
  fill_sample_metrics(r.point, s, r.metrics);
  r.metrics.memory.resize(static_cast<std::size_t>(ranks));
  for (RankMemory& m : r.metrics.memory) m.weights = m.peak_total = m.predicted.weights = 1000;
  PhaseSummary compute;
  compute.path = "prefill/layer.0/mlp";
  compute.category = "compute";
  compute.ranks = ranks;
  compute.calls = 3;
  compute.ms = 6;
  compute.ms_max_rank = 2.5;
  compute.work_flops = 1e9;
  compute.work_bytes = 1e6;
  compute.floor_ms = 0.5;
  PhaseSummary collective;
  collective.path = "prefill/layer.0/allreduce";
  collective.category = "communication";
  collective.op = "all_reduce";
  collective.group = "tp";
  collective.group_size = ranks;
  collective.ranks = ranks;
  collective.calls = 3;
  collective.ms = 3;
  r.metrics.phases = {compute, collective};
  CommSummary comm;
  comm.op = "all_reduce";
  comm.group = "tp";
  comm.group_size = ranks;
  comm.calls = 2;
  comm.bytes = 4096;
  comm.ms = 0.5;
  r.metrics.comm = {comm};
  r.metrics.floor.available = true;
  r.metrics.floor.ttft_ms = r.metrics.floor.decode_step_ms = r.metrics.floor.e2e_ms = 0.1;
  r.metrics.floor.ttft_of_floor = r.metrics.floor.decode_step_of_floor = r.metrics.floor.e2e_of_floor = 0.01;
  if (layout.pp > 1) {
    r.metrics.pipeline.stages = layout.pp;
    for (int st = 0; st < layout.pp; ++st) r.metrics.pipeline.per_stage.push_back({st, Range{st, st + 1}, 4.0, 0.5, 0.1});
  }
  r.attention = {{"prefill", "naive", "default"}};
  r.verification.checked = r.verification.passed = true;
  r.verification.tolerance = 1e-3;
  return r;
}

// [0] tp2 ok, [1] pp2 ok with stages, [2] dp2 failed before measuring, [3] a skipped one; a summary.
json valid_document() {
  RunMetadata run;
  run.backend = "cpu";
  run.cpu_model = "test CPU";
  run.iterations = 3;
  run.warnings = {"a warning"};
  run.ceilings.bandwidth_gbps = 10;
  run.ceilings.gemm_tflops = 1;
  std::vector<json> configs = {to_json(measured("tp", Layout{2, 1, 1}, 100)),
                               to_json(measured("pp", Layout{1, 2, 1}, 120))};
  ConfigResult failed;
  failed.point = ConfigPoint{"dp", Layout{1, 1, 2}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
  failed.status = ConfigStatus::failed;
  failed.reason = "rank 1 failed: out of memory";
  configs.push_back(to_json(failed));
  ConfigResult skipped;
  skipped.point = ConfigPoint{"tp", Layout{4, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 8, 3}};
  skipped.status = ConfigStatus::skipped;
  skipped.reason = "more ranks than heads";
  configs.push_back(to_json(skipped));
  RunSummary summary;
  summary.objective = "latency";
  summary.complete = true;
  json doc = make_document(run, configs, &summary);
  doc["summary"]["ranking"] = json::array({{{"workload", "b2.p8.g3"},
                                            {"ranks", 2},
                                            {"candidates", 2},
                                            {"best", configs[0]["id"]},
                                            {"e2e_ms_median", 101.0},
                                            {"output_tokens_per_s", 50.0},
                                            {"peak_bytes", 1000.0},
                                            {"speedup", nullptr},
                                            {"efficiency", nullptr}}});
  return doc;
}

const std::string kTp = "tp|tp2.pp1.dp1|blocking|concat|b2.p8.g3";
const std::string kPp = "pp|tp1.pp2.dp1.mb1|blocking|concat|b2.p8.g3";

std::string validation_error(const json& doc, const std::string& source = "base.json") {
  try {
    validate_results(doc, source);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ResultsValidation, TheValidDocumentPassesAndSurvivesTheReader) {
  const json doc = valid_document();
  EXPECT_EQ(validation_error(doc), "");
  EXPECT_EQ(doc["configurations"][0]["id"], kTp);
  EXPECT_EQ(doc["configurations"][1]["id"], kPp);
  const ConfigResult back = result_from_json(doc["configurations"][1], "test");
  EXPECT_EQ(back.samples.e2e_ms.size(), 3u);
  EXPECT_EQ(back.metrics.pipeline.per_stage.size(), 2u);
}

// The schema llmthreads checks is the one docs/ publishes.
TEST(ResultsValidation, ThePublishedSchemaIsTheOneTheCodeChecks) {
  std::ifstream in(source_dir() + "/docs/results.schema.json");
  ASSERT_TRUE(in) << source_dir();
  const json published = json::parse(in);
  EXPECT_EQ(published, results_schema());
  EXPECT_EQ(published["properties"]["schema_version"]["type"], "integer");
  EXPECT_EQ(published["$defs"]["ms"]["minimum"], 0);
  // The schema describes what the writer writes: the writer's output has no violation.
  EXPECT_EQ(schema_violation(results_schema(), valid_document()), "");
}

TEST(ResultsValidation, TheSchemaCheckerImplementsItsKeywords) {
  const json schema = json::parse(R"({"type": "object", "required": ["a"], "dependentRequired": {"b": ["c"]},
    "properties": {"a": {"$ref": "#/$defs/n"}, "e": {"enum": ["x", "y"]}, "l": {"type": "array", "minItems": 1,
    "maxItems": 2, "items": {"type": ["integer", "null"]}}, "s": {"type": "string", "minLength": 1}},
    "additionalProperties": false, "$defs": {"n": {"type": "number", "minimum": 0, "maximum": 10}}})");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1})")), "");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "l": [1, null]})")), "");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({})")), "a: missing");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": -1})")), "a: -1 is below the minimum 0");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 11})")), "a: 11 is above the maximum 10");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": "1"})")), "a: has the wrong type: string \"1\", expected number");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "e": "z"})")), "e: \"z\" is not one of [\"x\",\"y\"]");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "l": []})")), "l: has 0 items, fewer than 1");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "l": [1, 2, 3]})")), "l: has 3 items, more than 2");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "l": [1.5]})")),
            "l[0]: has the wrong type: number 1.5, expected integer or null");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "s": ""})")), "s: is empty");
  EXPECT_EQ(schema_violation(schema, json::parse(R"({"a": 1, "z": 2})")), "z: is not a known field");
  json nan = {{"a", std::numeric_limits<double>::quiet_NaN()}};
  EXPECT_EQ(schema_violation(schema, nan), "a: is not a finite number");
  const json dependent = json::parse(R"({"dependentRequired": {"b": ["c"]}})");
  EXPECT_EQ(schema_violation(dependent, json::parse(R"({"b": 1})")), "c: missing (required with b)");
  EXPECT_EQ(schema_violation(dependent, json::parse(R"({"b": 1, "c": 2})")), "");
}

// ---------------------------------------------------------------------------------------------
// The table: a mutation of the valid document and a substring of the error it must give ("" for
// a mutation that must stay valid). Every error also names the file.

using Mutation = std::function<void(json&)>;
struct Case {
  const char* name;
  Mutation mutate;
  std::string expected;
};

Mutation set(const std::string& pointer, json value) {
  return [pointer, value](json& d) { d[json::json_pointer(pointer)] = value; };
}
Mutation drop(const std::string& pointer) {
  return [pointer](json& d) {
    const json::json_pointer p(pointer);
    d[p.parent_pointer()].erase(p.back());
  };
}
Mutation both(Mutation a, Mutation b) {
  return [a, b](json& d) {
    a(d);
    b(d);
  };
}
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// "configuration <id> (configurations[i]): field '<field>' "
std::string at(const std::string& id, int i, const std::string& field) {
  return fmt::format("configuration {} (configurations[{}]): field '{}' ", id, i, field);
}
const std::string C0 = "/configurations/0";
const std::string C1 = "/configurations/1";
const std::string C2 = "/configurations/2";
const std::string C3 = "/configurations/3";
const std::string kDp = "dp|tp1.pp1.dp2|blocking|concat|b2.p8.g3";
const std::string kSkipped = "tp|tp4.pp1.dp1|blocking|concat|b2.p8.g3";

// Every sample array of configuration 0 emptied, as a run with zero iterations would write it.
void empty_samples_of(json& d, int i) {
  json& s = d["configurations"][static_cast<std::size_t>(i)]["samples"];
  for (const char* k : {"e2e_ms", "ttft_ms", "decode_step_ms"}) s[k] = json::array();
  for (auto& [k, rows] : s["per_rank"].items()) rows = json::array({json::array(), json::array()});
}
void empty_samples(json& d) { empty_samples_of(d, 0); }

std::vector<Case> cases() {
  return {
      // --- the whole document
      {"document is an array", [](json& d) { d = json::array({d}); }, "a JSON array, not an llmthreads results file"},
      {"document is a string", [](json& d) { d = "results"; }, "a JSON string, not an llmthreads results file"},
      {"document is null", [](json& d) { d = nullptr; }, "a JSON null, not an llmthreads results file"},
      {"document is a number", [](json& d) { d = 1; }, "a JSON integer, not an llmthreads results file"},
      {"document is an empty object", [](json& d) { d = json::object(); }, "field 'schema_version' missing"},
      {"schema_version missing", drop("/schema_version"), "field 'schema_version' missing"},
      {"schema_version a string", set("/schema_version", "1"), "field 'schema_version' has the wrong type"},
      {"schema_version a fraction", set("/schema_version", 1.5), "field 'schema_version' has the wrong type"},
      {"schema_version from the future", set("/schema_version", 4), "'schema_version' is 4, from a newer llmthreads"},
      {"schema_version far in the future", set("/schema_version", 99999999999LL),
       "'schema_version' is 99999999999, from a newer llmthreads"},
      {"schema_version beyond int64", set("/schema_version", 18446744073709551615ULL), "from a newer llmthreads"},
      {"schema_version zero", set("/schema_version", 0), "field 'schema_version' 0 is below the minimum 1"},
      {"schema_version negative", set("/schema_version", -1), "field 'schema_version' -1 is below the minimum 1"},
      {"run missing", drop("/run"), "field 'run' missing"},
      {"run an array", set("/run", json::array()), "field 'run' has the wrong type: array [], expected object"},
      {"run null", set("/run", nullptr), "field 'run' has the wrong type"},
      {"configurations missing", drop("/configurations"), "field 'configurations' missing"},
      {"configurations an object", set("/configurations", json::object()), "field 'configurations' has the wrong type"},
      {"configuration a number", set(C0, 7), "(configurations[0]): the entry has the wrong type"},
      {"summary a number", set("/summary", 3), "field 'summary' has the wrong type"},
      {"ranking median a string", set("/summary/ranking/0/e2e_ms_median", "fast"),
       "field 'summary.ranking[0].e2e_ms_median' has the wrong type"},
      {"summary without ranking", drop("/summary/ranking"), "field 'summary.ranking' missing"},
      {"summary.ranking an object", set("/summary/ranking", json::object()), "field 'summary.ranking' has the wrong type"},
      {"ranking without speedup", drop("/summary/ranking/0/speedup"), "field 'summary.ranking[0].speedup' missing"},
      {"ranking ranks negative", set("/summary/ranking/0/ranks", -2), "'summary.ranking[0].ranks' -2 is below the minimum 0"},
      // --- run metadata
      {"run.iterations a string", set("/run/iterations", "12"), "field 'run.iterations' has the wrong type"},
      {"run.iterations huge", set("/run/iterations", 1e12), "field 'run.iterations' has the wrong type"},
      {"run.iterations beyond int", set("/run/iterations", 4294967296LL), "'run.iterations' 4294967296 is above the maximum"},
      {"run.warnings entry a number", set("/run/warnings/0", 1), "field 'run.warnings[0]' has the wrong type"},
      {"run.warnings a string", set("/run/warnings", "w"), "field 'run.warnings' has the wrong type"},
      {"run.model.name a number", set("/run/model/name", 5), "field 'run.model.name' has the wrong type"},
      {"run.model an array", set("/run/model", json::array()), "field 'run.model' has the wrong type"},
      {"run.ceilings a number", set("/run/ceilings", 5), "field 'run.ceilings' has the wrong type"},
      {"run.ceilings empty", set("/run/ceilings", json::object()), "field 'run.ceilings.bandwidth_gbps' missing"},
      {"run.ceilings negative", set("/run/ceilings/gemm_tflops", -1.0), "'run.ceilings.gemm_tflops' -1.0 is below the minimum 0"},
      {"run.ceilings null is fine", set("/run/ceilings", nullptr), ""},
      {"run.logical_cpus negative", set("/run/logical_cpus", -1), "'run.logical_cpus' -1 is below the minimum 0"},
      {"run.seed negative", set("/run/seed", -1), "'run.seed' -1 is below the minimum 0"},
      {"run.seed the largest uint64 is fine", set("/run/seed", 18446744073709551615ULL), ""},
      {"run.backend null", set("/run/backend", nullptr), "field 'run.backend' has the wrong type"},
      {"run.emulated a string", set("/run/emulated", "no"), "field 'run.emulated' has the wrong type"},
      {"run.measurement.mode unknown", set("/run/measurement/mode", "magic"), "'run.measurement.mode' \"magic\" is not one of"},
      {"run.libraries entry a number", set("/run/libraries/blas", 3), "field 'run.libraries.blas' has the wrong type"},
      {"run: an unknown field is fine", set("/run/future_field", json::array({1, "x"})), ""},
      {"run: an unknown field holding NaN", set("/run/future_field", json::array({kNaN})),
       "field 'run.future_field[0]' is not a finite number"},
      // --- identity
      {"id missing", drop(C0 + "/id"), "configuration (configurations[0]): field 'id' missing"},
      {"id empty", set(C0 + "/id", ""), "field 'id' is empty"},
      {"id a number", set(C0 + "/id", 7), "field 'id' has the wrong type"},
      {"id not matching its fields", set(C0 + "/id", "tp|tp8.pp1.dp1|blocking|concat|b2.p8.g3"),
       "field 'id' does not match the configuration's strategy, layout, sync, merge and workload (they make '" + kTp + "')"},
      {"id repeated (a second run in one file)",
       [](json& d) { d["configurations"].push_back(d["configurations"][0]); },
       at(kTp, 4, "id") + "repeats configurations[0]"},
      {"id repeated by a failed entry",
       [](json& d) {
         json copy = d["configurations"][2];
         d["configurations"].push_back(copy);
       },
       at(kDp, 4, "id") + "repeats configurations[2]"},
      {"strategy missing", drop(C0 + "/strategy"), at(kTp, 0, "strategy") + "missing"},
      {"strategy empty", set(C0 + "/strategy", ""), at(kTp, 0, "strategy") + "is empty"},
      {"ranks a string", set(C0 + "/ranks", "2"), at(kTp, 0, "ranks") + "has the wrong type"},
      {"ranks negative", set(C0 + "/ranks", -2), at(kTp, 0, "ranks") + "-2 is below the minimum 0"},
      {"ranks not the layout's", set(C0 + "/ranks", 3), at(kTp, 0, "ranks") + "is 3, but the layout tp2.pp1.dp1 has 2 ranks"},
      {"layout.tp a fraction", set(C0 + "/layout/tp", 2.5), at(kTp, 0, "layout.tp") + "has the wrong type"},
      {"layout.dp missing", drop(C0 + "/layout/dp"), at(kTp, 0, "layout.dp") + "missing"},
      {"layout a string", set(C0 + "/layout", "tp2"), at(kTp, 0, "layout") + "has the wrong type"},
      {"ok with an empty layout", both(set(C0 + "/layout/tp", 0), set(C0 + "/ranks", 2)),
       at(kTp, 0, "layout") + "an ok configuration needs tp, pp and dp of at least 1"},
      {"sync unknown", set(C0 + "/sync", "fast"), at(kTp, 0, "sync") + "\"fast\" is not one of"},
      {"merge a number", set(C0 + "/merge", 1), at(kTp, 0, "merge") + "1 is not one of"},
      {"workload.gen zero", set(C0 + "/workload/gen", 0), at(kTp, 0, "workload.gen") + "0 is below the minimum 1"},
      {"workload.batch beyond int", set(C0 + "/workload/batch", 10000000000LL),
       at(kTp, 0, "workload.batch") + "10000000000 is above the maximum"},
      {"workload.prompt a string", set(C0 + "/workload/prompt", "8"), at(kTp, 0, "workload.prompt") + "has the wrong type"},
      {"workload missing", drop(C0 + "/workload"), at(kTp, 0, "workload") + "missing"},
      {"microbatches zero", set(C0 + "/microbatches", 0), at(kTp, 0, "microbatches") + "0 is below the minimum 1"},
      {"status unknown", set(C0 + "/status", "great"), at(kTp, 0, "status") + "\"great\" is not one of"},
      {"status missing", drop(C0 + "/status"), at(kTp, 0, "status") + "missing"},
      {"notes a string", set(C0 + "/notes", "x"), at(kTp, 0, "notes") + "has the wrong type"},
      {"reason a number", set(C2 + "/reason", 3), at(kDp, 2, "reason") + "has the wrong type"},
      // --- samples: present, non-empty, of one length, non-negative and finite
      {"ok without samples", both(drop(C0 + "/samples"), drop(C0 + "/metrics")),
       at(kTp, 0, "samples") + "missing: a configuration with status ok must have its samples"},
      {"ok with empty sample arrays", both(empty_samples, set(C0 + "/iterations", 0)),
       at(kTp, 0, "samples.e2e_ms") + "is empty"},
      {"ok with zero iterations", set(C0 + "/iterations", 0), at(kTp, 0, "iterations") + "is 0, but samples.e2e_ms has 3"},
      {"iterations not the sample count", set(C0 + "/iterations", 5), at(kTp, 0, "iterations") + "is 5, but samples.e2e_ms has 3"},
      {"failed with empty sample arrays", [](json& d) { d["configurations"][2] = d["configurations"][0];
                                                        d["configurations"][2]["status"] = "failed";
                                                        empty_samples_of(d, 2); },
       "field 'samples.e2e_ms' is empty"},
      {"skipped with samples", [](json& d) { json s = d["configurations"][0]; s["status"] = "skipped";
                                              d["configurations"][0] = s; },
       at(kTp, 0, "samples") + "present on a skipped configuration"},
      {"failed without samples is fine", set(C2 + "/status", "failed"), ""},
      {"samples a list", set(C0 + "/samples", json::array()), at(kTp, 0, "samples") + "has the wrong type"},
      {"samples without e2e_ms", drop(C0 + "/samples/e2e_ms"), at(kTp, 0, "samples.e2e_ms") + "missing"},
      {"negative latency", set(C0 + "/samples/e2e_ms/1", -5.0), at(kTp, 0, "samples.e2e_ms[1]") + "-5.0 is below the minimum 0"},
      {"negative ttft", set(C0 + "/samples/ttft_ms/0", -0.5), at(kTp, 0, "samples.ttft_ms[0]") + "-0.5 is below the minimum 0"},
      {"negative decode step", set(C1 + "/samples/decode_step_ms/3", -1.0),
       at(kPp, 1, "samples.decode_step_ms[3]") + "-1.0 is below the minimum 0"},
      {"negative sync", set(C0 + "/samples/per_rank/sync_ms/1/2", -2.0),
       at(kTp, 0, "samples.per_rank.sync_ms[1][2]") + "-2.0 is below the minimum 0"},
      {"busy rounding a hair below zero is fine", set(C0 + "/samples/per_rank/busy_ms/0/0", -1e-9), ""},
      {"busy clearly negative", set(C0 + "/samples/per_rank/busy_ms/0/0", -3.0),
       at(kTp, 0, "samples.per_rank.busy_ms[0][0]") + "-3.0 is below the minimum -1e-06"},
      {"a latency of 1e300 ms", set(C0 + "/samples/e2e_ms/0", 1e300), at(kTp, 0, "samples.e2e_ms[0]") + "1e+300 is above the maximum 1000000000.0"},
      {"a latency as a string", set(C0 + "/samples/e2e_ms/0", "fast"), at(kTp, 0, "samples.e2e_ms[0]") + "has the wrong type"},
      {"a latency null (how NaN is written)", set(C0 + "/samples/e2e_ms/2", nullptr),
       at(kTp, 0, "samples.e2e_ms[2]") + "has the wrong type: null null, expected number"},
      {"a latency NaN in memory", set(C0 + "/samples/e2e_ms/2", kNaN), at(kTp, 0, "samples.e2e_ms[2]") + "is not a finite number"},
      {"a latency infinite in memory", set(C0 + "/samples/ttft_ms/2", kInf), at(kTp, 0, "samples.ttft_ms[2]") + "is not a finite number"},
      {"e2e_ms a number", set(C0 + "/samples/e2e_ms", 100.0), at(kTp, 0, "samples.e2e_ms") + "has the wrong type"},
      {"ttft shorter than e2e", [](json& d) { d["configurations"][0]["samples"]["ttft_ms"].erase(2); },
       at(kTp, 0, "samples.ttft_ms") + "has 2 values for 3 iterations"},
      {"decode steps not gen - 1 per iteration", [](json& d) { d["configurations"][0]["samples"]["decode_step_ms"].erase(0); },
       at(kTp, 0, "samples.decode_step_ms") + "has 5 values; 3 iterations of gen - 1 = 2 decode steps make 6"},
      {"gen changed under the samples", set(C0 + "/workload/gen", 2), "field 'samples.decode_step_ms' has 6 values"},
      {"per-rank iteration rows of unequal length",
       [](json& d) { d["configurations"][0]["samples"]["per_rank"]["iteration_ms"][1].erase(2); },
       at(kTp, 0, "samples.per_rank.iteration_ms[1]") + "has 2 values, but samples.e2e_ms has 3 iterations (rows of unequal length)"},
      {"per-rank busy row longer",
       [](json& d) { d["configurations"][0]["samples"]["per_rank"]["busy_ms"][0].push_back(1.0); },
       at(kTp, 0, "samples.per_rank.busy_ms[0]") + "has 4 values"},
      {"per-rank sync_total row empty", set(C1 + "/samples/per_rank/sync_total_ms/1", json::array()),
       at(kPp, 1, "samples.per_rank.sync_total_ms[1]") + "has 0 values"},
      {"per-rank transfer row short",
       [](json& d) { d["configurations"][1]["samples"]["per_rank"]["transfer_ms"][0].erase(0); },
       at(kPp, 1, "samples.per_rank.transfer_ms[0]") + "has 2 values"},
      {"per-rank sync rows missing a rank", [](json& d) { d["configurations"][0]["samples"]["per_rank"]["sync_ms"].erase(1); },
       at(kTp, 0, "samples.per_rank.sync_ms") + "has 1 rows for 2 ranks"},
      {"per-rank rows for a rank too many",
       [](json& d) {
         json& t = d["configurations"][0]["samples"]["per_rank"]["iteration_ms"];
         t.push_back(t[0]);
       },
       at(kTp, 0, "samples.per_rank.iteration_ms") + "has 3 rows for 2 ranks"},
      {"per-rank table flat", set(C0 + "/samples/per_rank/iteration_ms", json::array({1.0, 2.0})),
       at(kTp, 0, "samples.per_rank.iteration_ms[0]") + "has the wrong type"},
      {"per_rank missing", drop(C0 + "/samples/per_rank"), at(kTp, 0, "samples.per_rank") + "missing"},
      {"per_rank.sync_total_ms missing", drop(C0 + "/samples/per_rank/sync_total_ms"),
       at(kTp, 0, "samples.per_rank.sync_total_ms") + "missing"},
      {"per_rank.transfer_ms missing is fine (older files)", drop(C0 + "/samples/per_rank/transfer_ms"), ""},
      {"measurement.samples a string", set(C0 + "/measurement/samples", "x"), at(kTp, 0, "measurement.samples") + "has the wrong type"},
      {"measurement.achieved_rse negative", set(C0 + "/measurement/achieved_rse", -1.0),
       at(kTp, 0, "measurement.achieved_rse") + "-1.0 is below the minimum 0"},
      {"measurement.achieved_rse null is fine", set(C0 + "/measurement/achieved_rse", nullptr), ""},
      // --- metrics
      {"samples without metrics", drop(C0 + "/metrics"), at(kTp, 0, "metrics") + "missing (required with samples)"},
      {"metrics without sync", drop(C0 + "/metrics/sync"), at(kTp, 0, "metrics.sync") + "missing"},
      {"phase without path", drop(C0 + "/metrics/phases/0/path"), at(kTp, 0, "metrics.phases[0].path") + "missing"},
      {"phase path empty", set(C0 + "/metrics/phases/0/path", ""), at(kTp, 0, "metrics.phases[0].path") + "is empty"},
      {"phase category a number", set(C0 + "/metrics/phases/1/category", 2),
       at(kTp, 0, "metrics.phases[1].category") + "has the wrong type"},
      {"phase ms negative", set(C0 + "/metrics/phases/0/ms", -1.0), at(kTp, 0, "metrics.phases[0].ms") + "-1.0 is below the minimum 0"},
      {"phase calls a string", set(C0 + "/metrics/phases/0/calls", "3"), at(kTp, 0, "metrics.phases[0].calls") + "has the wrong type"},
      {"phase on more ranks than the configuration", set(C0 + "/metrics/phases/0/ranks", 5),
       at(kTp, 0, "metrics.phases[0].ranks") + "is 5, more than the configuration's 2 ranks"},
      {"phase group larger than the configuration", set(C0 + "/metrics/phases/1/group_size", 8),
       at(kTp, 0, "metrics.phases[1].group_size") + "is 8, more than the configuration's 2 ranks"},
      {"phase group size zero", set(C0 + "/metrics/phases/1/group_size", 0),
       at(kTp, 0, "metrics.phases[1].group_size") + "0 is below the minimum 1"},
      {"phase op without group", drop(C0 + "/metrics/phases/1/group"),
       at(kTp, 0, "metrics.phases[1]") + "names a collective op without its group"},
      {"phase timing unknown", set(C0 + "/metrics/phases/0/timing", "lazy"), at(kTp, 0, "metrics.phases[0].timing") + "\"lazy\" is not one of"},
      {"phase work without flops", drop(C0 + "/metrics/phases/0/work/flops"), at(kTp, 0, "metrics.phases[0].work.flops") + "missing"},
      {"phases an object", set(C0 + "/metrics/phases", json::object()), at(kTp, 0, "metrics.phases") + "has the wrong type"},
      {"phase an array", set(C0 + "/metrics/phases/0", json::array()), at(kTp, 0, "metrics.phases[0]") + "has the wrong type"},
      {"stage layers one number", set(C1 + "/metrics/pipeline/per_stage/0/layers", json::array({1})),
       at(kPp, 1, "metrics.pipeline.per_stage[0].layers") + "has 1 items, fewer than 2"},
      {"stage layers three numbers", set(C1 + "/metrics/pipeline/per_stage/0/layers", json::array({0, 1, 2})),
       at(kPp, 1, "metrics.pipeline.per_stage[0].layers") + "has 3 items, more than 2"},
      {"stage layers backwards", set(C1 + "/metrics/pipeline/per_stage/1/layers", json::array({3, 1})),
       at(kPp, 1, "metrics.pipeline.per_stage[1].layers") + "[3,1] ends before it begins"},
      {"stage busy a string", set(C1 + "/metrics/pipeline/per_stage/0/busy_ms", "x"),
       at(kPp, 1, "metrics.pipeline.per_stage[0].busy_ms") + "has the wrong type"},
      {"stage without stage", drop(C1 + "/metrics/pipeline/per_stage/0/stage"), at(kPp, 1, "metrics.pipeline.per_stage[0].stage") + "missing"},
      {"memory peak negative", set(C0 + "/metrics/memory/0/allocated/peak_total", -5),
       at(kTp, 0, "metrics.memory[0].allocated.peak_total") + "-5 is below the minimum 0"},
      {"memory weights a fraction", set(C0 + "/metrics/memory/0/predicted/weights", 1.5),
       at(kTp, 0, "metrics.memory[0].predicted.weights") + "has the wrong type"},
      {"memory for one rank of two", [](json& d) { d["configurations"][0]["metrics"]["memory"].erase(1); },
       at(kTp, 0, "metrics.memory") + "has 1 entries for 2 ranks"},
      {"memory without allocated", drop(C0 + "/metrics/memory/0/allocated"), at(kTp, 0, "metrics.memory[0].allocated") + "missing"},
      {"collective without calls", drop(C0 + "/metrics/sync/collectives/0/calls"),
       at(kTp, 0, "metrics.sync.collectives[0].calls") + "missing"},
      {"collective group size zero", set(C0 + "/metrics/sync/collectives/0/group_size", 0),
       at(kTp, 0, "metrics.sync.collectives[0].group_size") + "0 is below the minimum 1"},
      {"collective time negative", set(C0 + "/metrics/sync/collectives/0/ms", -0.5),
       at(kTp, 0, "metrics.sync.collectives[0].ms") + "-0.5 is below the minimum 0"},
      {"floor fields a string", set(C0 + "/metrics/floor/e2e_ms", "x"), at(kTp, 0, "metrics.floor.e2e_ms") + "has the wrong type"},
      {"floor empty", set(C0 + "/metrics/floor", json::object()), at(kTp, 0, "metrics.floor.ttft_ms") + "missing"},
      {"floor null is fine", set(C0 + "/metrics/floor", nullptr), ""},
      {"verification.passed a string", set(C0 + "/verification/passed", "yes"), at(kTp, 0, "verification.passed") + "has the wrong type"},
      {"verification error negative", set(C0 + "/verification/max_rel_error", -1.0),
       at(kTp, 0, "verification.max_rel_error") + "-1.0 is below the minimum 0"},
      {"verification error null (infinite) is fine", set(C0 + "/verification/max_rel_error", nullptr), ""},
      {"attention entry without kernel", drop(C0 + "/attention/0/kernel"), at(kTp, 0, "attention[0].kernel") + "missing"},
      {"replica_weights unknown", set(C0 + "/replica_weights", "some"), at(kTp, 0, "replica_weights") + "\"some\" is not one of"},
      {"an unknown configuration field holding infinity", set(C0 + "/extra", json::object({{"x", kInf}})),
       at(kTp, 0, "extra.x") + "is not a finite number"},
      {"an unknown configuration field is fine", set(C0 + "/extra", "from a later version"), ""},
      {"an unknown field nested 1000 deep",
       [](json& d) {
         json deep = json::array({1});
         for (int i = 0; i < 1000; ++i) deep = json::array({std::move(deep)});
         d["run"]["deep"] = std::move(deep);
       },
       "' nests deeper than 64 levels"},
      {"a known field holding a deep array", set("/run/backend", json::array({json::array({json::array()})})),
       "field 'run.backend' has the wrong type: array [...1 items], expected string"},
      {"a layout whose product overflows",
       both(set(C0 + "/layout/tp", 2147483647), both(set(C0 + "/layout/pp", 2147483647), set(C0 + "/layout/dp", 2147483647))),
       at(kTp, 0, "layout") + "tp * pp * dp overflows"},
      {"a skipped configuration without layout degrees is fine",
       both(set(C3 + "/layout", json{{"tp", 0}, {"pp", 0}, {"dp", 0}, {"label", "none.n4"}}),
            set(C3 + "/id", "tp|none.n4|blocking|concat|b2.p8.g3")),
       ""},
  };
}

TEST(ResultsValidation, EveryMutationGivesItsError) {
  const std::vector<Case> table = cases();
  EXPECT_GE(table.size(), 120u);
  int errors = 0;
  for (const Case& c : table) {
    json doc = valid_document();
    c.mutate(doc);
    const std::string error = validation_error(doc);
    if (c.expected.empty()) {
      EXPECT_EQ(error, "") << c.name;
      continue;
    }
    ++errors;
    EXPECT_EQ(error.rfind("base.json: ", 0), 0u) << c.name << ": " << error;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.name << "\n  expected: " << c.expected << "\n  got:      " << error;
  }
  EXPECT_GE(errors, 100);
}

// Each mutation that is an error is one for every reader: compare's, report's and --resume's
// path all start at read_results_file.
TEST(ResultsValidation, TheFileReaderRejectsEveryBadMutation) {
  const auto path = testing::temp_path("llmt_validation", "mutated.json");
  int checked = 0;
  for (const Case& c : cases()) {
    // A file cannot hold NaN or infinity (dump writes null): the in-memory table covers those.
    if (c.expected.find("not a finite number") != std::string::npos) continue;
    json doc = valid_document();
    c.mutate(doc);
    {
      std::ofstream out(path);
      out << doc.dump();  // NaN and infinity become null here, as in any file
    }
    bool threw = false;
    std::string what;
    try {
      read_results_file(path.string());
    } catch (const ConfigError& e) {
      threw = true;
      what = e.what();
    }
    if (!c.expected.empty()) {
      EXPECT_TRUE(threw) << c.name;
      EXPECT_EQ(what.rfind(path.string() + ": ", 0), 0u) << c.name << ": " << what;
      ++checked;
    } else {
      EXPECT_FALSE(threw) << c.name << ": " << what;
    }
  }
  EXPECT_GE(checked, 100);
}

// ---------------------------------------------------------------------------------------------
// Files as they come: empty, truncated, not JSON, a directory.

std::string read_error(const std::string& path) {
  try {
    read_results_file(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = testing::temp_path("llmt_validation", name);
  std::ofstream(path) << text;
  return path;
}

TEST(ResultsValidation, UnreadableFilesAreNamedErrors) {
  const std::string valid = valid_document().dump();
  struct FileCase {
    const char* name;
    std::string text;
    std::string expected;
  };
  const std::vector<FileCase> files = {
      {"empty.json", "", "is empty, not a results file"},
      {"blank.json", " \n\t\n", "is empty, not a results file"},
      {"truncated.json", valid.substr(0, valid.size() / 2), "not valid JSON (truncated or malformed)"},
      {"truncated-end.json", valid.substr(0, valid.size() - 1), "not valid JSON"},
      {"nan.json", R"({"schema_version": 1, "run": {}, "configurations": [], "x": NaN})", "not valid JSON"},
      {"infinity.json", R"({"schema_version": 1, "run": {"cpu_mhz": Infinity}, "configurations": []})", "not valid JSON"},
      {"overflow.json", R"({"schema_version": 1, "run": {"cpu_mhz": 1e400}, "configurations": []})", "not valid JSON"},
      {"trailing.json", valid + "x", "not valid JSON"},
      {"two-documents.json", valid + valid, "not valid JSON"},
      {"binary.json", std::string("\x00\xff\xfe{", 4), "not valid JSON"},
      {"csv.json", "configuration,ranks\ntp,2\n", "not valid JSON"},
      {"array.json", "[" + valid + "]", "a JSON array, not an llmthreads results file"},
      {"string.json", "\"results\"", "a JSON string, not an llmthreads results file"},
      {"number.json", "1e300", "a JSON number, not an llmthreads results file"},
      {"empty-object.json", "{}", "field 'schema_version' missing"},
      {"future.json", R"({"schema_version": 7, "run": {}, "configurations": []})", "'schema_version' is 7, from a newer llmthreads"},
      {"no-run.json", R"({"schema_version": 1, "configurations": []})", "field 'run' missing"},
      {"huge-latency.json",
       std::string(valid).replace(valid.find("\"e2e_ms\":[100.0"), 15, "\"e2e_ms\":[1e308"),
       "field 'samples.e2e_ms[0]' 1e+308 is above the maximum"},
  };
  for (const FileCase& f : files) {
    const auto path = write_file(f.name, f.text);
    const std::string error = read_error(path.string());
    EXPECT_EQ(error.rfind(path.string() + ": ", 0), 0u) << f.name << ": " << error;
    EXPECT_NE(error.find(f.expected), std::string::npos) << f.name << "\n  expected: " << f.expected << "\n  got: " << error;
  }
  // A valid file is read back unchanged; a fresh empty run is valid too.
  EXPECT_EQ(read_error(write_file("valid.json", valid).string()), "");
  EXPECT_EQ(read_results_file(write_file("valid.json", valid).string()), valid_document());
  EXPECT_EQ(read_error(write_file("no-configurations-yet.json", R"({"schema_version": 1, "run": {}, "configurations": []})").string()),
            "");
  const auto dir = testing::temp_path("llmt_validation", "a-directory");
  std::filesystem::create_directories(dir);
  EXPECT_EQ(read_error(dir.string()), dir.string() + ": is a directory, not a results file");
  EXPECT_EQ(read_error("/dev/null"), "/dev/null: is a device, not a results file");
  EXPECT_EQ(read_error("/dev/zero"), "/dev/zero: is a device, not a results file");  // would never end
  const auto missing = testing::temp_path("llmt_validation", "missing.json");
  std::filesystem::remove(missing);
  EXPECT_EQ(read_error(missing.string()), missing.string() + ": cannot open the results file: no such file");
}

// compare's pooling never sees a repeated id or unequal rows: the read fails first.
TEST(ResultsValidation, CompareSidesAreValidatedOnRead) {
  json dup = valid_document();
  dup["configurations"].push_back(dup["configurations"][0]);
  const auto path = write_file("dup.json", dup.dump());
  try {
    read_compare_side(path.string());
    FAIL() << "a repeated configuration id was read";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": configuration " + kTp + " (configurations[4]): field 'id' repeats"),
              std::string::npos)
        << e.what();
  }
}

// Documents built in memory (not read from a file) are checked by compare_runs itself.
TEST(ResultsValidation, InMemoryComparisonsAreValidatedToo) {
  json bad = valid_document();
  empty_samples(bad);
  bad["configurations"][0]["iterations"] = 0;
  try {
    compare_runs(valid_document(), bad, CompareOptions{}, "base", "new");
    FAIL() << "a comparison was drawn from empty samples";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "new: " + at(kTp, 0, "samples.e2e_ms") +
                                         "is empty: a measured configuration needs at least one iteration");
  }
  const Comparison same = compare_runs(valid_document(), valid_document(), CompareOptions{}, "base", "new");
  EXPECT_FALSE(same.regressed());
  EXPECT_FALSE(same.rows.empty());
}

// Valid files with nothing measured on both sides: no verdict either.
TEST(ResultsValidation, ACompareThatJudgesNothingIsUnusableInput) {
  const json empty = json::parse(R"({"schema_version": 1, "run": {}, "configurations": []})");
  const auto message = [](const json& a, const json& b) {
    try {
      compare_runs(a, b, CompareOptions{}, "base.json", "new.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message(empty, empty), "compare: nothing to judge: no configuration was measured on both sides (base "
                                   "base.json: 0 configuration(s), new new.json: 0 configuration(s); 0 only in base, 0 "
                                   "only in new)");
  // The new run stopped before measuring anything: every configuration is on one side only.
  EXPECT_NE(message(valid_document(), empty).find("(base base.json: 3 configuration(s), new new.json: 0 "
                                                  "configuration(s); 3 only in base, 0 only in new)"),
            std::string::npos);
  // Failed on both sides (the only configuration in common): nothing measured to compare.
  json failed = valid_document();
  failed["configurations"] = json::array({failed["configurations"][2]});
  EXPECT_NE(message(failed, failed).find("nothing to judge"), std::string::npos);
  // One that failed before and passes now is judged: no regression.
  {
    json before = valid_document();
    before["configurations"][0].erase("samples");
    before["configurations"][0].erase("metrics");
    before["configurations"][0]["status"] = "failed";
    before["configurations"] = json::array({before["configurations"][0]});
    json after = valid_document();
    after["configurations"] = json::array({after["configurations"][0]});
    const Comparison fixed = compare_runs(before, after, CompareOptions{}, "base.json", "new.json");
    EXPECT_FALSE(fixed.regressed());
    EXPECT_TRUE(fixed.rows.empty());
  }
  // One that passed before and failed now is a verdict: a regression.
  json base = valid_document(), now = valid_document();
  now["configurations"][0] = now["configurations"][2];
  now["configurations"][0]["id"] = kTp;
  now["configurations"][0]["strategy"] = "tp";
  now["configurations"][0]["layout"] = base["configurations"][0]["layout"];
  now["configurations"][0].erase("samples");
  now["configurations"] = json::array({now["configurations"][0]});
  EXPECT_EQ(validation_error(now), "");
  const Comparison c = compare_runs(base, now, CompareOptions{}, "base.json", "new.json");
  EXPECT_TRUE(c.regressed());
  ASSERT_EQ(c.status_regressions.size(), 1u);
  EXPECT_EQ(c.status_regressions[0].rfind(kTp + ": ", 0), 0u);
}

// ---------------------------------------------------------------------------------------------
// End to end through the binary: exit 2, file, configuration and field named; never a verdict.

struct Files {
  std::string good, bad;
};

Files files_for(const std::string& name, const Mutation& mutate) {
  json bad = valid_document();
  mutate(bad);
  return {write_file("good.json", valid_document().dump()).string(), write_file(name, bad.dump()).string()};
}

void expect_unusable(const testing::Outcome& o, const std::vector<std::string>& named) {
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("llmthreads: error: "), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("internal error"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("regression(s)"), std::string::npos) << o.output;  // no verdict printed
  for (const std::string& n : named) EXPECT_NE(o.output.find(n), std::string::npos) << n << "\n" << o.output;
}

TEST(ResultsValidationCli, CompareGivesNoVerdictOnUnusableFiles) {
  const auto no_samples = files_for("no-samples.json", both(drop(C0 + "/samples"), drop(C0 + "/metrics")));
  expect_unusable(run_binary("compare " + no_samples.good + " " + no_samples.bad), {no_samples.bad, kTp, "'samples'"});
  expect_unusable(run_binary("compare " + no_samples.bad + " " + no_samples.good), {no_samples.bad, kTp, "'samples'"});

  const auto empty = files_for("empty-samples.json", both(empty_samples, set(C0 + "/iterations", 0)));
  expect_unusable(run_binary("compare " + empty.good + " " + empty.bad), {empty.bad, kTp, "'samples.e2e_ms' is empty"});

  const auto dup = files_for("dup.json", [](json& d) { d["configurations"].push_back(d["configurations"][0]); });
  expect_unusable(run_binary("compare " + dup.good + " " + dup.bad), {dup.bad, kTp, "'id' repeats configurations[0]"});

  const auto negative = files_for("negative.json", set(C0 + "/samples/e2e_ms/1", -5.0));
  expect_unusable(run_binary("compare " + negative.good + " " + negative.bad), {negative.bad, kTp, "'samples.e2e_ms[1]'"});

  const auto rows = files_for("rows.json", [](json& d) { d["configurations"][0]["samples"]["per_rank"]["busy_ms"][1] = json::array({1.0}); });
  expect_unusable(run_binary("compare " + rows.good + "," + rows.bad + " " + rows.good),
                  {rows.bad, kTp, "'samples.per_rank.busy_ms[1]' has 1 values"});

  // The control: the valid file against itself is judged (the table is printed); its 3 samples a
  // side could not flag a regression, which the gate says with exit 2.
  const testing::Outcome same = run_binary("compare " + rows.good + " " + rows.good);
  EXPECT_EQ(same.status, 2) << same.output;
  EXPECT_NE(same.output.find("0 regression(s)"), std::string::npos) << same.output;
  EXPECT_NE(same.output.find("cannot detect a regression with n=3 per side"), std::string::npos) << same.output;
}

TEST(ResultsValidationCli, ReportRejectsUnusableFiles) {
  const auto rows = files_for("rows.json", [](json& d) { d["configurations"][0]["samples"]["per_rank"]["iteration_ms"][0].erase(0); });
  const std::string html = testing::temp_path("llmt_validation", "report.html").string();
  std::filesystem::remove(html);
  expect_unusable(run_binary("report " + rows.bad + " -o " + html), {rows.bad, kTp, "'samples.per_rank.iteration_ms[0]'"});
  EXPECT_FALSE(std::filesystem::exists(html));
  expect_unusable(run_binary("report --compare " + rows.good + " " + rows.bad + " -o " + html), {rows.bad, kTp});
  const testing::Outcome ok = run_binary("report " + rows.good + " -o " + html);
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_TRUE(std::filesystem::exists(html));
}

TEST(ResultsValidationCli, ADirectoryIsUnusableInputNotAnInternalError) {
  const auto dir = testing::temp_path("llmt_validation", "results-dir");
  std::filesystem::create_directories(dir);
  const std::string good = write_file("good.json", valid_document().dump()).string();
  expect_unusable(run_binary("compare " + dir.string() + " " + good), {dir.string() + ": is a directory"});
  expect_unusable(run_binary("compare " + good + " " + dir.string()), {dir.string() + ": is a directory"});
  expect_unusable(run_binary("report " + dir.string() + " -o " + (dir / "r.html").string()),
                  {dir.string() + ": is a directory"});
  expect_unusable(run_binary("compare " + good + " " + (dir / "missing.json").string()), {"missing.json: cannot open the results file: no such file"});
}

// --resume reads through the same pass: a file it would have kept an unmeasured ok
// configuration from, or crashed on, stops before anything runs.
TEST(ResultsValidationCli, ResumeRejectsUnusableFilesBeforeRunning) {
  const auto rows = files_for("resume-rows.json", [](json& d) { d["configurations"][0]["samples"]["per_rank"]["sync_ms"][1].erase(0); });
  expect_unusable(run_binary("bench --model gpt2 --layers 1 --gpus 2 --strategy tp --batch 2 --prompt 8 --gen 3 --quiet "
                             "--resume " + rows.bad),
                  {rows.bad, kTp, "'samples.per_rank.sync_ms[1]'"});
  const auto unmeasured = files_for("resume-unmeasured.json", both(drop(C0 + "/samples"), drop(C0 + "/metrics")));
  expect_unusable(run_binary("bench --model gpt2 --layers 1 --gpus 2 --strategy tp --batch 2 --prompt 8 --gen 3 --quiet "
                             "--resume " + unmeasured.bad),
                  {unmeasured.bad, kTp, "'samples' missing"});
}

}  // namespace
}  // namespace llmt
