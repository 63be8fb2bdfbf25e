// Runs one configuration: starts one thread per rank, builds each rank's shard, runs a capture
// pass (its logits are kept for verification), the warm-up iterations and the measured
// iterations, then turns the ranks' records into raw samples and metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/dtype.hpp"
#include "model/model.hpp"
#include "engine/plan.hpp"
#include "engine/rank_outcome.hpp"
#include "engine/result.hpp"
#include "engine/stats.hpp"
#include "engine/request_metrics.hpp"
#include "engine/verify.hpp"

namespace llmt {

// Whether data-parallel replicas in one address space (CPU thread ranks) each build their
// own copy of the weights, as on separate devices, or share one read-only copy.
enum class ReplicaWeights {
  automatic,  // private copies, shared only when private ones do not fit in memory
  private_copies,
  shared,
};

// Devices that are not present, planned for (--hardware): one per rank, of this memory each.
struct PlannedDevice {
  std::string name;  // the hardware profile's
  std::size_t memory_bytes = 0;
};

struct RunOptions {
  std::string backend = "cpu";  // a name from engine/backends.hpp
  DType dtype = DType::f32;
  int warmup = 1;
  int iterations = 5;  // measured iterations, unless `adaptive.target_rse` is set
  int threads_per_rank = 1;  // each rank's compute threads (Backend::set_threads, --threads-per-rank)
  // Adaptive measurement: measure until the relative standard error of the mean e2e latency
  // is at most target_rse, within [min_iters, max_iters] iterations and max_time_s seconds.
  StoppingRule adaptive{0.0, 5, 100, 60.0};
  ExecutionOptions exec;
  // Test hook: rank 0 sleeps inside every iteration, for a fixed time or a fraction of the
  // iteration's own time, so that a known slowdown can be injected.
  double inject_delay_ms = 0, inject_delay_fraction = 0;
  bool flush_cache = false;  // evict the device cache between iterations (GPUs: L2)
  bool cuda_graphs = false;  // replay decode steps as CUDA graphs where every rank can capture them
  Ceilings ceilings;  // the device's ceilings for the speed-of-light floors (invalid: no floors)
  bool profiler_range = true;  // bracket the measured iterations with profiler_start/stop
  // Refuse a configuration whose predicted memory exceeds this fraction of what is available.
  double memory_headroom = 0.9;
  ReplicaWeights replica_weights = ReplicaWeights::automatic;
  // Set: admission plans for these devices instead of what `backend` finds here (dry runs only).
  std::optional<PlannedDevice> planned_device;
  // A collective that waits longer than this fails the configuration, naming the collective and
  // the ranks that did not arrive (--collective-timeout); 0 = wait forever.
  double collective_timeout_s = 900;
  // Test hook: starting the thread of this rank fails as if the system refused one more thread
  // (-1: never), so that a configuration whose ranks cannot all start can be tested.
  int fail_rank_thread_start = -1;
  // Request-list workloads: the service-level limits goodput counts against (--slo).
  SloLimits slo;
};

// Runs `point`. When `reference` is given, the logits are verified against it: those of the first
// iteration, and the last step of the last measured one. A failure of any kind is returned as a
// failed result with its reason, never thrown.
ConfigResult run_configuration(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                               const VerificationReference* reference, StepLogits* captured = nullptr);

// The one-rank logits of `workload`, the reference every configuration is checked against;
// `member` selects an ensemble member's weights. Throws Error when it cannot run.
StepLogits compute_reference(const ModelConfig& model, const Workload& workload, const RunOptions& options,
                             int member = 0);
// The reference of a `mean` merge over `replicas` ensemble members: the weighted mean of the
// members' one-rank logits (`weights` empty: equal weights).
StepLogits weighted_mean(const std::vector<const StepLogits*>& members, const std::vector<double>& weights);

// Whether `point` on `backend` can replay its decode steps as graphs: one GPU per rank (NCCL
// captures, host-synchronised emulation does not), no pipeline (its token feedback and stage
// order are host-driven), no overlap (its communication thread or stream is outside the capture).
// MoE layers route on the host between their kernels, which no graph can hold.
bool graphs_possible(const ModelConfig& model, const ConfigPoint& point, const std::string& backend);

// `options` with the reference's experts forced on MoE layers (teacher-forced routing), where they
// apply: router routing, one model (not an ensemble, whose members route by weights of their
// own), thread ranks (process mode: only rank 0 holds the reference).
RunOptions with_forced_routes(const RunOptions& options, std::shared_ptr<const ExpertChoices> routes, bool ensemble);

// Per-iteration samples from every rank's records: an iteration (or step) lasts from the first
// rank's start to the last rank's end. `steps`: decode steps per iteration (with CUDA graphs each
// replayed step counts the collectives of the iteration's eager sample step).
RawSamples raw_samples(const std::vector<RankOutcome>& ranks, const PhaseTable& table, int iterations, int steps);

// Predicted weight bytes of the replicas other than replica 0 (what sharing saves).
std::size_t replica_weight_bytes(const ModelConfig& model, const ConfigPoint& point, DType dtype);
// Predicted bytes of every rank of `point`, summed.
std::size_t predicted_total_memory(const ModelConfig& model, const ConfigPoint& point, DType dtype);

}  // namespace llmt
