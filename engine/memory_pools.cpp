#include "engine/memory_pools.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "engine/backends.hpp"
#include "engine/process_world.hpp"

namespace llmt {

std::string process_pool_name(const std::string& backend, int rank) {
  const BackendEntry& entry = backend_entry(backend);
  std::string name = fmt::format("{} rank {}", host_info().hostname, rank);
  if (!entry.on_host) name += " " + entry.pool_name(process_device(backend));
  return name;
}

ProcessMemoryRecord measure_this_process(const HostMemoryWatch& watch, std::string pool) {
  ProcessMemoryRecord p;
  p.pool = std::move(pool);
  p.rss_at_start_bytes = watch.start.rss_bytes;
  p.peak_rss_bytes = process_memory().peak_rss_bytes;
  p.hwm_reset = watch.reset;
  return p;
}

std::vector<PoolMemory> thread_pools(const BackendEntry& entry, const std::vector<RankMemory>& ranks,
                                     const HostMemoryWatch& host) {
  const MemoryPools pools = entry.memory_pools(static_cast<int>(ranks.size()));
  std::map<int, PoolMemory> by_pool;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const int id = r < pools.pool_of_rank.size() ? pools.pool_of_rank[r] : 0;
    PoolMemory& p = by_pool[id];
    p.pool = entry.pool_name(id);
    p.ranks.push_back(static_cast<int>(r));
    p.allocated_bytes += static_cast<long long>(ranks[r].peak_total);
    if (entry.on_host) {
      p.measured_peak_bytes = host.end.peak_rss_bytes;
      p.measured_by = host.reset ? kRssSinceConfigurationStart : kRssSinceProcessStart;
      p.rss_at_start_bytes = host.start.rss_bytes;
    } else {
      // Ranks sharing a device each sample all of it: the pool's peak is the largest sample.
      p.measured_peak_bytes = std::max(p.measured_peak_bytes, ranks[r].device_used_max);
      p.measured_by = kDeviceUsedMaxOfSamples;
    }
  }
  std::vector<PoolMemory> out;
  for (auto& [id, p] : by_pool)
    if (p.measured_peak_bytes >= 0) out.push_back(std::move(p));
  return out;
}

std::vector<PoolMemory> process_pools(bool on_host, const std::vector<RankMemory>& ranks,
                                      const std::vector<ProcessMemoryRecord>& processes) {
  std::vector<PoolMemory> out;
  for (std::size_t r = 0; r < ranks.size() && r < processes.size(); ++r) {
    const ProcessMemoryRecord& proc = processes[r];
    PoolMemory p;
    p.pool = proc.pool;
    p.ranks = {static_cast<int>(r)};
    p.allocated_bytes = static_cast<long long>(ranks[r].peak_total);
    if (on_host) {
      p.measured_peak_bytes = proc.peak_rss_bytes;
      p.measured_by = proc.hwm_reset ? kRssSinceConfigurationStart : kRssSinceProcessStart;
      p.rss_at_start_bytes = proc.rss_at_start_bytes;
    } else {
      p.measured_peak_bytes = ranks[r].device_used_max;
      p.measured_by = kDeviceUsedMaxOfSamples;
    }
    if (p.measured_peak_bytes >= 0) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace llmt
