// Request-list workloads end to end on the CPU backend: ragged steps (packed tokens, attention per
// sequence, a KV-cache row per slot) give each request the logits the streamed fp32 reference
// gives it, under every layout and batching mode that runs them; equal requests give the uniform
// path's logits; and the per-request times and replica figures add up.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "engine/traffic.hpp"
#include "model/model.hpp"
#include "hand_made_requests.hpp"
#include "quick_options.hpp"
#include "reports/json_schema.hpp"

namespace llmt {
namespace {

using testing::quick_options;

using testing::hand_made_requests;
using testing::traffic_point;

struct TrafficCase {
  const char* strategy;
  Layout layout;
  BatchingOptions batching;
};

void PrintTo(const TrafficCase& c, std::ostream* os) {
  *os << c.strategy << " " << c.layout.label() << " " << batching_mode_name(c.batching.mode) << " slots "
      << c.batching.slots << " chunk " << c.batching.prefill_chunk;
}

class RequestListVerifies : public ::testing::TestWithParam<TrafficCase> {};

TEST_P(RequestListVerifies, EveryRequestAgainstTheReference) {
  const TrafficCase c = GetParam();
  const ModelConfig model = load_model("tiny");
  const RunOptions opts = quick_options();
  const auto requests = hand_made_requests();
  const ConfigPoint point = traffic_point(c.strategy, c.layout, requests, c.batching);
  ReferenceSet references(model, opts);
  const VerificationReference& reference = references.for_point(point);
  ASSERT_EQ(reference.logits.size(), 7u);
  StepLogits got;
  const ConfigResult r = run_configuration(model, point, opts, &reference, &got);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  EXPECT_TRUE(r.verification.passed) << r.verification.note;
  EXPECT_LE(r.verification.max_rel_error, 1e-5);
  long long outputs = 0;
  for (const Request& q : requests->requests) outputs += q.output;
  EXPECT_EQ(r.verification.elements, static_cast<std::size_t>(outputs) * model.vocab);
  // Each request's rows are its own: two requests' first logits differ.
  EXPECT_NE(got[0][0], got[1][0]);

  const TrafficMetrics& t = r.metrics.traffic;
  ASSERT_TRUE(t.available);
  EXPECT_EQ(t.request_count, 7);
  EXPECT_EQ(t.samples.size(), 7u * static_cast<std::size_t>(r.iterations));
  for (const RequestSample& s : t.samples) {
    EXPECT_LE(s.arrival_ms, s.admitted_ms);
    EXPECT_LT(s.admitted_ms, s.first_token_ms);
    EXPECT_LE(s.first_token_ms, s.finished_ms);
  }
  ASSERT_EQ(t.replicas.size(), static_cast<std::size_t>(c.layout.dp));
  double tokens = 0;
  for (const ReplicaUse& u : t.replicas) tokens += u.tokens;
  long long fed = 0;  // every prompt token, and every output token but the last of each request
  for (const Request& q : requests->requests) fed += q.prompt + q.output - 1;
  EXPECT_DOUBLE_EQ(tokens, static_cast<double>(fed));
  EXPECT_GT(t.ttft_ms.median, 0.0);
  EXPECT_GT(t.requests_per_s, 0.0);

  for (const RankMemory& m : r.metrics.memory) {
    EXPECT_EQ(m.kv_cache, m.predicted.kv_cache);
    EXPECT_EQ(m.activations_peak, m.predicted.activations);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, RequestListVerifies,
    ::testing::Values(TrafficCase{"tp", Layout{1, 1, 1}, {BatchingMode::static_batches, 3, 0, 0}},
                      TrafficCase{"tp", Layout{1, 1, 1}, {BatchingMode::continuous, 3, 0, 0}},
                      TrafficCase{"tp", Layout{1, 1, 1}, {BatchingMode::continuous, 3, 8, 4}},
                      TrafficCase{"tp", Layout{2, 1, 1}, {BatchingMode::static_batches, 4, 0, 0}},
                      TrafficCase{"tp", Layout{2, 1, 1}, {BatchingMode::continuous, 2, 0, 3}},
                      TrafficCase{"dp", Layout{1, 1, 2}, {BatchingMode::static_batches, 2, 0, 0}},
                      TrafficCase{"dp", Layout{1, 1, 3}, {BatchingMode::continuous, 2, 0, 0}},
                      TrafficCase{"hybrid", Layout{2, 1, 2}, {BatchingMode::continuous, 2, 0, 2}}));

// GPT-2's learned positions and LayerNorm, under a tensor-parallel split and chunked prefill.
TEST(RaggedSteps, GptTwoRequestListsVerifyToo) {
  const ModelConfig model = load_model("tiny-gpt2");
  const RunOptions opts = quick_options();
  for (const ConfigPoint& point :
       {traffic_point("tp", Layout{2, 1, 1}, hand_made_requests(), {BatchingMode::continuous, 3, 0, 4}),
        traffic_point("dp", Layout{1, 1, 2}, hand_made_requests(), {BatchingMode::static_batches, 2, 0, 0})}) {
    ReferenceSet references(model, opts);
    const ConfigResult r = run_configuration(model, point, opts, &references.for_point(point));
    ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
    EXPECT_TRUE(r.verification.passed) << point.id() << ": " << r.verification.note;
    EXPECT_LE(r.verification.max_rel_error, 1e-5) << point.id();
  }
}

// Open-loop arrivals on one-rank replicas: the runner's clock admits no request before it arrives
// (a property of the order of events, whatever the machine's speed), and all are verified.
TEST(RaggedSteps, OpenLoopArrivalsAreNeverAdmittedEarly) {
  const ModelConfig model = load_model("tiny");
  const RunOptions opts = quick_options();
  auto list = std::make_shared<RequestList>(*hand_made_requests());
  for (std::size_t i = 0; i < list->requests.size(); ++i) list->requests[i].arrival_s = 0.004 * static_cast<double>(i);
  const ConfigPoint point = traffic_point("dp", Layout{1, 1, 2}, list, {BatchingMode::continuous, 2, 0, 0});
  ASSERT_TRUE(point.traffic->open_loop());
  ReferenceSet references(model, opts);
  const ConfigResult r = run_configuration(model, point, opts, &references.for_point(point));
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  EXPECT_TRUE(r.verification.passed) << r.verification.note;
  ASSERT_EQ(r.metrics.traffic.samples.size(), 7u * static_cast<std::size_t>(r.iterations));
  for (const RequestSample& s : r.metrics.traffic.samples) {
    EXPECT_DOUBLE_EQ(s.arrival_ms, 4.0 * s.request);
    EXPECT_GE(s.admitted_ms, s.arrival_ms) << "request " << s.request;
  }
  EXPECT_GE(r.metrics.traffic.queueing_ms.min, 0.0);
}

// Equal requests through ragged steps compute what the uniform path computes.
TEST(RaggedSteps, EqualRequestsGiveTheUniformLogits) {
  const ModelConfig model = load_model("tiny");
  const RunOptions opts = quick_options();
  const Workload w{4, 7, 4};
  const StepLogits uniform = compute_reference(model, w, opts);
  auto list = std::make_shared<RequestList>(uniform_requests(w));
  const ConfigPoint point =
      traffic_point("tp", Layout{1, 1, 1}, list, {BatchingMode::static_batches, 4, 0, 0});
  StepLogits ragged;
  const ConfigResult r = run_configuration(model, point, opts, nullptr, &ragged);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  ASSERT_EQ(ragged.size(), 4u);
  const std::size_t vocab = static_cast<std::size_t>(model.vocab);
  double worst = 0, scale = 0;
  for (std::size_t req = 0; req < 4; ++req)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t v = 0; v < vocab; ++v) {
        const float a = ragged[req][j * vocab + v], b = uniform[j][req * vocab + v];
        worst = std::max(worst, static_cast<double>(std::fabs(a - b)));
        scale = std::max(scale, static_cast<double>(std::fabs(b)));
      }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(worst, 1e-6 * scale);
}

// A results file keeps the request list (so the id is rebuilt) and the samples, from which the
// reader recomputes every per-request summary to the same values.
TEST(RaggedSteps, ResultsFileRoundTripsTheTrafficMetrics) {
  const ModelConfig model = load_model("tiny");
  RunOptions opts = quick_options();
  opts.slo = parse_slo("ttft=1s");
  const ConfigPoint point = traffic_point("dp", Layout{1, 1, 2}, hand_made_requests(),
                                          {BatchingMode::continuous, 2, 0, 0}, BalancePolicy::least_tokens);
  const ConfigResult r = run_configuration(model, point, opts, nullptr);
  ASSERT_EQ(r.status, ConfigStatus::ok) << r.reason;
  const ConfigResult back = result_from_json(nlohmann::json::parse(to_json(r).dump()), "test");
  EXPECT_EQ(back.point.id(), point.id());
  const TrafficMetrics &a = r.metrics.traffic, &b = back.metrics.traffic;
  ASSERT_TRUE(b.available);
  EXPECT_EQ(b.samples.size(), a.samples.size());
  EXPECT_DOUBLE_EQ(b.ttft_ms.p99, a.ttft_ms.p99);
  EXPECT_DOUBLE_EQ(b.itl_ms.median, a.itl_ms.median);
  EXPECT_DOUBLE_EQ(b.goodput_per_s, a.goodput_per_s);
  EXPECT_EQ(b.slo, "ttft=1000ms");
  EXPECT_DOUBLE_EQ(b.balance_ratio, a.balance_ratio);
  EXPECT_EQ(b.replicas.size(), 2u);
}

// Refused by name, not run as something else.
TEST(RaggedSteps, UnsupportedLayoutsAreRefusedByName) {
  const ModelConfig model = load_model("tiny");
  const auto list = hand_made_requests();
  const ConfigPoint pp = traffic_point("pp", Layout{1, 2, 1}, list, {BatchingMode::static_batches, 2, 0, 0});
  const auto problem = layout_problem(model, pp);
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("pipeline"), std::string::npos) << *problem;
}

}  // namespace
}  // namespace llmt
