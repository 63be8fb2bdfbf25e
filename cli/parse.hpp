// Parsing of option values: comma-separated lists ("1,2,4", "tp,dp", "all"), bounded integers and numbers.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace llmt::cli {

std::vector<std::string> split_list(const std::string& text);
// Throws ConfigError naming the option when an item is not a positive integer.
std::vector<int> parse_positive_ints(const std::string& option, const std::string& text);
// One positive integer (not a list), or a ConfigError naming the option.
int single_positive_int(const std::string& option, const std::string& text);
// An integer within [low, high], the whole text, or a ConfigError naming the option.
int bounded_int(const std::string& option, const std::string& text, int low, int high);
// A finite number, the whole text, or a ConfigError naming the option.
double strict_number(const std::string& option, const std::string& text);

// A list of modes ("blocking,overlap", or "all" for every one of `all`), each read by `parse`;
// an unknown one is a ConfigError naming the option and the `known` names.
template <typename Mode, std::size_t N>
std::vector<Mode> parse_modes(const std::string& option, const std::string& text, const Mode (&all)[N],
                              std::optional<Mode> (*parse)(std::string_view), const char* known) {
  std::vector<Mode> modes;
  for (const std::string& s : split_list(text)) {
    if (s == "all") {
      modes.assign(std::begin(all), std::end(all));
      continue;
    }
    auto m = parse(s);
    if (!m) throw ConfigError(fmt::format("{}: unknown mode '{}' ({}, all)", option, s, known));
    modes.push_back(*m);
  }
  return modes;
}

// --seed: an integer from 0 to 2^64 - 1, the whole text, or a ConfigError.
std::uint64_t parse_seed(const std::string& text);

// compare and report --compare: --alpha in (0, 1); --min-samples from 1 to 1e6; a --threshold
// (5% or 0.05) finite and >= 0. Each a ConfigError naming the option otherwise.
void check_alpha(double alpha);
void check_min_samples(int samples);
double checked_threshold(const std::string& text, const std::string& option);

}  // namespace llmt::cli
