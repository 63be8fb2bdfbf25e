#include "engine/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "model/error.hpp"
#include "model/model.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;

// Independent streams of one seed: changing how outputs are drawn leaves the inputs as they were.
constexpr std::uint64_t kInputStream = 0x696E707574ull, kOutputStream = 0x6F7574707574ull,
                        kClassStream = 0x636C617373ull, kArrivalStream = 0x617272697661ull;

void fnv1a_u64(std::uint64_t& h, std::uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) {  // little-endian, whatever the host's order
    h ^= (value >> (8 * byte)) & 0xFF;
    h *= 0x100000001B3ull;
  }
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = text.find(sep, start);
    parts.emplace_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

// A number of the --workload spec, the whole text, finite, or a ConfigError naming it.
double spec_number(const std::string& text, const std::string& spec, const char* what) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
    throw ConfigError(fmt::format("--workload '{}': {} '{}' is not a finite number", spec, what, text));
  return v;
}

double positive_mean(const std::string& text, const std::string& spec, const char* what) {
  const double v = spec_number(text, spec, what);
  if (!(v > 0) || v > kMaxTraceLength)
    throw ConfigError(fmt::format("--workload '{}': {} {} must be above 0 and at most {} tokens", spec, what, text,
                                  kMaxTraceLength));
  return v;
}

double deviation(const std::string& text, const std::string& spec, const char* what) {
  const double v = spec_number(text, spec, what);
  if (v < 0 || v > kMaxTraceLength)
    throw ConfigError(fmt::format("--workload '{}': {} {} must be from 0 to {} tokens", spec, what, text, kMaxTraceLength));
  return v;
}

// "uniform:IN:OUT[:RATIO]", "normal:M,SD:M,SD" or "lognormal:M,SD:M,SD" (no mixture).
RequestClass parse_class(const std::string& item, const std::string& spec) {
  const std::vector<std::string> parts = split(item, ':');
  const std::string& law = parts.front();
  RequestClass c;
  if (law == "uniform") {
    if (parts.size() != 3 && parts.size() != 4)
      throw ConfigError(fmt::format("--workload '{}': '{}' is not uniform:IN:OUT[:RATIO] (e.g. uniform:1024:128:0.5)",
                                    spec, item));
    const double ratio = parts.size() == 4 ? spec_number(parts[3], spec, "range ratio") : 0.0;
    if (ratio < 0 || ratio >= 1)
      throw ConfigError(fmt::format("--workload '{}': range ratio {} must be in [0, 1) (vLLM's meaning: lengths in "
                                    "[L(1-r), L(1+r)])",
                                    spec, parts[3]));
    c.input = {LengthLaw::uniform, positive_mean(parts[1], spec, "input length"), ratio};
    c.output = {LengthLaw::uniform, positive_mean(parts[2], spec, "output length"), ratio};
    return c;
  }
  if (law != "normal" && law != "lognormal")
    throw ConfigError(fmt::format("--workload '{}': '{}' is not a distribution (uniform, normal, lognormal, mix), a "
                                  "bundled trace (azure-conv, azure-code) or a .csv or .jsonl file",
                                  spec, law));
  const auto pair = [&](std::size_t i, const char* side) {
    const std::vector<std::string> ms = parts.size() == 3 ? split(parts[i], ',') : std::vector<std::string>{};
    if (ms.size() != 2)
      throw ConfigError(fmt::format("--workload '{}': '{}' is not {}:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD (e.g. "
                                    "{}:1024,512:128,64)",
                                    spec, item, law, law));
    const LengthLaw l = law == "normal" ? LengthLaw::normal : LengthLaw::lognormal;
    return LengthDistribution{l, positive_mean(ms[0], spec, side), deviation(ms[1], spec, "standard deviation")};
  };
  c.input = pair(1, "input mean");
  c.output = pair(2, "output mean");
  return c;
}

