// JSON output: the whole document is rewritten after every configuration, through a
// temporary file and a rename, so the file on disk is always complete and valid.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/error.hpp"
#include "reports/json_schema.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

class JsonReporter final : public Reporter {
 public:
  explicit JsonReporter(std::string path) : path_(std::move(path)) {}

  void begin(const RunMetadata& run) override {
    run_ = run;
    write();
  }
  void add(const ConfigResult& result) override {
    configurations_.push_back(to_json(result));
    write();
  }

 private:
  void write() const {
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      if (!out) throw ConfigError(fmt::format("{}: cannot write the JSON output", tmp));
      out << make_document(run_, configurations_).dump(1) << '\n';
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
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter(const std::string& path) { return std::make_unique<JsonReporter>(path); }

}  // namespace llmt
