#include "reports/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "model/error.hpp"
#include "engine/metrics.hpp"
#include "engine/stats.hpp"
#include "engine/traffic_run.hpp"
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

std::string_view correction_name(Correction c) {
  switch (c) {
    case Correction::none: return "none";
    case Correction::holm: return "holm";
  }
  return "?";
}

Correction parse_correction(const std::string& text) {
  for (Correction c : {Correction::none, Correction::holm})
    if (text == correction_name(c)) return c;
  throw ConfigError(fmt::format("--correction: '{}' is not holm or none", text));
}

double CompareOptions::threshold_for(const std::string& metric) const {
  const auto it = per_metric.find(metric);
  return it == per_metric.end() ? threshold : it->second;
}

bool CompareOptions::gates(const std::string& metric) const {
  // A metric sharing another's test is one judgement with it: it gates when either is listed.
  std::string test = metric;
  for (const MetricSpec& spec : compared_metrics())
    if (spec.name == metric && !spec.same_test_as.empty()) test = spec.same_test_as;
  for (const std::string& g : gate) {
    if (g == "all" || g == metric || g == test) return true;
    for (const MetricSpec& spec : compared_metrics())
      if (spec.name == g && spec.same_test_as == test) return true;
  }
  return false;
}

const std::vector<MetricSpec>& compared_metrics() {
  static const std::vector<MetricSpec> metrics = {{"latency.median", false, "ms", false, ""},
                                                  {"ttft.median", false, "ms", false, ""},
                                                  {"tpot.median", false, "ms", false, ""},
                                                  {"throughput", true, "tok/s", false, "latency.median"},
                                                  {"sync.exposed", false, "ms", true, ""},
                                                  {"requests.ttft_p50", false, "ms", false, ""},
                                                  {"requests.tpot_p50", false, "ms", false, ""},
                                                  {"requests.e2e_p99", false, "ms", false, ""},
                                                  {"requests.goodput", true, "req/s", false, ""}};
  return metrics;
}

namespace {

// Request-list workloads: one value per measured iteration from that iteration's requests
// alone (the requests of one iteration share its conditions, so they are not independent
// samples; iterations are). Empty for a uniform workload.
std::vector<double> request_metric_samples(const ConfigResult& r, const std::string& metric) {
  const TrafficMetrics& t = r.metrics.traffic;
  if (!r.point.traffic || !t.available) return {};
  std::vector<double> out;
  for (const RequestMetrics& it : request_metrics_per_iteration(t.samples, *r.point.traffic->requests, parse_slo(t.slo))) {
    if (metric == "requests.ttft_p50") out.push_back(it.ttft.median * 1e3);
    if (metric == "requests.tpot_p50" && it.tpot.n > 0) out.push_back(it.tpot.median * 1e3);
    if (metric == "requests.e2e_p99") out.push_back(it.e2e.p99 * 1e3);
    if (metric == "requests.goodput") out.push_back(it.goodput_per_s);
  }
  return out;
}

// Output tokens of one iteration: the request list's, or batch x gen of a uniform workload.
double output_tokens_per_iteration(const ConfigPoint& p) {
  if (!p.traffic) return static_cast<double>(p.workload.batch) * p.workload.gen;
  double tokens = 0;
  for (const Request& q : p.traffic->requests->requests) tokens += q.output;
  return tokens;
}

}  // namespace

std::vector<double> metric_samples(const ConfigResult& r, const std::string& metric) {
  const RawSamples& s = r.samples;
  if (metric == "latency.median") return s.e2e_ms;
  if (metric == "ttft.median") return s.ttft_ms;
  // One TPOT per iteration (its mean decode step): steps of one iteration are not independent,
  // and the U test assumes independent samples. Both figures come from engine/metrics.
  if (metric == "tpot.median") return tpot_per_iteration_ms(s);
  if (metric == "throughput") {
    // Uniform workloads: output_tokens_per_s's definition (engine/metrics); request lists: every
    // request's output tokens over the iteration.
    std::vector<double> out;
    for (double ms : s.e2e_ms)
      out.push_back(r.point.traffic ? output_tokens_per_iteration(r.point) / (ms * 1e-3)
                                    : output_tokens_per_s(r.point.workload, ms));
    return out;
  }
  if (metric == "sync.exposed") {
    if (s.rank_sync_ms.size() < 2) return {};  // one rank: nothing to synchronise
    std::vector<double> out(s.e2e_ms.size(), 0.0);
    for (const auto& rank : s.rank_sync_ms)
      for (std::size_t i = 0; i < out.size() && i < rank.size(); ++i) out[i] += rank[i] / s.rank_sync_ms.size();
    return out;
  }
  if (metric.starts_with("requests.")) return request_metric_samples(r, metric);
  return {};
}

