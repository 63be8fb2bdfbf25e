// Communicators of the CUDA backend. NCCL: one communicator per GPU rank, collectives enqueued on
// the rank's compute stream (so they are ordered with its kernels), all-gather of uneven parts as
// grouped broadcasts, all-to-all as grouped sends and receives. Emulation: ranks sharing one GPU,
// through the shared-memory communicator with device copies and a reduction kernel. And the
// overlap mode's reducer: collectives on the communication stream, ordered with the compute
// stream by events.
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <map>
#include <mutex>

#include "model/error.hpp"
#include "kernels/cpu/shm_communicator.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_backend_impl.hpp"
#include "kernels/cuda/cuda_common.hpp"
#include "kernels/cuda/cuda_kernels.hpp"

namespace llmt {
namespace {

using cuda::CudaBackend;

void check_nccl(ncclResult_t status, const char* expression, const char* file, int line) {
  if (status != ncclSuccess) cuda::fail(ncclGetErrorString(status), expression, file, line);
}
#define LLMT_NCCL_CHECK(expr) check_nccl((expr), #expr, __FILE__, __LINE__)

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f16: return ncclFloat16;
    case DType::bf16: return ncclBfloat16;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::avg ? ncclAvg : ncclSum; }

// Every communicator of one world, so that a failing rank can abort them all: NCCL operations
// of the others would otherwise wait forever for it.
struct NcclWorld {
  std::mutex mutex;
  std::vector<ncclComm_t> comms;
  std::atomic<bool> aborted{false};
  void add(ncclComm_t c) {
    std::lock_guard lock(mutex);
    comms.push_back(c);
  }
  void abort_all() {
    std::lock_guard lock(mutex);
    if (aborted.exchange(true)) return;
    for (ncclComm_t c : comms) (void)ncclCommAbort(c);
  }
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<NcclWorld> world, ncclComm_t comm, CudaBackend& backend,
                   std::shared_ptr<Communicator> host = nullptr)
      : world_(std::move(world)), comm_(comm), backend_(backend), host_(std::move(host)) {
    settle(ncclCommUserRank(comm_, &rank_));
    settle(ncclCommCount(comm_, &size_));
    world_->add(comm_);
  }
  ~NcclCommunicator() override {
    if (host_ && watches_backend_ && !child_) backend_.set_wait_watch(nullptr);
    (void)cudaFree(scratch_);
    // Aborted communicators are freed by the abort; destroying them again is not allowed. A
    // destroyed one leaves the world's list, so a later abort does not touch it.
    std::lock_guard lock(world_->mutex);
    if (!world_->aborted) {
      auto& comms = world_->comms;
      comms.erase(std::remove(comms.begin(), comms.end(), comm_), comms.end());
      (void)ncclCommDestroy(comm_);
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "nccl"; }

  void all_reduce_on(cudaStream_t stream, const void* send, void* recv, std::size_t count, DType type, ReduceOp op) {
    guard();
    settle(ncclAllReduce(send, recv, count, nccl_type(type), nccl_op(op), comm_, stream));
  }
  void all_reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op) override {
    all_reduce_on(stream(), send, recv, count, type, op);
  }

