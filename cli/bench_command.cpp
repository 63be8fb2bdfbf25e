// `llmthreads bench`: plan a sweep, run every valid configuration, verify each against the
// streamed fp32 reference within the noise floor of the run's dtype, and report as it goes (console, JSON, CSV). Ctrl-C stops after the
// configuration in progress; --resume continues an interrupted run.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/output_paths.hpp"
#include "cli/parse.hpp"
#include "cli/process_mode.hpp"
#include "cli/progress.hpp"
#include "cli/workload_options.hpp"
#include "engine/admission.hpp"
#include "engine/backends.hpp"
#include "engine/ceilings.hpp"
#include "engine/process_world.hpp"
#include "model/error.hpp"
#include "engine/reference.hpp"
#include "engine/runner.hpp"
#include "strategies/sweep.hpp"
#include "engine/sysinfo.hpp"
#include "engine/transformer.hpp"
#include "kernels/cpu/blas.hpp"
#include "reports/compare.hpp"
#include "reports/logits_dump.hpp"
#include "reports/reporter.hpp"

namespace llmt::cli {
namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void on_interrupt(int) {
  g_stop_requested.store(true);
  static const char msg[] = "\nllmthreads: stopping after the configuration in progress (Ctrl-C again to abort)\n";
  [[maybe_unused]] const auto n = ::write(2, msg, sizeof(msg) - 1);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process; the files on disk stay valid
}

struct BenchOptions {
  std::string model;    // empty: gpt2, or the config.json of --weights
  std::string weights;  // a HuggingFace checkpoint directory; empty: weights generated from the seed
  std::string layers;  // empty: every layer
  std::string gpus;
  std::string strategy = "all";
  std::string sync = "blocking";
  std::string merge;
  std::string microbatches = "auto";
  std::string dispatch = "alltoall";
  std::string batch = "4", prompt = "128", gen = "16";
  int warmup = 1, iterations = 10;  // 10 a side: compare can flag one test among hundreds (docs/ci.md)
  std::string target_rsd;
  int min_iters = 10, max_iters = 100;
  double max_time = 60;
  std::string dtype = "auto", backend = "auto";
  std::string seed = "1234";
  double collective_timeout = 900;
  std::string json, csv, resume;
  std::string dump_logits;  // safetensors file of the reference's and each configuration's logits
  std::string objective = "latency";
  std::string replica_weights = "auto";
  std::string ensemble_weights;
  int overlap_chunks = 4;
  std::string threads_per_rank = "auto";
  std::string inject_delay;
  std::string ceilings = "measure";  // measure, none, or a hardware profile name or path
  std::string hardware;  // plan for this hardware profile's devices instead of this machine's (--dry-run)
  std::string attention = "auto";
  std::string routing = "model";  // MoE: the model's router, or a controlled law
  bool quiet = false, dry_run = false, emulate_ranks = false, flush_l2 = false, cuda_graphs = false;
  bool profile = false;  // one configuration, with the profiler command and its hottest phases
  WorkloadFlags traffic;  // request-list workloads (cli/workload_options.hpp)
};

std::vector<int> default_rank_counts(int devices) {
  std::vector<int> counts;
  for (int n = 1; n <= std::max(2, devices); n *= 2) counts.push_back(n);
  return counts;
}

// Bounds on what a flag may ask for: far beyond any real run, far below where an int or a size
// computed from them could overflow.
constexpr int kMaxRanks = 4096;
constexpr int kMaxBatch = 1 << 20;
constexpr int kMaxTokens = 1 << 24;  // --prompt, --gen (the model's positions bound them further)
constexpr int kMaxIterations = 1000000;
constexpr int kMaxOverlapChunks = 1024;
constexpr double kMaxDecodeSamples = 1e8;  // per rank: iterations x (gen - 1)
// Seconds and milliseconds become std::chrono durations of int64 nanoseconds added to now():
// beyond about 292 years they wrap around (a timeout that expires at once). A million seconds
// (11.6 days) is beyond any real wait; 0 still means forever.
constexpr double kMaxSeconds = 1e6;

void check_int(const std::string& option, int value, int low, int high) {
  if (value < low || value > high)
    throw ConfigError(fmt::format("{}: {} is out of range (from {} to {})", option, value, low, high));
}
std::vector<int> bounded_list(const std::string& option, const std::string& text, int high) {
  std::vector<int> values = parse_positive_ints(option, text);
  for (int v : values)
    if (v > high) throw ConfigError(fmt::format("{}: {} exceeds the most allowed ({})", option, v, high));
  return values;
}

// --threads-per-rank: a count, or auto: the usable CPUs divided among the most ranks any
// configuration runs, from 1 to kMaxAutoThreads (a few threads already read what one rank's
// share of the memory bandwidth gives). One count for the whole run, so that the ceilings,
// measured once, hold for every configuration; a resumed run keeps its file's (1 in files from
// before the field), as its ceilings. Only backends whose ranks run on the host use it.
constexpr int kMaxAutoThreads = 8;
int threads_per_rank(const BenchOptions& o, const SweepSpec& spec, const BackendChoice& backend) {
  const bool host = backend_entry(backend.name).on_host;
  if (o.threads_per_rank == "auto") {
    if (!host) return 1;
    if (!o.resume.empty()) {  // load_resume reports a file that is not a results file
      const nlohmann::json run = read_results_file(o.resume)["run"];
      const bool recorded = run.is_object() && run.contains("threads_per_rank") && run["threads_per_rank"].is_number_integer();
      return recorded ? std::clamp(run["threads_per_rank"].get<int>(), 1, 1024) : 1;
    }
    const int most_ranks = *std::max_element(spec.ranks.begin(), spec.ranks.end());
    return std::clamp(host_info().affinity_cpus / std::max(1, most_ranks), 1, kMaxAutoThreads);
  }
  const int n = bounded_int("--threads-per-rank", o.threads_per_rank, 1, 1024);
  if (!host && n != 1)
    throw ConfigError(fmt::format("--threads-per-rank {}: the {} backend's ranks are devices; it takes only 1 or auto",
                                  n, backend.name));
  return n;
}

SweepSpec make_spec(const BenchOptions& o, int devices) {
  SweepSpec spec;
  spec.ranks = o.gpus.empty() ? default_rank_counts(devices) : bounded_list("--gpus", o.gpus, kMaxRanks);
  spec.strategies = split_list(o.strategy);
  spec.syncs = parse_modes("--sync", o.sync, kAllSyncModes, parse_sync_mode, "blocking, overlap, param-server");
  if (spec.syncs.empty()) throw ConfigError("--sync: the list is empty");
  spec.merges = parse_modes("--merge", o.merge, kAllMergeModes, parse_merge_mode, "concat, sum, mean");
  if (o.microbatches != "auto") spec.microbatches = bounded_list("--microbatches", o.microbatches, kMaxBatch);
  spec.dispatches = parse_modes("--dispatch", o.dispatch, kAllDispatchModes, parse_dispatch_mode, "alltoall, allgather");
  if (spec.dispatches.empty()) throw ConfigError("--dispatch: the list is empty");
  spec.batches = bounded_list("--batch", o.batch, kMaxBatch);
  spec.prompts = bounded_list("--prompt", o.prompt, kMaxTokens);
  spec.gens = bounded_list("--gen", o.gen, kMaxTokens);
  return spec;
}

void parse_inject_delay(const std::string& text, RunOptions& ro) {
  if (text.empty()) return;
  try {
    if (text.back() == '%') {
      ro.inject_delay_fraction = strict_number("--inject-delay", text.substr(0, text.size() - 1)) / 100.0;
    } else {
      const std::string number = text.size() > 2 && text.ends_with("ms") ? text.substr(0, text.size() - 2) : text;
      ro.inject_delay_ms = strict_number("--inject-delay", number);
    }
  } catch (const ConfigError&) {
    throw ConfigError(fmt::format("--inject-delay: '{}' is neither N% nor Nms", text));
  }
  if (ro.inject_delay_fraction < 0 || ro.inject_delay_ms < 0) throw ConfigError("--inject-delay: must not be negative");
  // Added to now() as a duration: bounded like every other time (kMaxSeconds).
  if (ro.inject_delay_ms > kMaxSeconds * 1000 || ro.inject_delay_fraction > 100)
    throw ConfigError(fmt::format("--inject-delay: '{}' exceeds the most allowed ({:.0f} ms or 10000%)", text,
                                  kMaxSeconds * 1000));
}

double largest_rank_memory(const ModelConfig& model, const ConfigPoint& point, DType dtype) {
  double per_rank = 0;
  for (int r = 0; r < point.layout.ranks(); ++r)
    per_rank = std::max(per_rank, static_cast<double>(
                                      plan_rank_memory(model, point, make_shard_plan(model, point, r), dtype).total()));
  return per_rank;
}
// Summed in floating point: a sum of huge per-rank sizes must not wrap around.
double total_memory(const ModelConfig& model, const ConfigPoint& point, DType dtype) {
  double total = 0;
  for (int r = 0; r < point.layout.ranks(); ++r)
    total += static_cast<double>(plan_rank_memory(model, point, make_shard_plan(model, point, r), dtype).total());
  return total;
}

void print_plan(const ModelConfig& model, const std::vector<PlannedPoint>& plan, DType dtype) {
  fmt::print("{:<58} {:>5} {:>10} {:>10}  {}\n", "configuration", "ranks", "GiB/rank", "GiB total", "plan");
  for (const PlannedPoint& p : plan) {
    if (p.skip_reason) {
      fmt::print("{:<58} {:>5} {:>10} {:>10}  skip: {}\n", p.point.id(), p.point.ranks(), "-", "-", *p.skip_reason);
      continue;
    }
    fmt::print("{:<58} {:>5} {:>10.3f} {:>10.3f}  run\n", p.point.id(), p.point.ranks(),
               largest_rank_memory(model, p.point, dtype) / 1073741824.0,
               total_memory(model, p.point, dtype) / 1073741824.0);
  }
}

// Results of an earlier run to keep: every configuration that ran (ok or failed). Refuses a
// file from a run whose measurements would not be comparable.
CarriedResults load_resume(const std::string& path, const RunMetadata& run) {
  const nlohmann::json doc = read_results_file(path);
  if (!doc["run"].is_object()) throw ConfigError(fmt::format("--resume {}: 'run' is not an object", path));
  // Every setting that changes what a configuration id measures must be the same.
  const nlohmann::json old = doc["run"], now = to_json(run);
  // Settings recorded only by later versions: a file without them ran with these values.
  const std::map<std::string, nlohmann::json> recorded_later = {
      {"replica_weights", "auto"}, {"inject_delay", ""}, {"emulated", false}, {"attention", "auto"},
      {"weights", "generated"}, {"routing", "model"}, {"threads_per_rank", 1}};
  for (const char* key : {"backend", "dtype", "seed", "warmup", "iterations", "measurement", "overlap_chunks",
                          "ensemble_weights", "replica_weights", "inject_delay", "emulated", "attention", "weights",
                          "routing", "threads_per_rank"}) {
    nlohmann::json before = old.value(key, nlohmann::json());
    const nlohmann::json after = now.value(key, nlohmann::json());
    if (before.is_null() && recorded_later.count(key)) before = recorded_later.at(key);
    if (before != after)
      throw ConfigError(fmt::format("--resume {}: that run used {} {}, this one {}; start a new file instead", path,
                                    key, before.dump(), after.dump()));
  }
  for (const char* key : {"name", "layers"}) {
    const nlohmann::json before = old.value("model", nlohmann::json::object()).value(key, nlohmann::json());
    const nlohmann::json after = now["model"][key];
    if (before != after)
      throw ConfigError(fmt::format("--resume {}: that run used model {} {}, this one {}; start a new file instead",
                                    path, key, before.dump(), after.dump()));
  }
  CarriedResults carried;
  carried.source = path;
  // A file of an older schema is kept in the current form, so that the file written now is of
  // one version; what the older llmthreads did not measure stays absent, and a note says so.
  const int version = doc["schema_version"].get<int>();
  for (std::size_t i = 0; i < doc["configurations"].size(); ++i) {
    const nlohmann::json& c = doc["configurations"][i];
    ConfigResult r = result_from_json(c, fmt::format("{}: configurations[{}]", path, i));
    if (r.status == ConfigStatus::skipped) continue;  // re-planned (and re-explained) by this run
    if (version != kSchemaVersion) {
      r.notes.push_back(fmt::format("kept from a schema_version {} file: {}", version, schema_upgrade_note(version)));
      carried.documents.push_back(to_json(r));
    } else {
      carried.documents.push_back(c);
    }
    carried.results.push_back(std::move(r));
  }
  return carried;
}

// A compute phase's floor over its measured time per call, "-" without work, "n/a" when no
// floor applies (cache-resident without a cache ceiling), "!" after one measured below it.
std::string phase_percent_of_floor(const PhaseSummary& ph) {
  if (ph.floor_bound == "none") return "n/a";
  if (!(ph.floor_ms > 0) || !(ph.ms > 0) || !(ph.calls > 0)) return "-";
  return fmt::format("{:.1f}%{}", 100.0 * ph.floor_ms / (ph.ms / ph.calls), ph.below_floor ? "!" : "");
}

RoutingMode routing_option(const std::string& text) {
  if (const auto mode = parse_routing(text)) return *mode;
  throw ConfigError(fmt::format("--routing: '{}' is not model, uniform, zipf:S (S > 0) or hot:F (0 <= F <= 1)", text));
}

// --attention: the kernel asked for; cuDNN exists only on the CUDA backend.
AttentionKernel attention_option(const std::string& text, const BackendChoice& backend) {
  const AttentionKernel kernel = parse_attention_kernel(text);
  if (kernel == AttentionKernel::cudnn && !backend_entry(backend.name).has_cudnn_attention)
    throw ConfigError(fmt::format("--attention cudnn: cuDNN attention needs the CUDA backend built with cuDNN (the {} "
                                  "backend of this build has none; use --attention auto or naive{})",
                                  backend.name, backend_registry().find("cuda") ? ", or --backend cuda" : ""));
  return kernel;
}

// --ceilings given as a hardware profile: read it before anything runs, so a bad name is an
// input error. Empty for measure and none.
std::optional<Ceilings> profile_ceilings(const std::string& option, DType dtype) {
  if (option == "measure" || option == "none") return std::nullopt;
  return load_hardware_profile(option, dtype);
}

// The ceilings of this run. `measure` reuses those of a resumed file, so that every floor in one
// results file comes from the same ceilings; otherwise it measures device/rank 0 of `backend`.
// A failed measurement is a warning, not an error: the run goes on without floors.
Ceilings run_ceilings(const BenchOptions& o, const std::optional<Ceilings>& profile, Backend& backend,
                      RunMetadata& run) {
  if (profile) return *profile;
  if (o.ceilings == "none") return {};
  if (!o.resume.empty()) {
    Ceilings kept = ceilings_from_json(read_results_file(o.resume)["run"], o.resume + ": run");
    if (kept.valid()) return kept;
  }
  try {
    return measure_ceilings(backend);
  } catch (const Error& e) {
    run.warnings.push_back(fmt::format("ceilings not measured, no speed-of-light floors: {}", e.what()));
    return {};
  }
}

// --model (default gpt2, or the config.json of --weights), cut to --layers.
ModelConfig load_bench_model(const BenchOptions& o) {
  std::string spec = o.model;
  if (spec.empty()) spec = o.weights.empty() ? "gpt2" : (std::filesystem::path(o.weights) / "config.json").string();
  ModelConfig model = load_model(spec);
  if (!o.layers.empty()) model = with_layers(model, bounded_int("--layers", o.layers, 1, 1 << 30));
  for (const std::string& note : model.notes) fmt::print(stderr, "note: {}: {}\n", model.name, note);
  return model;
}

// --weights: the checkpoint, checked against the model before anything runs.
std::shared_ptr<const Checkpoint> open_checkpoint(const std::string& dir, const ModelConfig& model) {
  if (dir.empty()) return nullptr;
  auto checkpoint = Checkpoint::open(dir);
  checkpoint->check(model);
  return checkpoint;
}

// Flags checked before the model is read or anything runs (output paths, counts, times).
void check_flags(const BenchOptions& o) {
  if (!o.resume.empty() && std::filesystem::is_directory(o.resume))
    throw ConfigError(fmt::format("--resume {}: is a directory; give the results file of the run", o.resume));
  check_sweep_paths({o.json, o.csv, o.dump_logits, o.resume, o.model, o.weights, o.ceilings, o.hardware});
  check_int("--warmup", o.warmup, 0, kMaxIterations);
  check_int("--iterations", o.iterations, 1, kMaxIterations);
  check_int("--overlap-chunks", o.overlap_chunks, 1, kMaxOverlapChunks);
  if (!std::isfinite(o.collective_timeout) || o.collective_timeout < 0)
    throw ConfigError(fmt::format("--collective-timeout: {} is not a number of seconds >= 0", o.collective_timeout));
  if (o.collective_timeout > kMaxSeconds)
    throw ConfigError(fmt::format("--collective-timeout: {} s exceeds the most allowed ({:.0f} s; 0 waits forever)",
                                  o.collective_timeout, kMaxSeconds));
  if (!std::isfinite(o.max_time) || o.max_time < 0)
    throw ConfigError(fmt::format("--max-time: {} is not a number of seconds >= 0", o.max_time));
  if (o.max_time > kMaxSeconds)
    throw ConfigError(fmt::format("--max-time: {} s exceeds the most allowed ({:.0f} s; 0: no limit)", o.max_time,
                                  kMaxSeconds));
}

std::vector<double> parse_ensemble_weights(const std::string& text) {
  std::vector<double> weights;
  for (const std::string& w : split_list(text)) {
    try {
      weights.push_back(strict_number("--ensemble-weights", w));
    } catch (const ConfigError&) {
      throw ConfigError(fmt::format("--ensemble-weights: '{}' is not a number", w));
    }
    if (!(weights.back() > 0)) throw ConfigError("--ensemble-weights: weights must be positive");
    // Relative weights: their sum must stay finite (1e308 twice would make every weight 0).
    if (weights.back() > 1e6) throw ConfigError(fmt::format("--ensemble-weights: '{}' exceeds the most allowed (1e6)", w));
  }
  return weights;
}

ReplicaWeights parse_replica_weights(const std::string& text) {
  if (text == "private") return ReplicaWeights::private_copies;
  if (text == "shared") return ReplicaWeights::shared;
  if (text != "auto") throw ConfigError(fmt::format("--replica-weights: '{}' is not auto, private or shared", text));
  return ReplicaWeights::automatic;
}

StoppingRule parse_stopping_rule(const BenchOptions& o) {
  StoppingRule rule = RunOptions{}.adaptive;
  if (o.target_rsd.empty()) return rule;
  rule.target_rse = parse_fraction(o.target_rsd, "--target-rsd");
  if (!(rule.target_rse > 0) || !(rule.target_rse <= 1))
    throw ConfigError(fmt::format("--target-rsd: '{}' must be above 0% and at most 100%", o.target_rsd));
  if (o.min_iters < 2) throw ConfigError("--min-iters: at least 2 (a spread needs two samples)");
  check_int("--min-iters", o.min_iters, 2, kMaxIterations);
  check_int("--max-iters", o.max_iters, 2, kMaxIterations);
  if (o.max_iters < o.min_iters) throw ConfigError("--max-iters: must not be below --min-iters");
  rule.min_iters = o.min_iters;
  rule.max_iters = o.max_iters;
  rule.max_time_s = o.max_time;
  return rule;
}

RunOptions make_run_options(const BenchOptions& o, const BackendChoice& backend) {
  // Asked for a host backend by name, GPU-only options contradict it (with auto they are
  // simply unused, and the report says so).
  if (o.backend != "auto" && backend_entry(backend.name).on_host)
    for (const auto& [given, name] : {std::pair{o.cuda_graphs, "--cuda-graphs"}, std::pair{o.flush_l2, "--flush-l2"}})
      if (given) throw ConfigError(fmt::format("{}: needs the CUDA backend, and --backend {} was given", name, o.backend));
  RunOptions ro;
  ro.backend = backend.name;
  ro.dtype = backend.dtype;
  ro.flush_cache = o.flush_l2;
  ro.cuda_graphs = o.cuda_graphs;
  ro.warmup = o.warmup;
  ro.iterations = o.iterations;
  ro.exec.seed = parse_seed(o.seed);
  ro.collective_timeout_s = o.collective_timeout;
  ro.exec.overlap_chunks = o.overlap_chunks;
  ro.exec.attention = attention_option(o.attention, backend);
  ro.exec.routing = routing_option(o.routing);
  ro.exec.ensemble_weights = parse_ensemble_weights(o.ensemble_weights);
  ro.replica_weights = parse_replica_weights(o.replica_weights);
  parse_inject_delay(o.inject_delay, ro);
  ro.adaptive = parse_stopping_rule(o);
  return ro;
}

// The sweep with a request-list workload, when --workload gives one: --batch is then each
// replica's slots, checked against the list for every batching mode.
SweepSpec with_traffic(SweepSpec spec, const TrafficOptions& traffic, const std::optional<RequestList>& requests) {
  if (!requests) return spec;
  for (BatchingMode mode : traffic.batching)
    for (int slots : spec.batches)
      check_batching_options(BatchingOptions{mode, slots, traffic.token_budget, traffic.prefill_chunk}, *requests);
  spec.requests = std::make_shared<const RequestList>(*requests);
  spec.batchings = traffic.batching;
  spec.balances = traffic.balance;
  spec.token_budget = traffic.token_budget;
  spec.prefill_chunk = traffic.prefill_chunk;
  spec.prompts = {1};  // the request list sets the lengths
  spec.gens = {1};
  return spec;
}

// The sweep's points, each with the reason it will not run, if any.
std::vector<PlannedPoint> plan_points(const BenchOptions& o, const ModelConfig& model, const RunOptions& ro,
                                      const SweepSpec& spec, int devices) {
  // Samples each rank keeps: (warmup-free) iterations times decode steps (a request list keeps
  // per-request samples instead).
  const double iterations = ro.adaptive.target_rse > 0 ? o.max_iters : o.iterations;
  const double steps = spec.requests ? 0 : *std::max_element(spec.gens.begin(), spec.gens.end()) - 1;
  if (iterations * steps > kMaxDecodeSamples)
    throw ConfigError(fmt::format("--iterations x --gen: {:.0f} measured decode steps per configuration exceed "
                                  "the most llmthreads records ({:.0f})",
                                  iterations * steps, kMaxDecodeSamples));
  std::vector<PlannedPoint> plan = plan_sweep(model, spec, builtin_strategies());
  admit_plan(plan, model, ro, devices);
  return plan;
}

long runnable_points(const std::vector<PlannedPoint>& plan) {
  return std::count_if(plan.begin(), plan.end(), [](const PlannedPoint& p) { return !p.skip_reason; });
}

// `profile` runs exactly one configuration and prints how to capture it.
void announce_profile(const std::vector<PlannedPoint>& plan, const std::string& command_line) {
  if (const long runnable = runnable_points(plan); runnable != 1) {
    for (const PlannedPoint& p : plan)
      if (p.skip_reason) fmt::print(stderr, "  {}: {}\n", p.point.id(), *p.skip_reason);
    throw ConfigError(fmt::format("profile runs exactly one configuration; these options plan {} (give one value "
                                  "each to --gpus, --strategy, --sync, --merge, --dispatch, --batch, --prompt, --gen)",
                                  runnable));
  }
  fmt::print(stderr,
             "to capture the measured iterations (NVTX ranges per phase, in the 'llmthreads' domain):\n  nsys "
             "profile --capture-range=cudaProfilerApi --capture-range-end=stop -t cuda,nvtx,osrt -o "
             "llmthreads-profile {}\n",
             command_line);
}

// --dry-run: the plan and its exit status (2 when nothing could run).
int print_dry_run(const ModelConfig& model, const std::vector<PlannedPoint>& plan, DType dtype) {
  print_plan(model, plan, dtype);
  const long runnable = runnable_points(plan);
  fmt::print("{} configurations: {} to run, {} skipped\n", plan.size(), runnable, plan.size() - runnable);
  if (runnable > 0) return 0;
  fmt::print(stderr, "llmthreads: error: nothing could run: all {} planned configuration(s) are skipped (reasons "
                     "above)\n", plan.size());
  return 2;
}

// The host's description, sampled after planning and before the first run.
void describe_host(RunMetadata& run, const BackendChoice& backend) {
  HostInfo host = host_info();
  // Competing work matters to host timings only.
  if (backend_entry(backend.name).on_host) host.cpu_busy_at_start = measure_cpu_busy(std::chrono::milliseconds(300));
  run.host = host.hostname;
  run.cpu_model = host.cpu_model;
  run.os = host.os;
  run.cpu_governor = host.cpu_governor;
  run.logical_cpus = host.logical_cpus;
  run.affinity_cpus = host.affinity_cpus;
  run.memory_total_bytes = host.memory_total_bytes;
  run.load_average_1m = host.load_average_1m;
  run.cpu_busy_at_start = host.cpu_busy_at_start;
  run.cpu_mhz = host.cpu_mhz;
  if (backend_entry(backend.name).on_host) run.warnings = timing_warnings(host, run.max_ranks);
}

// What the results file records about this run: tool, host, device, options.
RunMetadata describe_run(const BenchOptions& o, const RunOptions& ro, const BackendChoice& backend,
                         const ModelConfig& model, const SweepSpec& spec, const std::string& command_line,
                         const Backend& rank0) {
  RunMetadata run;
  run.version = tool_version();
  run.git_commit = git_commit();
  run.timestamp = utc_timestamp();
  run.command_line = command_line;
  run.backend = backend.name;
  run.device = rank0.device_description();
  run.blas = blas::library_description();
  run.dtype = std::string(dtype_name(backend.dtype));
  run.emulated = is_emulated(backend.name);
  run.attention = std::string(attention_kernel_name(ro.exec.attention));
  run.routing = ro.exec.routing.label();
  if (ro.exec.checkpoint) run.weights = std::filesystem::absolute(ro.exec.checkpoint->directory()).string();
  for (const auto& [key, value] : device_metadata(backend.name)) run.devices[key] = value;
  run.warmup = o.warmup;
  run.iterations = o.iterations;
  run.seed = ro.exec.seed;
  run.overlap_chunks = o.overlap_chunks;
  run.threads_per_rank = ro.threads_per_rank;
  run.replica_weights = o.replica_weights;
  run.inject_delay = o.inject_delay;
  run.target_rse = ro.adaptive.target_rse;
  if (ro.adaptive.target_rse > 0) {
    run.min_iters = ro.adaptive.min_iters;
    run.max_iters = ro.adaptive.max_iters;
    run.max_time_s = ro.adaptive.max_time_s;
  }
  run.compiler = compiler_version();
  run.libraries = library_versions();
  run.libraries["blas"] = blas::library_description();
  run.ensemble_weights = ro.exec.ensemble_weights;
  run.model = model;
  run.max_ranks = *std::max_element(spec.ranks.begin(), spec.ranks.end());
  if (process_world()) {
    run.launch = process_world()->launch();
    add_host_environments(*run.launch, run.device);
  }
  describe_host(run, backend);
  return run;
}

// The ids a workload's logits were computed from: per sequence, the prompt, then the
// teacher-forced inputs of the decode steps.
std::vector<std::int32_t> workload_token_ids(const Workload& w, std::uint64_t seed, int vocab) {
  std::vector<std::int32_t> ids;
  for (int seq = 0; seq < w.batch; ++seq)
    for (int pos = 0; pos < w.context(); ++pos) ids.push_back(input_token(seed, seq, pos, vocab));
  return ids;
}

void dump_reference(LogitsDump& dump, const ConfigPoint& point, const StepLogits& reference, const ModelConfig& model,
                    const RunOptions& ro) {
  const Workload& w = point.workload;
  const std::string ids = "input_ids/" + w.label();
  if (!dump.has(ids)) dump.add_token_ids(ids, workload_token_ids(w, ro.exec.seed, model.vocab), w.batch, w.context());
  const std::string name = "reference/" + w.label() +
                           (point.ensemble() ? fmt::format("/mean of {} members", point.layout.dp) : "");
  if (!dump.has(name)) dump.add_logits(name, reference, w.batch, model.vocab);
}

// One planned point: skipped with its reason, failed for want of a reference, or run. With
// `dump`, its logits (and its reference's, once) go there.
ConfigResult run_point(const PlannedPoint& p, const ModelConfig& model, const RunOptions& ro,
                       ReferenceSet& references, Progress& progress, int index, int total, LogitsDump* dump) {
  ConfigResult result;
  result.point = p.point;
  if (p.skip_reason) {
    result.status = ConfigStatus::skipped;
    result.reason = *p.skip_reason;
    return result;
  }
  const VerificationReference* reference = nullptr;
  try {
    reference = &references.for_point(p.point);
  } catch (const Error& e) {
    result.status = ConfigStatus::failed;
    result.reason = e.what();
  }
  progress.start(index, total, p.point.id());
  StepLogits logits;
  if (reference) result = run_configuration(model, p.point, ro, reference, dump ? &logits : nullptr);
  progress.finish();
  if (dump && reference) {
    dump_reference(*dump, p.point, reference->logits, model, ro);
    if (!logits.empty()) dump->add_logits(p.point.id(), logits, p.point.workload.batch, model.vocab);
  }
  return result;
}

struct SweepOutcome {
  std::vector<ConfigResult> results;  // carried ones first
  int ran = 0, failed = 0, skipped = 0;
  int not_run = 0;  // planned and left unrun (Ctrl-C)
};

// Runs every planned point not kept from a resumed file, handing each result to the reporters
// before the next starts. Ctrl-C stops after the configuration in progress.
SweepOutcome run_sweep(const std::vector<PlannedPoint>& plan, const ModelConfig& model, const RunOptions& ro,
                       const CarriedResults& carried, MultiReporter& reporters, bool quiet, LogitsDump* dump) {
  SweepOutcome out;
  out.results = carried.results;
  std::set<std::string> done;
  for (const ConfigResult& r : carried.results) done.insert(r.point.id());
  done = kept_ids_of_rank0(done);  // process mode: every process skips what rank 0 keeps
  const auto to_run = std::count_if(plan.begin(), plan.end(), [&](const PlannedPoint& p) {
    return !p.skip_reason && !done.count(p.point.id());
  });
  Progress progress(static_cast<int>(to_run), quiet);
  ReferenceSet references(model, ro, [&progress](const std::string& line) { progress.message(line); });
  g_stop_requested.store(false);
  const auto previous_handler = std::signal(SIGINT, on_interrupt);
  int index = 0;
  for (const PlannedPoint& p : plan) {
    ++index;
    if (rank0_says(g_stop_requested.load())) break;
    if (!done.insert(p.point.id()).second) continue;  // kept from the resumed file
    ConfigResult result = run_point(p, model, ro, references, progress, index, static_cast<int>(plan.size()), dump);
    out.failed += result.status == ConfigStatus::failed;
    (result.status == ConfigStatus::skipped ? out.skipped : out.ran) += 1;
    progress.pause();
    reporters.add(result);
    progress.resume();
    out.results.push_back(std::move(result));
    if (world_lost()) break;  // the world cannot run what is left
  }
  std::signal(SIGINT, previous_handler);
  progress.pause();
  for (const PlannedPoint& p : plan) out.not_run += done.count(p.point.id()) == 0;
  return out;
}

// `profile`: the hottest phases of the configuration it ran.
void print_hottest_phases(const std::vector<ConfigResult>& results) {
  for (const ConfigResult& r : results) {
    if (r.metrics.phases.empty()) continue;
    std::vector<const PhaseSummary*> hottest;
    for (const PhaseSummary& ph : r.metrics.phases) hottest.push_back(&ph);
    std::sort(hottest.begin(), hottest.end(), [](auto* a, auto* b) { return a->ms_max_rank > b->ms_max_rank; });
    fmt::print("\nhottest phases of {} (ms per iteration, slowest rank; % of its speed-of-light floor, ! faster than it):\n",
               r.point.id());
    for (std::size_t i = 0; i < std::min<std::size_t>(15, hottest.size()); ++i)
      fmt::print("  {:>10.3f}  {:>6}  {:<13} {}{}\n", hottest[i]->ms_max_rank, phase_percent_of_floor(*hottest[i]),
                 hottest[i]->category, hottest[i]->path,
                 hottest[i]->detail.empty() ? "" : "  (" + hottest[i]->detail + ")");
  }
}

// The documented exit status: 130 interrupted, 2 nothing ran, 1 a configuration failed, 0.
int sweep_exit_status(const SweepOutcome& out, const CarriedResults& carried, bool interrupted,
                      const std::string& json_path) {
  if (interrupted) {
    fmt::print(stderr, "interrupted: {} configuration(s) not run; continue with --resume {}\n", out.not_run,
               json_path.empty() ? std::string("<the --json file>") : json_path);
    return 130;
  }
  int failed = out.failed;
  for (const ConfigResult& r : carried.results) failed += r.status == ConfigStatus::failed;
  // A sweep in which nothing ran is not a pass: a CI job must not go green on it.
  if (out.ran == 0 && carried.results.empty()) {
    fmt::print(stderr, "llmthreads: error: nothing could run: all {} configuration(s) were skipped (reasons above)\n",
               out.skipped);
    return 2;
  }
  return failed > 0 ? 1 : 0;
}

// Process mode, a process lost: the results so far are on disk; rank 0 ends every process of the
// job (the others may wait for the lost one), with the documented status 1.
[[noreturn]] void end_lost_world(ProcessWorld& world, const SweepOutcome& out, const std::string& json_path) {
  if (world.rank() != 0) {
    // Rank 0 records the failure, writes the file and ends the job; this process only leaves.
    std::fflush(stdout);
    std::_Exit(1);
  }
  fmt::print(stderr,
             "llmthreads: error: {}; the sweep stopped with {} configuration(s) not run; {}\n", world.lost(),
             out.not_run,
             json_path.empty() ? std::string("no results file (no --json)")
                               : fmt::format("the results so far are in {} (continue with --resume {})", json_path,
                                             json_path));
  world.abort_job(1);
  std::_Exit(1);  // not reached: abort_job ends the process
}

// Process mode: rank 0 alone prints, measures the ceilings and writes the results.
BenchOptions for_this_process(BenchOptions o) {
  if (is_reporting_process()) return o;
  o.quiet = true;
  o.ceilings = "none";
  o.json.clear();
  o.csv.clear();
  o.dump_logits.clear();
  o.resume.clear();  // rank 0 reads it and tells the others what it keeps
  return o;
}

// Process mode: one rank per process, so the world's size is the device count.
int sweep_devices(const std::string& backend) {
  return process_world() ? process_world()->size() : device_count(backend);
}

void announce_run(const RunMetadata& run, bool quiet) {
  if (!quiet) fmt::print(stderr, "{}\n", describe_ceilings(run.ceilings));
  if (!is_reporting_process()) return;
  for (const std::string& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
}

MultiReporter make_reporters(const BenchOptions& o, const std::string& json_path) {
  MultiReporter reporters;
  if (is_reporting_process()) reporters.attach(make_console_reporter());
  if (!json_path.empty()) reporters.attach(make_json_reporter(json_path));
  if (!o.csv.empty()) reporters.attach(make_csv_reporter(o.csv));
  return reporters;
}

void print_totals(const SweepOutcome& out, const CarriedResults& carried, const std::string& resumed) {
  if (!is_reporting_process()) return;
  fmt::print("{} configurations: {} run ({} failed), {} skipped{}\n", out.ran + out.skipped, out.ran, out.failed,
             out.skipped, carried.results.empty() ? "" : fmt::format(", {} kept from {}", carried.results.size(), resumed));
}

// --hardware: the plan for devices that are not here, one per rank, of the profile's memory; the
// dtype is --dtype (bf16 for auto). Planning only: nothing runs.
int plan_for_hardware(const BenchOptions& o, const ModelConfig& model, const TrafficOptions& traffic,
                      const std::optional<RequestList>& requests) {
  if (!o.dry_run)
    throw ConfigError(fmt::format("--hardware {}: plans for devices that are not present, so it needs --dry-run (to "
                                  "run, use --backend with the devices this machine has)",
                                  o.hardware));
  const HardwareProfile hw = load_hardware_description(o.hardware);
  const std::optional<DType> dtype = o.dtype == "auto" ? DType::bf16 : parse_dtype(o.dtype);
  if (!dtype) throw ConfigError(fmt::format("--dtype: '{}' is not auto, fp32, bf16 or fp16", o.dtype));
  RunOptions ro;
  ro.dtype = *dtype;
  ro.planned_device = PlannedDevice{hw.name, hw.memory_bytes};
  ro.exec.ensemble_weights = parse_ensemble_weights(o.ensemble_weights);
  const SweepSpec spec = with_traffic(make_spec(o, 8), traffic, requests);
  const std::vector<PlannedPoint> plan = plan_points(o, model, ro, spec, kMaxRanks);
  const Workload first{spec.batches.front(), spec.prompts.front(), spec.gens.front()};
  const double reference_gib = static_cast<double>(predict_streamed_memory(model, first, DType::f32).total()) / 1073741824.0;
  fmt::print("planned for {} ({}; {}): one device of {:.2f} GiB per rank, {}; a configuration that fits is verified "
             "against the streamed fp32 reference, which needs {:.2f} GiB on one device for {}\n",
             hw.device, hw.name, hw.source, static_cast<double>(hw.memory_bytes) / 1073741824.0, dtype_name(*dtype),
             reference_gib, first.label());
  return print_dry_run(model, plan, *dtype);
}

int run_bench(const BenchOptions& given, const std::string& command_line) {
  const BenchOptions o = for_this_process(given);
  check_flags(o);
  if (ProcessWorld* world = process_world()) world->set_wait_limit(o.collective_timeout);
  ModelConfig model = load_bench_model(o);
  const TrafficOptions traffic = parse_traffic_options(o.traffic, parse_seed(o.seed));
  const std::optional<RequestList> requests = traffic_request_list(traffic, model);
  if (requests && !o.dump_logits.empty())
    throw ConfigError("--dump-logits: not written for request-list workloads (--workload) yet");
  if (!o.hardware.empty()) return plan_for_hardware(o, model, traffic, requests);
  if (!model.moe() && o.routing != "model")
    throw ConfigError(fmt::format("--routing {}: {} has no experts to route to", o.routing, model.name));
  const BackendChoice backend = resolve_backend(o.backend, o.dtype, o.emulate_ranks);
  const auto objective = parse_objective(o.objective);
  if (!objective) throw ConfigError(fmt::format("--objective: '{}' is not latency, throughput or memory", o.objective));
  RunOptions ro = make_run_options(o, backend);
  ro.slo = traffic.slo;
  ro.exec.checkpoint = open_checkpoint(o.weights, model);
  const std::optional<Ceilings> profile = profile_ceilings(o.ceilings, backend.dtype);

  const int devices = sweep_devices(backend.name);
  const SweepSpec spec = with_traffic(make_spec(o, devices), traffic, requests);
  ro.threads_per_rank = threads_per_rank(o, spec, backend);
  std::vector<PlannedPoint> plan = plan_points(o, model, ro, spec, devices);
  align_plan_with_rank0(plan);
  if (o.profile) announce_profile(plan, command_line);
  if (o.dry_run) return is_reporting_process() ? print_dry_run(model, plan, backend.dtype) : 0;
  if (!o.quiet) fmt::print(stderr, "{}\n", backend.why);
  prepare_backend(backend.name);

  std::unique_ptr<Backend> rank0 = make_backend(backend.name, process_device(backend.name), backend.dtype, ro.threads_per_rank);
  RunMetadata run = describe_run(o, ro, backend, model, spec, command_line, *rank0);
  CarriedResults carried;
  std::string json_path = o.json;
  if (!o.resume.empty()) {
    run.resumed_from = o.resume;
    carried = load_resume(o.resume, run);
    if (json_path.empty()) json_path = o.resume;
  }
  // After the idle CPU sample in describe_run: measuring is competing work.
  run.ceilings = ro.ceilings = run_ceilings(o, profile, *rank0, run);
  rank0.reset();  // its buffers are freed before the first configuration allocates
  announce_run(run, o.quiet);

  MultiReporter reporters = make_reporters(o, json_path);
  reporters.begin(run, carried);
  std::unique_ptr<LogitsDump> dump = o.dump_logits.empty() ? nullptr : std::make_unique<LogitsDump>(o.dump_logits);
  const SweepOutcome out = run_sweep(plan, model, ro, carried, reporters, o.quiet, dump.get());
  // A dump that cannot be written (a full disk) is reported after the results are complete.
  std::optional<Error> dump_error;
  if (dump) {
    try {
      const std::size_t tensors = dump->finish({{"model", model.name}, {"dtype", run.dtype}, {"backend", run.backend},
                                                {"seed", std::to_string(ro.exec.seed)}, {"llmthreads", run.version}});
      if (!o.quiet) fmt::print(stderr, "logits: {} tensors written to {}\n", tensors, o.dump_logits);
    } catch (const Error& e) {
      dump_error = e;
    }
  }

  RunSummary summary;
  summary.objective = std::string(objective_name(*objective));
  summary.ranking = rank_configurations(out.results, *objective);
  // Interrupted means something planned was left unrun (a Ctrl-C during the last one is not).
  summary.interrupted = (g_stop_requested.load() || world_lost()) && out.not_run > 0;
  summary.complete = !summary.interrupted;
  reporters.end(summary);
  if (dump_error) throw *dump_error;
  print_totals(out, carried, o.resume);
  if (o.profile) print_hottest_phases(out.results);
  if (world_lost()) end_lost_world(*process_world(), out, json_path);
  return sweep_exit_status(out, carried, summary.interrupted, json_path);
}

// What to sweep: the model, the rank counts, strategies and modes, the workloads.
void add_axis_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  cmd->add_option("--model,-m", o->model,
                  "Model preset name (see `llmthreads list`) or path to a HuggingFace config.json (default: gpt2, or "
                  "the config.json of --weights)");
  cmd->add_option("--weights", o->weights,
                  "Read the weights from this HuggingFace checkpoint directory (*.safetensors, sharded with "
                  "model.safetensors.index.json; fp32, bf16, fp16), each rank only its shard, instead of "
                  "generating them from --seed; the reference uses the same weights");
  cmd->add_option("--layers", o->layers, "Run only the first N layers of the model's real shape (default: all)")
      ->type_name("INT");
  cmd->add_option("--gpus,--ranks,-g", o->gpus,
                  "Rank counts to sweep, e.g. 1,2,4 (CPU backend: thread ranks; under mpirun or srun: one rank per "
                  "process, counts above the world's size skipped; default: powers of two up to the device count, "
                  "or the world's size)");
  cmd->add_option("--strategy,-s", o->strategy, "Strategies, comma-separated, or 'all' (every one that applies to the model; see `llmthreads list`)")
      ->capture_default_str();
  cmd->add_option("--sync", o->sync, "Synchronisation modes: blocking, overlap, param-server, all")->capture_default_str();
  cmd->add_option("--merge", o->merge, "Merge modes: concat, sum, mean, all (default: each strategy's own)");
  cmd->add_option("--microbatches", o->microbatches,
                  "Pipeline micro-batches per replica, comma-separated, or auto (one per stage)")
      ->capture_default_str();
  cmd->add_option("--dispatch", o->dispatch,
                  "Expert parallelism (ep): how tokens reach the ranks holding their experts: alltoall (counts, then "
                  "the tokens, by all-to-all, and back), allgather (every token to every rank, partial outputs "
                  "reduce-scattered), all")
      ->capture_default_str();
  cmd->add_option("--batch,-b", o->batch, "Batch sizes (sequences), comma-separated")->capture_default_str();
  cmd->add_option("--prompt,-p", o->prompt, "Prompt lengths in tokens, comma-separated")->capture_default_str();
  cmd->add_option("--gen", o->gen, "Generated tokens per sequence (first from prefill, then gen-1 decode steps)")
      ->capture_default_str();
  add_workload_options(cmd, o->traffic);
}

// How to measure, on what, and where the results go.
void add_run_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  cmd->add_option("--warmup", o->warmup, "Warm-up iterations per configuration (not measured)")->capture_default_str();
  cmd->add_option("--iterations,-n", o->iterations,
                  "Measured iterations per configuration (without --target-rsd); compare needs about 10 a side "
                  "to flag a regression among many configurations")
      ->capture_default_str();
  cmd->add_option("--target-rsd", o->target_rsd,
                  "Adaptive measurement: measure each configuration until the relative standard error of the "
                  "mean e2e latency is at most this (e.g. 1%), within --min-iters, --max-iters, --max-time");
  cmd->add_option("--min-iters", o->min_iters, "Adaptive measurement: samples taken at least")->capture_default_str();
  cmd->add_option("--max-iters", o->max_iters, "Adaptive measurement: samples taken at most")->capture_default_str();
  cmd->add_option("--max-time", o->max_time, "Adaptive measurement: seconds of measured time per configuration, "
                                             "at most (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--objective", o->objective, "Ranking at the end: latency, throughput or memory")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Compute type: auto, fp32, bf16, fp16 (CPU backend: fp32)")->capture_default_str();
  cmd->add_option("--backend", o->backend, "auto, cpu or cuda (auto: CUDA when a GPU is present)")->capture_default_str();
  cmd->add_flag("--emulate-ranks", o->emulate_ranks,
                "CUDA: run all ranks on GPU 0 with a device-local communicator, to check the multi-rank logic of "
                "every strategy on one GPU (timings are not multi-GPU timings; reports say 'emulated')");
  cmd->add_flag("--flush-l2", o->flush_l2, "CUDA: evict the L2 cache between iterations");
  cmd->add_flag("--cuda-graphs", o->cuda_graphs,
                "CUDA: capture each decode step once and replay it as a CUDA graph (one GPU per rank, no pipeline, "
                "no overlap; the report says whether graphs were used)");
  cmd->add_option("--seed", o->seed, "Seed of the deterministic weights and tokens (0 to 2^64-1)")
      ->type_name("UINT")
      ->capture_default_str();
  cmd->add_option("--collective-timeout", o->collective_timeout,
                  "Seconds a collective may wait for the other ranks before the configuration fails, naming the "
                  "collective and the ranks that did not arrive (0: wait forever); under mpirun or srun also how "
                  "long rank 0 waits for a lost process before it stops the sweep (exit status 1)")
      ->capture_default_str();
  cmd->add_option("--threads-per-rank", o->threads_per_rank,
                  "CPU backend: threads each rank computes with (its GEMMs and the read-bandwidth ceiling); auto: "
                  "the usable CPUs divided among the most ranks of the sweep, 1 to 8")
      ->capture_default_str();
  cmd->add_option("--overlap-chunks", o->overlap_chunks,
                  "overlap sync: column chunks of each row-parallel GEMM, each all-reduced while the next computes")
      ->capture_default_str();
  cmd->add_option("--ensemble-weights", o->ensemble_weights,
                  "mean merge: one weight per replica, comma-separated (default: equal weights)");
  cmd->add_option("--ceilings", o->ceilings,
                  "Speed-of-light floors: measure (copy bandwidth and GEMM throughput of device/rank 0 in the run's "
                  "dtype, at start, under a second; a resumed run keeps its file's), none, or a hardware profile: a "
                  "name under profiles/hardware (h100-sxm-80gb, h200-141gb: datasheet figures) or a file path")
      ->capture_default_str();
  cmd->add_option("--routing", o->routing,
                  "MoE models: how tokens choose their experts, the same in the reference and every configuration: "
                  "model (the model's router), uniform (an even spread), zipf:S (a Zipf law of exponent S over the "
                  "experts, expert 0 the most popular), hot:F (a share F of tokens sends its first choice to expert 0)")
      ->capture_default_str();
  cmd->add_option("--attention", o->attention,
                  "Attention kernel: auto (the backend's best: cuDNN fused SDPA on the CUDA backend where it "
                  "accepts the shape), cudnn (CUDA backend only; fails where cuDNN refuses), naive (the engine's "
                  "own kernel)")
      ->capture_default_str();
  cmd->add_option("--json", o->json, "Write results as JSON (rewritten after every configuration)");
  cmd->add_option("--csv", o->csv, "Write results as CSV (one row appended per configuration)");
  cmd->add_option("--dump-logits", o->dump_logits,
                  "Write the reference's logits and those of each configuration that runs, with their token ids, to "
                  "this safetensors file (tensors input_ids/WORKLOAD, reference/WORKLOAD and one per configuration "
                  "id, [gen, batch, vocab] fp32), to check them against another implementation");
  cmd->add_option("--resume", o->resume,
                  "Continue an interrupted run: keep the configurations in this JSON file, run the others (the "
                  "JSON output defaults to the same file)");
  cmd->add_option("--replica-weights", o->replica_weights,
                  "CPU backend: data-parallel replicas keep private weight copies (private), share one read-only "
                  "copy (shared), or share only when private copies do not fit in memory (auto)")
      ->capture_default_str();
  cmd->add_option("--inject-delay", o->inject_delay, "Test hook: delay each iteration by N% or Nms")
      ->group("");  // hidden: for testing regression detection
  cmd->add_flag("--quiet,-q", o->quiet, "No progress lines on stderr");
}

