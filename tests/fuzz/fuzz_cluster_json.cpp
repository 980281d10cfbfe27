// libFuzzer: parse_cluster_json() on any bytes, and the write-then-read round trip of what it accepts.
#include <opplan/io.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  opplan_fuzz::check_round_trip(
      text, [](std::string_view t) { return opplan::parse_cluster_json(t, "fuzz"); },
      [](const opplan::Cluster& c) { return opplan::cluster_to_json(c); });
  return 0;
}
