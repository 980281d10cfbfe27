// `opplan info`: what a graph and a cluster look like to the planner. Until plan() exists this is
// the program's main job, so by default it describes a built-in model on a built-in machine.
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/io.hpp>
#include <opplan/models.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct InfoArgs {
  std::string graph_file;
  std::string model;
  std::string cluster_file;
  std::string preset;
  bool json = false;
};

// What `info` reports, computed once and then printed either way.
struct InfoReport {
  std::string graph_source;    // "built-in model" or the file
  std::string cluster_source;  // "built-in preset" or the file
  const Graph* graph = nullptr;
  const Cluster* cluster = nullptr;
  GraphTotals totals;
  CriticalPath time_path;  // forward seconds on device 0
  CriticalPath flop_path;  // forward FLOPs
};

double peak_flops(const Cluster& cluster) {
  double sum = 0;
  for (DeviceId d : cluster.devices()) sum += cluster.device(d).peak_flops;
  return sum;
}

double memory_bytes(const Cluster& cluster) {
  double sum = 0;
  for (DeviceId d : cluster.devices()) sum += cluster.device(d).memory_bytes;
  return sum;
}

std::string path_end(const Graph& graph, const CriticalPath& path, bool first) {
  if (path.ops.empty()) return {};
  return graph.op(first ? path.ops.front() : path.ops.back()).name;
}

// ordered_json keeps the members in the documented order: graph, cluster, critical_path.
nlohmann::ordered_json to_json(const InfoReport& r) {
  const Graph& g = *r.graph;
  const Cluster& c = *r.cluster;
  auto name_or_null = [&](bool first) -> nlohmann::ordered_json {
    if (r.time_path.ops.empty()) return nullptr;
    return path_end(g, r.time_path, first);
  };
  nlohmann::ordered_json j;
  j["graph"] = {
      {"name", g.name()},
      {"ops", g.num_ops()},
      {"edges", g.num_edges()},
      {"flops",
       {{"forward", r.totals.flops[static_cast<int>(Phase::kForward)]},
        {"input_grad", r.totals.flops[static_cast<int>(Phase::kInputGrad)]},
        {"weight_grad", r.totals.flops[static_cast<int>(Phase::kWeightGrad)]}}},
      {"param_bytes", r.totals.param_bytes},
      {"activation_bytes", r.totals.activation_bytes},
  };
  j["cluster"] = {
      {"name", c.name()},
      {"devices", c.num_devices()},
      {"nodes", c.num_nodes()},
      {"peak_flops", peak_flops(c)},
      {"memory_bytes", memory_bytes(c)},
  };
  j["critical_path"] = {
      {"seconds", r.time_path.length},
      {"flops", r.flop_path.length},
      {"ops", r.time_path.ops.size()},
      {"first", name_or_null(true)},
      {"last", name_or_null(false)},
  };
  return j;
}

// "matmul 97, batch_matmul 48, ..." by decreasing count, then name.
std::string kinds_line(const Graph& g) {
  std::map<std::string, int> count;
  for (OpId id : g.ops()) ++count[g.op(id).kind];
  std::multimap<int, std::string, std::greater<>> by_count;
  for (const auto& [kind, n] : count) by_count.emplace(n, kind);
  std::string line;
  for (const auto& [n, kind] : by_count) line += fmt::format("{}{} {}", line.empty() ? "" : ", ", kind, n);
  return line;
}

// " (1.32 G parameters in f16)" when every op with parameters has the same dtype, so the count is
// meaningful; empty otherwise.
std::string parameter_count(const Graph& g, double param_bytes) {
  std::set<DType> dtypes;
  for (OpId id : g.ops())
    if (g.op(id).param_bytes > 0) dtypes.insert(g.op(id).dtype);
  if (dtypes.size() != 1) return {};
  const DType dtype = *dtypes.begin();
  return fmt::format(" ({} parameters in {})", human_si(param_bytes / size_in_bytes(dtype), ""), to_string(dtype));
}

