#include "reports/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "engine/error.hpp"
#include "engine/stats.hpp"
#include "reports/json_schema.hpp"

namespace llmt {

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::same: return "same";
    case Verdict::regression: return "regression";
    case Verdict::improvement: return "improvement";
    case Verdict::noisy: return "noisy";
  }
  return "?";
}

double CompareOptions::threshold_for(const std::string& metric) const {
  const auto it = per_metric.find(metric);
  return it == per_metric.end() ? threshold : it->second;
}

const std::vector<MetricSpec>& compared_metrics() {
  static const std::vector<MetricSpec> metrics = {{"latency.median", false, "ms"},
                                                  {"ttft.median", false, "ms"},
                                                  {"tpot.median", false, "ms"},
                                                  {"throughput", true, "tok/s"},
                                                  {"sync.exposed", false, "ms"}};
  return metrics;
}

std::vector<double> metric_samples(const ConfigResult& r, const std::string& metric) {
  const RawSamples& s = r.samples;
  if (metric == "latency.median") return s.e2e_ms;
  if (metric == "ttft.median") return s.ttft_ms;
  if (metric == "tpot.median") {
    // One sample per iteration (its mean decode step): steps of one iteration are not
    // independent, and the U test assumes independent samples.
    std::vector<double> out;
    const std::size_t steps = s.e2e_ms.empty() ? 0 : s.decode_step_ms.size() / s.e2e_ms.size();
    for (std::size_t i = 0; steps > 0 && i < s.e2e_ms.size(); ++i)
      out.push_back(mean_of(std::span<const double>(s.decode_step_ms).subspan(i * steps, steps)));
    return out;
  }
  if (metric == "throughput") {
    std::vector<double> out;
    const double tokens = static_cast<double>(r.point.workload.batch) * r.point.workload.gen;
    for (double ms : s.e2e_ms) out.push_back(ms > 0 ? tokens / (ms * 1e-3) : 0.0);
    return out;
  }
  if (metric == "sync.exposed") {
    if (s.rank_sync_ms.size() < 2) return {};  // one rank: nothing to synchronise
    std::vector<double> out(s.e2e_ms.size(), 0.0);
    for (const auto& rank : s.rank_sync_ms)
      for (std::size_t i = 0; i < out.size() && i < rank.size(); ++i) out[i] += rank[i] / s.rank_sync_ms.size();
    return out;
  }
  return {};
}

bool Comparison::regressed() const {
  if (!status_regressions.empty()) return true;
  return std::any_of(rows.begin(), rows.end(), [](const MetricComparison& r) { return r.verdict == Verdict::regression; });
}

double parse_fraction(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    const bool percent = !text.empty() && text.back() == '%';
    const std::string number = percent ? text.substr(0, text.size() - 1) : text;
    const double v = std::stod(number, &used);
    if (used != number.size() || v < 0) throw std::invalid_argument(text);
    return percent ? v / 100.0 : v;
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("{}: '{}' is not a fraction (5% or 0.05)", what, text));
  }
}

namespace {

MetricComparison compare_metric(const std::string& config, const MetricSpec& spec, const std::vector<double>& base,
                                const std::vector<double>& current, const CompareOptions& o) {
  MetricComparison m;
  m.config = config;
  m.metric = spec.name;
  m.unit = spec.unit;
  m.base_n = base.size();
  m.current_n = current.size();
  m.base = median_of(base);
  m.current = median_of(current);
  // From zero, any change is beyond every threshold; the test still decides whether it is real.
  if (m.base != 0)
    m.change = (m.current - m.base) / std::fabs(m.base);
  else
    m.change = m.current == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), m.current);
  m.p_value = mann_whitney_p(base, current);
  const double worse = spec.higher_is_better ? -m.change : m.change;
  const double threshold = o.threshold_for(spec.name);
  if (std::min(base.size(), current.size()) < static_cast<std::size_t>(o.min_samples)) {
    m.verdict = Verdict::noisy;
    m.why = fmt::format("too few samples ({} vs {}; at least {} each)", base.size(), current.size(), o.min_samples);
  } else if (std::fabs(m.change) < threshold) {
    m.verdict = Verdict::same;
  } else if (m.p_value < o.alpha) {
    m.verdict = worse > 0 ? Verdict::regression : Verdict::improvement;
  } else {
    m.verdict = Verdict::noisy;
    m.why = fmt::format("a {:+.1f}% change, but p = {:.3g} is not below alpha {}", 100 * m.change, m.p_value, o.alpha);
  }
  return m;
}

