#include "kernels/cpu/shm_communicator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <numeric>
#include <thread>

#include "model/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLMT_CPU_RELAX() _mm_pause()
#else
#define LLMT_CPU_RELAX() std::this_thread::yield()
#endif

namespace llmt {
namespace {

struct WorldState;

// Spins briefly (only when every rank has a core of its own), then blocks.
class Barrier {
 public:
  explicit Barrier(int ranks) : ranks_(ranks), entered_(new std::atomic<std::uint64_t>[static_cast<std::size_t>(ranks)]) {
    for (int r = 0; r < ranks; ++r) entered_[static_cast<std::size_t>(r)].store(0, std::memory_order_relaxed);
  }

  // Returns false, with the ranks that did not arrive in `missing`, when the world's collective
  // timeout passed before every rank arrived.
  bool wait(const WorldState& world, int spin, int rank, std::vector<int>& missing);
  void wake_all() {
    std::lock_guard lock(mutex_);
    cv_.notify_all();
  }

 private:
  // The ranks that have not entered the barrier `rank` waits at.
  std::vector<int> missing(int rank) const {
    std::vector<int> out;
    const std::uint64_t mine = entered_[static_cast<std::size_t>(rank)].load(std::memory_order_acquire);
    for (int j = 0; j < ranks_; ++j)
      if (entered_[static_cast<std::size_t>(j)].load(std::memory_order_acquire) < mine) out.push_back(j);
    return out;
  }

  const int ranks_;
  // How many times each rank has entered: every rank passes the same barriers in the same order,
  // so the ranks behind the one that timed out are those that did not arrive.
  std::unique_ptr<std::atomic<std::uint64_t>[]> entered_;
  std::atomic<int> arrived_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

struct Mailbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::vector<std::byte>> messages;
};

struct Slot {
  const void* send = nullptr;
  void* recv = nullptr;
  std::size_t count = 0;
  std::span<const std::size_t> send_counts, recv_counts;  // all_to_all_v's, for the others to read
  int color = 0;
  int key = 0;
};

struct GroupState {
  explicit GroupState(std::vector<int> members)
      : size(static_cast<int>(members.size())), world_ranks(std::move(members)), barrier(size),
        slots(static_cast<std::size_t>(size)), children(static_cast<std::size_t>(size)),
        mailboxes(static_cast<std::size_t>(size) * static_cast<std::size_t>(size)) {}
  const int size;
  const std::vector<int> world_ranks;  // of the group's ranks, in group order
  Barrier barrier;
  std::vector<Slot> slots;
  std::vector<std::shared_ptr<GroupState>> children;  // split: the new group, at its leader's index
  std::vector<Mailbox> mailboxes;                     // [src * size + dst]
};

struct WorldState {
  explicit WorldState(int ranks)
      : world_size(ranks), spin(ranks <= static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) ? 4000 : 0) {}

  const int world_size;
  const int spin;
  std::atomic<bool> aborted{false};
  std::atomic<double> timeout_s{0};  // 0: wait forever
  std::mutex mutex;  // guards reason and groups
  std::string reason;
  std::vector<std::weak_ptr<GroupState>> groups;

