// Parsing of comma-separated option lists ("1,2,4", "tp,dp", "all").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llmt::cli {

std::vector<std::string> split_list(const std::string& text);
// Throws ConfigError naming the option when an item is not a positive integer.
std::vector<int> parse_positive_ints(const std::string& option, const std::string& text);
// --seed: an integer from 0 to 2^64 - 1, the whole text, or a ConfigError.
std::uint64_t parse_seed(const std::string& text);

}  // namespace llmt::cli
