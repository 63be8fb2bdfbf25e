// Field access for the results file's readers (reports/json_reader.cpp, reports/json_traffic.cpp),
// with errors that name the field's path. Internal to the reports layer.
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "model/error.hpp"

namespace llmt {

// Field access with errors that say where.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {}
  const nlohmann::json& at(const char* key) const {
    if (!j_.is_object() || !j_.contains(key)) throw ConfigError(fmt::format("{}: missing field '{}'", where_, key));
    return j_.at(key);
  }
  template <typename T>
  T get(const char* key) const {
    try {
      return at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      throw ConfigError(fmt::format("{}: field '{}' has the wrong type ({})", where_, key, at(key).dump()));
    }
  }
  template <typename T>
  T get_or(const char* key, T fallback) const {
    return j_.is_object() && j_.contains(key) && !j_.at(key).is_null() ? get<T>(key) : fallback;
  }
  FieldReader sub(const char* key) const { return FieldReader(at(key), where_ + "." + key); }
  bool has(const char* key) const { return j_.is_object() && j_.contains(key) && !j_.at(key).is_null(); }
  bool has_null(const char* key) const { return j_.is_object() && j_.contains(key) && j_.at(key).is_null(); }

 private:
  const nlohmann::json& j_;
  std::string where_;
};

}  // namespace llmt
