// The CSV reporter's output for one result, read back as fields: the header and the row.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "reports/reporter.hpp"
#include "run_binary.hpp"

namespace llmt::testing {

// The CSV's header and first row of `r` written to `path`, as fields.
inline std::pair<std::vector<std::string>, std::vector<std::string>> csv_of(const ConfigResult& r,
                                                                            const std::filesystem::path& path) {
  {
    const auto csv = make_csv_reporter(path.string());
    csv->begin(RunMetadata{}, CarriedResults{});
    csv->add(r);
  }
  std::ifstream in(path);
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  return {split(header, ','), split(row, ',')};
}

// The field of `row` under `column` of `header`.
inline std::string field_under(const std::vector<std::string>& header, const std::vector<std::string>& row,
                               const std::string& column) {
  for (std::size_t i = 0; i < header.size() && i < row.size(); ++i)
    if (header[i] == column) return row[i];
  return "<no column " + column + ">";
}

// The field of `r`'s row under `column`.
inline std::string csv_value(const ConfigResult& r, const std::string& column, const std::filesystem::path& path) {
  const auto [header, row] = csv_of(r, path);
  return field_under(header, row, column);
}

}  // namespace llmt::testing
