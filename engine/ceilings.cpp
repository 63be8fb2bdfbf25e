#include "engine/ceilings.hpp"

#include "engine/backends.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "model/error.hpp"
#include "model/file_io.hpp"
#include "model/model.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// How hard to probe: big enough to defeat caches and launch overheads, small enough to stay a
// start-up step. A CPU rank is one thread (one BLAS thread), so its ceilings are one core's; a GPU
// needs 8192^3 to reach its tensor-core peak.
struct Probe {
  std::size_t memory_bytes;  // per buffer; beyond any last-level cache (EPYC L3 slice, H100/H200 L2)
  std::size_t pass_bytes;    // bytes read per timed cache-resident repetition (buffer x passes)
  std::vector<int> gemm_sizes;  // square GEMMs; the fastest per FLOP counts
  int reps;                     // bandwidth probes
  int gemm_reps;
};

// Host ranks share cores with whatever else runs: many short repetitions give the best one a
// chance to run unpreempted (a preempted one reads low, and a low ceiling is a floor too high).
Probe probe_for(const Backend& backend) {
  // On the host a GEMM whose panels fit in L2 can beat 1024^3 per FLOP: a few sizes, the best.
  if (backend_entry(backend.name()).on_host)
    return {std::size_t{128} << 20, std::size_t{256} << 20, {256, 512, 1024}, 20, 8};
  return {std::size_t{1} << 30, std::size_t{8} << 30, {8192}, 5, 5};
}

// Shortest time of `reps` timed runs of `work`, after one untimed run that pays for page
// faults, plans and kernel loading. The best, not the mean: a ceiling is what the device can do.
template <typename Work>
double best_seconds(Backend& be, int reps, Work&& work) {
  work();
  be.synchronize();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < reps; ++i) {
    const std::uint64_t start = be.stamp();
    work();
    const std::uint64_t end = be.stamp();
    be.synchronize();
    const double seconds = (static_cast<double>(be.to_ns(end)) - static_cast<double>(be.to_ns(start))) * 1e-9;
    be.recycle_stamps();
    if (seconds > 0) best = std::min(best, seconds);
  }
  if (!std::isfinite(best)) throw Error(fmt::format("{}: could not time the ceiling measurement", be.name()));
  return best;
}

void fill_random(Backend& be, const DeviceBuffer& buffer, int rows, int cols, std::uint64_t tensor) {
  FillSpec spec;
  spec.seed = 0x5eed;
  spec.tensor = tensor;
  spec.global_cols = cols;
  be.fill(buffer.get(), rows, cols, spec);
}

// A buffer of about `bytes` (whole rows of 1024 elements, at least one) holding real data:
// untouched host pages all map to one zero page and read from cache.
struct ProbeBuffer {
  DeviceBuffer buffer;
  std::size_t rows = 0, cols = 1024;
  std::size_t bytes(const Backend& be) const { return rows * cols * dtype_size(be.dtype()); }
};
ProbeBuffer probe_buffer(Backend& be, std::size_t bytes, std::uint64_t tensor) {
  ProbeBuffer p;
  p.rows = std::max<std::size_t>(1, bytes / dtype_size(be.dtype()) / p.cols);
  p.buffer = be.allocate(p.rows * p.cols, MemoryKind::activations);
  fill_random(be, p.buffer, static_cast<int>(p.rows), static_cast<int>(p.cols), tensor);
  return p;
}

int passes_for(std::size_t buffer_bytes, std::size_t pass_bytes) {
  return static_cast<int>(std::clamp<std::size_t>(pass_bytes / std::max<std::size_t>(buffer_bytes, 1), 1, 1 << 20));
}

