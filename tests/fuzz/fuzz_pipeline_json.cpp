// libFuzzer: parse_pipeline_spec_json() on any bytes, the round trip of what it accepts, and the
// lower bound of an accepted spec (small specs only: the planner's limits are tested elsewhere).
#include <opplan/pipeline.hpp>
#include <opplan/planner.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  opplan_fuzz::check_round_trip(
      text, [](std::string_view t) { return opplan::parse_pipeline_spec_json(t, "fuzz"); },
      [](const opplan::PipelineSpec& s) { return opplan::pipeline_spec_to_json(s); });
  if (auto spec = opplan::parse_pipeline_spec_json(text, "fuzz");
      spec.ok() && static_cast<double>(spec->num_micro_batches) * spec->num_stages() <= 2000)
    (void)opplan::pipeline_lower_bound(*spec);
  return 0;
}
