// `opplan plan` in graph mode: plan_operators() on a Graph + Cluster, printed as a brief report and
// a per-device table, or as one JSON object (--json), drawn with --svg / --trace.
#include "plan_graph.hpp"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <opplan/gantt.hpp>
#include <opplan/operator_planner.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

using Json = nlohmann::ordered_json;

// Per device, "F3:op_name" for every task (micro-batch 3's forward of op_name).
std::vector<std::vector<std::string>> op_labels(const Graph& graph, const Schedule& schedule) {
  std::vector<std::vector<std::string>> out(schedule.device_tasks.size());
  for (std::size_t d = 0; d < schedule.device_tasks.size(); ++d)
    for (const Task& t : schedule.device_tasks[d])
      out[d].push_back(fmt::format("{}{}:{}", work_letter(t.item.work), t.item.micro_batch,
                                   graph.op(OpId(static_cast<std::uint32_t>(t.item.stage))).name));
  return out;
}

Json plan_json(const Graph& graph, const Cluster& cluster, const OperatorPlan& p, int micro_batches) {
  Json j = Json::object();
  j["graph"] = graph.name();
  j["cluster"] = cluster.name();
  j["ops"] = graph.num_ops();
  j["units"] = p.units.size();
  j["devices"] = cluster.num_devices();
  j["micro_batches"] = micro_batches;
  j["makespan"] = p.makespan;
  j["lower_bound"] = p.lower_bound;
  j["placement_lower_bound"] = p.placement_lower_bound;
  j["gap"] = p.gap;
  j["solve_seconds"] = p.solve_seconds;
  j["verified"] = p.verified;
  j["source"] = p.source;
  j["placement_source"] = p.placement_source;
  j["termination"] = to_string(p.termination);
  j["message"] = p.message;
  j["stage_baseline"] = {{"makespan", std::isfinite(p.stage_baseline.makespan) ? Json(p.stage_baseline.makespan) : Json()},
                         {"source", p.stage_baseline.source},
                         {"stages", p.stage_baseline.stages}};
  j["utilisation"] = p.schedule.metrics.utilisation;
  Json bubble = Json::array(), peak = Json::array(), mem = Json::array();
  for (const DeviceMetrics& d : p.schedule.metrics.devices) {
    bubble.push_back(d.bubble);
    peak.push_back(d.peak_activations);
    mem.push_back(d.peak_memory);
  }
  j["bubble"] = std::move(bubble);
  j["peak_activations"] = std::move(peak);
  j["peak_memory"] = std::move(mem);
  Json placement = Json::object();
  for (OpId id : graph.ops()) placement[graph.op(id).name] = p.placement[id.value()].value();
  j["placement"] = std::move(placement);
  j["ops_per_device"] = op_labels(graph, p.schedule);
  return j;
}

void print_plan(const Graph& graph, const OperatorPlan& p, bool show_ops) {
  std::cout << p.BriefReport() << "\n" << p.message << "\n";
  std::cout << fmt::format("{:>6}  {:>5}  {:>10}  {:>10}  {:>11}\n", "device", "ops", "busy", "bubble", "peak memory");
  std::vector<std::size_t> ops(p.schedule.metrics.devices.size(), 0);
  for (DeviceId d : p.placement) ++ops[d.value()];
  for (std::size_t d = 0; d < p.schedule.metrics.devices.size(); ++d) {
    const DeviceMetrics& m = p.schedule.metrics.devices[d];
    std::cout << fmt::format("{:>6}  {:>5}  {:>10}  {:>10}  {:>11}\n", d, ops[d], human_seconds(m.busy),
                             human_seconds(m.bubble), human_bytes(m.peak_memory));
  }
  if (show_ops) {
    const auto labels = op_labels(graph, p.schedule);
    for (std::size_t d = 0; d < labels.size(); ++d) {
      std::string line;
      for (const auto& l : labels[d]) line += (line.empty() ? "" : " ") + l;
      std::cout << fmt::format("ops {}: {}\n", d, line);
    }
  }
}

}  // namespace

int run_graph_plan(const GraphPlanArgs& args) {
  std::string graph_source, cluster_source;
  auto graph = load_graph(args.graph_file, args.model, &graph_source);
  if (!graph) return kExitInvalidInput;
  auto cluster = load_cluster(args.cluster_file, args.preset, &cluster_source);
  if (!cluster) return kExitInvalidInput;
  OperatorPlanOptions options;
  options.micro_batches = args.micro_batches;
  options.memory_cap = args.memory_cap;
  options.objective = *parse_plan_objective(args.objective);  // checked by the option's validator
  options.time_limit = args.time_limit;
  options.seed = args.seed;
  options.max_units = args.max_units;
  options.placement_moves = args.placement_moves;
  options.mip_windows = args.mip_windows;
  options.use_mip = !args.no_mip;
  if (!args.json)
    std::cout << fmt::format("planning {} ({}, {}) on {} ({}), {}\n", graph->name(), graph_source,
                             plural(graph->num_ops(), "op"), cluster->name(),
                             plural(cluster->num_devices(), "device"),
                             plural(static_cast<std::size_t>(args.micro_batches), "micro-batch", "micro-batches"))
              << std::flush;
  auto plan = plan_operators(*graph, *cluster, options);
  if (!plan.ok()) return report_error(plan.status(), args.graph_file);
  if (!args.svg_file.empty())
    if (Status s = write_schedule_svg(plan->schedule, args.svg_file); !s.ok()) return report_error(s, args.svg_file);
  if (!args.trace_file.empty())
    if (Status s = write_schedule_chrome_trace(plan->schedule, args.trace_file); !s.ok())
      return report_error(s, args.trace_file);
  if (args.json)
    std::cout << plan_json(*graph, *cluster, *plan, args.micro_batches).dump(2) << "\n";
  else
    print_plan(*graph, *plan, args.show_ops);
  return kExitOk;
}

}  // namespace opplan::cli