bool Comparison::regressed() const {
  if (!status_regressions.empty()) return true;
  return std::any_of(rows.begin(), rows.end(),
                     [](const MetricComparison& r) { return r.gating && r.verdict == Verdict::regression; });
}

int Comparison::exit_status() const {
  if (regressed()) return 1;
  return undetectable.empty() ? 0 : 2;
}

std::vector<std::string> parse_gate(const std::vector<std::string>& names) {
  std::string known = "all";
  for (const MetricSpec& m : compared_metrics()) known += ", " + m.name;
  const auto is_metric = [](const std::string& name) {
    return std::any_of(compared_metrics().begin(), compared_metrics().end(),
                       [&](const MetricSpec& m) { return m.name == name; });
  };
  for (const std::string& name : names)
    if (name != "all" && !is_metric(name))
      throw ConfigError(fmt::format("--gate: unknown metric '{}' (one of {})", name, known));
  if (names.empty()) throw ConfigError(fmt::format("--gate: name at least one metric ({})", known));
  return names;
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

// One side of a metric: its pooled samples and the median of each run that contributed.
struct SideSamples {
  std::vector<double> pooled, run_medians;
};

// Largest difference between the medians of two runs of one side, over `reference`.
double run_spread(const std::vector<double>& run_medians, double reference) {
  if (run_medians.size() < 2 || reference <= 0) return 0;
  const auto [lo, hi] = std::minmax_element(run_medians.begin(), run_medians.end());
  return (*hi - *lo) / reference;
}

MetricComparison measure_metric(const std::string& config, const MetricSpec& spec, const SideSamples& base_side,
                                const SideSamples& current_side, double base_iteration_ms) {
  const std::vector<double>& base = base_side.pooled;
  const std::vector<double>& current = current_side.pooled;
  MetricComparison m;
  m.config = config;
  m.metric = spec.name;
  m.unit = spec.unit;
  m.same_test_as = spec.same_test_as;
  m.base_n = base.size();
  m.current_n = current.size();
  m.base = median_of(base);
  m.current = median_of(current);
  m.change_of_iteration = spec.change_of_iteration && base_iteration_ms > 0;
  const double reference = m.change_of_iteration ? base_iteration_ms : std::fabs(m.base);
  // From zero, any change is beyond every threshold; the test still decides whether it is real.
  if (reference != 0)
    m.change = (m.current - m.base) / reference;
  else
    m.change = m.current == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), m.current);
  m.p_value = m.p_adjusted = mann_whitney_p(base, current);
  m.run_spread = std::max(run_spread(base_side.run_medians, reference), run_spread(current_side.run_medians, reference));
  return m;
}

bool enough_samples(const MetricComparison& m, const CompareOptions& o) {
  return std::min(m.base_n, m.current_n) >= static_cast<std::size_t>(o.min_samples);
}

const MetricComparison* find_row(const std::vector<MetricComparison>& rows, const std::string& config,
                                 const std::string& metric) {
  for (const MetricComparison& m : rows)
    if (m.config == config && m.metric == metric) return &m;
  return nullptr;
}

void holm_correct(Comparison& c, const std::vector<std::size_t>& family) {
  std::vector<double> p;
  for (std::size_t i : family) p.push_back(c.rows[i].p_value);
  const std::vector<double> adjusted = holm_adjusted(p);
  for (std::size_t k = 0; k < family.size(); ++k) c.rows[family[k]].p_adjusted = adjusted[k];
}

