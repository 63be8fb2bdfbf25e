#include "reports/html_table.hpp"

#include <fmt/format.h>

#include "reports/svg.hpp"

namespace llmt::html {

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& numeric) {
  std::string s = "<table><tr>";
  for (const std::string& h : header) s += "<th>" + svg::escape(h) + "</th>";
  s += "</tr>\n";
  for (const auto& row : rows) {
    s += "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i)
      s += (i < numeric.size() && numeric[i] ? "<td class=\"num\">" : "<td>") + row[i] + "</td>";
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::string num(double v, const char* f) { return fmt::format(fmt::runtime(f), v); }

}  // namespace llmt::html
