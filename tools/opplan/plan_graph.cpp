// `opplan plan` in graph mode: plan() on a Graph + Cluster, printed as the brief (or full) report,
// or as one JSON object (--json), drawn with --svg / --trace; a progress line and Ctrl-C on a
// terminal (terminal_progress.hpp).
#include "plan_graph.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opplan/gantt.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/plan.hpp>
#include <opplan/profiled_cost_model.hpp>

#include "cli.hpp"
#include "terminal_progress.hpp"

namespace opplan::cli {
namespace {

using Json = nlohmann::ordered_json;

// Per schedule row, the task labels: "F3:op_name" for operator-level plans (micro-batch 3's
// forward of op_name), the op-string notation ("F3", "b0") for stage and pipeline-rank rows.
std::vector<std::vector<std::string>> row_labels(const Graph& graph, const Plan& p) {
  if (p.stages || p.configs) return p.schedule.op_strings();
  std::vector<std::vector<std::string>> out(p.schedule.device_tasks.size());
  for (std::size_t d = 0; d < p.schedule.device_tasks.size(); ++d)
    for (const Task& t : p.schedule.device_tasks[d])
      out[d].push_back(fmt::format("{}{}:{}", work_letter(t.item.work), t.item.micro_batch,
                                   graph.op(OpId(static_cast<std::uint32_t>(t.item.stage))).name));
  return out;
}

// The Megatron-LM line of an evaluated configuration: its layer count is what its ranks hold.
MegatronCommand megatron_command_of(const Evaluation& ev) {
  int layers = 0;
  for (const auto& st : ev.stages) layers += st.layers;
  return megatron_command(ev.config, layers);
}

Json plan_json(const Graph& graph, const Cluster& cluster, const Plan& p) {
  const PlanSummary& s = p.summary;
  Json j = Json::object();
  j["graph"] = graph.name();
  j["cluster"] = cluster.name();
  j["graph_ops"] = graph.num_ops();
  j["devices"] = cluster.num_devices();
  j["micro_batches"] = s.micro_batches;
  j["strategy"] = s.strategy;
  j["makespan"] = p.iteration_seconds;
  j["lower_bound"] = p.lower_bound;
  j["gap"] = p.gap;
  j["solve_seconds"] = s.total_seconds;
  j["verified"] = p.verified;
  j["termination"] = to_string(s.termination);
  j["message"] = s.message;
  Json steps = Json::array();
  for (const PlanStep& step : s.steps) steps.push_back({{"name", step.name}, {"seconds", step.seconds}, {"outcome", step.outcome}});
  j["steps"] = std::move(steps);
  put_schedule_metrics(j, p.schedule);
  if (p.stages) {
    Json stages = Json::array();
    for (const Stage& st : p.stages->stages) {
      Json devices = Json::array();
      for (DeviceId d : st.mesh.devices) devices.push_back(d.value());
      stages.push_back({{"ops", st.ops.size()},
                        {"first_op", graph.op(st.ops.front()).name},
                        {"last_op", graph.op(st.ops.back()).name},
                        {"mesh", {{"rows", st.mesh.rows}, {"cols", st.mesh.cols}}},
                        {"devices", std::move(devices)},
                        {"latency", st.latency},
                        {"memory_bytes", st.memory_bytes}});
    }
    j["stages"] = std::move(stages);
  }
  if (p.configs) {
    const ConfigSearchResult& c = *p.configs;
    Json pc = Json::parse(evaluation_to_json(c.best));
    Json ranked = Json::array();
    auto entry = [](const ConfigCandidate& x) {
      return Json{{"config", x.config.ToString()}, {"iteration_seconds", x.iteration_seconds},
                  {"memory_bytes", x.memory_bytes}, {"capacity_bytes", x.capacity_bytes}, {"fits", x.fits},
                  {"verdict", x.verdict}};
    };
    for (const auto& x : c.ranked) ranked.push_back(entry(x));
    Json too_big = Json::array(), refs = Json::array();
    for (const auto& x : c.too_big) too_big.push_back(entry(x));
    for (const auto& x : c.references) refs.push_back(entry(x));
    const MegatronCommand megatron = megatron_command_of(c.best);
    pc["megatron_args"] = megatron.args;
    pc["megatron_notes"] = megatron.notes;
    j["parallel_config"] = std::move(pc);
    j["search"] = {{"global_batch", c.global_batch}, {"candidates", c.enumerated}, {"pruned_memory", c.pruned_memory},
                   {"pruned_bound", c.pruned_bound}, {"evaluated", c.evaluated}, {"failed", c.failed},
                   {"complete", c.complete}, {"seconds", c.seconds}, {"ranked", std::move(ranked)},
                   {"too_big", std::move(too_big)}, {"references", std::move(refs)},
                   {"data_parallel", c.data_parallel ? entry(*c.data_parallel) : Json()}};
  }
  Json placement = Json::object(), sharding = Json::object();
  for (OpId id : graph.ops()) {
    placement[graph.op(id).name] = p.placement[id.value()].value();
    sharding[graph.op(id).name] = p.sharding[id.value()];
  }
  j["placement"] = std::move(placement);
  j["sharding"] = std::move(sharding);
  j["ops"] = row_labels(graph, p);  // per schedule row, the task labels
  return j;
}

}  // namespace

void put_schedule_metrics(Json& j, const Schedule& schedule) {
  j["utilisation"] = schedule.metrics.utilisation;
  Json bubble = Json::array(), peak = Json::array(), mem = Json::array();
  for (const DeviceMetrics& d : schedule.metrics.devices) {
    bubble.push_back(d.bubble);
    peak.push_back(d.peak_activations);
    mem.push_back(d.peak_memory);
  }
  j["bubble"] = std::move(bubble);
  j["peak_activations"] = std::move(peak);
  j["peak_memory"] = std::move(mem);
}

int run_graph_plan(const GraphPlanArgs& args) {
  // The configuration search's options mean nothing to the other strategies: say so rather than
  // ignore them.
  if ((args.global_batch > 0 || args.threads > 0) && args.strategy != "auto" && args.strategy != "parallel-config")
    return report_error(fmt::format("--global-batch and --threads apply to the parallel-config strategy (and auto), not "
                                    "to --strategy {}",
                                    args.strategy));
  std::string graph_source, cluster_source;
  auto graph = load_graph(args.graph_file, args.model, &graph_source);
  if (!graph) return kExitInvalidInput;
  auto cluster = load_cluster(args.cluster_file, args.preset, &cluster_source);
  if (!cluster) return kExitInvalidInput;
  const AnalyticCostModel analytic(cost_options(args.optimizer));
  // A profile (opplan.torch.run --write-profile, docs/profiles.md) replaces the analytic times of the
  // ops it measured; the analytic model answers the rest.
  std::optional<ProfiledCostModel> profiled;
  if (!args.profile_file.empty()) {
    auto p = ProfiledCostModel::FromFile(args.profile_file, cost_options(args.optimizer));
    if (!p.ok()) return report_error(p.status(), args.profile_file);
    profiled.emplace(std::move(*p));
  }
  const CostModel& cost_model = profiled ? static_cast<const CostModel&>(*profiled) : analytic;
  PlanOptions options;
  options.cost_model = &cost_model;
  options.strategy = *parse_plan_strategy(args.strategy);      // checked by the option's validator
  options.objective = *parse_plan_objective(args.objective);  // likewise
  options.micro_batches = args.micro_batches;
  options.global_batch = args.global_batch;
  options.threads = args.threads;
  options.memory_cap = args.memory_cap;
  options.time_limit = args.time_limit;
  options.relative_gap = args.gap;
  options.seed = args.seed;
  options.operator_level.max_units = args.max_units;
  options.operator_level.placement_moves = args.placement_moves;
  options.operator_level.mip_windows = args.mip_windows;
  options.operator_level.use_mip = !args.no_mip;
  options.operator_level.serialize_links = args.serialize_links;
  options.operator_level.mps_file = args.mps_file;
  if (!args.json)
    std::cout << fmt::format("planning {} ({}, {}) on {} ({}), {}, strategy {}\n", graph->name(), graph_source,
                             plural(graph->num_ops(), "op"), cluster->name(), plural(cluster->num_devices(), "device"),
                             plural(static_cast<std::size_t>(args.micro_batches), "micro-batch", "micro-batches"),
                             args.strategy)
              << std::flush;
  Result<Plan> result = Status(StatusCode::kInternal, "not planned");
  {
    TerminalProgress progress(!args.json && TerminalProgress::stderr_is_terminal());
    options.monitor = progress.monitor();
    result = plan(*graph, *cluster, options);
  }
  if (!result.ok()) return report_error(result.status(), args.graph_file);
  if (!args.svg_file.empty())
    if (Status s = write_schedule_svg(result->schedule, args.svg_file); !s.ok()) return report_error(s, args.svg_file);
  if (!args.trace_file.empty())
    if (Status s = write_schedule_chrome_trace(result->schedule, args.trace_file); !s.ok())
      return report_error(s, args.trace_file);
  if (args.json) {
    std::cout << plan_json(*graph, *cluster, *result).dump(2) << "\n";
    return kExitOk;
  }
  std::cout << (args.full ? result->summary.FullReport() : result->summary.BriefReport() + "\n");
  if (result->configs) {
    const ConfigSearchResult& c = *result->configs;
    std::cout << (args.full ? c.FullReport() : c.BriefReport() + "\n" + c.ComparisonReport());
    const MegatronCommand megatron = megatron_command_of(c.best);
    std::cout << "megatron-lm: " << megatron.args << "\n";
    for (const std::string& note : megatron.notes) std::cout << "  (" << note << ")\n";
  }
  if (args.show_ops) {
    const auto labels = row_labels(*graph, *result);
    for (std::size_t d = 0; d < labels.size(); ++d) {
      std::string line;
      for (const auto& l : labels[d]) line += (line.empty() ? "" : " ") + l;
      std::cout << fmt::format("ops {}: {}\n", d, line);
    }
  }
  return kExitOk;
}

}  // namespace opplan::cli
