// Per-request metrics and goodput from hand-made times whose values are worked out here, the
// --slo parser, and the metrics of a simulated schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "engine/request_metrics.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

// r0: prompt 4, output 3, arrives 0, admitted 0, tokens at 1, 2, 3.
// r1: prompt 2, output 1, arrives 0, admitted 0, its one token at 1.
// r2: prompt 6, output 5, arrives 1, admitted 3, tokens at 4, 4.5, 6, 7, 8.
struct Fixture {
  RequestList list;
  std::vector<RequestTimes> times;
  Fixture() {
    list.source = "three";
    list.requests = {{4, 3, 0.0}, {2, 1, 0.0}, {6, 5, 1.0}};
    times = {{0, 0.0, 0.0, 1.0, 3.0, {1, 2, 3}}, {1, 0.0, 0.0, 1.0, 1.0, {1}}, {2, 1.0, 3.0, 4.0, 8.0, {4, 4.5, 6, 7, 8}}};
  }
};

TEST(RequestMetrics, LatenciesOfKnownTimes) {
  const Fixture f;
  const RequestMetrics m = request_metrics(f.list, f.times, {});
  EXPECT_EQ(m.requests, 3);
  EXPECT_EQ(m.prompt_tokens, 12);
  EXPECT_EQ(m.output_tokens, 9);
  // TTFT 1, 1, 3.
  EXPECT_EQ(m.ttft.n, 3u);
  EXPECT_DOUBLE_EQ(m.ttft.median, 1);
  EXPECT_DOUBLE_EQ(m.ttft.mean, 5.0 / 3);
  EXPECT_DOUBLE_EQ(m.ttft.max, 3);
  // TPOT: r0 (3 - 1) / 2 = 1, r2 (8 - 4) / 4 = 1; r1 (one token) has none.
  EXPECT_EQ(m.tpot.n, 2u);
  EXPECT_DOUBLE_EQ(m.tpot.mean, 1);
  // ITL pooled: r0 1, 1; r2 0.5, 1.5, 1, 1. Sorted 0.5 1 1 1 1 1.5: p90 at rank 4.5 is 1.25.
  EXPECT_EQ(m.itl.n, 6u);
  EXPECT_DOUBLE_EQ(m.itl.mean, 1);
  EXPECT_DOUBLE_EQ(m.itl.median, 1);
  EXPECT_DOUBLE_EQ(m.itl.p90, 1.25);
  EXPECT_DOUBLE_EQ(m.itl.max, 1.5);
  EXPECT_DOUBLE_EQ(m.itl.min, 0.5);
  // E2E 3, 1, 7; queueing 0, 0, 2.
  EXPECT_DOUBLE_EQ(m.e2e.median, 3);
  EXPECT_DOUBLE_EQ(m.e2e.mean, 11.0 / 3);
  EXPECT_DOUBLE_EQ(m.e2e.max, 7);
  EXPECT_DOUBLE_EQ(m.queueing.max, 2);
  EXPECT_DOUBLE_EQ(m.queueing.mean, 2.0 / 3);
  // From the first arrival (0) to the last finish (8).
  EXPECT_DOUBLE_EQ(m.duration_s, 8);
  EXPECT_DOUBLE_EQ(m.requests_per_s, 3.0 / 8);
  EXPECT_DOUBLE_EQ(m.output_tokens_per_s, 9.0 / 8);
  EXPECT_DOUBLE_EQ(m.total_tokens_per_s, 21.0 / 8);
  // No limits: every request counts.
  EXPECT_EQ(m.slo_met, 3);
  EXPECT_DOUBLE_EQ(m.goodput_per_s, 3.0 / 8);
}

TEST(RequestMetrics, GoodputCountsRequestsMeetingEveryLimit) {
  const Fixture f;
  const auto met = [&](const char* slo) { return request_metrics(f.list, f.times, parse_slo(slo)).slo_met; };
  EXPECT_EQ(met("ttft=2s"), 2);            // r2's 3 s misses
  EXPECT_EQ(met("ttft=1s"), 2);            // a limit is met at equality
  EXPECT_EQ(met("e2e=2s"), 1);             // r1 only
  EXPECT_EQ(met("tpot=500ms"), 1);         // r1 has no TPOT: met
  EXPECT_EQ(met("itl=1s"), 2);             // r2's 1.5 s gap misses
  EXPECT_EQ(met("itl=0.4s"), 1);           // r1 has no gap
  EXPECT_EQ(met("ttft=1s,e2e=3s"), 2);     // r0 (1, 3) and r1
  EXPECT_EQ(met("ttft=1s,e2e=2999ms"), 1); // r0's e2e now misses
  const RequestMetrics m = request_metrics(f.list, f.times, parse_slo("ttft=2s"));
  EXPECT_DOUBLE_EQ(m.slo_met_fraction, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.goodput_per_s, 2.0 / 8);
}

