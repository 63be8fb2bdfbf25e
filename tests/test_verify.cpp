// The verification rule (engine/verify.cpp) on hand-made logits: errors per sequence, a
// tolerance from the measured noise floor, near ties on the most likely token, and the check
// of the last measured iteration.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/verify.hpp"

namespace llmt {
namespace {

constexpr std::size_t kVocab = 4;

// Two sequences, two steps; sequence 1's logits are 100 times smaller than sequence 0's.
StepLogits reference_logits() {
  return {{10, -5, 2, 1, 0.1f, -0.05f, 0.02f, 0.01f}, {8, 1, -3, 2, 0.08f, 0.01f, -0.03f, 0.02f}};
}

VerificationReference with_floor(double floor_error) {
  VerificationReference ref(reference_logits(), "test");
  ref.floor = NoiseFloor{floor_error, "test floor"};
  return ref;
}

TEST(Verify, ErrorsAreRelativeToEachSequencesLargestLogit) {
  StepLogits got = reference_logits();
  got[1][4] += 0.0008f;  // sequence 1, step 1: 1% of its largest logit (0.08), 0.01% of the batch's
  const std::vector<double> errors = sequence_errors(got, reference_logits(), kVocab);
  ASSERT_EQ(errors.size(), 4u);  // [step][sequence]
  EXPECT_DOUBLE_EQ(errors[0], 0.0);
  EXPECT_NEAR(errors[3], 0.01, 1e-6);
  const Verification v = verify_logits(got, with_floor(1e-4), DType::f32, kVocab);
  EXPECT_NEAR(v.max_rel_error, 0.01, 1e-6) << "not diluted by sequence 0's larger logits";
  EXPECT_FALSE(v.passed);
}

TEST(Verify, TheToleranceIsAFactorOfTheMeasuredFloor) {
  const ToleranceRule rule = tolerance_rule(DType::bf16);
  EXPECT_DOUBLE_EQ(rule.min_floor, 1.0 / 256);
  const double floor = 0.01;  // above bf16's minimum: the floor measured rules
  StepLogits got = reference_logits();
  got[0][1] += static_cast<float>(0.7 * rule.factor * floor * 10);  // 0.7 of the tolerance, on sequence 0 (scale 10)
  Verification v = verify_logits(got, with_floor(floor), DType::bf16, kVocab);
  EXPECT_TRUE(v.passed) << v.note;
  EXPECT_DOUBLE_EQ(v.tolerance, rule.factor * floor);
  EXPECT_NEAR(v.error_over_floor, 0.7 * rule.factor, 1e-4);
  EXPECT_EQ(v.floor_source, "test floor");
  got[0][1] += static_cast<float>(0.6 * rule.factor * floor * 10);  // now 1.3 tolerances
  v = verify_logits(got, with_floor(floor), DType::bf16, kVocab);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.note.find("noise floors"), std::string::npos) << v.note;
}

// The cap (engine/noise_cap.hpp) bounds the tolerance: a floor above it is not trusted, the
// one-rank run it was measured on fails saying so, and the others are held to the cap.
TEST(Verify, AFloorAboveTheCapIsNotTrusted) {
  const ToleranceRule rule = tolerance_rule(DType::bf16);
  VerificationReference ref = with_floor(0.3);  // a bug every configuration shares
  ref.floor_cap = 0.1;
  StepLogits got = reference_logits();
  got[0][1] += 0.3f * 10;  // off by the inflated floor, as every configuration is
  Verification v = verify_logits(got, ref, DType::bf16, kVocab);
  EXPECT_FALSE(v.floor_trusted);
  EXPECT_DOUBLE_EQ(v.floor_cap, 0.1);
  EXPECT_DOUBLE_EQ(v.tolerance, 0.1) << "from the cap, never from the inflated floor";
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.note.find("exceeds the cap"), std::string::npos) << v.note;
  EXPECT_NE(v.note.find("noise floor 0.3 exceeds it too"), std::string::npos) << v.note;

  // A configuration within the cap passes although the floor is not trusted (the fault was the
  // one-rank run's alone); the one-rank run itself fails.
  const Verification close = verify_logits(reference_logits(), ref, DType::bf16, kVocab);
  EXPECT_TRUE(close.passed) << close.note;
  const Verification floor_run = verify_logits(reference_logits(), ref, DType::bf16, kVocab, true);
  EXPECT_FALSE(floor_run.passed);
  EXPECT_NE(floor_run.note.find("noise floor is not trusted"), std::string::npos) << floor_run.note;

  // Trusted (at most the cap): factor x floor, at most the cap.
  ref.floor = NoiseFloor{0.02, "trusted"};
  v = verify_logits(reference_logits(), ref, DType::bf16, kVocab, true);
  EXPECT_TRUE(v.floor_trusted);
  EXPECT_TRUE(v.passed) << v.note;
  EXPECT_DOUBLE_EQ(v.tolerance, 0.1) << "8 x 0.02 = 0.16, beyond the cap";
  ref.floor = NoiseFloor{0.01, "trusted"};
  v = verify_logits(reference_logits(), ref, DType::bf16, kVocab);
  EXPECT_DOUBLE_EQ(v.tolerance, rule.factor * 0.01);

