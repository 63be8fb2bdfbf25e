// Hostile inputs: a table of bad (and edge) model files, flags and command lines, each run
// through the built binary, which must end with the documented exit status and a clear message:
// 0 every configuration passed, 1 one failed, 2 bad input (or nothing could run), 130
// interrupted. No case may crash or hang: each runs under its own timeout.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <iterator>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_binary.hpp"
#include "safetensors_file.hpp"

namespace {

namespace fs = std::filesystem;

using llmt::testing::Outcome;
using llmt::testing::run_command;
using llmt::testing::split;

// The binary with `args` (through /bin/sh), stdout and stderr together. `timeout` turns a hang
// into status 124 (137 if it ignores SIGTERM), so a hanging case fails instead of blocking.
// "@env NAME=VALUE ARGS" sets NAME for the binary only (LLMT_PROFILE_DIR pointing at a case's files).
Outcome run(const std::string& args, int timeout_s = 30) {
  std::string env, rest = args;
  if (rest.rfind("@env ", 0) == 0) {
    const std::size_t end = rest.find(' ', 5);
    env = "env " + rest.substr(5, end - 5) + " ";
    rest = end == std::string::npos ? "" : rest.substr(end + 1);
  }
  return run_command("timeout -k 5 " + std::to_string(timeout_s) + " " + env + std::string(LLMT_BINARY) + " " + rest +
                     " 2>&1");
}
// A shell command line (to lower a limit for the child with ulimit), under the same timeout.
Outcome run_shell(const std::string& command, int timeout_s = 30) {
  std::string quoted = "'";
  for (char c : command) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return run_command("timeout -k 5 " + std::to_string(timeout_s) + " bash -c " + quoted + "' 2>&1");
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("llmt_hostile_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}


struct Case {
  std::string name, args, config;
  int status = 0;
  std::vector<std::string> says;
};

std::vector<Case> load_table() {
  std::ifstream in(std::string(LLMT_TEST_DATA) + "/hostile_inputs.tsv");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto f = split(line, '\t');
    if (f.size() != 5) {
      ADD_FAILURE() << "malformed table line (want 5 tab-separated fields): " << line;
      continue;
    }
    Case c{f[0], f[1], f[2], std::stoi(f[3]), split(f[4], '|')};
    cases.push_back(std::move(c));
  }
  return cases;
}

// "@files {...}": each key a path under {cfg} (a directory), each value what to put there: a
// string (the file's text), {"fifo": true}, {"dir": true}, {"symlink": TARGET}, or a safetensors
// file {"header": OBJECT or raw TEXT, "data": BYTES, "length": the 8-byte header length to write
// instead of the header's own}.
void write_files(const fs::path& root, const nlohmann::json& files) {
  fs::create_directories(root);
  for (const auto& [name, spec] : files.items()) {
    const fs::path path = root / name;
    fs::create_directories(path.parent_path());
    if (spec.is_string()) {
      std::ofstream(path, std::ios::binary) << spec.get<std::string>();
    } else if (spec.contains("fifo")) {
      ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0) << path;
    } else if (spec.contains("dir")) {
      fs::create_directories(path);
    } else if (spec.contains("symlink")) {
      fs::create_symlink(spec["symlink"].get<std::string>(), path);
    } else {
      const std::string header = spec["header"].is_string() ? spec["header"].get<std::string>() : spec["header"].dump();
      const std::uint64_t length = spec.value("length", static_cast<std::uint64_t>(header.size()));
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(&length), 8);
      out << header << std::string(spec.value("data", std::size_t{0}), '\0');
    }
  }
}

// Writes the case's config as the issue describes it and returns the command line.
std::string prepare(const Case& c, const fs::path& dir) {
  fs::path cfg = dir / "config_under_test.json";
  if (c.config.rfind("@files ", 0) == 0) {
    cfg = dir / "files";
    write_files(cfg, nlohmann::json::parse(c.config.substr(7)));
  } else if (c.config == "@empty") {
    std::ofstream(cfg).flush();
  } else if (c.config == "@dir") {
    cfg = dir / "model_dir";
    fs::create_directories(cfg);
  } else if (c.config.rfind("@dirconfig ", 0) == 0) {
    cfg = dir / "model_dir";
    fs::create_directories(cfg);
    std::ofstream(cfg / "config.json") << c.config.substr(11);
  } else if (c.config != "-") {
    std::ofstream(cfg) << c.config;
  }
  return replace_all(replace_all(c.args, "{cfg}", cfg.string()), "{tmp}", dir.string());
}

