// The device ceilings the speed-of-light floors are computed from (docs/metrics.md "Speed of
// light"): memory and cache bandwidth and dense GEMM throughput, measured on a backend at start-up or read
// from a hardware profile (profiles/hardware/<name>.json).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "model/dtype.hpp"
#include "engine/result.hpp"

namespace llmt {

// The bandwidth probes, through the Backend interface only, each the best of a few repetitions
// (a ceiling is what the device can do): a streaming read (Backend::read_probe) and a copy_2d
// over buffers well beyond the last-level cache, and the same within the fastest cache
// (Backend::cache_sizes), re-read many times. GB/s of bytes read (read) or read plus written
// (copy); cache figures 0 where the backend knows no cache size. `llmt_gpu_bench` uses these too.
struct BandwidthCeilings {
  double read_gbps = 0, copy_gbps = 0;
  double cache_read_gbps = 0, cache_copy_gbps = 0;
  std::size_t cache_bytes = 0;  // all the caches a rank's data can stay in
};
BandwidthCeilings measure_bandwidth(Backend& backend);
// One probe: `bytes` (rounded to whole 4 KiB rows at fp32) read `passes` times per repetition.
double measure_read_gbps(Backend& backend, std::size_t bytes, int passes, int reps);

// Measures `backend`'s ceilings in its own dtype: the memory bandwidth (the faster of the read
// and the copy beyond the caches), the cache bandwidth and size (measure_bandwidth), and the
// throughput of a square gemm. On the CPU backend it takes well under a second. The backend must
// be bound to the calling thread's use (bind_thread is called here).
Ceilings measure_ceilings(Backend& backend);

// Where hardware profiles are looked up, in order: $LLMT_HARDWARE_PROFILE_DIR, profiles/hardware
// beside the executable, share/llmthreads/hardware, the source tree's profiles/hardware.
std::vector<std::filesystem::path> hardware_profile_directories();
std::vector<std::string> list_hardware_profiles();

// Reads a hardware profile by name (a file <name>.json in one of hardware_profile_directories())
// or by path: its memory bandwidth and its dense GEMM throughput for `dtype`. Throws ConfigError
// naming the file and the field when one is missing or malformed, or the name is unknown.
Ceilings load_hardware_profile(const std::string& name_or_path, DType dtype);

// A device as its hardware profile describes it, for planning runs on hardware that is not
// present (--hardware): memory per device and link speeds (0: not given), with their source.
struct HardwareProfile {
  std::string name, device, source;
  std::size_t memory_bytes = 0;
  double nvlink_gbps = 0, pcie_gbps = 0;  // both directions together, per device
};
// Throws ConfigError naming the file and field, as load_hardware_profile; memory_bytes is required.
HardwareProfile load_hardware_description(const std::string& name_or_path);

// One line for the console: "ceilings: 3350 GB/s, 989 TFLOP/s bf16 (profile:nvidia-h100-sxm, ...)".
std::string describe_ceilings(const Ceilings& ceilings);
// The cache rule alone: "cache 280.0 GB/s up to 33792 KiB", "no floor up to N KiB" (with
// `no_floor_note` appended) or "no cache rule".
std::string describe_cache_rule(const Ceilings& ceilings, const char* no_floor_note = "");

}  // namespace llmt