void warn_if_different(const nlohmann::json& a, const nlohmann::json& b, const char* key, const char* what,
                       std::vector<std::string>& warnings) {
  const nlohmann::json va = a.value(key, nlohmann::json()), vb = b.value(key, nlohmann::json());
  if (va != vb) warnings.push_back(fmt::format("different {}: {} vs {}", what, va.dump(), vb.dump()));
}

}  // namespace

Comparison compare_runs(const nlohmann::json& base, const nlohmann::json& current, const CompareOptions& o,
                        const std::string& base_name, const std::string& current_name) {
  Comparison c;
  if (base["schema_version"] != current["schema_version"])
    c.warnings.push_back(fmt::format("different schema versions: {} vs {}", base["schema_version"].dump(),
                                     current["schema_version"].dump()));
  const nlohmann::json& rb = base["run"];
  const nlohmann::json& rc = current["run"];
  warn_if_different(rb, rc, "backend", "backends", c.warnings);
  warn_if_different(rb, rc, "device", "devices", c.warnings);
  warn_if_different(rb, rc, "cpu_model", "CPUs", c.warnings);
  warn_if_different(rb, rc, "logical_cpus", "CPU counts", c.warnings);
  warn_if_different(rb, rc, "host", "hosts", c.warnings);
  warn_if_different(rb, rc, "dtype", "data types", c.warnings);
  if (rb.value("model", nlohmann::json()).value("name", "") != rc.value("model", nlohmann::json()).value("name", ""))
    c.warnings.push_back("different models");

  auto index = [](const nlohmann::json& doc, const std::string& name) {
    std::map<std::string, ConfigResult> out;
    for (std::size_t i = 0; i < doc["configurations"].size(); ++i) {
      ConfigResult r = result_from_json(doc["configurations"][i], fmt::format("{}: configurations[{}]", name, i));
      if (r.status == ConfigStatus::skipped) continue;
      const std::string id = r.point.id();
      out.emplace(id, std::move(r));
    }
    return out;
  };
  const auto b = index(base, base_name), n = index(current, current_name);
  for (const auto& [id, r] : b)
    if (!n.count(id)) c.only_in_base.push_back(id);
  for (const auto& [id, r] : n)
    if (!b.count(id)) c.only_in_current.push_back(id);
  for (const auto& [id, before] : b) {
    const auto it = n.find(id);
    if (it == n.end()) continue;
    const ConfigResult& now = it->second;
    if (before.status == ConfigStatus::ok && now.status != ConfigStatus::ok) {
      c.status_regressions.push_back(fmt::format("{}: {}", id, now.reason));
      continue;
    }
    for (const MetricSpec& spec : compared_metrics()) {
      const auto sb = metric_samples(before, spec.name), sn = metric_samples(now, spec.name);
      if (sb.empty() || sn.empty()) continue;
      c.rows.push_back(compare_metric(id, spec, sb, sn, o));
    }
  }
  return c;
}

