// `bench` in process mode (mpirun/srun, one rank per process): every process plans the same
// sweep from the same options; rank 0's plan, with its skip reasons, is the one every process
// follows, and rank 0 alone prints and writes the results.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/process_world.hpp"
#include "strategies/sweep.hpp"

namespace llmt::cli {

// Process mode only (no-op otherwise): skips points needing more processes than the world has,
// then makes rank 0's plan (ids and skip reasons) every process's. Throws ConfigError where a
// process planned other points (its options or model files differ).
void align_plan_with_rank0(std::vector<PlannedPoint>& plan);
// The ids of the configurations kept from --resume: rank 0's (which read the file) everywhere.
std::set<std::string> kept_ids_of_rank0(const std::set<std::string>& mine);
// Process mode (collective): rank 0 learns each host's environment from the lowest rank on it
// (`device`: this process's device description) and records it in `launch`.
void add_host_environments(LaunchInfo& launch, const std::string& device);
// Rank 0's `mine` on every process (thread mode: `mine`): decisions every process must take
// alike, such as stopping after a Ctrl-C that each may have seen at another moment.
bool rank0_says(bool mine);
// Process mode, and a process was lost: the sweep stops.
bool world_lost();

}  // namespace llmt::cli
