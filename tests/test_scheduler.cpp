// Batching on one replica with an injected clock: static and continuous (whole and chunked
// prefill) step by step on hand-made lists whose schedules are worked out in the comments, the
// slot use, and open-loop admission (nothing admitted before it arrives; queueing delays).
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "engine/scheduler.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

// A: prompt 4, output 3; B: prompt 2, output 1; C: prompt 6, output 5. All at 0.
RequestList abc() {
  RequestList list;
  list.source = "abc";
  list.requests = {{4, 3, 0.0}, {2, 1, 0.0}, {6, 5, 0.0}};
  return list;
}

BatchingOptions options(BatchingMode mode, int slots, int budget = 0, int chunk = 0) {
  return BatchingOptions{mode, slots, budget, chunk};
}

StepItem prompt(int request, int slot, int first, int tokens, bool emits) {
  return {request, slot, first, tokens, emits, false};
}
StepItem decode(int request, int slot, int position) { return {request, slot, position, 1, true, true}; }

TEST(Scheduler, ModeNames) {
  EXPECT_EQ(parse_batching_mode("static"), BatchingMode::static_batches);
  EXPECT_EQ(parse_batching_mode("continuous"), BatchingMode::continuous);
  EXPECT_EQ(batching_mode_name(BatchingMode::static_batches), "static");
  EXPECT_FALSE(parse_batching_mode("dynamic"));
}

TEST(Scheduler, StaticBatchesRunUntilTheirLastSequenceEnds) {
  // Batch {A, B}: one prefill step (B ends there), two decode steps of A alone while B's slot
  // stays held; then batch {C}: a prefill step and four decode steps. 8 steps.
  Scheduler s(abc(), {0, 1, 2}, options(BatchingMode::static_batches, 2));
  Step step = s.next_step(0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 0, 4, true), prompt(1, 1, 0, 2, true)}));
  s.complete(step, 1);
  step = s.next_step(1);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 4)}));
  s.complete(step, 2);
  step = s.next_step(2);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 5)}));
  s.complete(step, 3);
  step = s.next_step(3);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(2, 0, 0, 6, true)}));
  EXPECT_FALSE(s.done());

  const ScheduleRun run = simulate_schedule(abc(), {0, 1, 2}, options(BatchingMode::static_batches, 2));
  EXPECT_EQ(run.steps, 8);
  EXPECT_EQ(run.prefill_steps, 2);
  EXPECT_EQ(run.decode_steps, 6);
  EXPECT_EQ(run.mixed_steps, 0);
  EXPECT_EQ(run.end_s, 8);
  EXPECT_EQ(run.times[0].token_s, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(run.times[1].finished_s, 1);
  EXPECT_EQ(run.times[2].admitted_s, 3);  // C waits for the first batch to end
  EXPECT_EQ(run.times[2].first_token_s, 4);
  EXPECT_EQ(run.times[2].finished_s, 8);
  // Decode: 6 real rows over 2 slots x 6 decode steps. Prefill: 12 prompt tokens over
  // 2 x 4 (A and B padded to A's 4) + 1 x 6.
  EXPECT_EQ(run.use.decode_rows, 6);
  EXPECT_EQ(run.use.decode_slots_held, 12);
  EXPECT_DOUBLE_EQ(run.use.decode_fraction(), 0.5);
  EXPECT_EQ(run.use.prefill_tokens, 12);
  EXPECT_EQ(run.use.prefill_padded, 14);
  EXPECT_DOUBLE_EQ(run.use.prefill_fraction(), 12.0 / 14.0);
}