  void all_gather_v(const void* send, void* recv, std::span<const std::size_t> counts, DType type) override {
    guard();
    if (counts.size() != static_cast<std::size_t>(size_))
      throw ConfigError(fmt::format("all_gather_v: {} counts for {} ranks", counts.size(), size_));
    const std::size_t e = dtype_size(type);
    bool equal = true;
    for (std::size_t c : counts) equal &= c == counts[0];
    if (equal) {
      settle(ncclAllGather(send, recv, counts[0], nccl_type(type), comm_, stream()));
      return;
    }
    // NCCL has no all-gather of uneven parts: each rank broadcasts its own, in one group.
    settle(ncclGroupStart());
    std::size_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      char* part = static_cast<char*>(recv) + offset * e;
      settle(ncclBroadcast(r == rank_ ? send : part, part, counts[static_cast<std::size_t>(r)],
                                    nccl_type(type), r, comm_, stream()));
      offset += counts[static_cast<std::size_t>(r)];
    }
    settle(ncclGroupEnd());
  }

  // Grouped sends and receives, one pair per peer, so that NCCL runs them together and no pair
  // waits for another; the rank's own block is a device copy on the same stream.
  void all_to_all_v(const void* send, std::span<const std::size_t> send_counts, void* recv,
                    std::span<const std::size_t> recv_counts, DType type) override {
    guard();
    check_all_to_all_counts(send_counts, recv_counts);
    const std::size_t e = dtype_size(type);
    const auto* from = static_cast<const char*>(send);
    auto* to = static_cast<char*>(recv);
    std::size_t sent = 0, received = 0;  // elements before the current peer's block
    settle(ncclGroupStart());
    for (int peer = 0; peer < size_; ++peer) {
      const std::size_t out = send_counts[static_cast<std::size_t>(peer)];
      const std::size_t in = recv_counts[static_cast<std::size_t>(peer)];
      if (peer == rank_) {
        if (out > 0)
          LLMT_CUDA_CHECK(
              cudaMemcpyAsync(to + received * e, from + sent * e, out * e, cudaMemcpyDeviceToDevice, stream()));
      } else {
        if (out > 0) settle(ncclSend(from + sent * e, out, nccl_type(type), peer, comm_, stream()));
        if (in > 0) settle(ncclRecv(to + received * e, in, nccl_type(type), peer, comm_, stream()));
      }
      sent += out;
      received += in;
    }
    settle(ncclGroupEnd());
  }

  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DType type, ReduceOp op) override {
    guard();
    settle(ncclReduceScatter(send, recv, recv_count, nccl_type(type), nccl_op(op), comm_, stream()));
  }
  void reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op, int root) override {
    guard();
    settle(ncclReduce(send, recv, count, nccl_type(type), nccl_op(op), root, comm_, stream()));
  }
  void broadcast(void* buffer, std::size_t count, DType type, int root) override {
    guard();
    settle(ncclBroadcast(buffer, buffer, count, nccl_type(type), root, comm_, stream()));
  }
  void send(const void* buffer, std::size_t count, DType type, int peer) override {
    guard();
    settle(ncclSend(buffer, count, nccl_type(type), peer, comm_, stream()));
  }
  void recv(void* buffer, std::size_t count, DType type, int peer) override {
    guard();
    settle(ncclRecv(buffer, count, nccl_type(type), peer, comm_, stream()));
  }

  void send_recv(const void* send_buffer, std::size_t send_count, int dst, void* recv_buffer, std::size_t recv_count,
                 int src, DType type) override {
    guard();
    settle(ncclGroupStart());
    settle(ncclSend(send_buffer, send_count, nccl_type(type), dst, comm_, stream()));
    settle(ncclRecv(recv_buffer, recv_count, nccl_type(type), src, comm_, stream()));
    settle(ncclGroupEnd());
  }

  // A host-side barrier: a one-element all-reduce, waited for.
  void barrier() override {
    guard();
    if (!scratch_) LLMT_CUDA_CHECK(cudaMalloc(&scratch_, sizeof(float)));
    settle(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream()));
    backend_.wait_stream(stream());
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    guard();
    ncclComm_t child = nullptr;
    const ncclResult_t split = ncclCommSplit(comm_, color, key, &child, nullptr);
    settle(split, "ncclCommSplit");
    if (child) settle(ncclInProgress, "ncclCommSplit", child);  // a non-blocking child finishes its init
    auto out = std::make_unique<NcclCommunicator>(world_, child, backend_, host_);
    out->timeout_s_ = timeout_s_;
    out->watches_backend_ = true;  // the parent's watch covers the backend's waits
    out->child_ = true;
    return out;
  }

  void abort(const std::string& reason) override {
    world_->abort_all();
    if (host_) host_->abort(reason);
  }

  // Process mode: the host waits for the GPU through the watchdog below, so that a lost peer
  // ends the wait after `seconds` instead of never (NCCL itself has no timeout).
  void set_collective_timeout(double seconds) override {
    timeout_s_ = seconds;
    if (host_ && !watches_backend_) {  // the process's own communicator, not a split's child
      backend_.set_wait_watch([this](double waited_s) { watch(waited_s, "a collective"); });
      watches_backend_ = true;
    }
  }
  double collective_timeout() const override { return timeout_s_; }

  // Completes a call on a non-blocking communicator (process mode): ncclInProgress is polled
  // under the watchdog until NCCL says success or an error.
  // `on`: the communicator whose state to poll (a split's child), else this one.
  void settle(ncclResult_t status, const char* what = "an NCCL call", ncclComm_t on = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    while (status == ncclInProgress) {
      watch(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), what);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      LLMT_NCCL_CHECK(ncclCommGetAsyncError(on ? on : comm_, &status));
    }
    if (status != ncclSuccess) fail(fmt::format("NCCL failed in {}: {}", what, ncclGetErrorString(status)));
  }

  // The watchdog: an asynchronous NCCL error, or a wait past the collective timeout, aborts NCCL
  // and the host channel (every process's MPI side learns it) and ends the wait with an error.
  void watch(double waited_s, const char* what) {
    ncclResult_t state = ncclSuccess;
    (void)ncclCommGetAsyncError(comm_, &state);
    if (state != ncclSuccess && state != ncclInProgress)
      fail(fmt::format("NCCL reported an error during {} on rank {}: {}", what, rank_, ncclGetErrorString(state)));
    if (timeout_s_ > 0 && waited_s > timeout_s_)
      fail(fmt::format("collective timeout: {} on rank {} waited more than {:g} s (--collective-timeout) for the GPU; "
                       "a peer process is lost (its process died) or hung; NCCL aborted",
                       what, rank_, timeout_s_),
           true);
  }

  [[noreturn]] void fail(const std::string& reason, bool timed_out = false) {
    world_->abort_all();
    if (host_) host_->abort(reason);
    if (timed_out) throw CollectiveTimeout(reason);
    throw Error(reason);
  }

 private:
  cudaStream_t stream() const { return backend_.compute_stream(); }
  // What this rank can check alone: one count per rank, and its own block the same both ways.
  void check_all_to_all_counts(std::span<const std::size_t> send_counts,
                               std::span<const std::size_t> recv_counts) const {
    const auto ranks = static_cast<std::size_t>(size_);
    if (send_counts.size() != ranks || recv_counts.size() != ranks)
      throw ConfigError(fmt::format("all_to_all_v: {} send and {} recv counts for {} ranks", send_counts.size(),
                                    recv_counts.size(), size_));
    const auto self = static_cast<std::size_t>(rank_);
    if (send_counts[self] != recv_counts[self])
      throw ConfigError(fmt::format("all_to_all_v: rank {} sends itself {} elements but expects {}", rank_,
                                    send_counts[self], recv_counts[self]));
  }
  // After an abort every communicator of the world is gone: fail instead of touching one.
  void guard() const {
    if (world_->aborted.load()) throw RankError("collective abandoned: another rank failed and aborted NCCL");
  }

  std::shared_ptr<NcclWorld> world_;
  ncclComm_t comm_;
  CudaBackend& backend_;
  std::shared_ptr<Communicator> host_;  // process mode: the MPI channel, kept for aborts
  double timeout_s_ = 0;
  bool watches_backend_ = false, child_ = false;
  int rank_ = 0, size_ = 1;
  void* scratch_ = nullptr;
};

