// `opplan stages`: the inter-operator plan of a model on a cluster (opplan::plan_stages): pipeline
// stages with their layers, submeshes and logical meshes, the 1F1B memory of each, the predicted
// iteration time and how long planning took.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/stages.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct StagesArgs {
  std::string graph_file;
  std::string model;
  std::string cluster_file;
  std::string preset;
  int microbatches = 16;
  int layers = 0;
  bool json = false;
  std::string optimizer = "adam";
};

nlohmann::ordered_json to_json(const Graph& g, const Cluster& c, const StagePlan& plan) {
  nlohmann::ordered_json j;
  j["model"] = g.name();
  j["cluster"] = c.name();
  j["devices"] = c.num_devices();
  j["microbatches"] = plan.num_microbatches;
  j["layers"] = plan.layers.size();
  j["iteration_seconds"] = plan.iteration_seconds;
  j["max_stage_seconds"] = plan.max_stage_seconds;
  j["planning_seconds"] = plan.planning_seconds;
  j["costing_seconds"] = plan.costing_seconds;
  j["shard_calls"] = plan.num_shard_calls;
  j["t_max_tried"] = plan.num_t_max_tried;
  j["device_memory_bytes"] = plan.device_memory;
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (const Stage& s : plan.stages) {
    nlohmann::ordered_json devices = nlohmann::ordered_json::array();
    for (DeviceId d : s.mesh.devices) devices.push_back(c.device(d).name);
    stages.push_back({{"first_layer", s.first_layer},
                      {"last_layer", s.last_layer},
                      {"ops", s.ops.size()},
                      {"first_op", s.ops.empty() ? std::string() : g.op(s.ops.front()).name},
                      {"last_op", s.ops.empty() ? std::string() : g.op(s.ops.back()).name},
                      {"submesh", {s.submesh.hosts, s.submesh.devices}},
                      {"logical_mesh", {s.mesh.rows, s.mesh.cols}},
                      {"devices", devices},
                      {"least_memory_sharding", s.least_memory_sharding},
                      {"latency_seconds", s.latency},
                      {"parameter_bytes", s.parameter_bytes},
                      {"activation_bytes", s.activation_bytes},
                      {"microbatches_in_flight", s.microbatches_in_flight},
                      {"memory_bytes", s.memory_bytes},
                      {"recomputed_layers", s.recomputed_layers}});
  }
  j["stages"] = std::move(stages);
  return j;
}

int run_stages(const StagesArgs& args) {
  const std::optional<Graph> graph = load_graph(args.graph_file, args.model);
  if (!graph) return kExitInvalidInput;
  const std::optional<Cluster> cluster = load_cluster(args.cluster_file, args.preset);
  if (!cluster) return kExitInvalidInput;
  StageOptions options;
  options.num_microbatches = args.microbatches;
  options.num_layers = args.layers;
  const AnalyticCostModel cost_model(cost_options(args.optimizer));
  auto plan = plan_stages(*graph, *cluster, cost_model, options);
  if (!plan.ok()) return report_error(plan.status(), args.graph_file);
  if (args.json) {
    std::cout << to_json(*graph, *cluster, *plan).dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("model {} ({}) on cluster {} ({}), {} per device\n", graph->name(),
                           plural(graph->num_ops(), "op"), cluster->name(), plural(cluster->num_devices(), "device"),
                           human_bytes(plan->device_memory));
  std::cout << fmt::format("{} stages, {} micro-batches: {} per iteration (largest stage {}), planned in {} "
                           "({} intra-op plans, {} t_max values)\n",
                           plan->stages.size(), plan->num_microbatches, human_seconds(plan->iteration_seconds),
                           human_seconds(plan->max_stage_seconds), human_seconds(plan->planning_seconds),
                           plan->num_shard_calls, plan->num_t_max_tried);
  for (std::size_t i = 0; i < plan->stages.size(); ++i) {
    const Stage& s = plan->stages[i];
    const std::string first = s.ops.empty() ? "" : graph->op(s.ops.front()).name;
    const std::string last = s.ops.empty() ? "" : graph->op(s.ops.back()).name;
    std::cout << fmt::format(
        "stage {}: layers {}-{} ({} .. {}), submesh {}x{}, mesh {}x{} on {} .. {}, {} per micro-batch, memory {} "
        "({} + {} x {}){}\n",
        i, s.first_layer, s.last_layer, first, last, s.submesh.hosts, s.submesh.devices, s.mesh.rows, s.mesh.cols,
        cluster->device(s.mesh.devices.front()).name, cluster->device(s.mesh.devices.back()).name,
        human_seconds(s.latency), human_bytes(s.memory_bytes), human_bytes(s.parameter_bytes), s.microbatches_in_flight,
        human_bytes(s.activation_bytes), s.least_memory_sharding ? ", least-memory sharding" : "");
  }
  return kExitOk;
}

}  // namespace

Command add_stages_command(CLI::App& parent) {
  auto args = std::make_shared<StagesArgs>();
  CLI::App* app = parent.add_subcommand(
      "stages", "Plan pipeline stages, submeshes and logical meshes (Alpa's inter-operator DP; docs/stages.md)");
  add_graph_options(*app, args->graph_file, args->model);
  add_cluster_options(*app, args->cluster_file, args->preset);
  app->add_option("--microbatches", args->microbatches, "Micro-batches per iteration (default 16)")
      ->check(CLI::Range(1, 1 << 20));
  app->add_option("--layers", args->layers, "Layers the DP clusters the ops into (default: layer tags, at most 16)")
      ->check(CLI::Range(1, 128));
  add_optimizer_option(*app, args->optimizer);
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_stages(*args); }};
}

}  // namespace opplan::cli