// "mix:W*DIST+W*DIST..."
std::vector<RequestClass> parse_mixture(const std::string& body, const std::string& spec) {
  std::vector<RequestClass> classes;
  for (const std::string& item : split(body, '+')) {
    const std::size_t star = item.find('*');
    if (star == std::string::npos)
      throw ConfigError(fmt::format("--workload '{}': mixture item '{}' is not WEIGHT*DISTRIBUTION (e.g. "
                                    "mix:0.7*lognormal:1024,512:128,64+0.3*uniform:4096:16:0.5)",
                                    spec, item));
    const double weight = spec_number(item.substr(0, star), spec, "mixture weight");
    if (!(weight > 0)) throw ConfigError(fmt::format("--workload '{}': mixture weight {} must be above 0", spec, weight));
    const std::string dist = item.substr(star + 1);
    if (dist.starts_with("mix:")) throw ConfigError(fmt::format("--workload '{}': a mixture cannot hold a mixture", spec));
    RequestClass c = parse_class(dist, spec);
    c.weight = weight;
    classes.push_back(c);
  }
  return classes;
}

int clamp_length(double value) {
  if (!(value >= 1)) return 1;  // NaN too
  return static_cast<int>(std::min<double>(std::llround(std::min(value, 1e18)), kMaxTraceLength));
}

int scaled(int length, double scale) { return clamp_length(std::round(length * scale)); }

int pick_class(const std::vector<RequestClass>& classes, RandomStream& stream) {
  if (classes.size() == 1) return 0;
  double total = 0;
  for (const RequestClass& c : classes) total += c.weight;
  const double u = stream.unit() * total;
  double cumulative = 0;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    cumulative += classes[i].weight;
    if (u < cumulative) return static_cast<int>(i);
  }
  return static_cast<int>(classes.size()) - 1;  // u at the rounding edge of the total
}

void check_arrival_spec(const ArrivalSpec& spec) {
  if (spec.process == ArrivalProcess::poisson || spec.process == ArrivalProcess::gamma)
    if (!std::isfinite(spec.rate) || !(spec.rate > 0))
      throw ConfigError(fmt::format("--rate: {} is not a rate above 0 requests per second (--arrival {})", spec.rate,
                                    arrival_process_name(spec.process)));
  if (spec.process == ArrivalProcess::gamma && (!std::isfinite(spec.burstiness) || !(spec.burstiness > 0)))
    throw ConfigError(fmt::format("--burstiness: {} must be a number above 0 (1: Poisson, below 1: burstier)",
                                  spec.burstiness));
  if (!std::isfinite(spec.time_scale) || !(spec.time_scale > 0))
    throw ConfigError(fmt::format("--time-scale: {} must be a number above 0", spec.time_scale));
}

}  // namespace

// --- the list

std::uint64_t RequestList::hash() const {
  std::uint64_t h = 0xCBF29CE484222325ull;
  fnv1a_u64(h, requests.size());
  for (const Request& r : requests) {
    fnv1a_u64(h, static_cast<std::uint64_t>(static_cast<std::int64_t>(r.prompt)));
    fnv1a_u64(h, static_cast<std::uint64_t>(static_cast<std::int64_t>(r.output)));
    fnv1a_u64(h, static_cast<std::uint64_t>(std::llround(r.arrival_s * 1e6)));
  }
  return h;
}

std::string RequestList::label() const { return fmt::format("req{}.{:08x}", size(), hash() & 0xFFFFFFFFull); }

int RequestList::max_context() const {
  int most = 0;
  for (const Request& r : requests) most = std::max(most, r.context());
  return most;
}

long long RequestList::prompt_tokens() const {
  long long sum = 0;
  for (const Request& r : requests) sum += r.prompt;
  return sum;
}

long long RequestList::output_tokens() const {
  long long sum = 0;
  for (const Request& r : requests) sum += r.output;
  return sum;
}

std::string RequestList::describe(int index) const {
  if (first_line > 0) return fmt::format("{} line {}", source, first_line + index);
  return fmt::format("request {} of {}", index + 1, source);
}

RequestList uniform_requests(const Workload& workload) {
  RequestList list;
  list.requests.assign(static_cast<std::size_t>(std::max(workload.batch, 0)), Request{workload.prompt, workload.gen, 0.0});
  list.source = workload.label();
  return list;
}

// --- sources

std::string_view length_law_name(LengthLaw law) {
  switch (law) {
    case LengthLaw::uniform: return "uniform";
    case LengthLaw::normal: return "normal";
    case LengthLaw::lognormal: return "lognormal";
  }
  return "?";
}

