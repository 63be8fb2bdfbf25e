#include "engine/communicator.hpp"

#include <vector>

namespace llmt {

std::string_view comm_op_name(CommOp op) {
  switch (op) {
    case CommOp::all_reduce: return "all_reduce";
    case CommOp::all_gather: return "all_gather";
    case CommOp::reduce_scatter: return "reduce_scatter";
    case CommOp::all_to_all: return "all_to_all";
    case CommOp::reduce: return "reduce";
    case CommOp::broadcast: return "broadcast";
    case CommOp::send_recv: return "send_recv";
    case CommOp::barrier: return "barrier";
  }
  return "?";
}

double bus_bandwidth_factor(CommOp op, int ranks) {
  const double n = ranks;
  switch (op) {
    case CommOp::all_reduce: return ranks > 1 ? 2.0 * (n - 1) / n : 0.0;
    case CommOp::all_gather:
    case CommOp::reduce_scatter: return ranks > 1 ? (n - 1) / n : 0.0;
    // Its bytes are already the wire bytes (what a rank sends to the others, its own block left
    // out), the uneven all-to-all's only meaningful count.
    case CommOp::all_to_all: return ranks > 1 ? 1.0 : 0.0;
    case CommOp::reduce:
    case CommOp::broadcast:
    case CommOp::send_recv: return 1.0;
    case CommOp::barrier: return 0.0;
  }
  return 0.0;
}

void Communicator::send_recv(const void* send_buffer, std::size_t send_count, int dst, void* recv_buffer,
                             std::size_t recv_count, int src, DType type) {
  send(send_buffer, send_count, type, dst);
  recv(recv_buffer, recv_count, type, src);
}

void Communicator::all_gather(const void* send, void* recv, std::size_t count, DType type) {
  const std::vector<std::size_t> counts(static_cast<std::size_t>(size()), count);
  all_gather_v(send, recv, counts, type);
}

}  // namespace llmt
