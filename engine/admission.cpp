#include "engine/admission.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include "engine/backends.hpp"
#include "engine/reference.hpp"
#include "engine/transformer.hpp"

namespace llmt {

namespace {

// Predicted bytes per memory pool: everything, and the weights of replicas other than the
// first (what one shared copy saves).
struct PoolNeeds {
  std::vector<double> total, replica_weights;
};
PoolNeeds pool_needs(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options,
                     const MemoryPools& pools) {
  PoolNeeds need{std::vector<double>(pools.available_bytes.size(), 0.0),
                 std::vector<double>(pools.available_bytes.size(), 0.0)};
  for (int r = 0; r < point.ranks(); ++r) {
    const ShardPlan shard = make_shard_plan(model, point, r);
    const MemoryPlan plan = plan_rank_memory(model, point, shard, options.dtype);
    const auto pool = static_cast<std::size_t>(pools.pool_of_rank[static_cast<std::size_t>(r)]);
    need.total[pool] += static_cast<double>(plan.total());
    if (shard.coords.dp > 0) need.replica_weights[pool] += static_cast<double>(plan.weights);
  }
  return need;
}

// The memory pools the ranks draw on: the backend's here, or one planned device per rank.
MemoryPools rank_pools(const RunOptions& options, int ranks) {
  if (!options.planned_device) return backend_entry(options.backend).memory_pools(ranks);
  MemoryPools pools;
  for (int r = 0; r < ranks; ++r) {
    pools.pool_of_rank.push_back(r);
    pools.available_bytes.push_back(options.planned_device->memory_bytes);
  }
  return pools;
}

std::string pool_name(const RunOptions& options, int pool) {
  if (options.planned_device) return fmt::format("{} device", options.planned_device->name);
  return backend_entry(options.backend).pool_name(pool);
}

}  // namespace

MemoryAdmission admit_memory(const ModelConfig& model, const ConfigPoint& point, const RunOptions& options) {
  const BackendEntry& backend = backend_entry(options.backend);
  const MemoryPools pools = rank_pools(options, point.ranks());
  const PoolNeeds need = pool_needs(model, point, options, pools);
  auto first_over = [&](bool shared) -> std::optional<std::size_t> {
    for (std::size_t p = 0; p < need.total.size(); ++p) {
      const double usable = options.memory_headroom * static_cast<double>(pools.available_bytes[p]);
      if (pools.available_bytes[p] > 0 && need.total[p] - (shared ? need.replica_weights[p] : 0.0) > usable) return p;
    }
    return std::nullopt;
  };
  // Ensemble members have weights of their own, expert-parallel ranks experts of their own, and
  // only thread ranks share an address space.
  const bool can_share = point.layout.dp > 1 && !point.ensemble() && !point.layout.experts_split && backend.on_host &&
                         !options.planned_device;
  MemoryAdmission admission;
  admission.share_weights =
      can_share && (options.replica_weights == ReplicaWeights::shared ||
                    (options.replica_weights == ReplicaWeights::automatic && first_over(false) && !first_over(true)));
  if (const auto p = first_over(admission.share_weights)) {
    const double usable = options.memory_headroom * static_cast<double>(pools.available_bytes[*p]);
    admission.refusal = fmt::format(
        "insufficient {} memory: {} rank(s) need {:.2f} GiB (predicted), {:.2f} GiB usable",
        pool_name(options, static_cast<int>(*p)), point.ranks(),
        (need.total[*p] - (admission.share_weights ? need.replica_weights[*p] : 0.0)) / 1073741824.0,
        usable / 1073741824.0);
  }
  return admission;
}

std::optional<std::string> admit_reference(const ModelConfig& model, const Workload& workload,
                                           const RunOptions& options) {
  return admit_reference(model, LogitPositions::of_workload(workload), options);
}

std::optional<std::string> admit_reference(const ModelConfig& model, const LogitPositions& positions,
                                           const RunOptions& options) {
  const std::size_t need = predict_streamed_memory(model, positions, DType::f32).total();
  const MemoryPools pools = rank_pools(options, 1);
  const double usable = options.memory_headroom * static_cast<double>(pools.available_bytes.front());
  if (pools.available_bytes.front() == 0 || static_cast<double>(need) <= usable) return std::nullopt;
  return fmt::format("its streamed fp32 reference cannot run: it needs {:.2f} GiB (one layer's weights, the "
                     "activations of every position and the logits), {:.2f} GiB usable in {} memory",
                     need / 1073741824.0, usable / 1073741824.0, pool_name(options, 0));
}

RankBudget rank_budget(const std::string& backend) {
  RankBudget b;
  constexpr long long kReserve = 64;  // threads and descriptors the process itself needs
  rlimit lim{};
  if (::getrlimit(RLIMIT_NPROC, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    b.threads = std::max<long long>(0, static_cast<long long>(lim.rlim_cur) - kReserve);
  if (std::FILE* f = std::fopen("/proc/sys/kernel/threads-max", "r")) {
    long long max_threads = 0;
    if (std::fscanf(f, "%lld", &max_threads) == 1 && max_threads > 0)
      b.threads = std::min(b.threads, std::max<long long>(0, max_threads - kReserve));
    std::fclose(f);
  }
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    b.descriptors = std::max<long long>(0, static_cast<long long>(lim.rlim_cur) - kReserve);
  b.descriptors_per_rank = backend_entry(backend).descriptors_per_rank;
  return b;
}

std::optional<std::string> admission_problem(const ModelConfig& model, const ConfigPoint& point,
                                             const RunOptions& options, const RankBudget& budget) {
  const long long n = point.ranks(), threads = n * std::max(1, options.threads_per_rank);
  if (threads > budget.threads)
    return fmt::format("{} ranks need {} threads; the process may start about {} (ulimit -u, kernel.threads-max)", n,
                       threads, budget.threads);
  if (n * budget.descriptors_per_rank > budget.descriptors)
    return fmt::format("{} ranks need about {} file descriptors; the process may open about {} (ulimit -n)", n,
                       n * budget.descriptors_per_rank, budget.descriptors);
  return admit_memory(model, point, options).refusal;
}

}  // namespace llmt
