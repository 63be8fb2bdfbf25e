// The collective cases of the shared-memory communicator (tests/collective_cases.inc) against
// the MPI communicator, one rank per process, and its watchdog and abort across processes.
// CTest runs it under mpiexec -n 2 and -n 4; every process runs every case. With --views every
// case runs on a view instead (a split's group, whose collectives are point-to-point messages):
// a split of every process in reverse order, so that its ranks are not the world's.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "engine/process_world.hpp"
#include "kernels/builtin_backends.hpp"
#include "kernels/mpi/mpi_communicator.hpp"
#include "kernels/mpi/mpi_launch.hpp"
#include "model/error.hpp"

namespace llmt {
namespace {

// Generous: a failure on one process must end the others' waits, even on a loaded machine.
constexpr double kTimeoutS = 120;

float value(int rank, std::size_t i) { return static_cast<float>(static_cast<int>((rank * 7 + i) % 13) - 6); }

int world_size() { return process_world() ? process_world()->size() : 1; }

bool g_views = false;  // --views

// A fresh communicator of every process (so that an aborted one never touches the next case):
// the world's, or with --views a view of it in reverse order.
std::unique_ptr<Communicator> make_world(double timeout_s) {
  auto world = make_mpi_world_communicator(timeout_s);
  return g_views ? world->split(0, -world->rank()) : std::move(world);
}

// The world rank of rank `r` of make_world's communicator of `n`, as error messages name it.
int world_rank(int r, int n) { return g_views ? n - 1 - r : r; }

// Every process is one rank: fn runs here with this process's rank.
void run_ranks(int ranks, const std::function<void(Communicator&, int)>& fn) {
  ASSERT_EQ(ranks, world_size());
  auto comm = make_world(kTimeoutS);
  fn(*comm, comm->rank());
}

#include "collective_cases.inc"

INSTANTIATE_TEST_SUITE_P(Processes, Collectives, ::testing::Values(world_size()));

TEST(MpiCommunicator, ACollectiveThatWaitsTooLongNamesItAndTheRanksThatDidNotArrive) {
  auto comm = make_world(kTimeoutS);  // every process arrives, however late it started
  comm->set_collective_timeout(0.5);
  const int r = comm->rank(), n = comm->size();
  const bool late = r % 2 == 1;  // the odd ranks never enter the all-reduce
  std::string odd;
  for (int k = 1; k < n; k += 2) odd += (odd.empty() ? "" : ", ") + std::to_string(world_rank(k, n));
  const auto start = std::chrono::steady_clock::now();
  if (late) {
    // Away long enough for the others to time out, then the world is found aborted.
    std::this_thread::sleep_for(std::chrono::seconds(4));
    static float v = 1;  // static: the late rank's all-reduce may still complete the abandoned one, after the test
    EXPECT_THROW(comm->all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum), RankError);
    return;
  }
  static float v = 1;  // static: MPI may write it when the late ranks arrive, after the test
  try {
    comm->all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum);
    FAIL() << "the all-reduce returned without the odd ranks";
  } catch (const CollectiveTimeout& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("collective timeout: all_reduce"), std::string::npos) << what;
    EXPECT_NE(what.find("rank(s) " + odd + " did not arrive"), std::string::npos) << what;
  } catch (const RankError& e) {
    // Another even rank timed out first and aborted the world: its reason is the cause.
    EXPECT_NE(std::string(e.what()).find("rank(s) " + odd + " did not arrive"), std::string::npos) << e.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 60.0) << "bounded: the watchdog ended the wait";
}

// The ranks listed in "rank(s) A, B did not arrive" of a timeout's message.
std::set<int> not_arrived(const std::string& what) {
  const auto end = what.find(" did not arrive"), begin = what.rfind("rank(s) ", end);
  std::set<int> ranks;
  if (end == std::string::npos || begin == std::string::npos) return ranks;
  std::stringstream list(what.substr(begin + 8, end - begin - 8));
  for (std::string rank; std::getline(list, rank, ',');) ranks.insert(std::stoi(rank));
  return ranks;
}

// A split needs no blocking MPI call: a rank that never arrives ends it like any collective.
TEST(MpiCommunicator, ASplitThatARankNeverEntersTimesOutNamingIt) {
  auto comm = make_world(kTimeoutS);  // the last case's ranks may end seconds apart
  comm->set_collective_timeout(1);
  const int r = comm->rank(), n = comm->size();
  if (r == n - 1) return;  // gone: its communicator is freed, it answers no question
  const auto start = std::chrono::steady_clock::now();
  std::string what;
  try {
    comm->split(r % 2, r);
    FAIL() << "the split returned without rank " << n - 1;
  } catch (const CollectiveTimeout& e) {
    what = e.what();
    EXPECT_NE(what.find("collective timeout: split"), std::string::npos) << what;
  } catch (const RankError& e) {
    what = e.what();  // another rank timed out first: its reason
  }
  // Under load the others may be late too: the absent rank must be among those named.
  EXPECT_EQ(not_arrived(what).count(world_rank(n - 1, n)), 1u) << what;
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 60.0) << "bounded: the watchdog ended the wait";
}

TEST(MpiCommunicator, OneFailingRankReleasesTheOthersWithItsReason) {
  auto comm = make_world(kTimeoutS);
  const auto start = std::chrono::steady_clock::now();
  if (comm->rank() == comm->size() - 1) {
    comm->abort("rank failed on purpose");
    return;
  }
  float v = 1;
  try {
    comm->all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum);
    FAIL() << "the all-reduce returned without the failed rank";
  } catch (const RankError& e) {
    EXPECT_NE(std::string(e.what()).find("rank failed on purpose"), std::string::npos) << e.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, kTimeoutS / 2) << "released by the abort, not by the watchdog";
}

TEST(MpiCommunicator, RejectsBadArguments) {
  auto comm = make_world(kTimeoutS);
  float v = 0;
  EXPECT_THROW(comm->broadcast(&v, 1, DType::f32, comm->size()), ConfigError);
  EXPECT_THROW(comm->send(&v, 1, DType::f32, -1), ConfigError);
  std::uint16_t h = 0;
  EXPECT_THROW(comm->all_reduce(&h, &h, 1, DType::bf16, ReduceOp::sum), ConfigError);
  const std::vector<std::size_t> wrong(static_cast<std::size_t>(comm->size()) + 1, 1);
  EXPECT_THROW(comm->all_gather_v(&v, &v, wrong, DType::f32), ConfigError);
  comm->barrier();  // the world is still usable: bad arguments are refused before any MPI call
}

}  // namespace
}  // namespace llmt

// MPI first (the instantiation above asks the world's size), then GoogleTest.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--views") llmt::g_views = true;
  llmt::register_builtin_backends();
  if (!llmt::start_mpi_process_mode()) {
    std::fprintf(stderr, "test_mpi_communicator: run it under mpiexec with at least 2 processes\n");
    llmt::end_mpi_process_mode();
    return 2;
  }
  ::testing::InitGoogleTest(&argc, argv);
  const int status = RUN_ALL_TESTS();
  llmt::end_mpi_process_mode();
  return status;
}