  void add_group(const std::shared_ptr<GroupState>& g) {
    std::lock_guard lock(mutex);
    groups.push_back(g);
  }
  [[noreturn]] void throw_aborted() const {
    std::lock_guard lock(const_cast<std::mutex&>(mutex));
    throw RankError(fmt::format("collective abandoned: {}", reason));
  }
  void check() const {
    if (aborted.load(std::memory_order_acquire)) throw_aborted();
  }
  void abort(const std::string& why) {
    std::vector<std::shared_ptr<GroupState>> alive;
    {
      std::lock_guard lock(mutex);
      if (reason.empty()) reason = why;
      aborted.store(true, std::memory_order_release);
      for (auto& w : groups)
        if (auto g = w.lock()) alive.push_back(std::move(g));
    }
    for (auto& g : alive) {
      g->barrier.wake_all();
      for (auto& box : g->mailboxes) {
        std::lock_guard lock(box.mutex);
        box.cv.notify_all();
      }
    }
  }
};

bool Barrier::wait(const WorldState& world, int spin, int rank, std::vector<int>& missing_ranks) {
  world.check();
  if (ranks_ == 1) return true;
  const double timeout_s = world.timeout_s.load(std::memory_order_relaxed);
  const auto deadline = timeout_s > 0 ? std::chrono::steady_clock::now() +
                                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                std::chrono::duration<double>(timeout_s))
                                      : std::chrono::steady_clock::time_point::max();
  const std::uint64_t gen = generation_.load(std::memory_order_acquire);
  entered_[static_cast<std::size_t>(rank)].fetch_add(1, std::memory_order_acq_rel);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == ranks_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      generation_.store(gen + 1, std::memory_order_release);
    }
    cv_.notify_all();
    return true;
  }
  for (int i = 0; i < spin; ++i) {
    if (generation_.load(std::memory_order_acquire) != gen) return true;
    LLMT_CPU_RELAX();
  }
  std::unique_lock lock(mutex_);
  const auto done = [&] {
    return generation_.load(std::memory_order_acquire) != gen || world.aborted.load(std::memory_order_acquire);
  };
  if (timeout_s > 0) {
    while (!cv_.wait_until(lock, deadline, done)) {
      missing_ranks = missing(rank);
      if (!missing_ranks.empty()) return false;
      // Everybody entered: the last one is about to open the barrier.
      cv_.wait(lock, done);
    }
  } else {
    cv_.wait(lock, done);
  }
  if (generation_.load(std::memory_order_acquire) == gen) world.throw_aborted();
  return true;
}

