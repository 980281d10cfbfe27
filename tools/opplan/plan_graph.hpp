// `opplan plan` on a Graph and a Cluster (files, or a zoo model and a preset; by default GPT-3
// 1.3B on one DGX-A100): the operator-level planner (operator_planner.hpp). Private to tools/opplan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace opplan::cli {

struct GraphPlanArgs {
  std::string graph_file, model, cluster_file, preset;
  int micro_batches = 8;
  std::optional<double> memory_cap;  // bytes per device
  std::string objective = "makespan";
  double time_limit = 10;
  int seed = 0;
  int max_units = 0;
  int placement_moves = -1;
  int mip_windows = 8;
  bool no_mip = false;
  std::string svg_file, trace_file;
  bool show_ops = false;
  bool json = false;
};

int run_graph_plan(const GraphPlanArgs& args);

}  // namespace opplan::cli
