// Fuzz target: the results-file reader (reports/json_schema.hpp) as compare, report and
// --resume use it: read_results_file, then every configuration through result_from_json and
// run.ceilings through ceilings_from_json. An llmt::Error or a nlohmann::json exception (both
// exit 2, "unusable input", in cli/main.cpp) is the documented answer to bad input; anything
// else escaping, a crash, a sanitizer report or a hang is a finding.
#include <cstddef>
#include <cstdint>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "reports/json_schema.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = llmt::fuzz::write_input("results.json", data, size);
  try {
    const nlohmann::json doc = llmt::read_results_file(path);
    const nlohmann::json& list = doc.at("configurations");
    for (std::size_t i = 0; i < list.size(); ++i) {
      try {
        const llmt::ConfigResult r = llmt::result_from_json(list[i], fmt::format("{}: configurations[{}]", path, i));
        (void)r;
      } catch (const llmt::Error&) {
      } catch (const nlohmann::json::exception&) {
      }
    }
    const llmt::Ceilings c = llmt::ceilings_from_json(doc.at("run"), path + ": run");
    (void)c;
  } catch (const llmt::Error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
