// Compute backends and their communicators, by name. Each backend registers one entry (what
// it can do, why it cannot run here, its factories) in a process-wide table, the way strategies
// register theirs; the engine looks entries up and never compares backend names. The table is
// filled at start by register_builtin_backends() (kernels/builtin_backends.hpp), explicitly:
// static initialisers in static libraries are dropped by the linker.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/async_comm.hpp"
#include "engine/backend.hpp"
#include "engine/communicator.hpp"

namespace llmt {

// Where ranks' memory comes from: ranks sharing a pool must fit in it together.
struct MemoryPools {
  std::vector<int> pool_of_rank;
  std::vector<std::size_t> available_bytes;  // 0: unknown
};

using CommWorld = std::vector<std::unique_ptr<Communicator>>;

struct BackendEntry {
  std::string name;                 // what --backend and results files call it
  std::string description;          // one line for `list`
  int auto_priority = 0;            // --backend auto takes the available entry with the highest
  bool emulated = false;            // ranks share one device: timings are not multi-device timings
  std::string emulated_variant;     // the entry --emulate-ranks switches to; empty: none
  bool on_host = false;             // compute and memory are the host's (CPU busy and timing checks apply)
  int descriptors_per_rank = 1;     // file descriptors a rank opens (admission)
  bool rank_per_device = false;     // each rank needs a device of its own: more ranks than devices skip
  std::string device_noun = "devices";
  std::vector<DType> dtypes;        // supported; the first is the default
  std::string no_graphs_reason;     // why --cuda-graphs cannot apply; empty: it can
  bool has_cudnn_attention = false;

  std::function<std::optional<std::string>()> unavailable;  // why it cannot run here; nullopt: it can
  std::function<std::string()> found;                       // what it found here ("1 GPU(s): ..."); optional
  std::function<void()> prepare;                            // one-time process set-up
  std::function<int()> device_count;                        // devices a sweep may use by default
  std::function<std::unique_ptr<Backend>(int rank, DType)> make_backend;
  std::function<CommWorld(const std::vector<Backend*>&)> make_world;
  std::function<std::unique_ptr<AsyncReducer>(Communicator&, Backend&)> make_async_reducer;
  // Process mode (one rank per process): this process's communicator for `backend`, built on
  // `host`, the MPI communicator over the configuration's processes on host memory. Unset: the
  // backend cannot run in process mode.
  std::function<std::unique_ptr<Communicator>(Backend& backend, std::unique_ptr<Communicator> host)>
      make_process_comm;
  std::function<MemoryPools(int ranks)> memory_pools;
  std::function<std::string(int pool)> pool_name;  // "host", "GPU 3"
  std::function<std::vector<std::pair<std::string, std::string>>()> device_metadata;
};

class BackendRegistry {
 public:
  void add(BackendEntry entry);  // throws on a duplicate name or a missing factory
  const BackendEntry* find(std::string_view name) const;
  const BackendEntry& get(std::string_view name) const;  // throws ConfigError naming the known ones
  std::vector<std::string> names() const;                // selectable by --backend (emulated ones are not)

 private:
  std::vector<BackendEntry> entries_;
};

// The process's table (register_builtin_backends() fills it once at start).
BackendRegistry& backend_registry();
const BackendEntry& backend_entry(std::string_view name);

struct BackendChoice {
  std::string name;  // "cpu", "cuda", or "cuda-emulated" (ranks sharing one GPU)
  std::string why;   // one line for the console: what was asked, what was found
  DType dtype = DType::f32;
};

std::vector<std::string> compiled_backends();
// `requested`: auto or a registered name; `dtype`: auto or a type name. Throws ConfigError for
// an unknown name, a backend that cannot run here, or a type it does not support.
BackendChoice resolve_backend(const std::string& requested, const std::string& dtype = "auto",
                              bool emulate_ranks = false);
bool is_emulated(const std::string& name);
void prepare_backend(const std::string& name);
int device_count(const std::string& name);
// `threads`: the rank's threads (Backend::set_threads; --threads-per-rank).
std::unique_ptr<Backend> make_backend(const std::string& name, int rank, DType dtype, int threads = 1);
// One communicator per backend (one rank each). A collective that waits longer than
// `collective_timeout_s` (0: forever) fails, naming the ranks that did not arrive (where the
// communicator has such a watchdog; see Communicator::set_collective_timeout).
CommWorld make_comm_world(const std::string& name, const std::vector<Backend*>& backends,
                          double collective_timeout_s = 0);
// Runs collectives of `comm` beside `backend`'s compute (the overlap sync mode).
std::unique_ptr<AsyncReducer> make_async_reducer(const std::string& name, Communicator& comm, Backend& backend);
MemoryPools memory_pools(const std::string& name, int ranks);
// Lines of run metadata about the devices (GPU names, driver, library versions, clocks).
std::vector<std::pair<std::string, std::string>> device_metadata(const std::string& name);

}  // namespace llmt
