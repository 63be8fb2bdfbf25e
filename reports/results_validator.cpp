// The results file's validator: schema_violation (a subset of JSON Schema, checked against
// reports/results_schema.cpp) and validate_results of reports/json_schema.hpp.
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <map>

#include "model/error.hpp"
#include "reports/json_schema.hpp"

namespace llmt {

using nlohmann::json;

namespace {

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
  // A request list has no batch-wide prefill or decode step: its per-request times replace them.
  const bool requests = c.contains("traffic") && !c["traffic"].is_null();
  const std::size_t prefills = requests ? 0 : n;
  if (s["ttft_ms"].size() != prefills)
    return fail("samples.ttft_ms", requests ? fmt::format("has {} values; a request list has none (its per-request times "
                                                          "are metrics.traffic.samples)", s["ttft_ms"].size())
                                            : fmt::format("has {} values for {} iterations (samples.e2e_ms)",
                                                          s["ttft_ms"].size(), n));
  const std::size_t steps = requests ? 0 : static_cast<std::size_t>(c["workload"]["gen"].get<int>() - 1);
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

}  // namespace llmt
