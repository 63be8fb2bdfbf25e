// A workload as a list of requests (prompt length, output length, arrival time) and where such
// lists come from: today's uniform batch, seeded length distributions, and trace files, with an
// arrival process (all at once, Poisson, gamma, or the trace's own times). docs/workloads.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plan.hpp"
#include "engine/random_stream.hpp"
#include "engine/trace_file.hpp"

namespace llmt {

struct Request {
  int prompt = 1;
  int output = 1;  // tokens generated, >= 1: the first comes from prefill
  double arrival_s = 0;
  int context() const { return prompt + output - 1; }  // positions fed through the model
  bool operator==(const Request&) const = default;
};

struct RequestList {
  std::vector<Request> requests;
  std::string source;  // where it came from, for messages and reports ("azure-conv", "uniform:128:16:0.5")
  // File line of requests[0] when read from a trace (request i is on line first_line + i);
  // 0 when generated.
  int first_line = 0;

  // FNV-1a 64 over the count, each request's lengths and its arrival quantised to whole
  // microseconds, as little-endian 64-bit integers: the same on every platform and compiler.
  std::uint64_t hash() const;
  std::string label() const;  // "req48.1a2b3c4d": the count and the hash's low 32 bits in hex
  int size() const { return static_cast<int>(requests.size()); }
  int max_context() const;  // 0 when empty
  long long prompt_tokens() const;
  long long output_tokens() const;
  // "azure-conv line 7" for a trace row, "request 5 of uniform:128:16" otherwise (1-based).
  std::string describe(int index) const;
  // The same requests; the source is a description, not part of the workload.
  bool operator==(const RequestList& other) const { return requests == other.requests; }
};

// Today's workload: `batch` equal requests, all arriving at 0.
RequestList uniform_requests(const Workload& workload);

// --- sources

// How one length is drawn. uniform: integers in [int(mean (1 - spread)), int(mean (1 + spread))]
// (spread is vLLM's range ratio, in [0, 1)); normal: mean and standard deviation; lognormal: the
// mean and standard deviation of the lengths themselves (not of their logarithm). Every draw is
// rounded to the nearest integer and clamped to at least 1.
enum class LengthLaw { uniform, normal, lognormal };
std::string_view length_law_name(LengthLaw law);

struct LengthDistribution {
  LengthLaw law = LengthLaw::uniform;
  double mean = 1;
  double spread = 0;  // uniform: range ratio; normal, lognormal: standard deviation
};

// One class of requests: input and output lengths drawn independently.
struct RequestClass {
  double weight = 1;  // relative share of the requests, in a mixture
  LengthDistribution input, output;
};

struct WorkloadSourceSpec {
  std::string text;                    // as given to --workload
  std::vector<RequestClass> classes;   // a distribution: one class, or a weighted mixture
  std::filesystem::path trace;         // a trace file (empty for a distribution)
  bool is_trace() const { return !trace.empty(); }
};

// --workload's grammar (docs/workloads.md):
//   azure-conv | azure-code             the bundled Azure 2023 samples (200 requests each)
//   PATH.csv | PATH.jsonl               a trace file
//   uniform:IN:OUT[:RATIO]              vLLM's random dataset; RATIO in [0, 1), default 0
//   normal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD
//   lognormal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD
//   mix:W*DIST+W*DIST...                a weighted mixture of the three above (weights > 0, relative)
// Throws ConfigError naming --workload and the part that is wrong.
WorkloadSourceSpec parse_workload_source(const std::string& text);

// Where the bundled traces are looked up, in order: $LLMT_TRACE_DIR, profiles/traces beside the
// executable, ../share/llmthreads/traces, the source tree's profiles/traces (as model presets).
std::vector<std::filesystem::path> trace_directories();
// The file of a short name (azure-conv, azure-code), or nullopt when `text` is not one.
// Throws ConfigError when it is one and the file is found in none of trace_directories().
std::optional<std::filesystem::path> bundled_trace(const std::string& text);

// --- arrivals

enum class ArrivalProcess { offline, poisson, gamma, trace };
std::string_view arrival_process_name(ArrivalProcess p);
std::optional<ArrivalProcess> parse_arrival_process(std::string_view s);

struct ArrivalSpec {
  ArrivalProcess process = ArrivalProcess::offline;
  double rate = 0;        // requests per second (poisson, gamma)
  double burstiness = 1;  // gamma shape: 1 is Poisson, below 1 burstier, above 1 more regular
  double time_scale = 1;  // trace: each arrival (from the first row taken) is multiplied by it
};
// Arrival times of `count` requests for a generated process (offline, poisson, gamma): the first
// request arrives at 0, each gap drawn from Gamma(burstiness, 1 / (rate burstiness)) (vLLM's
// meaning; the exponential itself when burstiness is 1). Throws ConfigError on rate <= 0 or
// not finite, burstiness <= 0 or not finite, or the trace process (which needs a trace).
std::vector<double> arrival_times(const ArrivalSpec& spec, int count, std::uint64_t seed);

// --- building and checking a list

struct RequestListOptions {
  int requests = 0;         // 0: every row of a trace, kDefaultRequests for a distribution
  int offset = 0;           // trace rows skipped first
  double length_scale = 1;  // every length multiplied by it, rounded, at least 1
  ArrivalSpec arrival;
  std::uint64_t seed = 0;
};
inline constexpr int kDefaultRequests = 16;
// Latest arrival a list may ask for (11.6 days): beyond any real run, and a bound on how long a
// runner can be told to wait.
inline constexpr double kMaxArrivalSeconds = 1e6;

// One length drawn from `law` (rounded, at least 1, at most kMaxTraceLength).
int draw_length(const LengthDistribution& law, RandomStream& stream);

// The request list of a source: lengths from the distribution (seeded: input, output and the
// class of each request from three streams of `seed`, so changing one leaves the others) or the
// trace's rows, scaled; arrivals from the process. Throws ConfigError on a bad option, or a bad
// trace naming its file, line and field.
RequestList make_request_list(const WorkloadSourceSpec& source, const RequestListOptions& options);

// Refuses (ConfigError) a list the model cannot run: a request whose prompt plus output needs
// more positions than `max_positions`, named by describe(); a length below 1; an arrival that is
// negative, not finite, or before the previous request's; an empty list. `model` names the model.
void check_request_list(const RequestList& list, int max_positions, const std::string& model);

}  // namespace llmt