double measure_gemm_tflops(Backend& be, int n, int reps) {
  const std::size_t elements = static_cast<std::size_t>(n) * n;
  const DeviceBuffer a = be.allocate(elements, MemoryKind::activations);
  const DeviceBuffer w = be.allocate(elements, MemoryKind::activations);
  const DeviceBuffer c = be.allocate(elements, MemoryKind::activations);
  fill_random(be, a, n, n, 2);
  fill_random(be, w, n, n, 3);
  const double seconds =
      best_seconds(be, reps, [&] { be.gemm(n, n, n, a.get(), n, w.get(), n, c.get(), n, 0.0f); });
  return 2.0 * std::pow(static_cast<double>(n), 3) / seconds / 1e12;
}

// Reads one profile file; every problem names the file and the field.
class ProfileReader {
 public:
  ProfileReader(const fs::path& file) : file_(file.string()) {
    // Opened without blocking and refused unless a regular file: a FIFO never hangs the read.
    std::string text;
    try {
      text = read_input_file(file, "hardware profile", std::size_t{64} << 20);
    } catch (const Error& e) {
      throw ConfigError(e.what());
    }
    try {
      doc_ = json::parse(text);
    } catch (const json::parse_error& e) {
      throw ConfigError(fmt::format("{}: not valid JSON: {}", file_, e.what()));
    }
    if (!doc_.is_object()) throw ConfigError(fmt::format("{}: a hardware profile is a JSON object", file_));
  }

  std::string text(const std::string& field) const {
    const json& v = at(doc_, field, "a string");
    if (!v.is_string()) fail(field, fmt::format("must be a string, got {}", v.dump()));
    return v.get<std::string>();
  }
  double positive(const std::string& field) const { return positive_in(doc_, field, field); }
  // 0 when absent; otherwise it must be a positive number.
  double optional_positive(const std::string& field) const {
    return doc_.contains(field) && !doc_.at(field).is_null() ? positive(field) : 0.0;
  }
  double optional_positive(const std::string& object, const std::string& key) const {
    return doc_.contains(object) && doc_.at(object).is_object() && doc_.at(object).contains(key) ? positive(object, key)
                                                                                                 : 0.0;
  }
  std::vector<std::string> aliases() const {
    std::vector<std::string> out;
    if (!doc_.contains("aliases")) return out;
    const json& a = doc_.at("aliases");
    if (!a.is_array()) fail("aliases", fmt::format("must be an array of names, got {}", a.dump()));
    for (const json& name : a) {
      if (!name.is_string()) fail("aliases", fmt::format("must be an array of names, got {}", a.dump()));
      out.push_back(name.get<std::string>());
    }
    return out;
  }
  // A positive number inside an object field: "gemm_tflops" -> "bf16".
  double positive(const std::string& object, const std::string& key) const {
    const json& o = at(doc_, object, "an object of numbers by dtype");
    if (!o.is_object()) fail(object, fmt::format("must be an object of numbers by dtype, got {}", o.dump()));
    return positive_in(o, key, object + "." + key);
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw ConfigError(fmt::format("{}: field '{}': {}", file_, field, problem));
  }
  const json& at(const json& object, const std::string& key, const char* wanted) const {
    if (!object.contains(key) || object.at(key).is_null()) fail(key, fmt::format("missing ({} is required)", wanted));
    return object.at(key);
  }
  double positive_in(const json& object, const std::string& key, const std::string& field) const {
    if (!object.contains(key) || object.at(key).is_null()) fail(field, "missing (a positive number is required)");
    const json& v = object.at(key);
    if (!v.is_number() || !(v.get<double>() > 0))
      fail(field, fmt::format("must be a positive number, got {}", v.dump()));
    return v.get<double>();
  }

  std::string file_;
  json doc_;
};

Ceilings read_profile(const fs::path& file, const std::string& name, DType dtype) {
  const ProfileReader r(file);
  Ceilings c;
  c.device = r.text("device");
  c.bandwidth_gbps = r.positive("memory_bandwidth_gbps");
  c.dtype = std::string(dtype_name(dtype));
  c.gemm_tflops = r.positive("gemm_tflops", c.dtype);
  // Optional: with a cache size and no cache bandwidth, cache-resident calls have no floor.
  c.cache_bytes = r.optional_positive("cache_bytes");
  c.cache_bandwidth_gbps = r.optional_positive("cache_bandwidth_gbps");
  c.source = "profile:" + name;
  return c;
}

}  // namespace

