// Verification catches bugs: each fault of engine/fault_injection.hpp (a wrong shard offset, a
// dropped all-reduce, a swapped RoPE, a wrong expert) fails verification in fp32 and in bf16
// under every strategy it applies to, and the same configuration passes without it. The swapped
// RoPE and the wrong expert hit the one-rank run as well, so the floor measured on it is inflated:
// the cap (engine/noise_cap.hpp) must refuse that floor and the fp32 reference expose the rest.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/fault_injection.hpp"
#include "engine/moe.hpp"
#include "engine/noise_cap.hpp"
#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"
#include "rounding_backend.hpp"

namespace llmt {
namespace {

const Workload kWorkload{2, 5, 3};  // two sequences (one per replica), prompt 5, 3 generated tokens

const char* fault_name(FaultInjection f) {
  switch (f) {
    case FaultInjection::none: return "none";
    case FaultInjection::shard_offset: return "shard_offset";
    case FaultInjection::dropped_all_reduce: return "dropped_all_reduce";
    case FaultInjection::swapped_rope: return "swapped_rope";
    case FaultInjection::wrong_expert: return "wrong_expert";
  }
  return "?";
}

struct FaultCase {
  const char* model;
  FaultInjection fault;
  const char* strategy;
  Layout layout;
  DType dtype;
};

std::string case_name(const FaultCase& c) {
  std::string n = std::string(c.model) + "_" + fault_name(c.fault) + "_" + c.strategy + "_" + c.layout.label() + "_" +
                  std::string(dtype_name(c.dtype));
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}
void PrintTo(const FaultCase& c, std::ostream* os) { *os << case_name(c); }

// bf16 and fp16 run on the CPU through tests/rounding_backend.hpp; the fp32 reference stays fp32.
RunOptions options_for(DType dtype, FaultInjection fault) {
  RunOptions o = testing::quick_options();
  testing::register_rounding_backend();
  if (dtype != DType::f32) o.backend = "cpu-rounded";
  o.dtype = dtype;
  o.iterations = 1;
  o.exec.fault = fault;
  return o;
}

// The configuration verified against the references of a run with the same options (the
// floor's one-rank run carries the fault too, as a bug in the engine would).
ConfigResult run_verified(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts) {
  ReferenceSet references(model, opts);
  return run_configuration(model, point, opts, &references.for_point(point));
}

class FaultFailsVerification : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FaultFailsVerification, AndPassesWithoutIt) {
  const FaultCase c = GetParam();
  const ModelConfig model = load_model(c.model);
  const ConfigPoint point{c.strategy, c.layout, SyncMode::blocking, MergeMode::concat, kWorkload};

  const ConfigResult clean = run_verified(model, point, options_for(c.dtype, FaultInjection::none));
  ASSERT_EQ(clean.status, ConfigStatus::ok) << clean.reason;
  EXPECT_TRUE(clean.verification.passed);
  EXPECT_TRUE(clean.verification.floor_trusted) << "a correct floor is within the cap";

