// export_pytorch_pipeline: a pipeline schedule in torch.distributed.pipelining's action notation.
//
// PyTorch (torch/distributed/pipelining/schedules.py) writes one action as
// `{stage_index}{computation_type}{microbatch_index}`: _Action.__repr__ is str(stage_index) +
// computation_type.value + str(microbatch_index), and _action_regex
// `(\d+)(F|I|B|W|UNSHARD|RESHARD|REDUCE_GRAD|SEND_F|RECV_F|SEND_B|RECV_B)(\d*)` reads it back. The
// compute types of _ComputationType are FORWARD = "F", BACKWARD_INPUT = "I" (our b),
// BACKWARD_WEIGHT = "W" and FULL_BACKWARD = "B"; a rank's program is the list of its actions
// (the `pipeline_order` that _format_pipeline_order prints as a step x rank grid).
//
// Stage indices are PyTorch's global ones. Its generate_stage_to_rank_mapping(pp_size, num_stages,
// style) puts stage s on rank s % pp_size for "loop" (interleaved / looped schedules) and, for
// "v", on rank s for s < pp_size and 2 * pp_size - 1 - s after the turn (ZBV, DualPipeV): exactly
// opplan's kInterleaved and kV placements, so opplan's stage index is PyTorch's. PyTorch has an
// OVERLAP_F_B action with sub-actions; we emit an overlapped F&B slot as its two actions, the
// forward first, which every PyTorch runtime accepts.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <opplan/exports.hpp>
#include <string>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

namespace {

char pytorch_letter(Work work) {
  switch (work) {
    case Work::kForward: return 'F';
    case Work::kInputGrad: return 'I';
    case Work::kWeightGrad: return 'W';
    case Work::kBackward: return 'B';
  }
  return '?';
}

}  // namespace

