// Every collective of the shared-memory communicator at 1..8 ranks, with sizes that do not
// divide evenly, in and out of place. Inputs are small integers, so sums are exact and the
// results are checked element by element (nccl-tests' way: zero wrong elements).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "model/error.hpp"
#include "kernels/cpu/shm_communicator.hpp"

namespace llmt {
namespace {

float value(int rank, std::size_t i) { return static_cast<float>(static_cast<int>((rank * 7 + i) % 13) - 6); }

// Runs fn(comm, rank) on `ranks` threads; rethrows the first failure.
void run_ranks(int ranks, const std::function<void(Communicator&, int)>& fn) {
  auto comms = make_shared_memory_world(ranks);
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(*comms[r], r);
      } catch (...) {
        errors[r] = std::current_exception();
        comms[r]->abort("test rank failed");
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

#include "collective_cases.inc"

INSTANTIATE_TEST_SUITE_P(Ranks, Collectives, ::testing::Range(1, 9));

TEST(Communicator, AllToAllIsNamedAndHasNcclTestsBusBandwidthFactor) {
  EXPECT_EQ(comm_op_name(CommOp::all_to_all), "all_to_all");
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_to_all, 4), 1.0) << "its bytes are already the wire bytes";
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_to_all, 1), 0.0);
}

// Every rank sees the same disagreement, so every rank refuses the call and none is left waiting.
TEST(Communicator, AllToAllCountsThatDisagreeAreRefusedOnEveryRank) {
  run_ranks(3, [](Communicator& c, int r) {
    std::vector<std::size_t> send_counts(3, 1), recv_counts(3, 1);
    if (r == 2) recv_counts[0] = 2;  // rank 0 sends it 1
    std::vector<float> send(3, static_cast<float>(r)), recv(4, -1.0f);
    try {
      c.all_to_all_v(send.data(), send_counts, recv.data(), recv_counts, DType::f32);
      ADD_FAILURE() << "rank " << r << " accepted counts that disagree";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("rank 0 sends 1 elements to rank 2, which expects 2"), std::string::npos)
          << e.what();
    }
    for (float v : recv) EXPECT_EQ(v, -1.0f) << "rank " << r << " received from a refused call";
    c.barrier();  // the world was not aborted
  });
}