TEST(Hostile, TableOfBadInputsGivesClearErrorsWithTheDocumentedStatus) {
  const std::vector<Case> cases = load_table();
  ASSERT_GE(cases.size(), 150u) << "the table must hold at least 150 hostile inputs";
  // Most cases end at once, but each start of the binary maps its GPU libraries: a few run side
  // by side. Only the outcomes are compared, never a duration.
  std::vector<std::string> args(cases.size());
  std::vector<Outcome> outcomes(cases.size());
  std::vector<fs::path> dirs(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    dirs[i] = scratch("case" + std::to_string(i));
    args[i] = prepare(cases[i], dirs[i]);
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      for (std::size_t i = next++; i < cases.size(); i = next++) outcomes[i] = run(args[i]);
    });
  for (std::thread& t : workers) t.join();

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Outcome& o = outcomes[i];
    const fs::path& dir = dirs[i];
    EXPECT_EQ(o.status, c.status) << c.name << ": llmthreads " << args[i] << "\n" << o.output;
    for (const std::string& s : c.says) {
      if (!s.empty() && s[0] == '!')
        EXPECT_EQ(o.output.find(s.substr(1)), std::string::npos) << c.name << ": must not say '" << s.substr(1)
                                                                 << "'\n" << o.output;
      else
        EXPECT_NE(o.output.find(s), std::string::npos) << c.name << ": should say '" << s << "'\n" << o.output;
    }
    // No case leaves a half-written output behind (e.g. --json DIR must not create DIR.tmp).
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      EXPECT_NE(entry.path().extension(), ".tmp") << c.name << " left " << entry.path();
      EXPECT_EQ(entry.path().filename().string().find(".part"), std::string::npos) << c.name << " left " << entry.path();
    }
    EXPECT_FALSE(fs::exists(dir.string() + ".tmp")) << c.name << " left " << dir.string() << ".tmp";
    fs::remove_all(dir);
  }
}

// Each error class and the exit status it ends with, as README's exit-status sentence says.
TEST(Hostile, EachErrorClassHasItsDocumentedExitStatus) {
  const fs::path dir = scratch("classes");
  const std::string run_args = "--gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 --ceilings none -q";
  std::ofstream(dir / "bad.json") << R"({"model_type": "llama", "hidden_size": -4})";
  struct Class {
    std::string what, args;
    int status;
  };
  const std::vector<Class> classes = {
      {"every configuration passed", "bench --model tiny " + run_args, 0},
      {"a plan with something to run", "bench --model tiny --gpus 1,3 --strategy tp --dry-run", 0},
      {"help", "bench --help", 0},
      {"version", "--version", 0},
      {"command-line parse error (unknown option)", "bench --no-such-option", 2},
      {"command-line parse error (value of the wrong type)", "bench --iterations ten", 2},
      {"command-line parse error (missing subcommand)", "", 2},
      {"bad flag value", "bench --model tiny --gpus 0", 2},
      {"flag out of range", "bench --model tiny --layers -1", 2},
      {"bad model file", "bench --model " + (dir / "bad.json").string(), 2},
      {"unwritable output", "bench --model tiny --json " + dir.string() + " " + run_args, 2},
      {"nothing could run", "bench --model tiny --gpus 3 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 -q", 2},
  };
  for (const Class& c : classes) {
    const Outcome o = run(c.args);
    EXPECT_EQ(o.status, c.status) << c.what << ": llmthreads " << c.args << "\n" << o.output;
  }

  // A failed configuration: 1. Made deterministic by resuming a results file in which the one
  // configuration is recorded as failed (nothing is left to run; the kept failure decides).
  const fs::path results = dir / "r.json";
  ASSERT_EQ(run("bench --model tiny " + run_args + " --json " + results.string()).status, 0);
  nlohmann::json doc;
  {
    std::ifstream in(results);
    doc = nlohmann::json::parse(in);
  }
  ASSERT_EQ(doc["configurations"].size(), 1u);
  doc["configurations"][0]["status"] = "failed";
  doc["configurations"][0]["reason"] = "rank 0 failed (written by the test)";
  std::ofstream(results) << doc.dump();
  const Outcome failed = run("bench --model tiny " + run_args + " --resume " + results.string());
  EXPECT_EQ(failed.status, 1) << failed.output;
  fs::remove_all(dir);
}

