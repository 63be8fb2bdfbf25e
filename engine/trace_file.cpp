#include "engine/trace_file.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "model/error.hpp"
#include "model/file_io.hpp"

namespace llmt {
namespace {

namespace fs = std::filesystem;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The file's lines one at a time, without their endings (never all at once: a file of a
// gigabyte of short lines must not become gigabytes of views). Blank lines at the end are not
// rows (a final newline, or several); a blank line with rows after it is returned, for the reader
// to name.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {}
  std::optional<std::string_view> next() {
    if (text_.find_first_not_of(" \t\r\n", position_) == std::string_view::npos) return std::nullopt;
    const std::size_t end = text_.find('\n', position_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    const std::string_view line = text_.substr(position_, stop - position_);
    position_ = stop + 1;
    ++number_;
    return line;
  }
  int number() const { return number_; }  // 1-based, of the line next() returned last

 private:
  std::string_view text_;
  std::size_t position_ = 0;
  int number_ = 0;
};

// Where a row's problem is: "FILE line N, field 'F'".
struct RowPlace {
  const std::string& file;
  int line;
  std::string at(std::string_view field) const { return fmt::format("{} line {}, field '{}'", file, line, field); }
  std::string at() const { return fmt::format("{} line {}", file, line); }
};

int parse_length(std::string_view text, const RowPlace& place, std::string_view field) {
  long long v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != text.data() + text.size())
    throw ConfigError(fmt::format("{}: '{}' is not a whole number of tokens", place.at(field), text));
  if (ec == std::errc::result_out_of_range || v > kMaxTraceLength)
    throw ConfigError(fmt::format("{}: {} tokens exceeds the most allowed ({})", place.at(field), text, kMaxTraceLength));
  if (v < 1) throw ConfigError(fmt::format("{}: {} tokens; every length must be at least 1", place.at(field), v));
  return static_cast<int>(v);
}

double parse_seconds(std::string_view text, const RowPlace& place, std::string_view field) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
    throw ConfigError(fmt::format("{}: '{}' is not a finite number", place.at(field), text));
  return v;
}

// Checks a row's time against the file's order: never negative, never before the previous row.
void check_time(double t, std::optional<double> previous, const RowPlace& place, std::string_view field,
                std::string_view unit) {
  if (t < 0) throw ConfigError(fmt::format("{}: {}{} is negative; arrival times start at 0", place.at(field), t, unit));
  if (previous && t < *previous)
    throw ConfigError(fmt::format("{}: {}{} is before the previous row's {}{}; rows must be in arrival order",
                                  place.at(field), t, unit, *previous, unit));
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

constexpr std::string_view kCsvColumns[] = {"arrived_at", "num_prefill_tokens", "num_decode_tokens"};

// Rows of the Azure CSV after its header, until `last` of them.
std::vector<TraceRow> read_csv(LineCursor& lines, std::string_view header_line, const std::string& file,
                               long long last) {
  const std::vector<std::string_view> header = split_fields(header_line);
  int column[3] = {-1, -1, -1};
  for (int c = 0; c < 3; ++c) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == kCsvColumns[c]) column[c] = static_cast<int>(i);
    if (column[c] < 0)
      throw ConfigError(fmt::format("{} line 1: the header has no column '{}' (a trace CSV needs arrived_at, "
                                    "num_prefill_tokens, num_decode_tokens; this one has: {})",
                                    file, kCsvColumns[c], header_line));
  }
  std::vector<TraceRow> rows;
  std::optional<double> previous;
  std::optional<std::string_view> line;
  while (static_cast<long long>(rows.size()) < last && (line = lines.next())) {
    const RowPlace place{file, lines.number()};
    if (trim(*line).empty()) throw ConfigError(fmt::format("{}: an empty line among the rows", place.at()));
    const std::vector<std::string_view> fields = split_fields(*line);
    if (fields.size() != header.size())
      throw ConfigError(fmt::format("{}: {} fields, the header has {}", place.at(), fields.size(), header.size()));
    TraceRow row;
    row.line = place.line;
    row.arrival_s = parse_seconds(fields[column[0]], place, kCsvColumns[0]);
    check_time(row.arrival_s, previous, place, kCsvColumns[0], " s");
    previous = row.arrival_s;
    row.prompt = parse_length(fields[column[1]], place, kCsvColumns[1]);
    row.output = parse_length(fields[column[2]], place, kCsvColumns[2]);
    rows.push_back(row);
  }
  return rows;
}