  // A NaN floor is not trusted either.
  ref.floor = NoiseFloor{std::numeric_limits<double>::quiet_NaN(), "nan"};
  v = verify_logits(reference_logits(), ref, DType::bf16, kVocab);
  EXPECT_FALSE(v.floor_trusted);
  EXPECT_DOUBLE_EQ(v.tolerance, 0.1);
}

TEST(Verify, AFloorBelowTheDtypesRoundingCountsAsTheMinimum) {
  StepLogits got = reference_logits();
  got[0][0] += 10 * 5e-6f;  // 5e-6 relative: within 8 x fp32's minimum floor of 1e-6, although the floor is 0
  Verification v = verify_logits(got, with_floor(0.0), DType::f32, kVocab);
  EXPECT_TRUE(v.passed) << v.note;
  EXPECT_DOUBLE_EQ(v.tolerance, 8e-6);
  EXPECT_NEAR(v.error_over_floor, 5.0, 0.1);  // 10 + 5e-5 rounds to a float 4e-7 lower
  got[0][0] += 10 * 5e-6f;
  EXPECT_FALSE(verify_logits(got, with_floor(0.0), DType::f32, kVocab).passed);
}

TEST(Verify, ATokenSwapIsForgivenOnlyAsANearTie) {
  // Sequence 0's top two reference logits 10 and 9.99 differ by 1e-3 of its largest: a near tie
  // in bf16 (twice its least floor, 2^-8, is 7.8e-3), not in fp16 (twice 2^-11 is 9.8e-4).
  StepLogits reference = reference_logits();
  reference[0][1] = 9.99f;
  StepLogits got = reference;
  got[0][0] = 9.98f;  // token 1 now wins; 2e-3 off: within both tolerances (8 floors)
  VerificationReference loose(reference, "test"), strict(reference, "test");
  loose.floor = {1e-3, "loose"};
  strict.floor = {1e-4, "strict"};
  const Verification tie = verify_logits(got, loose, DType::bf16, kVocab);
  EXPECT_EQ(tie.top1_near_ties, 1u);
  EXPECT_EQ(tie.top1_mismatches, 0u);
  EXPECT_DOUBLE_EQ(tie.top1_agreement, 0.75);
  EXPECT_TRUE(tie.passed) << tie.note;
  const Verification swap = verify_logits(got, strict, DType::f16, kVocab);
  EXPECT_EQ(swap.top1_mismatches, 1u);
  EXPECT_FALSE(swap.passed);
  EXPECT_NE(swap.note.find("most likely token"), std::string::npos) << swap.note;
}

TEST(Verify, NaNAndShapeMismatchesFail) {
  StepLogits got = reference_logits();
  got[1][2] = std::numeric_limits<float>::quiet_NaN();
  const Verification nan = verify_logits(got, with_floor(0.01), DType::bf16, kVocab);
  EXPECT_FALSE(nan.passed);
  EXPECT_TRUE(std::isinf(nan.max_rel_error));
  got = reference_logits();
  got.pop_back();
  const Verification shape = verify_logits(got, with_floor(0.01), DType::bf16, kVocab);
  EXPECT_FALSE(shape.passed);
  EXPECT_NE(shape.note.find("steps"), std::string::npos) << shape.note;
}

TEST(Verify, TheLastMeasuredIterationMustStillMatch) {
  const VerificationReference ref = with_floor(1e-3);
  Verification v = verify_logits(reference_logits(), ref, DType::bf16, kVocab);
  ASSERT_TRUE(v.passed);
  verify_last_iteration(reference_logits()[1], 1, ref, kVocab, v);
  EXPECT_TRUE(v.passed);
  EXPECT_TRUE(v.last_iteration_checked);
  EXPECT_EQ(v.last_iteration_step, 1);
  EXPECT_DOUBLE_EQ(v.last_iteration_rel_error, 0.0);
  std::vector<float> drifted = reference_logits()[1];
  drifted[5] += 0.01f;  // sequence 1: 12% of its largest logit
  verify_last_iteration(drifted, 1, ref, kVocab, v);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.note.find("drifted"), std::string::npos) << v.note;
  EXPECT_NEAR(v.last_iteration_rel_error, 0.125, 1e-3);
}

TEST(Verify, TheFloorIsTheWorstSequenceOfTheOneRankRun) {
  StepLogits one_rank = reference_logits();
  one_rank[0][4] += 0.001f;  // sequence 1, step 0: 1% of 0.1
  one_rank[1][0] += 0.008f;  // sequence 0, step 1: 0.1% of 8
  const NoiseFloor floor = measure_noise_floor(one_rank, reference_logits(), kVocab, "one rank");
  EXPECT_NEAR(floor.error, 0.01, 1e-5);
  EXPECT_EQ(floor.source, "one rank");
}

}  // namespace
}  // namespace llmt
