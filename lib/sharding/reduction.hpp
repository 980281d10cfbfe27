// Shrinking the sharding problem before it becomes an ILP (alpa.md section 1, "Graph
// simplification"): light ops follow their deepest producer, and ops at the same position of
// identical layers share one strategy vector. Private to lib/.
#pragma once

#include <string>
#include <vector>

#include <opplan/graph.hpp>
#include <opplan/sharding.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// An ILP node: one strategy vector shared by one or more groups (a group = a leader op and the
// light ops that follow it). Costs and memory are summed over every op it stands for, including
// the resharding on edges inside it.
struct ReducedNode {
  OpId leader;                  // leader of its first group
  std::vector<int> groups;
  std::vector<double> cost;     // seconds, per strategy
  std::vector<double> memory;   // bytes per device, per strategy
  std::vector<int> strategy;    // per strategy: the index among the leader's strategies
};

// Resharding between two different nodes, summed over the graph edges between their ops. While
// reducing, cost[p * K_b + q] for strategy p of node a and q of node b; at the end, strategies
// with identical rows (columns) are put in one class, since the cost only depends on the classes
// (typically strategies producing the same layout), and cost becomes classes_a x classes_b:
// cost[row_class[p] * num_col_classes + col_class[q]].
struct ReducedEdge {
  int a = 0, b = 0;
  std::vector<double> cost;
  std::vector<int> row_class, col_class;
  int num_row_classes = 0, num_col_classes = 0;
};

// One live point that can bind (docs/sharding.md, "Memory at live points"): the backward of op
// `at`. coef[node][k]: bytes per device that node's ops hold there with node-local strategy k
// (parameters, saved activations of ops up to `at`, and `at`'s output gradient).
struct MemoryRow {
  OpId at;
  std::vector<std::vector<double>> coef;
};

struct Reduction {
  std::vector<int> group_of_op;          // op -> group
  std::vector<std::vector<int>> follow;  // op -> (group strategy -> op strategy)
  std::vector<OpId> group_leader;        // group -> leader op
  std::vector<int> node_of_group;        // group -> node
  std::vector<ReducedNode> nodes;
  std::vector<ReducedEdge> edges;        // between nodes with more than one strategy, not separable;
                                         // +infinity where a pair breaks an alias constraint
  std::vector<MemoryRow> memory_rows;    // live points not implied by a later one; at least one
  std::string infeasible;                // not empty: the alias constraints cannot all hold (why)
  std::size_t followers = 0;             // ops merged into another op's group
  std::size_t tied = 0;                  // ops whose group shares a node it does not own
  std::size_t pruned = 0;                // node strategies dropped as dominated
  std::size_t aliased = 0;               // node strategies dropped by alias constraints

  std::size_t size(int node) const { return nodes[static_cast<std::size_t>(node)].cost.size(); }
  // Per-op strategy indices from one (node-local) strategy index per node.
  std::vector<int> expand(const std::vector<int>& node_choice) const;
};

Reduction reduce(const Graph& graph, const ShardingProblem& problem, const ShardingOptions& options);

}  // namespace detail
OPPLAN_END_NAMESPACE
