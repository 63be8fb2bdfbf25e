#include "engine/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <tuple>

#include "engine/admission.hpp"
#include "engine/backends.hpp"
#include "model/error.hpp"
#include "engine/memory_pools.hpp"
#include "engine/metrics.hpp"
#include "engine/moe.hpp"
#include "engine/nvtx.hpp"
#include "engine/process_world.hpp"
#include "engine/rank_outcome.hpp"
#include "engine/speed_of_light.hpp"
#include "engine/sysinfo.hpp"
#include "engine/timeline.hpp"
#include "engine/traffic_run.hpp"

namespace llmt {
namespace {

double ms(std::uint64_t ns) { return static_cast<double>(ns) * 1e-6; }

// Hands the weights built by replica 0 of each (tp, pp) position to the other replicas.
class WeightExchange {
 public:
  explicit WeightExchange(int positions)
      : promises_(static_cast<std::size_t>(positions)), settled_(static_cast<std::size_t>(positions), false) {
    for (auto& p : promises_) futures_.push_back(p.get_future().share());
  }
  void publish(int key, std::shared_ptr<const WeightSet> w) {
    std::lock_guard lock(mutex_);
    if (!settled(key)) promises_[static_cast<std::size_t>(key)].set_value(std::move(w));
  }
  void fail(int key, std::exception_ptr e) {
    std::lock_guard lock(mutex_);
    if (!settled(key)) promises_[static_cast<std::size_t>(key)].set_exception(e);
  }
  // Any rank that fails releases the replicas still waiting for weights.
  void abandon(const std::string& why) {
    std::lock_guard lock(mutex_);
    for (std::size_t k = 0; k < promises_.size(); ++k)
      if (!settled(static_cast<int>(k))) promises_[k].set_exception(std::make_exception_ptr(RankError(why)));
  }
  std::shared_ptr<const WeightSet> wait(int key) {
    auto future = futures_[static_cast<std::size_t>(key)];  // a copy of its own for this thread
    try {
      return future.get();
    } catch (const std::exception& e) {
      throw RankError(fmt::format("the shared weights could not be built: {}", e.what()));
    }
  }

 private:
  bool settled(int key) {
    const bool was = settled_[static_cast<std::size_t>(key)];
    settled_[static_cast<std::size_t>(key)] = true;
    return was;
  }
  std::mutex mutex_;
  std::vector<std::promise<std::shared_ptr<const WeightSet>>> promises_;
  std::vector<std::shared_future<std::shared_ptr<const WeightSet>>> futures_;
  std::vector<bool> settled_;
};

std::shared_ptr<const WeightSet> obtain_weights(const ModelConfig& model, const ConfigPoint& point,
                                                const ShardPlan& shard, const ExecutionOptions& exec,
                                                Backend& backend, WeightExchange* exchange) {
  if (!exchange) return build_weights(model, point, shard, exec, backend);
  const int key = shard.coords.pp * point.layout.tp + shard.coords.tp;
  if (shard.coords.dp > 0) return exchange->wait(key);
  try {
    auto w = build_weights(model, point, shard, exec, backend);
    exchange->publish(key, w);
    return w;
  } catch (...) {
    exchange->fail(key, std::current_exception());
    throw;
  }
}

// The logits a configuration is verified by: every step of the first iteration that keeps them,
// and what the last measured iteration left on the device (the step it wrote last).
struct LogitsCapture {
  StepLogits* first = nullptr;
  bool want_last = false;
  std::vector<float> last;
  int last_step = -1;
};

// One rank's run of a configuration: set-up, the capture of decode graphs, the warm-up and the
// measured iterations. Its communicators and buffers belong to it, so that rank_main can keep
// them alive until every rank has finished (a rank that fails must not free memory a peer may
// still be copying from).
class RankRun {
 public:
  RankRun(int rank, const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts, Backend& backend,
          Communicator& world, PhaseTable& table, WeightExchange* exchange, LogitsCapture* capture, RankOutcome& out)
      : rank_(rank), model_(model), point_(point), opts_(opts), backend_(backend), world_(world), table_(table),
        exchange_(exchange), capture_(capture), out_(out),
        delays_(rank == 0 && (opts.inject_delay_ms > 0 || opts.inject_delay_fraction > 0)) {}

  // The rank's thread, shard and communicators.
  void connect() {
    backend_.bind_thread();
    shard_ = make_shard_plan(model_, point_, rank_);
    comms_ = RankComms::split(world_, shard_);
  }

  // Weights (built, or shared by replica 0), the transformer and its attention kernels: set-up time.
  void build() {
    timeline_ = std::make_unique<Timeline>(backend_, table_);
    const auto t0 = std::chrono::steady_clock::now();
    transformer_ = std::make_unique<TransformerRank>(
        model_, point_, shard_, opts_.exec, obtain_weights(model_, point_, shard_, opts_.exec, backend_, exchange_),
        backend_, comms_, *timeline_, table_);
    if (point_.traffic) {
      schedule_ = std::make_unique<ReplicaSchedule>(*point_.traffic, shard_.coords.dp, point_.layout.dp);
      schedule_->prepare(*transformer_);
    }
    out_.attention = transformer_->attention_uses();
    backend_.synchronize();
    out_.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    device_used_.sample(backend_.device_memory_used());
  }

  // CUDA Graphs: each decode step is captured once (its position is baked into the kernels'
  // arguments) and replayed in every iteration, warm-up included, so verification covers it.
  void capture_decode_graphs() {
    if (!opts_.cuda_graphs || !graphs_possible(model_, point_, opts_.backend) || !backend_.supports_graphs()) return;
    // One eager iteration first: kernels loaded, cuBLASLt plans made, NCCL connected, outside capture.
    run_iteration(false);
    timeline_->set_recording(false);
    world_.barrier();
    for (int step = 1; step < point_.workload.gen; ++step) {
      backend_.begin_capture();
      transformer_->decode(step);
      decode_graphs_.push_back(backend_.end_capture());
    }
    timeline_->set_recording(true);
    out_.cuda_graphs = true;
    backend_.synchronize();
    device_used_.sample(backend_.device_memory_used());  // the instantiated graphs
  }