// Emulated ranks on one GPU: device-to-device copies and a reduction kernel on the rank's
// stream, drained before other ranks may look.
class DeviceOps final : public SharedMemoryOps {
 public:
  explicit DeviceOps(CudaBackend& backend) : backend_(backend) {}
  void flush() override { LLMT_CUDA_CHECK(cudaStreamSynchronize(backend_.compute_stream())); }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (bytes == 0 || dst == src) return;
    LLMT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, backend_.compute_stream()));
  }
  void reduce(void* dst, std::span<const void* const> sources, std::size_t count, DType type, ReduceOp op) override {
    cuda::reduce(type, dst, sources.data(), static_cast<int>(sources.size()), count, op == ReduceOp::avg,
                 backend_.compute_stream());
  }
  void to_host(void* host, const void* src, std::size_t bytes) override { backend_.download_bytes(host, src, bytes); }
  void from_host(void* dst, const void* host, std::size_t bytes) override { backend_.upload_bytes(dst, host, bytes); }
  std::string kind() const override { return "emulated"; }

 private:
  CudaBackend& backend_;
};

// The overlap mode on GPUs: each all-reduce waits (on the communication stream) for the compute
// that produced its data, and the compute stream waits for it only where the sum is used.
class CudaAsyncReducer final : public AsyncReducer {
 public:
  CudaAsyncReducer(NcclCommunicator& comm, CudaBackend& backend) : comm_(comm), backend_(backend) {}
  ~CudaAsyncReducer() override {
    for (auto& [ticket, op] : pending_) (void)cudaEventDestroy(op.done);
    for (cudaEvent_t e : free_) (void)cudaEventDestroy(e);
  }

  std::uint64_t start_all_reduce(void* buf, std::size_t count, DType type) override {
    Pending op;
    cudaEvent_t ready = take_event();
    LLMT_CUDA_CHECK(cudaEventRecord(ready, backend_.compute_stream()));
    LLMT_CUDA_CHECK(cudaStreamWaitEvent(backend_.comm_stream(), ready, 0));
    free_.push_back(ready);  // reusable once recorded: later records do not disturb the wait
    op.timing.begin = backend_.stamp_comm();
    comm_.all_reduce_on(backend_.comm_stream(), buf, buf, count, type, ReduceOp::sum);
    op.timing.end = backend_.stamp_comm();
    op.done = take_event();
    LLMT_CUDA_CHECK(cudaEventRecord(op.done, backend_.comm_stream()));
    const std::uint64_t ticket = next_++;
    pending_[ticket] = op;
    return ticket;
  }