  const ConfigResult faulty = run_verified(model, point, options_for(c.dtype, c.fault));
  ASSERT_TRUE(faulty.verification.checked) << faulty.reason;
  const Verification& v = faulty.verification;
  std::printf("fault: %-48s error %.3e tolerance %.3e (clean %.3e) floor %.3e cap %.3e%s\n", case_name(c).c_str(),
              v.max_rel_error, v.tolerance, clean.verification.max_rel_error, v.floor, v.floor_cap,
              v.floor_trusted ? "" : " floor not trusted");
  EXPECT_FALSE(faulty.verification.passed) << "max_rel_error " << faulty.verification.max_rel_error << ", tolerance "
                                           << faulty.verification.tolerance;
  EXPECT_EQ(faulty.status, ConfigStatus::failed);
  EXPECT_NE(faulty.reason.find("verification failed"), std::string::npos) << faulty.reason;
  // The tolerance never grows beyond the cap, whatever the floor measured.
  EXPECT_GT(faulty.verification.floor_cap, 0.0);
  EXPECT_LE(faulty.verification.tolerance, std::max(faulty.verification.floor_cap, faulty.verification.min_floor));
}

std::vector<FaultCase> cases() {
  std::vector<FaultCase> out;
  const Layout tp{2, 1, 1}, pp{1, 2, 1}, dp{1, 1, 2}, hybrid{2, 2, 1}, ep{1, 1, 2, true}, tp_ep{2, 1, 2, true};
  for (DType dtype : {DType::f32, DType::bf16}) {
    // A shard read at the wrong offset: every strategy that shards something.
    for (auto [strategy, layout] : {std::pair{"tp", tp}, {"pp", pp}, {"dp", dp}, {"hybrid", hybrid}})
      out.push_back({"tiny", FaultInjection::shard_offset, strategy, layout, dtype});
    out.push_back({"tiny-moe", FaultInjection::shard_offset, "ep", ep, dtype});
    out.push_back({"tiny-moe", FaultInjection::shard_offset, "tp", tp, dtype});
    // A dropped all-reduce: wherever ranks sum partial results (tensor parallelism).
    for (auto [strategy, layout] : {std::pair{"tp", tp}, {"hybrid", hybrid}})
      out.push_back({"tiny", FaultInjection::dropped_all_reduce, strategy, layout, dtype});
    out.push_back({"tiny-moe", FaultInjection::dropped_all_reduce, "ep", tp_ep, dtype});
    // Shared by every configuration, the one-rank run included.
    for (auto [strategy, layout] :
         {std::pair{"tp", Layout{1, 1, 1}}, {"tp", tp}, {"pp", pp}, {"dp", dp}, {"hybrid", hybrid}})
      out.push_back({"tiny", FaultInjection::swapped_rope, strategy, layout, dtype});
    for (auto [strategy, layout] :
         {std::pair{"tp", Layout{1, 1, 1}}, {"tp", tp}, {"pp", pp}, {"dp", dp}, {"ep", ep}, {"ep", tp_ep}})
      out.push_back({"tiny-moe", FaultInjection::wrong_expert, strategy, layout, dtype});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(CpuRanks, FaultFailsVerification, ::testing::ValuesIn(cases()),
                         [](const auto& test) { return case_name(test.param); });

// A fault every configuration shares inflates the floor measured on the one-rank run: the cap
// refuses it, the one-rank configuration fails saying so, and the tolerance comes from the cap.
TEST(FaultInjection, SharedFaultIsRefusedByTheCapNotAbsorbedByTheFloor) {
  const ModelConfig model = load_model("tiny");
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const RunOptions opts = options_for(dtype, FaultInjection::swapped_rope);
    const ConfigPoint one_rank{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, kWorkload};
    ReferenceSet references(model, opts);
    const VerificationReference& ref = references.for_point(one_rank);
    const double cap = noise_floor_cap(model, dtype, kWorkload.context()).value();
    EXPECT_DOUBLE_EQ(ref.floor_cap, cap);
    EXPECT_GT(ref.floor.error, cap) << dtype_name(dtype) << ": the inflated floor exceeds the cap";
    const ConfigResult r = run_configuration(model, one_rank, opts, &ref);
    EXPECT_EQ(r.status, ConfigStatus::failed);
    EXPECT_FALSE(r.verification.floor_trusted);
    EXPECT_NE(r.verification.note.find("noise floor is not trusted"), std::string::npos) << r.verification.note;
    EXPECT_DOUBLE_EQ(r.verification.tolerance, std::max(cap, r.verification.min_floor));
  }
}

// The cap's calibration: correct one-rank floors of the test models, in fp32 and bf16, short and
// longer workloads, stay well below the cap (the margin docs/metrics.md reports).
TEST(FaultInjection, CorrectFloorsStayWellBelowTheCap) {
  const std::string data = LLMT_TEST_DATA;
  const std::vector<std::string> models = {"tiny", "tiny-gpt2", "tiny-moe", data + "/tiny-qwen2-moe.json",
                                           data + "/biased-llama.json", data + "/golden/llama.json",
                                           data + "/golden/qwen2.json", data + "/golden/qwen3.json",
                                           data + "/golden/gpt2-gelu.json", data + "/golden/mistral-window.json",
                                           data + "/golden/yarn-rope.json"};
  double worst_share = 0;
  for (const std::string& name : models) {
    const ModelConfig model = load_model(name);
    for (DType dtype : {DType::f32, DType::f16, DType::bf16})
      for (const Workload& w : {kWorkload, Workload{2, 24, 8}}) {
        const ConfigPoint one_rank{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, w};
        const RunOptions opts = options_for(dtype, FaultInjection::none);  // ReferenceSet keeps a reference
        ReferenceSet references(model, opts);
        const VerificationReference& ref = references.for_point(one_rank);
        const double share = ref.floor.error / ref.floor_cap;
        std::printf("calibration: %-28s %-5s %-10s floor %.3e cap %.3e floor/cap %.3f\n",
                    name.substr(name.rfind('/') + 1).c_str(), std::string(dtype_name(dtype)).c_str(),
                    w.label().c_str(), ref.floor.error, ref.floor_cap, share);
        EXPECT_LT(share, 0.5) << name << " " << dtype_name(dtype) << " " << w.label();
        worst_share = std::max(worst_share, share);
      }
  }
  std::printf("calibration: largest floor/cap %.3f\n", worst_share);
}

// Teacher-forced routing: verified MoE configurations take the reference's experts, report how
// often their own choice agreed (every time in fp32 on these models; most of the time in bf16),
// and pass; without a reference nothing is forced and nothing is compared.
TEST(TeacherForcedRouting, ConfigurationsTakeTheReferencesExpertsAndReportAgreement) {
  const ModelConfig model = load_model("tiny-moe");
  for (DType dtype : {DType::f32, DType::bf16})
    for (const Layout& layout : {Layout{1, 1, 1}, Layout{2, 1, 1}, Layout{1, 1, 2, true}, Layout{1, 2, 1}}) {
      const RunOptions opts = options_for(dtype, FaultInjection::none);
      const ConfigPoint point{layout.experts_split ? "ep" : "tp", layout, SyncMode::blocking, MergeMode::concat,
                              kWorkload};
      ReferenceSet references(model, opts);
      const VerificationReference& ref = references.for_point(point);
      ASSERT_NE(ref.routes, nullptr);
      EXPECT_EQ(ref.routes->layers, model.layers);
      for (std::int32_t e : ref.routes->expert) EXPECT_TRUE(e >= 0 && e < model.experts) << "every token recorded";
      const ConfigResult r = run_configuration(model, point, opts, &ref);
      ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
      const double agreement = r.metrics.moe.routing_agreement;
      std::printf("routing agreement: %s %s %.4f\n", std::string(dtype_name(dtype)).c_str(), layout.label().c_str(),
                  agreement);
      if (dtype == DType::f32) {
        EXPECT_DOUBLE_EQ(agreement, 1.0) << layout.label();
      } else {
        EXPECT_GT(agreement, 0.5) << layout.label();
        EXPECT_LE(agreement, 1.0) << layout.label();
      }
    }
  const ConfigPoint alone{"tp", Layout{2, 1, 1}, SyncMode::blocking, MergeMode::concat, kWorkload};
  const ConfigResult unverified = run_configuration(model, alone, options_for(DType::f32, FaultInjection::none), nullptr);
  ASSERT_EQ(unverified.status, ConfigStatus::ok) << unverified.reason;
  EXPECT_EQ(unverified.metrics.moe.routing_agreement, -1.0) << "no reference: nothing compared";
}

// The table of choices: k experts per layer, sequence and position; null outside.
TEST(TeacherForcedRouting, ExpertChoicesTableIndexesTokens) {
  ExpertChoices table(2, 3, 4, 2);
  EXPECT_EQ(table.expert.size(), 2u * 3 * 4 * 2);
  EXPECT_EQ(table.at(2, 0, 0), nullptr);
  EXPECT_EQ(table.at(0, 3, 0), nullptr);
  EXPECT_EQ(table.at(0, 0, 4), nullptr);
  EXPECT_EQ(table.at(0, 0, -1), nullptr);
  table.at(1, 2, 3)[1] = 5;
  EXPECT_EQ(table.expert.back(), 5);
  EXPECT_EQ(table.at(0, 0, 1) - table.at(0, 0, 0), 2);
}

// Off, the seam changes nothing: the weights' shard and the fed sequences are the plan's.
TEST(FaultInjection, OffLeavesTheShardAlone) {
  const ModelConfig model = load_model("tiny-moe");
  const ConfigPoint point{"ep", Layout{2, 1, 2, true}, SyncMode::blocking, MergeMode::concat, Workload{4, 2, 2}};
  for (int r = 0; r < point.layout.ranks(); ++r) {
    const ShardPlan s = make_shard_plan(model, point, r);
    const ShardPlan w = weight_shard(model, s, FaultInjection::none);
    EXPECT_EQ(w.intermediate, s.intermediate);
    EXPECT_EQ(w.moe_intermediate, s.moe_intermediate);
    EXPECT_EQ(w.experts, s.experts);
    EXPECT_EQ(w.layers, s.layers);
    EXPECT_EQ(first_fed_sequence(s, FaultInjection::none), s.batch.begin);
    const ShardPlan moved = weight_shard(model, s, FaultInjection::shard_offset);
    EXPECT_EQ(moved.moe_intermediate.size(), s.moe_intermediate.size()) << "sizes stay: only offsets move";
    EXPECT_EQ(moved.experts.size(), s.experts.size());
  }
}

}  // namespace
}  // namespace llmt
