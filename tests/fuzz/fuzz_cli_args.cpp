// Fuzz target: the command line as cli/main.cpp parses it, without running any command: the
// CLI11 app with every subcommand's options, then the list options' own parsers (cli/parse.hpp)
// on every argument. The input is the argument list, one argument per line.
// CLI::ParseError (exits 2 via app.exit) and llmt::Error are the documented answers to bad
// input; anything else escaping, a crash, a sanitizer report or a hang is a finding.
//
// What is not reached: the bench options' meaning (models, strategies, sweep points) is only
// read inside run_bench, which also runs the sweep; see tests/fuzz/README.md.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "model/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"llmthreads"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) args.push_back(current);
  if (args.size() > 64) return 0;  // -1: libFuzzer would keep it out of the corpus; 0 is enough

  CLI::App app{"llmthreads"};
  app.set_version_flag("--version", "llmthreads fuzz");
  app.require_subcommand(1);
  const std::string command_line = "llmthreads (fuzz)";
  const llmt::cli::Command bench = llmt::cli::add_bench_command(app, command_line);
  const llmt::cli::Command profile = llmt::cli::add_profile_command(app, command_line);
  const llmt::cli::Command list = llmt::cli::add_list_command(app);
  const llmt::cli::Command compare = llmt::cli::add_compare_command(app);
  const llmt::cli::Command report = llmt::cli::add_report_command(app);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
  } catch (const llmt::Error&) {
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& value = args[i];
    (void)llmt::cli::split_list(value);
    try {
      (void)llmt::cli::parse_positive_ints("--fuzz", value);
    } catch (const llmt::Error&) {
    }
  }
  return 0;
}
