#include "engine/metrics.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <tuple>

#include "engine/communicator.hpp"
#include "engine/timeline.hpp"

namespace llmt {
namespace {

// Per-iteration mean over ranks of a [rank][iteration] table.
std::vector<double> mean_over_ranks(const std::vector<std::vector<double>>& table) {
  std::vector<double> out;
  if (table.empty()) return out;
  for (std::size_t i = 0; i < table.front().size(); ++i) {
    double sum = 0;
    for (const auto& rank : table) sum += rank[i];
    out.push_back(sum / static_cast<double>(table.size()));
  }
  return out;
}

// Per iteration, mean over ranks of e2e minus the rank's busy time: all the time of the
// iteration a rank spent other than computing.
std::vector<double> wait_per_iteration(const RawSamples& s) {
  std::vector<double> out;
  const std::vector<double> busy = mean_over_ranks(s.rank_busy_ms);
  for (std::size_t i = 0; i < busy.size() && i < s.e2e_ms.size(); ++i) out.push_back(s.e2e_ms[i] - busy[i]);
  return out;
}

}  // namespace

std::vector<double> param_server_bytes_by_rank(const std::vector<CommSummary>& comm) {
  std::vector<double> out;
  for (const CommSummary& c : comm) {
    if (c.op != comm_op_name(CommOp::reduce) && c.op != comm_op_name(CommOp::broadcast)) continue;
    out.resize(std::max(out.size(), c.rank_bytes.size()), 0.0);
    for (std::size_t r = 0; r < c.rank_bytes.size(); ++r) out[r] += c.rank_bytes[r];
  }
  return out;
}

std::vector<BusBandwidth> bus_bandwidth(const std::vector<CollectiveCall>& calls,
                                        const std::vector<CollectiveKind>& kind_of_phase, int iterations) {
  // Each call's collective time: the least over the ranks that made it (the last to arrive, who
  // waits for no one), and its payload: the most any of them moved (an uneven all-to-all's
  // busiest rank; the same on every rank for the other collectives).
  std::map<std::tuple<std::uint32_t, int, int, int>, std::pair<double, double>> per_call;
  for (const CollectiveCall& c : calls) {
    const auto [it, fresh] = per_call.try_emplace({c.phase, c.instance, c.iteration, c.ordinal}, c.ms, c.bytes);
    if (!fresh) {
      it->second.first = std::min(it->second.first, c.ms);
      it->second.second = std::max(it->second.second, c.bytes);
    }
  }
  // Entries in order: prefill first, then by operation, group, group size and message size.
  using Key = std::tuple<bool, CommOp, std::string, int, double>;
  std::map<Key, BusBandwidth> entries;
  std::map<Key, std::set<int>> instances;
  for (const auto& [call, time_and_bytes] : per_call) {
    const CollectiveKind& k = kind_of_phase.at(std::get<0>(call));
    const Key key{k.pass != "prefill", k.op, k.group, k.group_size, time_and_bytes.second};
    BusBandwidth& b = entries[key];
    if (b.calls == 0) b = BusBandwidth{k.pass, std::string(comm_op_name(k.op)), k.group, k.group_size, time_and_bytes.second};
    b.calls += 1;
    b.ms += time_and_bytes.first;
    instances[key].insert(std::get<1>(call));
  }
  std::vector<BusBandwidth> out;
  for (auto& [key, b] : entries) {
    const double n = static_cast<double>(iterations) * static_cast<double>(instances[key].size());
    b.calls /= n;
    b.ms /= n;
    b.algbw_gbps = b.ms > 0 ? b.message_bytes * b.calls / (b.ms * 1e6) : 0.0;
    b.busbw_gbps = b.algbw_gbps * bus_bandwidth_factor(std::get<1>(key), b.group_size);
    out.push_back(b);
  }
  return out;
}

double pass_bus_bandwidth_gbps(const std::vector<BusBandwidth>& entries, std::string_view pass) {
  double bus = 0, ms = 0;
  for (const BusBandwidth& b : entries)
    if (b.pass == pass) {
      bus += b.busbw_gbps * b.ms;
      ms += b.ms;
    }
  return ms > 0 ? bus / ms : 0.0;
}

const PoolMemory* largest_pool(const ConfigMetrics& m) {
  const PoolMemory* largest = nullptr;
  for (const PoolMemory& p : m.memory_pools)
    if (!largest || p.measured_peak_bytes > largest->measured_peak_bytes) largest = &p;
  return largest;
}

double transfer_bytes_per_rank(const ConfigMetrics& m) {
  double bytes = 0, ranks = 0;
  for (const CommSummary& c : m.comm) {
    ranks = std::max(ranks, static_cast<double>(c.rank_bytes.size()));
    if (c.category == phase_category_name(PhaseCategory::transfer))
      for (double b : c.rank_bytes) bytes += b;
  }
  return ranks > 0 ? bytes / ranks : 0.0;
}

double load_imbalance(const std::vector<double>& busy) {
  if (busy.size() < 2) return 0.0;
  const double mean = mean_of(busy);
  return mean > 0 ? *std::max_element(busy.begin(), busy.end()) / mean - 1.0 : 0.0;
}

double time_per_output_token_ms(const RawSamples& s) { return s.decode_step_ms.empty() ? 0.0 : mean_of(s.decode_step_ms); }

std::vector<double> tpot_per_iteration_ms(const RawSamples& s) {
  std::vector<double> out;
  const std::size_t steps = s.e2e_ms.empty() ? 0 : s.decode_step_ms.size() / s.e2e_ms.size();
  for (std::size_t i = 0; steps > 0 && i < s.e2e_ms.size(); ++i)
    out.push_back(mean_of(std::span<const double>(s.decode_step_ms).subspan(i * steps, steps)));
  return out;
}

double output_tokens_per_s(const Workload& w, double e2e_ms) {
  return e2e_ms > 0 ? w.batch * static_cast<double>(w.gen) / (e2e_ms * 1e-3) : 0.0;
}

void fill_sample_metrics(const ConfigPoint& point, const RawSamples& s, ConfigMetrics& m) {
  const Workload& w = point.workload;
  m.e2e_ms = summarize(s.e2e_ms);
  m.ttft_ms = summarize(s.ttft_ms);
  m.decode_step_ms = summarize(s.decode_step_ms);
  m.tpot_ms = time_per_output_token_ms(s);
  m.output_tokens_per_s = output_tokens_per_s(w, m.e2e_ms.mean);
  if (m.ttft_ms.mean > 0) m.prefill_tokens_per_s = w.batch * static_cast<double>(w.prompt) / (m.ttft_ms.mean * 1e-3);
  if (m.tpot_ms > 0) m.decode_tokens_per_s = w.batch / (m.tpot_ms * 1e-3);

  m.sync_ms = summarize(mean_over_ranks(s.rank_sync_ms));
  m.sync_total_ms = summarize(mean_over_ranks(s.rank_sync_total_ms));
  m.transfer_ms = summarize(mean_over_ranks(s.rank_transfer_ms));
  m.sync_fraction = m.e2e_ms.mean > 0 ? m.sync_ms.mean / m.e2e_ms.mean : 0.0;
  m.wait_ms = summarize(wait_per_iteration(s));
  m.wait_fraction = m.e2e_ms.mean > 0 ? m.wait_ms.mean / m.e2e_ms.mean : 0.0;

  m.rank_busy_ms.clear();
  for (const auto& rank : s.rank_busy_ms) m.rank_busy_ms.push_back(mean_of(rank));
  m.imbalance = load_imbalance(m.rank_busy_ms);
  m.straggler_rank = m.rank_busy_ms.empty()
                         ? 0
                         : static_cast<int>(std::max_element(m.rank_busy_ms.begin(), m.rank_busy_ms.end()) -
                                            m.rank_busy_ms.begin());
}

}  // namespace llmt

