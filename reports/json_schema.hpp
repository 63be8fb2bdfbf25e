// The JSON form of a run (schema_version 2; files of version 1 still read). One function per
// type, both directions; the JSON writer, --resume and every later reader of these files go
// through here. Implemented by role: the writer (to_json, make_document) in
// reports/json_writer.cpp, the reader (result_from_json, ceilings_from_json, read_results_file) in
// reports/json_reader.cpp, the schema's text in reports/results_schema.cpp and the validator
// (schema_violation, validate_results) in reports/results_validator.cpp. A new field goes in the
// writer, the reader and the schema (and docs/results.schema.json) together.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/ranking.hpp"
#include "engine/result.hpp"

namespace llmt {

inline constexpr int kSchemaVersion = 3;
// The oldest schema_version the reader still accepts. Version 1 files lack the fields added in 2
// (metrics.memory[].allocated was `measured`, no bus bandwidth, no memory pools); they read with
// those absent, and --resume rewrites what it keeps from them in the current form.
inline constexpr int kOldestSchemaVersion = 1;
// What a configuration read from a file of `version` lacks against the current schema (one
// sentence, for the note --resume adds to the configurations it keeps from such a file).
std::string schema_upgrade_note(int version);

// How a run ended, written once it has.
struct RunSummary {
  std::string objective;
  std::vector<RankingEntry> ranking;
  bool interrupted = false;
  bool complete = false;
};

nlohmann::json to_json(const Summary& s);
nlohmann::json to_json(const ModelConfig& m);
nlohmann::json to_json(const RunMetadata& run);
// null when the ceilings are not valid (no floors in the run).
nlohmann::json to_json(const Ceilings& c);
nlohmann::json to_json(const ConfigResult& r);
nlohmann::json to_json(const RunSummary& s);
// {"schema_version", "run", "configurations": [...], and once finished "summary"}
nlohmann::json make_document(const RunMetadata& run, const std::vector<nlohmann::json>& configurations,
                             const RunSummary* summary = nullptr);

// Reads a configuration written by to_json: identity, status, raw samples (statistics are
// recomputed from them), memory, communication totals, phases, speed-of-light floors,
// attention kernels, verification. Fields added after the first files (floors, attention,
// phase work) are optional. Throws ConfigError naming `where` and the missing or malformed field.
ConfigResult result_from_json(const nlohmann::json& j, const std::string& where);
// Reads run.ceilings: invalid (no floors) when absent or null. Throws ConfigError when malformed.
Ceilings ceilings_from_json(const nlohmann::json& run, const std::string& where);
// Reads and checks a whole results file: readable, JSON, an object, a schema_version this
// llmthreads reads (kOldestSchemaVersion to kSchemaVersion), then validate_results. Throws ConfigError naming the path (and, through
// validate_results, the configuration and field) for every unusable file; never anything else.
nlohmann::json read_results_file(const std::string& path);

// The JSON Schema of a results file, the same text as docs/results.schema.json.
const nlohmann::json& results_schema();
// Checks `doc` against results_schema() (structure, types, ranges, finite numbers) and then the
// semantics no schema says: unique configuration ids matching their fields, samples present and
// non-empty where status is ok, sample rows of one length matching the iteration count (and
// gen - 1 decode steps each), one per-rank row per rank, phases and pipeline stages consistent
// with the configuration. Throws ConfigError "<source>: configuration <id> (configurations[i]):
// field '<path>' ..." on the first problem.
void validate_results(const nlohmann::json& doc, const std::string& source);
// Checks one JSON value against a schema (a subset of JSON Schema 2020-12: type, enum, required,
// properties, additionalProperties, dependentRequired, items, minItems, maxItems, minLength,
// minimum, maximum, $ref to "#/$defs/..." of `root`). Returns the first violation as
// "<path>: <what>", empty when none.
std::string schema_violation(const nlohmann::json& root, const nlohmann::json& value);

}  // namespace llmt
