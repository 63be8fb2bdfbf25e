// llmthreads: benchmark and profile parallel LLM inference strategies.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "model/error.hpp"
#include "engine/process_world.hpp"
#include "engine/sysinfo.hpp"
#include "kernels/builtin_backends.hpp"

namespace {

// `bench` and `profile` under mpirun or srun run one rank per process (docs/multi-node.md). An
// error there ends the whole job, as the other processes would wait for this one forever.
int run_sweep_command(const llmt::cli::Command& command) {
  llmt::start_process_mode();
  int status = 0;
  try {
    status = command();
  } catch (const std::exception& e) {
    llmt::ProcessWorld* world = llmt::process_world();
    if (!world) throw;
    const bool bad_input = dynamic_cast<const llmt::Error*>(&e) || dynamic_cast<const nlohmann::json::exception*>(&e) ||
                           dynamic_cast<const std::filesystem::filesystem_error*>(&e);
    fmt::print(stderr, "llmthreads (rank {}): {}: {}\n", world->rank(), bad_input ? "error" : "internal error",
               e.what());
    world->abort_job(bad_input ? 2 : 3);
  }
  llmt::end_process_mode();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  llmt::register_builtin_backends();
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  CLI::App app{"llmthreads: benchmark parallel LLM inference (tensor, data, pipeline, hybrid) on real kernels, "
               "verified against a one-device reference"};
  app.set_version_flag("--version", fmt::format("llmthreads {} ({})", llmt::tool_version(), llmt::git_commit()));
  app.require_subcommand(1);
  const llmt::cli::Command bench = llmt::cli::add_bench_command(app, command_line);
  const llmt::cli::Command profile = llmt::cli::add_profile_command(app, command_line);
  const llmt::cli::Command list = llmt::cli::add_list_command(app);
  const llmt::cli::Command compare = llmt::cli::add_compare_command(app);
  const llmt::cli::Command report = llmt::cli::add_report_command(app);
  const llmt::cli::Command export_weights = llmt::cli::add_export_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with status 0; every other parse error (unknown option,
    // a value CLI11 cannot convert, a missing argument) is bad input: the documented status 2.
    const int status = app.exit(e);
    return status == 0 ? 0 : 2;
  }
  try {
    if (app.got_subcommand("bench")) return run_sweep_command(bench);
    if (app.got_subcommand("list")) return list();
    if (app.got_subcommand("profile")) return run_sweep_command(profile);
    if (app.got_subcommand("compare")) return compare();
    if (app.got_subcommand("report")) return report();
    if (app.got_subcommand("export-weights")) return export_weights();
  } catch (const llmt::Error& e) {
    fmt::print(stderr, "llmthreads: error: {}\n", e.what());
    return 2;
  } catch (const nlohmann::json::exception& e) {
    // Only input files are parsed as JSON: a malformed one is unusable input.
    fmt::print(stderr, "llmthreads: error: malformed JSON input: {}\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user gave that the system refuses (not a directory, permission denied, disk
    // full): its message names the path and the reason.
    fmt::print(stderr, "llmthreads: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "llmthreads: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}