// Counts the tests made (rows with enough samples that share no other row's test), the gating
// ones and the secondary ones apart, and corrects each family's p-values for its size; a row
// sharing a test takes that test's p-values.
void correct_for_tests(Comparison& c, const CompareOptions& o) {
  std::vector<std::size_t> gating, secondary;
  std::set<std::string> configurations;
  for (std::size_t i = 0; i < c.rows.size(); ++i)
    if (c.rows[i].same_test_as.empty() && enough_samples(c.rows[i], o)) {
      (c.rows[i].gating ? gating : secondary).push_back(i);
      if (c.rows[i].gating) configurations.insert(c.rows[i].config);
    }
  c.tests = gating.size();
  c.secondary_tests = secondary.size();
  c.configurations_tested = configurations.size();
  if (o.correction == Correction::holm) {
    holm_correct(c, gating);
    holm_correct(c, secondary);
  }
  for (MetricComparison& m : c.rows)
    if (!m.same_test_as.empty())
      if (const MetricComparison* test = find_row(c.rows, m.config, m.same_test_as)) {
        m.p_value = test->p_value;
        m.p_adjusted = test->p_adjusted;
      }
}

// The least n per side (equal sizes) at which `factor` x the smallest p falls below alpha.
std::size_t samples_needed(double factor, double alpha) {
  for (std::size_t n = 2; n < 100000; ++n)
    if (factor * smallest_mann_whitney_p(n, n) < alpha) return n;
  return 100000;
}

// Every gating test must be able to reach alpha after the correction (Holm's first step
// multiplies the smallest p by the family's size): one that cannot would pass any slowdown.
void check_power(Comparison& c, const CompareOptions& o) {
  const double factor = o.correction == Correction::holm ? static_cast<double>(std::max<std::size_t>(1, c.tests)) : 1.0;
  const MetricComparison* weakest = nullptr;
  for (MetricComparison& m : c.rows) {
    if (!m.gating) continue;
    m.smallest_p_adjusted = std::min(1.0, factor * smallest_mann_whitney_p(m.base_n, m.current_n));
    const bool powerless = !enough_samples(m, o) || m.smallest_p_adjusted >= o.alpha;
    if (powerless && (!weakest || std::min(m.base_n, m.current_n) < std::min(weakest->base_n, weakest->current_n)))
      weakest = &m;
  }
  if (!weakest) return;
  const std::string sizes = weakest->base_n == weakest->current_n
                                ? fmt::format("n={} per side", weakest->base_n)
                                : fmt::format("n={} (base) and {} (new)", weakest->base_n, weakest->current_n);
  const std::size_t needed = std::max<std::size_t>(samples_needed(factor, o.alpha), o.min_samples);
  const std::size_t tests = std::max<std::size_t>(1, c.tests);
  c.undetectable = fmt::format("cannot detect a regression with {} at alpha {} over {} {}{}; need n >= {} per side "
                               "(more --iterations, or several runs per side pooled)",
                               sizes, o.alpha, tests, tests == 1 ? "test" : "tests",
                               o.correction == Correction::holm && tests > 1 ? " (Holm)" : "", needed);
}

// "p = 0.004 is not below alpha 0.01", with the correction when it changed p.
std::string insignificance(const MetricComparison& m, const Comparison& c, const CompareOptions& o) {
  std::string out;
  if (o.correction == Correction::none || m.p_adjusted == m.p_value)
    out = fmt::format("p = {:.3g} is not below alpha {}", m.p_value, o.alpha);
  else
    out = fmt::format("p = {:.3g}, Holm-adjusted over {} tests to {:.3g}, is not below alpha {}", m.p_value,
                      m.gating ? c.tests : c.secondary_tests, m.p_adjusted, o.alpha);
  if (m.gating && m.smallest_p_adjusted >= o.alpha)
    out += fmt::format(" (no p below {:.3g} is possible with {} and {} samples)", m.smallest_p_adjusted, m.base_n,
                       m.current_n);
  return out;
}

void judge(MetricComparison& m, bool higher_is_better, const Comparison& c, const CompareOptions& o) {
  const double worse = higher_is_better ? -m.change : m.change;
  if (!enough_samples(m, o)) {
    m.verdict = Verdict::noisy;
    m.why = fmt::format("too few samples ({} vs {}; at least {} each)", m.base_n, m.current_n, o.min_samples);
  } else if (std::fabs(m.change) < o.threshold_for(m.metric)) {
    m.verdict = Verdict::same;
  } else if (m.p_adjusted >= o.alpha) {
    m.verdict = Verdict::noisy;
    m.why = fmt::format("a {:+.1f}% change, but {}", 100 * m.change, insignificance(m, c, o));
  } else if (std::fabs(m.change) <= m.run_spread) {
    // The U test counts every iteration as independent, but iterations of one run share its
    // conditions; identical runs that differ this much cannot vouch for a smaller change.
    m.verdict = Verdict::noisy;
    m.why = fmt::format("a {:+.1f}% change, but runs of one side differ by {:.1f}% among themselves", 100 * m.change,
                        100 * m.run_spread);
  } else {
    m.verdict = worse > 0 ? Verdict::regression : Verdict::improvement;
  }
}

