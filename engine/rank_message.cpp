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

class Writer {
 public:
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
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
  void put(const AttentionUse& a) {
    put(a.pass);
    put(a.kernel);
    put(a.why);
  }
  void put(const IterationRecord& r) {
    put(r.begin);
    put(r.prefill_end);
    put(r.end);
    put(r.step_end);
    put(r.phases);
    put(r.sampled_phases);
    put(r.collective_calls);
  }
  void put(const PhaseInfo& p) {
    put(p.path);
    put(p.category);
    put(p.op);
    put(p.group_size);
    put(p.group);
    put(p.detail);
    put(p.counts_as_sync_total);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void get(T& v) {
    need(sizeof v);
    std::memcpy(&v, in_.data() + at_, sizeof v);
    at_ += sizeof v;
  }
  void get(std::string& s) {
    s.resize(length(1));
    std::memcpy(s.data(), in_.data() + at_, s.size());
    at_ += s.size();
  }
  template <class T>
  void get(std::vector<T>& v) {
    v.resize(length(std::is_trivially_copyable_v<T> ? sizeof(T) : 1));
    if constexpr (std::is_trivially_copyable_v<T>) {
      std::memcpy(v.data(), in_.data() + at_, v.size() * sizeof(T));
      at_ += v.size() * sizeof(T);
    } else {
      for (T& x : v) get(x);
    }
  }
  void get(AttentionUse& a) {
    get(a.pass);
    get(a.kernel);
    get(a.why);
  }
  void get(IterationRecord& r) {
    get(r.begin);
    get(r.prefill_end);
    get(r.end);
    get(r.step_end);
    get(r.phases);
    get(r.sampled_phases);
    get(r.collective_calls);
  }
  void get(PhaseInfo& p) {
    get(p.path);
    get(p.category);
    get(p.op);
    get(p.group_size);
    get(p.group);
    get(p.detail);
    get(p.counts_as_sync_total);
  }
  bool done() const { return at_ == in_.size(); }

 private:
  // A count of elements of at least `min_bytes` each that the rest of the message can hold.
  std::size_t length(std::size_t min_bytes) {
    std::uint64_t n = 0;
    get(n);
    if (n > (in_.size() - at_) / std::max<std::size_t>(min_bytes, 1)) throw Error("a rank's message is truncated");
    return static_cast<std::size_t>(n);
  }
  void need(std::size_t bytes) const {
    if (in_.size() - at_ < bytes) throw Error("a rank's message is truncated");
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
                                std::int64_t start_ns) {
  Writer w;
  w.put(kMagic);
  std::vector<PhaseInfo> phases;
  for (std::size_t p = 0; p < table.size(); ++p) phases.push_back(table.at(static_cast<PhaseId>(p)));
  w.put(phases);
  w.put(o.iterations);
  w.put(o.cuda_graphs);
  w.put(o.attention);
  w.put(o.stop);
  w.put(o.setup_s);
  w.put(o.memory);
  w.put(o.error);
  w.put(o.aborted);
  w.put(logits);
  w.put(start_ns);
  return w.take();
}

RankMessage decode_rank_message(const std::string& bytes, PhaseTable& table) {
  Reader r(bytes);
  std::uint32_t magic = 0;
  r.get(magic);
  if (magic != kMagic) throw Error("a rank's message is not one of this llmthreads build");
  std::vector<PhaseInfo> phases;
  r.get(phases);
  RankMessage m;
  RankOutcome& o = m.outcome;
  r.get(o.iterations);
  r.get(o.cuda_graphs);
  r.get(o.attention);
  r.get(o.stop);
  r.get(o.setup_s);
  r.get(o.memory);
  r.get(o.error);
  r.get(o.aborted);
  r.get(m.logits);
  r.get(m.start_ns);
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
