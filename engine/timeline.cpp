#include "engine/timeline.hpp"

#include "engine/backend.hpp"

namespace llmt {

std::string_view phase_category_name(PhaseCategory c) {
  switch (c) {
    case PhaseCategory::compute: return "compute";
    case PhaseCategory::communication: return "communication";
    case PhaseCategory::background: return "background";
    case PhaseCategory::transfer: return "transfer";
  }
  return "?";
}

PhaseId PhaseTable::add(const PhaseInfo& info) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < phases_.size(); ++i)
    if (phases_[i].path == info.path) return static_cast<PhaseId>(i);
  phases_.push_back(info);
  return static_cast<PhaseId>(phases_.size() - 1);
}

void Timeline::begin(PhaseId id) {
  open_.push_back(events_.size());
  events_.push_back({id, backend_.stamp(), 0, 0});
}

void Timeline::end(PhaseId id, std::uint64_t bytes) {
  Event& e = events_[open_.back()];
  open_.pop_back();
  (void)id;
  e.end = backend_.stamp();
  e.bytes = bytes;
}

void Timeline::record(PhaseId id, std::uint64_t begin, std::uint64_t end, std::uint64_t bytes) {
  events_.push_back({id, begin, end, bytes});
}

std::vector<PhaseTotal> Timeline::collect() {
  backend_.synchronize();
  std::vector<PhaseTotal> totals(table_.size());
  for (const Event& e : events_) {
    PhaseTotal& t = totals[e.id];
    t.calls += 1;
    t.nanoseconds += e.end - e.begin;
    t.bytes += e.bytes;
  }
  events_.clear();
  return totals;
}

}  // namespace llmt
