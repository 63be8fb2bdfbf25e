#include "cli/process_mode.hpp"

#include <fmt/format.h>

#include "engine/process_world.hpp"
#include "engine/sysinfo.hpp"
#include "model/error.hpp"

namespace llmt::cli {
namespace {

// One line per point: its id, a tab, its skip reason (empty: it runs).
std::string plan_text(const std::vector<PlannedPoint>& plan) {
  std::string text;
  for (const PlannedPoint& p : plan) text += p.point.id() + "\t" + p.skip_reason.value_or("") + "\n";
  return text;
}

}  // namespace

void align_plan_with_rank0(std::vector<PlannedPoint>& plan) {
  ProcessWorld* world = process_world();
  if (!world) return;
  for (PlannedPoint& p : plan)
    if (!p.skip_reason && p.point.layout.ranks() > world->size())
      p.skip_reason = fmt::format("needs {} processes, the MPI world has {} (launch more with mpirun -np)",
                                  p.point.layout.ranks(), world->size());
  const std::string root = world->broadcast(plan_text(plan));
  std::size_t at = 0;
  for (PlannedPoint& p : plan) {
    const std::size_t tab = root.find('\t', at), end = root.find('\n', at);
    if (tab == std::string::npos || end == std::string::npos || root.compare(at, tab - at, p.point.id()) != 0)
      throw ConfigError(fmt::format("process {} planned other configurations than rank 0 (give every process the "
                                    "same options and model files)", world->rank()));
    const std::string reason = root.substr(tab + 1, end - tab - 1);
    p.skip_reason = reason.empty() ? std::nullopt : std::optional<std::string>(reason);
    at = end + 1;
  }
  if (at != root.size())
    throw ConfigError(fmt::format("process {} planned fewer configurations than rank 0", world->rank()));
}

std::set<std::string> kept_ids_of_rank0(const std::set<std::string>& mine) {
  ProcessWorld* world = process_world();
  if (!world) return mine;
  std::string text;
  for (const std::string& id : mine) text += id + "\n";
  text = world->broadcast(text);
  std::set<std::string> ids;
  for (std::size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1)
    ids.insert(text.substr(at, end - at));
  return ids;
}

void add_host_environments(LaunchInfo& launch, const std::string& device) {
  ProcessWorld* world = process_world();
  if (!world) return;
  const HostInfo host = host_info();
  const std::string mine = fmt::format("{}\n{}\n{}\n{}\n{}", host.cpu_model, host.logical_cpus,
                                       host.memory_total_bytes, host.os, device);
  const auto all = world->gather(mine, world->size(), 120);
  if (world->rank() != 0) return;
  for (HostRanks& h : launch.hosts) {
    const auto& text = all[static_cast<std::size_t>(h.ranks.front())];
    if (!text) continue;
    std::vector<std::string> v;
    for (std::size_t at = 0, end = 0; end != std::string::npos; at = end + 1) {
      end = text->find('\n', at);
      v.push_back(text->substr(at, end == std::string::npos ? std::string::npos : end - at));
    }
    if (v.size() != 5) continue;
    h.environment = {{"cpu_model", v[0]}, {"logical_cpus", v[1]}, {"memory_total_bytes", v[2]}, {"os", v[3]},
                     {"device", v[4]}};
  }
}

bool rank0_says(bool mine) {
  ProcessWorld* world = process_world();
  return world ? world->broadcast(mine ? "1" : "0") == "1" : mine;
}

bool world_lost() { return process_world() && !process_world()->lost().empty(); }


}  // namespace llmt::cli
