#include "cli/parse.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include <charconv>

#include "model/error.hpp"
#include "reports/compare.hpp"

namespace llmt::cli {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string current;
  for (char c : text + ",") {
    if (c == ',') {
      const auto b = current.find_first_not_of(" \t");
      const auto e = current.find_last_not_of(" \t");
      if (b != std::string::npos) items.push_back(current.substr(b, e - b + 1));
      current.clear();
    } else {
      current += c;
    }
  }
  return items;
}

std::vector<int> parse_positive_ints(const std::string& option, const std::string& text) {
  std::vector<int> values;
  for (const std::string& item : split_list(text)) {
    int v = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || ptr != item.data() + item.size() || v <= 0)
      throw ConfigError(fmt::format("{}: '{}' is not a positive integer", option, item));
    values.push_back(v);
  }
  if (values.empty()) throw ConfigError(fmt::format("{}: expected a comma-separated list of positive integers", option));
  return values;
}

int single_positive_int(const std::string& option, const std::string& text) {
  const std::vector<int> values = parse_positive_ints(option, text);
  if (values.size() != 1) throw ConfigError(fmt::format("{}: '{}' is a list; give one positive integer", option, text));
  return values.front();
}

int bounded_int(const std::string& option, const std::string& text, int low, int high) {
  long long v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end)
    throw ConfigError(fmt::format("{}: '{}' is not an integer", option, text));
  if (ec == std::errc::result_out_of_range || v < low || v > high)
    throw ConfigError(fmt::format("{}: {} is out of range (from {} to {})", option, text, low, high));
  return static_cast<int>(v);
}

double strict_number(const std::string& option, const std::string& text) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v))
    throw ConfigError(fmt::format("{}: '{}' is not a finite number", option, text));
  return v;
}

std::uint64_t parse_seed(const std::string& text) {
  std::uint64_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, seed);
  if (text.empty() || text.front() == '-' || text.front() == '+' || ec != std::errc() || ptr != end)
    throw ConfigError(fmt::format("--seed: '{}' is not an integer from 0 to {}", text,
                                  std::numeric_limits<std::uint64_t>::max()));
  return seed;
}

void check_alpha(double alpha) {
  if (!(alpha > 0 && alpha < 1))  // NaN fails both
    throw ConfigError(fmt::format("--alpha: {} is not a significance level between 0 and 1 (exclusive)", alpha));
}

void check_min_samples(int samples) {
  if (samples < 1 || samples > 1000000)
    throw ConfigError(fmt::format("--min-samples: {} is out of range (from 1 to 1000000)", samples));
}

double checked_threshold(const std::string& text, const std::string& option) {
  const double v = parse_fraction(text, option);
  if (!std::isfinite(v)) throw ConfigError(fmt::format("{}: '{}' is not a finite fraction (5% or 0.05)", option, text));
  return v;
}

}  // namespace llmt::cli
