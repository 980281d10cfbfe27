// `opplan validate GRAPH.json [CLUSTER.json]`: read and check input files without planning. Both
// files are always checked, so one run reports every broken input.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/io.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct ValidateArgs {
  std::string graph_file;
  std::string cluster_file;
  bool json = false;
};

int run_validate(const ValidateArgs& args) {
  nlohmann::ordered_json result = nlohmann::ordered_json::object();
  std::string text;
  int exit_code = kExitOk;

  auto graph = read_graph_file(args.graph_file);
  if (!graph.ok()) {
    exit_code = report_error(graph.status(), args.graph_file);
  } else {
    const Graph& g = graph.value();
    result["graph"] = {{"file", args.graph_file}, {"name", g.name()}, {"ops", g.num_ops()}, {"edges", g.num_edges()}};
    text += fmt::format("ok: {}: graph '{}', {}, {}\n", args.graph_file, g.name(), plural(g.num_ops(), "op"),
                        plural(g.num_edges(), "edge"));
  }

  if (!args.cluster_file.empty()) {
    auto cluster = read_cluster_json(args.cluster_file);
    if (!cluster.ok()) {
      exit_code = report_error(cluster.status(), args.cluster_file);
    } else {
      const Cluster& c = cluster.value();
      result["cluster"] = {{"file", args.cluster_file}, {"name", c.name()},          {"devices", c.num_devices()},
                           {"nodes", c.num_nodes()},   {"meshes", c.num_meshes()}};
      text += fmt::format("ok: {}: cluster '{}', {} on {}, {}\n", args.cluster_file, c.name(),
                          plural(c.num_devices(), "device"), plural(c.num_nodes(), "node"),
                          plural(c.num_meshes(), "mesh", "meshes"));
    }
  }

  // In JSON mode a failure leaves stdout empty; in text mode the files that are fine still say so.
  if (args.json) {
    if (exit_code == kExitOk) std::cout << result.dump(2) << "\n";
  } else {
    std::cout << text;
  }
  return exit_code;
}

}  // namespace

Command add_validate_command(CLI::App& parent) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* app = parent.add_subcommand("validate", "Read and check a graph file and optionally a cluster file");
  app->add_option("GRAPH", args->graph_file, "Graph file: opplan JSON (docs/file-formats.md) or ONNX")->required();
  app->add_option("CLUSTER", args->cluster_file, "Cluster JSON file");
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_validate(*args); }};
}

}  // namespace opplan::cli
