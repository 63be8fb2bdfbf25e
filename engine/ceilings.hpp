// The device ceilings the speed-of-light floors are computed from (docs/metrics.md "Speed of
// light"): copy bandwidth and dense GEMM throughput, measured on a backend at start-up or read
// from a hardware profile (profiles/hardware/<name>.json).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "model/dtype.hpp"
#include "engine/result.hpp"

namespace llmt {

// Measures `backend`'s ceilings in its own dtype through the Backend interface only: the copy
// bandwidth of copy_2d over buffers well beyond the last-level cache (bytes read plus written
// per second) and the throughput of a square gemm, best of a few repetitions each. On the CPU
// backend it takes well under a second. The backend must be bound to the calling thread's use
// (bind_thread is called here).
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

}  // namespace llmt
