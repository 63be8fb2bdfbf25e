#include "engine/request_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "model/error.hpp"

namespace llmt {
namespace {

constexpr const char* kSloKeys[] = {"ttft", "tpot", "itl", "e2e"};

std::optional<double>& limit_of(SloLimits& limits, std::string_view key) {
  if (key == "ttft") return limits.ttft_s;
  if (key == "tpot") return limits.tpot_s;
  if (key == "itl") return limits.itl_s;
  return limits.e2e_s;
}

// "200ms" or "2s" in seconds, or nullopt.
std::optional<double> parse_duration(std::string_view text) {
  double per_second = 1;
  if (text.ends_with("ms")) {
    per_second = 1000;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else {
    return std::nullopt;
  }
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v / per_second;  // divided, so that 100ms is exactly 0.1 s
}

bool within(std::optional<double> limit, double value) { return !limit || value <= *limit; }

}  // namespace

SloLimits parse_slo(const std::string& text) {
  SloLimits limits;
  if (text.empty()) return limits;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    if (eq == std::string::npos || std::find(std::begin(kSloKeys), std::end(kSloKeys), key) == std::end(kSloKeys))
      throw ConfigError(fmt::format("--slo: '{}' is not KEY=TIME with KEY one of ttft, tpot, itl, e2e (e.g. "
                                    "ttft=200ms,tpot=50ms)",
                                    item));
    std::optional<double>& limit = limit_of(limits, key);
    if (limit) throw ConfigError(fmt::format("--slo: '{}' gives {} a second time", item, key));
    const std::optional<double> seconds = parse_duration(std::string_view(item).substr(eq + 1));
    if (!seconds) throw ConfigError(fmt::format("--slo: '{}': '{}' is not a time with its unit (200ms, 2s)", item, item.substr(eq + 1)));
    if (!std::isfinite(*seconds) || !(*seconds > 0))
      throw ConfigError(fmt::format("--slo: '{}': a limit must be a finite time above 0", item));
    limit = seconds;
    if (comma == std::string::npos) return limits;
    start = comma + 1;
  }
}

std::string slo_label(const SloLimits& limits) {
  std::string label;
  SloLimits copy = limits;
  for (const char* key : kSloKeys)
    if (const std::optional<double> limit = limit_of(copy, key))
      label += fmt::format("{}{}={:g}ms", label.empty() ? "" : ",", key, *limit * 1e3);
  return label;
}

bool meets_slo(const Request& request, const RequestTimes& times, const SloLimits& limits) {
  if (!within(limits.ttft_s, times.first_token_s - times.arrival_s)) return false;
  if (!within(limits.e2e_s, times.finished_s - times.arrival_s)) return false;
  if (request.output > 1 && !within(limits.tpot_s, (times.finished_s - times.first_token_s) / (request.output - 1)))
    return false;
  for (std::size_t k = 1; k < times.token_s.size(); ++k)
    if (!within(limits.itl_s, times.token_s[k] - times.token_s[k - 1])) return false;
  return true;
}

RequestMetrics request_metrics(const RequestList& list, std::span<const RequestTimes> times, const SloLimits& limits) {
  RequestMetrics m;
  std::vector<double> ttft, tpot, itl, e2e, queueing;
  double first_arrival = INFINITY, last_finish = -INFINITY;
  for (const RequestTimes& t : times) {
    const Request& r = list.requests.at(static_cast<std::size_t>(t.request));
    if (!std::isfinite(t.finished_s) || static_cast<int>(t.token_s.size()) != r.output)
      throw std::invalid_argument(fmt::format("request_metrics: {} has not finished", list.describe(t.request)));
    if (!(t.arrival_s <= t.admitted_s && t.admitted_s <= t.first_token_s && t.first_token_s <= t.finished_s))
      throw std::invalid_argument(fmt::format("request_metrics: the times of {} are out of order", list.describe(t.request)));
    ++m.requests;
    m.prompt_tokens += r.prompt;
    m.output_tokens += r.output;
    ttft.push_back(t.first_token_s - t.arrival_s);
    e2e.push_back(t.finished_s - t.arrival_s);
    queueing.push_back(t.admitted_s - t.arrival_s);
    if (r.output > 1) tpot.push_back((t.finished_s - t.first_token_s) / (r.output - 1));
    for (std::size_t k = 1; k < t.token_s.size(); ++k) itl.push_back(t.token_s[k] - t.token_s[k - 1]);
    m.slo_met += meets_slo(r, t, limits);
    first_arrival = std::min(first_arrival, t.arrival_s);
    last_finish = std::max(last_finish, t.finished_s);
  }
  m.ttft = summarize(ttft);
  m.tpot = summarize(tpot);
  m.itl = summarize(itl);
  m.e2e = summarize(e2e);
  m.queueing = summarize(queueing);
  if (m.requests == 0) return m;
  m.duration_s = last_finish - first_arrival;
  m.slo_met_fraction = static_cast<double>(m.slo_met) / m.requests;
  if (m.duration_s > 0) {
    m.requests_per_s = m.requests / m.duration_s;
    m.output_tokens_per_s = static_cast<double>(m.output_tokens) / m.duration_s;
    m.total_tokens_per_s = static_cast<double>(m.prompt_tokens + m.output_tokens) / m.duration_s;
    m.goodput_per_s = m.slo_met / m.duration_s;
  }
  return m;
}

}  // namespace llmt
