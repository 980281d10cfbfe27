// `opplan shard`: the intra-operator sharding plan of a model on a device mesh (opplan::shard):
// per-op layouts, the step time it predicts, whether the LP relaxation was integral, and
// optionally the ILP as an MPS file for other solvers.
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/io.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct ShardArgs {
  std::string graph_file;
  std::string model;
  std::string cluster_file;
  std::string preset;
  std::string mesh;  // "AxB", checked by the option's validator
  double mem_budget = 0;
  std::string mps_file;
  double time_limit = kInf;
  bool no_merge = false;
  bool no_tie = false;
  bool json = false;
  std::string optimizer = "adam";
};

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json to_json(const Graph& g, const Cluster& c, const Mesh& mesh, const ShardingPlan& plan,
                               const ShardArgs& args) {
  nlohmann::ordered_json j;
  j["model"] = g.name();
  j["cluster"] = c.name();
  j["mesh"] = {{"rows", mesh.rows}, {"cols", mesh.cols}, {"devices", mesh.devices.size()}};
  j["termination"] = to_string(plan.termination);
  j["objective_seconds"] = plan.objective;
  j["compute_seconds"] = plan.compute_seconds;
  j["communication_seconds"] = plan.communication_seconds;
  j["resharding_seconds"] = plan.resharding_seconds;
  j["best_bound_seconds"] = plan.best_bound;
  j["memory_bytes"] = plan.memory_bytes;
  j["peak_at"] = plan.peak_at;
  j["memory_budget_bytes"] = number_or_null(plan.memory_budget);
  j["lp_integral"] = plan.lp_integral;
  j["method"] = plan.method;
  j["build_seconds"] = plan.build_seconds;
  j["solve_seconds"] = plan.solve_seconds;
  j["ilp"] = {{"variables", plan.num_variables}, {"rows", plan.num_rows}, {"nodes", plan.num_nodes},
              {"followers", plan.num_followers}, {"tied", plan.num_tied}};
  j["mps_file"] = args.mps_file.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(args.mps_file);
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (OpId id : g.ops()) {
    const OpSharding& op = plan.ops[id.value()];
    nlohmann::ordered_json operands = nlohmann::ordered_json::array();
    for (const auto& spec : op.chosen.operands) operands.push_back(spec.to_string());
    ops.push_back({{"name", op.name},
                   {"kind", g.op(id).kind},
                   {"strategy", op.chosen.name},
                   {"output", op.chosen.output.to_string()},
                   {"operands", operands},
                   {"follows", op.leader == id ? nlohmann::ordered_json(nullptr)
                                               : nlohmann::ordered_json(plan.ops[op.leader.value()].name)},
                   {"compute_seconds", op.chosen.compute_seconds},
                   {"communication_seconds", op.chosen.communication_seconds},
                   {"memory_bytes", op.chosen.memory_bytes}});
  }
  j["ops"] = std::move(ops);
  return j;
}

int run_shard(const ShardArgs& args) {
  const std::optional<Graph> graph = load_graph(args.graph_file, args.model);
  if (!graph) return kExitInvalidInput;
  const std::optional<Cluster> cluster = load_cluster(args.cluster_file, args.preset);
  if (!cluster) return kExitInvalidInput;
  const Graph& g = *graph;
  const Cluster& c = *cluster;
  const auto x = args.mesh.find('x');
  auto mesh = make_mesh(c, std::stoi(args.mesh.substr(0, x)), std::stoi(args.mesh.substr(x + 1)));
  if (!mesh.ok()) return report_error(mesh.status(), args.cluster_file);

  ShardingOptions options;
  options.memory_budget = args.mem_budget;
  options.mps_file = args.mps_file;
  options.time_limit = args.time_limit;
  options.merge_light_ops = !args.no_merge;
  options.tie_repeated_layers = !args.no_tie;
  const AnalyticCostModel cost_model(cost_options(args.optimizer));
  auto plan = shard(g, c, *mesh, cost_model, options);
  if (!plan.ok()) return report_error(plan.status(), args.graph_file);

  if (args.json) {
    std::cout << to_json(g, c, *mesh, *plan, args).dump(2) << "\n";
  } else {
    std::cout << fmt::format("model {} ({} ops) on cluster {}, mesh {}x{}\n", g.name(), g.num_ops(), c.name(),
                             mesh->rows, mesh->cols);
    if (!args.mps_file.empty()) std::cout << fmt::format("ILP written to {}\n", args.mps_file);
    std::cout << plan->FullReport();
  }
  return kExitOk;
}

}  // namespace

Command add_shard_command(CLI::App& parent) {
  auto args = std::make_shared<ShardArgs>();
  CLI::App* app = parent.add_subcommand(
      "shard", "Plan how every operator is split over a device mesh (Alpa's intra-operator ILP; docs/sharding.md)");
  add_graph_options(*app, args->graph_file, args->model);
  app->add_option("--mesh", args->mesh, "Mesh shape AxB: the first A*B devices, A rows (axis 0) of B")
      ->required()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            const auto x = value.find('x');
            auto digits = [](const std::string& s) {  // a positive integer small enough for an int
              return !s.empty() && s.size() <= 6 && s.find_first_not_of("0123456789") == std::string::npos &&
                     s.find_first_not_of('0') != std::string::npos;
            };
            if (x == std::string::npos || !digits(value.substr(0, x)) || !digits(value.substr(x + 1)))
              return "must be AxB with positive integers, e.g. 2x4 (got '" + value + "')";
            return {};
          },
          "AxB", "mesh shape"));
  add_cluster_options(*app, args->cluster_file, args->preset);
  app->add_option("--mem-budget", args->mem_budget,
                  "Bytes per device for parameters and saved activations (default: the device memory)")
      ->check(number_above(0, true));
  app->add_option("--mps", args->mps_file, "Write the ILP to this file (free MPS) before solving");
  app->add_option("--time-limit", args->time_limit, "Seconds for the solver; the best plan so far is reported")
      ->check(number_above(0, true));
  app->add_flag("--no-merge", args->no_merge, "Do not merge light operators into their producers");
  app->add_flag("--no-tie", args->no_tie, "Do not share strategies between identical layers");
  add_optimizer_option(*app, args->optimizer);
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_shard(*args); }};
}

}  // namespace opplan::cli
