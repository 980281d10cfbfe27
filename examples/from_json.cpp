// Reads a graph and a cluster from JSON files (docs/file-formats.md), validates both, and prints
// the graph's totals and the critical path of its forward pass on the cluster's first device.
//
//   example_from_json GRAPH.json CLUSTER.json
//
// A missing or malformed file is reported with the file name and the JSON path, and exits with 1.
#include <opplan/opplan.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GRAPH.json CLUSTER.json\n", argv[0]);
    return 2;
  }
  auto graph = opplan::read_graph_json(argv[1]);
  if (!graph.ok()) {
    std::fprintf(stderr, "cannot use the graph: %s\n", graph.status().message().c_str());
    return 1;
  }
  auto cluster = opplan::read_cluster_json(argv[2]);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot use the cluster: %s\n", cluster.status().message().c_str());
    return 1;
  }
  // The readers already validate; a graph built or edited in code would call these itself.
  if (opplan::Status s = graph->validate(); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[1], s.message().c_str());
    return 1;
  }
  if (opplan::Status s = cluster->validate(); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[2], s.message().c_str());
    return 1;
  }

  const opplan::GraphTotals totals = graph->totals();
  std::printf("graph '%s': %zu ops, %zu edges\n", graph->name().c_str(), graph->num_ops(), graph->num_edges());
  std::printf("  forward %.4g GFLOP, input-grad %.4g GFLOP, weight-grad %.4g GFLOP\n",
              totals.flops[static_cast<int>(opplan::Phase::kForward)] / 1e9,
              totals.flops[static_cast<int>(opplan::Phase::kInputGrad)] / 1e9,
              totals.flops[static_cast<int>(opplan::Phase::kWeightGrad)] / 1e9);
  std::printf("  parameters %.4g MB, activations %.4g MB\n", totals.param_bytes / 1e6, totals.activation_bytes / 1e6);
  std::printf("cluster '%s': %zu devices\n", cluster->name().c_str(), cluster->num_devices());

  const opplan::Device& device = cluster->device(opplan::DeviceId(0));
  const opplan::AnalyticCostModel cost_model;
  auto path = graph->critical_path(
      [&](opplan::OpId id) { return cost_model.op_time(graph->op(id), opplan::Phase::kForward, device); });
  if (!path.ok()) {
    std::fprintf(stderr, "%s\n", path.status().to_string().c_str());
    return 1;
  }
  std::string ops;
  for (opplan::OpId id : path->ops) ops += (ops.empty() ? "" : " -> ") + graph->op(id).name;
  std::printf("critical path on %s: %zu ops, %.4g ms: %s\n", device.name.c_str(), path->ops.size(),
              path->length * 1e3, ops.c_str());
  return 0;
}
