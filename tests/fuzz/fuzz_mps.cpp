// libFuzzer: read_mps() (free and fixed format) on any bytes.
#include <opplan/solver.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  opplan_fuzz::TempFile file(data, size, ".mps");
  (void)opplan::read_mps(file.path(), false);
  (void)opplan::read_mps(file.path(), true);
  return 0;
}
