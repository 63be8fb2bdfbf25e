// Request lists: the uniform list, the hash and label, --workload's grammar, the seeded
// distributions and arrival processes, trace files (CSV and JSONL, count, offset, scale) and
// the checks that refuse bad ones.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/workload.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;

const fs::path kTraces = fs::path(LLMT_TEST_DATA) / "traces";

// The message of the ConfigError `f` throws ("" when it throws none).
template <typename F>
std::string config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A scratch file holding `content`, removed at the end of the test.
struct ScratchFile {
  fs::path path;
  ScratchFile(const std::string& name, const std::string& content)
      : path(fs::temp_directory_path() / ("llmt-workload-" + std::to_string(::getpid()) + "-" + name)) {
    std::ofstream(path) << content;
  }
  ~ScratchFile() { fs::remove(path); }
};

RequestListOptions listing(int requests, int offset, double length_scale = 1, ArrivalSpec arrival = {}) {
  RequestListOptions o;
  o.requests = requests;
  o.offset = offset;
  o.length_scale = length_scale;
  o.arrival = arrival;
  return o;
}

RequestList from_trace(const fs::path& file, RequestListOptions options = {}) {
  WorkloadSourceSpec spec;
  spec.text = file.string();
  spec.trace = file;
  return make_request_list(spec, options);
}

TEST(Workload, UniformRequestsAreTheBatch) {
  const RequestList list = uniform_requests(Workload{3, 128, 16});
  ASSERT_EQ(list.size(), 3);
  for (const Request& r : list.requests) EXPECT_EQ(r, (Request{128, 16, 0.0}));
  EXPECT_EQ(list.max_context(), 143);
  EXPECT_EQ(list.prompt_tokens(), 384);
  EXPECT_EQ(list.output_tokens(), 48);
  EXPECT_EQ(list.source, "b3.p128.g16");
  EXPECT_EQ(list.describe(1), "request 2 of b3.p128.g16");
}

TEST(Workload, HashIsAFixedNumberAndQuantisedToMicroseconds) {
  RequestList list;
  list.requests = {{128, 16, 0.0}, {5, 1, 0.25}, {1000, 200, 1.5}};
  // FNV-1a 64 of (3, 128, 16, 0, 5, 1, 250000, 1000, 200, 1500000) as little-endian u64s,
  // computed independently in Python.
  EXPECT_EQ(list.hash(), 0x6a25ae42260c8ddfull);
  EXPECT_EQ(list.label(), "req3.260c8ddf");
  RequestList nudged = list;
  nudged.requests[1].arrival_s += 1e-7;  // below a microsecond: the same workload
  EXPECT_EQ(nudged.hash(), list.hash());
  nudged.requests[1].arrival_s += 1e-6;
  EXPECT_NE(nudged.hash(), list.hash());
  RequestList longer = list;
  longer.requests[0].output = 17;
  EXPECT_NE(longer.hash(), list.hash());
  longer.source = "something else";
  EXPECT_FALSE(longer == list);
  RequestList renamed = list;
  renamed.source = "another name";
  EXPECT_TRUE(renamed == list);  // the source describes, it is not part of the workload
}

TEST(Workload, ParsesTheDistributionGrammar) {
  const WorkloadSourceSpec u = parse_workload_source("uniform:1024:128:0.5");
  ASSERT_EQ(u.classes.size(), 1u);
  EXPECT_FALSE(u.is_trace());
  EXPECT_EQ(u.classes[0].input.law, LengthLaw::uniform);
  EXPECT_EQ(u.classes[0].input.mean, 1024);
  EXPECT_EQ(u.classes[0].output.mean, 128);
  EXPECT_EQ(u.classes[0].output.spread, 0.5);
  EXPECT_EQ(parse_workload_source("uniform:64:8").classes[0].input.spread, 0);
  const WorkloadSourceSpec n = parse_workload_source("normal:1000,100:50,5");
  EXPECT_EQ(n.classes[0].input.law, LengthLaw::normal);
  EXPECT_EQ(n.classes[0].input.spread, 100);
  EXPECT_EQ(n.classes[0].output.mean, 50);
  const WorkloadSourceSpec m = parse_workload_source("mix:0.7*lognormal:1024,512:128,64+0.3*uniform:4096:16:0.5");
  ASSERT_EQ(m.classes.size(), 2u);
  EXPECT_EQ(m.classes[0].weight, 0.7);
  EXPECT_EQ(m.classes[0].input.law, LengthLaw::lognormal);
  EXPECT_EQ(m.classes[1].input.mean, 4096);
  EXPECT_TRUE(parse_workload_source("some/where.csv").is_trace());
  EXPECT_TRUE(parse_workload_source("x.jsonl").is_trace());
}

TEST(Workload, RefusesBadSpecsNamingThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"uniform:1024", "uniform:IN:OUT[:RATIO]"},
      {"uniform:1024:128:1", "range ratio 1 must be in [0, 1)"},
      {"uniform:1024:128:-0.5", "range ratio"},
      {"uniform:0:128", "input length 0 must be above 0"},
      {"uniform:abc:128", "'abc' is not a finite number"},
      {"uniform:nan:128", "'nan' is not a finite number"},
      {"normal:1000:50,5", "normal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD"},
      {"lognormal:1000,-1:50,5", "standard deviation -1"},
      {"poisson:1:2", "'poisson' is not a distribution"},
      {"mix:uniform:1:1", "is not WEIGHT*DISTRIBUTION"},
      {"mix:0*uniform:1:1", "weight 0 must be above 0"},
      {"mix:1*mix:1*uniform:1:1", "cannot hold a mixture"},
      {"trace.txt", "must end in .csv"},
  };
  for (const auto& [spec, says] : cases) {
    const std::string message = config_error([&] { parse_workload_source(spec); });
    EXPECT_NE(message.find(says), std::string::npos) << spec << ": " << message;
  }
}

TEST(Workload, DistributionsAreSeededAndIndependent) {
  RequestListOptions o;
  o.requests = 64;
  o.seed = 7;
  const WorkloadSourceSpec spec = parse_workload_source("uniform:1024:128:0.5");
  const RequestList a = make_request_list(spec, o), b = make_request_list(spec, o);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());
  o.seed = 8;
  EXPECT_NE(make_request_list(spec, o), a);
  // Another output law leaves every input length as it was (separate streams).
  o.seed = 7;
  const RequestList other = make_request_list(parse_workload_source("uniform:1024:4000:0.5"), o);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(other.requests[i].prompt, a.requests[i].prompt);
  EXPECT_EQ(make_request_list(spec, RequestListOptions{}).size(), kDefaultRequests);
}

TEST(Workload, UniformStaysInVllmsRangeAndReachesBothEnds) {
  RandomStream stream(1);
  const LengthDistribution law{LengthLaw::uniform, 1000, 0.25};  // [750, 1250]
  int low = 1 << 30, high = 0;
  double sum = 0;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const int v = draw_length(law, stream);
    low = std::min(low, v);
    high = std::max(high, v);
    sum += v;
  }
  EXPECT_EQ(low, 750);
  EXPECT_EQ(high, 1250);
  EXPECT_NEAR(sum / n, 1000, 3);  // standard error 1.4
  // Truncated like Python's int(): 10 (1 +- 0.55) is [4, 15].
  RandomStream s2(2);
  for (int i = 0; i < 2000; ++i) {
    const int v = draw_length({LengthLaw::uniform, 10, 0.55}, s2);
    EXPECT_GE(v, 4);
    EXPECT_LE(v, 15);
  }
}

TEST(Workload, NormalAndLognormalHaveTheirMeansAndDeviations) {
  const int n = 40000;
  for (const LengthLaw law : {LengthLaw::normal, LengthLaw::lognormal}) {
    RandomStream stream(3);
    const LengthDistribution d{law, 1000, 300};
    double sum = 0, squares = 0;
    for (int i = 0; i < n; ++i) {
      const double v = draw_length(d, stream);
      sum += v;
      squares += v * v;
    }
    const double mean = sum / n, sd = std::sqrt(squares / n - mean * mean);
    EXPECT_NEAR(mean, 1000, 8) << length_law_name(law);  // standard error 1.5
    EXPECT_NEAR(sd, 300, 9) << length_law_name(law);
  }
  // Clamped to at least 1: a normal centred on 1 never gives 0 or less.
  RandomStream stream(4);
  for (int i = 0; i < 1000; ++i) EXPECT_GE(draw_length({LengthLaw::normal, 1, 50}, stream), 1);
}

TEST(Workload, MixtureDrawsEachClassByWeight) {
  RequestListOptions o;
  o.requests = 20000;
  o.seed = 5;
  const RequestList list = make_request_list(parse_workload_source("mix:3*uniform:10:1+1*uniform:1000:1"), o);
  int short_ones = 0;
  for (const Request& r : list.requests) short_ones += r.prompt == 10;
  EXPECT_NEAR(short_ones / 20000.0, 0.75, 0.015);
}

