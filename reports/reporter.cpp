#include "reports/reporter.hpp"

#include <fmt/format.h>

namespace llmt {

std::string format_bytes(double bytes) {
  if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
  if (bytes < 1024.0 * 1024) return fmt::format("{:.1f} KiB", bytes / 1024);
  if (bytes < 1024.0 * 1024 * 1024) return fmt::format("{:.2f} MiB", bytes / (1024.0 * 1024));
  return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
}

std::string describe_bus_bandwidth(const std::vector<BusBandwidth>& entries) {
  std::string out, pass;
  for (const BusBandwidth& b : entries) {
    const bool new_pass = b.pass != pass;
    out += (out.empty() ? "" : new_pass ? "; " : ", ") + (new_pass ? b.pass + " " : std::string()) +
           fmt::format("{} {}{} {} {:.3g}", b.op, b.group, b.group_size, format_bytes(b.message_bytes), b.busbw_gbps);
    pass = b.pass;
  }
  return out;
}

void MultiReporter::begin(const RunMetadata& run, const CarriedResults& carried) {
  for (auto& r : reporters_) r->begin(run, carried);
}
void MultiReporter::add(const ConfigResult& result) {
  for (auto& r : reporters_) r->add(result);
}
void MultiReporter::end(const RunSummary& summary) {
  for (auto& r : reporters_) r->end(summary);
}

}  // namespace llmt
