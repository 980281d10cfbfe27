// The pipeline planner on the reference's "half the bubble" case: DualPipe's placement, 8 devices,
// 20 micro-batches (10 per direction), F = b = W = 1, at most 8 activations per device. DualPipe
// itself needs 66 and 9 activations; the planner finds 63 and proves it with its lower bound.
#include <iostream>
#include <opplan/opplan.hpp>

int main() {
  opplan::StageSpec stage;  // F = b = W = 1, one unit of activation per micro-batch and stage
  auto spec = opplan::make_pipeline_spec(opplan::Placement::kDualPipe, 8, 20, stage, 1, /*memory_cap=*/8.0);
  if (!spec.ok()) {
    std::cerr << spec.status().to_string() << "\n";
    return 1;
  }
  opplan::PlannerOptions options;
  options.time_limit = 10;
  auto plan = opplan::plan_pipeline(*spec, options);
  if (!plan.ok()) {
    std::cerr << plan.status().to_string() << "\n";
    return 1;
  }
  std::cout << plan->BriefReport() << "\n";
  std::cout << "bubble on device 3: " << plan->schedule.metrics.devices[3].bubble << "\n";
  return plan->verified ? 0 : 1;
}
