// `opplan zoo`: the built-in models with their size (parameters, ops, edges, FLOPs per
// micro-batch), and `--export NAME FILE` to write one as a graph JSON file for other tools.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/io.hpp>
#include <opplan/models.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct ZooArgs {
  std::vector<std::string> export_args;  // NAME FILE
  bool json = false;
};

// Parameters as elements: each op's parameter bytes in its own dtype.
double parameters(const Graph& g) {
  double n = 0;
  for (OpId id : g.ops()) n += g.op(id).param_bytes / size_in_bytes(g.op(id).dtype);
  return n;
}

int run_zoo(const ZooArgs& args) {
  if (!args.export_args.empty()) {
    const std::string& name = args.export_args[0];
    const std::string& file = args.export_args[1];
    auto graph = zoo_model(name);
    if (!graph.ok()) return report_error(graph.status());
    if (Status s = write_graph_json(*graph, file); !s.ok()) return report_error(s, file);
    if (args.json) {
      nlohmann::ordered_json j;
      j["model"] = graph->name();
      j["file"] = file;
      j["ops"] = graph->num_ops();
      j["edges"] = graph->num_edges();
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << fmt::format("wrote {} ({}, {}) to {}\n", graph->name(), plural(graph->num_ops(), "op"),
                               plural(graph->num_edges(), "edge"), file);
    }
    return kExitOk;
  }
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  if (!args.json) std::cout << fmt::format("{:<18} {:>12} {:>7} {:>7} {:>16}\n", "model", "parameters", "ops", "edges", "FLOP/micro-batch");
  for (const std::string& name : zoo_names()) {
    auto graph = zoo_model(name);
    if (!graph.ok()) return report_error(graph.status());
    const GraphTotals t = graph->totals();
    const double flops = t.flops[0] + t.flops[1] + t.flops[2];
    const double params = parameters(*graph);
    if (args.json) {
      models.push_back({{"name", name},
                        {"parameters", params},
                        {"ops", graph->num_ops()},
                        {"edges", graph->num_edges()},
                        {"flops_per_microbatch", flops}});
    } else {
      std::cout << fmt::format("{:<18} {:>12} {:>7} {:>7} {:>16}\n", name, human_si(params, ""), graph->num_ops(),
                               graph->num_edges(), human_si(flops, "FLOP"));
    }
  }
  if (args.json) {
    nlohmann::ordered_json j;
    j["models"] = std::move(models);
    std::cout << j.dump(2) << "\n";
  }
  return kExitOk;
}

}  // namespace

Command add_zoo_command(CLI::App& parent) {
  auto args = std::make_shared<ZooArgs>();
  CLI::App* app = parent.add_subcommand("zoo", "List the built-in models, or export one as a graph JSON file");
  app->add_option("--export", args->export_args, "Write model NAME as graph JSON to FILE")
      ->expected(2)
      ->type_name("NAME FILE");
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_zoo(*args); }};
}

}  // namespace opplan::cli
