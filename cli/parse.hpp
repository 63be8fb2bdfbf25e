// Parsing of comma-separated option lists ("1,2,4", "tp,dp", "all").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llmt::cli {

std::vector<std::string> split_list(const std::string& text);
// Throws ConfigError naming the option when an item is not a positive integer.
std::vector<int> parse_positive_ints(const std::string& option, const std::string& text);
// One positive integer (not a list), or a ConfigError naming the option.
int single_positive_int(const std::string& option, const std::string& text);
// --seed: an integer from 0 to 2^64 - 1, the whole text, or a ConfigError.
std::uint64_t parse_seed(const std::string& text);

// compare and report --compare: --alpha in (0, 1); --min-samples from 1 to 1e6; a --threshold
// (5% or 0.05) finite and >= 0. Each a ConfigError naming the option otherwise.
void check_alpha(double alpha);
void check_min_samples(int samples);
double checked_threshold(const std::string& text, const std::string& option);

}  // namespace llmt::cli
