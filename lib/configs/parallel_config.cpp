// ParallelConfig: names, checks and text.
#include <opplan/parallel_config.hpp>

#include <string>
#include <vector>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {
constexpr PipelineSchedule kSchedules[] = {PipelineSchedule::kGPipe,    PipelineSchedule::k1F1B,
                                           PipelineSchedule::kInterleaved, PipelineSchedule::kZBH1,
                                           PipelineSchedule::kZBV,      PipelineSchedule::kDualPipe,
                                           PipelineSchedule::kDualPipeV};
}  // namespace

const char* to_string(PipelineSchedule schedule) {
  switch (schedule) {
    case PipelineSchedule::kGPipe: return "gpipe";
    case PipelineSchedule::k1F1B: return "1f1b";
    case PipelineSchedule::kInterleaved: return "interleaved";
    case PipelineSchedule::kZBH1: return "zb-h1";
    case PipelineSchedule::kZBV: return "zbv";
    case PipelineSchedule::kDualPipe: return "dualpipe";
    case PipelineSchedule::kDualPipeV: return "dualpipev";
  }
  return "unknown";
}

std::optional<PipelineSchedule> parse_pipeline_schedule(std::string_view name) {
  for (PipelineSchedule s : kSchedules)
    if (name == to_string(s)) return s;
  if (name == "zb-v") return PipelineSchedule::kZBV;
  return std::nullopt;
}

std::int64_t ParallelConfig::num_micro_batches() const {
  const std::int64_t per_step = std::int64_t{dp} * micro_batch_size;
  return per_step > 0 ? effective_global_batch() / per_step : 0;
}

Status ParallelConfig::validate() const {
  std::vector<std::string> problems;
  const std::pair<const char*, int> sizes[] = {{"dp", dp}, {"tp", tp}, {"pp", pp}, {"vpp", vpp},
                                               {"ep", ep}, {"cp", cp}, {"micro_batch_size", micro_batch_size}};
  bool sizes_ok = true;
  for (const auto& [field, v] : sizes)
    if (v < 1) problems.push_back(fmt::format("{} must be >= 1 (is {})", field, v)), sizes_ok = false;
  if (zero < 0 || zero > 3) problems.push_back(fmt::format("zero must be 0, 1, 2 or 3 (is {})", zero));
  if (global_batch < 0) problems.push_back(fmt::format("global_batch must be >= 0 (is {})", global_batch));
  if (sizes_ok) {
    if (dp % ep != 0) problems.push_back(fmt::format("ep ({}) must divide dp ({})", ep, dp));
    const std::int64_t per_step = std::int64_t{dp} * micro_batch_size;
    if (global_batch > 0 && global_batch % per_step != 0)
      problems.push_back(fmt::format("global_batch ({}) must be a multiple of dp x micro_batch_size ({} x {} = {})",
                                     global_batch, dp, micro_batch_size, per_step));
    switch (schedule) {
      case PipelineSchedule::kInterleaved:
        break;  // vpp 1 is plain 1F1B
      case PipelineSchedule::kZBV:
      case PipelineSchedule::kDualPipeV:
        if (vpp != 2)
          problems.push_back(fmt::format("schedule {} runs two virtual stages per device: vpp must be 2 (is {})",
                                         to_string(schedule), vpp));
        break;
      default:
        if (vpp != 1)
          problems.push_back(fmt::format("schedule {} runs one stage per device: vpp must be 1 (is {}); use "
                                         "interleaved for virtual stages",
                                         to_string(schedule), vpp));
    }
    if (!layers_per_stage.empty()) {
      const std::size_t want = static_cast<std::size_t>(pp) * static_cast<std::size_t>(vpp);
      if (layers_per_stage.size() != want)
        problems.push_back(fmt::format("layers_per_stage has {} entries; pp x vpp = {} x {} needs {}",
                                       layers_per_stage.size(), pp, vpp, want));
      for (std::size_t i = 0; i < layers_per_stage.size(); ++i)
        if (layers_per_stage[i] < 0)
          problems.push_back(fmt::format("layers_per_stage[{}] is negative ({})", i, layers_per_stage[i]));
    }
  }
  if (problems.empty()) return Status::Ok();
  return Status(StatusCode::kInvalidArgument, fmt::format("parallel configuration: {}", fmt::join(problems, "; ")));
}

std::string ParallelConfig::ToString() const {
  std::string s = fmt::format("DP {} x TP {} x PP {}", dp, tp, pp);
  if (cp > 1) s += fmt::format(" x CP {}", cp);
  if (ep > 1) s += fmt::format(" (EP {})", ep);
  if (pp > 1 || vpp > 1) s += vpp > 1 ? fmt::format(" ({}, VPP {})", to_string(schedule), vpp) : fmt::format(" ({})", to_string(schedule));
  if (sequence_parallel) s += ", SP";
  if (zero > 0) s += fmt::format(", ZeRO-{}", zero);
  s += fmt::format(", micro-batch {}, global batch {}", micro_batch_size, effective_global_batch());
  if (recompute != ActivationRecompute::kNone) s += fmt::format(", recompute {}", to_string(recompute));
  if (flash_attention) s += ", flash attention";
  return s;
}

OPPLAN_END_NAMESPACE
