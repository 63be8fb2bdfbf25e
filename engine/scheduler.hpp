// Batching on one replica: which tokens of which requests each step computes. Pure: the caller
// runs the step and passes the times in (an injected clock), so tests drive it by hand and a
// runner drives it with its own clock. docs/workloads.md ("Batching modes").
#pragma once

#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/workload.hpp"

namespace llmt {

// static_batches: up to `slots` arrived requests at a time, in arrival order; the batch's prompts
//   run as one prefill step, then decode steps until its last sequence ends (a finished sequence
//   leaves the steps but keeps its slot); then the next batch.
// continuous: up to `slots` requests running; at every step arrived requests take free slots
//   (first come, first served). prefill_chunk 0: the newly admitted requests' prompts run as a
//   step of their own (several packed within token_budget) before decoding resumes (vLLM v0);
//   prefill_chunk T: each step has every running decode row, then prompt chunks of at most T
//   tokens per request within token_budget (Sarathi-Serve, vLLM v1's chunked prefill).
enum class BatchingMode { static_batches, continuous };
inline constexpr BatchingMode kAllBatchingModes[] = {BatchingMode::static_batches, BatchingMode::continuous};
std::string_view batching_mode_name(BatchingMode m);  // "static", "continuous"
std::optional<BatchingMode> parse_batching_mode(std::string_view s);

struct BatchingOptions {
  BatchingMode mode = BatchingMode::static_batches;
  int slots = 1;          // sequences at once: the KV-cache rows of the replica
  int token_budget = 0;   // continuous: most tokens per step, 0 = no limit
  int prefill_chunk = 0;  // continuous: 0 = a prompt's prefill is one step of its own
};

// One sequence's part of a step: the tokens at positions [first_position, first_position + tokens)
// of request `request` (an index into the RequestList), in KV-cache row `slot`.
struct StepItem {
  int request = 0;
  int slot = 0;
  int first_position = 0;
  int tokens = 0;
  bool emits = false;   // produces an output token: a decode row, or the last chunk of a prompt
  bool decode = false;  // a decode row (one generated token fed back), else prompt tokens
  bool operator==(const StepItem&) const = default;
};

struct Step {
  std::vector<StepItem> items;
  int tokens() const;
  int decode_rows() const;
  int prefill_tokens() const;
  bool empty() const { return items.empty(); }
  bool operator==(const Step&) const = default;
};

// When each request passed each point; NaN where it has not yet.
struct RequestTimes {
  int request = 0;
  double arrival_s = 0;
  double admitted_s = std::numeric_limits<double>::quiet_NaN();
  double first_token_s = std::numeric_limits<double>::quiet_NaN();
  double finished_s = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> token_s;  // when each output token was produced (the emitting step's completion)
};

// How much of the work done was for real tokens (docs/metrics.md, "Slot use").
struct SlotUse {
  long long decode_rows = 0;        // decode rows that carried a real token
  long long decode_slots_held = 0;  // slots x steps with decode rows
  long long prefill_tokens = 0;     // real prompt tokens in steps with prompt tokens
  long long prefill_padded = 0;     // sum over those steps of items x the step's longest item
  double decode_fraction() const;   // decode_rows / decode_slots_held; 1 without decode steps
  double prefill_fraction() const;  // prefill_tokens / prefill_padded; 1 without prefill steps
};

class Scheduler {
 public:
  // `requests`: this replica's requests (indices into `list`), in arrival order.
  Scheduler(const RequestList& list, std::vector<int> requests, BatchingOptions options);

  // The next step at time `now_s`; empty when nothing has arrived that can run. Requests are
  // never admitted before they arrive. The step must be completed before the next is asked for.
  Step next_step(double now_s);
  // The step returned last has finished at `now_s`: its tokens are produced.
  void complete(const Step& step, double now_s);
  bool done() const;
  // When the earliest request not yet admitted arrives (it may already have); +inf when none.
  double next_arrival_s() const;
  const std::vector<RequestTimes>& times() const { return times_; }  // in this replica's order
  SlotUse slot_use() const { return use_; }
  int steps_completed() const { return steps_; }

 private:
  struct Sequence {
    int request = 0, prompt = 1, output = 1;
    double arrival_s = 0;
    int slot = -1, prefilled = 0, generated = 0;
    bool finished = false;
  };
  void admit(int seq, double now_s);
  void finish(int seq, double now_s);
  Step next_static_step(double now_s);
  Step next_continuous_step(double now_s);
  StepItem decode_row(const Sequence& s) const;
  StepItem prompt_item(const Sequence& s, int tokens) const;

  BatchingOptions options_;
  std::vector<Sequence> seqs_;           // this replica's requests, in arrival order
  std::vector<RequestTimes> times_;      // parallel to seqs_
  std::vector<int> seq_of_request_;      // list index -> index in seqs_, -1 when not this replica's
  std::size_t next_waiting_ = 0;         // seqs_[next_waiting_...] not yet admitted
  std::vector<int> running_;             // admitted, unfinished, in admission order
  std::vector<bool> slot_busy_;
  std::vector<int> batch_;               // static: the batch in progress (its sequences hold their slots)
  std::optional<Step> pending_;          // returned by next_step, not yet completed
  SlotUse use_;
  int finished_ = 0, steps_ = 0;
};

// Refuses (ConfigError, naming the option) batching options that cannot run `list`: slots below
// 1, a negative budget or chunk; under continuous batching a token budget below the slots (every
// running sequence's decode row must fit in a step, as vLLM requires), or, without chunks, below
// the longest prompt (named by its row).
void check_batching_options(const BatchingOptions& options, const RequestList& list);

// The whole schedule of one replica under a clock that advances `step_s` per step and jumps to
// the next arrival when nothing can run: for tests and the scheduler benchmark.
struct ScheduleRun {
  int steps = 0;
  int prefill_steps = 0;  // prompt tokens only
  int decode_steps = 0;   // decode rows only
  int mixed_steps = 0;    // both (chunked prefill)
  double end_s = 0;       // when the last step completed
  std::vector<RequestTimes> times;
  SlotUse use;
};
ScheduleRun simulate_schedule(const RequestList& list, std::vector<int> requests, const BatchingOptions& options,
                              double step_s = 1.0);

}  // namespace llmt
