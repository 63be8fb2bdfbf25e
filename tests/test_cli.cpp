// The binary end to end: run it, parse its JSON and CSV, check exit statuses and messages.
#include <gtest/gtest.h>

#include "run_binary.hpp"
#include "safetensors_file.hpp"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using llmt::testing::Outcome;
Outcome run(const std::string& args) { return llmt::testing::run_binary(args); }
fs::path temp_path(const std::string& name) { return llmt::testing::temp_path("llmt_cli", name); }

// Splits one CSV line (RFC 4180 quoting).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

void expect_summary(const json& s, const std::string& what) {
  for (const char* k : {"n", "min", "median", "mean", "p90", "p99", "max", "stddev"})
    EXPECT_TRUE(s.contains(k)) << what << " lacks " << k;
  EXPECT_LE(s["min"].get<double>(), s["median"].get<double>()) << what;
  EXPECT_LE(s["median"].get<double>(), s["max"].get<double>()) << what;
}

TEST(Cli, BenchWritesEveryMetricToJsonAndCsv) {
  const auto json_path = temp_path("r.json"), csv_path = temp_path("r.csv");
  const Outcome o = run("bench --model tiny --gpus 1,2,4 --strategy tp,dp --batch 4 --prompt 8 --gen 3 "
                        "--iterations 3 --json " + json_path.string() + " --csv " + csv_path.string());
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("pass"), std::string::npos) << o.output;

  std::ifstream in(json_path);
  const json doc = json::parse(in);
  EXPECT_EQ(doc["schema_version"], 3);
  const json& run_meta = doc["run"];
  for (const char* k : {"version", "git_commit", "timestamp", "command_line", "backend", "device", "blas", "host",
                        "cpu_model", "logical_cpus", "max_ranks", "model", "warnings"})
    EXPECT_TRUE(run_meta.contains(k)) << "run lacks " << k;
  EXPECT_EQ(run_meta["backend"], "cpu");
  EXPECT_EQ(run_meta["model"]["name"], "tiny");
  EXPECT_NE(run_meta["command_line"].get<std::string>().find("--gpus 1,2,4"), std::string::npos);

  const json& configs = doc["configurations"];
  ASSERT_EQ(configs.size(), 6u);  // {tp, dp} x {1, 2, 4}
  int ok = 0;
  for (const json& c : configs) {
    if (c["status"] == "skipped") {
      EXPECT_FALSE(c["reason"].get<std::string>().empty());
      continue;
    }
    ASSERT_EQ(c["status"], "ok") << c["reason"];
    ++ok;
    const json& m = c["metrics"];
    expect_summary(m["latency"]["e2e_ms"], "e2e");
    expect_summary(m["latency"]["ttft_ms"], "ttft");
    expect_summary(m["latency"]["decode_step_ms"], "decode step");
    EXPECT_EQ(m["latency"]["e2e_ms"]["n"], 3);
    EXPECT_EQ(m["latency"]["decode_step_ms"]["n"], 6);
    for (const char* k : {"output_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s"})
      EXPECT_GT(m["throughput"][k].get<double>(), 0) << k;
    for (const char* k : {"exposed_ms", "total_ms", "fraction", "bytes_per_iteration", "collectives"})
      EXPECT_TRUE(m["sync"].contains(k)) << k;
    const int ranks = c["ranks"];
    if (ranks > 1) {
      ASSERT_FALSE(m["sync"]["collectives"].empty());
      for (const json& coll : m["sync"]["collectives"]) {
        EXPECT_FALSE(coll.contains("busbw_gbps")) << "no bandwidth from times that include waiting";
        EXPECT_GT(coll["bytes"].get<double>(), 0);
      }
      ASSERT_FALSE(m["sync"]["bus_bandwidth"].empty());
      for (const json& b : m["sync"]["bus_bandwidth"]) {
        EXPECT_GT(b["busbw_gbps"].get<double>(), 0);
        EXPECT_GT(b["message_bytes"].get<double>(), 0);
      }
    }
    ASSERT_EQ(m["memory"].size(), static_cast<std::size_t>(ranks));
    for (const json& mem : m["memory"]) {
      for (const char* k : {"weights", "kv_cache", "activations", "total"}) EXPECT_GT(mem["predicted"][k], 0) << k;
      for (const char* k : {"weights", "kv_cache", "activations_peak", "peak_total"})
        EXPECT_GT(mem["allocated"][k], 0) << k;
    }
    EXPECT_EQ(m["load_balance"]["busy_ms"].size(), static_cast<std::size_t>(ranks));
    EXPECT_GE(m["load_balance"]["imbalance"].get<double>(), 0);
    EXPECT_FALSE(m["phases"].empty());
    EXPECT_TRUE(c["verification"]["checked"]);
    EXPECT_TRUE(c["verification"]["passed"]);
    EXPECT_EQ(c["samples"]["e2e_ms"].size(), 3u);
    EXPECT_EQ(c["samples"]["per_rank"]["busy_ms"].size(), static_cast<std::size_t>(ranks));
  }
  EXPECT_EQ(ok, 5);

  std::ifstream csv(csv_path);
  std::string line;
  std::getline(csv, line);
  const auto header = csv_fields(line);
  EXPECT_EQ(header.front(), "id");
  int rows = 0;
  while (std::getline(csv, line)) {
    const auto fields = csv_fields(line);
    EXPECT_EQ(fields.size(), header.size()) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 6);

  // The ranking: the best verified configuration per rank count, against the one-rank run.
  const json& summary = doc["summary"];
  EXPECT_TRUE(summary["complete"]);
  EXPECT_FALSE(summary["interrupted"]);
  EXPECT_EQ(summary["objective"], "latency");
  ASSERT_EQ(summary["ranking"].size(), 3u);
  for (const json& row : summary["ranking"]) {
    EXPECT_GT(row["speedup"].get<double>(), 0);
    EXPECT_NEAR(row["efficiency"].get<double>(), row["speedup"].get<double>() / row["ranks"].get<int>(), 1e-9);
  }
  EXPECT_DOUBLE_EQ(summary["ranking"][0]["speedup"].get<double>(), 1.0);
  EXPECT_NE(o.output.find("best by latency"), std::string::npos) << o.output;
}

