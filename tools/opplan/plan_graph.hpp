// `opplan plan` on a Graph and a Cluster (files, or a zoo model and a preset; by default GPT-3
// 1.3B on one DGX-A100): plan() (plan.hpp) with a strategy. Private to tools/opplan.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <opplan/schedule.hpp>
#include <optional>
#include <string>

namespace opplan::cli {

struct GraphPlanArgs {
  std::string graph_file, model, cluster_file, preset;
  std::string strategy = "auto";
  int micro_batches = 8;
  std::optional<double> memory_cap;  // bytes per device
  std::string objective = "makespan";
  double time_limit = 60;
  double gap = 0;
  int seed = 0;
  int max_units = 0;
  int placement_moves = -1;
  int mip_windows = 8;
  bool no_mip = false;
  bool serialize_links = false;
  std::string svg_file, trace_file, mps_file;
  bool show_ops = false;
  bool full = false;  // the full report (steps, per-device lines)
  bool json = false;
  std::string optimizer = "adam";
  std::string profile_file;       // measured op times (opplan.profile JSON): a ProfiledCostModel
  std::int64_t global_batch = 0;  // parallel-config: samples per iteration (0 = micro-batches x samples)
  int threads = 0;                // parallel-config search threads (0 = the machine's cores)
};

int run_graph_plan(const GraphPlanArgs& args);

// Adds "utilisation" and, per schedule row, "bubble", "peak_activations" and "peak_memory" to a
// plan's JSON object (both modes of `opplan plan` report them alike).
void put_schedule_metrics(nlohmann::ordered_json& j, const Schedule& schedule);

}  // namespace opplan::cli