namespace llmt {

std::string_view config_status_name(ConfigStatus s) {
  switch (s) {
    case ConfigStatus::ok: return "ok";
    case ConfigStatus::failed: return "failed";
    case ConfigStatus::skipped: return "skipped";
  }
  return "?";
}

double expert_balance(const std::vector<long long>& tokens) {
  if (tokens.empty()) return 1.0;
  const long long most = *std::max_element(tokens.begin(), tokens.end());
  if (most <= 0) return 1.0;
  double sum = 0;
  for (long long t : tokens) sum += static_cast<double>(t);
  return sum / static_cast<double>(tokens.size()) / static_cast<double>(most);
}

namespace {

// Tokens of each EP rank's block of experts (contiguous blocks, as make_shard_plan splits them).
std::vector<long long> tokens_per_block(const std::vector<long long>& per_expert, int blocks) {
  std::vector<long long> out(static_cast<std::size_t>(blocks), 0);
  for (int b = 0; b < blocks; ++b) {
    const Range r = split_range(static_cast<int>(per_expert.size()), blocks, b);
    for (int e = r.begin; e < r.end; ++e) out[static_cast<std::size_t>(b)] += per_expert[static_cast<std::size_t>(e)];
  }
  return out;
}

// The phase's name inside its layer's MoE block ("dispatch_exchange"), or empty.
std::string_view moe_part(const std::string& path) {
  const auto at = path.find("/moe/");
  return at == std::string::npos ? std::string_view() : std::string_view(path).substr(at + 5);
}

void add_moe_times(MoeMetrics& m, const std::vector<PhaseSummary>& phases) {
  for (const PhaseSummary& p : phases) {
    const std::string_view part = moe_part(p.path);
    if (part.empty()) continue;
    if (part == "router") m.router_ms += p.ms_max_rank;
    if (part.starts_with("dispatch")) m.dispatch_ms += p.ms_max_rank;
    if (part.starts_with("experts")) m.experts_ms += p.ms_max_rank;
    if (part.starts_with("combine")) m.combine_ms += p.ms_max_rank;
    if (p.category == "communication") {
      m.exchange_ms += p.ms_max_rank;
      m.exchange_bytes += p.bytes * p.ranks;
    }
  }
}

}  // namespace

MoeMetrics moe_metrics(std::vector<std::vector<long long>> tokens_per_expert, int ep_ranks,
                       const std::vector<PhaseSummary>& phases, std::string routing) {
  MoeMetrics m;
  m.available = !tokens_per_expert.empty();
  m.routing = std::move(routing);
  m.tokens_per_expert = std::move(tokens_per_expert);
  m.ep_ranks = std::max(1, ep_ranks);
  m.worst_layer_balance = 1.0;
  m.ep_balance = 0;
  m.tokens_per_ep_rank.assign(static_cast<std::size_t>(m.ep_ranks), 0);
  // Balances over the MoE layers: a dense layer among them routes nothing (a row of zeros).
  auto routed = [](const std::vector<long long>& layer) {
    return std::any_of(layer.begin(), layer.end(), [](long long t) { return t > 0; });
  };
  const double layers = static_cast<double>(
      std::max<std::ptrdiff_t>(1, std::count_if(m.tokens_per_expert.begin(), m.tokens_per_expert.end(), routed)));
  for (const std::vector<long long>& layer : m.tokens_per_expert) {
    if (!routed(layer)) continue;
    const double b = expert_balance(layer);
    m.expert_balance += b / layers;
    m.worst_layer_balance = std::min(m.worst_layer_balance, b);
    const std::vector<long long> blocks = tokens_per_block(layer, m.ep_ranks);
    const double eb = expert_balance(blocks);
    m.ep_balance += eb / layers;
    m.worst_layer_ep_balance = std::min(m.worst_layer_ep_balance, eb);
    for (std::size_t r = 0; r < blocks.size(); ++r) m.tokens_per_ep_rank[r] += blocks[r];
  }
  if (!std::any_of(m.tokens_per_expert.begin(), m.tokens_per_expert.end(), routed)) m.expert_balance = m.ep_balance = 1;
  add_moe_times(m, phases);
  return m;
}

namespace {

// Mean over the MoE layers (a routed row) of the EP-rank balance of `tokens` ([layer][expert]).
double mean_ep_balance(const std::vector<std::vector<long long>>& tokens, int ep_ranks) {
  double sum = 0;
  int layers = 0;
  for (const std::vector<long long>& layer : tokens) {
    if (std::none_of(layer.begin(), layer.end(), [](long long t) { return t > 0; })) continue;
    sum += expert_balance(tokens_per_block(layer, ep_ranks));
    ++layers;
  }
  return layers > 0 ? sum / layers : 1.0;
}

}  // namespace

void ep_balance_by_pass(MoeMetrics& moe, const std::vector<std::vector<long long>>& decode_tokens) {
  std::vector<std::vector<long long>> prefill = moe.tokens_per_expert;
  for (std::size_t l = 0; l < prefill.size() && l < decode_tokens.size(); ++l)
    for (std::size_t e = 0; e < prefill[l].size() && e < decode_tokens[l].size(); ++e)
      prefill[l][e] -= decode_tokens[l][e];
  moe.ep_balance_prefill = mean_ep_balance(prefill, moe.ep_ranks);
  moe.ep_balance_decode = mean_ep_balance(decode_tokens, moe.ep_ranks);
}

void split_exchange_time(MoeMetrics& moe, const std::vector<BusBandwidth>& bus) {
  double transfer = 0;
  for (const BusBandwidth& b : bus)
    if (b.group == "ep") transfer += b.ms;
  moe.exchange_transfer_ms = std::min(transfer, moe.exchange_ms);
  moe.exchange_wait_ms = moe.exchange_ms - moe.exchange_transfer_ms;
}

std::vector<long long> tokens_per_expert_all_layers(const MoeMetrics& moe) {
  std::vector<long long> total;
  for (const std::vector<long long>& layer : moe.tokens_per_expert) {
    total.resize(std::max(total.size(), layer.size()), 0);
    for (std::size_t e = 0; e < layer.size(); ++e) total[e] += layer[e];
  }
  return total;
}

std::string describe_moe(const MoeMetrics& moe) {
  std::string ep;
  if (moe.ep_ranks > 1)
    ep = fmt::format("; EP rank balance {:.2f} (prefill {:.2f}, decode {:.2f}; worst layer {:.2f}), tokens per EP "
                     "rank: {}; exchange {:.3f} ms "
                     "({:.3f} transfer, {:.3f} waiting for the slowest rank), {:.1f} KiB per iteration on the wire",
                     moe.ep_balance, moe.ep_balance_prefill, moe.ep_balance_decode, moe.worst_layer_ep_balance,
                     fmt::join(moe.tokens_per_ep_rank, " "), moe.exchange_ms, moe.exchange_transfer_ms, moe.exchange_wait_ms, moe.exchange_bytes / 1024.0);
  const std::string agreed =
      moe.routing_agreement >= 0
          ? fmt::format("; own routing agreed with the reference's {:.2f}% of the time", 100 * moe.routing_agreement)
          : "";
  return fmt::format("routing {}: expert balance {:.2f} (worst layer {:.2f}); tokens per expert, all layers: {}{}; "
                     "per iteration, slowest rank: router {:.3f} ms, dispatch {:.3f} ms, experts {:.3f} ms, combine "
                     "{:.3f} ms{}",
                     moe.routing, moe.expert_balance, moe.worst_layer_balance,
                     fmt::join(tokens_per_expert_all_layers(moe), " "), ep, moe.router_ms, moe.dispatch_ms,
                     moe.experts_ms, moe.combine_ms, agreed);
}

}  // namespace llmt
