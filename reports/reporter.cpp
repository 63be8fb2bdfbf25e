#include "reports/reporter.hpp"

namespace llmt {

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
