// The metrics of docs/metrics.md on real runs of the CPU backend, checked against values known
// by construction (bytes from the model's shape, relations that hold at any speed).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/backends.hpp"
#include "engine/metrics.hpp"
#include "engine/runner.hpp"
#include "model/model.hpp"
#include "quick_options.hpp"

namespace llmt {
namespace {

using testing::quick_options;

ConfigResult run_ok(const ModelConfig& model, const ConfigPoint& point, const RunOptions& opts = quick_options()) {
  ConfigResult r = run_configuration(model, point, opts, nullptr);
  EXPECT_EQ(r.status, ConfigStatus::ok) << r.reason;
  return r;
}

const CommSummary* find_comm(const ConfigResult& r, const std::string& op, const std::string& group) {
  for (const CommSummary& c : r.metrics.comm)
    if (c.op == op && c.group == group) return &c;
  return nullptr;
}

// ---- parameter-server bytes as moved ----------------------------------------------------

// tp4 with a parameter server: every reduction of S bytes (the embedding's and two per layer;
// the concat merge gathers instead) sends S from each rank to the root, which receives (n-1) S,
// and back. S is rows x hidden x 4 bytes: batch x prompt rows in prefill, batch in each decode step.
TEST(ParamServerBytes, TheRootMovesNMinusOneTimesWhatEachOtherRankMoves) {
  const ModelConfig model = load_model("tiny");
  const Workload w{2, 4, 3};
  const int n = 4;
  const ConfigResult r = run_ok(model, ConfigPoint{"tp", Layout{n, 1, 1}, SyncMode::param_server, MergeMode::concat, w});
  const double reductions = 1 + 2 * model.layers;
  const double prefill_s = static_cast<double>(w.batch) * w.prompt * model.hidden * sizeof(float);
  const double decode_s = static_cast<double>(w.batch) * model.hidden * sizeof(float);
  const double per_rank = reductions * (prefill_s + w.decode_steps() * decode_s);  // S summed over a rank's calls
  for (const char* op : {"reduce", "broadcast"}) {
    const CommSummary* c = find_comm(r, op, "tp");
    ASSERT_NE(c, nullptr) << op;
    EXPECT_EQ(c->group_size, n);
    ASSERT_EQ(c->rank_bytes.size(), std::size_t(n)) << op;
    EXPECT_DOUBLE_EQ(c->rank_bytes[0], (n - 1) * per_rank) << op << ": the root";
    for (int k = 1; k < n; ++k) EXPECT_DOUBLE_EQ(c->rank_bytes[static_cast<std::size_t>(k)], per_rank) << op << " rank " << k;
    EXPECT_DOUBLE_EQ(c->bytes, 2 * (n - 1) * per_rank / n) << op << ": the mean over ranks";
  }
  const std::vector<double> by_rank = param_server_bytes_by_rank(r.metrics.comm);
  ASSERT_EQ(by_rank.size(), std::size_t(n));
  EXPECT_DOUBLE_EQ(by_rank[0], 2 * (n - 1) * per_rank);
  EXPECT_DOUBLE_EQ(by_rank[1], 2 * per_rank);

  // The same reductions blocking: an all-reduce of S counts S on every rank (nccl-tests' payload).
  const ConfigResult blocking = run_ok(model, ConfigPoint{"tp", Layout{n, 1, 1}, SyncMode::blocking, MergeMode::concat, w});
  const CommSummary* ar = find_comm(blocking, "all_reduce", "tp");
  ASSERT_NE(ar, nullptr);
  for (double b : ar->rank_bytes) EXPECT_DOUBLE_EQ(b, per_rank);
  EXPECT_TRUE(param_server_bytes_by_rank(blocking.metrics.comm).empty());
}

}  // namespace
}  // namespace llmt
