// Process mode's start and end: finds out whether mpirun, mpiexec or srun started this process
// and, when so and the world has more than one process, initialises MPI and installs the
// ProcessWorld (engine/process_world.hpp) the runner and the CLI use.
#pragma once

namespace llmt {

// Whether the environment shows an MPI or Slurm launch (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_RANK, or a Slurm step of several tasks).
bool launched_by_mpi();
// MPI_Init_thread (MPI_THREAD_MULTIPLE: the overlap mode's collectives run on a second thread)
// and, with more than one process, the process world. Returns whether process mode is on.
bool start_mpi_process_mode();
// MPI_Finalize, where start_mpi_process_mode initialised MPI.
void end_mpi_process_mode();

}  // namespace llmt