TEST(Scheduler, ContinuousFillsAFreedSlotAtOnce) {
  // Step 1 prefills A and B (B ends); C takes B's slot and prefills alone in step 2; steps 3-4
  // decode A and C (A ends), steps 5-6 decode C. 6 steps, 2 fewer than static.
  Scheduler s(abc(), {0, 1, 2}, options(BatchingMode::continuous, 2));
  Step step = s.next_step(0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 0, 4, true), prompt(1, 1, 0, 2, true)}));
  s.complete(step, 1);
  step = s.next_step(1);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(2, 1, 0, 6, true)}));
  s.complete(step, 2);
  step = s.next_step(2);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 4), decode(2, 1, 6)}));

  const ScheduleRun run = simulate_schedule(abc(), {0, 1, 2}, options(BatchingMode::continuous, 2));
  EXPECT_EQ(run.steps, 6);
  EXPECT_EQ(run.prefill_steps, 2);
  EXPECT_EQ(run.decode_steps, 4);
  EXPECT_EQ(run.times[2].admitted_s, 1);
  EXPECT_EQ(run.times[2].finished_s, 6);
  EXPECT_EQ(run.times[0].token_s, (std::vector<double>{1, 3, 4}));  // A waits out C's prefill
  // Decode: rows 2 + 2 + 1 + 1 over 2 slots x 4 steps, above static's 0.5.
  EXPECT_DOUBLE_EQ(run.use.decode_fraction(), 0.75);
  EXPECT_DOUBLE_EQ(run.use.prefill_fraction(), 12.0 / 14.0);
}

TEST(Scheduler, ChunkedPrefillMixesChunksWithDecodeRows) {
  // Chunks of 2: step 1 A[0,2) and B[0,2) (B ends); step 2 A[2,4) (first token) and C[0,2);
  // steps 3 and 4 decode A beside C's next chunks (C's first token at step 4, A ends);
  // steps 5 to 8 decode C. 2 prefill-only, 2 mixed, 4 decode steps.
  Scheduler s(abc(), {0, 1, 2}, options(BatchingMode::continuous, 2, 0, 2));
  Step step = s.next_step(0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 0, 2, false), prompt(1, 1, 0, 2, true)}));
  s.complete(step, 1);
  step = s.next_step(1);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 2, 2, true), prompt(2, 1, 0, 2, false)}));
  s.complete(step, 2);
  step = s.next_step(2);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 4), prompt(2, 1, 2, 2, false)}));
  s.complete(step, 3);
  step = s.next_step(3);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 5), prompt(2, 1, 4, 2, true)}));
  EXPECT_EQ(step.tokens(), 3);
  EXPECT_EQ(step.decode_rows(), 1);
  EXPECT_EQ(step.prefill_tokens(), 2);

  const ScheduleRun run = simulate_schedule(abc(), {0, 1, 2}, options(BatchingMode::continuous, 2, 0, 2));
  EXPECT_EQ(run.steps, 8);
  EXPECT_EQ(run.prefill_steps, 2);
  EXPECT_EQ(run.mixed_steps, 2);
  EXPECT_EQ(run.decode_steps, 4);
  EXPECT_EQ(run.times[0].first_token_s, 2);
  EXPECT_EQ(run.times[2].first_token_s, 4);
  // Decode rows 1 + 1 + 4 over 2 slots x 6 steps with decode rows; chunks are never padded.
  EXPECT_DOUBLE_EQ(run.use.decode_fraction(), 0.5);
  EXPECT_DOUBLE_EQ(run.use.prefill_fraction(), 1.0);
}

TEST(Scheduler, TokenBudgetLimitsAStep) {
  // Budget 7, whole prompts: A (4) and B (2) fit, C (6) waits for its own step.
  Scheduler whole(abc(), {0, 1, 2}, options(BatchingMode::continuous, 3, 7));
  Step step = whole.next_step(0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 0, 4, true), prompt(1, 1, 0, 2, true)}));
  whole.complete(step, 1);
  EXPECT_EQ(whole.next_step(1).items, (std::vector<StepItem>{prompt(2, 2, 0, 6, true)}));
  // Budget 4, chunks of 3: A's first 3 tokens, then 1 of B's 2; C gets nothing this step.
  Scheduler chunked(abc(), {0, 1, 2}, options(BatchingMode::continuous, 3, 4, 3));
  EXPECT_EQ(chunked.next_step(0).items, (std::vector<StepItem>{prompt(0, 0, 0, 3, false), prompt(1, 1, 0, 1, false)}));
  EXPECT_EQ(simulate_schedule(abc(), {0, 1, 2}, options(BatchingMode::continuous, 3, 4, 3)).times.size(), 3u);
}

