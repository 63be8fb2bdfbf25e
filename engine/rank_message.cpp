// Process mode's rank messages, in a plain length-prefixed binary form: both ends are the same
// build of llmthreads, on machines of one byte order (an MPI job's).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/rank_outcome.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

// Each record's fields, once, for both directions: `io` is a Writer or a Reader.
template <class Io, class A>
void fields(Io& io, A& a) requires std::is_same_v<std::remove_const_t<A>, AttentionUse> {
  io(a.pass, a.kernel, a.why);
}
template <class Io, class R>
void fields(Io& io, R& r) requires std::is_same_v<std::remove_const_t<R>, IterationRecord> {
  io(r.begin, r.prefill_end, r.end, r.step_end, r.phases, r.sampled_phases, r.collective_calls);
}
template <class Io, class P>
void fields(Io& io, P& p) requires std::is_same_v<std::remove_const_t<P>, PhaseInfo> {
  io(p.path, p.category, p.op, p.group_size, p.group, p.detail, p.counts_as_sync_total);
}
template <class Io, class P>
void fields(Io& io, P& p) requires std::is_same_v<std::remove_const_t<P>, ProcessMemoryRecord> {
  io(p.pool, p.rss_at_start_bytes, p.peak_rss_bytes, p.hwm_reset);
}

class Writer {
 public:
  template <class... T>
  void operator()(const T&... v) {
    (put(v), ...);
  }
  std::string take() { return std::move(out_); }

 private:
  template <class T>
  void put(const T& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      out_.append(reinterpret_cast<const char*>(&v), sizeof v);
    } else {
      fields(*this, v);
    }
  }
  void put(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    out_.append(s);
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put(static_cast<std::uint64_t>(v.size()));
    if constexpr (std::is_trivially_copyable_v<T>)
      out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    else
      for (const T& x : v) put(x);
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  template <class... T>
  void operator()(T&... v) {
    (get(v), ...);
  }
  bool done() const { return at_ == in_.size(); }

 private:
  template <class T>
  void get(T& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      take(&v, sizeof v);
    } else {
      fields(*this, v);
    }
  }
  void get(std::string& s) {
    s.resize(length(1));
    take(s.data(), s.size());
  }
  template <class T>
  void get(std::vector<T>& v) {
    v.resize(length(std::is_trivially_copyable_v<T> ? sizeof(T) : 1));
    if constexpr (std::is_trivially_copyable_v<T>)
      take(v.data(), v.size() * sizeof(T));
    else
      for (T& x : v) get(x);
  }
  void take(void* to, std::size_t bytes) {
    if (in_.size() - at_ < bytes) throw Error("a rank's message is truncated");
    if (bytes > 0) std::memcpy(to, in_.data() + at_, bytes);
    at_ += bytes;
  }
  // A count of elements of at least `min_bytes` each that the rest of the message can hold.
  std::size_t length(std::size_t min_bytes) {
    std::uint64_t n = 0;
    get(n);
    if (n > (in_.size() - at_) / min_bytes) throw Error("a rank's message is truncated");
    return static_cast<std::size_t>(n);
  }
  const std::string& in_;
  std::size_t at_ = 0;
};

constexpr std::uint32_t kMagic = 0x6c6d7431;  // "lmt1"

void remap(std::vector<PhaseTotal>& totals, const std::vector<PhaseId>& to, std::size_t size) {
  std::vector<PhaseTotal> out(size);
  for (std::size_t p = 0; p < totals.size() && p < to.size(); ++p) out[to[p]] = totals[p];
  totals = std::move(out);
}

}  // namespace

std::string encode_rank_message(const RankOutcome& o, const PhaseTable& table, const StepLogits& logits,
                                const std::vector<float>& last, int last_step, std::int64_t start_ns) {
  std::vector<PhaseInfo> phases;
  for (std::size_t p = 0; p < table.size(); ++p) phases.push_back(table.at(static_cast<PhaseId>(p)));
  Writer w;
  w(kMagic, phases, o.iterations, o.cuda_graphs, o.attention, o.stop, o.setup_s, o.memory, o.expert_tokens, o.expert_tokens_decode, o.error,
    o.aborted, o.process, logits, last, last_step, start_ns);
  return w.take();
}

RankMessage decode_rank_message(const std::string& bytes, PhaseTable& table) {
  Reader r(bytes);
  std::uint32_t magic = 0;
  r(magic);
  if (magic != kMagic) throw Error("a rank's message is not one of this llmthreads build");
  std::vector<PhaseInfo> phases;
  RankMessage m;
  RankOutcome& o = m.outcome;
  r(phases, o.iterations, o.cuda_graphs, o.attention, o.stop, o.setup_s, o.memory, o.expert_tokens, o.expert_tokens_decode, o.error,
    o.aborted, o.process, m.logits, m.last, m.last_step, m.start_ns);
  if (!r.done()) throw Error("a rank's message has trailing bytes");
  std::vector<PhaseId> to;
  for (const PhaseInfo& p : phases) to.push_back(table.add(p));
  for (IterationRecord& it : o.iterations) {
    remap(it.phases, to, table.size());
    if (!it.sampled_phases.empty()) remap(it.sampled_phases, to, table.size());
    for (CollectiveCallTime& c : it.collective_calls)
      if (c.id < to.size()) c.id = to[c.id];
  }
  return m;
}

void shift_stamps(RankOutcome& outcome, std::int64_t delta_ns) {
  const auto shift = [&](std::uint64_t& s) { s = static_cast<std::uint64_t>(static_cast<std::int64_t>(s) + delta_ns); };
  for (IterationRecord& it : outcome.iterations) {
    shift(it.begin);
    shift(it.prefill_end);
    shift(it.end);
    for (std::uint64_t& s : it.step_end) shift(s);
  }
}

}  // namespace llmt
