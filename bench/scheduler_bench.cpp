// The scheduler's host time per continuous-batching step, as a share of the step: one request-list
// configuration runs through the engine on the CPU, and every step records the host time its
// scheduler took to choose and record it (TrafficMetrics::scheduler_ms_per_step, scheduler_share).
// Issue 21's target: under 2% for a batch of 64 on the tiny model. Both figures come from one run.
//   llmt_scheduler_bench [--model tiny] [--slots 64] [--requests 512] [--iterations 3]
//                        [--workload uniform:96:32:0.9] [--prefill-chunk 0]
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "engine/backends.hpp"
#include "engine/runner.hpp"
#include "engine/traffic.hpp"
#include "kernels/builtin_backends.hpp"
#include "model/error.hpp"
#include "model/model.hpp"

namespace {

struct Options {
  std::string model = "tiny", workload = "uniform:96:32:0.9";
  int slots = 64, requests = 512, iterations = 3, prefill_chunk = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") o.model = value;
    else if (flag == "--workload") o.workload = value;
    else if (flag == "--slots") o.slots = std::atoi(value.c_str());
    else if (flag == "--requests") o.requests = std::atoi(value.c_str());
    else if (flag == "--iterations") o.iterations = std::atoi(value.c_str());
    else if (flag == "--prefill-chunk") o.prefill_chunk = std::atoi(value.c_str());
    else throw llmt::ConfigError("unknown option " + flag);
  }
  if (o.slots < 1 || o.requests < 1 || o.iterations < 1) throw llmt::ConfigError("counts must be positive");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace llmt;
  try {
    const Options o = parse(argc, argv);
    register_builtin_backends();
    const ModelConfig model = load_model(o.model);
    RequestListOptions list_options;
    list_options.requests = o.requests;
    list_options.seed = 1234;
    auto plan = std::make_shared<TrafficPlan>();
    plan->requests = std::make_shared<const RequestList>(
        make_request_list(parse_workload_source(o.workload), list_options));
    check_request_list(*plan->requests, model.max_positions, model.name);
    plan->batching = BatchingOptions{BatchingMode::continuous, o.slots, 0, o.prefill_chunk};
    ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, sizing_workload(*plan, 1)};
    point.traffic = plan;
    RunOptions run;
    run.backend = "cpu";
    run.warmup = 1;
    run.iterations = o.iterations;
    prepare_backend("cpu");
    const ConfigResult r = run_configuration(model, point, run, nullptr);
    if (r.status != ConfigStatus::ok) throw Error("the configuration did not run: " + r.reason);
    const TrafficMetrics& t = r.metrics.traffic;
    const double steps = t.replicas.empty() ? 0 : t.replicas.front().steps;
    const double step_ms = steps > 0 ? t.replicas.front().busy_ms / steps : 0;
    fmt::print("scheduler host time, continuous batching, {} slots, {} requests ({}), {} on the CPU, {} iterations:\n",
               o.slots, o.requests, o.workload, o.model, r.iterations);
    fmt::print("  steps per iteration      {:.0f}\n", steps);
    fmt::print("  step (engine) ms         {:.4f}\n", step_ms);
    fmt::print("  scheduler ms per step    {:.4f}\n", t.scheduler_ms_per_step);
    fmt::print("  scheduler share of step  {:.3f}%  (target < 2%: {})\n", 100.0 * t.scheduler_share,
               t.scheduler_share < 0.02 ? "met" : "NOT met");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "llmt_scheduler_bench: {}\n", e.what());
    return 2;
  }
}
