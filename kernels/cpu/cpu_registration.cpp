// The CPU backend's entry in the backend table: thread ranks on the host, fp32, CBLAS,
// the shared-memory communicator and a helper thread for overlapped collectives.
#include "engine/backends.hpp"
#include "engine/sysinfo.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/shm_communicator.hpp"

namespace llmt {

void register_cpu_backend(BackendRegistry& registry) {
  BackendEntry e;
  e.name = "cpu";
  e.description = "thread ranks on the host's cores, CBLAS GEMMs, shared-memory collectives";
  e.on_host = true;
  e.descriptors_per_rank = 1;
  e.dtypes = {DType::f32};
  e.no_graphs_reason = "the CPU backend has none";
  e.unavailable = [] { return std::optional<std::string>{}; };
  e.prepare = [] { blas::use_single_thread(); };
  e.device_count = [] { return host_info().logical_cpus; };
  e.make_backend = [](int, DType) { return make_cpu_backend(); };
  e.make_world = [](const std::vector<Backend*>& backends) {
    return make_shared_memory_world(static_cast<int>(backends.size()));
  };
  e.make_process_comm = [](Backend&, std::unique_ptr<Communicator> host) { return host; };  // host memory already
  e.make_async_reducer = [](Communicator& comm, Backend& backend) { return make_thread_reducer(comm, backend); };
  e.memory_pools = [](int ranks) {
    MemoryPools p;
    p.pool_of_rank.assign(static_cast<std::size_t>(ranks), 0);
    p.available_bytes = {available_memory_bytes()};
    return p;
  };
  e.pool_name = [](int) { return std::string("host"); };
  registry.add(std::move(e));
}

}  // namespace llmt
