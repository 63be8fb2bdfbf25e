// Per-rank phase timing. Phases have stable slash-separated paths ("prefill/layer.3/attn/qkv")
// shared by the timers, the reports and the NVTX ranges. A rank records begin/end stamps from
// its backend during an iteration and folds them into per-phase totals when the iteration ends.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "engine/communicator.hpp"

namespace llmt {

class Backend;

enum class PhaseCategory {
  compute,        // kernels on the rank's critical path
  communication,  // collectives (or waits for them) on the critical path: exposed sync time
  background,     // collectives running beside compute (overlap mode): total but not exposed
  transfer,       // pipeline send/recv between stages, on the critical path
};
std::string_view phase_category_name(PhaseCategory c);

struct PhaseInfo {
  std::string path;
  PhaseCategory category = PhaseCategory::compute;
  CommOp op = CommOp::barrier;  // meaningful for communication, background and transfer phases
  int group_size = 1;           // ranks taking part in the collective
  std::string group;            // "tp", "dp", "pp", "world"
  std::string detail;           // e.g. GEMM shape "m=512 n=6144 k=4096"
  bool counts_as_sync_total = false;  // the collective itself (not a wait for it)
  // A collective the communicator runs as one call (all-reduce, all-gather, reduce-scatter,
  // all-to-all), not a wait for one, a pipeline transfer or the parameter-server star of
  // point-to-point messages.
  bool times_a_collective() const;
  int layer = -1;                     // from "layer.N" in the path: the NVTX payload of compute phases
  const void* nvtx_name = nullptr;    // registered when the phase is added
};

using PhaseId = std::uint32_t;

// Shared by the ranks of one configuration; phases are registered during set-up.
class PhaseTable {
 public:
  PhaseId add(const PhaseInfo& info);  // returns the existing id for a known path
  const PhaseInfo& at(PhaseId id) const { return phases_[id]; }
  std::size_t size() const { return phases_.size(); }

 private:
  mutable std::mutex mutex_;
  std::vector<PhaseInfo> phases_;
};

struct PhaseTotal {
  std::uint32_t calls = 0;
  std::uint64_t nanoseconds = 0;
  std::uint64_t bytes = 0;
};

// One call of a collective on one rank (PhaseInfo::times_a_collective), in the rank's call order.
struct CollectiveCallTime {
  PhaseId id = 0;
  std::uint64_t nanoseconds = 0, bytes = 0;
};

class Timeline {
 public:
  Timeline(Backend& backend, const PhaseTable& table) : backend_(backend), table_(table) {}

  // `bytes`: the payload of a communication phase (also reported), known when it starts.
  void begin(PhaseId id, std::uint64_t bytes = 0);
  void end(PhaseId id, std::uint64_t bytes = 0);
  // An event timed elsewhere (a collective on the communication thread or stream).
  void record(PhaseId id, std::uint64_t begin, std::uint64_t end, std::uint64_t bytes);
  // Paused while work is captured into a graph (nothing runs, so there is nothing to time).
  void set_recording(bool on) { recording_ = on; }
  // Folds the events recorded since the last call into per-phase totals (indexed by PhaseId), and
  // appends each collective call's own time to `collective_calls` when given. Called between
  // iterations, never inside a timed one.
  std::vector<PhaseTotal> collect(std::vector<CollectiveCallTime>* collective_calls = nullptr);

 private:
  struct Event {
    PhaseId id;
    std::uint64_t begin, end, bytes;
  };
  Backend& backend_;
  const PhaseTable& table_;
  std::vector<Event> events_;
  std::vector<std::size_t> open_;
  bool recording_ = true;
};

// RAII phase: ScopedPhase p(timeline, id[, bytes]).
class ScopedPhase {
 public:
  ScopedPhase(Timeline& t, PhaseId id, std::uint64_t bytes = 0) : t_(t), id_(id), bytes_(bytes) { t_.begin(id_, bytes); }
  ~ScopedPhase() { t_.end(id_, bytes_); }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  Timeline& t_;
  PhaseId id_;
  std::uint64_t bytes_ = 0;
};

}  // namespace llmt