Result<PyTorchPipelineExport> export_pytorch_pipeline(const PipelineSpec& spec, const Schedule& schedule,
                                                      const PyTorchExportOptions& options) {
  if (Status s = spec.validate(); !s.ok()) return s;
  const int stages = spec.num_stages();
  const int routes = spec.num_routes();
  const int per_route = spec.micro_batches_per_route();
  if (schedule.num_devices != spec.num_devices ||
      static_cast<int>(schedule.device_tasks.size()) != spec.num_devices)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("schedule '{}' has {} devices but the spec has {}", schedule.name,
                              schedule.device_tasks.size(), spec.num_devices));
  if (routes > 1 && !options.allow_bidirectional)
    return Status(StatusCode::kUnsupported,
                  fmt::format("schedule '{}' runs {} routes (micro-batches entering at both ends, as DualPipe): "
                              "torch.distributed.pipelining sends every micro-batch through stages 0..{} in one "
                              "direction and has no bidirectional schedule; allow_bidirectional exports the routes "
                              "as separate chains of virtual stages",
                              schedule.name, routes, stages - 1));

  PyTorchPipelineExport out;
  out.schedule = schedule.name;
  out.num_ranks = spec.num_devices;
  out.num_routes = routes;
  out.bidirectional = routes > 1;
  out.num_stages = stages * routes;
  out.num_microbatches = per_route * routes;
  switch (spec.placement) {
    case Placement::kLinear:
    case Placement::kInterleaved: out.style = "loop"; break;
    case Placement::kV: out.style = "v"; break;
    case Placement::kDualPipe: out.style = "bidirectional"; break;
    case Placement::kCustom: out.style = routes > 1 ? "bidirectional" : "custom"; break;
  }
  out.stage_to_rank.resize(static_cast<std::size_t>(out.num_stages));
  for (int r = 0; r < routes; ++r)
    for (int s = 0; s < stages; ++s)
      out.stage_to_rank[static_cast<std::size_t>(r * stages + s)] = spec.routes[static_cast<std::size_t>(r)][static_cast<std::size_t>(s)];

  // count[work][(route * S + stage) * M + micro-batch]
  const std::size_t cells = static_cast<std::size_t>(out.num_stages) * static_cast<std::size_t>(per_route);
  std::vector<std::vector<int>> count(kNumWorks, std::vector<int>(cells, 0));
  std::string problems;
  int num_problems = 0;
  auto problem = [&](std::string message) {
    if (++num_problems <= 20) problems += (problems.empty() ? "" : "\n") + message;
  };

  out.actions.resize(static_cast<std::size_t>(spec.num_devices));
  for (int d = 0; d < spec.num_devices; ++d) {
    std::vector<const Task*> tasks;
    for (const Task& t : schedule.device_tasks[static_cast<std::size_t>(d)]) tasks.push_back(&t);
    // Execution order: start time; simultaneous tasks (several streams) by stream.
    std::stable_sort(tasks.begin(), tasks.end(), [](const Task* a, const Task* b) {
      return a->start != b->start ? a->start < b->start : a->stream < b->stream;
    });
    auto& actions = out.actions[static_cast<std::size_t>(d)];
    auto add = [&](const WorkItem& w, std::size_t position) {
      if (w.route < 0 || w.route >= routes || w.stage < 0 || w.stage >= stages || w.micro_batch < 0 ||
          w.micro_batch >= per_route) {
        problem(fmt::format("device {}, task {} ({}): route {}, stage {} or micro-batch {} is not in the spec "
                            "({} routes, {} stages, {} micro-batches per route)",
                            d, position, schedule.label(w), w.route, w.stage, w.micro_batch, routes, stages, per_route));
        return;
      }
      const int holder = spec.routes[static_cast<std::size_t>(w.route)][static_cast<std::size_t>(w.stage)];
      if (holder != d)
        problem(fmt::format("device {}, task {} ({}): stage {} of route {} is on device {}", d, position,
                            schedule.label(w), w.stage, w.route, holder));
      const int stage = w.route * stages + w.stage;
      const int micro_batch = w.route * per_route + w.micro_batch;
      ++count[static_cast<int>(w.work)][static_cast<std::size_t>(stage) * static_cast<std::size_t>(per_route) +
                                        static_cast<std::size_t>(w.micro_batch)];
      actions.push_back(fmt::format("{}{}{}", stage, pytorch_letter(w.work), micro_batch));
    };
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const Task& t = *tasks[i];
      if (t.overlapped && t.overlapped->work == Work::kForward && t.item.work != Work::kForward) {
        add(*t.overlapped, i);
        add(t.item, i);
      } else {
        add(t.item, i);
        if (t.overlapped) add(*t.overlapped, i);
      }
    }
  }

  // Every (stage, micro-batch): one F, and one B or one I and one W.
  for (int r = 0; r < routes; ++r)
    for (int s = 0; s < stages; ++s)
      for (int m = 0; m < per_route; ++m) {
        const std::size_t c = static_cast<std::size_t>(r * stages + s) * static_cast<std::size_t>(per_route) +
                              static_cast<std::size_t>(m);
        const int f = count[0][c], i = count[1][c], w = count[2][c], b = count[3][c];
        const bool ok = f == 1 && ((b == 1 && i == 0 && w == 0) || (b == 0 && i == 1 && w == 1));
        if (!ok)
          problem(fmt::format("route {} stage {} micro-batch {}: the schedule has {} F, {} B, {} I and {} W; it needs "
                              "one F and either one B or one I and one W",
                              r, s, m, f, b, i, w));
      }
  if (num_problems > 0) {
    if (num_problems > 20) problems += fmt::format("\n... and {} more", num_problems - 20);
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("schedule '{}' does not run spec '{}':\n{}", schedule.name, spec.name, problems));
  }
  return out;
}

std::string pytorch_pipeline_to_json(const PyTorchPipelineExport& p, int indent) {
  nlohmann::ordered_json j;
  j["format"] = "opplan.pytorch_pipeline";
  j["schedule"] = p.schedule;
  j["num_ranks"] = p.num_ranks;
  j["num_stages"] = p.num_stages;
  j["num_microbatches"] = p.num_microbatches;
  j["style"] = p.style;
  j["bidirectional"] = p.bidirectional;
  j["num_routes"] = p.num_routes;
  j["stage_to_rank"] = p.stage_to_rank;
  nlohmann::ordered_json actions = nlohmann::ordered_json::object();
  for (std::size_t r = 0; r < p.actions.size(); ++r) actions[std::to_string(r)] = p.actions[r];
  j["actions"] = std::move(actions);
  return j.dump(indent);
}

OPPLAN_END_NAMESPACE