TEST(Workload, ArrivalsFollowTheRateAndBurstiness) {
  const int n = 40000;
  const auto gaps = [&](ArrivalSpec spec) {
    const std::vector<double> t = arrival_times(spec, n, 11);
    EXPECT_EQ(t.front(), 0);
    double sum = 0, squares = 0;
    for (int i = 1; i < n; ++i) {
      const double g = t[i] - t[i - 1];
      EXPECT_GE(g, 0);
      sum += g;
      squares += g * g;
    }
    const double mean = sum / (n - 1);
    return std::pair{mean, (squares / (n - 1) - mean * mean) / (mean * mean)};  // mean, CV^2
  };
  const auto [poisson_mean, poisson_cv2] = gaps({ArrivalProcess::poisson, 4.0});
  EXPECT_NEAR(poisson_mean, 0.25, 0.005);
  EXPECT_NEAR(poisson_cv2, 1.0, 0.05);
  // Gamma(B, 1/(rate B)): mean 1/rate, squared coefficient of variation 1/B.
  const auto [bursty_mean, bursty_cv2] = gaps({ArrivalProcess::gamma, 4.0, 0.25});
  EXPECT_NEAR(bursty_mean, 0.25, 0.01);
  EXPECT_NEAR(bursty_cv2, 4.0, 0.3);
  const auto [regular_mean, regular_cv2] = gaps({ArrivalProcess::gamma, 4.0, 4.0});
  EXPECT_NEAR(regular_mean, 0.25, 0.005);
  EXPECT_NEAR(regular_cv2, 0.25, 0.02);
  // Burstiness 1 is Poisson, the same times.
  EXPECT_EQ(arrival_times({ArrivalProcess::gamma, 4.0, 1.0}, 50, 3), arrival_times({ArrivalProcess::poisson, 4.0}, 50, 3));
  EXPECT_EQ(arrival_times({ArrivalProcess::offline}, 3, 3), (std::vector<double>{0, 0, 0}));
}

TEST(Workload, RefusesBadRatesAndBurstiness) {
  for (const double rate : {0.0, -1.0, double(NAN), double(INFINITY)})
    EXPECT_NE(config_error([&] { arrival_times({ArrivalProcess::poisson, rate}, 4, 1); }).find("--rate"), std::string::npos)
        << rate;
  for (const double b : {0.0, -2.0, double(NAN)})
    EXPECT_NE(config_error([&] { arrival_times({ArrivalProcess::gamma, 1.0, b}, 4, 1); }).find("--burstiness"),
              std::string::npos)
        << b;
  EXPECT_NE(config_error([&] { arrival_times({ArrivalProcess::trace}, 4, 1); }).find("--arrival trace"), std::string::npos);
}

TEST(Workload, ReadsTheCsvTraceWithCountOffsetAndScales) {
  const RequestList all = from_trace(kTraces / "five.csv");
  ASSERT_EQ(all.size(), 5);
  EXPECT_EQ(all.requests[2], (Request{7, 4, 0.0}));  // offline by default: every arrival at 0
  EXPECT_EQ(all.first_line, 2);
  EXPECT_EQ(all.describe(4), (kTraces / "five.csv").string() + " line 6");

  RequestListOptions o;
  o.requests = 3;
  o.offset = 1;
  o.length_scale = 0.5;
  o.arrival.process = ArrivalProcess::trace;
  o.arrival.time_scale = 2;
  const RequestList part = from_trace(kTraces / "five.csv", o);
  // Rows 2 to 4 (lines 3 to 5): lengths halved and rounded (half away from zero), at least 1;
  // arrivals from the first row taken (0.5 s), doubled.
  ASSERT_EQ(part.size(), 3);
  EXPECT_EQ(part.requests[0], (Request{10, 1, 0.0}));
  EXPECT_EQ(part.requests[1], (Request{4, 2, 1.5}));
  EXPECT_EQ(part.requests[2], (Request{15, 1, 3.0}));
  EXPECT_EQ(part.first_line, 3);
}