int json_length(const nlohmann::json& object, const char* field, const RowPlace& place) {
  if (!object.contains(field)) throw ConfigError(fmt::format("{}: missing", place.at(field)));
  const nlohmann::json& v = object[field];
  if (!v.is_number_integer()) throw ConfigError(fmt::format("{}: {} is not a whole number of tokens", place.at(field), v.dump()));
  // Non-negative integers are unsigned in nlohmann::json, negative ones signed.
  const bool beyond = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxTraceLength);
  if (beyond)
    throw ConfigError(fmt::format("{}: {} tokens exceeds the most allowed ({})", place.at(field), v.dump(), kMaxTraceLength));
  if (v.get<std::int64_t>() < 1)
    throw ConfigError(fmt::format("{}: {} tokens; every length must be at least 1", place.at(field), v.dump()));
  return v.get<int>();
}

// Rows of a Mooncake-style JSONL trace, until `last` of them. Timestamps in ms.
std::vector<TraceRow> read_jsonl(LineCursor& lines, std::optional<std::string_view> line, const std::string& file,
                                 long long last) {
  std::vector<TraceRow> rows;
  std::optional<double> previous_ms;
  for (; line && static_cast<long long>(rows.size()) < last; line = lines.next()) {
    const RowPlace place{file, lines.number()};
    if (trim(*line).empty()) throw ConfigError(fmt::format("{}: an empty line among the rows", place.at()));
    const nlohmann::json object = nlohmann::json::parse(*line, nullptr, false);
    if (object.is_discarded()) throw ConfigError(fmt::format("{}: not valid JSON", place.at()));
    if (!object.is_object())
      throw ConfigError(fmt::format("{}: not a JSON object (expected timestamp, input_length, output_length)", place.at()));
    if (!object.contains("timestamp")) throw ConfigError(fmt::format("{}: missing", place.at("timestamp")));
    const nlohmann::json& t = object["timestamp"];
    if (!t.is_number() || !std::isfinite(t.get<double>()))
      throw ConfigError(fmt::format("{}: {} is not a finite number of milliseconds", place.at("timestamp"), t.dump()));
    const double ms = t.get<double>();
    check_time(ms, previous_ms, place, "timestamp", " ms");
    previous_ms = ms;
    TraceRow row;
    row.line = place.line;
    row.arrival_s = ms / 1000.0;
    row.prompt = json_length(object, "input_length", place);
    row.output = json_length(object, "output_length", place);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TraceFormat trace_format_of(const fs::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".csv") return TraceFormat::csv;
  if (ext == ".jsonl") return TraceFormat::jsonl;
  throw ConfigError(fmt::format("--workload {}: a trace file must end in .csv (arrived_at, num_prefill_tokens, "
                                "num_decode_tokens) or .jsonl (timestamp in ms, input_length, output_length)",
                                path.string()));
}

std::vector<TraceRow> read_trace(const fs::path& path, int offset, int count) {
  const std::string file = path.string();
  const TraceFormat format = trace_format_of(path);
  if (offset < 0) throw ConfigError(fmt::format("--request-offset: {} is negative", offset));
  if (count < 0) throw ConfigError(fmt::format("--requests: {} is negative", count));
  const std::string text = read_input_file(path, "--workload trace");
  LineCursor lines(text);
  const std::optional<std::string_view> first = lines.next();
  if (!first) throw ConfigError(fmt::format("{}: the trace file is empty", file));
  // Without a count, one row more than a list may hold says that the file has too many.
  const long long last = static_cast<long long>(offset) + (count == 0 ? kMaxRequests + 1LL : count);
  std::vector<TraceRow> rows =
      format == TraceFormat::csv ? read_csv(lines, *first, file, last) : read_jsonl(lines, first, file, last);
  if (rows.empty()) throw ConfigError(fmt::format("{}: no requests after the header", file));
  if (offset >= static_cast<long long>(rows.size()))
    throw ConfigError(fmt::format("--request-offset {}: {} has only {} requests", offset, file, rows.size()));
  if (count > 0 && static_cast<long long>(rows.size()) < last)
    throw ConfigError(fmt::format("--requests {} from --request-offset {}: {} has only {} requests", count, offset,
                                  file, rows.size()));
  if (count == 0 && static_cast<long long>(rows.size()) == last)
    throw ConfigError(fmt::format("{}: more than {} requests from --request-offset {}; take fewer with --requests",
                                  file, kMaxRequests, offset));
  rows.erase(rows.begin(), rows.begin() + offset);
  return rows;
}

}  // namespace llmt