void warn_if_different(const nlohmann::json& a, const nlohmann::json& b, const char* key, const char* what,
                       std::vector<std::string>& warnings) {
  const nlohmann::json va = a.value(key, nlohmann::json()), vb = b.value(key, nlohmann::json());
  if (va != vb) warnings.push_back(fmt::format("different {}: {} vs {}", what, va.dump(), vb.dump()));
}

void warn_if_runs_differ(const nlohmann::json& base, const nlohmann::json& current, std::vector<std::string>& warnings) {
  if (base["schema_version"] != current["schema_version"])
    warnings.push_back(fmt::format("different schema versions: {} vs {}", base["schema_version"].dump(),
                                   current["schema_version"].dump()));
  const nlohmann::json& rb = base["run"];
  const nlohmann::json& rc = current["run"];
  warn_if_different(rb, rc, "backend", "backends", warnings);
  warn_if_different(rb, rc, "device", "devices", warnings);
  warn_if_different(rb, rc, "cpu_model", "CPUs", warnings);
  warn_if_different(rb, rc, "logical_cpus", "CPU counts", warnings);
  warn_if_different(rb, rc, "host", "hosts", warnings);
  warn_if_different(rb, rc, "dtype", "data types", warnings);
  const nlohmann::json none = nlohmann::json::object();
  if (rb.value("model", none).value("name", "") != rc.value("model", none).value("name", ""))
    warnings.push_back("different models");
  // Files from before --attention ran with its default.
  const std::string attention_b = rb.value("attention", "auto"), attention_c = rc.value("attention", "auto");
  if (attention_b != attention_c)
    warnings.push_back(fmt::format("different attention kernels: {} vs {}", attention_b, attention_c));
}

// Appends the per-iteration samples that compare reads.
void pool_into(ConfigResult& into, const ConfigResult& more) {
  auto append = [](std::vector<double>& a, const std::vector<double>& b) { a.insert(a.end(), b.begin(), b.end()); };
  RawSamples& s = into.samples;
  append(s.e2e_ms, more.samples.e2e_ms);
  append(s.ttft_ms, more.samples.ttft_ms);
  append(s.decode_step_ms, more.samples.decode_step_ms);
  const std::size_t ranks = std::min(s.rank_sync_ms.size(), more.samples.rank_sync_ms.size());
  s.rank_sync_ms.resize(ranks);
  for (std::size_t r = 0; r < ranks; ++r) append(s.rank_sync_ms[r], more.samples.rank_sync_ms[r]);
  // Request samples keep their iterations apart: the pooled run's come after the ones before.
  std::vector<RequestSample>& requests = into.metrics.traffic.samples;
  const int offset = iteration_count(requests);
  for (RequestSample q : more.metrics.traffic.samples) {
    q.iteration += offset;
    requests.push_back(std::move(q));
  }
}

struct Pooled {
  ConfigResult result;             // samples of every run that has some; the first failure's status
  std::vector<ConfigResult> runs;  // the runs with samples, one per file
};

SideSamples side_samples(const Pooled& p, const std::string& metric) {
  SideSamples s;
  s.pooled = metric_samples(p.result, metric);
  for (const ConfigResult& r : p.runs) {
    const auto own = metric_samples(r, metric);
    if (!own.empty()) s.run_medians.push_back(median_of(own));
  }
  return s;
}

