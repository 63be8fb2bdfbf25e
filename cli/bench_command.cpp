// `llmthreads bench`: plan a sweep, run every valid configuration, verify each against the
// one-rank reference, and report as it goes (console, JSON, CSV).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "engine/backends.hpp"
#include "engine/error.hpp"
#include "engine/runner.hpp"
#include "engine/sweep.hpp"
#include "engine/sysinfo.hpp"
#include "kernels/cpu/blas.hpp"
#include "reports/reporter.hpp"

namespace llmt::cli {
namespace {

struct BenchOptions {
  std::string model = "gpt2";
  int layers = 0;
  std::string gpus;
  std::string strategy = "all";
  std::string sync = "blocking";
  std::string merge;
  std::string batch = "4", prompt = "128", gen = "16";
  int warmup = 1, iterations = 5;
  std::string dtype = "auto", backend = "auto";
  std::uint64_t seed = 1234;
  std::string json, csv;
  std::string replica_weights = "auto";
  bool quiet = false, dry_run = false;
};

std::vector<int> default_rank_counts(int devices) {
  std::vector<int> counts;
  for (int n = 1; n <= std::max(2, devices); n *= 2) counts.push_back(n);
  return counts;
}

SweepSpec make_spec(const BenchOptions& o, int devices) {
  SweepSpec spec;
  spec.ranks = o.gpus.empty() ? default_rank_counts(devices) : parse_positive_ints("--gpus", o.gpus);
  spec.strategies = split_list(o.strategy);
  for (const std::string& s : split_list(o.sync)) {
    if (s == "all") {
      spec.syncs.assign(std::begin(kAllSyncModes), std::end(kAllSyncModes));
      continue;
    }
    auto m = parse_sync_mode(s);
    if (!m) throw ConfigError(fmt::format("--sync: unknown mode '{}' (blocking, overlap, param-server, all)", s));
    spec.syncs.push_back(*m);
  }
  for (const std::string& s : split_list(o.merge)) {
    if (s == "all") {
      spec.merges.assign(std::begin(kAllMergeModes), std::end(kAllMergeModes));
      continue;
    }
    auto m = parse_merge_mode(s);
    if (!m) throw ConfigError(fmt::format("--merge: unknown mode '{}' (concat, sum, mean, all)", s));
    spec.merges.push_back(*m);
  }
  spec.batches = parse_positive_ints("--batch", o.batch);
  spec.prompts = parse_positive_ints("--prompt", o.prompt);
  spec.gens = parse_positive_ints("--gen", o.gen);
  return spec;
}

void print_plan(const ModelConfig& model, const std::vector<PlannedPoint>& plan) {
  fmt::print("{:<52} {:>5} {:>12} {:>12}  {}\n", "configuration", "ranks", "GiB/rank", "GiB total", "plan");
  for (const PlannedPoint& p : plan) {
    if (p.skip_reason) {
      fmt::print("{:<52} {:>5} {:>12} {:>12}  skip: {}\n", p.point.id(), p.point.layout.ranks(), "-", "-",
                 *p.skip_reason);
      continue;
    }
    std::size_t per_rank = 0;
    for (int r = 0; r < p.point.layout.ranks(); ++r)
      per_rank = std::max(per_rank, plan_rank_memory(model, p.point,
                                                     make_shard_plan(model, p.point.layout, p.point.workload, r),
                                                     DType::f32).total());
    fmt::print("{:<52} {:>5} {:>12.3f} {:>12.3f}  run\n", p.point.id(), p.point.layout.ranks(),
               per_rank / 1073741824.0, predicted_total_memory(model, p.point, DType::f32) / 1073741824.0);
  }
}

int run_bench(const BenchOptions& o, const std::string& command_line) {
  ModelConfig model = load_model(o.model);
  if (o.layers > 0) model = with_layers(model, o.layers);
  for (const std::string& note : model.notes) fmt::print(stderr, "note: {}: {}\n", model.name, note);

  const BackendChoice backend = resolve_backend(o.backend);
  if (o.dtype != "auto") {
    const auto dt = parse_dtype(o.dtype);
    if (!dt) throw ConfigError(fmt::format("--dtype: unknown type '{}' (fp32, bf16, fp16, auto)", o.dtype));
    if (backend.name == "cpu" && *dt != DType::f32)
      throw ConfigError(fmt::format("--dtype {}: the CPU backend computes in fp32 only", o.dtype));
  }
  if (o.iterations < 1) throw ConfigError("--iterations: at least 1 measured iteration is needed");
  if (o.warmup < 0) throw ConfigError("--warmup: must not be negative");

  const int devices = device_count(backend.name);
  const SweepSpec spec = make_spec(o, devices);
  const std::vector<PlannedPoint> plan = plan_sweep(model, spec, builtin_strategies());
  const auto runnable = std::count_if(plan.begin(), plan.end(), [](const PlannedPoint& p) { return !p.skip_reason; });
  if (o.dry_run) {
    print_plan(model, plan);
    fmt::print("{} configurations: {} to run, {} skipped\n", plan.size(), runnable, plan.size() - runnable);
    return 0;
  }
  if (!o.quiet) fmt::print(stderr, "{}\n", backend.why);
  prepare_backend(backend.name);

  RunMetadata run;
  const HostInfo& host = host_info();
  run.version = tool_version();
  run.git_commit = git_commit();
  run.timestamp = utc_timestamp();
  run.command_line = command_line;
  run.backend = backend.name;
  run.device = make_backend(backend.name, 0)->device_description();
  run.blas = blas::library_description();
  run.dtype = "fp32";
  run.host = host.hostname;
  run.cpu_model = host.cpu_model;
  run.os = host.os;
  run.cpu_governor = host.cpu_governor;
  run.logical_cpus = host.logical_cpus;
  run.affinity_cpus = host.affinity_cpus;
  run.memory_total_bytes = host.memory_total_bytes;
  run.load_average_1m = host.load_average_1m;
  run.warmup = o.warmup;
  run.iterations = o.iterations;
  run.seed = o.seed;
  run.model = model;
  run.max_ranks = *std::max_element(spec.ranks.begin(), spec.ranks.end());
  if (backend.name == "cpu" && run.max_ranks > host.affinity_cpus)
    run.warnings.push_back(fmt::format("{} ranks on {} usable CPUs: ranks share cores, so timings include "
                                       "oversubscription and do not show the scaling of separate devices",
                                       run.max_ranks, host.affinity_cpus));
  for (const std::string& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);

  MultiReporter reporters;
  reporters.attach(make_console_reporter());
  if (!o.json.empty()) reporters.attach(make_json_reporter(o.json));
  if (!o.csv.empty()) reporters.attach(make_csv_reporter(o.csv));
  reporters.begin(run);

  RunOptions ro;
  ro.backend = backend.name;
  ro.warmup = o.warmup;
  ro.iterations = o.iterations;
  ro.seed = o.seed;
  if (o.replica_weights == "private") ro.replica_weights = ReplicaWeights::private_copies;
  else if (o.replica_weights == "shared") ro.replica_weights = ReplicaWeights::shared;
  else if (o.replica_weights != "auto")
    throw ConfigError(fmt::format("--replica-weights: '{}' is not auto, private or shared", o.replica_weights));

  int failed = 0, index = 0;
  std::unique_ptr<StepLogits> reference;
  Workload reference_workload;
  std::string reference_error;
  for (const PlannedPoint& p : plan) {
    ++index;
    ConfigResult result;
    if (p.skip_reason) {
      result.point = p.point;
      result.status = ConfigStatus::skipped;
      result.reason = *p.skip_reason;
    } else {
      if (!reference || !(reference_workload == p.point.workload)) {
        reference.reset();
        reference_error.clear();
        reference_workload = p.point.workload;
        if (!o.quiet) fmt::print(stderr, "reference: one rank, {}\n", p.point.workload.label());
        try {
          reference = std::make_unique<StepLogits>(compute_reference(model, p.point.workload, ro));
        } catch (const Error& e) {
          reference_error = e.what();
        }
      }
      if (!o.quiet) fmt::print(stderr, "[{}/{}] {}\n", index, plan.size(), p.point.id());
      if (reference) {
        result = run_configuration(model, p.point, ro, reference.get());
      } else {
        result.point = p.point;
        result.status = ConfigStatus::failed;
        result.reason = reference_error;
      }
      if (result.status == ConfigStatus::failed) ++failed;
    }
    reporters.add(result);
  }
  reporters.end();
  fmt::print("{} configurations: {} run, {} failed, {} skipped\n", plan.size(), runnable - failed, failed,
             plan.size() - runnable);
  return failed > 0 ? 1 : 0;
}

}  // namespace

Command add_bench_command(CLI::App& app, const std::string& command_line) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Run a sweep of parallel configurations and report the metrics");
  cmd->add_option("--model,-m", o->model, "Model preset name (see `llmthreads list`) or path to a HuggingFace config.json")
      ->capture_default_str();
  cmd->add_option("--layers", o->layers, "Run only the first N layers of the model's real shape (default: all)");
  cmd->add_option("--gpus,--ranks,-g", o->gpus,
                  "Rank counts to sweep, e.g. 1,2,4 (CPU backend: thread ranks; default: powers of two up to the "
                  "device count)");
  cmd->add_option("--strategy,-s", o->strategy, "Strategies, comma-separated, or 'all' (see `llmthreads list`)")
      ->capture_default_str();
  cmd->add_option("--sync", o->sync, "Synchronisation modes: blocking, overlap, param-server, all")->capture_default_str();
  cmd->add_option("--merge", o->merge, "Merge modes: concat, sum, mean, all (default: each strategy's own)");
  cmd->add_option("--batch,-b", o->batch, "Batch sizes (sequences), comma-separated")->capture_default_str();
  cmd->add_option("--prompt,-p", o->prompt, "Prompt lengths in tokens, comma-separated")->capture_default_str();
  cmd->add_option("--gen", o->gen, "Generated tokens per sequence (first from prefill, then gen-1 decode steps)")
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Warm-up iterations per configuration (not measured)")->capture_default_str();
  cmd->add_option("--iterations,-n", o->iterations, "Measured iterations per configuration")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Compute type: auto, fp32, bf16, fp16 (CPU backend: fp32)")->capture_default_str();
  cmd->add_option("--backend", o->backend, "auto, cpu or cuda (auto: CUDA when a GPU is present)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the deterministic weights and tokens")->capture_default_str();
  cmd->add_option("--json", o->json, "Write results as JSON (rewritten after every configuration)");
  cmd->add_option("--csv", o->csv, "Write results as CSV (one row appended per configuration)");
  cmd->add_option("--replica-weights", o->replica_weights,
                  "CPU backend: data-parallel replicas keep private weight copies (private), share one read-only "
                  "copy (shared), or share only when private copies do not fit in memory (auto)")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", o->quiet, "No progress lines on stderr");
  cmd->add_flag("--dry-run", o->dry_run, "Print the planned configurations, skipped ones with reasons, and the "
                                         "predicted memory per rank, without running");
  return [o, command_line] { return run_bench(*o, command_line); };
}

}  // namespace llmt::cli