TEST(Scheduler, AssertsExactStepCountsOfEqualRequests) {
  // 6 equal requests (prompt 3, output 4), 4 slots. Static: 2 batches x (1 + 3) = 8 steps.
  // Continuous: the first 4 decode together; the last 2 are admitted only when slots free.
  RequestList list;
  list.source = "equal";
  list.requests.assign(6, Request{3, 4, 0.0});
  EXPECT_EQ(simulate_schedule(list, {0, 1, 2, 3, 4, 5}, options(BatchingMode::static_batches, 4)).steps, 8);
  // Continuous: prefill 4, 3 decodes (all 4 end), prefill 2, 3 decodes: also 8.
  EXPECT_EQ(simulate_schedule(list, {0, 1, 2, 3, 4, 5}, options(BatchingMode::continuous, 4)).steps, 8);
  // One slot: 6 x (1 + 3) = 24 either way.
  EXPECT_EQ(simulate_schedule(list, {0, 1, 2, 3, 4, 5}, options(BatchingMode::continuous, 1)).steps, 24);
  // Output 1: every request ends at its prefill; 6 slots: one step.
  list.requests.assign(6, Request{3, 1, 0.0});
  const ScheduleRun one = simulate_schedule(list, {0, 1, 2, 3, 4, 5}, options(BatchingMode::static_batches, 6));
  EXPECT_EQ(one.steps, 1);
  EXPECT_EQ(one.use.decode_slots_held, 0);
  EXPECT_DOUBLE_EQ(one.use.decode_fraction(), 1.0);
}

// r0 at 0 s (prompt 3, output 2), r1 at 1 s (prompt 2, output 2), r2 at 1.1 s (prompt 2, output 1).
RequestList open_loop() {
  RequestList list;
  list.source = "open";
  list.requests = {{3, 2, 0.0}, {2, 2, 1.0}, {2, 1, 1.1}};
  return list;
}

TEST(Scheduler, OpenLoopNeverAdmitsBeforeArrival) {
  Scheduler s(open_loop(), {0, 1, 2}, options(BatchingMode::continuous, 2));
  Step step = s.next_step(0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(0, 0, 0, 3, true)}));
  s.complete(step, 0.25);
  step = s.next_step(0.25);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(0, 0, 3)}));
  s.complete(step, 0.5);
  EXPECT_TRUE(s.next_step(0.5).empty());  // r0 done, r1 not yet arrived
  EXPECT_TRUE(s.next_step(0.99).empty());
  EXPECT_EQ(s.next_arrival_s(), 1.0);
  step = s.next_step(1.0);
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(1, 0, 0, 2, true)}));
  s.complete(step, 1.2);
  step = s.next_step(1.2);  // r2 arrived at 1.1: admitted now, its prefill before r1's decode
  EXPECT_EQ(step.items, (std::vector<StepItem>{prompt(2, 1, 0, 2, true)}));
  s.complete(step, 1.3);
  step = s.next_step(1.3);
  EXPECT_EQ(step.items, (std::vector<StepItem>{decode(1, 0, 2)}));
  s.complete(step, 1.6);
  EXPECT_TRUE(s.done());
  EXPECT_TRUE(std::isinf(s.next_arrival_s()));
  const std::vector<RequestTimes>& t = s.times();
  EXPECT_EQ(t[0].admitted_s, 0);
  EXPECT_EQ(t[1].admitted_s, 1.0);
  EXPECT_EQ(t[2].admitted_s, 1.2);
  EXPECT_NEAR(t[2].admitted_s - t[2].arrival_s, 0.1, 1e-12);  // queueing delay
  EXPECT_EQ(t[1].token_s, (std::vector<double>{1.2, 1.6}));
  for (const RequestTimes& r : t) EXPECT_GE(r.admitted_s, r.arrival_s);
}

