#include "cli/workload_options.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cli/parse.hpp"
#include "model/error.hpp"

namespace llmt::cli {
namespace {

constexpr int kMaxOffset = 1 << 30;

// A number above 0 (finite), or a ConfigError naming the option and what it is.
double positive_number(const std::string& option, const std::string& text, const char* what) {
  const double v = strict_number(option, text);
  if (!(v > 0)) throw ConfigError(fmt::format("{}: {} must be above 0 ({})", option, text, what));
  return v;
}

// An option that only means something with another: refused when given without it.
void needs(bool given, bool with, const char* option, const char* other) {
  if (given && !with) throw ConfigError(fmt::format("{}: only with {}", option, other));
}

ArrivalSpec parse_arrival(const WorkloadFlags& f, bool trace_source) {
  ArrivalSpec a;
  if (!f.arrival.empty()) {
    const std::optional<ArrivalProcess> p = parse_arrival_process(f.arrival);
    if (!p) throw ConfigError(fmt::format("--arrival: '{}' is not offline, poisson, gamma or trace", f.arrival));
    a.process = *p;
  }
  const bool open_loop = a.process == ArrivalProcess::poisson || a.process == ArrivalProcess::gamma;
  needs(!f.rate.empty(), open_loop, "--rate", "--arrival poisson or gamma");
  needs(!f.burstiness.empty(), a.process == ArrivalProcess::gamma, "--burstiness", "--arrival gamma");
  needs(!f.time_scale.empty(), a.process == ArrivalProcess::trace, "--time-scale", "--arrival trace");
  if (open_loop && f.rate.empty())
    throw ConfigError(fmt::format("--arrival {}: needs --rate (requests per second)", f.arrival));
  if (a.process == ArrivalProcess::trace && !trace_source)
    throw ConfigError("--arrival trace: needs a trace (--workload azure-conv, azure-code, FILE.csv or FILE.jsonl)");
  if (!f.rate.empty()) a.rate = positive_number("--rate", f.rate, "requests per second");
  if (!f.burstiness.empty()) a.burstiness = positive_number("--burstiness", f.burstiness, "1: Poisson, below: burstier");
  if (!f.time_scale.empty()) a.time_scale = positive_number("--time-scale", f.time_scale, "2: twice as slow");
  return a;
}

}  // namespace

void add_workload_options(CLI::App* cmd, WorkloadFlags& f) {
  const auto add = [cmd](const char* name, std::string& value, const char* type, const char* help) {
    cmd->add_option(name, value, help)->type_name(type)->group("Traffic (request-list workloads, docs/workloads.md)");
  };
  add("--workload", f.workload, "SPEC",
      "Requests of unequal lengths instead of --batch/--prompt/--gen's equal sequences: azure-conv or "
      "azure-code (the first 200 requests of the Azure 2023 conversation and code traces), a trace file "
      "(FILE.csv: arrived_at,num_prefill_tokens,num_decode_tokens; FILE.jsonl, Mooncake-style: "
      "timestamp in ms, input_length, output_length), or lengths drawn per request from --seed, input and "
      "output independently: uniform:IN:OUT[:R] (vLLM's --random-range-ratio R in [0, 1): integers in "
      "[L(1-R), L(1+R)]; SGLang's same-named option draws in [L*R, L] instead), "
      "normal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD (TensorRT-LLM's prepare_dataset token-norm-dist "
      "--input-mean/--input-stdev/--output-mean/--output-stdev), lognormal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD "
      "(the mean and deviation of the lengths, not of their logarithm), mix:W*DIST+W*DIST... (a share W "
      "of the requests from each)");
  add("--requests", f.requests, "INT",
      "Requests to take: the first N rows of a trace (default: all) or N drawn (default 16); vLLM's "
      "--num-prompts");
  add("--request-offset", f.request_offset, "INT", "Trace rows to skip before the first request taken");
  add("--length-scale", f.length_scale, "X",
      "Multiply every prompt and output length by this, rounded, at least 1 (e.g. 0.0625 to run a real "
      "trace's shape on a small machine or a model with few positions)");
  add("--arrival", f.arrival, "PROCESS",
      "When requests arrive: offline (all at once, the default), poisson (--rate), gamma (--rate and "
      "--burstiness, vLLM's: 1 is Poisson, below 1 burstier), trace (the trace's own times from its first "
      "row taken, times --time-scale); a request is never admitted before it arrives");
  add("--rate", f.rate, "REQ/S", "Requests per second of --arrival poisson or gamma (vLLM's --request-rate)");
  add("--burstiness", f.burstiness, "B",
      "--arrival gamma: the gaps' shape (vLLM's --burstiness; 1: Poisson, below 1: burstier, above 1: "
      "more regular; the mean rate stays --rate)");
  add("--time-scale", f.time_scale, "X",
      "--arrival trace: multiply the trace's times by this (0.5 replays it twice as fast)");
  add("--batching", f.batching, "MODES",
      "Batching modes to sweep: static (--batch requests at a time, in order, until the batch's last "
      "sequence ends), continuous (up to --batch running; a waiting request takes a freed slot), all "
      "(default: static)");
  add("--balance", f.balance, "POLICIES",
      "How requests are split among data-parallel replicas, to sweep: round-robin, shortest-queue, "
      "least-tokens (longest first to the replica with the fewest outstanding tokens), all; SGLang's "
      "round_robin, shortest_queue, minimum_tokens (default: round-robin)");
  add("--token-budget", f.token_budget, "INT",
      "continuous: most tokens per step (vLLM's --max-num-batched-tokens; 0: no limit); at least --batch, "
      "and without --prefill-chunk at least the longest prompt");
  add("--prefill-chunk", f.prefill_chunk, "INT",
      "continuous: prompts run in chunks of at most this many tokens beside the decode rows "
      "(chunked prefill; 0: each new prompt is a step of its own)");
  add("--slo", f.slo, "LIMITS",
      "Service-level limits for goodput, e.g. ttft=200ms,tpot=50ms,itl=100ms,e2e=2s (ms or s): a request "
      "counts only if it meets every one (vLLM's --goodput)");
}

TrafficOptions parse_traffic_options(const WorkloadFlags& f, std::uint64_t seed) {
  TrafficOptions t;
  const bool workload = !f.workload.empty();
  const std::pair<const std::string*, const char*> list_flags[] = {
      {&f.requests, "--requests"},   {&f.request_offset, "--request-offset"}, {&f.length_scale, "--length-scale"},
      {&f.arrival, "--arrival"},     {&f.rate, "--rate"},                     {&f.burstiness, "--burstiness"},
      {&f.time_scale, "--time-scale"}, {&f.batching, "--batching"},          {&f.balance, "--balance"},
      {&f.token_budget, "--token-budget"}, {&f.prefill_chunk, "--prefill-chunk"}, {&f.slo, "--slo"}};
  for (const auto& [value, option] : list_flags)
    needs(!value->empty(), workload, option, "--workload (a request-list workload)");
  if (!workload) return t;
  t.workload = parse_workload_source(f.workload);
  t.list.seed = seed;
  if (!f.requests.empty()) t.list.requests = bounded_int("--requests", f.requests, 1, kMaxRequests);
  if (!f.request_offset.empty()) {
    needs(true, t.workload->is_trace(), "--request-offset", "a trace (a distribution has no rows to skip)");
    t.list.offset = bounded_int("--request-offset", f.request_offset, 0, kMaxOffset);
  }
  if (!f.length_scale.empty()) {
    t.list.length_scale = positive_number("--length-scale", f.length_scale, "a factor of every length");
    if (t.list.length_scale > 1e6) throw ConfigError(fmt::format("--length-scale: {} exceeds the most allowed (1e6)", f.length_scale));
  }
  t.list.arrival = parse_arrival(f, t.workload->is_trace());
  if (!f.batching.empty()) {
    t.batching = parse_modes("--batching", f.batching, kAllBatchingModes, parse_batching_mode, "static, continuous");
    if (t.batching.empty()) throw ConfigError("--batching: the list is empty");
  }
  if (!f.balance.empty()) {
    t.balance = parse_modes("--balance", f.balance, kAllBalancePolicies, parse_balance_policy,
                            "round-robin, shortest-queue, least-tokens");
    if (t.balance.empty()) throw ConfigError("--balance: the list is empty");
  }
  const bool continuous =
      std::find(t.batching.begin(), t.batching.end(), BatchingMode::continuous) != t.batching.end();
  needs(!f.token_budget.empty(), continuous, "--token-budget", "--batching continuous");
  needs(!f.prefill_chunk.empty(), continuous, "--prefill-chunk", "--batching continuous");
  if (!f.token_budget.empty()) t.token_budget = bounded_int("--token-budget", f.token_budget, 0, kMaxTraceLength);
  if (!f.prefill_chunk.empty()) t.prefill_chunk = bounded_int("--prefill-chunk", f.prefill_chunk, 0, kMaxTraceLength);
  t.slo = parse_slo(f.slo);
  return t;
}

std::optional<RequestList> traffic_request_list(const TrafficOptions& traffic, const ModelConfig& model) {
  if (!traffic.workload) return std::nullopt;
  RequestList list = make_request_list(*traffic.workload, traffic.list);
  check_request_list(list, model.max_positions, model.name);
  return list;
}

}  // namespace llmt::cli
