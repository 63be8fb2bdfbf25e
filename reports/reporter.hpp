// Result writers behind one interface. The bench command drives several at once (console,
// JSON, CSV); each result is handed over as soon as its configuration finishes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "reports/json_schema.hpp"

namespace llmt {

// Results of an earlier, interrupted run that --resume keeps.
struct CarriedResults {
  std::string source;
  std::vector<ConfigResult> results;         // parsed, for tables and CSV rows
  std::vector<nlohmann::json> documents;     // as written, for the JSON output
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void begin(const RunMetadata& run, const CarriedResults& carried) = 0;
  // Called once per configuration, in order; must leave complete, valid output behind.
  virtual void add(const ConfigResult& result) = 0;
  virtual void end(const RunSummary& summary) = 0;
};

// Rewrites the whole JSON document (atomically, through a temporary file) after every result.
std::unique_ptr<Reporter> make_json_reporter(const std::string& path);
// Writes the header, then appends and flushes one row per result.
std::unique_ptr<Reporter> make_csv_reporter(const std::string& path);
// A table on stdout, one row per result as it arrives, and the ranking at the end.
std::unique_ptr<Reporter> make_console_reporter();

// "512 B", "7.8 KiB", "1.50 MiB", "2.00 GiB": a byte count for people.
std::string format_bytes(double bytes);

// "prefill all_reduce tp4 8.0 KiB 1.23, ...; decode ...": each bus-bandwidth entry in GB/s.
std::string describe_bus_bandwidth(const std::vector<BusBandwidth>& entries);

class MultiReporter final : public Reporter {
 public:
  void attach(std::unique_ptr<Reporter> r) { reporters_.push_back(std::move(r)); }
  void begin(const RunMetadata& run, const CarriedResults& carried) override;
  void add(const ConfigResult& result) override;
  void end(const RunSummary& summary) override;

 private:
  std::vector<std::unique_ptr<Reporter>> reporters_;
};

}  // namespace llmt
