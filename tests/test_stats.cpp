// The shared statistics.
#include <gtest/gtest.h>

#include "engine/metrics.hpp"
#include "engine/stats.hpp"

namespace llmt {
namespace {

TEST(Stats, SummaryOfKnownSamples) {
  const std::vector<double> s = {5, 1, 4, 2, 3};
  const Summary m = summarize(s);
  EXPECT_EQ(m.n, 5u);
  EXPECT_DOUBLE_EQ(m.min, 1);
  EXPECT_DOUBLE_EQ(m.max, 5);
  EXPECT_DOUBLE_EQ(m.median, 3);
  EXPECT_DOUBLE_EQ(m.mean, 3);
  EXPECT_DOUBLE_EQ(m.p90, 4.6);  // linear interpolation: 4 + 0.6 * (5 - 4)
  EXPECT_NEAR(m.stddev, 1.5811388300841898, 1e-12);
}

TEST(Stats, EvenCountMedianAndEdgeCases) {
  EXPECT_DOUBLE_EQ(summarize(std::vector<double>{4, 1, 3, 2}).median, 2.5);
  const Summary one = summarize(std::vector<double>{7});
  EXPECT_EQ(one.stddev, 0);
  EXPECT_EQ(one.p99, 7);
  EXPECT_EQ(summarize(std::vector<double>{}).n, 0u);
}

TEST(Stats, LoadImbalance) {
  EXPECT_DOUBLE_EQ(load_imbalance({10, 10, 10}), 0.0);
  EXPECT_DOUBLE_EQ(load_imbalance({10, 20}), 20.0 / 15.0 - 1.0);
  EXPECT_DOUBLE_EQ(load_imbalance({5}), 0.0);
}

}  // namespace
}  // namespace llmt
