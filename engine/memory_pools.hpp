// Measured memory per pool (docs/metrics.md, "Memory"): what the ranks of one configuration
// allocated beside what the OS or the device measured, one pool per memory the ranks share (the
// host, a GPU) or, in process mode, one pool per process, each measured by its own process.
#pragma once

#include <string>
#include <vector>

#include "engine/result.hpp"
#include "engine/sysinfo.hpp"

namespace llmt {

struct BackendEntry;

// The process's resident memory over one configuration: its high-water mark is reset when the
// configuration starts (where permitted) and read once every rank has finished.
struct HostMemoryWatch {
  bool reset = false;
  ProcessMemory start, end;
};

// The device's bytes in use (Backend::device_memory_used, cudaMemGetInfo: the whole device), sampled
// at the points where a rank has synchronised with it, the largest kept. A negative sample (no
// device) is not one.
class DeviceUsedSampler {
 public:
  void sample(long long used_bytes) {
    if (used_bytes < 0) return;
    if (used_bytes > max_) max_ = used_bytes;
    ++samples_;
  }
  long long max() const { return max_; }  // -1: no sample
  int samples() const { return samples_; }

 private:
  long long max_ = -1;
  int samples_ = 0;
};

// Process mode: one process's own memory, measured by that process and sent to rank 0 with its
// rank message (engine/rank_outcome.hpp).
struct ProcessMemoryRecord {
  std::string pool;                   // "<host> rank <r>" (host memory) or "<host> rank <r> GPU <d>"
  long long rss_at_start_bytes = -1;  // when the configuration started
  long long peak_rss_bytes = -1;      // VmHWM once its rank finished
  bool hwm_reset = false;             // the high-water mark was reset at the configuration's start
};

// Process mode: this process's pool, "<host> rank <rank>" for a backend on the host, else with the
// device's pool name after it ("<host> rank <rank> GPU <d>").
std::string process_pool_name(const std::string& backend, int rank);
// What this process measured of itself over the configuration `watch` started.
ProcessMemoryRecord measure_this_process(const HostMemoryWatch& watch, std::string pool);

// Thread mode: per memory pool of the backend (`entry.memory_pools`), the ranks' allocated bytes
// beside the process's RSS high-water mark (host ranks) or the largest sample of the device's used
// bytes among the pool's ranks (device ranks). Pools without a measurement are left out.
std::vector<PoolMemory> thread_pools(const BackendEntry& entry, const std::vector<RankMemory>& ranks,
                                     const HostMemoryWatch& host);
// Process mode: one pool per process (rank r is process r), measured by that process: its RSS
// high-water mark (`on_host`) or its device's largest used-bytes sample. `processes[r]` is rank
// r's record; ranks without a measurement are left out.
std::vector<PoolMemory> process_pools(bool on_host, const std::vector<RankMemory>& ranks,
                                      const std::vector<ProcessMemoryRecord>& processes);

// The names measured_by takes (docs/metrics.md).
inline constexpr const char* kRssSinceConfigurationStart = "process_rss_hwm_since_configuration_start";
inline constexpr const char* kRssSinceProcessStart = "process_rss_hwm_since_process_start";
inline constexpr const char* kDeviceUsedMaxOfSamples = "device_used_max_of_samples";

}  // namespace llmt
