// The operator-level planner against the best stage-partitioned pipeline on branch-rich graphs
// (issue 5, "Must show"): an Inception-like stack, a MoE layer stack and a two-tower model on 4
// and 8 A100s of one DGX node, on the same cost model. Prints a Markdown table; the ratio column
// is stage pipeline / operator-level (> 1: the operator-level plan is shorter).
//
//   bench_branchy_plan [micro-batches=8] [time-limit-seconds=60] [mip=1] [placement-moves=-1] [serialize-links=0]
//   bench_branchy_plan scaling [time-limit-seconds=10]
//
// `scaling`: the inception stack on 8 devices (48 units) with 1 to 512 micro-batches, i.e. about
// 10^2 to 10^5 operator instances, at a fixed time limit: makespan, bound, gap, seconds.
#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <opplan/opplan.hpp>

namespace {

opplan::Cluster first_devices(int n) {
  const opplan::Cluster node = opplan::Cluster::dgx_a100();
  opplan::Cluster c(fmt::format("dgx-a100[0:{}]", n));
  for (int d = 0; d < n; ++d) c.add_device(node.device(opplan::DeviceId(static_cast<std::uint32_t>(d))));
  c.set_intra_node_link(node.intra_node_link());
  c.set_inter_node_link(node.inter_node_link());
  return c;
}

}  // namespace

int scaling(double time_limit) {
  auto graph = opplan::zoo_model("inception-stack");
  if (!graph.ok()) return 1;
  fmt::print("| micro-batches | instances | makespan (ms) | bound (ms) | gap | placement moves | seconds | termination |\n"
             "|---|---|---|---|---|---|---|---|\n");
  for (int micro_batches : {1, 8, 64, 512}) {
    opplan::OperatorPlanOptions options;
    options.micro_batches = micro_batches;
    options.time_limit = time_limit;
    auto plan = opplan::plan_operators(*graph, first_devices(8), options);
    if (!plan.ok()) {
      fmt::print(stderr, "{} micro-batches: {}\n", micro_batches, plan.status().to_string());
      return 1;
    }
    fmt::print("| {} | {} | {:.3f} | {:.3f} | {:.2f}% | {} | {:.2f} | {} |\n", micro_batches, plan->schedule.num_tasks(),
               1e3 * plan->makespan, 1e3 * plan->lower_bound, 100 * plan->gap, plan->placement_moves_tried,
               plan->solve_seconds, opplan::to_string(plan->termination));
    std::fflush(stdout);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "scaling") return scaling(argc > 2 ? std::atof(argv[2]) : 10);
  const int micro_batches = argc > 1 ? std::atoi(argv[1]) : 8;
  const double time_limit = argc > 2 ? std::atof(argv[2]) : 60;
  const bool use_mip = argc > 3 ? std::atoi(argv[3]) != 0 : true;
  const int moves = argc > 4 ? std::atoi(argv[4]) : -1;
  const bool serialize = argc > 5 && std::atoi(argv[5]) != 0;
  fmt::print("| model | devices | units | stage pipeline (ms) | schedule | operator-level (ms) | ratio | bound (ms) | gap | "
             "placement | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const char* model : {"inception-stack", "moe-stack", "two-tower"}) {
    auto graph = opplan::zoo_model(model);
    if (!graph.ok()) {
      fmt::print(stderr, "{}\n", graph.status().to_string());
      return 1;
    }
    for (int devices : {4, 8}) {
      opplan::OperatorPlanOptions options;
      options.micro_batches = micro_batches;
      options.time_limit = time_limit;
      options.use_mip = use_mip;
      options.placement_moves = moves;
      options.serialize_links = serialize;
      auto plan = opplan::plan_operators(*graph, first_devices(devices), options);
      if (!plan.ok()) {
        fmt::print(stderr, "{} on {}: {}\n", model, devices, plan.status().to_string());
        return 1;
      }
      fmt::print("| {} | {} | {} | {:.3f} | {} | {:.3f} | {:.3f} | {:.3f} | {:.2f}% | {} | {:.2f} |\n", model, devices,
                 plan->units.size(), 1e3 * plan->stage_baseline.makespan, plan->stage_baseline.source,
                 1e3 * plan->makespan, plan->stage_baseline.makespan / plan->makespan, 1e3 * plan->lower_bound,
                 100 * plan->gap, plan->placement_source, plan->solve_seconds);
      std::fflush(stdout);
    }
  }
}
