// The JSON form of a run (schema_version 1). One function per type; the JSON writer, and
// every later reader of these files, go through here.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/result.hpp"

namespace llmt {

inline constexpr int kSchemaVersion = 1;

nlohmann::json to_json(const Summary& s);
nlohmann::json to_json(const ModelConfig& m);
nlohmann::json to_json(const RunMetadata& run);
nlohmann::json to_json(const ConfigResult& r);
// {"schema_version", "run", "configurations": [...]}
nlohmann::json make_document(const RunMetadata& run, const std::vector<nlohmann::json>& configurations);

}  // namespace llmt
