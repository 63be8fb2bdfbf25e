// The regression gate end to end: `bench` on the CPU backend, with and without a hidden 20%
// per-iteration delay, then `compare`. Runs alone (RUN_SERIAL), since it times things.
#include <gtest/gtest.h>

#include "run_binary.hpp"
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;

using llmt::testing::Outcome;
Outcome run(const std::string& args) { return llmt::testing::run_binary(args); }
std::string temp(const std::string& name) { return llmt::testing::temp_path("llmt_gate", name).string(); }

// Two GPT-2-shaped layers on one rank: about 0.15 s per iteration here, long enough for the
// scheduler's noise to be small against it.
const std::string kSweep = "bench --model gpt2 --layers 2 --gpus 1 --strategy tp --batch 2 --prompt 32 --gen 4 "
                           "--warmup 2 --iterations 8 --quiet";

// The machine's speed drifts between runs, so each side is three runs, taken in turn with the
// other sides' runs and pooled by compare (as docs/ci.md recommends).
TEST(Gate, AnInjectedSlowdownIsFlaggedAndIdenticalRunsAreNot) {
  std::string a, b, slow;
  for (int k = 1; k <= 3; ++k) {
    auto file = [k](std::string stem) { return temp(stem.append(std::to_string(k)).append(".json")); };
    const std::string ak = file("a"), bk = file("b"), sk = file("slow");
    ASSERT_EQ(run(kSweep + " --json " + ak).status, 0);
    ASSERT_EQ(run(kSweep + " --json " + bk).status, 0);
    ASSERT_EQ(run(kSweep + " --inject-delay 20% --json " + sk).status, 0);
    for (auto* side : {&a, &b, &slow})
      if (k > 1) side->push_back(',');
    a.append(ak);
    b.append(bk);
    slow.append(sk);
  }

  // 10%: half the injected slowdown.
  const Outcome same = run("compare " + a + " " + b + " --threshold 10%");
  EXPECT_EQ(same.status, 0) << same.output;
  EXPECT_EQ(same.output.find("regression "), std::string::npos) << same.output;
  EXPECT_NE(same.output.find("pooled from 3 base and 3 new"), std::string::npos) << same.output;

  // The gate fails the run, and says which metric: the slowdown lands in the whole iteration and
  // its last decode step, so end-to-end latency, time per token or throughput must show it.
  const Outcome flagged = run("compare " + a + " " + slow + " --threshold 10%");
  EXPECT_EQ(flagged.status, 1) << flagged.output;
  bool named = false;
  for (const char* metric : {"latency.median", "tpot.median", "throughput"}) {
    const auto at = flagged.output.find(std::string(metric) + " ");
    if (at == std::string::npos) continue;
    const std::string line = flagged.output.substr(at, flagged.output.find('\n', at) - at);
    named |= line.find("regression") != std::string::npos;
  }
  EXPECT_TRUE(named) << flagged.output;

  const Outcome markdown = run("compare " + a + " " + slow + " --threshold 10% --format markdown");
  EXPECT_EQ(markdown.status, 1);
  EXPECT_NE(markdown.output.find("**regression**"), std::string::npos) << markdown.output;
}

TEST(Gate, UnusableInputExitsWithTwo) {
  const std::string good = temp("good.json"), bad = temp("bad.json");
  ASSERT_EQ(run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -n 3 -q --json " + good).status,
            0);
  std::FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs("{\"schema_version\": 1, \"configurations\": [", f);
  std::fclose(f);
  Outcome o = run("compare " + good + " " + bad);
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("bad.json: not valid JSON"), std::string::npos) << o.output;
  o = run("compare " + good + " /nonexistent.json");
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("/nonexistent.json: cannot open"), std::string::npos) << o.output;
  o = run("compare " + good + ",/nonexistent.json " + good);  // one bad file among pooled runs
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("/nonexistent.json: cannot open"), std::string::npos) << o.output;
  o = run("compare " + good + "," + good + " " + good);  // a file twice would count its samples twice
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("given twice"), std::string::npos) << o.output;
  o = run("compare , " + good);
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("names no results file"), std::string::npos) << o.output;
  o = run("compare " + good + " " + good + " --threshold fast");
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(run("compare " + good + " " + good).status, 0);
}

TEST(Gate, ReportsRenderARunAndAComparison) {
  const std::string a = temp("r.json"), html = temp("r.html"), cmp = temp("cmp.html");
  ASSERT_EQ(run("bench --model tiny --gpus 1,2,4 --strategy tp,dp,pp --batch 4 --prompt 4 --gen 2 -n 3 -q --json " + a)
                .status,
            0);
  ASSERT_EQ(run("report " + a + " -o " + html).status, 0);
  EXPECT_EQ(std::system(("xmllint --noout " + html).c_str()), 0);
  ASSERT_EQ(run("report --compare " + a + " " + a + " -o " + cmp).status, 0);
  EXPECT_EQ(std::system(("xmllint --noout " + cmp).c_str()), 0);
}

}  // namespace