TEST(Workload, ReadsJsonlAsTheSameRequests) {
  RequestListOptions o;
  o.arrival.process = ArrivalProcess::trace;
  const RequestList csv = from_trace(kTraces / "five.csv", o), jsonl = from_trace(kTraces / "five.jsonl", o);
  EXPECT_EQ(csv, jsonl);
  EXPECT_EQ(jsonl.requests[4].arrival_s, 4.0);
  EXPECT_EQ(jsonl.first_line, 1);
}

TEST(Workload, OpenLoopArrivalsOverATrace) {
  RequestListOptions o;
  o.arrival = {ArrivalProcess::poisson, 2.0};
  o.seed = 9;
  const RequestList list = from_trace(kTraces / "five.csv", o);
  EXPECT_EQ(list.requests[3].prompt, 30);
  const std::vector<double> times = arrival_times(o.arrival, 5, 9);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(list.requests[i].arrival_s, times[i]);
}

TEST(Workload, BundledAzureSamplesByShortName) {
  for (const char* name : {"azure-conv", "azure-code"}) {
    const WorkloadSourceSpec spec = parse_workload_source(name);
    ASSERT_TRUE(spec.is_trace()) << name;
    RequestListOptions o;
    o.arrival.process = ArrivalProcess::trace;
    const RequestList list = make_request_list(spec, o);
    EXPECT_EQ(list.size(), 200) << name;
    EXPECT_EQ(list.source, name);
    EXPECT_EQ(list.requests.front().arrival_s, 0);
  }
  RequestListOptions o;
  o.requests = 2;
  const RequestList conv = make_request_list(parse_workload_source("azure-conv"), o);
  EXPECT_EQ(conv.requests[0], (Request{374, 44, 0.0}));  // the trace's first row
  EXPECT_EQ(conv.requests[1], (Request{396, 109, 0.0}));
  EXPECT_EQ(conv.describe(1), "azure-conv line 3");
}

TEST(Workload, RefusesBadOptions) {
  const WorkloadSourceSpec dist = parse_workload_source("uniform:8:8");
  EXPECT_NE(config_error([&] { make_request_list(dist, listing(0, 2)); }).find("--request-offset"), std::string::npos);
  EXPECT_NE(config_error([&] { make_request_list(dist, listing(-1, 0)); }).find("--requests"), std::string::npos);
  EXPECT_NE(config_error([&] { make_request_list(dist, listing(0, 0, 0)); }).find("--length-scale"), std::string::npos);
  EXPECT_NE(config_error([&] { make_request_list(dist, listing(0, 0, NAN)); }).find("--length-scale"), std::string::npos);
  EXPECT_NE(config_error([&] { make_request_list(dist, listing(0, 0, 1, {ArrivalProcess::trace})); }).find("--arrival trace"),
            std::string::npos);
  const fs::path five = kTraces / "five.csv";
  EXPECT_NE(config_error([&] { from_trace(five, listing(0, 5)); }).find("--request-offset 5: " + five.string() + " has only 5"),
            std::string::npos);
  EXPECT_NE(config_error([&] { from_trace(five, listing(3, 3)); }).find("has only 5 requests"),
            std::string::npos);
  EXPECT_NE(config_error([&] { from_trace(five, listing(0, 0, 1, {ArrivalProcess::trace, 0, 1, 0})); }).find("--time-scale"),
            std::string::npos);
}

