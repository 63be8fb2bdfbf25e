// Request traces read from files: the CSV of the Azure LLM inference traces
// (arrived_at in seconds, num_prefill_tokens, num_decode_tokens; columns found by name) and
// Mooncake-style JSONL (one object a line: timestamp in milliseconds, input_length,
// output_length; other fields ignored). Every row up to the last one taken is checked; a bad
// one is a ConfigError naming the file, its line and the field.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace llmt {

struct TraceRow {
  double arrival_s = 0;  // as in the file, in seconds
  int prompt = 1, output = 1;
  int line = 0;  // 1-based line of the file
};

enum class TraceFormat { csv, jsonl };

// The format of a trace path by its extension (.csv, .jsonl), or a ConfigError.
TraceFormat trace_format_of(const std::filesystem::path& path);

// Rows [offset, offset + count) of the trace (count 0: every row from offset on). Refuses a
// missing, unreadable, empty or malformed file, lengths below 1 or above kMaxTraceLength,
// negative or decreasing timestamps, an offset or count beyond the file's rows, and (without a
// count) more than kMaxRequests rows after the offset.
std::vector<TraceRow> read_trace(const std::filesystem::path& path, int offset, int count);

inline constexpr int kMaxTraceLength = 1 << 24;  // tokens; far beyond any model's positions
inline constexpr int kMaxRequests = 1 << 20;     // in one request list, from a trace or drawn

}  // namespace llmt
