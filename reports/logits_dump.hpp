// --dump-logits FILE: the reference's and each configuration's logits, with the token ids they
// were computed from, as one safetensors file (https://github.com/huggingface/safetensors:
// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
// byte range, then the raw little-endian data), so that anyone can check them against another
// implementation, e.g. `safetensors.numpy.load_file(FILE)`.
//
// Tensors, per workload W (its label, e.g. b4.p128.g16):
//   input_ids/W        int32 [batch, prompt + gen - 1]  prompt, then the teacher-forced decode inputs
//   reference/W        fp32  [gen, batch, vocab]        the one-rank reference (step 0: after prefill)
//   <configuration id> fp32  [gen, batch, vocab]        a configuration's logits (its capture pass)
// Data is spilled to a FILE.part.XXXXXX as it comes (in the temporary directory when FILE is a
// device or a FIFO); finish() writes FILE (atomically when FILE is a regular file, in place
// when it is /dev/null or a pipe) and the spill file goes with the dump.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/verify.hpp"
#include "model/checkpoint.hpp"

namespace llmt {

class LogitsDump {
 public:
  explicit LogitsDump(std::string path);  // throws ConfigError when the spill file cannot be created
  ~LogitsDump();
  LogitsDump(const LogitsDump&) = delete;
  LogitsDump& operator=(const LogitsDump&) = delete;

  void add_logits(const std::string& name, const StepLogits& logits, int batch, int vocab);
  void add_token_ids(const std::string& name, const std::vector<std::int32_t>& ids, int batch, int positions);
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  // Writes FILE; returns the number of tensors. Throws Error when it cannot.
  std::size_t finish(const std::map<std::string, std::string>& metadata);

 private:
  // Records `name` with the bytes written to FILE.part since `begin`.
  void record(const std::string& name, SafetensorsEntry t, std::uint64_t begin);
  void write(const void* data, std::size_t bytes);

  std::string path_, part_path_;
  int part_fd_ = -1;
  std::uint64_t written_ = 0;
  std::map<std::string, SafetensorsEntry> tensors_;
};

}  // namespace llmt
