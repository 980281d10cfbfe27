// Small graphs and clusters for the sharding tests.
#pragma once

#include <opplan/cluster.hpp>
#include <opplan/graph.hpp>
#include <opplan/sharding.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace opplan::sharding_test {

// `nodes` x `per_node` identical GPUs (312 TFLOP/s, 80 GB): a fast link inside a node, a slower one
// between nodes, the same latency on both.
inline Cluster two_level_cluster(int nodes, int per_node, double intra_beta = 1 / 300e9,
                                 double inter_beta = 1 / 25e9, double alpha = 1e-6) {
  Cluster cluster("test-cluster");
  for (int n = 0; n < nodes; ++n)
    for (int k = 0; k < per_node; ++k) {
      Device d;
      d.name = "n" + std::to_string(n) + ".gpu" + std::to_string(k);
      d.node = n;
      d.peak_flops = 312e12;
      d.memory_bytes = 80e9;
      d.memory_bandwidth = 2e12;
      cluster.add_device(d);
    }
  cluster.set_intra_node_link({alpha, intra_beta});
  cluster.set_inter_node_link({alpha, inter_beta});
  return cluster;
}

// An fp16 op with compute-bound phases: `flops` forward and input-gradient, and weight-gradient
// when it has parameters.
inline Op make_op(std::string name, std::string kind, std::string dims, std::vector<std::int64_t> shape,
                  double flops, double param_bytes = 0, double activation_bytes = 0) {
  Op op;
  op.name = std::move(name);
  op.kind = std::move(kind);
  op.dims = std::move(dims);
  op.shape = std::move(shape);
  op.dtype = DType::kF16;
  op.forward.flops = flops;
  op.input_grad.flops = flops;
  if (param_bytes > 0) op.weight_grad.flops = flops;
  op.param_bytes = param_bytes;
  op.activation_bytes = activation_bytes;
  return op;
}

// fc1 -> gelu -> fc2 on tokens [b, s, h], hidden f; fc1's input is data (it has no producer).
inline Graph mlp(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t f) {
  const double T = double(b) * double(s);
  const double matmul = 2 * T * double(h) * double(f);
  Graph g("mlp");
  const OpId fc1 = g.add_op(make_op("fc1", "matmul", "b s h, h f -> b s f", {b, s, f}, matmul, 2.0 * h * f, 2 * T * h));
  const OpId gelu = g.add_op(make_op("gelu", "elementwise", "b s f -> b s f", {b, s, f}, 8 * T * f, 0, 2 * T * f));
  const OpId fc2 = g.add_op(make_op("fc2", "matmul", "b s f, f h -> b s h", {b, s, h}, matmul, 2.0 * h * f, 2 * T * f));
  g.add_edge(fc1, gelu);
  g.add_edge(gelu, fc2);
  return g;
}

// The index of the strategy called `name` of op `op`, or -1.
inline int strategy_named(const ShardingProblem& problem, const Graph& g, const std::string& op, const std::string& name) {
  const auto id = g.find_op(op);
  if (!id) return -1;
  const auto& list = problem.strategies[id->value()];
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].name == name) return static_cast<int>(i);
  return -1;
}

}  // namespace opplan::sharding_test
