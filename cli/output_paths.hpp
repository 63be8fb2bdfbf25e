// The files a command writes, checked before any work: each can be written, no two outputs are
// one file (the second would overwrite the first), and no output is one of the command's inputs.
#pragma once

#include <string>
#include <vector>

namespace llmt::cli {

struct NamedPath {
  std::string option;  // "--json", "-o", "results"
  std::string path;    // empty: not given
};

// Throws ConfigError naming both options when two outputs name one file, or an output names an
// input, by inode or by normalized path (./x and x, a symlink and its target). Two outputs on one
// character device (--json /dev/null --csv /dev/null) are allowed: nothing is replaced there.
void refuse_shared_paths(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs);

// "a.json,b.json" (compare's pooled sides) as one NamedPath per file, each named `option`.
std::vector<NamedPath> each_file(const std::string& option, const std::string& paths);

// bench and profile: the outputs writable, none on another or on an input (the model file, the
// checkpoint's files, a hardware profile); --json may be the --resume file, which it continues.
struct SweepPaths {
  std::string json, csv, dump_logits, resume, model, weights, ceilings, hardware;
};
void check_sweep_paths(const SweepPaths& p);

}  // namespace llmt::cli
