#include "engine/backends.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/error.hpp"

namespace llmt {

void BackendRegistry::add(BackendEntry entry) {
  if (find(entry.name)) throw std::logic_error("backend registered twice: " + entry.name);
  if (entry.dtypes.empty() || !entry.unavailable || !entry.make_backend || !entry.make_world ||
      !entry.make_async_reducer || !entry.memory_pools || !entry.pool_name || !entry.device_count)
    throw std::logic_error("backend " + entry.name + " registered without its types or factories");
  entries_.push_back(std::move(entry));
}

const BackendEntry* BackendRegistry::find(std::string_view name) const {
  for (const BackendEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

const BackendEntry& BackendRegistry::get(std::string_view name) const {
  if (const BackendEntry* e = find(name)) return *e;
  throw ConfigError(fmt::format("backend '{}' is not available in this build (this build has: {})", name,
                                fmt::join(names(), ", ")));
}

std::vector<std::string> BackendRegistry::names() const {
  std::vector<std::string> out;
  for (const BackendEntry& e : entries_)
    if (!e.emulated) out.push_back(e.name);
  return out;
}

BackendRegistry& backend_registry() {
  static BackendRegistry registry;
  return registry;
}

const BackendEntry& backend_entry(std::string_view name) { return backend_registry().get(name); }

std::vector<std::string> compiled_backends() { return backend_registry().names(); }

bool is_emulated(const std::string& name) {
  const BackendEntry* e = backend_registry().find(name);
  return e && e->emulated;
}

namespace {

DType choose_dtype(const BackendEntry& backend, const std::string& dtype) {
  if (dtype == "auto") return backend.dtypes.front();
  const auto dt = parse_dtype(dtype);
  if (!dt) throw ConfigError(fmt::format("--dtype: unknown type '{}' (fp32, bf16, fp16, auto)", dtype));
  if (std::find(backend.dtypes.begin(), backend.dtypes.end(), *dt) == backend.dtypes.end()) {
    std::vector<std::string_view> names;
    for (DType t : backend.dtypes) names.push_back(dtype_name(t));
    throw ConfigError(fmt::format("--dtype {}: the {} backend computes in {} only", dtype, backend.name,
                                  fmt::join(names, ", ")));
  }
  return *dt;
}

// --backend auto: the available entry with the highest priority; the reasons of the others.
const BackendEntry& choose_automatically(std::string& why_others) {
  const BackendEntry* best = nullptr;
  for (const std::string& name : backend_registry().names()) {
    const BackendEntry& e = backend_entry(name);
    if (const auto reason = e.unavailable()) {
      why_others += fmt::format("{}no {}: {}", why_others.empty() ? "" : "; ", e.name, *reason);
      continue;
    }
    if (!best || e.auto_priority > best->auto_priority) best = &e;
  }
  if (!best) throw ConfigError(fmt::format("--backend auto: no backend can run here ({})", why_others));
  return *best;
}

}  // namespace

BackendChoice resolve_backend(const std::string& requested, const std::string& dtype, bool emulate_ranks) {
  const std::vector<std::string> known = backend_registry().names();
  if (requested != "auto" && std::find(known.begin(), known.end(), requested) == known.end())
    throw ConfigError(fmt::format("--backend {}: unknown backend (auto, {}){}", requested, fmt::join(known, ", "),
                                  requested == "cuda" ? "; this build has no CUDA backend (configure with the CUDA "
                                                        "toolkit present)"
                                                      : ""));
  std::string why_others;
  const BackendEntry* chosen = nullptr;
  if (requested == "auto") {
    chosen = &choose_automatically(why_others);
  } else {
    chosen = &backend_entry(requested);
    if (const auto reason = chosen->unavailable())
      throw ConfigError(fmt::format("--backend {}: cannot run here ({})", requested, *reason));
  }
  if (emulate_ranks) {
    if (chosen->emulated_variant.empty())
      throw ConfigError(fmt::format("--emulate-ranks: emulation shares one GPU between ranks; the {} backend needs "
                                    "none",
                                    chosen->name));
    chosen = &backend_entry(chosen->emulated_variant);
  }
  BackendChoice c;
  c.name = chosen->name;
  const std::string how = requested == "auto" ? (why_others.empty() ? "auto" : "auto: " + why_others) : "requested";
  c.why = fmt::format("backend: {} ({}: {}){}", c.name, how, chosen->found ? chosen->found() : chosen->description,
                      chosen->emulated ? "; ranks EMULATED on one GPU: timings are not multi-GPU timings" : "");
  c.dtype = choose_dtype(*chosen, dtype);
  return c;
}

void prepare_backend(const std::string& name) {
  const BackendEntry& e = backend_entry(name);
  if (e.prepare) e.prepare();
}

int device_count(const std::string& name) { return backend_entry(name).device_count(); }

std::unique_ptr<Backend> make_backend(const std::string& name, int rank, DType dtype, int threads) {
  std::unique_ptr<Backend> backend = backend_entry(name).make_backend(rank, dtype);
  backend->set_threads(threads);
  return backend;
}

CommWorld make_comm_world(const std::string& name, const std::vector<Backend*>& backends,
                          double collective_timeout_s) {
  if (!(collective_timeout_s >= 0))
    throw ConfigError(fmt::format("collective timeout {} s: must be at least 0 (0: wait forever)", collective_timeout_s));
  CommWorld world = backend_entry(name).make_world(backends);
  if (!world.empty()) world.front()->set_collective_timeout(collective_timeout_s);  // the whole world's
  return world;
}

std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend) {
  return backend_entry(name).make_async_reducer(comm, backend);
}

MemoryPools memory_pools(const std::string& name, int ranks) { return backend_entry(name).memory_pools(ranks); }

std::vector<std::pair<std::string, std::string>> device_metadata(const std::string& name) {
  const BackendEntry& e = backend_entry(name);
  return e.device_metadata ? e.device_metadata() : std::vector<std::pair<std::string, std::string>>{};
}

}  // namespace llmt