// Rank counts are admitted against the process's limits while planning: a point whose ranks
// cannot all get a thread (or descriptors) is skipped with the reason, before any one-rank
// reference is computed or any thread started. The limits are lowered for the child only.
TEST(Hostile, RankCountsAreAdmittedAgainstThreadsAndDescriptorsBeforeAnyWork) {
  const std::string binary = LLMT_BINARY;
  const std::string sweep = " bench --model tiny --gpus 2,96 --strategy dp --merge mean --batch 1 --prompt 4 --gen 2 "
                            "--warmup 0 -n 1 --ceilings none";
  // ulimit -n 128 leaves about 64 descriptors: the 2-rank point runs, the 96-rank one is skipped.
  const Outcome files = run_shell("ulimit -n 128 && exec " + binary + sweep);
  EXPECT_EQ(files.status, 0) << files.output;
  EXPECT_NE(files.output.find("96 ranks need about 96 file descriptors"), std::string::npos) << files.output;
  EXPECT_EQ(files.output.find("ensemble member 2"), std::string::npos)
      << "no reference of the skipped point may be computed:\n" << files.output;
  // Nothing admitted at all: a clear error, status 2, still before any reference.
  const Outcome none = run_shell("ulimit -n 128 && exec " + binary +
                                 " bench --model tiny --gpus 96 --strategy dp --merge mean --batch 1 --prompt 4 "
                                 "--gen 2 --warmup 0 -n 1 --ceilings none");
  EXPECT_EQ(none.status, 2) << none.output;
  EXPECT_NE(none.output.find("nothing could run"), std::string::npos) << none.output;
  EXPECT_EQ(none.output.find("reference:"), std::string::npos) << none.output;
  // Threads: ulimit -u counts every process of the user, so lowering it is only safe where it
  // is not enforced (root); the plan reads the limit either way.
  if (::geteuid() != 0) GTEST_SKIP() << "the thread-limit case needs root (RLIMIT_NPROC is enforced otherwise)";
  const Outcome threads = run_shell("ulimit -u 128 && exec " + binary + sweep + " --dry-run");
  EXPECT_EQ(threads.status, 0) << threads.output;
  EXPECT_NE(threads.output.find("96 ranks need 96 threads"), std::string::npos) << threads.output;
}