  // Logits are kept from the first warm-up iteration (or an extra pass without warm-up): the
  // copies to the host then never fall inside a measured iteration.
  // The first of them also counts the tokens each MoE layer routes to each expert.
  void warm_up() {
    const bool keep = capture_ != nullptr && capture_->first != nullptr && transformer_->holds_output();
    transformer_->count_routing(true);
    for (int i = 0; i < std::max(1, opts_.warmup); ++i) {  // without warm-up, one extra pass
      run_iteration(keep && i == 0);
      transformer_->count_routing(false);
    }
    keep_expert_tokens();
  }

  void keep_expert_tokens() {
    // Tensor-parallel peers route the same tokens, and so do ensemble members: count them once.
    if (shard_.coords.tp != 0 || (shard_.ensemble && shard_.coords.dp != 0) || transformer_->expert_tokens().empty())
      return;
    out_.expert_tokens.assign(static_cast<std::size_t>(model_.layers), {});
    out_.expert_tokens_decode = out_.expert_tokens;
    const auto local = transformer_->expert_tokens();
    const auto& decode = transformer_->expert_tokens_decode();
    for (std::size_t l = 0; l < local.size(); ++l) {
      out_.expert_tokens[static_cast<std::size_t>(shard_.layers.begin) + l] = local[l];
      out_.expert_tokens_decode[static_cast<std::size_t>(shard_.layers.begin) + l] = decode[l];
    }
    out_.routes_agreed = transformer_->routing_agreement().agreed;
    out_.routes_compared = transformer_->routing_agreement().compared;
  }

  // Run control: in adaptive mode every rank contributes its iteration time, and all take the
  // same decision from the same data. Allocated in both modes, as predicted.
  void measure() {
    control_ = backend_.allocate_bytes(run_control_bytes(point_), MemoryKind::communication);
    if (rank_ == 0 && opts_.profiler_range) backend_.profiler_start();
    if (opts_.adaptive.target_rse <= 0) {
      for (int i = 0; i < opts_.iterations; ++i) out_.iterations.push_back(run_iteration(false));
    } else {
      measure_until_precise();
    }
    if (rank_ == 0 && opts_.profiler_range) backend_.profiler_stop();
    world_.barrier();
  }

  // Copied after measurement, so that no timed iteration pays for the copy.
  void keep_last_logits() {
    if (point_.traffic) return;  // the first iteration's logits cover every request
    if (!capture_ || !capture_->want_last || out_.iterations.empty() || !transformer_->holds_output()) return;
    capture_->last.resize(static_cast<std::size_t>(point_.workload.batch) * model_.vocab);
    backend_.copy_to_host(capture_->last.data(), transformer_->logits(), capture_->last.size());
    capture_->last_step = last_written_step_;
  }

  // The allocator's peaks and the device's own view (at the end, and the largest of its samples),
  // once the measured iterations are done.
  void record_memory() {
    const MemoryTracker& mem = backend_.memory();
    RankMemory& m = out_.memory;
    m.predicted = plan_rank_memory(model_, point_, shard_, backend_.dtype());
    m.weights = mem.peak(MemoryKind::weights);
    m.kv_cache = mem.peak(MemoryKind::kv_cache);
    m.activations_peak = mem.peak(MemoryKind::activations);
    m.communication_peak = mem.peak(MemoryKind::communication);
    m.peak_total = mem.peak_total();
    m.device_used = backend_.device_memory_used();
    device_used_.sample(m.device_used);
    m.device_used_max = device_used_.max();
    m.device_used_samples = device_used_.samples();
  }

 private:
  void measure_until_precise() {
    const std::vector<std::size_t> ones(static_cast<std::size_t>(world_.size()), 1);
    std::vector<float> gathered(ones.size());
    std::vector<double> estimates;  // slowest rank's iteration time: the e2e latency to within the barrier skew
    char* mine_at = static_cast<char*>(control_.get()) + static_cast<std::size_t>(rank_) * sizeof(float);
    for (;;) {
      const IterationRecord& rec = out_.iterations.emplace_back(run_iteration(false));
      const float mine = static_cast<float>(static_cast<double>(rec.end - rec.begin) * 1e-6);
      backend_.upload_bytes(mine_at, &mine, sizeof(float));
      world_.all_gather_v(mine_at, control_.get(), ones, DType::f32);
      backend_.download_bytes(gathered.data(), control_.get(), gathered.size() * sizeof(float));
      estimates.push_back(*std::max_element(gathered.begin(), gathered.end()));
      out_.stop = should_stop(opts_.adaptive, estimates);
      if (out_.stop != StopReason::keep_going) return;
    }
  }

  void keep_logits(bool keep) {
    if (!keep) return;
    const std::size_t elements = static_cast<std::size_t>(point_.workload.batch) * model_.vocab;
    capture_->first->emplace_back(elements);
    backend_.copy_to_host(capture_->first->back().data(), transformer_->logits(), elements);
  }

  // Test hook: rank 0 works (busy, like extra work: a sleeping rank would add the scheduler's
  // wake-up latency) for a fixed time or a fraction of the iteration so far.
  void injected_delay() {
    if (!delays_) return;
    backend_.synchronize();
    const auto now = std::chrono::steady_clock::now();
    const double ms_so_far = std::chrono::duration<double, std::milli>(now - iteration_start_).count();
    const auto until =
        now + std::chrono::duration<double, std::milli>(opts_.inject_delay_ms + opts_.inject_delay_fraction * ms_so_far);
    while (std::chrono::steady_clock::now() < until) {
    }
  }

  // Re-runs one decode step eagerly (iteration i: step 1 + i mod (gen - 1), so the samples cover
  // every position) to time its phases. Teacher forcing makes it rewrite the same KV entries and
  // logits, so the next iteration is unchanged.
  void eager_decode_sample(int iteration, IterationRecord& rec) {
    world_.barrier();
    last_written_step_ = 1 + iteration % (point_.workload.gen - 1);
    transformer_->decode(last_written_step_);
    backend_.synchronize();
    rec.sampled_phases = timeline_->collect(&rec.collective_calls);
  }

  // A request-list workload: the replica's schedule, step by step; the iteration is the whole list.
  IterationRecord run_traffic_iteration(bool keep) {
    world_.barrier();
    const nvtx::Range iteration_range(fmt::format("iteration {}", iteration_number_++));
    timeline_->collect();
    IterationRecord rec;
    rec.begin = backend_.stamp();
    rec.traffic_steps = schedule_->run(
        *transformer_, backend_, [&](const Step& step) { keep_request_logits(keep, step); }, rec.slot_use);
    injected_delay();
    rec.end = rec.prefill_end = backend_.stamp();
    backend_.synchronize();
    resolve_stamps(rec);
    for (TrafficStepRecord& s : rec.traffic_steps) {
      s.begin = backend_.to_ns(s.begin);
      s.end = backend_.to_ns(s.end);
    }
    out_.attention = transformer_->attention_uses();  // ragged steps prepare kernels as shapes come
    rec.phases = timeline_->collect(&rec.collective_calls);
    if (opts_.flush_cache) backend_.flush_cache();
    return rec;
  }

