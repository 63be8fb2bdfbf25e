#include "bench/decode_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/backends.hpp"
#include "engine/ceilings.hpp"
#include "engine/transformer.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/rank_threads.hpp"
#include "kernels/cpu/small_gemm.hpp"
#include "model/model.hpp"

double read_anchor_gbps(std::size_t bytes, int reps);  // bench/read_anchor.c

namespace llmt::bench {
namespace {

struct DecodeShape {
  std::string name;
  int n = 0, k = 0;
};

// The decode GEMMs of one Llama-3-8B layer on one rank (the LM head aside: 2 GB in fp32, and
// not a per-layer cost), and one Qwen3-30B-A3B expert's gated up and down projections.
std::vector<DecodeShape> decode_shapes() {
  std::vector<DecodeShape> shapes;
  const ModelConfig llama = load_model("llama-3-8b");
  const ConfigPoint point{"tp", Layout{1, 1, 1}, SyncMode::blocking, MergeMode::concat, Workload{1, 1, 2}};
  for (const GemmShape& g : gemm_shapes(llama, point, make_shard_plan(llama, point, 0), false))
    if (g.phase != "head/gemm") shapes.push_back({"llama-3-8b " + g.phase, g.n, g.k});
  const ModelConfig qwen = load_model("qwen3-30b-a3b");
  shapes.push_back({"qwen3-30b-a3b expert/up", 2 * qwen.moe_intermediate, qwen.hidden});
  shapes.push_back({"qwen3-30b-a3b expert/down", qwen.hidden, qwen.moe_intermediate});
  return shapes;
}

// Copies of one weight matrix, cycled through so that every call finds its weights beyond the
// caches, as in a decode step (each layer's weights are evicted by the others' before their next
// call): together at least twice the caches, capped at 1 GiB of memory.
struct ColdWeights {
  DeviceBuffer arena;
  std::size_t stride = 0;  // floats per copy
  int copies = 1;
  const float* copy(int i) const { return static_cast<const float*>(arena.get()) + std::size_t(i) * stride; }
};
ColdWeights cold_weights(Backend& be, const DecodeShape& s) {
  ColdWeights w;
  w.stride = std::size_t(s.n) * s.k;
  const double bytes = 4.0 * w.stride, caches = static_cast<double>(be.cache_sizes().total_bytes);
  w.copies = static_cast<int>(std::clamp(std::ceil(2 * caches / bytes), 1.0, std::max(1.0, double(1 << 30) / bytes)));
  w.arena = be.allocate(w.stride * w.copies, MemoryKind::weights);
  FillSpec spec;
  spec.seed = 7;
  spec.global_cols = s.k;
  be.fill(w.arena.get(), s.n * w.copies, s.k, spec);
  return w;
}

// Milliseconds per call: the best of `reps` passes over every copy, after one untimed pass.
template <typename Call>
double best_ms_per_call(int reps, int copies, Call&& call) {
  for (int i = 0; i < copies; ++i) call(i);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < copies; ++i) call(i);
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best / copies;
}

struct Row {
  double engine_ms = 0, cblas_ms = 0, floor_ms = 0;
};

Row measure(Backend& be, cpu::RankThreads& threads, const DecodeShape& s, const ColdWeights& w, int m, double read_gbps,
            int reps) {
  std::vector<float> host_a(std::size_t(m) * s.k, 0.5f);
  DeviceBuffer a = be.allocate(host_a.size(), MemoryKind::activations);
  DeviceBuffer c = be.allocate(std::size_t(m) * s.n, MemoryKind::activations);
  be.copy_from_host(a.get(), host_a.data(), host_a.size());
  float* out = static_cast<float*>(c.get());
  const float* in = static_cast<const float*>(a.get());
  Row row;
  row.engine_ms = best_ms_per_call(reps, w.copies, [&](int i) {
    be.gemm(m, s.n, s.k, in, s.k, w.copy(i), s.k, out, s.n, 0.0f);
  });
  // CBLAS alone, its columns split among the same threads as the engine splits them.
  row.cblas_ms = best_ms_per_call(reps, w.copies, [&](int i) {
    threads.run([&](int t) {
      const cpu::Range r = cpu::part_range(s.n, threads.count(), t, 16);
      if (r.end > r.begin)
        blas::sgemm_nt(m, r.end - r.begin, s.k, in, s.k, w.copy(i) + std::size_t(r.begin) * s.k, s.k, out + r.begin,
                       s.n, 0.0f);
    });
  });
  const double bytes = 4.0 * (double(s.n) * s.k + double(m) * s.k + double(m) * s.n);
  row.floor_ms = bytes / (read_gbps * 1e9) * 1e3;
  return row;
}

}  // namespace

bool run_decode_table(const DecodeTableOptions& o) {
  const std::unique_ptr<Backend> be = make_backend("cpu", 0, DType::f32, o.threads);
  cpu::RankThreads threads(o.threads);
  const double read_gbps = measure_bandwidth(*be).read_gbps;
  const double anchor_gbps = read_anchor_gbps(std::size_t{256} << 20, 10);
  fmt::print("\ndecode GEMMs, fp32, {} thread(s) per rank, small-m kernel {} (m <= {}), CBLAS {}\n", o.threads,
             cpu::small_gemm_isa(), cpu::kSmallGemmMaxRows, blas::library_description());
  fmt::print("read ceiling {:.1f} GB/s (the engine's probe, {} thread(s)); anchor {:.1f} GB/s (bench/read_anchor.c, "
             "1 thread)\n",
             read_gbps, o.threads, anchor_gbps);
  fmt::print("{:<28} {:>3} {:>8} {:>10} {:>10} {:>10} {:>8} {:>8}\n", "GEMM", "m", "W MB", "engine ms", "cblas ms",
             "floor ms", "engine", "cblas");
  bool met = true;
  for (const DecodeShape& s : decode_shapes()) {
    const ColdWeights w = cold_weights(*be, s);
    for (int m : {1, 4, 16, 64}) {
      const Row r = measure(*be, threads, s, w, m, read_gbps, o.reps);
      const double engine = r.floor_ms / r.engine_ms, cblas = r.floor_ms / r.cblas_ms;
      const bool missed = o.min_read_share > 0 && m <= 16 && engine < o.min_read_share;
      met = met && !missed;
      fmt::print("{:<28} {:>3} {:>8.1f} {:>10.3f} {:>10.3f} {:>10.3f} {:>7.0f}% {:>7.0f}%{}\n", s.name, m,
                 4e-6 * s.n * s.k, r.engine_ms, r.cblas_ms, r.floor_ms, 100 * engine, 100 * cblas,
                 missed ? "  below the target" : "");
    }
  }
  fmt::print("engine, cblas: the read floor's share of each time (100% = reading at the ceiling); weights cycled "
             "through copies beyond the caches\n");
  return met;
}

}  // namespace llmt::bench