// Outputs onto a device node are written in place: the node stays a device, nothing is left
// beside it. A node of our own (the null device's numbers, made with mknod) stands in for
// /dev/null, so that a regression cannot replace the machine's /dev/null with a file.
TEST(Hostile, OutputsOntoADeviceNodeAreWrittenInPlaceAndTheNodeStays) {
  const fs::path dir = scratch("device-node");
  const fs::path null = dir / "null";
  if (::mknod(null.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "mknod not permitted here";
  const std::string run_args = "--model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 "
                               "--ceilings none -q";
  const Outcome o = run("bench " + run_args + " --json " + null.string() + " --csv " + null.string() +
                        " --dump-logits " + null.string());
  EXPECT_EQ(o.status, 0) << o.output;
  // report and compare write there in place too; export-weights refuses it (not a directory).
  const fs::path results = dir.parent_path() / "device-node-results.json";
  // 5 iterations: the fewest with which compare's gate can judge (else it exits 2, samples too few).
  std::string five = run_args;
  five.replace(five.find("-n 1"), 4, "-n 5");
  ASSERT_EQ(run("bench " + five + " --json " + results.string()).status, 0);
  for (const std::string& args : {"report " + results.string() + " -o " + null.string(),
                                  "compare " + results.string() + " " + results.string() + " -o " + null.string()}) {
    const Outcome w = run(args);
    EXPECT_EQ(w.status, 0) << args << "\n" << w.output;
  }
  const Outcome exported = run("export-weights --model tiny --layers 1 " + null.string());
  EXPECT_EQ(exported.status, 2) << exported.output;
  EXPECT_NE(exported.output.find("is a character device, not a directory"), std::string::npos) << exported.output;
  fs::remove(results);
  struct stat st {};
  ASSERT_EQ(::lstat(null.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced";
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path() != null) left.push_back(entry.path().filename().string());
  EXPECT_TRUE(left.empty()) << "left beside the device: " << left.front();
  fs::remove_all(dir);
}

// A full disk while writing a report, or the comparison, is a clear error naming the path and
// the reason, with the status of bad output paths (2), never "internal error"; pipes work.
TEST(Hostile, AFullDiskIsAClearErrorForEveryOutput) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path dir = scratch("full");
  const std::string results = (dir / "r.json").string();
  const Outcome made = run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 5 "
                           "--ceilings none -q --json " + results);
  ASSERT_EQ(made.status, 0) << made.output;
  // Inputs that are pipes with a writer are read to their end (a FIFO without one is the
  // table's "is empty"); an output that is a pipe gets the whole document.
  const Outcome piped = run_shell(std::string(LLMT_BINARY) + " compare " + results + " <(cat " + results + ")");
  EXPECT_EQ(piped.status, 0) << piped.output;
  const Outcome to_pipe = run_shell(std::string(LLMT_BINARY) + " compare " + results + " " + results +
                                    " --format json -o /dev/stdout | cat > " + (dir / "via-pipe.json").string());
  EXPECT_EQ(to_pipe.status, 0) << to_pipe.output;
  std::ifstream via_pipe(dir / "via-pipe.json");
  EXPECT_NO_THROW((void)nlohmann::json::parse(via_pipe)) << "the comparison written to a pipe is one JSON document";
  for (const std::string& args : {"report " + results + " -o /dev/full",
                                  "report --compare " + results + " " + results + " -o /dev/full",
                                  "compare " + results + " " + results + " -o /dev/full"}) {
    const Outcome o = run(args);
    EXPECT_EQ(o.status, 2) << args << "\n" << o.output;
    EXPECT_NE(o.output.find("/dev/full: cannot write: No space left on device"), std::string::npos) << args << "\n"
                                                                                                     << o.output;
    EXPECT_EQ(o.output.find("internal error"), std::string::npos) << args << "\n" << o.output;
  }
  fs::remove_all(dir);
}

// When the JSON output cannot be rewritten in the middle of a sweep (here the file-size limit,
// whose signal is ignored so that write() fails with EFBIG), the run ends with a clear error and
// the file still holds every configuration measured before: the rename is all or nothing.
TEST(Hostile, AWriteFailureMidSweepKeepsWhatWasMeasured) {
  const fs::path dir = scratch("midsweep");
  const std::string one = (dir / "one.json").string(), two = (dir / "two.json").string();
  const std::string sweep = " --model tiny --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 --ceilings none -q";
  ASSERT_EQ(run("bench" + sweep + " --gpus 1 --json " + one).status, 0);
  // Room for the file with one configuration, not for one with two (bash's ulimit -f counts KiB).
  const auto blocks = static_cast<long>(fs::file_size(one) * 3 / 2 / 1024);
  const Outcome o = run_shell("trap '' XFSZ; ulimit -f " + std::to_string(blocks) + " && exec " +
                              std::string(LLMT_BINARY) + " bench" + sweep + " --gpus 1,2 --json " + two);
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--json " + two + ": cannot write: File too large"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("internal error"), std::string::npos) << o.output;
  std::ifstream in(two);
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["configurations"].size(), 1u);
  EXPECT_NE(doc["configurations"][0]["id"].get<std::string>().find("tp1."), std::string::npos) << doc["configurations"][0]["id"];
  EXPECT_EQ(doc["configurations"][0]["status"], "ok");
  EXPECT_FALSE(fs::exists(two + ".tmp"));
  fs::remove_all(dir);
}