std::map<std::string, Pooled> pool_side(const std::vector<ResultsFile>& side) {
  std::map<std::string, Pooled> out;
  for (const ResultsFile& f : side) {
    const nlohmann::json& list = f.doc["configurations"];
    for (std::size_t i = 0; i < list.size(); ++i) {
      ConfigResult r = result_from_json(list[i], fmt::format("{}: configurations[{}]", f.name, i));
      if (r.status == ConfigStatus::skipped) continue;
      const auto [it, first] = out.try_emplace(r.point.id());
      Pooled& p = it->second;
      // The first failure's status wins; samples come only from runs that have some.
      const bool keep_status = !first && p.result.status != ConfigStatus::ok;
      const ConfigStatus status = keep_status ? p.result.status : r.status;
      const std::string reason = keep_status ? p.result.reason : r.reason;
      const bool measured = !r.samples.e2e_ms.empty();
      if (first || (measured && p.runs.empty()))
        p.result = r;
      else if (measured)
        pool_into(p.result, r);
      p.result.status = status;
      p.result.reason = reason;
      if (measured) p.runs.push_back(std::move(r));
    }
  }
  return out;
}

// The measured rows of a configuration on both sides, without verdicts yet.
void add_rows(Comparison& c, const std::string& id, const Pooled& before, const Pooled& now, const CompareOptions& o) {
  for (const MetricSpec& spec : compared_metrics()) {
    const SideSamples sb = side_samples(before, spec.name), sn = side_samples(now, spec.name);
    if (sb.pooled.empty() || sn.pooled.empty()) continue;
    c.rows.push_back(measure_metric(id, spec, sb, sn, median_of(before.result.samples.e2e_ms)));
    c.rows.back().gating = o.gates(spec.name);
    c.rows.back().base_runs = before.runs.size();
    c.rows.back().current_runs = now.runs.size();
    const MetricComparison& m = c.rows.back();
    if (spec.name == "latency.median" && m.run_spread > o.threshold_for(spec.name))
      c.warnings.push_back(fmt::format("{}: runs of one side differ by {:.1f}% in median latency, more than the "
                                       "{:.1f}% threshold; changes that small are reported noisy (a disturbed run?)",
                                       id, 100 * m.run_spread, 100 * o.threshold_for(spec.name)));
  }
}

}  // namespace

std::vector<ResultsFile> read_compare_side(const std::string& paths) {
  std::vector<ResultsFile> side;
  std::size_t begin = 0;
  while (begin <= paths.size()) {
    const std::size_t comma = std::min(paths.find(',', begin), paths.size());
    const std::string path = paths.substr(begin, comma - begin);
    if (path.empty()) {
      begin = comma + 1;
      continue;
    }
    for (const ResultsFile& f : side)
      if (f.name == path)
        throw ConfigError(fmt::format("compare: {} is given twice on one side (its samples would count double)", path));
    side.push_back({path, read_results_file(path)});
    begin = comma + 1;
  }
  if (side.empty()) throw ConfigError(fmt::format("compare: '{}' names no results file", paths));
  return side;
}

Comparison compare_runs(const nlohmann::json& base, const nlohmann::json& current, const CompareOptions& o,
                        const std::string& base_name, const std::string& current_name) {
  return compare_runs(std::vector<ResultsFile>{{base_name, base}}, std::vector<ResultsFile>{{current_name, current}}, o);
}

