// Inside the MPI layer only: the communicator over an MPI communicator, and the polled wait that
// every MPI call of this layer goes through.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "engine/communicator.hpp"

namespace llmt::mpi {

// Throws Error naming `what` when an MPI call returned an error (MPI_ERRORS_RETURN is set).
void check(int status, const std::string& what);

// Takes ownership of `comm` (a communicator of its own, not MPI_COMM_WORLD).
std::unique_ptr<Communicator> make_communicator(MPI_Comm comm, double timeout_s);

// Polls `request` until it completes (true) or `timeout_s` passes (false; 0: never), yielding
// the core between tests after a short spin (ranks may outnumber cores).
bool poll(MPI_Request& request, double timeout_s, const std::string& what);

}  // namespace llmt::mpi