  // The emitting items' logits of a ragged step, each into its request's row.
  void keep_request_logits(bool keep, const Step& step) {
    if (!keep) return;
    const RequestList& list = *point_.traffic->requests;
    const std::size_t vocab = static_cast<std::size_t>(model_.vocab);
    std::size_t row = 0;
    for (const StepItem& item : step.items) {
      if (!item.emits) continue;
      std::vector<float>& to = capture_->first->at(static_cast<std::size_t>(item.request));
      const std::size_t at = static_cast<std::size_t>(output_index(list, item)) * vocab;
      backend_.copy_to_host(to.data() + at, static_cast<const char*>(transformer_->logits()) +
                                               row * vocab * dtype_size(backend_.dtype()), vocab);
      ++row;
    }
  }

  IterationRecord run_iteration(bool keep) {
    if (schedule_) return run_traffic_iteration(keep);
    world_.barrier();
    const nvtx::Range iteration_range(fmt::format("iteration {}", iteration_number_++));
    timeline_->collect();
    IterationRecord rec;
    iteration_start_ = std::chrono::steady_clock::now();
    rec.begin = backend_.stamp();
    transformer_->prefill();
    rec.prefill_end = backend_.stamp();
    keep_logits(keep);
    for (int step = 1; step < point_.workload.gen; ++step) {
      if (decode_graphs_.empty())
        transformer_->decode(step);
      else
        backend_.replay(decode_graphs_[static_cast<std::size_t>(step - 1)]);
      rec.step_end.push_back(backend_.stamp());
      keep_logits(keep);
    }
    last_written_step_ = point_.workload.gen - 1;
    injected_delay();
    rec.end = backend_.stamp();
    backend_.synchronize();
    resolve_stamps(rec);
    rec.phases = timeline_->collect(&rec.collective_calls);  // resolves the phases' stamps, then recycles them all
    if (!decode_graphs_.empty()) eager_decode_sample(iteration_number_, rec);
    if (opts_.flush_cache) backend_.flush_cache();
    // Synchronised above, outside the timed span: every iteration (the capture pass's, warm-up's,
    // measured ones) is a sample of the device's use.
    device_used_.sample(backend_.device_memory_used());
    return rec;
  }

  // The iteration's stamps as host nanoseconds; the last step ends with the iteration.
  void resolve_stamps(IterationRecord& rec) const {
    rec.begin = backend_.to_ns(rec.begin);
    rec.prefill_end = backend_.to_ns(rec.prefill_end);
    for (std::uint64_t& s : rec.step_end) s = backend_.to_ns(s);
    rec.end = backend_.to_ns(rec.end);
    if (!rec.step_end.empty())
      rec.step_end.back() = rec.end;
    else
      rec.prefill_end = rec.end;
  }