// The column of `header_name` in the console table: where the name ends in the header line.
std::size_t console_column_end(const std::string& output, const std::string& header_name) {
  // In the header line, not the legend above it (which names the columns too).
  const std::size_t header = output.find("\nconfiguration ");
  const std::size_t at = output.find(header_name, header == std::string::npos ? 0 : header);
  if (at == std::string::npos) return std::string::npos;
  const std::size_t line_start = output.rfind('\n', at) + 1;  // npos + 1 = 0 on the first line
  return at - line_start + header_name.size();
}

// The console lines of configurations that ran (they start with the strategy and grid).
std::vector<std::string> console_rows(const std::string& output, const std::string& prefix) {
  std::vector<std::string> rows;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) rows.push_back(line);
  return rows;
}

double csv_number(const std::vector<std::string>& header, const std::vector<std::string>& row, const std::string& c) {
  for (std::size_t i = 0; i < header.size() && i < row.size(); ++i)
    if (header[i] == c) return row[i].empty() ? -1.0 : std::stod(row[i]);
  ADD_FAILURE() << "no CSV column " << c;
  return -1.0;
}

// Speed of light on the CPU backend: measured ceilings, floors and their shares in the console,
// JSON and CSV. Values are checked for consistency, never against a speed.
TEST(Cli, BenchReportsSpeedOfLightFloors) {
  const auto json_path = temp_path("sol.json"), csv_path = temp_path("sol.csv");
  const Outcome o = run("bench --model tiny --gpus 1,2 --strategy tp --batch 2 --prompt 8 --gen 3 -n 2 --json " +
                        json_path.string() + " --csv " + csv_path.string());
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_TRUE(o.output.find("ceilings: read ") != std::string::npos ||
              o.output.find("ceilings: copy ") != std::string::npos)
      << o.output;
  const std::size_t floor_end = console_column_end(o.output, "%floor");
  ASSERT_NE(floor_end, std::string::npos) << o.output;
  const auto rows = console_rows(o.output, "tp tp");
  ASSERT_EQ(rows.size(), 2u) << o.output;
  for (const std::string& row : rows) {
    ASSERT_GE(row.size(), floor_end) << row;
    // "!" after it marks a phase measured below its floor (a loaded machine can measure low ceilings).
    const bool marked = row[floor_end - 1] == '!';
    EXPECT_EQ(row[floor_end - (marked ? 2 : 1)], '%') << "a percentage under %floor: " << row;
  }

  std::ifstream in(json_path);
  const json doc = json::parse(in);
  const json& ceilings = doc["run"]["ceilings"];
  EXPECT_EQ(ceilings["source"], "measured");
  EXPECT_EQ(ceilings["dtype"], "fp32");
  EXPECT_GT(ceilings["bandwidth_gbps"].get<double>(), 0);
  EXPECT_GT(ceilings["gemm_tflops"].get<double>(), 0);
  EXPECT_EQ(doc["run"]["attention"], "auto");

  std::ifstream csv(csv_path);
  std::string line;
  std::getline(csv, line);
  const auto header = csv_fields(line);
  for (const json& c : doc["configurations"]) {
    ASSERT_EQ(c["status"], "ok") << c["reason"];
    const json& f = c["metrics"]["floor"];
    ASSERT_TRUE(f.is_object()) << c["id"];
    const double ttft = f["ttft_ms"], step = f["decode_step_ms"], e2e = f["e2e_ms"];
    EXPECT_GT(ttft, 0);
    EXPECT_GT(step, 0);
    EXPECT_GE(e2e, ttft);
    EXPECT_LE(e2e, (ttft + 2 * step) * (1 + 1e-9)) << "two decode steps; max of sums <= sum of maxima";
    const double median = c["metrics"]["latency"]["e2e_ms"]["median"];
    EXPECT_NEAR(f["e2e_of_floor"].get<double>(), e2e / median, 1e-9 * e2e / median);
    bool gemm_has_work = false;
    for (const json& ph : c["metrics"]["phases"]) {
      EXPECT_TRUE(ph.contains("timing")) << ph["path"];
      if (ph["path"] == "prefill/layer.0/attn/qkv")
        gemm_has_work = ph["work"]["flops"].get<double>() > 0 && ph["work"]["floor_ms"].get<double>() > 0;
    }
    EXPECT_TRUE(gemm_has_work) << c["id"];
    ASSERT_EQ(c["attention"].size(), 2u);
    EXPECT_EQ(c["attention"][0]["pass"], "prefill");

    ASSERT_TRUE(std::getline(csv, line));
    const auto row = csv_fields(line);
    ASSERT_EQ(row.size(), header.size());
    EXPECT_NEAR(csv_number(header, row, "e2e_floor_ms"), e2e, 1e-5 * e2e);
    EXPECT_NEAR(csv_number(header, row, "ttft_floor_ms"), ttft, 1e-5 * ttft);
    EXPECT_NEAR(csv_number(header, row, "decode_step_floor_ms"), step, 1e-5 * step);
    EXPECT_NEAR(csv_number(header, row, "e2e_of_floor"), f["e2e_of_floor"].get<double>(),
                1e-5 * f["e2e_of_floor"].get<double>());
    const auto attention_column = std::find(header.begin(), header.end(), "attention") - header.begin();
    EXPECT_EQ(row[static_cast<std::size_t>(attention_column)], c["attention"][0]["pass"].get<std::string>() + ":" +
                              c["attention"][0]["kernel"].get<std::string>() + " decode:" +
                              c["attention"][1]["kernel"].get<std::string>());
  }
}

