// The communicator of process mode on the host: one rank per process, collectives over MPI on
// the ranks' host buffers. Every wait is a non-blocking MPI call polled against the collective
// timeout, so that a lost process ends in an error naming the call and the ranks that did not
// arrive instead of a hang (MPI's own calls would block forever; its default error handler would
// end the job). A failing rank aborts its world: its peers are told, and their calls throw.
#pragma once

#include <memory>

#include "engine/communicator.hpp"

namespace llmt {

// MPI must be initialised (start_process_mode). A new world over every process of
// MPI_COMM_WORLD, collective over them; its collectives time out after `timeout_s` (0: never).
std::unique_ptr<Communicator> make_mpi_world_communicator(double timeout_s = 0);

}  // namespace llmt