TEST(Scheduler, StaticOpenLoopQueuesBehindTheRunningBatch) {
  // One slot: r2 (arrived 1.1 s) waits until r1's batch ends at 1.6 s.
  Scheduler s(open_loop(), {0, 1, 2}, options(BatchingMode::static_batches, 1));
  const double ends[] = {0.25, 0.5};
  for (double end : ends) s.complete(s.next_step(end - 0.25), end);
  EXPECT_TRUE(s.next_step(0.5).empty());
  s.complete(s.next_step(1.0), 1.2);
  EXPECT_EQ(s.next_step(1.2).items, (std::vector<StepItem>{decode(1, 0, 2)}));  // r2 waits
  s.complete(Step{{decode(1, 0, 2)}}, 1.6);
  s.complete(s.next_step(1.6), 1.7);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.times()[2].admitted_s, 1.6);
  EXPECT_NEAR(s.times()[2].admitted_s - s.times()[2].arrival_s, 0.5, 1e-12);
  EXPECT_EQ(s.times()[2].finished_s, 1.7);
}

TEST(Scheduler, SimulatedClockJumpsToArrivals) {
  const ScheduleRun run = simulate_schedule(open_loop(), {0, 1, 2}, options(BatchingMode::continuous, 2), 0.5);
  // r0: steps end 0.5, 1.0; r1 admitted at 1.0 (prefill ends 1.5); r2 admitted at 1.5
  // (prefill ends 2.0); r1's decode ends 2.5.
  EXPECT_EQ(run.times[1].admitted_s, 1.0);
  EXPECT_EQ(run.times[2].admitted_s, 1.5);
  EXPECT_EQ(run.times[2].finished_s, 2.0);
  EXPECT_EQ(run.times[1].finished_s, 2.5);
  EXPECT_EQ(run.end_s, 2.5);
}

TEST(Scheduler, OnlyThisReplicasRequests) {
  const ScheduleRun run = simulate_schedule(abc(), {2}, options(BatchingMode::continuous, 2));
  ASSERT_EQ(run.times.size(), 1u);
  EXPECT_EQ(run.times[0].request, 2);
  EXPECT_EQ(run.steps, 5);  // prefill + 4 decode steps
}

TEST(Scheduler, RefusesMisuse) {
  Scheduler s(abc(), {0, 1, 2}, options(BatchingMode::continuous, 2));
  const Step step = s.next_step(0);
  EXPECT_THROW(s.next_step(0), std::logic_error);  // the step is not completed
  EXPECT_THROW(s.complete(Step{{decode(0, 0, 4)}}, 1), std::logic_error);
  s.complete(step, 1);
  EXPECT_THROW(Scheduler(abc(), {0, 0}, options(BatchingMode::continuous, 2)), std::invalid_argument);
  EXPECT_THROW(Scheduler(abc(), {0}, options(BatchingMode::continuous, 0)), ConfigError);
}

TEST(Scheduler, ChecksBatchingOptions) {
  const RequestList list = abc();
  check_batching_options(options(BatchingMode::continuous, 2, 6), list);
  check_batching_options(options(BatchingMode::static_batches, 8, 3), list);  // static takes no budget
  check_batching_options(options(BatchingMode::continuous, 2, 2, 1), list);
  const auto message = [&](const BatchingOptions& o) {
    try {
      check_batching_options(o, list);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message(options(BatchingMode::continuous, 4, 3, 2)).find("below the 4 slots"), std::string::npos);
  EXPECT_NE(message(options(BatchingMode::continuous, 2, 5)).find("request 3 of abc (6 tokens)"), std::string::npos);
  EXPECT_NE(message(options(BatchingMode::continuous, 2, -1)).find("--token-budget"), std::string::npos);
  EXPECT_NE(message(options(BatchingMode::continuous, 2, 0, -1)).find("--prefill-chunk"), std::string::npos);
  EXPECT_NE(message(options(BatchingMode::continuous, 0)).find("--batch"), std::string::npos);
}

}  // namespace
}  // namespace llmt
