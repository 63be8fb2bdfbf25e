// Fuzz target: the config.json reader (model/model.hpp, load_model_file). A ModelError (or any
// llmt::Error) is the documented answer to bad input; anything else escaping, a crash, a
// sanitizer report or a hang is a finding.
#include <cstddef>
#include <cstdint>

#include "model/error.hpp"
#include "model/model.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = llmt::fuzz::write_input("config.json", data, size);
  try {
    const llmt::ModelConfig m = llmt::load_model_file(path);
    (void)m;
  } catch (const llmt::Error&) {
  }
  return 0;
}