  const int rank_;
  const ModelConfig& model_;
  const ConfigPoint& point_;
  const RunOptions& opts_;
  Backend& backend_;
  Communicator& world_;
  PhaseTable& table_;
  WeightExchange* exchange_;
  LogitsCapture* capture_;
  RankOutcome& out_;
  const bool delays_;  // the delay test hook applies to this rank
  ShardPlan shard_;
  // Destroyed in reverse: the control buffer and the transformer before the timeline and the
  // communicators they use.
  RankComms comms_;
  std::unique_ptr<Timeline> timeline_;
  std::unique_ptr<TransformerRank> transformer_;
  std::unique_ptr<ReplicaSchedule> schedule_;  // request-list workloads
  DeviceBuffer control_;
  std::vector<int> decode_graphs_;  // one CUDA graph per decode step, when graphs are used
  DeviceUsedSampler device_used_;  // the device's used bytes at each synchronisation point
  int iteration_number_ = 0;
  int last_written_step_ = -1;  // the decode step whose logits the output buffer holds (0: prefill)
  std::chrono::steady_clock::time_point iteration_start_;
};

// Graphs that captured collectives hold their communicators: released before those, on every path.
struct GraphRelease {
  Backend& backend;
  ~GraphRelease() { backend.release_graphs(); }
};

// The rank takes its world communicator from `world_slot` once it runs (until then the caller
// still owns it, and can abort the world through it if the thread cannot start), and destroys it
// when it ends, concurrently with the other ranks (NCCL's teardown waits for the communicator to
// be quiet on every rank).
void rank_main(int rank, const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts,
               Backend* backend, std::unique_ptr<Communicator>& world_slot, PhaseTable& table,
               WeightExchange* exchange, LogitsCapture* capture, std::latch& everyone_done, RankOutcome& out) {
  const std::unique_ptr<Communicator> world = std::move(world_slot);
  RankRun run(rank, model, point, opts, *backend, *world, table, exchange, capture, out);
  try {
    run.connect();
    const GraphRelease release_graphs{*backend};
    const nvtx::Range configuration_range(point.id());
    run.build();
    run.capture_decode_graphs();
    run.warm_up();
    run.measure();
    run.keep_last_logits();
    run.record_memory();
  } catch (const RankError& e) {
    out.error = e.what();
    out.aborted = true;
  } catch (const std::bad_alloc&) {
    out.error = "out of memory while allocating";
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  if (!out.error.empty()) {
    const std::string why = fmt::format("rank {} failed: {}", rank, out.error);
    world->abort(why);
    if (exchange) exchange->abandon(why);
  }
  everyone_done.arrive_and_wait();
}

}  // namespace

// Per-iteration samples: an iteration (or step) lasts from the first rank's start to the last
// rank's end, so it is as slow as its slowest rank.
RawSamples raw_samples(const std::vector<RankOutcome>& ranks, const PhaseTable& table, int iterations, int steps) {
  RawSamples s;
  const std::size_t n = ranks.size();
  s.rank_iteration_ms.assign(n, {});
  s.rank_busy_ms.assign(n, {});
  s.rank_sync_ms.assign(n, {});
  s.rank_sync_total_ms.assign(n, {});
  s.rank_transfer_ms.assign(n, {});
  for (int i = 0; i < iterations; ++i) {
    std::uint64_t begin = UINT64_MAX, end = 0, prefill_end = 0;
    std::vector<std::uint64_t> step_end(static_cast<std::size_t>(steps), 0);
    for (std::size_t r = 0; r < n; ++r) {
      const IterationRecord& rec = ranks[r].iterations[static_cast<std::size_t>(i)];
      begin = std::min(begin, rec.begin);
      end = std::max(end, rec.end);
      prefill_end = std::max(prefill_end, rec.prefill_end);
      for (int k = 0; k < steps; ++k)
        step_end[static_cast<std::size_t>(k)] = std::max(step_end[static_cast<std::size_t>(k)], rec.step_end[static_cast<std::size_t>(k)]);

      double sync = 0, sync_total = 0, transfer = 0;
      // Decode steps replayed as CUDA graphs leave no phase times: each counts the collectives of
      // the one eager step sampled after the iteration (an estimate, said in the result's notes),
      // so that sync, wait, busy time and imbalance do not drop the decode collectives.
      const double replayed_steps = rec.sampled_phases.empty() ? 0.0 : static_cast<double>(steps);
      for (const auto& [totals, times] : {std::pair{&rec.phases, 1.0}, std::pair{&rec.sampled_phases, replayed_steps}})
        for (std::size_t p = 0; p < totals->size(); ++p) {
          const PhaseInfo& info = table.at(static_cast<PhaseId>(p));
          const double t = times * ms((*totals)[p].nanoseconds);
          if (info.category == PhaseCategory::communication) sync += t;
          if (info.category == PhaseCategory::transfer) transfer += t;
          if (info.counts_as_sync_total) sync_total += t;
        }
      const double iteration = ms(rec.end - rec.begin);
      s.rank_iteration_ms[r].push_back(iteration);
      s.rank_sync_ms[r].push_back(sync);
      s.rank_sync_total_ms[r].push_back(sync_total);
      s.rank_transfer_ms[r].push_back(transfer);
      s.rank_busy_ms[r].push_back(iteration - sync - transfer);
    }
    s.e2e_ms.push_back(ms(end - begin));
    s.ttft_ms.push_back(ms(prefill_end - begin));
    std::uint64_t previous = prefill_end;
    for (std::uint64_t e : step_end) {
      s.decode_step_ms.push_back(ms(e - previous));
      previous = e;
    }
  }
  return s;
}

namespace {

std::vector<PhaseSummary> phase_summaries(const std::vector<RankOutcome>& ranks, const PhaseTable& table,
                                          int iterations) {
  std::vector<PhaseSummary> out;
  for (std::size_t p = 0; p < table.size(); ++p) {
    const PhaseInfo& info = table.at(static_cast<PhaseId>(p));
    PhaseSummary s;
    double calls = 0, total_ms = 0, bytes = 0;
    for (const RankOutcome& r : ranks) {
      double rank_calls = 0, rank_ms = 0, rank_bytes = 0;
      for (const IterationRecord& rec : r.iterations)
        for (const auto* totals : {&rec.phases, &rec.sampled_phases}) {
          if (p >= totals->size() || (*totals)[p].calls == 0) continue;
          if (totals == &rec.sampled_phases) s.timing = "eager_sample";
          rank_calls += (*totals)[p].calls;
          rank_ms += ms((*totals)[p].nanoseconds);
          rank_bytes += static_cast<double>((*totals)[p].bytes);
        }
      if (rank_calls == 0) continue;
      s.ranks += 1;
      calls += rank_calls / iterations;
      total_ms += rank_ms / iterations;
      bytes += rank_bytes / iterations;
      s.ms_max_rank = std::max(s.ms_max_rank, rank_ms / iterations);
    }
    if (s.ranks == 0) continue;
    s.path = info.path;
    s.category = phase_category_name(info.category);
    s.detail = info.detail;
    if (info.category != PhaseCategory::compute) {
      s.op = comm_op_name(info.op);
      s.group = info.group;
      s.group_size = info.group_size;
    }
    s.calls = calls / s.ranks;
    s.ms = total_ms / s.ranks;
    s.bytes = bytes / s.ranks;
    out.push_back(std::move(s));
  }
  return out;
}

// Per (operation, group, group size, category), from each rank's own phases: the collectives
// themselves only (not the overlap mode's waits for them), per iteration and per rank, averaged
// over the ranks that issued any. Also the bytes all ranks moved per iteration.
std::vector<CommSummary> comm_summaries(const std::vector<RankOutcome>& ranks, const PhaseTable& table,
                                        int iterations, double& total_bytes) {
  using Key = std::tuple<std::string, std::string, int, std::string>;
  std::map<Key, CommSummary> by_key;
  std::map<Key, int> ranks_with;
  total_bytes = 0;
  for (std::size_t rank = 0; rank < ranks.size(); ++rank) {
    const RankOutcome& r = ranks[rank];
    std::map<Key, CommSummary> mine;
    for (const IterationRecord& rec : r.iterations)
      for (std::size_t p = 0; p < rec.phases.size(); ++p) {
        const PhaseInfo& info = table.at(static_cast<PhaseId>(p));
        if (info.category == PhaseCategory::compute || !info.counts_as_sync_total || rec.phases[p].calls == 0) continue;
        CommSummary& c = mine[{std::string(comm_op_name(info.op)), info.group, info.group_size,
                               std::string(phase_category_name(info.category))}];
        c.calls += rec.phases[p].calls;
        c.bytes += static_cast<double>(rec.phases[p].bytes);
        c.ms += ms(rec.phases[p].nanoseconds);
      }
    for (const auto& [key, c] : mine) {
      CommSummary& total = by_key[key];
      total.rank_bytes.resize(ranks.size(), 0.0);
      total.rank_bytes[rank] = c.bytes / iterations;
      total.calls += c.calls / iterations;
      total.bytes += c.bytes / iterations;
      total.ms += c.ms / iterations;
      total_bytes += c.bytes / iterations;
      ranks_with[key] += 1;
    }
  }
  std::vector<CommSummary> out;
  for (auto& [key, c] : by_key) {
    const double n = ranks_with[key];
    std::tie(c.op, c.group, c.group_size, c.category) = key;
    c.calls /= n;
    c.bytes /= n;
    c.ms /= n;
    out.push_back(c);
  }
  return out;
}

// Bus bandwidth of the collectives from every rank's calls (metrics.cpp, bus_bandwidth): each call
// placed in its group instance, iteration and order on the rank.
std::vector<BusBandwidth> collective_bus_bandwidth(const std::vector<RankOutcome>& ranks, const PhaseTable& table,
                                                   const Layout& layout, int iterations) {
  std::vector<CollectiveKind> kinds(table.size());
  for (std::size_t p = 0; p < table.size(); ++p) {
    const PhaseInfo& info = table.at(static_cast<PhaseId>(p));
    kinds[p] = {info.path.substr(0, info.path.find('/')), info.op, info.group, info.group_size};
  }
  std::vector<CollectiveCall> calls;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const RankCoords coords = coords_of(layout, static_cast<int>(r));
    for (std::size_t i = 0; i < ranks[r].iterations.size(); ++i) {
      std::vector<int> ordinal(table.size(), 0);
      for (const CollectiveCallTime& c : ranks[r].iterations[i].collective_calls)
        calls.push_back({c.id, group_instance(layout, coords, table.at(c.id).group), static_cast<int>(i),
                         ordinal[c.id]++, static_cast<double>(c.bytes), ms(c.nanoseconds)});
    }
  }
  return bus_bandwidth(calls, kinds, iterations);
}

Measurement describe_measurement(const RunOptions& opts, StopReason stop, const std::vector<double>& e2e) {
  Measurement m;
  m.samples = static_cast<int>(e2e.size());
  m.achieved_rse = relative_standard_error(e2e);
  m.outliers = count_outliers(e2e);
  if (opts.adaptive.target_rse <= 0) return m;
  m.mode = "adaptive";
  m.target_rse = opts.adaptive.target_rse;
  m.target_met = stop == StopReason::target_met;
  m.stop_reason = stop == StopReason::target_met       ? "target_met"
                  : stop == StopReason::max_iterations ? "max_iterations"
                                                       : "max_time";
  return m;
}

PipelineSummary pipeline_summary(const ModelConfig& model, const ConfigPoint& point, const RawSamples& s,
                                 const ConfigMetrics& m) {
  PipelineSummary p;
  const Layout& l = point.layout;
  p.stages = l.pp;
  p.microbatches = point.microbatches;
  if (l.pp == 1 || s.e2e_ms.empty()) return p;
  p.textbook_bubble_fraction = textbook_bubble_fraction(l.pp, point.microbatches);
  const auto layers = partition_layers(model, l.pp);
  p.per_stage.resize(static_cast<std::size_t>(l.pp));
  double active = 0;
  for (std::size_t r = 0; r < s.rank_busy_ms.size(); ++r) {
    StageSummary& st = p.per_stage[static_cast<std::size_t>(coords_of(l, static_cast<int>(r)).pp)];
    st.busy_ms += mean_of(s.rank_busy_ms[r]);
    st.transfer_ms += mean_of(s.rank_transfer_ms[r]);
    st.sync_ms += mean_of(s.rank_sync_ms[r]);
    active += mean_of(s.rank_busy_ms[r]) + mean_of(s.rank_sync_ms[r]);
  }
  const double ranks_per_stage = l.tp * l.dp;
  for (int i = 0; i < l.pp; ++i) {
    StageSummary& st = p.per_stage[static_cast<std::size_t>(i)];
    st.stage = i;
    st.layers = layers[static_cast<std::size_t>(i)];
    st.busy_ms /= ranks_per_stage;
    st.transfer_ms /= ranks_per_stage;
    st.sync_ms /= ranks_per_stage;
  }
  // Time a rank is neither computing nor in a collective is pipeline bubble: waiting for
  // its input, or done early while later stages still work.
  p.bubble_fraction = 1.0 - active / static_cast<double>(s.rank_busy_ms.size()) / m.e2e_ms.mean;
  return p;
}

}  // namespace

StepLogits weighted_mean(const std::vector<const StepLogits*>& members, const std::vector<double>& weights) {
  StepLogits out = *members.front();
  double total = 0;
  for (std::size_t k = 0; k < members.size(); ++k) total += weights.empty() ? 1.0 : weights[k];
  for (std::size_t s = 0; s < out.size(); ++s)
    for (std::size_t i = 0; i < out[s].size(); ++i) {
      double v = 0;
      for (std::size_t k = 0; k < members.size(); ++k) v += (weights.empty() ? 1.0 : weights[k]) * (*members[k])[s][i];
      out[s][i] = static_cast<float>(v / total);
    }
  return out;
}

bool graphs_possible(const ModelConfig& model, const ConfigPoint& point, const std::string& backend) {
  if (point.traffic) return false;  // every step has its own shape: nothing to replay
  return !model.moe() && backend_entry(backend).no_graphs_reason.empty() && point.layout.pp == 1 && point.sync != SyncMode::overlap;
}

std::size_t replica_weight_bytes(const ModelConfig& model, const ConfigPoint& point, DType dtype) {
  std::size_t total = 0;
  for (int r = 0; r < point.layout.ranks(); ++r) {
    const ShardPlan shard = make_shard_plan(model, point, r);
    if (shard.coords.dp > 0) total += plan_rank_memory(model, point, shard, dtype).weights;
  }
  return total;
}

std::size_t predicted_total_memory(const ModelConfig& model, const ConfigPoint& point, DType dtype) {
  std::size_t total = 0;
  for (int r = 0; r < point.layout.ranks(); ++r)
    total += plan_rank_memory(model, point, make_shard_plan(model, point, r), dtype).total();
  return total;
}

namespace {
void summarize_outcomes(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts,
                        const std::vector<RankOutcome>& outcomes, const PhaseTable& table,
                        const HostMemoryWatch& host, ConfigResult& result);
}  // namespace

namespace {

// What the ranks of one configuration share, and where each leaves its outcome.
struct RankLaunch {
  const ModelConfig& model;
  const ConfigPoint& point;
  const RunOptions& opts;
  bool share_weights;
  LogitsCapture* capture;
  PhaseTable& table;
  std::vector<RankOutcome>& outcomes;
  const HostMemoryWatch& host;  // process mode: each process measures its own memory from it
};

// Starts one thread per rank, each with its own backend and world communicator, and waits for
// all of them. Returns why the ranks could not all start (the system refused a thread); errors
// of the ranks themselves are in their outcomes.
std::optional<std::string> launch_ranks(const RankLaunch& l) {
  const int n = l.point.layout.ranks();
  std::vector<std::unique_ptr<Backend>> backends;  // outlive the threads: shared weights point into them
  std::vector<Backend*> raw;
  for (int r = 0; r < n; ++r) {
    backends.push_back(make_backend(l.opts.backend, r, l.opts.dtype, l.opts.threads_per_rank));
    raw.push_back(backends.back().get());
  }
  WeightExchange exchange(l.point.layout.tp * l.point.layout.pp);
  // Each rank's thread takes its communicator from here once it runs: the ones never started
  // stay here, so a failed start can still abort the world through its own communicator.
  auto world = make_comm_world(l.opts.backend, raw, l.opts.collective_timeout_s);
  std::latch everyone_done(n);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  try {
    for (int r = 0; r < n; ++r) {
      if (r == l.opts.fail_rank_thread_start)
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                "test hook: thread creation refused");
      const auto i = static_cast<std::size_t>(r);
      threads.emplace_back(rank_main, r, std::cref(l.model), std::cref(l.point), std::cref(l.opts), raw[i],
                           std::ref(world[i]), std::ref(l.table), l.share_weights ? &exchange : nullptr, l.capture,
                           std::ref(everyone_done), std::ref(l.outcomes[i]));
    }
  } catch (const std::exception& e) {
    // Release the ranks already started, which wait in collectives for the others.
    const int started = static_cast<int>(threads.size());
    const std::string why =
        fmt::format("could not start the thread of rank {} of {}: {} (the system refused another thread: "
                    "see `ulimit -u` and `ulimit -v`, or run fewer ranks)",
                    started, n, e.what());
    world[static_cast<std::size_t>(started)]->abort(why);
    exchange.abandon(why);
    everyone_done.count_down(n - started);
    for (auto& t : threads) t.join();
    return why;
  }
  for (auto& t : threads) t.join();
  return std::nullopt;
}

// Process mode, rank 0: the logits of the rank holding the output, into the configuration's capture.
void take_logits(LogitsCapture& into, StepLogits& first, std::vector<float>& last, int last_step) {
  if (into.first && !first.empty()) *into.first = std::move(first);
  if (last_step >= 0) {
    into.last = std::move(last);
    into.last_step = last_step;
  }
}

// This process's rank of `l` in process mode, its own backend and communicator, with any error in
// its outcome (never thrown: rank 0 waits for every rank's message).
RankOutcome run_process_rank(const RankLaunch& l, ProcessWorld& world, std::unique_ptr<Communicator> host,
                             LogitsCapture& capture) {
  RankOutcome mine;
  try {
    const BackendEntry& entry = backend_entry(l.opts.backend);
    if (!entry.make_process_comm)
      throw ConfigError(fmt::format("the {} backend cannot run one rank per process", entry.name));
    std::unique_ptr<Backend> backend = make_backend(l.opts.backend, process_device(l.opts.backend), l.opts.dtype,
                                                            l.opts.threads_per_rank);
    std::unique_ptr<Communicator> comm = entry.make_process_comm(*backend, std::move(host));
    comm->set_collective_timeout(l.opts.collective_timeout_s);
    std::latch done(1);
    rank_main(world.rank(), l.model, l.point, l.opts, backend.get(), comm, l.table, nullptr,
              l.capture ? &capture : nullptr, done, mine);
  } catch (const std::exception& e) {
    mine.error = e.what();
  }
  return mine;
}

// Rank 0 of process mode: every rank's outcome from its message, in rank 0's phase ids and clock;
// a rank whose message did not come is lost, and the sweep cannot go on.
void collect_rank_messages(const RankLaunch& l, ProcessWorld& world, const std::vector<std::optional<std::string>>& got,
                           std::int64_t start_ns, double waited_s) {
  const LaunchInfo launch = world.launch();
  const auto same_host = [&](int r) {
    for (const HostRanks& h : launch.hosts)
      if (std::find(h.ranks.begin(), h.ranks.end(), 0) != h.ranks.end())
        return std::find(h.ranks.begin(), h.ranks.end(), r) != h.ranks.end();
    return false;
  };
  for (std::size_t r = 1; r < got.size(); ++r) {
    RankOutcome& o = l.outcomes[r];
    if (!got[r]) {
      o.error = fmt::format("lost: the process of rank {} sent no results within {:g} s (it died, or hangs)", r,
                            waited_s);
      world.mark_lost(fmt::format("the process of rank {} was lost", r));
      continue;
    }
    try {
      RankMessage m = decode_rank_message(*got[r], l.table);
      o = std::move(m.outcome);
      if (!same_host(static_cast<int>(r))) shift_stamps(o, start_ns - m.start_ns);
      if (l.capture) take_logits(*l.capture, m.logits, m.last, m.last_step);
    } catch (const std::exception& e) {
      o.error = fmt::format("its results could not be read: {}", e.what());
    }
  }
}

// Process mode: every process joins; the first `ranks` run one rank each, the others return at
// once (and wait at the next configuration's join); rank 0 collects the outcomes.
void launch_in_processes(const RankLaunch& l, ProcessWorld& world) {
  const int n = l.point.layout.ranks();
  std::unique_ptr<Communicator> host = world.join(n, l.opts.collective_timeout_s);
  if (!host) return;
  // Stamps are steady-clock nanoseconds; this instant is about the same on every rank.
  const auto start_ns = static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                      std::chrono::steady_clock::now().time_since_epoch())
                                                      .count());
  // This process's own capture: the logits of the rank that holds the output go to rank 0.
  StepLogits logits;
  LogitsCapture capture;
  if (l.capture) {
    capture.first = l.capture->first ? &logits : nullptr;
    capture.want_last = l.capture->want_last;
  }
  RankOutcome mine = run_process_rank(l, world, std::move(host), capture);
  mine.process = measure_this_process(l.host, process_pool_name(l.opts.backend, world.rank()));
  // A rank that failed waits less for the others: they failed with it, or are lost.
  const double timeout = l.opts.collective_timeout_s > 0 ? l.opts.collective_timeout_s : 0;
  const double wait_s = mine.error.empty() ? timeout : std::min(timeout > 0 ? timeout : 10.0, 10.0);
  const auto got = world.gather(
      encode_rank_message(mine, l.table, logits, capture.last, capture.last_step, start_ns), n, wait_s);
  if (world.rank() != 0) return;
  if (l.capture) take_logits(*l.capture, logits, capture.last, capture.last_step);
  l.outcomes[0] = std::move(mine);
  collect_rank_messages(l, world, got, start_ns, wait_s);
}