std::vector<fs::path> trace_directories() { return profile_directories("traces", "LLMT_TRACE_DIR"); }

std::optional<fs::path> bundled_trace(const std::string& text) {
  if (text != "azure-conv" && text != "azure-code") return std::nullopt;
  std::string searched;
  for (const fs::path& dir : trace_directories()) {
    const fs::path candidate = dir / (text + ".csv");
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  throw ConfigError(fmt::format("--workload {}: the bundled trace {}.csv is in none of: {} (set LLMT_TRACE_DIR)", text,
                                text, searched));
}

WorkloadSourceSpec parse_workload_source(const std::string& text) {
  WorkloadSourceSpec spec;
  spec.text = text;
  if (text.empty()) throw ConfigError("--workload: empty");
  if (const std::optional<fs::path> bundled = bundled_trace(text)) {
    spec.trace = *bundled;
    return spec;
  }
  const std::string law = text.substr(0, text.find(':'));
  if (law == "mix") {
    spec.classes = parse_mixture(text.substr(4), text);
  } else if (law == "uniform" || law == "normal" || law == "lognormal") {
    spec.classes = {parse_class(text, text)};
  } else if (text.find(':') != std::string::npos && !text.ends_with(".csv") && !text.ends_with(".jsonl")) {
    parse_class(text, text);  // refuses the unknown law by name
  } else {
    spec.trace = text;
    trace_format_of(spec.trace);  // refuses any other name now, before the model is read
  }
  return spec;
}

// --- arrivals

std::string_view arrival_process_name(ArrivalProcess p) {
  switch (p) {
    case ArrivalProcess::offline: return "offline";
    case ArrivalProcess::poisson: return "poisson";
    case ArrivalProcess::gamma: return "gamma";
    case ArrivalProcess::trace: return "trace";
  }
  return "?";
}

std::optional<ArrivalProcess> parse_arrival_process(std::string_view s) {
  for (ArrivalProcess p : {ArrivalProcess::offline, ArrivalProcess::poisson, ArrivalProcess::gamma, ArrivalProcess::trace})
    if (s == arrival_process_name(p)) return p;
  return std::nullopt;
}

std::vector<double> arrival_times(const ArrivalSpec& spec, int count, std::uint64_t seed) {
  if (spec.process == ArrivalProcess::trace)
    throw ConfigError("--arrival trace: the arrival times come from a trace file (--workload FILE or a bundled trace)");
  check_arrival_spec(spec);
  std::vector<double> times(static_cast<std::size_t>(std::max(count, 0)), 0.0);
  if (spec.process == ArrivalProcess::offline) return times;
  RandomStream stream(seed ^ kArrivalStream);
  // Gamma(B, 1/(rate B)) has mean 1/rate; B = 1 is the exponential, drawn as such so that
  // poisson and gamma with burstiness 1 give the same times.
  const bool exponential = spec.process == ArrivalProcess::poisson || spec.burstiness == 1.0;
  for (std::size_t i = 1; i < times.size(); ++i) {
    const double gap = exponential ? stream.exponential() / spec.rate
                                   : stream.gamma(spec.burstiness) / (spec.rate * spec.burstiness);
    times[i] = times[i - 1] + gap;
  }
  return times;
}

// --- building and checking

int draw_length(const LengthDistribution& law, RandomStream& stream) {
  switch (law.law) {
    case LengthLaw::uniform: {
      // vLLM's random dataset: integers in [int(L(1-r)), int(L(1+r))], both ends included.
      const auto low = static_cast<long long>(law.mean * (1 - law.spread));
      const auto high = static_cast<long long>(law.mean * (1 + law.spread));
      return clamp_length(static_cast<double>(stream.integer(low, std::max(low, high))));
    }
    case LengthLaw::normal: return clamp_length(std::round(law.mean + law.spread * stream.normal()));
    case LengthLaw::lognormal: {
      // The lengths' mean m and deviation s give the logarithm's: sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2/2.
      const double ratio = law.spread / law.mean;
      const double sigma2 = std::log1p(ratio * ratio);
      const double mu = std::log(law.mean) - sigma2 / 2;
      return clamp_length(std::round(std::exp(mu + std::sqrt(sigma2) * stream.normal())));
    }
  }
  return 1;
}

RequestList make_request_list(const WorkloadSourceSpec& source, const RequestListOptions& options) {
  if (options.requests < 0 || options.requests > kMaxRequests)
    throw ConfigError(fmt::format("--requests: {} is out of range (from 1 to {})", options.requests, kMaxRequests));
  if (!std::isfinite(options.length_scale) || !(options.length_scale > 0) || options.length_scale > 1e6)
    throw ConfigError(fmt::format("--length-scale: {} must be above 0 and at most 1e6", options.length_scale));
  if (options.offset != 0 && !source.is_trace())
    throw ConfigError("--request-offset: only for a trace file (a distribution has no rows to skip)");
  if (options.arrival.process == ArrivalProcess::trace && !source.is_trace())
    throw ConfigError(fmt::format("--arrival trace: '{}' is a distribution; its arrivals are offline, poisson or gamma",
                                  source.text));
  check_arrival_spec(options.arrival);
  RequestList list;
  list.source = source.text;
  if (source.is_trace()) {
    const std::vector<TraceRow> rows = read_trace(source.trace, options.offset, options.requests);
    list.first_line = rows.front().line;
    for (const TraceRow& row : rows) {
      const double arrival = options.arrival.process == ArrivalProcess::trace
                                 ? (row.arrival_s - rows.front().arrival_s) * options.arrival.time_scale
                                 : 0.0;
      list.requests.push_back({scaled(row.prompt, options.length_scale), scaled(row.output, options.length_scale), arrival});
    }
  } else {
    const int count = options.requests == 0 ? kDefaultRequests : options.requests;
    RandomStream inputs(options.seed ^ kInputStream), outputs(options.seed ^ kOutputStream),
        classes(options.seed ^ kClassStream);
    for (int i = 0; i < count; ++i) {
      const RequestClass& c = source.classes[static_cast<std::size_t>(pick_class(source.classes, classes))];
      const int prompt = draw_length(c.input, inputs), output = draw_length(c.output, outputs);
      list.requests.push_back({scaled(prompt, options.length_scale), scaled(output, options.length_scale), 0.0});
    }
  }
  if (options.arrival.process != ArrivalProcess::trace) {
    const std::vector<double> times = arrival_times(options.arrival, list.size(), options.seed);
    for (int i = 0; i < list.size(); ++i) list.requests[static_cast<std::size_t>(i)].arrival_s = times[static_cast<std::size_t>(i)];
  }
  return list;
}

void check_request_list(const RequestList& list, int max_positions, const std::string& model) {
  if (list.requests.empty()) throw ConfigError(fmt::format("--workload {}: no requests", list.source));
  for (int i = 0; i < list.size(); ++i) {
    const Request& r = list.requests[static_cast<std::size_t>(i)];
    if (r.prompt < 1 || r.output < 1)
      throw ConfigError(fmt::format("{}: prompt {} and output {} tokens; both must be at least 1", list.describe(i),
                                    r.prompt, r.output));
    if (!std::isfinite(r.arrival_s) || r.arrival_s < 0)
      throw ConfigError(fmt::format("{}: arrival {} s must be a finite time >= 0", list.describe(i), r.arrival_s));
    if (r.arrival_s > kMaxArrivalSeconds)
      throw ConfigError(fmt::format("{}: arrives at {:.6g} s, beyond the most allowed ({:.0f} s); raise --rate or lower "
                                    "--time-scale",
                                    list.describe(i), r.arrival_s, kMaxArrivalSeconds));
    if (i > 0 && r.arrival_s < list.requests[static_cast<std::size_t>(i - 1)].arrival_s)
      throw ConfigError(fmt::format("{}: arrives at {} s, before the previous request ({} s); requests must be in "
                                    "arrival order",
                                    list.describe(i), r.arrival_s, list.requests[static_cast<std::size_t>(i - 1)].arrival_s));
    if (static_cast<long long>(r.prompt) + r.output - 1 > max_positions)
      throw ConfigError(fmt::format("{}: prompt {} + output {} tokens need {} positions; {} has {} (lower "
                                    "--length-scale, or use a model with more positions)",
                                    list.describe(i), r.prompt, r.output, static_cast<long long>(r.prompt) + r.output - 1,
                                    model, max_positions));
  }
}

}  // namespace llmt