double measure_read_gbps(Backend& be, std::size_t bytes, int passes, int reps) {
  const ProbeBuffer src = probe_buffer(be, bytes, 1);
  const DeviceBuffer sink = be.allocate_bytes(64, MemoryKind::activations);
  const std::size_t read = src.bytes(be);
  const double seconds = best_seconds(be, reps, [&] { be.read_probe(src.buffer.get(), read, passes, sink.get()); });
  return static_cast<double>(read) * passes / seconds / 1e9;
}

double measure_copy_gbps(Backend& be, std::size_t bytes, int passes, int reps) {
  const ProbeBuffer src = probe_buffer(be, bytes, 1), dst = probe_buffer(be, bytes, 4);
  const double seconds = best_seconds(be, reps, [&] {
    for (int p = 0; p < passes; ++p) be.copy_2d(dst.buffer.get(), dst.cols, src.buffer.get(), src.cols, src.rows, src.cols);
  });
  return 2.0 * static_cast<double>(src.bytes(be)) * passes / seconds / 1e9;  // read + written
}

BandwidthCeilings measure_bandwidth(Backend& backend) {
  backend.bind_thread();
  const Probe probe = probe_for(backend);
  BandwidthCeilings b;
  b.read_gbps = measure_read_gbps(backend, probe.memory_bytes, 1, probe.reps);
  b.copy_gbps = measure_copy_gbps(backend, probe.memory_bytes, 1, probe.reps);
  const Backend::CacheSizes caches = backend.cache_sizes();
  b.cache_bytes = caches.total_bytes;
  if (caches.fastest_bytes > 0) {
    // Half the fastest cache for a read; a copy's two buffers a quarter each (a GPU's L2 is two
    // partitions: a quarter of it for the read).
    const bool host = backend_entry(backend.name()).on_host;
    const std::size_t read_bytes = caches.fastest_bytes / (host ? 2 : 4), copy_bytes = caches.fastest_bytes / (host ? 4 : 8);
    b.cache_read_gbps =
        measure_read_gbps(backend, read_bytes, passes_for(read_bytes, probe.pass_bytes), probe.reps);
    b.cache_copy_gbps =
        measure_copy_gbps(backend, copy_bytes, passes_for(2 * copy_bytes, probe.pass_bytes), probe.reps);
  }
  return b;
}

Ceilings measure_ceilings(Backend& backend) {
  const BandwidthCeilings b = measure_bandwidth(backend);
  Ceilings c;
  c.bandwidth_gbps = std::max(b.read_gbps, b.copy_gbps);
  c.bandwidth_probe = b.read_gbps >= b.copy_gbps ? "read" : "copy";
  c.cache_bandwidth_gbps = std::max(b.cache_read_gbps, b.cache_copy_gbps);
  c.cache_bytes = static_cast<double>(b.cache_bytes);
  const Probe probe = probe_for(backend);
  for (int n : probe.gemm_sizes) c.gemm_tflops = std::max(c.gemm_tflops, measure_gemm_tflops(backend, n, probe.gemm_reps));
  c.source = "measured";
  c.dtype = std::string(dtype_name(backend.dtype()));
  c.device = backend.device_description();
  return c;
}

std::vector<fs::path> hardware_profile_directories() {
  return profile_directories("hardware", "LLMT_HARDWARE_PROFILE_DIR");
}

std::vector<std::string> list_hardware_profiles() {
  std::set<std::string> names;
  for (const fs::path& dir : hardware_profile_directories()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".json") names.insert(entry.path().stem().string());
  }
  return {names.begin(), names.end()};
}

