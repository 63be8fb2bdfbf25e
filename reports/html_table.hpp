// The pieces every HTML page of the reports is built from: a table and a formatted number.
#pragma once

#include <string>
#include <vector>

namespace llmt::html {

// A <table> with a header row; `rows` are markup (escape text before), `numeric` right-aligns
// the columns it marks.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& numeric = {});

// `v` formatted by the fmt format `f`.
std::string num(double v, const char* f = "{:.3g}");

}  // namespace llmt::html
