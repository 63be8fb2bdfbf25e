#include "engine/sysinfo.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "llmt_git_commit.hpp"

namespace llmt {
namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::size_t meminfo_field(const std::string& name) {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == name + ":") return kib * 1024;
  }
  return 0;
}

// A "Name:  123 kB" field of /proc/self/status, in bytes; -1 when absent.
long long status_bytes(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + ":", 0) == 0) return std::atoll(line.c_str() + name.size() + 1) * 1024;
  return -1;
}

struct CpuTicks {
  unsigned long long busy = 0, total = 0;
};

// The aggregate line of /proc/stat: user nice system idle iowait irq softirq steal ...
bool read_cpu_ticks(CpuTicks& t) {
  std::ifstream in("/proc/stat");
  std::string label;
  unsigned long long v[8] = {};
  if (!(in >> label) || label != "cpu") return false;
  for (auto& x : v)
    if (!(in >> x)) return false;
  const unsigned long long idle = v[3] + v[4];
  t.total = 0;
  for (auto x : v) t.total += x;
  t.busy = t.total - idle;
  return true;
}

}  // namespace

double measure_cpu_busy(std::chrono::milliseconds window) {
  CpuTicks a, b;
  if (!read_cpu_ticks(a)) return -1.0;
  std::this_thread::sleep_for(window);
  if (!read_cpu_ticks(b) || b.total <= a.total) return -1.0;
  return static_cast<double>(b.busy - a.busy) / static_cast<double>(b.total - a.total);
}

namespace {

HostInfo read_host_info() {
  HostInfo h;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) h.hostname = name;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line.rfind("model name", 0) == 0 && h.cpu_model.empty()) h.cpu_model = line.substr(colon + 2);
    if (line.rfind("cpu MHz", 0) == 0 && h.cpu_mhz == 0) h.cpu_mhz = std::atof(line.c_str() + colon + 1);
    if (!h.cpu_model.empty() && h.cpu_mhz > 0) break;
  }
  if (h.cpu_model.empty()) h.cpu_model = "unknown CPU";
  h.logical_cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  h.affinity_cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : h.logical_cpus;
  h.memory_total_bytes = meminfo_field("MemTotal");
  double load[3] = {};
  if (getloadavg(load, 3) > 0) h.load_average_1m = load[0];
  h.cpu_governor = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  struct utsname u {};
  if (uname(&u) == 0) h.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return h;
}

}  // namespace

const HostInfo& host_info() {
  static const HostInfo info = read_host_info();
  return info;
}

std::size_t available_memory_bytes() { return meminfo_field("MemAvailable"); }

ProcessMemory process_memory() {
  ProcessMemory m;
  m.rss_bytes = status_bytes("VmRSS");
  m.peak_rss_bytes = status_bytes("VmHWM");
  if (m.peak_rss_bytes < 0) {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) m.peak_rss_bytes = static_cast<long long>(usage.ru_maxrss) * 1024;
  }
  return m;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::vector<std::string> timing_warnings(const HostInfo& host, int max_ranks) {
  std::vector<std::string> w;
  if (max_ranks > host.affinity_cpus)
    w.push_back(fmt::format("{} ranks on {} usable CPUs: ranks share cores, so timings include oversubscription "
                            "and do not show the scaling of separate devices",
                            max_ranks, host.affinity_cpus));
  if (!host.cpu_governor.empty() && host.cpu_governor != "performance")
    w.push_back(fmt::format("CPU frequency governor is '{}', not 'performance': clocks vary with load",
                            host.cpu_governor));
  // The load average alone lags by a minute: it stays high right after a previous run ends.
  const bool busy = host.cpu_busy_at_start >= 0 ? host.cpu_busy_at_start > 0.25
                                                 : host.load_average_1m > 0.5 * host.logical_cpus;
  if (busy)
    w.push_back(fmt::format("other work kept {} of the {} CPUs busy at the start (load average {:.2f}): "
                            "it competes with the measurement",
                            host.cpu_busy_at_start >= 0 ? fmt::format("{:.0f}%", 100 * host.cpu_busy_at_start)
                                                        : std::string("many"),
                            host.logical_cpus, host.load_average_1m));
  return w;
}

std::string compiler_version() {
#if defined(__clang__)
  return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::map<std::string, std::string> library_versions() {
  return {{"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
          {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                        NLOHMANN_JSON_VERSION_PATCH)}};
}

std::string tool_version() { return LLMT_VERSION; }
std::string git_commit() { return LLMT_GIT_COMMIT; }

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace llmt