void add_sweep_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  add_axis_options(cmd, o);
  add_run_options(cmd, o);
  // An option given with an empty value ("--gpus ''") is an error, not a silent default.
  const CLI::Validator not_empty(
      [](std::string& value) { return value.empty() ? std::string("an empty value is not allowed") : std::string(); },
      "", "not empty");
  for (CLI::Option* opt : cmd->get_options())
    if (opt->get_expected_min() > 0) opt->check(not_empty);
}

}  // namespace

Command add_bench_command(CLI::App& app, const std::string& command_line) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Run a sweep of parallel configurations and report the metrics");
  add_sweep_options(cmd, o);
  cmd->add_flag("--dry-run", o->dry_run, "Print the planned configurations, skipped ones with reasons, and the "
                                         "predicted memory per rank, without running");
  cmd->add_option("--hardware", o->hardware,
                  "With --dry-run: plan for devices that are not present, one per rank, with the memory of this "
                  "hardware profile (a name under profiles/hardware, e.g. h100-sxm-80gb, h200-141gb, or a file path); "
                  "--dtype auto means bf16");
  return [o, command_line] { return run_bench(*o, command_line); };
}

Command add_profile_command(CLI::App& app, const std::string& command_line) {
  auto o = std::make_shared<BenchOptions>();
  o->profile = true;
  o->strategy = "tp";
  o->gpus = "1";
  o->iterations = 3;
  CLI::App* cmd = app.add_subcommand(
      "profile", "Run one configuration for a profiler: NVTX ranges per phase, cudaProfilerStart/Stop around the "
                 "measured iterations; prints the Nsight Systems command that captures exactly those");
  add_sweep_options(cmd, o);
  return [o, command_line] { return run_bench(*o, command_line); };
}

}  // namespace llmt::cli