Comparison compare_runs(const std::vector<ResultsFile>& base, const std::vector<ResultsFile>& current,
                        const CompareOptions& o) {
  if (base.empty() || current.empty()) throw ConfigError("compare: each side needs at least one results file");
  // Documents read from files were validated by read_results_file; those built in memory are
  // checked here, so that no verdict is ever drawn from an unusable document.
  for (const auto* side : {&base, &current})
    for (const ResultsFile& f : *side) validate_results(f.doc, f.name);
  Comparison c;
  warn_if_runs_differ(base.front().doc, current.front().doc, c.warnings);
  // Files pooled on one side must come from comparable runs too.
  for (const auto* side : {&base, &current})
    for (std::size_t i = 1; i < side->size(); ++i) {
      std::vector<std::string> within;
      warn_if_runs_differ(side->front().doc, (*side)[i].doc, within);
      for (const std::string& w : within)
        c.warnings.push_back(fmt::format("{} and {} (pooled): {}", side->front().name, (*side)[i].name, w));
    }

  const auto b = pool_side(base), n = pool_side(current);
  for (const auto& [id, p] : b)
    if (!n.count(id)) c.only_in_base.push_back(id);
  for (const auto& [id, p] : n)
    if (!b.count(id)) c.only_in_current.push_back(id);
  bool fixed = false;  // a configuration that failed before and passes now
  for (const auto& [id, before] : b) {
    const auto it = n.find(id);
    if (it == n.end()) continue;
    const Pooled& now = it->second;
    fixed |= before.result.status != ConfigStatus::ok && now.result.status == ConfigStatus::ok;
    if (before.result.status == ConfigStatus::ok && now.result.status != ConfigStatus::ok) {
      c.status_regressions.push_back(fmt::format("{}: {}", id, now.result.reason));
      continue;
    }
    add_rows(c, id, before, now, o);
  }
  // Verdicts once every test is known: how many were made decides the corrected p-values.
  correct_for_tests(c, o);
  check_power(c, o);
  for (MetricComparison& m : c.rows)
    for (const MetricSpec& spec : compared_metrics())
      if (spec.name == m.metric) judge(m, spec.higher_is_better, c, o);
  // A gate that judged nothing must not pass: no configuration measured on both sides (nor one
  // that failed before and passes now) is unusable input, not "no regression".
  if (c.rows.empty() && c.status_regressions.empty() && !fixed) {
    const auto names = [](const std::vector<ResultsFile>& side) {
      std::string s;
      for (const ResultsFile& f : side) s += (s.empty() ? "" : ",") + f.name;
      return s;
    };
    throw ConfigError(fmt::format("compare: nothing to judge: no configuration was measured on both sides (base {}: {} "
                                  "configuration(s), new {}: {} configuration(s); {} only in base, {} only in new)",
                                  names(base), b.size(), names(current), n.size(), c.only_in_base.size(),
                                  c.only_in_current.size()));
  }
  return c;
}

namespace {

// ", samples pooled from 3 base and 3 new runs" when a side has more than one file.
std::string pooling(const Comparison& c) {
  std::size_t base = 1, current = 1;
  for (const MetricComparison& m : c.rows) {
    base = std::max(base, m.base_runs);
    current = std::max(current, m.current_runs);
  }
  if (base == 1 && current == 1) return "";
  return fmt::format(", samples pooled from {} base and {} new run(s)", base, current);
}

// A regression judged from one run per side may be the machine drifting between the two runs.
std::string single_run_caveat(const Comparison& c) {
  const bool single = std::all_of(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) {
    return m.base_runs == 1 && m.current_runs == 1;
  });
  const bool flagged = std::any_of(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) {
    return m.verdict == Verdict::regression || m.verdict == Verdict::improvement;
  });
  if (!single || !flagged) return "";
  return "one run per side: a shared machine's drift between two runs can look significant; to confirm, "
         "compare 3 or more runs per side, alternated (docs/ci.md)";
}

