// JSON output: the whole document is rewritten after every configuration, through a
// temporary file and a rename, so the file on disk is always complete and valid.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/error.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

class JsonReporter final : public Reporter {
 public:
  explicit JsonReporter(std::string path) : path_(std::move(path)) {}

  void begin(const RunMetadata& run, const CarriedResults& carried) override {
    run_ = run;
    configurations_ = carried.documents;
    write();
  }
  void add(const ConfigResult& result) override {
    configurations_.push_back(to_json(result));
    write();
  }
  void end(const RunSummary& summary) override {
    summary_ = summary;
    finished_ = true;
    write();
  }

 private:
  void write() const {
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      if (!out) throw ConfigError(fmt::format("{}: cannot write the JSON output", tmp));
      out << make_document(run_, configurations_, finished_ ? &summary_ : nullptr).dump(1) << '\n';
      out.flush();
      if (!out) throw ConfigError(fmt::format("{}: write failed (disk full?)", tmp));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path_, ec);
    if (ec) throw ConfigError(fmt::format("{}: cannot replace the JSON output: {}", path_, ec.message()));
  }

  std::string path_;
  RunMetadata run_;
  std::vector<nlohmann::json> configurations_;
  RunSummary summary_;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter(const std::string& path) { return std::make_unique<JsonReporter>(path); }

}  // namespace llmt