// The ranks of `l`: threads of this process, or, in process mode, this process's rank.
std::optional<std::string> launch_anywhere(const RankLaunch& l) {
  if (ProcessWorld* world = process_world()) {
    try {
      launch_in_processes(l, *world);
    } catch (const CollectiveTimeout& e) {
      world->mark_lost(e.what());  // a process did not reach the configuration
      throw;
    }
    return std::nullopt;
  }
  return launch_ranks(l);
}

// The failure to report: a rank's own error, not the collectives it made the others abandon.
std::optional<std::string> first_cause(const std::vector<RankOutcome>& outcomes) {
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t r = 0; r < outcomes.size(); ++r) {
      const RankOutcome& o = outcomes[r];
      if (!o.error.empty() && (pass == 1 || !o.aborted)) return fmt::format("rank {}: {}", r, o.error);
    }
  return std::nullopt;
}

ConfigResult skipped(ConfigResult result, std::string reason) {
  result.status = ConfigStatus::skipped;
  result.reason = std::move(reason);
  return result;
}

void note_shared_weights(const ConfigPoint& point, ConfigResult& result) {
  result.replica_weights_shared = true;
  result.notes.push_back(fmt::format(
      "the {} data-parallel replicas share one read-only copy of the weights in host memory (private copies "
      "would not fit); predicted memory is per replica as on separate devices, measured weights count the "
      "copy once, on replica 0",
      point.layout.dp));
}

}  // namespace