// The graver of two verdicts of one judgement.
int gravity(Verdict v) {
  switch (v) {
    case Verdict::same: return 0;
    case Verdict::noisy: return 1;
    case Verdict::improvement: return 2;
    case Verdict::regression: return 3;
  }
  return 0;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

nlohmann::json json_change(double change) {
  if (std::isfinite(change)) return change;
  return std::signbit(change) ? "-inf" : "+inf";
}

std::string format_json(const Comparison& c, const CompareOptions& o) {
  nlohmann::json rows = nlohmann::json::array();
  for (const MetricComparison& m : c.rows)
    rows.push_back({{"configuration", m.config}, {"metric", m.metric},    {"unit", m.unit},
                    {"base", m.base},            {"new", m.current},      {"change", json_change(m.change)},
                    {"p_value", m.p_value},      {"p_adjusted", m.p_adjusted},
                    {"same_test_as", m.same_test_as.empty() ? nlohmann::json() : nlohmann::json(m.same_test_as)},
                    {"base_n", m.base_n},        {"new_n", m.current_n},
                    {"base_runs", m.base_runs},  {"new_runs", m.current_runs},
                    {"change_of", m.change_of_iteration ? "base iteration" : "base value"},
                    {"run_spread", m.run_spread},
                    {"gating", m.gating},
                    {"smallest_p_adjusted", m.gating ? nlohmann::json(m.smallest_p_adjusted) : nlohmann::json()},
                    {"verdict", verdict_name(m.verdict)}, {"why", m.why}});
  const VerdictCounts n = count_verdicts(c), s = count_verdicts(c, false);
  return nlohmann::json{{"alpha", o.alpha},
                        {"threshold", o.threshold},
                        {"per_metric_threshold", o.per_metric},
                        {"correction", correction_name(o.correction)},
                        {"tests", c.tests},
                        {"configurations_tested", c.configurations_tested},
                        {"tests_summary", describe_tests(c, o)},
                        {"verdicts", {{"regression", n.regressions + c.status_regressions.size()},
                                      {"improvement", n.improvements}, {"noisy", n.noisy}, {"same", n.same}}},
                        {"regressed", c.regressed()},
                        {"exit_status", c.exit_status()},
                        {"undetectable", c.undetectable.empty() ? nlohmann::json() : nlohmann::json(c.undetectable)},
                        {"gate", o.gate},
                        {"secondary_tests", c.secondary_tests},
                        {"secondary_verdicts", {{"regression", s.regressions}, {"improvement", s.improvements},
                                                {"noisy", s.noisy}, {"same", s.same}}},
                        {"rows", rows},
                        {"only_in_base", c.only_in_base},
                        {"only_in_new", c.only_in_current},
                        {"status_regressions", c.status_regressions},
                        {"caveat", single_run_caveat(c)},
                        {"warnings", c.warnings}}
             .dump(1) + "\n";
}

// What follows a row's verdict: why it is noisy, and the test it shares.
std::string row_note(const MetricComparison& m) {
  std::string note = m.gating ? m.why : m.why + (m.why.empty() ? "" : "; ") + "secondary, not gating";
  if (!m.same_test_as.empty()) note += (note.empty() ? "" : "; ") + fmt::format("one test with {}", m.same_test_as);
  return note;
}

// "1 regression(s), 0 improvement(s), 2 noisy, 9 same (threshold 5.0%, alpha 0.01)", counted per judgement.
std::string counts_line(const Comparison& c, const CompareOptions& o, bool md) {
  const VerdictCounts n = count_verdicts(c);
  std::string out = fmt::format("{} {}, {} {}, {} noisy, {} same (threshold {:.1f}%, alpha {}){}",
                                n.regressions + c.status_regressions.size(), md ? "regressions" : "regression(s)",
                                n.improvements, md ? "improvements" : "improvement(s)", n.noisy, n.same,
                                100 * o.threshold, o.alpha, pooling(c));
  const VerdictCounts s = count_verdicts(c, false);
  if (s.regressions + s.improvements + s.noisy + s.same > 0)
    out += fmt::format("; secondary, not gating: {} slower, {} faster, {} noisy, {} same", s.regressions,
                       s.improvements, s.noisy, s.same);
  return out;
}

std::string markdown_table(const Comparison& c, const CompareOptions& o) {
  const char* headline = c.regressed() ? "regression" : c.undetectable.empty() ? "no regression" : "cannot judge";
  std::string out = fmt::format("### llmthreads compare: {}\n\n", headline);
  if (!c.undetectable.empty()) out += fmt::format("> **error:** {}\n\n", c.undetectable);
  out += counts_line(c, o, true) + "\n\n" + describe_tests(c, o) + "\n\n";
  for (const std::string& w : c.warnings) out += fmt::format("> warning: {}\n", w);
  if (!c.warnings.empty()) out += "\n";
  out += "| configuration | metric | base | new | change | p-value | adj. p | verdict |\n"
         "|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const MetricComparison& m : c.rows) {
    const bool bold = m.gating && m.verdict == Verdict::regression;
    const std::string verdict = bold ? "**regression**" : std::string(verdict_name(m.verdict));
    std::string note = m.same_test_as.empty() ? "" : fmt::format(" (one test with {})", m.same_test_as);
    if (!m.gating) note += " (secondary, not gating)";
    out += fmt::format("| `{}` | {} | {:.4g} {} | {:.4g} {} | {:+.2f}% | {:.3g} | {:.3g} | {}{} |\n", m.config, m.metric,
                       m.base, m.unit, m.current, m.unit, 100 * m.change, m.p_value, m.p_adjusted, verdict, note);
  }
  return out;
}