// A hardware profile's datasheet figures (fp32 on the CPU backend), and no floors at all.
TEST(Cli, CeilingsFromAProfileOrNone) {
  const std::string sweep = "bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -n 1 --json ";
  const auto profiled = temp_path("profiled.json"), none = temp_path("none.json");
  const Outcome p = run(sweep + profiled.string() + " --ceilings h100-sxm-80gb");
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_NE(p.output.find("profile:h100-sxm-80gb"), std::string::npos) << p.output;
  std::ifstream pin(profiled);
  const json pdoc = json::parse(pin);
  EXPECT_EQ(pdoc["run"]["ceilings"]["source"], "profile:h100-sxm-80gb");
  EXPECT_DOUBLE_EQ(pdoc["run"]["ceilings"]["bandwidth_gbps"].get<double>(), 3350);
  EXPECT_DOUBLE_EQ(pdoc["run"]["ceilings"]["gemm_tflops"].get<double>(), 67) << "the run's dtype, fp32";
  EXPECT_GT(pdoc["configurations"][0]["metrics"]["floor"]["e2e_of_floor"].get<double>(), 0);

  const Outcome n = run(sweep + none.string() + " --ceilings none");
  ASSERT_EQ(n.status, 0) << n.output;
  std::ifstream nin(none);
  const json ndoc = json::parse(nin);
  EXPECT_TRUE(ndoc["run"]["ceilings"].is_null());
  EXPECT_TRUE(ndoc["configurations"][0]["metrics"]["floor"].is_null());
  const std::size_t floor_end = console_column_end(n.output, "%floor");
  const auto rows = console_rows(n.output, "tp tp");
  ASSERT_EQ(rows.size(), 1u) << n.output;
  EXPECT_EQ(rows[0].substr(floor_end - 6, 6), "     -") << n.output;
}

TEST(Cli, ModelFileErrorsNameFileAndField) {
  const auto bad = temp_path("bad_config.json");
  std::ofstream(bad) << R"({"model_type": "llama", "hidden_size": 100, "intermediate_size": 8,
    "num_attention_heads": 3, "num_hidden_layers": 1, "vocab_size": 10, "max_position_embeddings": 8})";
  const Outcome o = run("bench --model " + bad.string() + " --gpus 1");
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("bad_config.json"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("num_attention_heads"), std::string::npos) << o.output;
}

TEST(Cli, BadOptionsAreClearErrors) {
  struct Case {
    std::string args, says;
  };
  for (const Case& c : std::vector<Case>{{"bench --model tiny --strategy warp", "unknown strategy 'warp'"},
                                         {"bench --model tiny --gpus 2,x", "'x' is not a positive integer"},
                                         {"bench --model tiny --dtype bf16 --backend cpu", "fp32 only"},
                                         {"bench --model tiny --sync sometimes", "unknown mode 'sometimes'"},
                                         {"bench --model tiny --layers 9", "tiny has 4 layers"},
                                         {"bench --model nosuchmodel", "unknown model 'nosuchmodel'"},
                                         {"bench --model tiny --backend tpu", "unknown backend"},
                                         {"bench --model tiny --backend cpu --attention cudnn",
                                          "cuDNN attention needs the CUDA backend"},
                                         {"bench --model tiny --attention fast", "unknown attention kernel"},
                                         {"bench --model tiny --ceilings nosuch-gpu",
                                          "unknown hardware profile 'nosuch-gpu'"}}) {
    const Outcome o = run(c.args);
    EXPECT_EQ(o.status, 2) << c.args << "\n" << o.output;
    EXPECT_NE(o.output.find(c.says), std::string::npos) << c.args << "\n" << o.output;
  }
  EXPECT_NE(run("frobnicate").status, 0);
}

TEST(Cli, ImpossibleConfigurationsAreListedNotDropped) {
  const auto json_path = temp_path("moe.json");
  const Outcome o = run("bench --model tiny --gpus 1,2 --strategy ep --batch 2 --prompt 4 --gen 2 --json " +
                        json_path.string());
  // Nothing could run: that is not a pass (status 2, said so), and the skips are still recorded.
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("nothing could run: all 2 configuration(s) were skipped"), std::string::npos) << o.output;
  std::ifstream in(json_path);
  const json doc = json::parse(in);
  ASSERT_EQ(doc["configurations"].size(), 2u);
  for (const json& c : doc["configurations"]) {
    EXPECT_EQ(c["status"], "skipped");
    EXPECT_NE(c["reason"].get<std::string>().find("ep splits the experts of MoE layers: tiny has none"), std::string::npos);
  }
}

