// Google Benchmark of the CPU backend's GEMM (CBLAS, one thread) alone, for exactly the shapes
// the engine issues for a model and workload. With --compare-engine it then runs the engine on
// the same configuration and prints, per shape, the engine's GEMM phase time against the
// GEMM alone: the overhead of the engine's timing and surroundings on its own kernels. Then the
// decode table (bench/decode_table.hpp): the decode GEMMs of Llama-3-8B and Qwen3-30B-A3B's
// experts at m = 1, 4, 16, 64, engine path and CBLAS alone against the read floor.
//
//   build/bench/llmt_gemm_bench --model=llama-3-8b --layers=2 --batch=4 --prompt=128 --gen=16 --compare-engine
//   build/bench/llmt_gemm_bench --decode-table=only --threads=1 --min-read-share=0.7
//
// --decode-table=yes|no|only (default yes), --threads=N threads per rank for the decode table
// (default 1), --min-read-share=F exits 1 when a decode GEMM of m <= 16 reads, through the
// engine's path, below F of the read ceiling.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstring>
#include <map>
#include <random>

#include "bench/decode_table.hpp"
#include "engine/backends.hpp"
#include "model/error.hpp"
#include "engine/runner.hpp"
#include "kernels/builtin_backends.hpp"
#include "kernels/cpu/blas.hpp"

namespace {

using namespace llmt;

struct Options {
  std::string model = "llama-3-8b";
  int layers = 2, batch = 4, prompt = 128, gen = 16, tp = 1, iterations = 3;
  bool compare_engine = false;
  double max_ratio = 0;  // when set, exit 1 if any shape's engine/alone ratio exceeds it
  std::string decode_table = "yes";
  llmt::bench::DecodeTableOptions decode;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq), val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "--model") o.model = val;
    else if (key == "--layers") o.layers = std::stoi(val);
    else if (key == "--batch") o.batch = std::stoi(val);
    else if (key == "--prompt") o.prompt = std::stoi(val);
    else if (key == "--gen") o.gen = std::stoi(val);
    else if (key == "--tp") o.tp = std::stoi(val);
    else if (key == "--iterations") o.iterations = std::stoi(val);
    else if (key == "--max-ratio") o.max_ratio = std::stod(val);
    else if (a == "--compare-engine") o.compare_engine = true;
    else if (key == "--decode-table" && (val == "yes" || val == "no" || val == "only")) o.decode_table = val;
    else if (key == "--threads") o.decode.threads = std::max(1, std::stoi(val));
    else if (key == "--min-read-share") o.decode.min_read_share = std::stod(val);
    else throw ConfigError(fmt::format("unknown option '{}' (see the comment at the top of gemm_bench.cpp)", a));
  }
  return o;
}

void bench_gemm(benchmark::State& state, GemmShape g) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> a(std::size_t(g.m) * g.k), w(std::size_t(g.n) * g.k), c(std::size_t(g.m) * g.n);
  for (float& x : a) x = dist(gen);
  for (float& x : w) x = dist(gen);
  for (auto _ : state) {
    blas::sgemm_nt(g.m, g.n, g.k, a.data(), g.k, w.data(), g.k, c.data(), g.n, 0.0f);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(g.flops(), benchmark::Counter::kIsIterationInvariantRate);
}

// Keeps each benchmark's real time per iteration, in milliseconds.
class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ms;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.run_type == Run::RT_Iteration)
        ms[r.run_name.function_name] = r.GetAdjustedRealTime() * (r.time_unit == benchmark::kMillisecond ? 1.0 : 1e-6);
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  llmt::register_builtin_backends();
  benchmark::Initialize(&argc, argv);
  try {
    const Options o = parse(argc, argv);
    prepare_backend("cpu");
    if (o.decode_table == "only") return bench::run_decode_table(o.decode) ? 0 : 1;
    const ModelConfig model = with_layers(load_model(o.model), o.layers);
    const ConfigPoint point{"tp", Layout{o.tp, 1, 1}, SyncMode::blocking, MergeMode::concat,
                            Workload{o.batch, o.prompt, o.gen}};
    const ShardPlan shard = make_shard_plan(model, point, 0);

    std::vector<std::pair<std::string, GemmShape>> registered;  // benchmark name -> shape, with stage
    for (bool prefill : {true, false}) {
      const std::string stage = prefill ? "prefill" : "decode";
      for (const GemmShape& g : gemm_shapes(model, point, shard, prefill)) {
        const std::string name = fmt::format("{}/{}/m{}_n{}_k{}", stage, g.phase, g.m, g.n, g.k);
        benchmark::RegisterBenchmark(name.c_str(), bench_gemm, g)->Unit(benchmark::kMillisecond)->UseRealTime();
        registered.emplace_back(name, g);
      }
    }
    fmt::print("CBLAS: {}, 1 thread; shapes of {} ({} layers), tp {}, {}\n", blas::library_description(), model.name,
               model.layers, o.tp, point.workload.label());
    Capture capture;
    benchmark::RunSpecifiedBenchmarks(&capture);
    const bool decode_met = o.decode_table == "no" || bench::run_decode_table(o.decode);
    if (!o.compare_engine) return decode_met ? 0 : 1;

    RunOptions ro;
    ro.iterations = o.iterations;
    const ConfigResult r = run_configuration(model, point, ro, nullptr);
    if (r.status != ConfigStatus::ok) throw Error("engine run failed: " + r.reason);
    fmt::print("\n{:<44} {:>12} {:>12} {:>8}\n", "GEMM (stage/phase/shape)", "alone ms", "engine ms", "ratio");
    bool within = true;
    for (const auto& [name, g] : registered) {
      const std::string stage = name.substr(0, name.find('/'));
      double ms = 0, calls = 0;
      for (const PhaseSummary& p : r.metrics.phases) {
        const bool matches = p.path.size() > g.phase.size() && p.path.rfind(stage + "/", 0) == 0 &&
                             p.path.compare(p.path.size() - g.phase.size(), g.phase.size(), g.phase) == 0;
        if (matches) {
          ms += p.ms;
          calls += p.calls;
        }
      }
      const double engine = calls > 0 ? ms / calls : 0, alone = capture.ms[name];
      const double ratio = alone > 0 ? engine / alone : 0;
      if (o.max_ratio > 0 && ratio > o.max_ratio) within = false;
      fmt::print("{:<44} {:>12.3f} {:>12.3f} {:>8.3f}\n", name, alone, engine, ratio);
    }
    return within && decode_met ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "llmt_gemm_bench: {}\n", e.what());
    return 2;
  }
}