std::string text_table(const Comparison& c, const CompareOptions& o) {
  std::string out;
  for (const std::string& w : c.warnings) out += fmt::format("warning: {}\n", w);
  out += fmt::format("{:<58} {:<15} {:>12} {:>12} {:>9} {:>9} {:>9}  {}\n", "configuration", "metric", "base", "new",
                     "change", "p-value", "adj. p", "verdict");
  for (const MetricComparison& m : c.rows) {
    const std::string note = row_note(m);
    out += fmt::format("{:<58} {:<15} {:>12.4g} {:>12.4g} {:>+8.2f}% {:>9.3g} {:>9.3g}  {}{}\n", m.config, m.metric,
                       m.base, m.current, 100 * m.change, m.p_value, m.p_adjusted, verdict_name(m.verdict),
                       note.empty() ? "" : " (" + note + ")");
  }
  out += counts_line(c, o, false) + "\n" + describe_tests(c, o) + "\n";
  if (!c.undetectable.empty()) out += "cannot judge: " + c.undetectable + "\n";
  return out;
}

// The notes and lists after the table.
std::string footer(const Comparison& c, bool md) {
  std::string out;
  if (const std::string caveat = single_run_caveat(c); !caveat.empty())
    out += fmt::format("{}note: {}\n", md ? "\n> " : "", caveat);
  if (std::any_of(c.rows.begin(), c.rows.end(), [](const MetricComparison& m) { return m.change_of_iteration; }))
    out += fmt::format("{}sync.exposed: change in percent of the base iteration (median e2e latency), not of itself\n",
                       md ? "\n" : "");
  const char* bullet = md ? "- " : "  ";
  const auto list = [&](const char* md_title, const char* title, const std::vector<std::string>& items, bool code) {
    if (items.empty()) return;
    out += md ? md_title : title;
    for (const std::string& s : items) out += bullet + (md && code ? "`" + s + "`" : s) + "\n";
  };
  list("\n**Failed now, passed in the base:**\n\n", "failed now, passed in the base:\n", c.status_regressions, false);
  list("\nOnly in the base:\n\n", "only in the base:\n", c.only_in_base, true);
  list("\nOnly in the new run:\n\n", "only in the new run:\n", c.only_in_current, true);
  return out;
}

}  // namespace

VerdictCounts count_verdicts(const Comparison& c, bool gating) {
  // One judgement per row that has a test of its own; a row sharing a test joins it.
  std::map<std::pair<std::string, std::string>, Verdict> judged;
  for (const MetricComparison& m : c.rows) {
    if (m.gating != gating) continue;
    const std::string& test = m.same_test_as.empty() ? m.metric : m.same_test_as;
    const auto [it, first] = judged.try_emplace({m.config, test}, m.verdict);
    if (!first && gravity(m.verdict) > gravity(it->second)) it->second = m.verdict;
  }
  VerdictCounts n;
  for (const auto& [key, v] : judged) {
    if (v == Verdict::regression) ++n.regressions;
    if (v == Verdict::improvement) ++n.improvements;
    if (v == Verdict::noisy) ++n.noisy;
    if (v == Verdict::same) ++n.same;
  }
  return n;
}

std::string describe_tests(const Comparison& c, const CompareOptions& o) {
  std::string out = fmt::format("{} over {}, ", plural(c.tests, "test", "tests"),
                                plural(c.configurations_tested, "configuration", "configurations"));
  out += o.correction == Correction::holm ? fmt::format("Holm-corrected at alpha {}", o.alpha)
                                          : fmt::format("each at alpha {}, uncorrected", o.alpha);
  std::set<std::string> gating;
  for (const MetricComparison& m : c.rows)
    if (m.gating && m.same_test_as.empty()) gating.insert(m.metric);
  std::string names;
  for (const std::string& g : gating) names += (names.empty() ? "" : ", ") + g;
  if (!names.empty()) out += fmt::format("; gating: {}", names);
  if (c.secondary_tests > 0)
    out += fmt::format("; {} secondary {} (reported, not gating, corrected among themselves)", c.secondary_tests,
                       c.secondary_tests == 1 ? "test" : "tests");
  std::set<std::string> shared;
  for (const MetricComparison& m : c.rows)
    if (!m.same_test_as.empty()) shared.insert(fmt::format("{} shares {}'s test", m.metric, m.same_test_as));
  for (const std::string& s : shared) out += "; " + s + " (same e2e samples)";
  return out;
}

std::string format_comparison(const Comparison& c, const std::string& format, const CompareOptions& o) {
  if (format == "json") return format_json(c, o);
  const bool md = format == "markdown";
  return (md ? markdown_table(c, o) : text_table(c, o)) + footer(c, md);
}

}  // namespace llmt