TEST(Cli, ReportedCasesOfIssue13GiveClearErrorsWithStatus2) {
  struct Case {
    std::string args, says;
  };
  for (const Case& c : std::vector<Case>{
           {"bench --model tiny --layers -1 --dry-run", "--layers: -1 is out of range"},
           {"bench --model tiny --seed -1 --dry-run", "--seed: '-1' is not an integer from 0 to 18446744073709551615"},
           {"bench --model tiny --gpus 100000 --strategy dp --merge mean --batch 1 --prompt 4 --gen 2",
            "--gpus: 100000 exceeds the most allowed (4096)"},
           {"bench --no-such-flag", "--no-such-flag"},
           {"bench --model tiny --iterations lots", "--iterations"},
           {"bench --model tiny --gpus 3 --strategy tp --batch 1 --prompt 4 --gen 2 --dry-run", "nothing could run"}}) {
    const Outcome o = run(c.args);
    EXPECT_EQ(o.status, 2) << c.args << "\n" << o.output;
    EXPECT_NE(o.output.find(c.says), std::string::npos) << c.args << "\n" << o.output;
  }
}

TEST(Cli, JsonIntoADirectoryIsRefusedBeforeAnyWork) {
  const auto dir = temp_path("json_dir");
  fs::create_directories(dir);
  const Outcome o = run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 "
                        "--ceilings none --json " + dir.string());
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("is a directory"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("configuration "), std::string::npos) << "nothing may run:\n" << o.output;
  EXPECT_FALSE(fs::exists(dir.string() + ".tmp"));
}

TEST(Cli, AHundredThousandLayersPlanAtOnce) {
  // The layer partitioner used to be O(p n^2) per rank: this plan hung. The ctest timeout, not a
  // clock, is the bound; the assertions are on the plan.
  const auto cfg = temp_path("deep.json");
  std::ofstream(cfg) << R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 200,
    "num_attention_heads": 8, "num_key_value_heads": 4, "num_hidden_layers": 100000, "vocab_size": 997,
    "max_position_embeddings": 512})";
  const Outcome o = run("bench --model " + cfg.string() + " --gpus 1,2,4,8,16 --strategy all --batch 16 --prompt 4 "
                        "--gen 2 --dry-run");
  EXPECT_NE(o.output.find("pp|tp1.pp16.dp1.mb16"), std::string::npos) << o.output;
  // Whether 100000 layers fit in memory is this host's business; the status must agree with the plan.
  EXPECT_EQ(o.status, o.output.find(" run\n") != std::string::npos ? 0 : 2) << o.output;
}

TEST(Cli, OneGeneratedTokenHasNoTimePerOutputToken) {
  const auto json_path = temp_path("gen1.json");
  const Outcome o = run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 1 --warmup 0 -n 1 "
                        "--ceilings none -q --json " + json_path.string());
  ASSERT_EQ(o.status, 0) << o.output;
  // The row: name, ranks, status, ttft, then tpot, which must be "-" rather than 0.000.
  const auto at = o.output.find("b1.p4.g1     ");
  ASSERT_NE(at, std::string::npos) << o.output;
  std::istringstream row(o.output.substr(at, o.output.find('\n', at) - at));
  std::string label, ranks, status, ttft, tpot;
  row >> label >> ranks >> status >> ttft >> tpot;
  EXPECT_EQ(status, "ok") << o.output;
  EXPECT_EQ(tpot, "-") << o.output;
  std::ifstream in(json_path);
  const json doc = json::parse(in);
  // JSON: no decode-step samples at all, so no claimed time per output token.
  EXPECT_EQ(doc["configurations"][0]["metrics"]["latency"]["decode_step_ms"]["n"], 0) << doc.dump(1);
}

TEST(Cli, CollectiveTimeoutIsAnOptionOfBenchAndProfile) {
  for (const char* command : {"bench", "profile"}) {
    const Outcome help = run(std::string(command) + " --help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--collective-timeout"), std::string::npos) << help.output;
    EXPECT_NE(help.output.find("0: wait forever"), std::string::npos) << help.output;
  }
  EXPECT_EQ(run("bench --model tiny --collective-timeout -5 --dry-run").status, 2);
  EXPECT_EQ(run("bench --model tiny --collective-timeout 0 --gpus 1 --strategy tp --dry-run").status, 0);
}

