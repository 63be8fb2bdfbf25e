// Fuzz target: the safetensors checkpoint reader (model/checkpoint.hpp, Checkpoint::open and
// read). The input is one model.safetensors in a directory of its own; a ModelError (or any
// llmt::Error) is the documented answer to a bad header, and a header that is accepted must
// keep every read inside the file (ASan sees a read beyond the map).
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "model/checkpoint.hpp"
#include "model/error.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path path = llmt::fuzz::write_input("model.safetensors", data, size);
  try {
    const auto checkpoint = llmt::Checkpoint::open(path.parent_path());
    // The seed corpus's tensor: [2, 3], read whole and transposed.
    for (bool transposed : {false, true}) {
      try {
        const llmt::HfLocation where{{"w"}, {2, 3}, transposed};
        (void)checkpoint->read(where, 0, 0, transposed ? 3 : 2, transposed ? 2 : 3);
      } catch (const llmt::Error&) {
      }
    }
  } catch (const llmt::Error&) {
  }
  return 0;
}