std::string join_ranks(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

// Element range [begin, end) of part `index` when n elements are split into `parts`.
std::pair<std::size_t, std::size_t> chunk(std::size_t n, int parts, int index) {
  const std::size_t base = n / static_cast<std::size_t>(parts), extra = n % static_cast<std::size_t>(parts);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t begin = i * base + std::min(i, extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

class HostMemoryOps final : public SharedMemoryOps {
 public:
  void copy(void* dst, const void* src, std::size_t bytes) override {
    if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
  }
  void reduce(void* dst, std::span<const void* const> sources, std::size_t count, DType type, ReduceOp op) override {
    if (type != DType::f32)
      throw ConfigError(fmt::format("shared-memory communicator: {} reductions are not supported (fp32 only)",
                                    dtype_name(type)));
    constexpr std::size_t kBlock = 2048;
    float acc[kBlock];
    const float inv = 1.0f / static_cast<float>(sources.size());
    float* out = static_cast<float*>(dst);
    for (std::size_t b = 0; b < count; b += kBlock) {
      const std::size_t len = std::min(kBlock, count - b);
      std::memcpy(acc, static_cast<const float*>(sources[0]) + b, len * sizeof(float));
      for (std::size_t k = 1; k < sources.size(); ++k) {
        const float* src = static_cast<const float*>(sources[k]) + b;
        for (std::size_t i = 0; i < len; ++i) acc[i] += src[i];
      }
      if (op == ReduceOp::avg)
        for (std::size_t i = 0; i < len; ++i) acc[i] *= inv;
      std::memcpy(out + b, acc, len * sizeof(float));
    }
  }
  void to_host(void* host, const void* src, std::size_t bytes) override { copy(host, src, bytes); }
  void from_host(void* dst, const void* host, std::size_t bytes) override { copy(dst, host, bytes); }
  std::string kind() const override { return "shared-memory"; }
};

std::size_t total(std::span<const std::size_t> counts) {
  return std::accumulate(counts.begin(), counts.end(), std::size_t{0});
}

const char* at(const void* p, std::size_t bytes) { return static_cast<const char*>(p) + bytes; }
char* at(void* p, std::size_t bytes) { return static_cast<char*>(p) + bytes; }

class ShmCommunicator final : public Communicator {
 public:
  ShmCommunicator(std::shared_ptr<WorldState> world, std::shared_ptr<GroupState> group, int rank,
                  std::shared_ptr<SharedMemoryOps> ops)
      : world_(std::move(world)), group_(std::move(group)), rank_(rank), ops_(std::move(ops)) {}

  int rank() const override { return rank_; }
  int size() const override { return group_->size; }
  std::string kind() const override { return ops_->kind(); }

  void all_reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op) override {
    const std::size_t e = dtype_size(type);
    publish(send, recv, count, "all_reduce");
    // Each rank reduces one range of every rank's input into its own output, then copies the
    // other ranges from their owners. A range is read and written only by its owner in the
    // first phase, which makes send == recv safe.
    const auto [begin, end] = chunk(count, size(), rank_);
    reduce_into(at(recv, begin * e), begin * e, end - begin, type, op);
    finish_step("all_reduce");
    for (int j = 0; j < size(); ++j) {
      if (j == rank_) continue;
      const auto [b, en] = chunk(count, size(), j);
      ops_->copy(at(recv, b * e), at(group_->slots[j].recv, b * e), (en - b) * e);
    }
    finish_step("all_reduce");  // nobody may modify its buffer while another rank still reads from it
  }

  void all_gather_v(const void* send, void* recv, std::span<const std::size_t> counts, DType type) override {
    check_counts(counts, "all_gather_v");
    const std::size_t e = dtype_size(type);
    if (counts[static_cast<std::size_t>(rank_)] > 0 && send == nullptr)
      throw ConfigError("all_gather_v: null send buffer");
    publish(send, recv, counts[static_cast<std::size_t>(rank_)], "all_gather");
    std::size_t offset = 0;
    for (int j = 0; j < size(); ++j) {
      const std::size_t n = counts[static_cast<std::size_t>(j)];
      if (at(recv, offset * e) != group_->slots[j].send) ops_->copy(at(recv, offset * e), group_->slots[j].send, n * e);
      offset += n;
    }
    finish_step("all_gather");
  }

  void all_to_all_v(const void* send, std::span<const std::size_t> send_counts, void* recv,
                    std::span<const std::size_t> recv_counts, DType type) override {
    check_counts(send_counts, "all_to_all_v send");
    check_counts(recv_counts, "all_to_all_v recv");
    if ((total(send_counts) > 0 && send == nullptr) || (total(recv_counts) > 0 && recv == nullptr))
      throw ConfigError("all_to_all_v: null buffer");
    group_->slots[rank_].send_counts = send_counts;
    group_->slots[rank_].recv_counts = recv_counts;
    publish(send, recv, 0, "all_to_all");
    // Every rank checks every pair, so all of them agree on refusing the call, and they refuse it
    // only after the last barrier: nobody is left waiting, nobody reads a buffer already gone.
    const std::string mismatch = all_to_all_count_mismatch();
    if (mismatch.empty()) pull_all_to_all_blocks(recv, recv_counts, dtype_size(type));
    finish_step("all_to_all");
    if (!mismatch.empty()) throw ConfigError(mismatch);
  }

  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DType type, ReduceOp op) override {
    publish(send, recv, recv_count, "reduce_scatter");
    reduce_into(recv, static_cast<std::size_t>(rank_) * recv_count * dtype_size(type), recv_count, type, op);
    finish_step("reduce_scatter");
  }

  void reduce(const void* send, void* recv, std::size_t count, DType type, ReduceOp op, int root) override {
    check_peer(root, "reduce root");
    const std::size_t e = dtype_size(type);
    publish(send, recv, count, "reduce");
    // The ranks share the arithmetic and write straight into the root's output.
    const auto [begin, end] = chunk(count, size(), rank_);
    reduce_into(at(group_->slots[root].recv, begin * e), begin * e, end - begin, type, op);
    finish_step("reduce");
  }

  void broadcast(void* buffer, std::size_t count, DType type, int root) override {
    check_peer(root, "broadcast root");
    publish(buffer, buffer, count, "broadcast");
    if (rank_ != root) ops_->copy(buffer, group_->slots[root].send, count * dtype_size(type));
    finish_step("broadcast");
  }

  void send(const void* buffer, std::size_t count, DType type, int peer) override {
    check_peer(peer, "send peer");
    world_->check();
    const std::size_t bytes = count * dtype_size(type);
    std::vector<std::byte> message(bytes);
    ops_->flush();
    ops_->to_host(message.data(), buffer, bytes);
    Mailbox& box = mailbox(rank_, peer);
    {
      std::lock_guard lock(box.mutex);
      box.messages.push_back(std::move(message));
    }
    box.cv.notify_one();
  }

  void recv(void* buffer, std::size_t count, DType type, int peer) override {
    check_peer(peer, "recv peer");
    Mailbox& box = mailbox(peer, rank_);
    std::vector<std::byte> message;
    {
      const double timeout_s = world_->timeout_s.load(std::memory_order_relaxed);
      const auto arrived = [&] { return !box.messages.empty() || world_->aborted.load(); };
      std::unique_lock lock(box.mutex);
      if (timeout_s > 0) {
        if (!box.cv.wait_for(lock, std::chrono::duration<double>(timeout_s), arrived)) {
          lock.unlock();
          timed_out(fmt::format("recv from rank {}", world_rank(peer)), {peer}, timeout_s);
        }
      } else {
        box.cv.wait(lock, arrived);
      }
      if (box.messages.empty()) world_->throw_aborted();
      message = std::move(box.messages.front());
      box.messages.pop_front();
    }
    const std::size_t bytes = count * dtype_size(type);
    if (message.size() != bytes)
      throw RankError(fmt::format("recv from rank {}: expected {} bytes, the matching send had {}", peer, bytes,
                                  message.size()));
    ops_->from_host(buffer, message.data(), bytes);
    ops_->flush();  // `message` is freed on return
  }

  void barrier() override { sync("barrier"); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    auto& slots = group_->slots;
    slots[rank_].color = color;
    slots[rank_].key = key;
    sync("split");
    std::vector<int> members;
    for (int j = 0; j < size(); ++j)
      if (slots[j].color == color) members.push_back(j);
    std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return slots[a].key < slots[b].key; });
    const int leader = members.front();
    const int index = static_cast<int>(std::find(members.begin(), members.end(), rank_) - members.begin());
    if (rank_ == leader) {
      std::vector<int> world_ranks;
      for (int m : members) world_ranks.push_back(world_rank(m));
      auto child = std::make_shared<GroupState>(std::move(world_ranks));
      world_->add_group(child);
      group_->children[leader] = child;
    }
    sync("split");
    auto child = group_->children[leader];
    sync("split");
    if (rank_ == leader) group_->children[leader].reset();
    return std::make_unique<ShmCommunicator>(world_, std::move(child), index, ops_);
  }

  void abort(const std::string& reason) override { world_->abort(reason); }

  void set_collective_timeout(double seconds) override {
    if (!(seconds >= 0)) throw ConfigError(fmt::format("collective timeout {} s: must be at least 0", seconds));
    world_->timeout_s.store(seconds, std::memory_order_relaxed);
  }

 private:
  int world_rank(int group_rank) const { return group_->world_ranks[static_cast<std::size_t>(group_rank)]; }

  // `what`: the collective, for the watchdog's message.
  void sync(const char* what) {
    std::vector<int> missing;
    if (!group_->barrier.wait(*world_, world_->spin, rank_, missing))
      timed_out(what, missing, world_->timeout_s.load());
  }

  // Aborts the world (releasing every waiting rank with the reason) and throws the cause.
  [[noreturn]] void timed_out(const std::string& what, const std::vector<int>& missing_group_ranks, double timeout_s) {
    std::vector<int> missing;
    for (int g : missing_group_ranks) missing.push_back(world_rank(g));
    std::string group;
    if (size() != world_->world_size)
      group = fmt::format(" (a group of {} ranks: {})", size(), join_ranks(group_->world_ranks));
    const std::string why = fmt::format(
        "collective timeout: {} on rank {} waited more than {:g} s (--collective-timeout); rank(s) {} did not arrive{}",
        what, world_rank(rank_), timeout_s, missing.empty() ? "?" : join_ranks(missing), group);
    world_->abort(why);
    throw CollectiveTimeout(why);
  }

  // The end of a step of a collective: this rank's copies are done, then everybody's.
  void finish_step(const char* what) {
    ops_->flush();
    sync(what);
  }

  void publish(const void* send, void* recv, std::size_t count, const char* what) {
    ops_->flush();  // the inputs others will read are complete
    group_->slots[rank_].send = send;
    group_->slots[rank_].recv = recv;
    group_->slots[rank_].count = count;
    sync(what);
  }

  // dst[i] = op over ranks k of send_k[offset_bytes + i], i < count.
  void reduce_into(void* dst, std::size_t offset_bytes, std::size_t count, DType type, ReduceOp op) {
    if (count == 0) return;
    std::vector<const void*> sources;
    for (const Slot& s : group_->slots) sources.push_back(at(s.send, offset_bytes));
    ops_->reduce(dst, sources, count, type, op);
  }

  void check_peer(int peer, const char* what) const {
    if (peer < 0 || peer >= size())
      throw ConfigError(fmt::format("{} {} outside the group of {} ranks", what, peer, size()));
  }
  void check_counts(std::span<const std::size_t> counts, const char* what) const {
    if (counts.size() != static_cast<std::size_t>(size()))
      throw ConfigError(fmt::format("{}: {} counts for {} ranks", what, counts.size(), size()));
  }

  // The first pair of published all_to_all_v counts that disagree, described; "" when none do.
  std::string all_to_all_count_mismatch() const {
    const auto& slots = group_->slots;
    for (int src = 0; src < size(); ++src)
      for (int dst = 0; dst < size(); ++dst) {
        const std::size_t sent = slots[src].send_counts[dst], expected = slots[dst].recv_counts[src];
        if (sent != expected)
          return fmt::format("all_to_all_v: rank {} sends {} elements to rank {}, which expects {}", world_rank(src),
                             sent, world_rank(dst), expected);
      }
    return "";
  }

  // Copies the block each rank addressed to this one out of its send buffer, into `recv` in
  // rank order (this rank's own block included).
  void pull_all_to_all_blocks(void* recv, std::span<const std::size_t> recv_counts, std::size_t element_bytes) {
    std::size_t offset = 0;
    for (int src = 0; src < size(); ++src) {
      const Slot& peer = group_->slots[src];
      const std::size_t count = recv_counts[static_cast<std::size_t>(src)];
      const std::size_t from = total(peer.send_counts.first(static_cast<std::size_t>(rank_)));
      ops_->copy(at(recv, offset * element_bytes), at(peer.send, from * element_bytes), count * element_bytes);
      offset += count;
    }
  }

  Mailbox& mailbox(int src, int dst) {
    return group_->mailboxes[static_cast<std::size_t>(src) * static_cast<std::size_t>(size()) +
                             static_cast<std::size_t>(dst)];
  }

  std::shared_ptr<WorldState> world_;
  std::shared_ptr<GroupState> group_;
  int rank_;
  std::shared_ptr<SharedMemoryOps> ops_;
};

}  // namespace

std::unique_ptr<SharedMemoryOps> make_host_memory_ops() { return std::make_unique<HostMemoryOps>(); }

std::vector<std::unique_ptr<Communicator>> make_shared_memory_world(int ranks, const SharedMemoryOpsFactory& ops) {
  if (ranks <= 0) throw ConfigError(fmt::format("a communicator needs at least one rank, got {}", ranks));
  auto world = std::make_shared<WorldState>(ranks);
  std::vector<int> everyone(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) everyone[static_cast<std::size_t>(r)] = r;
  auto group = std::make_shared<GroupState>(std::move(everyone));
  world->add_group(group);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < ranks; ++r)
    comms.push_back(std::make_unique<ShmCommunicator>(
        world, group, r, std::shared_ptr<SharedMemoryOps>(ops ? ops(r) : make_host_memory_ops())));
  return comms;
}

}  // namespace llmt
