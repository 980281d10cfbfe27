// One pipeline, five ways to schedule it: GPipe, 1F1B, Zero-Bubble H1, DualPipe and the planner,
// side by side. P = 4 devices, 16 micro-batches, F = b = W = 1 per stage (a full backward B = b + W
// = 2; DualPipe's overlapped F&B chunk defaults to F + B = 3), no communication.
//
// 1F1B by hand: every device is busy 16 * (F + B) = 48, and the last micro-batch's backward can
// only start after its forward has crossed all 4 stages, so the pipeline needs (P - 1)(F + B) = 9
// more: makespan 48 + 9 = 57, bubble 9 on every device, device 0 holding P = 4 activations.
// ZB-H1 defers W to fill that drain: bubble (P - 1)(F + b - W) = 3, makespan 51, same memory.
#include <opplan/opplan.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

namespace {

void row(const char* name, const opplan::Schedule& schedule) {
  const opplan::ScheduleMetrics& m = schedule.metrics;
  int peak = 0;
  for (const opplan::DeviceMetrics& d : m.devices) peak = std::max(peak, d.peak_activations);
  std::printf("%-10s %9g %11g %17d\n", name, m.makespan, m.max_bubble, peak);
}

}  // namespace

int main() {
  opplan::StageSpec stage;  // F = b = W = 1, one unit of activation per micro-batch and stage
  std::printf("%-10s %9s %11s %17s\n", "schedule", "makespan", "max bubble", "peak activations");

  const struct {
    const char* name;
    opplan::ScheduleKind kind;
  } kinds[] = {{"gpipe", opplan::ScheduleKind::kGPipe},
               {"1f1b", opplan::ScheduleKind::k1F1B},
               {"zb-h1", opplan::ScheduleKind::kZBH1},
               {"dualpipe", opplan::ScheduleKind::kDualPipe}};
  for (const auto& k : kinds) {
    // Each kind on the placement it needs: DualPipe lays the 4 stages out in both directions.
    auto spec = opplan::make_pipeline_spec(opplan::required_placement(k.kind), 4, 16, stage);
    if (!spec.ok()) {
      std::fprintf(stderr, "%s: %s\n", k.name, spec.status().to_string().c_str());
      return 1;
    }
    auto schedule = opplan::build_schedule(*spec, k.kind);
    if (!schedule.ok()) {
      std::fprintf(stderr, "%s: %s\n", k.name, schedule.status().to_string().c_str());
      return 1;
    }
    row(k.name, *schedule);
  }

  // The planner on the linear placement, with 1F1B's memory (4 activations per device).
  auto spec = opplan::make_pipeline_spec(opplan::Placement::kLinear, 4, 16, stage, 1, /*memory_cap=*/4.0);
  if (!spec.ok()) {
    std::fprintf(stderr, "planner: %s\n", spec.status().to_string().c_str());
    return 1;
  }
  opplan::PlannerOptions options;
  options.time_limit = 10;
  auto plan = opplan::plan_pipeline(*spec, options);
  if (!plan.ok()) {
    std::fprintf(stderr, "planner: %s\n", plan.status().to_string().c_str());
    return 1;
  }
  row("planner", plan->schedule);
  std::printf("planner: %s\n", plan->BriefReport().c_str());
  return 0;
}
