// What the run happened on: host, CPU, memory, load, and the tool's own version.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace llmt {

struct HostInfo {
  std::string hostname;
  std::string cpu_model;
  int logical_cpus = 0;    // online CPUs
  int affinity_cpus = 0;   // CPUs this process may run on
  std::size_t memory_total_bytes = 0;
  double load_average_1m = 0.0;
  // Share of all the host's CPUs busy (steal included) over a short window at the start, while
  // this process was idle: other work, measured now rather than averaged over the past minute
  // (a run started right after another has a high load average but an idle machine). -1: not
  // measured. Filled by the CPU backend's bench (measure_cpu_busy), not by host_info().
  double cpu_busy_at_start = -1.0;
  std::string cpu_governor;  // empty when the kernel exposes none (e.g. virtual machines)
  double cpu_mhz = 0;        // current clock of CPU 0 as /proc/cpuinfo reports it
  std::string os;
};

// Read once and cached.
const HostInfo& host_info();
// Busy share of all CPUs of the host (from /proc/stat) over `window`; -1 when unreadable.
double measure_cpu_busy(std::chrono::milliseconds window);
// Current MemAvailable from /proc/meminfo (0 when unknown).
std::size_t available_memory_bytes();

// The process's resident memory as Linux reports it (/proc/self/status), -1 where unknown. It is
// one figure for the whole process: every thread rank, the reference logits, the results kept.
struct ProcessMemory {
  long long rss_bytes = -1;       // VmRSS: resident now
  long long peak_rss_bytes = -1;  // VmHWM: the high-water mark (getrusage's ru_maxrss without /proc)
};
ProcessMemory process_memory();
// Resets the process's RSS high-water mark to its current RSS (writes "5" to
// /proc/self/clear_refs, Linux 4.0 and later), so that a later VmHWM is the peak since now.
// False where that is not permitted: VmHWM then stays the peak since the process started.
bool reset_peak_rss();

// Conditions that make CPU timings unreliable, one sentence each: ranks outnumbering usable
// CPUs, a frequency governor other than `performance`, other work busy on the CPUs at the start.
std::vector<std::string> timing_warnings(const HostInfo& host, int max_ranks);

// Compiler and library versions the binary was built with.
std::string compiler_version();
std::map<std::string, std::string> library_versions();

std::string tool_version();
std::string git_commit();
std::string utc_timestamp();  // ISO 8601, seconds

}  // namespace llmt
