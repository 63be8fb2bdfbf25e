// The JSON form of a run (schema_version 1). One function per type, both directions; the
// JSON writer, --resume and every later reader of these files go through here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/ranking.hpp"
#include "engine/result.hpp"

namespace llmt {

inline constexpr int kSchemaVersion = 1;

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
// Reads and checks a whole results file (schema version, shape). Throws ConfigError.
nlohmann::json read_results_file(const std::string& path);

}  // namespace llmt
