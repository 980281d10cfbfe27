// libFuzzer: read_lp() (CPLEX LP) on any bytes.
#include <opplan/solver.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  opplan_fuzz::TempFile file(data, size, ".lp");
  (void)opplan::read_lp(file.path());
  return 0;
}