  AsyncTiming wait(std::uint64_t ticket) override {
    const auto it = pending_.find(ticket);
    if (it == pending_.end()) throw Error(fmt::format("no pending collective {}", ticket));
    LLMT_CUDA_CHECK(cudaStreamWaitEvent(backend_.compute_stream(), it->second.done, 0));
    const AsyncTiming timing = it->second.timing;
    free_.push_back(it->second.done);
    pending_.erase(it);
    return timing;
  }

 private:
  struct Pending {
    AsyncTiming timing;
    cudaEvent_t done = nullptr;
  };
  cudaEvent_t take_event() {
    if (!free_.empty()) {
      cudaEvent_t e = free_.back();
      free_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    LLMT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }

  NcclCommunicator& comm_;
  CudaBackend& backend_;
  std::map<std::uint64_t, Pending> pending_;
  std::vector<cudaEvent_t> free_;
  std::uint64_t next_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_nccl_world(const std::vector<Backend*>& backends) {
  const int n = static_cast<int>(backends.size());
  std::vector<int> devices;
  for (Backend* b : backends) devices.push_back(cuda::as_cuda(*b).device());
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(n));
  LLMT_NCCL_CHECK(ncclCommInitAll(comms.data(), n, devices.data()));
  auto world = std::make_shared<NcclWorld>();
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r)
    out.push_back(std::make_unique<NcclCommunicator>(world, comms[static_cast<std::size_t>(r)],
                                                     cuda::as_cuda(*backends[static_cast<std::size_t>(r)])));
  return out;
}

// Process mode: NCCL bootstrapped over the host communicator (MPI): rank 0's unique id is
// broadcast to the others, then every process joins with its own GPU (the backend's device,
// chosen by the node-local rank).
std::unique_ptr<Communicator> make_nccl_process_communicator(Backend& backend, std::unique_ptr<Communicator> host_comm) {
  std::shared_ptr<Communicator> host = std::move(host_comm);
  ncclUniqueId id{};
  if (host->rank() == 0) LLMT_NCCL_CHECK(ncclGetUniqueId(&id));
  static_assert(sizeof(id) % sizeof(float) == 0, "the id travels as floats");
  host->broadcast(&id, sizeof(id) / sizeof(float), DType::f32, 0);
  CudaBackend& cuda = cuda::as_cuda(backend);
  LLMT_CUDA_CHECK(cudaSetDevice(cuda.device()));
  // Non-blocking, so that a process that never joins cannot hang the others here: the init is
  // polled against the host's collective timeout and aborted past it.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t state = ncclCommInitRankConfig(&comm, host->size(), id, host->rank(), &config);
  const double timeout_s = host->collective_timeout();
  const auto start = std::chrono::steady_clock::now();
  while (state == ncclInProgress) {
    const double waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (timeout_s > 0 && waited_s > timeout_s) {
      (void)ncclCommAbort(comm);
      const std::string why = fmt::format("collective timeout: ncclCommInitRank on rank {} waited more than {:g} s "
                                          "(--collective-timeout) for the other processes", host->rank(), timeout_s);
      host->abort(why);
      throw CollectiveTimeout(why);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    LLMT_NCCL_CHECK(ncclCommGetAsyncError(comm, &state));
  }
  LLMT_NCCL_CHECK(state);
  auto out = std::make_unique<NcclCommunicator>(std::make_shared<NcclWorld>(), comm, cuda, host);
  out->set_collective_timeout(timeout_s);
  return out;
}

std::vector<std::unique_ptr<Communicator>> make_emulated_world(const std::vector<Backend*>& backends) {
  return make_shared_memory_world(static_cast<int>(backends.size()), [&backends](int rank) {
    return std::make_unique<DeviceOps>(cuda::as_cuda(*backends[static_cast<std::size_t>(rank)]));
  });
}

std::unique_ptr<AsyncReducer> make_cuda_async_reducer(Communicator& comm, Backend& backend) {
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(&comm))
    return std::make_unique<CudaAsyncReducer>(*nccl, cuda::as_cuda(backend));
  // Emulated ranks synchronise on the host: a communication thread, like the CPU backend.
  return make_thread_reducer(comm, backend);
}

}  // namespace llmt
