#include "reports/reporter.hpp"

namespace llmt {

void MultiReporter::begin(const RunMetadata& run) {
  for (auto& r : reporters_) r->begin(run);
}
void MultiReporter::add(const ConfigResult& result) {
  for (auto& r : reporters_) r->add(result);
}
void MultiReporter::end() {
  for (auto& r : reporters_) r->end();
}

}  // namespace llmt
