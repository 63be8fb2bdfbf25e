#include "engine/process_world.hpp"

#include <algorithm>

#include "engine/backends.hpp"

namespace llmt {
namespace {
std::unique_ptr<ProcessWorld>& world_slot() {
  static std::unique_ptr<ProcessWorld> world;
  return world;
}
}  // namespace

ProcessWorld* process_world() { return world_slot().get(); }
void set_process_world(std::unique_ptr<ProcessWorld> world) { world_slot() = std::move(world); }
int process_device(const std::string& backend) {
  const ProcessWorld* world = process_world();
  return world ? world->local_rank() % std::max(1, device_count(backend)) : 0;
}

bool is_reporting_process() { return !process_world() || process_world()->rank() == 0; }

}  // namespace llmt
