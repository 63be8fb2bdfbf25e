// The backends this build has, registered in the engine's table. Call once at start, before
// any backend is looked up (the CLI's main, test and benchmark mains do); later calls do nothing.
#pragma once

namespace llmt {

void register_builtin_backends();

}  // namespace llmt

namespace llmt {

// Process mode (docs/multi-node.md): when mpirun, mpiexec or srun started this process and the
// build has MPI, initialises MPI and installs the process world (engine/process_world.hpp);
// returns whether process mode is on. Without a launcher, or with one process, ranks stay
// threads. end_process_mode finalises MPI (call it once the command is done).
bool start_process_mode();
void end_process_mode();
bool process_mode_built();  // whether this build has MPI

}  // namespace llmt
