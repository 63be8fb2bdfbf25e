// JSON output: the whole document is rewritten after every configuration, through a
// temporary file and a rename, so the file on disk is always complete and valid. A character
// device or a FIFO (/dev/null, a pipe) gets the document once, at the end: rewriting a stream
// would concatenate documents.
#include <fmt/format.h>


#include "model/error.hpp"
#include "model/file_io.hpp"
#include "reports/reporter.hpp"

namespace llmt {
namespace {

class JsonReporter final : public Reporter {
 public:
  explicit JsonReporter(std::string path) : path_(std::move(path)) {}

  void begin(const RunMetadata& run, const CarriedResults& carried) override {
    run_ = run;
    configurations_ = carried.documents;
    if (replaced_by_rename(path_)) write();
  }
  void add(const ConfigResult& result) override {
    configurations_.push_back(to_json(result));
    if (replaced_by_rename(path_)) write();
  }
  void end(const RunSummary& summary) override {
    summary_ = summary;
    finished_ = true;
    write();
  }

 private:
  void write() const {
    write_output_file(path_, "--json",
                      make_document(run_, configurations_, finished_ ? &summary_ : nullptr).dump(1) + "\n");
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