// export-weights over an earlier export replaces it whole: going from three shards to one file
// removes the old index and shards (else --weights would read the old index); from one file to
// two shards removes the old model.safetensors. The weights read back are the new seed's.
TEST(Hostile, ExportOverAnEarlierExportLeavesOnlyTheNewOne) {
  const fs::path dir = scratch("export") / "w";
  auto names = [&] {
    std::set<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir)) out.insert(entry.path().filename().string());
    return out;
  };
  auto seed_of = [&](const std::string& file) {
    return llmt::testing::read_safetensors(dir / file).metadata["seed"].get<std::string>();
  };
  const std::string e = "export-weights --model tiny --layers 1 ";
  ASSERT_EQ(run(e + "--seed 1 --shards 3 " + dir.string()).status, 0);
  EXPECT_EQ(names().size(), 5u);  // config, index, three shards
  const Outcome single = run(e + "--seed 2 " + dir.string());
  ASSERT_EQ(single.status, 0) << single.output;
  EXPECT_EQ(names(), (std::set<std::string>{"config.json", "model.safetensors"}));
  EXPECT_EQ(seed_of("model.safetensors"), "2");
  const Outcome sharded = run(e + "--seed 3 --shards 2 " + dir.string());
  ASSERT_EQ(sharded.status, 0) << sharded.output;
  EXPECT_EQ(names(), (std::set<std::string>{"config.json", "model.safetensors.index.json",
                                            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  EXPECT_EQ(seed_of("model-00002-of-00002.safetensors"), "3");
  const Outcome read = run("bench --weights " + dir.string() + " --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 "
                           "--warmup 0 -n 1 --ceilings none -q");
  EXPECT_EQ(read.status, 0) << read.output;
  fs::remove_all(dir.parent_path());
}

// Permission denied, for every kind of path, is a clear error naming the path and the reason.
// Root passes permission checks, so as root the cases run as nobody (setpriv).
TEST(Hostile, PermissionDeniedIsAClearErrorNamingThePath) {
  std::string as_user;
  if (::geteuid() == 0) {
    if (std::system("command -v setpriv > /dev/null") != 0) GTEST_SKIP() << "root without setpriv: cannot drop privileges";
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    // The unprivileged user must be able to run the binary at all (a root with umask 077, as in
    // some sandboxes, leaves its libraries unreadable to others): else there is nothing to test.
    const Outcome runs = run_shell(as_user + LLMT_BINARY + " --help");
    if (runs.status != 0) GTEST_SKIP() << "the binary does not run as user nobody here: " << runs.output.substr(0, 200);
  }
  const fs::path dir = scratch("permissions");
  fs::permissions(dir.parent_path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path locked = dir / "locked", open_dir = dir / "open";
  fs::create_directories(locked);
  fs::create_directories(open_dir);
  fs::permissions(open_dir, fs::perms::all);
  const std::string results = (dir / "r.json").string();
  ASSERT_EQ(run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 3 --ceilings none "
                "-q --json " + results).status, 0);
  ASSERT_EQ(run("export-weights --model tiny --layers 1 " + (dir / "w").string()).status, 0);
  std::ofstream(open_dir / "kept.json") << "mine";
  fs::permissions(open_dir / "kept.json", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(dir / "w" / "model.safetensors", fs::perms::none);
  fs::permissions(dir / "w" / "config.json", fs::perms::all);
  fs::permissions(dir / "w", fs::perms::all);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(results, fs::perms::owner_read | fs::perms::owner_write);  // unreadable by others
  fs::permissions(locked, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const std::string run_args = " --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 "
                               "--ceilings none -q";
  struct Case {
    std::string args, says;
  };
  const std::vector<Case> cases = {
      {"bench" + run_args + " --json " + (locked / "r.json").string(), "is not writable: Permission denied"},
      {"bench" + run_args + " --csv " + (locked / "r.csv").string(), "is not writable: Permission denied"},
      {"bench" + run_args + " --json " + (open_dir / "kept.json").string(), "kept.json: cannot write: Permission denied"},
      {"export-weights --model tiny --layers 1 " + (locked / "w").string(), "Permission denied"},
      {"compare " + results + " " + results, "r.json: cannot open: Permission denied"},
      {"report " + results + " -o " + (open_dir / "o.html").string(), "r.json: cannot open: Permission denied"},
      {"bench --weights " + (dir / "w").string() + run_args, "model.safetensors: cannot open: Permission denied"},
  };
  for (const Case& c : cases) {
    const Outcome o = run_shell(as_user + LLMT_BINARY + " " + c.args);
    EXPECT_EQ(o.status, 2) << c.args << "\n" << o.output;
    EXPECT_NE(o.output.find(c.says), std::string::npos) << c.args << "\n" << o.output;
    EXPECT_EQ(o.output.find("internal error"), std::string::npos) << c.args << "\n" << o.output;
  }
  std::ifstream kept(open_dir / "kept.json");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "mine");
  fs::remove_all(dir);
}

}  // namespace