void print_human(const InfoReport& r) {
  const Graph& g = *r.graph;
  const Cluster& c = *r.cluster;
  const auto flops = [&](Phase p) { return human_si(r.totals.flops[static_cast<int>(p)], "FLOP"); };
  std::set<std::string> layers, models;
  for (OpId id : g.ops())
    if (!g.op(id).layer.empty()) layers.insert(g.op(id).layer);
  for (DeviceId d : c.devices()) models.insert(c.device(d).model);

  std::string out;
  auto line = [&](std::string_view label, const std::string& text) { out += fmt::format("{:<14}{}\n", label, text); };
  line("model", fmt::format("{} ({})", g.name(), r.graph_source));
  line("ops", fmt::format("{}, {}{}", plural(g.num_ops(), "op"), plural(g.num_edges(), "edge"),
                          layers.empty() ? "" : ", " + plural(layers.size(), "layer")));
  if (g.num_ops() > 0) line("", kinds_line(g));
  line("FLOPs", fmt::format("forward {}, input-grad {}, weight-grad {} per micro-batch", flops(Phase::kForward),
                            flops(Phase::kInputGrad), flops(Phase::kWeightGrad)));
  line("parameters", human_bytes(r.totals.param_bytes) + parameter_count(g, r.totals.param_bytes));
  line("activations", human_bytes(r.totals.activation_bytes) + " per micro-batch");
  std::string devices = plural(c.num_devices(), "device");
  if (models.size() == 1) {  // homogeneous: say what one device is
    const Device& d = c.device(DeviceId(0));
    devices = fmt::format("{} x {} ({}, {})", c.num_devices(), d.model.empty() ? "unnamed device" : d.model,
                          human_si(d.peak_flops, "FLOP/s"), human_bytes(d.memory_bytes));
  }
  line("cluster", fmt::format("{} ({}): {} on {}", c.name(), r.cluster_source, devices, plural(c.num_nodes(), "node")));
  line("", fmt::format("peak {}, memory {} in total", human_si(peak_flops(c), "FLOP/s"), human_bytes(memory_bytes(c))));
  const Device& dev0 = c.device(DeviceId(0));
  out += fmt::format("critical path (forward pass, all ops on {}, analytic cost model)\n", dev0.name);
  if (r.time_path.ops.empty()) {
    line("  time", "0 s (no ops)");
  } else {
    line("  time", fmt::format("{} over {}, {} -> {}", human_seconds(r.time_path.length),
                               plural(r.time_path.ops.size(), "op"), path_end(g, r.time_path, true),
                               path_end(g, r.time_path, false)));
    line("  FLOPs",
         fmt::format("{} over {}", human_si(r.flop_path.length, "FLOP"), plural(r.flop_path.ops.size(), "op")));
  }
  std::cout << out;
}

int run_info(const InfoArgs& args) {
  std::string graph_source, cluster_source;
  const std::optional<Graph> graph = load_graph(args.graph_file, args.model, &graph_source);
  if (!graph) return kExitInvalidInput;
  const std::optional<Cluster> cluster = load_cluster(args.cluster_file, args.preset, &cluster_source);
  if (!cluster) return kExitInvalidInput;
  const Graph& g = *graph;
  const Cluster& c = *cluster;
  if (c.num_devices() == 0) return report_error("the cluster has no devices");

  InfoReport report{graph_source, cluster_source, &g, &c, g.totals(), {}, {}};
  const AnalyticCostModel cost_model;
  const Device& dev0 = c.device(DeviceId(0));
  auto time_path = g.critical_path([&](OpId id) { return cost_model.op_time(g.op(id), Phase::kForward, dev0); });
  if (!time_path.ok()) return report_error(time_path.status(), graph_source);
  auto flop_path = g.critical_path([&](OpId id) { return g.op(id).forward.flops; });
  if (!flop_path.ok()) return report_error(flop_path.status(), graph_source);
  report.time_path = std::move(time_path).value();
  report.flop_path = std::move(flop_path).value();

  if (args.json)
    std::cout << to_json(report).dump(2) << "\n";
  else
    print_human(report);
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* app = parent.add_subcommand(
      "info", fmt::format("Describe a graph and a cluster: size, FLOPs per phase, memory, forward critical path "
                          "(default: {} on {})",
                          kDefaultModel, kDefaultPreset));
  add_graph_options(*app, args->graph_file, args->model, "GRAPH");
  add_cluster_options(*app, args->cluster_file, args->preset);
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_info(*args); }};
}

}  // namespace opplan::cli
