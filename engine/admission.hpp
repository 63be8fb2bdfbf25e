// Admission: whether a configuration can start here at all, decided before any reference is
// computed or thread started. Ranks drawing on one memory pool (the host's, or one GPU's) must
// fit in it together, like nvbench's skip on insufficient device memory; each rank needs a
// thread and some file descriptors. A refusal is a skip with its reason, never a failure.
#pragma once

#include <limits>
#include <optional>
#include <string>

#include "engine/plan.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"

namespace llmt {

struct MemoryAdmission {
  std::optional<std::string> refusal;  // why the ranks do not fit together; nullopt: they do
  // Data-parallel thread ranks on the host share one read-only copy of the weights (asked for,
  // or automatic when private copies do not fit and a shared one does).
  bool share_weights = false;
};
MemoryAdmission admit_memory(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options);

// Why the streamed fp32 reference of `workload` (engine/reference.hpp) cannot run in rank 0's
// memory pool, or nullopt. Without a reference nothing can be verified.
std::optional<std::string> admit_reference(const ModelConfig& model, const Workload& workload,
                                           const RunOptions& options);
struct LogitPositions;  // engine/reference.hpp
std::optional<std::string> admit_reference(const ModelConfig& model, const LogitPositions& positions,
                                           const RunOptions& options);

// Threads and file descriptors a run may use: each rank is one thread (and, on a GPU, the
// descriptors its driver and NCCL open). Limits of the process, read once.
struct RankBudget {
  long long threads = std::numeric_limits<long long>::max();
  long long descriptors = std::numeric_limits<long long>::max();
  int descriptors_per_rank = 1;
};
RankBudget rank_budget(const std::string& backend);

// Why `point` cannot be started here (threads, descriptors, then memory), or nullopt.
std::optional<std::string> admission_problem(const ModelConfig& model, const ConfigPoint& point,
                                             const RunOptions& options, const RankBudget& budget);

}  // namespace llmt