TEST(Cli, DryRunPlansWithoutRunning) {
  const Outcome o = run("bench --model llama-3-70b --gpus 1,3,8 --strategy tp,dp --batch 4 --dry-run");
  EXPECT_NE(o.output.find("tp|tp8.pp1.dp1"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("does not divide the 64 attention heads"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("exceeds the batch of 4"), std::string::npos) << o.output;
  // Whether a 70B configuration fits is this host's business; the status must agree with the plan.
  const bool any_runs = o.output.find(" run\n") != std::string::npos;
  EXPECT_EQ(o.status, any_runs ? 0 : 2) << o.output;
}

// A model no host can hold (about 34 TB in fp32): --dry-run refuses it as the run would, with
// the memory reason. Refusals are skips: exit 2 because nothing can run, no failure.
TEST(Cli, DryRunAppliesTheRunsMemoryAdmission) {
  const auto config = temp_path("huge_config.json");
  std::ofstream(config) << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16384,
    "intermediate_size": 65536, "num_attention_heads": 128, "num_key_value_heads": 8, "num_hidden_layers": 2000,
    "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "hidden_act": "silu", "tie_word_embeddings": false})";
  const Outcome planned = run("bench --model " + config.string() + " --backend cpu --gpus 1,2 --strategy tp "
                              "--batch 1 --prompt 4 --gen 2 --dry-run");
  EXPECT_EQ(planned.status, 2) << planned.output;
  EXPECT_NE(planned.output.find("insufficient host memory"), std::string::npos) << planned.output;
  EXPECT_EQ(planned.output.find(" run\n"), std::string::npos) << planned.output;
  const Outcome ran = run("bench --model " + config.string() + " --backend cpu --gpus 1 --strategy tp --batch 1 "
                          "--prompt 4 --gen 2");
  EXPECT_EQ(ran.status, 2) << ran.output;  // all skipped, none failed
  EXPECT_NE(ran.output.find("0 run (0 failed), 1 skipped"), std::string::npos) << ran.output;
}

// Planning for hardware that is not here: Llama-3-70B in bf16 on 80 GB H100s. One rank cannot
// hold it (skipped with the figures); tp2 and up fit and are verified by the streamed fp32
// reference (about 3.5 GiB on one device). Nothing is "failed" for the reference's size.
TEST(Cli, DryRunPlansForHardwareThatIsNotPresent) {
  const Outcome o = run("bench --model llama-3-70b --dry-run --hardware h100-sxm-80gb --dtype bf16 --gpus 1,2,4,8 "
                        "--strategy tp,pp,hybrid");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("one device of 79.65 GiB per rank, bf16"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("tp|tp1.pp1.dp1|blocking|concat|b4.p128.g16                     1          -          -  "
                          "skip: insufficient h100-sxm-80gb device memory: 1 rank(s) need 131.72 GiB (predicted), "
                          "71.68 GiB usable"),
            std::string::npos)
      << o.output;
  for (const char* runs : {"tp|tp2.pp1.dp1", "tp|tp8.pp1.dp1", "pp|tp1.pp4.dp1.mb4", "hybrid|tp2.pp4.dp1.mb4"}) {
    const std::size_t at = o.output.find(runs);
    ASSERT_NE(at, std::string::npos) << runs << "\n" << o.output;
    EXPECT_NE(o.output.substr(at, o.output.find('\n', at) - at).find(" run"), std::string::npos) << runs;
  }
  EXPECT_EQ(o.output.find("fail"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("reference cannot run"), std::string::npos) << o.output;

  const Outcome not_dry = run("bench --model tiny --hardware h100-sxm-80gb --gpus 1");
  EXPECT_EQ(not_dry.status, 2);
  EXPECT_NE(not_dry.output.find("needs --dry-run"), std::string::npos) << not_dry.output;
  const Outcome unknown = run("bench --model tiny --hardware h900 --dry-run");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("--hardware: unknown hardware profile 'h900'"), std::string::npos) << unknown.output;
}

// Starts the binary in the background with its output in `log`; returns its pid.
pid_t spawn(const std::string& args, const fs::path& log) {
  const std::string cmd = "exec " + std::string(LLMT_BINARY) + " " + args + " >" + log.string() + " 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Exit status, or 128 + signal.
int wait_for(pid_t pid) {
  int raw = 0;
  waitpid(pid, &raw, 0);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

// Configurations in a results file being written (0 while it does not exist yet).
std::size_t configurations_in(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return 0;
  return json::parse(in)["configurations"].size();  // must parse at any moment
}

void wait_until_configurations(const fs::path& path, std::size_t n, pid_t pid) {
  for (int i = 0; i < 600 && configurations_in(path) < n; ++i) {
    ASSERT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "the run ended before it could be interrupted";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// A sweep of 14 planned configurations (10 run), each made slow with an injected delay.
const std::string kSlowSweep =
    "bench --model tiny --gpus 1,2,4 --strategy all --batch 4 --prompt 8 --gen 3 --warmup 1 --iterations 2 "
    "--inject-delay 150ms";

void expect_complete_after_resume(const fs::path& json_path, const fs::path& csv_path, std::size_t kept) {
  const Outcome o = run(kSlowSweep + " --resume " + json_path.string() + " --csv " + csv_path.string());
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find(std::to_string(kept) + " configuration(s) kept"), std::string::npos) << o.output;
  std::ifstream in(json_path);
  const json doc = json::parse(in);
  EXPECT_TRUE(doc["summary"]["complete"]);
  EXPECT_EQ(doc["run"]["resumed_from"], json_path.string());
  std::set<std::string> ids;
  for (const json& c : doc["configurations"]) {
    EXPECT_TRUE(ids.insert(c["id"].get<std::string>()).second) << "duplicate " << c["id"];
    if (c["status"] != "skipped") {
      EXPECT_EQ(c["status"], "ok") << c["id"] << ": " << c["reason"];
    }
  }
  EXPECT_EQ(ids.size(), 14u);
  // Only the missing configurations ran again: one progress line each.
  std::size_t progress_lines = 0;
  for (std::size_t at = o.output.find("/14] "); at != std::string::npos; at = o.output.find("/14] ", at + 1))
    ++progress_lines;
  EXPECT_EQ(progress_lines, 10 - kept);
  std::ifstream csv(csv_path);
  std::string line;
  int rows = -1;  // header
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 14) << "the CSV holds the kept rows and the new ones";
}

TEST(Cli, CtrlCStopsAfterTheCurrentConfigurationAndResumeCompletes) {
  const auto json_path = temp_path("interrupted.json"), csv_path = temp_path("interrupted.csv");
  const pid_t pid = spawn(kSlowSweep + " --json " + json_path.string() + " --csv " + csv_path.string(),
                          temp_path("interrupted.log"));
  wait_until_configurations(json_path, 3, pid);
  kill(pid, SIGINT);
  EXPECT_EQ(wait_for(pid), 130);
  std::ifstream in(json_path);
  const json doc = json::parse(in);
  EXPECT_TRUE(doc["summary"]["interrupted"]);
  EXPECT_FALSE(doc["summary"]["complete"]);
  const std::size_t written = doc["configurations"].size();
  EXPECT_GE(written, 3u);
  EXPECT_LT(written, 14u);
  std::size_t kept = 0;
  for (const json& c : doc["configurations"]) kept += c["status"] != "skipped";
  expect_complete_after_resume(json_path, csv_path, kept);
}

TEST(Cli, AKilledRunLeavesValidResumableJson) {
  const auto json_path = temp_path("killed.json"), csv_path = temp_path("killed.csv");
  const pid_t pid = spawn(kSlowSweep + " --json " + json_path.string(), temp_path("killed.log"));
  wait_until_configurations(json_path, 2, pid);
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_for(pid), 128 + SIGKILL);
  std::ifstream in(json_path);
  const json doc = json::parse(in);  // whole, whenever the kill came
  EXPECT_FALSE(doc.contains("summary"));
  std::size_t kept = 0;
  for (const json& c : doc["configurations"]) kept += c["status"] != "skipped";
  expect_complete_after_resume(json_path, csv_path, kept);
}

TEST(Cli, ResumeRefusesAnIncomparableRun) {
  const auto json_path = temp_path("other.json");
  ASSERT_EQ(run("bench --model tiny --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -n 1 --json " +
                json_path.string()).status, 0);
  const Outcome o = run("bench --model tiny-gpt2 --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -n 1 --resume " +
                        json_path.string());
  EXPECT_EQ(o.status, 2);
  EXPECT_NE(o.output.find("that run used model name \"tiny\""), std::string::npos) << o.output;
  const auto broken = temp_path("broken.json");
  std::ofstream(broken) << "{\"schema_version\": 1, \"run\": {";
  EXPECT_EQ(run("bench --model tiny --gpus 1 --resume " + broken.string()).status, 2);
}

// A file written before a setting was recorded ran with that setting's default.
TEST(Cli, ResumeAcceptsAFileFromBeforeASettingWasRecorded) {
  const auto json_path = temp_path("older.json");
  const std::string sweep = "bench --model tiny --strategy tp --batch 1 --prompt 4 --gen 2 -n 1 -q";
  ASSERT_EQ(run(sweep + " --gpus 1 --json " + json_path.string()).status, 0);
  json doc;
  {
    std::ifstream in(json_path);
    doc = json::parse(in);
  }
  for (const char* key : {"replica_weights", "inject_delay", "emulated", "attention", "ceilings"})
    doc["run"].erase(key);
  std::ofstream(json_path) << doc.dump();
  const Outcome o = run(sweep + " --gpus 1,2 --resume " + json_path.string());
  EXPECT_EQ(o.status, 0) << o.output;
  std::ifstream in(json_path);
  EXPECT_EQ(json::parse(in)["configurations"].size(), 2u);
}

// A results file from before issue 14 (no ranking intervals, ensembles mixed into the ranking)
// through the binary: compare says how many tests it made, report renders the ranking anew.
TEST(Cli, AnOldResultsFileLoadsForCompareAndReport) {
  const std::string old = std::string(LLMT_TEST_DATA) + "/results-before-issue14.json";
  const Outcome compared = run("compare " + old + " " + old);
  EXPECT_EQ(compared.status, 0) << compared.output;
  // One gating test per configuration (latency.median); ttft, tpot and sync.exposed are secondary.
  EXPECT_NE(compared.output.find("0 regression(s), 0 improvement(s), 0 noisy, 4 same (threshold 5.0%, alpha 0.01); "
                                 "secondary, not gating: 0 slower, 0 faster, 0 noisy, 11 same"),
            std::string::npos)
      << compared.output;
  EXPECT_NE(compared.output.find("4 tests over 4 configurations, Holm-corrected at alpha 0.01; gating: latency.median; "
                                 "11 secondary tests (reported, not gating, corrected among themselves); throughput "
                                 "shares latency.median's test"),
            std::string::npos)
      << compared.output;
  const Outcome uncorrected = run("compare " + old + " " + old + " --correction none --format json");
  EXPECT_EQ(uncorrected.status, 0) << uncorrected.output;
  const json j = json::parse(uncorrected.output.substr(0, uncorrected.output.rfind('}') + 1));
  EXPECT_EQ(j["correction"], "none");
  EXPECT_EQ(j["tests"], 4);
  EXPECT_EQ(j["secondary_tests"], 11);
  EXPECT_EQ(j["exit_status"], 0);
  EXPECT_EQ(run("compare " + old + " " + old + " --correction sometimes").status, 2);

  const fs::path html = temp_path("old-report.html");
  const Outcome reported = run("report " + old + " -o " + html.string());
  ASSERT_EQ(reported.status, 0) << reported.output;
  std::stringstream in;
  in << std::ifstream(html).rdbuf();
  const std::string page = in.str();
  EXPECT_NE(page.find("Ensembles (merge mean), ranked apart"), std::string::npos);
  EXPECT_NE(page.find("<th>speed-up interval</th>"), std::string::npos);
}

TEST(Cli, ListShowsStrategiesAndPresets) {
  const Outcome o = run("list");
  EXPECT_EQ(o.status, 0);
  for (const char* s : {"tp ", "dp ", "pp ", "hybrid ", "llama-3-8b", "8.03B", "gpt2", "concat", "param-server"})
    EXPECT_NE(o.output.find(s), std::string::npos) << s << "\n" << o.output;
}

}  // namespace

namespace {

// --dump-logits: a safetensors file whose tensors are the token ids, the reference and every
// configuration that ran, each with the shape and bytes its header says. Prompt 9: the streamed
// pass's GEMMs have 2 x 11 rows, beyond the small-m path, so its sums differ from the run's.
TEST(Cli, DumpLogitsWritesSafetensorsWithIdsReferenceAndEveryConfiguration) {
  const auto path = temp_path("logits.safetensors");
  const Outcome o = run("bench --model tiny --backend cpu --gpus 1,2 --strategy tp --batch 2 --prompt 9 --gen 3 "
                        "--iterations 1 --warmup 0 -q --dump-logits " + path.string());
  ASSERT_EQ(o.status, 0) << o.output;
  const llmt::testing::SafetensorsFile file = llmt::testing::read_safetensors(path);
  ASSERT_TRUE(file.header.contains("input_ids/b2.p9.g3")) << file.header.dump();
  const json& ids = file.header["input_ids/b2.p9.g3"];
  EXPECT_EQ(ids["dtype"], "I32");
  EXPECT_EQ(ids["shape"], json::array({2, 11}));  // prompt 9 + 2 teacher-forced decode inputs
  const std::vector<std::string> logits = {"reference/b2.p9.g3", "tp|tp1.pp1.dp1|blocking|concat|b2.p9.g3",
                                           "tp|tp2.pp1.dp1|blocking|concat|b2.p9.g3"};
  std::vector<std::vector<float>> values;
  for (const std::string& name : logits) {
    ASSERT_TRUE(file.header.contains(name)) << file.header.dump();
    EXPECT_EQ(file.header[name]["dtype"], "F32");
    EXPECT_EQ(file.header[name]["shape"], json::array({3, 2, 997}));  // gen, batch, vocab of the tiny model
    values.push_back(file.floats(name));
    ASSERT_EQ(values.back().size(), 3u * 2 * 997);
  }
  double largest = 0, one_rank = 0, worst = 0;
  for (std::size_t i = 0; i < values[0].size(); ++i) {
    largest = std::max(largest, std::abs(static_cast<double>(values[0][i])));
    one_rank = std::max(one_rank, std::abs(static_cast<double>(values[1][i]) - values[0][i]));
    worst = std::max(worst, std::abs(static_cast<double>(values[2][i]) - values[0][i]));
  }
  EXPECT_GT(largest, 0.0);
  EXPECT_NE(values[1], values[0]) << "the reference is the streamed pass, not the one-rank run";
  EXPECT_LT(one_rank, 1e-5 * largest);  // the two differ by fp32 rounding only
  EXPECT_LT(worst, 1e-5 * largest);     // tensor parallelism only reorders fp32 sums
  EXPECT_EQ(file.metadata["model"], "tiny");
  EXPECT_FALSE(fs::exists(path.string() + ".part"));
}

}  // namespace

namespace {

// Tensors of a --dump-logits file: name -> raw bytes (metadata left out).
std::map<std::string, std::string> dumped_tensors(const fs::path& path) { return llmt::testing::read_safetensors(path).bytes; }

// export-weights writes the weights a run generates as a HuggingFace checkpoint; bench --weights
// reads them back, each rank its shard (Llama's separate projections; GPT-2's Conv1D layers stored
// [in, out] with q, k and v fused; a checkpoint sharded over files with an index; Llama's o_proj and
// MLP biases): every logit of every configuration is then bit for bit the one the generated
// weights give.
TEST(Cli, ExportedWeightsReadBackGiveTheSameLogitsBitForBit) {
  const std::string biased = std::string(LLMT_TEST_DATA) + "/biased-llama.json";
  for (const auto& [model, shards] : {std::pair<std::string, int>{"tiny", 1}, std::pair<std::string, int>{"tiny-gpt2", 3},
                                      std::pair<std::string, int>{biased, 2}}) {
    const std::string tag = fs::path(model).stem().string();
    const auto dir = temp_path(std::string("ckpt-") + tag);
    fs::remove_all(dir);
    const Outcome exported = run(std::string("export-weights --model ") + model + " --shards " +
                                 std::to_string(shards) + " " + dir.string());
    ASSERT_EQ(exported.status, 0) << exported.output;
    EXPECT_EQ(fs::exists(dir / "model.safetensors.index.json"), shards > 1);
    const std::string sweep = " --gpus 1,2 --strategy tp,dp,pp --batch 2 --prompt 5 --gen 3 --iterations 1 --warmup 0 -q";
    const auto from_file = temp_path("from-file-" + tag), generated = temp_path("gen-" + tag);
    const Outcome a = run("bench --weights " + dir.string() + sweep + " --dump-logits " + from_file.string());
    const Outcome b = run(std::string("bench --model ") + model + sweep + " --dump-logits " + generated.string());
    ASSERT_EQ(a.status, 0) << a.output;
    ASSERT_EQ(b.status, 0) << b.output;
    const auto got = dumped_tensors(from_file), want = dumped_tensors(generated);
    EXPECT_GE(got.size(), 5u) << model;  // ids, reference, at least three configurations
    ASSERT_EQ(got.size(), want.size()) << model;
    for (const auto& [name, bytes] : want) EXPECT_TRUE(got.count(name) && got.at(name) == bytes) << model << ": " << name;
  }
}

// Mixture-of-experts checkpoints under transformers' names (routers, one tensor per expert, the
// shared expert and its gate): exported, read back under tp, ep and pp, bit for bit the logits of
// the generated weights.
TEST(Cli, ExportedMoeWeightsReadBackGiveTheSameLogitsBitForBit) {
  const std::string data = std::string(LLMT_TEST_DATA) + "/";
  const std::pair<std::string, std::vector<std::string>> models[] = {
      {"tiny-mixtral", {"model.layers.1.block_sparse_moe.gate.weight", "model.layers.1.block_sparse_moe.experts.3.w1.weight",
                        "model.layers.0.block_sparse_moe.experts.0.w2.weight", "model.layers.0.block_sparse_moe.experts.2.w3.weight"}},
      {"tiny-qwen3-moe", {"model.layers.0.mlp.gate.weight", "model.layers.1.mlp.experts.5.gate_proj.weight",
                          "model.layers.1.mlp.experts.0.down_proj.weight", "model.layers.0.self_attn.q_norm.weight"}},
      {"tiny-qwen2-moe", {"model.layers.0.mlp.shared_expert.gate_proj.weight", "model.layers.2.mlp.shared_expert_gate.weight",
                          "model.layers.0.mlp.experts.4.up_proj.weight", "model.layers.1.mlp.gate_proj.weight"}}};
  for (const auto& [tag, names] : models) {
    const std::string model = data + tag + ".json";
    const auto dir = temp_path("ckpt-" + tag);
    fs::remove_all(dir);
    const Outcome exported = run("export-weights --model " + model + " --shards 2 " + dir.string());
    ASSERT_EQ(exported.status, 0) << exported.output;
    std::ifstream index(dir / "model.safetensors.index.json");
    const json map = json::parse(index)["weight_map"];
    for (const std::string& name : names) EXPECT_TRUE(map.contains(name)) << tag << ": " << name;
    const std::string sweep = " --gpus 1,2 --strategy tp,ep,pp --batch 2 --prompt 5 --gen 3 --iterations 1 --warmup 0 -q";
    const auto from_file = temp_path("from-file-" + tag), generated = temp_path("gen-" + tag);
    const Outcome a = run("bench --weights " + dir.string() + sweep + " --dump-logits " + from_file.string());
    const Outcome b = run("bench --model " + model + sweep + " --dump-logits " + generated.string());
    ASSERT_EQ(a.status, 0) << a.output;
    ASSERT_EQ(b.status, 0) << b.output;
    const auto got = dumped_tensors(from_file), want = dumped_tensors(generated);
    EXPECT_GE(got.size(), 6u) << tag << ": ids, reference, tp1, tp2, ep2, pp2";
    ASSERT_EQ(got.size(), want.size()) << tag;
    for (const auto& [name, bytes] : want) EXPECT_TRUE(got.count(name) && got.at(name) == bytes) << tag << ": " << name;
  }
  // A config with a fifth expert against the four-expert checkpoint: refused by the router's name
  // and shape before anything runs.
  json five;
  std::ifstream(data + "tiny-mixtral.json") >> five;
  five["num_local_experts"] = 5;
  const auto config = temp_path("five-experts.json");
  std::ofstream(config) << five.dump();
  const Outcome other = run("bench --weights " + temp_path("ckpt-tiny-mixtral").string() + " --model " + config.string() +
                            " --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -q");
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_NE(other.output.find("'model.layers.0.block_sparse_moe.gate.weight' has shape [4, 64], this config needs [5, 64]"),
            std::string::npos)
      << other.output;
}

TEST(Cli, ACheckpointThatDoesNotMatchTheConfigIsRefusedByName) {
  const auto dir = temp_path("ckpt-two-layers");
  fs::remove_all(dir);
  ASSERT_EQ(run("export-weights --model tiny --layers 2 " + dir.string()).status, 0);
  const std::string sweep = " --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -q";
  const Outcome missing = run("bench --weights " + dir.string() + " --model tiny" + sweep);
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_NE(missing.output.find("tensor 'model.layers.2."), std::string::npos) << missing.output;
  const Outcome shape = run("bench --weights " + dir.string() + " --model llama-3-8b --layers 1" + sweep);
  EXPECT_EQ(shape.status, 2) << shape.output;
  EXPECT_NE(shape.output.find("has shape ["), std::string::npos) << shape.output;
  // Exporting a model the host cannot hold twice in fp32 is refused before anything is written.
  const Outcome huge = run("export-weights --model llama-3-70b " + temp_path("ckpt-70b").string());
  EXPECT_EQ(huge.status, 2) << huge.output;
  EXPECT_NE(huge.output.find("host memory"), std::string::npos) << huge.output;
  EXPECT_FALSE(fs::exists(temp_path("ckpt-70b")));
  const Outcome none = run("bench --weights " + temp_path("no-such-dir").string() + sweep);
  EXPECT_EQ(none.status, 2) << none.output;
  // The directory's own config.json is the default model: two layers run.
  const Outcome own = run("bench --weights " + dir.string() + sweep);
  EXPECT_EQ(own.status, 0) << own.output;
}

// transformers 5 lists one layer type per layer: an export cut to fewer layers cuts the list too,
// so that the checkpoint's config.json reads back (here and in transformers).
TEST(Cli, ExportCutToFewerLayersKeepsATransformers5ConfigReadable) {
  const auto dir = temp_path("ckpt-t5-qwen2");
  fs::remove_all(dir);
  const std::string qwen2 = std::string(LLMT_TEST_DATA) + "/transformers5/qwen2.json";
  const Outcome exported = run("export-weights --model " + qwen2 + " --layers 1 " + dir.string());
  ASSERT_EQ(exported.status, 0) << exported.output;
  std::ifstream in(dir / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  EXPECT_EQ(config.at("num_hidden_layers"), 1);
  EXPECT_EQ(config.at("layer_types").size(), 1u);
  const Outcome back = run("bench --weights " + dir.string() + " --gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 -q");
  EXPECT_EQ(back.status, 0) << back.output;
}

}  // namespace
