// Subcommands of the llmthreads binary. Each registers its options on the CLI11 app and
// returns the callback that runs it; the callback's return value is the exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace llmt::cli {

using Command = std::function<int()>;

Command add_bench_command(CLI::App& app, const std::string& command_line);
Command add_profile_command(CLI::App& app, const std::string& command_line);
Command add_list_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_export_command(CLI::App& app);

}  // namespace llmt::cli