std::string format_comparison(const Comparison& c, const std::string& format, const CompareOptions& o) {
  if (format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    for (const MetricComparison& m : c.rows)
      rows.push_back({{"configuration", m.config}, {"metric", m.metric},    {"unit", m.unit},
                      {"base", m.base},            {"new", m.current},
                      {"change", std::isfinite(m.change) ? nlohmann::json(m.change) : nlohmann::json(std::signbit(m.change) ? "-inf" : "+inf")},
                      {"p_value", m.p_value},      {"base_n", m.base_n},    {"new_n", m.current_n},
                      {"verdict", verdict_name(m.verdict)}, {"why", m.why}});
    return nlohmann::json{{"alpha", o.alpha},
                          {"threshold", o.threshold},
                          {"per_metric_threshold", o.per_metric},
                          {"regressed", c.regressed()},
                          {"rows", rows},
                          {"only_in_base", c.only_in_base},
                          {"only_in_new", c.only_in_current},
                          {"status_regressions", c.status_regressions},
                          {"warnings", c.warnings}}
               .dump(1) + "\n";
  }
  const bool md = format == "markdown";
  std::string out;
  const std::size_t regressions = std::count_if(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) {
    return m.verdict == Verdict::regression;
  });
  const std::size_t improvements = std::count_if(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) {
    return m.verdict == Verdict::improvement;
  });
  const std::size_t noisy = std::count_if(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) {
    return m.verdict == Verdict::noisy;
  });
  if (md) {
    out += fmt::format("### llmthreads compare: {}\n\n", c.regressed() ? "regression" : "no regression");
    out += fmt::format("{} regressions, {} improvements, {} noisy, {} same (threshold {:.1f}%, alpha {})\n\n",
                       regressions + c.status_regressions.size(), improvements, noisy,
                       c.rows.size() - regressions - improvements - noisy, 100 * o.threshold, o.alpha);
    for (const std::string& w : c.warnings) out += fmt::format("> warning: {}\n", w);
    if (!c.warnings.empty()) out += "\n";
    out += "| configuration | metric | base | new | change | p-value | verdict |\n|---|---|---:|---:|---:|---:|---|\n";
    for (const MetricComparison& m : c.rows) {
      const std::string verdict = m.verdict == Verdict::regression ? "**regression**" : std::string(verdict_name(m.verdict));
      out += fmt::format("| `{}` | {} | {:.4g} {} | {:.4g} {} | {:+.2f}% | {:.3g} | {} |\n", m.config, m.metric, m.base,
                         m.unit, m.current, m.unit, 100 * m.change, m.p_value, verdict);
    }
  } else {
    for (const std::string& w : c.warnings) out += fmt::format("warning: {}\n", w);
    out += fmt::format("{:<58} {:<15} {:>12} {:>12} {:>9} {:>9}  {}\n", "configuration", "metric", "base", "new",
                       "change", "p-value", "verdict");
    for (const MetricComparison& m : c.rows)
      out += fmt::format("{:<58} {:<15} {:>12.4g} {:>12.4g} {:>+8.2f}% {:>9.3g}  {}{}\n", m.config, m.metric, m.base,
                         m.current, 100 * m.change, m.p_value, verdict_name(m.verdict),
                         m.why.empty() ? "" : " (" + m.why + ")");
    out += fmt::format("{} regression(s), {} improvement(s), {} noisy, {} same (threshold {:.1f}%, alpha {})\n",
                       regressions + c.status_regressions.size(), improvements, noisy,
                       c.rows.size() - regressions - improvements - noisy, 100 * o.threshold, o.alpha);
  }
  const char* bullet = md ? "- " : "  ";
  if (!c.status_regressions.empty()) {
    out += md ? "\n**Failed now, passed in the base:**\n\n" : "failed now, passed in the base:\n";
    for (const std::string& s : c.status_regressions) out += bullet + s + "\n";
  }
  if (!c.only_in_base.empty()) {
    out += md ? "\nOnly in the base:\n\n" : "only in the base:\n";
    for (const std::string& s : c.only_in_base) out += bullet + (md ? "`" + s + "`" : s) + "\n";
  }
  if (!c.only_in_current.empty()) {
    out += md ? "\nOnly in the new run:\n\n" : "only in the new run:\n";
    for (const std::string& s : c.only_in_current) out += bullet + (md ? "`" + s + "`" : s) + "\n";
  }
  return out;
}

}  // namespace llmt
