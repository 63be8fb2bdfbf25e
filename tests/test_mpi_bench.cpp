// `llmthreads bench` in process mode, end to end under mpiexec: every configuration verified
// against the one-rank reference, counts beyond the world skipped with a reason, and a process
// killed mid-sweep ending the run with an error naming it, a valid results file and --resume.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "reports/json_schema.hpp"
#include "run_binary.hpp"

namespace llmt {
namespace {

using testing::run_command;
using testing::temp_path;

std::string mpiexec(int processes) {
  return fmt::format("{} -n {} {} {}", LLMT_MPIEXEC, processes, LLMT_MPIEXEC_FLAGS, LLMT_BINARY);
}

// Small: seconds per configuration on two loaded cores.
const std::string kSweep = "bench --model gpt2 --layers 2 --prompt 8 --warmup 1 --ceilings none --quiet";

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(MpiBench, FourProcessesVerifyEveryConfigurationAndWriteOneReadableFile) {
  const auto json = temp_path("mpi_bench", "four.json");
  const auto out = run_command(mpiexec(4) + " " + kSweep + " --batch 4 --gen 3 --iterations 2 --gpus 1,2,4 --strategy all --json " + json.string() +
                               " 2>&1");
  ASSERT_EQ(out.status, 0) << out.output;
  const nlohmann::json doc = read_json(json);
  EXPECT_EQ(doc["run"]["launch"]["world_size"], 4);
  EXPECT_EQ(doc["run"]["launch"]["mode"], "processes");
  int ok = 0;
  std::set<int> ranks_run;
  for (const auto& c : doc["configurations"]) {
    if (c["status"] == "skipped") continue;
    ASSERT_EQ(c["status"], "ok") << c.dump();
    EXPECT_TRUE(c["verification"]["passed"].get<bool>()) << c["id"];
    ranks_run.insert(c["ranks"].get<int>());
    ++ok;
    // One memory pool per process, each measured by that process (its RSS high-water mark) and
    // named by its host and rank; allocated is its rank's own, which equals the prediction.
    const nlohmann::json& pools = c["metrics"]["memory_pools"];
    const nlohmann::json& memory = c["metrics"]["memory"];
    ASSERT_EQ(pools.size(), c["ranks"].get<std::size_t>()) << c["id"] << ": " << pools.dump();
    for (std::size_t r = 0; r < pools.size(); ++r) {
      const nlohmann::json& p = pools[r];
      EXPECT_EQ(p["ranks"], nlohmann::json::array({r})) << c["id"];
      const std::string name = p["pool"].get<std::string>();
      EXPECT_TRUE(name.size() > 7 && name.ends_with(fmt::format(" rank {}", r))) << c["id"] << ": " << name;
      EXPECT_EQ(p["allocated_bytes"], memory[r]["predicted"]["total"]) << c["id"] << " rank " << r;
      EXPECT_GT(p["measured_peak_bytes"].get<long long>(), 0) << c["id"] << " rank " << r;
      EXPECT_TRUE(p["measured_by"].get<std::string>().starts_with("process_rss_hwm_since_")) << p.dump();
    }
  }
  EXPECT_GE(ok, 8) << "tp, dp, pp and hybrid on 1, 2 and 4 processes";
  EXPECT_EQ(ranks_run, (std::set<int>{1, 2, 4}));
  EXPECT_NO_THROW(read_results_file(json.string()));
  // Read and judged; 2 iterations a side cannot flag anything, which the gate says (exit 2).
  const auto compared = testing::run_binary("compare " + json.string() + " " + json.string());
  EXPECT_EQ(compared.status, 2) << compared.output;
  EXPECT_NE(compared.output.find("cannot detect a regression with n=2 per side"), std::string::npos) << compared.output;
  const auto html = temp_path("mpi_bench", "four.html");
  const auto reported = testing::run_binary("report " + json.string() + " -o " + html.string());
  EXPECT_EQ(reported.status, 0) << reported.output;
  EXPECT_TRUE(std::filesystem::exists(html));
}

// Expert parallelism across processes: tp1.ep4 (its EP group the whole world) and tp2.ep2 (EP
// groups of every other process) exchange tokens by all-to-all and by all-gather, a shared expert
// and a dense layer among them, and verify.
TEST(MpiBench, ExpertParallelExchangesTokensAcrossProcesses) {
  const auto json = temp_path("mpi_bench", "ep.json");
  const std::string model = std::string(LLMT_TEST_DATA) + "/tiny-qwen2-moe.json";
  const auto out = run_command(mpiexec(4) + " bench --model " + model + " --gpus 4 --strategy ep --dispatch all "
                               "--batch 4 --prompt 6 --gen 3 --iterations 2 --warmup 1 --ceilings none --quiet --json " +
                               json.string() + " 2>&1");
  ASSERT_EQ(out.status, 0) << out.output;
  int ok = 0;
  const nlohmann::json doc = read_json(json);
  for (const auto& c : doc["configurations"]) {
    ASSERT_EQ(c["status"], "ok") << c.dump();
    EXPECT_TRUE(c["verification"]["passed"].get<bool>()) << c["id"];
    EXPECT_GT(c["metrics"]["moe"]["exchange_bytes_per_iteration"].get<double>(), 0.0) << c["id"];
    ++ok;
  }
  EXPECT_EQ(ok, 4) << "tp1.ep4 and tp2.ep2, each in both dispatch modes";
}

// Messages between processes go in pieces (MPI counts are int: a rank message over 2 GiB would
// overflow one). With pieces of 256 bytes every rank message (its logits, phases and samples) and
// every broadcast of the plan is many pieces; the configurations still verify, so each arrived
// whole and in order.
TEST(MpiBench, MessagesTravelInPiecesAndReassemble) {
  const auto json = temp_path("mpi_bench", "pieces.json");
  const auto out = run_command("LLMT_MPI_PIECE_BYTES=256 " + mpiexec(2) + " " + kSweep +
                               " --batch 2 --gen 3 --iterations 2 --gpus 1,2 --strategy tp,pp --json " + json.string() +
                               " 2>&1");
  ASSERT_EQ(out.status, 0) << out.output;
  int ok = 0;
  const nlohmann::json doc = read_json(json);
  for (const auto& c : doc["configurations"]) {
    if (c["status"] == "skipped") continue;  // pp on one rank
    ASSERT_EQ(c["status"], "ok") << c.dump();
    EXPECT_TRUE(c["verification"]["passed"].get<bool>()) << c["id"];
    EXPECT_EQ(c["samples"]["per_rank"]["busy_ms"].size(), c["ranks"].get<std::size_t>()) << "every rank's samples";
    ++ok;
  }
  EXPECT_EQ(ok, 3) << "tp1, tp2, pp2";
}

TEST(MpiBench, CountsBeyondTheWorldAreSkippedWithAReason) {
  const auto json = temp_path("mpi_bench", "two.json");
  const auto out = run_command(mpiexec(2) + " " + kSweep + " --batch 4 --gen 3 --iterations 2 --gpus 1,2,4 --strategy tp --json " + json.string() +
                               " 2>&1");
  ASSERT_EQ(out.status, 0) << out.output;
  int skipped_for_world = 0, ok = 0;
  const nlohmann::json doc = read_json(json);
  for (const auto& c : doc["configurations"]) {
    if (c["ranks"] == 4) {
      EXPECT_EQ(c["status"], "skipped");
      EXPECT_EQ(c["reason"].get<std::string>().rfind("needs 4 processes, the MPI world has 2", 0), 0u) << c["reason"];
      ++skipped_for_world;
    } else {
      EXPECT_EQ(c["status"], "ok") << c.dump();
      ok += c["status"] == "ok";
    }
  }
  EXPECT_EQ(skipped_for_world, 1);
  EXPECT_EQ(ok, 2);
}

// The process of MPI rank `rank` started with `marker` in its environment, or 0.
pid_t find_rank_process(const std::string& marker, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    const std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (env.find(marker) != std::string::npos && env.find(std::string(1, '\0') + want + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

bool has_configurations(const std::filesystem::path& json, std::size_t n) {
  try {
    return read_json(json)["configurations"].size() >= n;
  } catch (...) {
    return false;  // not written yet
  }
}

TEST(MpiBench, AKilledProcessEndsTheRunNamingItAndTheFileStaysResumable) {
  if (std::string(LLMT_MPIEXEC_FLAGS).find("--oversubscribe") == std::string::npos)
    GTEST_SKIP() << "needs Open MPI's mpiexec (--enable-recovery keeps the job alive after a process dies)";
  const auto json = temp_path("mpi_bench", "killed.json"), log = temp_path("mpi_bench", "killed.log");
  const auto status = temp_path("mpi_bench", "killed.status");
  std::filesystem::remove(json);
  std::filesystem::remove(status);
  const std::string marker = fmt::format("LLMT_KILL_TEST={}", ::getpid());
  // Without --enable-recovery mpiexec itself would end every process at once.
  const std::string sweep = kSweep + " --gpus 1,3 --strategy tp,dp --batch 3 --gen 8 --iterations 10 "
                                     "--collective-timeout 5 --json " + json.string();
  run_command(fmt::format("({} {} -n 3 --enable-recovery {} {} {} > {} 2>&1; echo $? > {}) > /dev/null 2>&1 &", marker, LLMT_MPIEXEC,
                          LLMT_MPIEXEC_FLAGS, LLMT_BINARY, sweep, log.string(), status.string()));
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  // Mid-sweep: once the one-rank configuration is on disk, rank 1 is running a 3-rank one.
  while (!has_configurations(json, 2) && elapsed() < 240) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t victim = find_rank_process(marker, 1);
  ASSERT_GT(victim, 0) << "the process of rank 1 was not found";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const double killed_at = elapsed();
  while (!std::filesystem::exists(status) && elapsed() < killed_at + 120)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!std::filesystem::exists(status)) run_command("pkill -KILL -f " + json.string() + " >/dev/null 2>&1");  // no leftovers
  ASSERT_TRUE(std::filesystem::exists(status)) << "the run did not end within 120 s of the kill";
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Rank 0's error names the lost rank: lost from a configuration, or missing at the next one.
  const auto error = output.find("llmthreads: error: ");
  ASSERT_NE(error, std::string::npos) << output;
  const std::string line = output.substr(error, output.find('\n', error) - error);
  EXPECT_TRUE(std::regex_search(line, std::regex(R"(rank(\(s\))? 1\b)"))) << line;
  EXPECT_NE(line.find("continue with --resume"), std::string::npos) << line;
  // The file on disk is valid, records the failure, and --resume finishes the sweep.
  ASSERT_NO_THROW(read_results_file(json.string()));
  const nlohmann::json doc = read_json(json);
  std::string failures;
  for (const auto& c : doc["configurations"])
    if (c["status"] == "failed") failures += c["reason"].get<std::string>() + "\n";
  EXPECT_TRUE(std::regex_search(failures, std::regex(R"(rank(\(s\))? 1\b)"))) << "failed: " << failures;
  const auto resumed = run_command(mpiexec(3) + " " + sweep + " --resume " + json.string() + " 2>&1");
  EXPECT_TRUE(resumed.status == 0 || resumed.status == 1) << resumed.output;  // 1: the carried failure
  EXPECT_NE(resumed.output.find("kept from"), std::string::npos) << resumed.output;
  const nlohmann::json final_doc = read_json(json);
  EXPECT_GT(final_doc["configurations"].size(), doc["configurations"].size()) << "the resumed run ran the rest";
  EXPECT_FALSE(final_doc["summary"].value("interrupted", false)) << "the resumed run completed the sweep";
}

}  // namespace
}  // namespace llmt
