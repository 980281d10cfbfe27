// Cycle detection, topological order and critical path, on the Boost adjacency list behind Graph.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/topological_sort.hpp>
#include <fmt/format.h>

#include "graph/graph_impl.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using Vertex = boost::graph_traits<BoostDigraph>::vertex_descriptor;
using BoostEdge = boost::graph_traits<BoostDigraph>::edge_descriptor;

// Boost's way to stop a depth-first search early is to throw from the visitor.
struct CycleFound {
  Vertex from;  // the back edge from -> to closes the cycle
  Vertex to;
};

class CycleVisitor : public boost::default_dfs_visitor {
 public:
  explicit CycleVisitor(std::vector<Vertex>& parent) : parent_(&parent) {}
  void tree_edge(BoostEdge e, const BoostDigraph& g) const { (*parent_)[boost::target(e, g)] = boost::source(e, g); }
  void back_edge(BoostEdge e, const BoostDigraph& g) const { throw CycleFound{boost::source(e, g), boost::target(e, g)}; }

 private:
  std::vector<Vertex>* parent_;
};

std::string cycle_message(const Graph& graph, const std::vector<OpId>& cycle) {
  std::string path;
  for (OpId op : cycle) path += fmt::format("'{}' -> ", graph.op(op).name);
  path += fmt::format("'{}'", graph.op(cycle.front()).name);
  return "the graph has a cycle: " + path;
}

}  // namespace

std::optional<std::vector<OpId>> Graph::find_cycle() const {
  const auto& g = impl_->digraph;
  std::vector<Vertex> parent(boost::num_vertices(g));
  for (Vertex v = 0; v < parent.size(); ++v) parent[v] = v;
  try {
    boost::depth_first_search(g, boost::visitor(CycleVisitor(parent)));
  } catch (const CycleFound& found) {
    // The DFS tree path to -> ... -> from, closed by the back edge from -> to.
    std::vector<OpId> cycle;
    for (Vertex v = found.from; v != found.to; v = parent[v]) cycle.emplace_back(static_cast<std::uint32_t>(v));
    cycle.emplace_back(static_cast<std::uint32_t>(found.to));
    std::reverse(cycle.begin(), cycle.end());
    return cycle;
  }
  return std::nullopt;
}

Result<std::vector<OpId>> Graph::topological_order() const {
  if (auto cycle = find_cycle()) return Status(StatusCode::kInvalidArgument, cycle_message(*this, *cycle));
  std::vector<Vertex> reversed;
  reversed.reserve(num_ops());
  boost::topological_sort(impl_->digraph, std::back_inserter(reversed));
  std::vector<OpId> order;
  order.reserve(reversed.size());
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) order.emplace_back(static_cast<std::uint32_t>(*it));
  return order;
}

Result<CriticalPath> Graph::critical_path(const std::function<double(OpId)>& op_cost,
                                          const std::function<double(EdgeId)>& edge_cost) const {
  if (!op_cost) return Status(StatusCode::kInvalidArgument, "critical_path: op_cost is empty");
  auto order = topological_order();
  if (!order.ok()) return order.status();

  const std::size_t n = num_ops();
  std::vector<double> cost(n);
  for (OpId id : ops()) {
    const double c = op_cost(id);
    if (!std::isfinite(c) || c < 0)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("critical_path: cost of op '{}' (#{}) is {}; costs must be finite and non-negative",
                                op(id).name, id.value(), c));
    cost[id.value()] = c;
  }

  // finish[v] = longest path ending with v (including v); best_pred[v] = the op before v on it.
  std::vector<double> finish(n, 0.0);
  std::vector<std::uint32_t> best_pred(n, OpId::kInvalid);
  const auto& g = impl_->digraph;
  for (OpId v : *order) {
    double start = 0;
    std::uint32_t pred = OpId::kInvalid;
    for (auto [it, end] = boost::in_edges(v.value(), g); it != end; ++it) {
      const std::uint32_t eid = g[*it];
      double ec = 0;
      if (edge_cost) {
        ec = edge_cost(EdgeId(eid));
        if (!std::isfinite(ec) || ec < 0)
          return Status(StatusCode::kInvalidArgument,
                        fmt::format("critical_path: cost of edge #{} is {}; costs must be finite and non-negative",
                                    eid, ec));
      }
      const auto u = static_cast<std::uint32_t>(boost::source(*it, g));
      if (pred == OpId::kInvalid || finish[u] + ec > start) {
        start = finish[u] + ec;
        pred = u;
      }
    }
    best_pred[v.value()] = pred;
    finish[v.value()] = start + cost[v.value()];
  }

  CriticalPath result;
  if (n == 0) return result;
  std::uint32_t last = 0;
  for (std::uint32_t v = 1; v < n; ++v)
    if (finish[v] > finish[last]) last = v;
  result.length = finish[last];
  for (std::uint32_t v = last; v != OpId::kInvalid; v = best_pred[v]) result.ops.emplace_back(v);
  std::reverse(result.ops.begin(), result.ops.end());
  return result;
}

OPPLAN_END_NAMESPACE