TEST(RequestMetrics, ParsesSlo) {
  const SloLimits all = parse_slo("ttft=200ms,tpot=50ms,itl=0.1s,e2e=2s");
  EXPECT_DOUBLE_EQ(*all.ttft_s, 0.2);
  EXPECT_DOUBLE_EQ(*all.tpot_s, 0.05);
  EXPECT_DOUBLE_EQ(*all.itl_s, 0.1);
  EXPECT_DOUBLE_EQ(*all.e2e_s, 2);
  EXPECT_EQ(slo_label(all), "ttft=200ms,tpot=50ms,itl=100ms,e2e=2000ms");
  EXPECT_EQ(parse_slo(slo_label(all)), all);
  EXPECT_TRUE(parse_slo("").empty());
  const SloLimits one = parse_slo("e2e=1.5s");
  EXPECT_FALSE(one.ttft_s);
  EXPECT_DOUBLE_EQ(*one.e2e_s, 1.5);
}

TEST(RequestMetrics, RefusesMalformedSloNamingTheItem) {
  const std::pair<const char*, const char*> cases[] = {
      {"ttft=200", "'ttft=200': '200' is not a time with its unit"},
      {"ttft", "'ttft' is not KEY=TIME"},
      {"latency=2s", "'latency=2s' is not KEY=TIME"},
      {"ttft=2s,", "'' is not KEY=TIME"},
      {"ttft=2s,ttft=3s", "gives ttft a second time"},
      {"ttft=0ms", "'ttft=0ms': a limit must be a finite time above 0"},
      {"tpot=-5ms", "'tpot=-5ms': a limit must be"},
      {"itl=nanms", "'itl=nanms': a limit must be"},
      {"e2e=infs", "'e2e=infs': a limit must be"},
      {"e2e=2 s", "'2 s' is not a time"},
      {"e2e=ms", "'ms' is not a time"},
  };
  for (const auto& [slo, says] : cases) {
    std::string message;
    try {
      parse_slo(slo);
    } catch (const ConfigError& e) {
      message = e.what();
    }
    EXPECT_NE(message.find(says), std::string::npos) << slo << ": " << message;
    EXPECT_NE(message.find("--slo"), std::string::npos) << slo;
  }
}

TEST(RequestMetrics, RefusesUnfinishedRequests) {
  Fixture f;
  f.times[2].finished_s = NAN;
  EXPECT_THROW(request_metrics(f.list, f.times, {}), std::invalid_argument);
  Fixture g;
  g.times[0].token_s.pop_back();
  EXPECT_THROW(request_metrics(g.list, g.times, {}), std::invalid_argument);
  Fixture h;
  h.times[2].admitted_s = 0.5;  // before its arrival at 1
  EXPECT_THROW(request_metrics(h.list, h.times, {}), std::invalid_argument);
}

TEST(RequestMetrics, OfASimulatedStaticSchedule) {
  // test_scheduler's static schedule of A (4, 3), B (2, 1), C (6, 5) on 2 slots, 1 s a step:
  // C waits 3 s for the first batch to end.
  RequestList list;
  list.source = "abc";
  list.requests = {{4, 3, 0.0}, {2, 1, 0.0}, {6, 5, 0.0}};
  const ScheduleRun run = simulate_schedule(list, {0, 1, 2}, BatchingOptions{BatchingMode::static_batches, 2});
  const RequestMetrics m = request_metrics(list, run.times, parse_slo("ttft=1s"));
  EXPECT_DOUBLE_EQ(m.queueing.max, 3);
  EXPECT_DOUBLE_EQ(m.ttft.max, 4);
  EXPECT_DOUBLE_EQ(m.e2e.max, 8);
  EXPECT_DOUBLE_EQ(m.duration_s, 8);
  EXPECT_EQ(m.slo_met, 2);
  EXPECT_DOUBLE_EQ(m.tpot.mean, 1);  // one step per token
}

}  // namespace
}  // namespace llmt