TEST(Workload, RefusesMalformedTracesNamingLineAndField) {
  const std::pair<std::pair<const char*, const char*>, const char*> cases[] = {
      {{"empty.csv", ""}, "the trace file is empty"},
      {{"blank.csv", "\n\n"}, "the trace file is empty"},
      {{"header-only.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n"}, "no requests after the header"},
      {{"no-column.csv", "arrived_at,num_prefill_tokens\n0,1\n"}, "line 1: the header has no column 'num_decode_tokens'"},
      {{"fields.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1\n"}, "line 2: 2 fields, the header has 3"},
      {{"zero.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,0\n"},
       "line 2, field 'num_decode_tokens': 0 tokens; every length must be at least 1"},
      {{"negative-length.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,-5,2\n"},
       "line 2, field 'num_prefill_tokens': -5 tokens"},
      {{"text.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,abc,2\n"}, "field 'num_prefill_tokens': 'abc'"},
      {{"fraction.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1.5,2\n"}, "'1.5' is not a whole number"},
      {{"huge.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,99999999999999999999,2\n"}, "exceeds the most allowed"},
      {{"negative-time.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n-1,5,2\n"},
       "line 2, field 'arrived_at': -1 s is negative"},
      {{"unsorted.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,2\n3,5,2\n2,5,2\n"},
       "line 4, field 'arrived_at': 2 s is before the previous row's 3 s"},
      {{"nan-time.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\nnan,5,2\n"}, "'nan' is not a finite number"},
      {{"gap.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,2\n\n1,5,2\n"}, "line 3: an empty line"},
      {{"not-json.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{oops\n"}, "line 2: not valid JSON"},
      {{"array.jsonl", "[1, 2, 3]\n"}, "line 1: not a JSON object"},
      {{"no-output.jsonl", "{\"timestamp\": 0, \"input_length\": 5}\n"}, "line 1, field 'output_length': missing"},
      {{"string-length.jsonl", "{\"timestamp\": 0, \"input_length\": \"5\", \"output_length\": 1}\n"},
       "field 'input_length': \"5\" is not a whole number"},
      {{"zero.jsonl", "{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 1}\n"}, "field 'input_length': 0 tokens"},
      {{"unsorted.jsonl", "{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1}\n"
                          "{\"timestamp\": 4, \"input_length\": 1, \"output_length\": 1}\n"},
       "line 2, field 'timestamp': 4 ms is before the previous row's 5 ms"},
      {{"negative.jsonl", "{\"timestamp\": -3, \"input_length\": 1, \"output_length\": 1}\n"}, "-3 ms is negative"},
  };
  for (const auto& [file, says] : cases) {
    const ScratchFile scratch(file.first, file.second);
    const std::string message = config_error([&] { from_trace(scratch.path); });
    EXPECT_NE(message.find(says), std::string::npos) << file.first << ": " << message;
    EXPECT_NE(message.find(scratch.path.string()), std::string::npos) << file.first << ": " << message;
  }
  // Rows after the last one taken are not read.
  const ScratchFile tail("bad-tail.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,2\n1,5,2\n2,oops,1\n");
  EXPECT_EQ(from_trace(tail.path, listing(2, 0)).size(), 2);
  // A missing file is an Error naming it.
  try {
    from_trace(kTraces / "no-such-trace.csv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-trace.csv"), std::string::npos) << e.what();
  }
}

TEST(Workload, RefusesMoreRowsThanAListHoldsWithoutACount) {
  std::string rows = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
  for (int i = 0; i <= kMaxRequests; ++i) rows += "0,1,1\n";
  const ScratchFile big("big.csv", rows);
  EXPECT_NE(config_error([&] { from_trace(big.path); }).find("more than 1048576 requests"), std::string::npos);
  EXPECT_EQ(from_trace(big.path, listing(0, 1)).size(), kMaxRequests);  // one row fewer fits
  EXPECT_EQ(from_trace(big.path, listing(3, 0)).size(), 3);
}

TEST(Workload, CheckRefusesRequestsBeyondThePositionsNamingTheRow) {
  const RequestList five = from_trace(kTraces / "five.csv");
  check_request_list(five, 31, "m");  // the longest, line 5: 30 + 2 - 1 = 31 positions
  const std::string message = config_error([&] { check_request_list(five, 30, "tiny"); });
  EXPECT_NE(message.find((kTraces / "five.csv").string() + " line 5: prompt 30 + output 2 tokens need 31 positions; "
                                                           "tiny has 30"),
            std::string::npos)
      << message;

  RequestList hand;
  hand.source = "hand";
  hand.requests = {{4, 1, 0.0}, {4, 0, 1.0}};
  EXPECT_NE(config_error([&] { check_request_list(hand, 100, "m"); }).find("request 2 of hand: prompt 4 and output 0"),
            std::string::npos);
  hand.requests = {{4, 1, 2.0}, {4, 1, 1.0}};
  EXPECT_NE(config_error([&] { check_request_list(hand, 100, "m"); }).find("request 2 of hand: arrives at 1 s, before"),
            std::string::npos);
  hand.requests = {{4, 1, -1.0}};
  EXPECT_NE(config_error([&] { check_request_list(hand, 100, "m"); }).find("must be a finite time >= 0"), std::string::npos);
  hand.requests = {{4, 1, 2e6}};
  EXPECT_NE(config_error([&] { check_request_list(hand, 100, "m"); }).find("beyond the most allowed"), std::string::npos);
  hand.requests.clear();
  EXPECT_NE(config_error([&] { check_request_list(hand, 100, "m"); }).find("no requests"), std::string::npos);
}

}  // namespace
}  // namespace llmt