TEST(Communicator, OneFailingRankReleasesTheOthers) {
  auto comms = make_shared_memory_world(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < 4; ++r)
    threads.emplace_back([&, r] {
      try {
        if (r == 2) throw std::runtime_error("injected failure");
        float v = 1;
        comms[r]->all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum);
        std::vector<float> buf(4);
        comms[r]->recv(buf.data(), 4, DType::f32, 2);
      } catch (const std::exception& e) {
        errors[r] = e.what();
        comms[r]->abort("rank " + std::to_string(r) + ": " + e.what());
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(errors[2], "injected failure");
  for (int r : {0, 1, 3}) EXPECT_NE(errors[r].find("rank 2: injected failure"), std::string::npos) << errors[r];
}

// The watchdog: ranks that never enter a collective make it fail within the timeout, naming the
// collective and the missing ranks, and every waiting rank is released. Deterministic: the
// missing ranks never arrive, however busy the machine is.
struct WatchdogRun {
  std::vector<std::string> errors;
  // CollectiveTimeout (the cause), not the RankError it releases. Not vector<bool>: its elements
  // share words, so ranks setting their own would race.
  std::vector<char> timeout_error;
  double seconds = 0;
};

WatchdogRun run_with_missing_ranks(std::vector<std::unique_ptr<Communicator>>& comms,
                                   const std::function<void(Communicator&, int)>& fn) {
  WatchdogRun out;
  const auto n = comms.size();
  out.errors.assign(n, "");
  out.timeout_error.assign(n, false);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(*comms[r], static_cast<int>(r));
      } catch (const CollectiveTimeout& e) {
        out.errors[r] = e.what();
        out.timeout_error[r] = true;
      } catch (const std::exception& e) {
        out.errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

// The waiting ranks were released within bounds after `timeout_s`, the cause reported as a
// timeout, every message naming the collective and the ranks that did not arrive.
void expect_timed_out(const WatchdogRun& run, double timeout_s, std::initializer_list<int> waiting,
                      const std::string& collective, const std::string& missing) {
  EXPECT_GE(run.seconds, timeout_s);
  EXPECT_LT(run.seconds, 30.0) << "bounded: the watchdog released the waiting ranks";
  bool cause_reported = false;
  for (int r : waiting) {
    cause_reported |= run.timeout_error[r];
    EXPECT_NE(run.errors[r].find("collective timeout: " + collective), std::string::npos) << run.errors[r];
    EXPECT_NE(run.errors[r].find("rank(s) " + missing + " did not arrive"), std::string::npos) << run.errors[r];
  }
  EXPECT_TRUE(cause_reported) << "the cause is reported as a timeout";
}

TEST(Communicator, ACollectiveThatWaitsTooLongNamesItAndTheRanksThatDidNotArrive) {
  auto comms = make_shared_memory_world(4);
  comms[0]->set_collective_timeout(0.2);  // the whole world's
  const WatchdogRun run = run_with_missing_ranks(comms, [](Communicator& c, int r) {
    if (r == 1 || r == 3) return;  // never enter the collective
    float v = 1;
    c.all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum);
  });
  expect_timed_out(run, 0.2, {0, 2}, "all_reduce", "1, 3");
  for (int r : {1, 3}) EXPECT_EQ(run.errors[r], "");
  // The world is aborted: a late rank fails at once instead of waiting for the others.
  float v = 1;
  EXPECT_THROW(comms[1]->all_reduce(&v, &v, 1, DType::f32, ReduceOp::sum), RankError);
}

void all_to_all_of_two_each(Communicator& c) {
  const std::vector<std::size_t> counts(static_cast<std::size_t>(c.size()), 2);
  std::vector<float> send(2 * counts.size(), 1.0f), recv(send.size());
  c.all_to_all_v(send.data(), counts, recv.data(), counts, DType::f32);
}

TEST(Communicator, AnAllToAllThatWaitsTooLongNamesItAndTheRankThatDidNotArrive) {
  auto comms = make_shared_memory_world(3);
  comms[0]->set_collective_timeout(0.2);
  const WatchdogRun run = run_with_missing_ranks(comms, [](Communicator& c, int r) {
    if (r != 1) all_to_all_of_two_each(c);  // rank 1 never enters
  });
  expect_timed_out(run, 0.2, {0, 2}, "all_to_all", "1");
  EXPECT_EQ(run.errors[1], "");
  EXPECT_THROW(all_to_all_of_two_each(*comms[1]), RankError);
}

TEST(Communicator, AnAbortReleasesTheRanksWaitingInAnAllToAll) {
  auto comms = make_shared_memory_world(4);
  std::vector<char> rank_error(4, 0);  // not vector<bool>: each rank writes its own element
  const WatchdogRun run = run_with_missing_ranks(comms, [&](Communicator& c, int r) {
    if (r == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the others start waiting
      c.abort("rank 2 failed");
      return;
    }
    try {
      all_to_all_of_two_each(c);
    } catch (const RankError&) {
      rank_error[static_cast<std::size_t>(r)] = 1;
      throw;
    }
  });
  EXPECT_LT(run.seconds, 30.0);
  for (int r : {0, 1, 3}) {
    EXPECT_TRUE(rank_error[static_cast<std::size_t>(r)]) << "rank " << r << ": " << run.errors[r];
    EXPECT_NE(run.errors[r].find("collective abandoned: rank 2 failed"), std::string::npos) << run.errors[r];
  }
}

TEST(Communicator, TheWatchdogNamesWorldRanksInASubgroupAndCoversReceives) {
  auto comms = make_shared_memory_world(4);
  // The split runs without a timeout; rank 1 then sets one for the world, and its group's other
  // member (world rank 3) never joins the broadcast.
  WatchdogRun run = run_with_missing_ranks(comms, [](Communicator& c, int r) {
    auto sub = c.split(r % 2, r);
    if (r != 1) return;
    c.set_collective_timeout(0.2);
    float v = 1;
    sub->broadcast(&v, 1, DType::f32, 0);
  });
  EXPECT_LT(run.seconds, 30.0);
  EXPECT_TRUE(run.timeout_error[1]);
  EXPECT_NE(run.errors[1].find("collective timeout: broadcast on rank 1"), std::string::npos) << run.errors[1];
  EXPECT_NE(run.errors[1].find("rank(s) 3 did not arrive (a group of 2 ranks: 1, 3)"), std::string::npos)
      << run.errors[1];

  auto pair = make_shared_memory_world(2);
  pair[1]->set_collective_timeout(0.2);
  run = run_with_missing_ranks(pair, [](Communicator& c, int r) {
    if (r == 1) return;  // never sends
    float v = 0;
    c.recv(&v, 1, DType::f32, 1);
  });
  EXPECT_LT(run.seconds, 30.0);
  EXPECT_TRUE(run.timeout_error[0]);
  EXPECT_NE(run.errors[0].find("recv from rank 1 on rank 0"), std::string::npos) << run.errors[0];
  EXPECT_NE(run.errors[0].find("rank(s) 1 did not arrive"), std::string::npos) << run.errors[0];
}

TEST(Communicator, CollectivesWithinTheTimeoutAreUnaffected) {
  auto comms = make_shared_memory_world(3);
  comms[2]->set_collective_timeout(120);
  EXPECT_THROW(comms[0]->set_collective_timeout(-1), ConfigError);
  const WatchdogRun run = run_with_missing_ranks(comms, [](Communicator& c, int r) {
    std::vector<float> v(1000, static_cast<float>(r));
    for (int i = 0; i < 20; ++i) {
      c.all_reduce(v.data(), v.data(), v.size(), DType::f32, ReduceOp::avg);
      c.barrier();
    }
    if (v[0] != 1.0f) throw std::runtime_error("wrong average");
  });
  for (const std::string& e : run.errors) EXPECT_EQ(e, "");
}

TEST(Communicator, RejectsBadArguments) {
  run_ranks(2, [](Communicator& c, int) {
    float v = 0;
    EXPECT_THROW(c.broadcast(&v, 1, DType::f32, 5), ConfigError);
    EXPECT_THROW(c.send(&v, 1, DType::f32, -1), ConfigError);
    const std::size_t counts[] = {1};
    EXPECT_THROW(c.all_gather_v(&v, &v, counts, DType::f32), ConfigError);
    EXPECT_THROW(c.all_to_all_v(&v, counts, &v, counts, DType::f32), ConfigError);
    const std::size_t one_each[] = {1, 1};
    EXPECT_THROW(c.all_to_all_v(nullptr, one_each, &v, one_each, DType::f32), ConfigError);
  });
  EXPECT_THROW(make_shared_memory_world(0), ConfigError);
}

}  // namespace
}  // namespace llmt
