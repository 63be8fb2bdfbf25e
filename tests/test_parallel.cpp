// Parallel configurations end to end on the CPU backend: the merged logits of tensor and data
// parallel runs equal the one-rank logits, memory is accounted exactly, and failures are
// reported, not thrown.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "engine/backends.hpp"
#include "engine/reference.hpp"
#include "model/model.hpp"
#include "engine/runner.hpp"
#include "quick_options.hpp"
#include "strategies/sweep.hpp"

namespace llmt {
namespace {

using testing::quick_options;

struct ParallelCase {
  const char* model;
  const char* strategy;
  Layout layout;
};

void PrintTo(const ParallelCase& c, std::ostream* os) { *os << c.model << " " << c.strategy << " " << c.layout.label(); }

class ParallelMatchesReference : public ::testing::TestWithParam<ParallelCase> {};

TEST_P(ParallelMatchesReference, LogitsMemoryAndSamples) {
  const ParallelCase c = GetParam();
  const ModelConfig model = load_model(c.model);
  const RunOptions opts = quick_options();
  const Workload w{5, 7, 4};  // batch 5 splits unevenly over 2, 3 and 4 replicas
  const VerificationReference reference(compute_reference(model, w, opts));
  ASSERT_EQ(reference.logits.size(), 4u);
  ASSERT_EQ(reference.logits[0].size(), std::size_t(5) * model.vocab);

  ConfigPoint point{c.strategy, c.layout, SyncMode::blocking, MergeMode::concat, w};
  StepLogits got;
  const ConfigResult r = run_configuration(model, point, opts, &reference, &got);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  EXPECT_TRUE(r.verification.passed);
  EXPECT_LE(r.verification.max_rel_error, 1e-5);
  EXPECT_EQ(r.verification.elements, 4u * 5 * model.vocab);
  if (c.layout.ranks() == 1) {
    EXPECT_EQ(r.verification.max_abs_error, 0.0) << "one rank is bit-identical";
  }

  // Logits are real numbers that differ across positions, not a constant.
  EXPECT_NE(got[0][0], got[0][1]);
  EXPECT_NE(got[0][0], got[1][0]);

  ASSERT_EQ(r.metrics.memory.size(), std::size_t(c.layout.ranks()));
  for (const RankMemory& m : r.metrics.memory) {
    EXPECT_EQ(m.weights, m.predicted.weights);
    EXPECT_EQ(m.kv_cache, m.predicted.kv_cache);
    EXPECT_EQ(m.activations_peak, m.predicted.activations);
    EXPECT_GT(m.weights, 0u);
  }
  EXPECT_EQ(r.samples.e2e_ms.size(), 2u);
  EXPECT_EQ(r.samples.ttft_ms.size(), 2u);
  EXPECT_EQ(r.samples.decode_step_ms.size(), 2u * 3);
  EXPECT_EQ(r.samples.rank_busy_ms.size(), std::size_t(c.layout.ranks()));
  for (std::size_t i = 0; i < r.samples.e2e_ms.size(); ++i) {
    EXPECT_GT(r.samples.e2e_ms[i], 0.0);
    EXPECT_GE(r.samples.e2e_ms[i] + 1e-9, r.samples.ttft_ms[i]);
  }
  const bool communicates = c.layout.ranks() > 1;
  EXPECT_EQ(r.metrics.comm.empty(), !communicates);
  if (communicates) {
    EXPECT_GT(r.metrics.sync_ms.mean, 0.0);
    EXPECT_GT(r.metrics.comm_bytes, 0.0);
  }
}

std::vector<ParallelCase> cases() {
  std::vector<ParallelCase> out;
  for (const char* model : {"tiny", "tiny-gpt2"}) {
    for (int n : {1, 2, 3, 4, 6, 8})
      if (load_model(model).heads % n == 0 &&
          (load_model(model).kv_heads % n == 0 || n % load_model(model).kv_heads == 0))
        out.push_back({model, "tp", Layout{n, 1, 1}});
    for (int n : {2, 3, 4}) out.push_back({model, "dp", Layout{1, 1, n}});
    out.push_back({model, "tp", Layout{2, 1, 2}});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(CpuRanks, ParallelMatchesReference, ::testing::ValuesIn(cases()),
                         [](const auto& test) {
                           std::string n = std::string(test.param.model) + "_" + test.param.strategy + "_" +
                                           test.param.layout.label();
                           for (char& ch : n)
                             if (ch == '-' || ch == '.') ch = '_';
                           return n;
                         });

bool has_phase(const ConfigResult& r, const std::string& suffix, const std::string& category) {
  for (const PhaseSummary& p : r.metrics.phases)
    if (p.path.size() >= suffix.size() && p.path.compare(p.path.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        p.category == category && p.calls > 0)
      return true;
  return false;
}

struct StrategyCase {
  const char* model;
  const char* strategy;
};
void PrintTo(const StrategyCase& c, std::ostream* os) { *os << c.model << " " << c.strategy; }

class EveryCombination : public ::testing::TestWithParam<StrategyCase> {};

// Every sync x merge x grid x micro-batch count the planner accepts for a strategy matches the
// one-rank reference, and records what its modes promise.
TEST_P(EveryCombination, MatchesTheReferenceAndRecordsItsModes) {
  const StrategyCase c = GetParam();
  const ModelConfig model = load_model(c.model);
  RunOptions opts = quick_options();
  opts.iterations = 1;
  opts.exec.overlap_chunks = 3;
  SweepSpec spec;
  spec.ranks = {1, 2, 3, 4, 6, 8};
  spec.strategies = {c.strategy};
  spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
  spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
  spec.microbatches = {0, 1};
  const Workload w{6, 5, 3};
  spec.batches = {w.batch};
  spec.prompts = {w.prompt};
  spec.gens = {w.gen};
  ReferenceSet refs(model, opts);  // the bench's own: streamed fp32 logits, measured noise floor
  int ran = 0;
  for (const PlannedPoint& p : plan_sweep(model, spec, builtin_strategies())) {
    if (p.skip_reason) continue;
    ++ran;
    const ConfigResult r = run_configuration(model, p.point, opts, &refs.for_point(p.point));
    ASSERT_EQ(r.status, ConfigStatus::ok) << p.point.id() << ": " << r.reason;
    EXPECT_LE(r.verification.max_rel_error, 1e-5) << p.point.id();
    const Layout& l = p.point.layout;
    if (p.point.sync == SyncMode::overlap) {
      EXPECT_TRUE(has_phase(r, "attn/all_reduce_async", "background")) << p.point.id();
      EXPECT_TRUE(has_phase(r, "mlp/all_reduce_wait", "communication")) << p.point.id();
      EXPECT_GT(r.metrics.sync_total_ms.mean, 0.0) << p.point.id();
    }
    if (p.point.sync == SyncMode::param_server) {
      EXPECT_TRUE(has_phase(r, "_ps_reduce", "communication")) << p.point.id();
      EXPECT_TRUE(has_phase(r, "_ps_broadcast", "communication")) << p.point.id();
    }
    if (p.point.ensemble()) {
      EXPECT_TRUE(has_phase(r, "merge/mean", "communication") || has_phase(r, "merge/mean_ps_reduce", "communication"))
          << p.point.id();
      EXPECT_FALSE(r.replica_weights_shared);
    }
    if (p.point.tp_sum()) {
      EXPECT_TRUE(has_phase(r, "head/all_reduce", "communication") ||
                  has_phase(r, "head/all_reduce_ps_reduce", "communication"))
          << p.point.id();
    }
    if (l.pp > 1) {
      EXPECT_TRUE(has_phase(r, "prefill/pipeline/send", "transfer")) << p.point.id();
      EXPECT_TRUE(has_phase(r, "decode/pipeline/token_feedback_recv", "transfer")) << p.point.id();
      const PipelineSummary& pipe = r.metrics.pipeline;
      EXPECT_EQ(pipe.stages, l.pp);
      EXPECT_EQ(pipe.per_stage.size(), static_cast<std::size_t>(l.pp));
      EXPECT_GT(pipe.bubble_fraction, 0.0) << p.point.id();
      EXPECT_LT(pipe.bubble_fraction, 1.0) << p.point.id();
      EXPECT_DOUBLE_EQ(pipe.textbook_bubble_fraction, textbook_bubble_fraction(l.pp, p.point.microbatches));
    }
    for (const RankMemory& m : r.metrics.memory) {
      if (!r.replica_weights_shared) {
        EXPECT_EQ(m.weights, m.predicted.weights) << p.point.id();
      }
      EXPECT_EQ(m.activations_peak, m.predicted.activations) << p.point.id();
      EXPECT_EQ(m.communication_peak, m.predicted.communication) << p.point.id();
    }
  }
  EXPECT_GT(ran, 0);
}

INSTANTIATE_TEST_SUITE_P(CpuRanks, EveryCombination,
                         ::testing::Values(StrategyCase{"tiny", "tp"}, StrategyCase{"tiny", "dp"},
                                           StrategyCase{"tiny", "pp"}, StrategyCase{"tiny", "hybrid"},
                                           StrategyCase{"tiny-gpt2", "tp"}, StrategyCase{"tiny-gpt2", "dp"},
                                           StrategyCase{"tiny-gpt2", "pp"}, StrategyCase{"tiny-gpt2", "hybrid"}),
                         [](const auto& test) {
                           std::string n = std::string(test.param.model) + "_" + test.param.strategy;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Parallel, WeightedEnsembleMatchesTheWeightedMeanOfItsMembers) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts = quick_options();
  opts.exec.ensemble_weights = {3.0, 1.0};
  const Workload w{2, 5, 3};
  const StepLogits a = compute_reference(model, w, opts, 0), b = compute_reference(model, w, opts, 1);
  EXPECT_NE(a, b) << "ensemble members have weights of their own";
  const VerificationReference reference(weighted_mean({&a, &b}, opts.exec.ensemble_weights));
  EXPECT_FLOAT_EQ(reference.logits[1][7], (3.0f * a[1][7] + b[1][7]) / 4.0f);
  for (SyncMode sync : {SyncMode::blocking, SyncMode::param_server}) {
    const ConfigResult r = run_configuration(
        model, ConfigPoint{"dp", Layout{1, 1, 2}, sync, MergeMode::mean, w}, opts, &reference);
    ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
    EXPECT_LE(r.verification.max_rel_error, 1e-5);
  }
}

TEST(Parallel, TensorParallelIsDeterministicAcrossRuns) {
  const ModelConfig model = load_model("tiny");
  const RunOptions opts = quick_options();
  const ConfigPoint point{"tp", Layout{4, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{2, 5, 3}};
  StepLogits a, b;
  ASSERT_EQ(run_configuration(model, point, opts, nullptr, &a).status, ConfigStatus::ok);
  ASSERT_EQ(run_configuration(model, point, opts, nullptr, &b).status, ConfigStatus::ok);
  EXPECT_EQ(a, b);
}

TEST(Parallel, ReplicasCanShareOneCopyOfTheWeights) {
  const ModelConfig model = load_model("tiny-gpt2");
  RunOptions opts = quick_options();
  opts.replica_weights = ReplicaWeights::shared;
  const Workload w{3, 6, 3};
  const VerificationReference reference(compute_reference(model, w, opts));
  const ConfigResult r = run_configuration(
      model, ConfigPoint{"dp", Layout{2, 1, 3}, SyncMode::blocking, MergeMode::concat, w}, opts, &reference);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  EXPECT_TRUE(r.verification.passed);
  EXPECT_TRUE(r.replica_weights_shared);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("share one read-only copy"), std::string::npos);
  for (std::size_t rank = 0; rank < r.metrics.memory.size(); ++rank) {
    const RankMemory& m = r.metrics.memory[rank];
    // Replica 0 (ranks 0 and 1 of the tp2 x dp3 grid) owns the copy; the others allocate none.
    EXPECT_EQ(m.weights, rank < 2 ? m.predicted.weights : 0u) << "rank " << rank;
    EXPECT_EQ(m.kv_cache, m.predicted.kv_cache);
  }
}

TEST(Parallel, AWrongReferenceFailsVerification) {
  const ModelConfig model = load_model("tiny");
  const RunOptions opts = quick_options();
  const Workload w{2, 5, 3};
  VerificationReference reference(compute_reference(model, w, opts));
  reference.logits[2][17] += 0.5f;
  const ConfigResult r =
      run_configuration(model, ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, w}, opts,
                        &reference);
  EXPECT_EQ(r.status, ConfigStatus::failed);
  EXPECT_FALSE(r.verification.passed);
  EXPECT_NE(r.reason.find("verification failed"), std::string::npos) << r.reason;
  EXPECT_FALSE(r.samples.e2e_ms.empty()) << "the timings are still kept";
}

TEST(Parallel, MemoryAdmissionAndInvalidLayoutsAreReportedNotThrown) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts = quick_options();
  opts.memory_headroom = 1e-9;
  const Workload w{2, 5, 3};
  ConfigResult r = run_configuration(model, ConfigPoint{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, w},
                                     opts, nullptr);
  EXPECT_EQ(r.status, ConfigStatus::skipped) << "like nvbench, a configuration that cannot fit is skipped";
  EXPECT_NE(r.reason.find("insufficient host memory"), std::string::npos) << r.reason;

  r = run_configuration(model, ConfigPoint{"tp", Layout{3, 1, 1}, SyncMode::blocking, MergeMode::concat, w},
                        quick_options(), nullptr);
  EXPECT_EQ(r.status, ConfigStatus::skipped);
  EXPECT_NE(r.reason.find("does not divide"), std::string::npos);
}

// A rank whose thread cannot be created (the system refuses: too many threads, no address
// space for its stack) fails the configuration with the reason; the ranks already started are
// released, and the next configuration runs. The refusal is injected through a test hook, so the
// test does not depend on the machine's limits (CI runs as root, where RLIMIT_NPROC does not bind).
TEST(Parallel, ARankThreadThatCannotStartFailsTheConfiguration) {
  const ModelConfig model = load_model("tiny");
  const Workload w{2, 5, 3};
  const ConfigPoint point{"dp", Layout{1, 1, 4}, SyncMode::blocking, MergeMode::mean, w};
  for (int refused : {0, 2, 3}) {
    RunOptions opts = quick_options();
    opts.fail_rank_thread_start = refused;
    const ConfigResult r = run_configuration(model, point, opts, nullptr);
    EXPECT_EQ(r.status, ConfigStatus::failed);
    EXPECT_NE(r.reason.find("could not start the thread of rank " + std::to_string(refused) + " of 4"),
              std::string::npos)
        << r.reason;
    EXPECT_NE(r.reason.find("test hook: thread creation refused"), std::string::npos) << r.reason;
  }
  const ConfigResult next = run_configuration(model, point, quick_options(), nullptr);
  EXPECT_EQ(next.status, ConfigStatus::ok) << next.reason;
}

// The watchdog in the thread mode: rank 0 stays away (a 3 s injected delay) far longer than the
// 0.5 s collective timeout, so the others' wait fails the configuration instead of hanging, and
// the next configuration runs.
TEST(Parallel, ACollectiveThatWaitsTooLongFailsTheConfiguration) {
  const ModelConfig model = load_model("tiny");
  const Workload w{2, 5, 3};
  const ConfigPoint point{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, w};
  RunOptions opts = quick_options();
  opts.collective_timeout_s = 0.5;
  opts.inject_delay_ms = 3000;
  const auto start = std::chrono::steady_clock::now();
  const ConfigResult r = run_configuration(model, point, opts, nullptr);
  RecordProperty("reason", r.reason);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(r.status, ConfigStatus::failed);
  EXPECT_NE(r.reason.find("collective timeout: "), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("did not arrive"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reason.find("collective abandoned"), std::string::npos) << "the cause, not its consequence: " << r.reason;

  opts.inject_delay_ms = 0;
  opts.collective_timeout_s = 120;
  const ConfigResult next = run_configuration(model, point, opts, nullptr);
  EXPECT_EQ(next.status, ConfigStatus::ok) << next.reason;
}

}  // namespace
}  // namespace llmt
