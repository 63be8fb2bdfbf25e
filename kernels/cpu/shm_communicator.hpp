// Collectives among thread ranks of one process through shared memory. Each collective
// publishes the ranks' buffer addresses, splits the work by element ranges (uneven sizes
// included) and copies/reduces directly between the ranks' buffers. Sums run in rank order,
// so every rank gets bit-identical results.
#pragma once

#include <memory>
#include <vector>

#include "engine/communicator.hpp"

namespace llmt {

// One communicator per rank of a new world of `ranks` thread ranks; hand element i to rank i.
std::vector<std::unique_ptr<Communicator>> make_shared_memory_world(int ranks);

}  // namespace llmt