namespace {

// Process mode: rank 0's plan admitted the point for every process (hosts may differ), and
// processes share nothing: every rank builds its own weights.
MemoryAdmission admit_here(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts) {
  if (process_world()) return {};
  return admit_memory(model, point, opts);
}

ConfigResult run_on_this_process(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts,
                                 const VerificationReference* reference, StepLogits* captured) {
  ConfigResult result;
  result.point = point;
  result.warmup = opts.warmup;
  result.iterations = opts.iterations;
  auto fail = [&](std::string reason) {
    result.status = ConfigStatus::failed;
    result.reason = std::move(reason);
    return result;
  };
  if (auto problem = layout_problem(model, point)) return skipped(result, *problem);
  if (point.traffic && process_world())
    return skipped(result, "request-list workloads do not run one rank per process yet");

  std::vector<RankOutcome> outcomes(static_cast<std::size_t>(point.layout.ranks()));
  PhaseTable table;
  StepLogits local_capture;
  LogitsCapture capture;
  capture.first = captured ? captured : (reference ? &local_capture : nullptr);
  if (point.traffic && capture.first) {  // one entry per request, each replica filling its own
    capture.first->clear();
    for (const Request& r : point.traffic->requests->requests)
      capture.first->emplace_back(static_cast<std::size_t>(r.output) * static_cast<std::size_t>(model.vocab));
  }
  capture.want_last = reference != nullptr;
  HostMemoryWatch host;
  try {
    const MemoryAdmission admission = admit_here(model, point, opts);
    if (admission.refusal) return skipped(result, *admission.refusal);
    const bool share_weights = admission.share_weights;
    if (share_weights) note_shared_weights(point, result);
    host.reset = reset_peak_rss();
    host.start = process_memory();
    const RankLaunch launch{model, point, opts, share_weights, &capture, table, outcomes, host};
    if (auto refused = launch_anywhere(launch)) return fail(*refused);
    if (!is_reporting_process()) return result;  // process mode: rank 0 has every rank's outcome
    host.end = process_memory();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (auto cause = first_cause(outcomes)) return fail(*cause);

  try {
    summarize_outcomes(model, point, opts, outcomes, table, host, result);
  } catch (const std::exception& e) {
    return fail(fmt::format("the measurements could not be summarised: {}", e.what()));
  }
  if (reference) {
    // The one-rank configuration is the run the floor was measured on (docs/metrics.md).
    const bool floor_run = point.layout.ranks() == 1 && !point.ensemble();
    result.verification =
        verify_logits(*capture.first, *reference, opts.dtype, static_cast<std::size_t>(model.vocab), floor_run);
    if (capture.last_step >= 0)
      verify_last_iteration(capture.last, capture.last_step, *reference, static_cast<std::size_t>(model.vocab),
                            result.verification);
    if (!result.verification.passed) {
      result.status = ConfigStatus::failed;
      result.reason = "verification failed: " + result.verification.note;
    }
  }
  return result;
}

// Process mode: every process takes rank 0's verdict, so that all go the same way next (a failed
// reference, for one, is run against by none). Not once a process is lost: rank 0 ends the job.
void share_verdict(ConfigResult& result) {
  ProcessWorld* world = process_world();
  if (!world || !world->lost().empty()) return;
  const std::string verdict =
      world->broadcast(fmt::format("{}\n{}", static_cast<int>(result.status), result.reason));
  if (world->rank() == 0) return;
  const auto newline = verdict.find('\n');
  result.status = static_cast<ConfigStatus>(std::stoi(verdict.substr(0, newline)));
  result.reason = verdict.substr(newline + 1);
}

}  // namespace

ConfigResult run_configuration(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                               const VerificationReference* reference, StepLogits* captured) {
  const RunOptions opts =
      reference ? with_forced_routes(options, reference->routes, point.ensemble()) : options;
  ConfigResult result = run_on_this_process(model, point, opts, reference, captured);
  share_verdict(result);
  return result;
}

namespace {

// Per memory pool, the ranks' allocated bytes beside what was measured (engine/memory_pools.hpp):
// in process mode one pool per process, each measured by its own process.
std::vector<PoolMemory> memory_pools_of(const RunOptions& opts, const std::vector<RankOutcome>& outcomes,
                                        const std::vector<RankMemory>& ranks, const HostMemoryWatch& host) {
  const BackendEntry& entry = backend_entry(opts.backend);
  if (!process_world()) return thread_pools(entry, ranks, host);
  std::vector<ProcessMemoryRecord> processes;
  for (const RankOutcome& o : outcomes) processes.push_back(o.process);
  return process_pools(entry.on_host, ranks, processes);
}

// Whether every measuring process could reset its RSS high-water mark at the configuration's start.
bool rss_peak_reset(const std::vector<RankOutcome>& outcomes, const HostMemoryWatch& host) {
  if (!process_world()) return host.reset;
  return std::all_of(outcomes.begin(), outcomes.end(), [](const RankOutcome& o) { return o.process.hwm_reset; });
}

// Every replica's tokens per layer and expert (ensemble members route the same batch each: one
// member's count is the batch's).
// `decode`: the decode steps' part only.
std::vector<std::vector<long long>> sum_expert_tokens(const ModelConfig& model, const std::vector<RankOutcome>& outcomes,
                                                      bool decode = false) {
  std::vector<std::vector<long long>> total(static_cast<std::size_t>(model.layers),
                                            std::vector<long long>(static_cast<std::size_t>(model.experts), 0));
  for (const RankOutcome& o : outcomes) {
    const auto& tokens = decode ? o.expert_tokens_decode : o.expert_tokens;
    for (std::size_t l = 0; l < tokens.size(); ++l)
      for (std::size_t e = 0; e < tokens[l].size(); ++e) total[l][e] += tokens[l][e];
  }
  return total;
}

void summarize_outcomes(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts,
                        const std::vector<RankOutcome>& outcomes, const PhaseTable& table,
                        const HostMemoryWatch& host, ConfigResult& result) {
  for (const RankOutcome& o : outcomes) result.setup_s = std::max(result.setup_s, o.setup_s);
  const int measured = static_cast<int>(outcomes.front().iterations.size());
  result.iterations = measured;
  result.samples = raw_samples(outcomes, table, measured, point.traffic ? 0 : point.workload.decode_steps());
  if (point.traffic) {  // no batch-wide prefill or decode step: per-request times replace them
    result.samples.ttft_ms.clear();
    result.samples.decode_step_ms.clear();
  }
  result.measurement = describe_measurement(opts, outcomes.front().stop, result.samples.e2e_ms);
  if (result.measurement.outliers > 0)
    result.notes.push_back(fmt::format("{} of {} e2e samples are outliers (modified Z-score > 3.5); kept",
                                       result.measurement.outliers, measured));
  if (!result.measurement.target_met)
    result.notes.push_back(fmt::format("target relative standard error {:.2f}% not met: {:.2f}% after {} samples ({})",
                                       100 * result.measurement.target_rse, 100 * result.measurement.achieved_rse,
                                       measured, result.measurement.stop_reason));
  fill_sample_metrics(point, result.samples, result.metrics);
  if (point.traffic) {
    result.metrics.traffic = traffic_metrics(*point.traffic, point.layout, outcomes, opts.slo);
    result.metrics.output_tokens_per_s = result.metrics.traffic.output_tokens_per_s;
  }
  result.metrics.phases = phase_summaries(outcomes, table, measured);
  result.metrics.comm = comm_summaries(outcomes, table, measured, result.metrics.comm_bytes);
  result.metrics.bus_bandwidth = collective_bus_bandwidth(outcomes, table, point.layout, measured);
  for (const RankOutcome& o : outcomes) result.metrics.memory.push_back(o.memory);
  result.metrics.memory_pools = memory_pools_of(opts, outcomes, result.metrics.memory, host);
  if (!rss_peak_reset(outcomes, host) && backend_entry(opts.backend).on_host)
    result.notes.push_back("the process's RSS high-water mark could not be reset (/proc/self/clear_refs): the measured "
                           "memory peak is the process's peak so far, perhaps from an earlier configuration");
  result.cuda_graphs = outcomes.front().cuda_graphs;
  result.attention = outcomes.front().attention;
  for (const AttentionUse& use : result.attention)
    if (!use.why.empty()) result.notes.push_back(fmt::format("{} attention: {} ({})", use.pass, use.kernel, use.why));
  if (result.cuda_graphs)
    result.notes.push_back(
        "decode steps replayed as CUDA graphs: latencies are the replays'; decode phases (timing eager_sample) "
        "come from one extra eager decode step per iteration, outside the timed iterations; sync, wait, busy time "
        "and imbalance count each replayed step's collectives as that eager step's (estimated)");
  else if (opts.cuda_graphs)
    result.notes.push_back(backend_entry(opts.backend).no_graphs_reason.empty()
                               ? (model.moe() ? "CUDA graphs not used: MoE layers route tokens on the host between kernels"
                                              : "CUDA graphs not used: they need no pipeline stages and no overlap")
                               : "CUDA graphs not used: " + backend_entry(opts.backend).no_graphs_reason);
  result.metrics.pipeline = pipeline_summary(model, point, result.samples, result.metrics);
  if (model.moe())
    result.metrics.moe = moe_metrics(sum_expert_tokens(model, outcomes), point.layout.ep(), result.metrics.phases,
                                     opts.exec.routing.label());
  if (model.moe()) {
    result.metrics.moe.routing_agreement = routing_agreement(outcomes);
    ep_balance_by_pass(result.metrics.moe, sum_expert_tokens(model, outcomes, true));
    split_exchange_time(result.metrics.moe, result.metrics.bus_bandwidth);
  }
  if (point.traffic) {
    if (opts.ceilings.valid())
      result.notes.push_back("no speed-of-light floors for request-list workloads yet: the work model assumes equal "
                             "sequences");
    return;
  }
  apply_speed_of_light(model, point, opts, result);
  const Layout& l = point.layout;
  if (l.dp > 1 && !point.ensemble() && point.workload.batch % l.dp != 0)
    result.notes.push_back(fmt::format("uneven data-parallel split: {} sequences over {} replicas", point.workload.batch,
                                       l.dp));
}

}  // namespace

StepLogits compute_reference(const ModelConfig& model, const Workload& workload, const RunOptions& options,
                             int member) {
  ConfigPoint point;
  point.strategy = "reference";
  point.workload = workload;
  RunOptions once = options;
  once.warmup = 0;
  once.iterations = 0;
  once.inject_delay_ms = once.inject_delay_fraction = 0;
  once.adaptive = StoppingRule{0.0, 0, 0, 0.0};  // no measurement at all
  once.profiler_range = false;                   // a profiler waits for the configuration's range
  once.cuda_graphs = false;
  once.exec.member_offset = member;
  StepLogits logits;
  const ConfigResult r = run_configuration(model, point, once, nullptr, &logits);
  if (r.status != ConfigStatus::ok)
    throw Error(fmt::format("the one-rank reference for {} could not run: {}", workload.label(), r.reason));
  return logits;
}

}  // namespace llmt
