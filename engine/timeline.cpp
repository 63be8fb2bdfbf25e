#include "engine/timeline.hpp"

#include <algorithm>
#include <cstdlib>

#include "engine/backend.hpp"
#include "engine/nvtx.hpp"

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

bool PhaseInfo::times_a_collective() const {
  const bool collective_op = op == CommOp::all_reduce || op == CommOp::all_gather || op == CommOp::reduce_scatter ||
                             op == CommOp::all_to_all;
  return collective_op && counts_as_sync_total &&
         (category == PhaseCategory::communication || category == PhaseCategory::background);
}

PhaseId PhaseTable::add(const PhaseInfo& info) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < phases_.size(); ++i)
    if (phases_[i].path == info.path) return static_cast<PhaseId>(i);
  PhaseInfo p = info;
  const auto at = p.path.find("layer.");
  if (at != std::string::npos) p.layer = std::atoi(p.path.c_str() + at + 6);
  p.nvtx_name = nvtx::register_name(p.path);
  phases_.push_back(std::move(p));
  return static_cast<PhaseId>(phases_.size() - 1);
}

namespace {
nvtx::Color color_of(PhaseCategory c) {
  switch (c) {
    case PhaseCategory::compute: return nvtx::Color::compute;
    case PhaseCategory::communication: return nvtx::Color::communication;
    case PhaseCategory::background: return nvtx::Color::background;
    case PhaseCategory::transfer: return nvtx::Color::transfer;
  }
  return nvtx::Color::structure;
}
}  // namespace

void Timeline::begin(PhaseId id, std::uint64_t bytes) {
  const PhaseInfo& info = table_.at(id);
  if (!recording_) return;
  nvtx::push(info.nvtx_name, color_of(info.category),
             info.category == PhaseCategory::compute ? static_cast<std::uint64_t>(std::max(info.layer, 0)) : bytes);
  open_.push_back(events_.size());
  events_.push_back({id, backend_.stamp(), 0, 0});
}

void Timeline::end(PhaseId id, std::uint64_t bytes) {
  if (!recording_) return;
  Event& e = events_[open_.back()];
  open_.pop_back();
  (void)id;
  e.end = backend_.stamp();
  e.bytes = bytes;
  nvtx::pop();
}

void Timeline::record(PhaseId id, std::uint64_t begin, std::uint64_t end, std::uint64_t bytes) {
  events_.push_back({id, begin, end, bytes});
}

std::vector<PhaseTotal> Timeline::collect(std::vector<CollectiveCallTime>* collective_calls) {
  backend_.synchronize();
  std::vector<PhaseTotal> totals(table_.size());
  for (const Event& e : events_) {
    PhaseTotal& t = totals[e.id];
    const std::uint64_t ns = backend_.to_ns(e.end) - backend_.to_ns(e.begin);
    t.calls += 1;
    t.nanoseconds += ns;
    t.bytes += e.bytes;
    if (collective_calls && table_.at(e.id).times_a_collective()) collective_calls->push_back({e.id, ns, e.bytes});
  }
  events_.clear();
  backend_.recycle_stamps();
  return totals;
}

}  // namespace llmt
