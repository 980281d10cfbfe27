// libFuzzer: read_onnx_graph() on any bytes (a model file a user downloaded).
#include <opplan/onnx.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  opplan_fuzz::TempFile file(data, size, ".onnx");
  (void)opplan::read_onnx_graph(file.path());
  return 0;
}
