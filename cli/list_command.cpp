// `llmthreads list`: strategies, sync and merge modes, model presets, hardware profiles, backends
// and attention kernels.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "engine/backends.hpp"
#include "engine/ceilings.hpp"
#include "model/error.hpp"
#include "model/model.hpp"
#include "engine/plan.hpp"
#include "strategies/registry.hpp"

namespace llmt::cli {

Command add_list_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("list", "List strategies, sync and merge modes, model presets and backends");
  (void)cmd;
  return [] {
    fmt::print("strategies:\n");
    for (const Strategy* s : builtin_strategies().all()) {
      std::vector<std::string> merges;
      for (MergeMode m : s->merges()) merges.emplace_back(merge_mode_name(m));
      fmt::print("  {:<8} {}\n  {:<8} merges: {}\n", s->name(), s->description(), "", fmt::join(merges, ", "));
    }
    fmt::print("\nsync modes:\n");
    fmt::print("  {:<13} all-reduce right after each partitioned operation\n", "blocking");
    fmt::print("  {:<13} row-parallel GEMMs in chunks, each chunk's all-reduce on a communication thread/stream "
               "while the next computes\n", "overlap");
    fmt::print("  {:<13} star through a root rank: partial results sent to it, summed, sent back\n",
               "param-server");
    fmt::print("\nmerge modes:\n");
    fmt::print("  {:<8} all-gather of partial outputs (vocabulary shards of the logits, replicas' sequences)\n",
               "concat");
    fmt::print("  {:<8} all-reduce of partial logits (LM head split along the hidden dimension; tp > 1)\n", "sum");
    fmt::print("  {:<8} weighted mean of ensemble replicas with weights of their own (dp > 1)\n", "mean");
    fmt::print("\nmodel presets:\n");
    for (const std::string& name : list_model_presets()) {
      try {
        const ModelConfig m = load_model(name);
        const std::string experts =
            m.moe() ? fmt::format(", {} experts ({} per token, {:.2f}B active)", m.experts, m.experts_per_token,
                                  active_parameter_count(m) / 1e9)
                    : "";
        fmt::print("  {:<14} {:>7.2f}B parameters, {} layers, hidden {}, {} heads ({} KV){}\n", name,
                   parameter_count(m) / 1e9, m.layers, m.hidden, m.heads, m.kv_heads, experts);
      } catch (const Error& e) {
        fmt::print("  {:<14} unreadable: {}\n", name, e.what());
      }
    }
    fmt::print("\nhardware profiles (--ceilings NAME; the default measures the device at start; --hardware NAME "
               "--dry-run plans for its memory):\n");
    for (const std::string& name : list_hardware_profiles()) {
      try {
        const HardwareProfile hw = load_hardware_description(name);
        fmt::print("  {:<16} {:.2f} GiB; {}\n", name, static_cast<double>(hw.memory_bytes) / 1073741824.0,
                   describe_ceilings(load_hardware_profile(name, DType::bf16)));
      } catch (const Error& e) {
        fmt::print("  {:<16} unreadable: {}\n", name, e.what());
      }
    }
    fmt::print("\nbackends in this build:\n");
    bool cudnn = false;
    for (const std::string& name : compiled_backends()) {
      const BackendEntry& e = backend_entry(name);
      const auto unavailable = e.unavailable();
      fmt::print("  {:<16} {}{}\n", name, e.description, unavailable ? fmt::format(" (not here: {})", *unavailable) : "");
      cudnn = cudnn || e.has_cudnn_attention;
    }
    if (cudnn)
      fmt::print("attention kernels: cudnn (cuDNN fused SDPA, CUDA backend), naive; --attention auto picks cudnn "
                 "where it serves the shape\n");
    else
      fmt::print("attention kernels: naive (this build has no cuDNN attention)\n");
    return 0;
  };
}

}  // namespace llmt::cli