namespace {

// A profile's file and canonical name (its file's stem), by path, name or alias.
std::pair<fs::path, std::string> find_profile(const std::string& name_or_path, const std::string& option) {
  if (name_or_path.empty()) throw ConfigError(fmt::format("{}: empty hardware profile name", option));
  const fs::path as_path(name_or_path);
  const bool looks_like_path = name_or_path.find('/') != std::string::npos || as_path.extension() == ".json";
  if (looks_like_path || fs::exists(as_path)) {
    if (!fs::is_regular_file(as_path))
      throw ConfigError(fmt::format("{}: no such hardware profile file", name_or_path));
    return {as_path, as_path.stem().string()};
  }
  for (const fs::path& dir : hardware_profile_directories()) {
    const fs::path candidate = dir / (name_or_path + ".json");
    if (fs::is_regular_file(candidate)) return {candidate, name_or_path};
    std::error_code ec;
    if (fs::exists(fs::symlink_status(candidate, ec)))  // a FIFO or a device: refused by name, never opened
      throw ConfigError(fmt::format("{}: {}: {}, not a hardware profile (the profile '{}' in {})", option,
                                    candidate.string(), describe_file_kind(candidate), name_or_path, dir.string()));
  }
  for (const fs::path& dir : hardware_profile_directories())
    for (const std::string& name : list_hardware_profiles()) {
      const fs::path candidate = dir / (name + ".json");
      if (!fs::is_regular_file(candidate)) continue;
      const std::vector<std::string> aliases = ProfileReader(candidate).aliases();
      if (std::find(aliases.begin(), aliases.end(), name_or_path) != aliases.end()) return {candidate, name};
    }
  const auto known = list_hardware_profiles();
  const std::string names = known.empty() ? std::string("none found") : fmt::format("{}", fmt::join(known, ", "));
  throw ConfigError(fmt::format("{}: unknown hardware profile '{}': not a file and not a profile under "
                                "profiles/hardware (profiles: {}{})",
                                option, name_or_path, names, option == "--ceilings" ? "; or measure, none" : ""));
}

}  // namespace

Ceilings load_hardware_profile(const std::string& name_or_path, DType dtype) {
  const auto [file, name] = find_profile(name_or_path, "--ceilings");
  return read_profile(file, name, dtype);
}

HardwareProfile load_hardware_description(const std::string& name_or_path) {
  const auto [file, name] = find_profile(name_or_path, "--hardware");
  const ProfileReader r(file);
  HardwareProfile h;
  h.name = name;
  h.device = r.text("device");
  h.source = r.text("source");
  h.memory_bytes = static_cast<std::size_t>(r.positive("memory_bytes"));
  h.nvlink_gbps = r.optional_positive("links", "nvlink_gbps");
  h.pcie_gbps = r.optional_positive("links", "pcie_gbps");
  return h;
}

std::string describe_cache_rule(const Ceilings& c, const char* no_floor_note) {
  if (c.cache_bytes == 0) return "no cache rule";
  if (c.cache_bandwidth_gbps > 0)
    return fmt::format("cache {:.1f} GB/s up to {:.0f} KiB", c.cache_bandwidth_gbps, c.cache_bytes / 1024);
  return fmt::format("no floor up to {:.0f} KiB{}", c.cache_bytes / 1024, no_floor_note);
}

std::string describe_ceilings(const Ceilings& c) {
  if (!c.valid()) return "ceilings: none (no speed-of-light floors)";
  const std::string cache = describe_cache_rule(c, " (cache-resident)");
  return fmt::format("ceilings: {} {:.1f} GB/s, {}, GEMM {:.3g} TFLOP/s {} ({}: {})",
                     c.bandwidth_probe.empty() ? "memory" : c.bandwidth_probe, c.bandwidth_gbps, cache, c.gemm_tflops,
                     c.dtype, c.source, c.device);
}

}  // namespace llmt
