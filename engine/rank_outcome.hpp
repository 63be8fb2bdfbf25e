// What one rank of a configuration leaves behind (its iterations' stamps and phase totals, its
// memory, its error), shared by the runner and process mode's exchange: in process mode every
// process runs one rank and sends this to rank 0, which summarises them all as thread mode does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/memory_pools.hpp"
#include "engine/result.hpp"
#include "engine/scheduler.hpp"
#include "engine/stats.hpp"
#include "engine/timeline.hpp"
#include "engine/verify.hpp"

namespace llmt {

// One step of a request-list workload on one rank: its stamps (host nanoseconds once the
// iteration is resolved) and what the scheduler put in it.
struct TrafficStepRecord {
  std::uint64_t begin = 0, end = 0;
  Step step;
  std::uint64_t scheduler_ns = 0;  // host time choosing the step and recording it (Scheduler, step_pieces)
};

struct IterationRecord {
  std::uint64_t begin = 0, prefill_end = 0, end = 0;
  // Request-list workloads: the replica's steps, and how much of the slots they held did work.
  std::vector<TrafficStepRecord> traffic_steps;
  SlotUse slot_use;
  std::vector<std::uint64_t> step_end;
  std::vector<PhaseTotal> phases;
  // With CUDA graphs: the phases of one extra eager decode step, run after the iteration's end
  // (its time is in no latency sample): the per-phase breakdown graphs cannot give.
  std::vector<PhaseTotal> sampled_phases;
  std::vector<CollectiveCallTime> collective_calls;  // each collective call's own time, in order
};

struct RankOutcome {
  std::vector<IterationRecord> iterations;
  bool cuda_graphs = false;
  std::vector<AttentionUse> attention;
  StopReason stop = StopReason::target_met;
  double setup_s = 0;
  RankMemory memory;
  // MoE, tensor-parallel rank 0 only (its peers route the same tokens): [global layer][expert]
  // tokens routed in the first iteration; layers of other stages empty.
  std::vector<std::vector<long long>> expert_tokens;
  std::vector<std::vector<long long>> expert_tokens_decode;  // the decode steps' part of expert_tokens
  long long routes_agreed = 0, routes_compared = 0;  // with forced routes: the own choices that agreed
  ProcessMemoryRecord process;  // process mode: this rank's process, measured by itself
  std::string error;
  bool aborted = false;  // failed only because another rank failed
};

// With forced routes (engine/teacher_forcing.cpp): the share of the ranks' own routing choices
// that agreed with the reference's, -1 when none was compared.
double routing_agreement(const std::vector<RankOutcome>& outcomes);

// Process mode's message from one rank to rank 0: its outcome, the phases its ids refer to (each
// process registers phases in its own table), the logits it captured (the rank holding the
// output), and its clock when the configuration started, to align the stamps of other hosts.
// `last`, `last_step`: the last measured iteration's logits (last_step -1: none kept).
std::string encode_rank_message(const RankOutcome& outcome, const PhaseTable& table, const StepLogits& logits,
                                const std::vector<float>& last, int last_step, std::int64_t start_ns);
struct RankMessage {
  RankOutcome outcome;
  StepLogits logits;
  std::vector<float> last;
  int last_step = -1;
  std::int64_t start_ns = 0;
};
// Decodes a message, re-numbering its phases as ids of `table` (adding the ones it lacks).
// Throws Error on a malformed message.
RankMessage decode_rank_message(const std::string& bytes, PhaseTable& table);
// Moves every stamp of `outcome` by `delta_ns` (a rank on another host: its clock to rank 0's).
void shift_stamps(RankOutcome& outcome, std::int64_t delta_ns);

}  // namespace llmt
