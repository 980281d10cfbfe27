// build_sharding_problem: strategies of every op and resharding costs of every edge.
#include <opplan/sharding.hpp>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <unordered_set>

#include <fmt/format.h>

#include "sharding/annotation.hpp"
#include "sharding/mesh_costs.hpp"
#include "sharding/strategies.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

Status check_mesh(const Cluster& cluster, const Mesh& mesh) {
  const std::string who = mesh.name.empty() ? std::string("mesh") : fmt::format("mesh '{}'", mesh.name);
  if (mesh.rows < 1 || mesh.cols < 1)
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: shape {}x{} must have positive sides", who, mesh.rows, mesh.cols));
  const std::size_t size = static_cast<std::size_t>(mesh.rows) * static_cast<std::size_t>(mesh.cols);
  if (size != mesh.devices.size())
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: shape {}x{} needs {} devices but the mesh lists {}", who,
                                                            mesh.rows, mesh.cols, size, mesh.devices.size()));
  std::unordered_set<DeviceId> seen;
  for (std::size_t i = 0; i < mesh.devices.size(); ++i) {
    const DeviceId d = mesh.devices[i];
    if (!d.valid() || d.value() >= cluster.num_devices())
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{}: device #{} (id {}) is not a device of cluster '{}', which has {} devices", who, i,
                                d.valid() ? std::to_string(d.value()) : "invalid", cluster.name(), cluster.num_devices()));
    if (!seen.insert(d).second)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{}: device '{}' appears more than once", who, cluster.device(d).name));
  }
  return Status::Ok();
}

// Distinct layouts among a list, so each (from, to) pair of an edge is costed once.
struct SpecIndex {
  std::vector<ShardingSpec> specs;
  std::vector<int> of;  // per strategy
  void add(const ShardingSpec& spec) {
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (specs[i] == spec) return of.push_back(static_cast<int>(i));
    of.push_back(static_cast<int>(specs.size()));
    specs.push_back(spec);
  }
};

std::vector<int> inverse(const std::vector<int>& map, std::size_t to_rank) {
  std::vector<int> inv(to_rank, -1);
  for (std::size_t i = 0; i < map.size(); ++i)
    if (map[i] >= 0 && static_cast<std::size_t>(map[i]) < to_rank) inv[static_cast<std::size_t>(map[i])] = static_cast<int>(i);
  return inv;
}

}  // namespace

namespace {

Result<ShardingProblem> build(const Graph& graph, const Cluster& cluster, const Mesh& mesh, const CostModel& cost_model);

}  // namespace

Result<ShardingProblem> build_sharding_problem(const Graph& graph, const Cluster& cluster, const Mesh& mesh,
                                               const CostModel& cost_model) {
  // A user's cost model may throw; that must not escape as a crash of the planner.
  try {
    return build(graph, cluster, mesh, cost_model);
  } catch (const std::exception& e) {
    return Status(StatusCode::kInvalidArgument, fmt::format("the cost model failed: {}", e.what()));
  }
}

namespace {

Result<ShardingProblem> build(const Graph& graph, const Cluster& cluster, const Mesh& mesh, const CostModel& cost_model) {
  if (Status s = graph.validate(); !s.ok()) return s.with_context(fmt::format("graph '{}'", graph.name()));
  if (Status s = cluster.validate(); !s.ok()) return s.with_context(fmt::format("cluster '{}'", cluster.name()));
  if (Status s = check_mesh(cluster, mesh); !s.ok()) return s;
  auto bound = detail::bind_annotations(graph);
  if (!bound.ok()) return bound.status();

  ShardingProblem problem;
  problem.mesh_rows = mesh.rows;
  problem.mesh_cols = mesh.cols;
  problem.device_memory = kInf;
  for (DeviceId d : mesh.devices) problem.device_memory = std::min(problem.device_memory, cluster.device(d).memory_bytes);

  detail::MeshCosts costs(cluster, mesh, cost_model);
  problem.strategies.reserve(graph.num_ops());
  for (OpId id : graph.ops())
    problem.strategies.push_back(detail::op_strategies(graph.op(id), bound->ops[id.value()], costs, cluster, mesh, cost_model));

  problem.resharding.resize(graph.num_edges());
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    problem.edge_src.push_back(edge.src);
    problem.edge_dst.push_back(edge.dst);
    const auto& from = problem.strategies[edge.src.value()];
    const auto& to = problem.strategies[edge.dst.value()];
    const detail::OpTensors& consumer = bound->ops[edge.dst.value()];
    const std::vector<std::int64_t>& producer_shape = graph.op(edge.src).shape;
    const bool gradient = detail::has_input_grad(graph.op(edge.dst));
    std::vector<double>& matrix = problem.resharding[e.value()];
    matrix.assign(from.size() * to.size(), 0.0);

    SpecIndex out;
    for (const auto& s : from) out.add(s.output);
    for (const detail::EdgeUse& use : bound->edges[e.value()]) {
      std::vector<std::int64_t> to_sizes = producer_shape;
      SpecIndex need;
      if (use.operand < 0) {
        for (std::size_t q = 0; q < to.size(); ++q) need.add(ShardingSpec::replicated(static_cast<int>(producer_shape.size())));
      } else {
        to_sizes.clear();
        for (int l : consumer.operands[static_cast<std::size_t>(use.operand)].letters)
          to_sizes.push_back(consumer.sizes[static_cast<std::size_t>(l)]);
        for (const auto& s : to) need.add(s.operands[static_cast<std::size_t>(use.operand)]);
      }
      const std::vector<int> back_map = inverse(use.to_operand, to_sizes.size());
      // Cost of every distinct (producer layout, consumer layout) pair: forward, and the gradient
      // coming back from the consumer's layout to the producer's.
      std::vector<double> pair(out.specs.size() * need.specs.size());
      for (std::size_t i = 0; i < out.specs.size(); ++i) {
        unsigned lost = 0;
        const ShardingSpec carried = detail::carry_over(out.specs[i], use.to_operand, to_sizes, mesh.rows, mesh.cols, &lost);
        for (std::size_t j = 0; j < need.specs.size(); ++j) {
          double seconds = costs.reshard(carried, lost, need.specs[j], use.bytes);
          if (gradient) {
            unsigned lost_back = 0;
            const ShardingSpec back =
                detail::carry_over(need.specs[j], back_map, producer_shape, mesh.rows, mesh.cols, &lost_back);
            seconds += costs.reshard(back, lost_back, out.specs[i], use.bytes);
          }
          pair[i * need.specs.size() + j] = seconds;
        }
      }
      for (std::size_t p = 0; p < from.size(); ++p)
        for (std::size_t q = 0; q < to.size(); ++q)
          matrix[p * to.size() + q] += pair[static_cast<std::size_t>(out.of[p]) * need.specs.size() + static_cast<std::size_t>(need.of[q])];
    }
  }
  return problem;
}

void check_choice(const ShardingProblem& p, const std::vector<int>& choice) {
  if (p.edge_src.size() != p.resharding.size() || p.edge_dst.size() != p.resharding.size())
    throw std::invalid_argument("opplan::ShardingProblem: edge_src, edge_dst and resharding differ in size");
  for (std::size_t e = 0; e < p.resharding.size(); ++e) {
    const std::size_t src = p.edge_src[e].value(), dst = p.edge_dst[e].value();
    if (src >= p.strategies.size() || dst >= p.strategies.size() ||
        p.resharding[e].size() != p.strategies[src].size() * p.strategies[dst].size())
      throw std::invalid_argument(fmt::format(
          "opplan::ShardingProblem: edge #{} names an op out of range or has the wrong number of costs", e));
  }
  if (choice.size() != p.strategies.size())
    throw std::invalid_argument(fmt::format("opplan::ShardingProblem: the choice has {} entries for {} ops", choice.size(),
                                            p.strategies.size()));
  for (std::size_t i = 0; i < choice.size(); ++i)
    if (choice[i] < 0 || static_cast<std::size_t>(choice[i]) >= p.strategies[i].size())
      throw std::invalid_argument(fmt::format("opplan::ShardingProblem: strategy {} of op #{} is out of range (it has {})",
                                              choice[i], i, p.strategies[i].size()));
}

}  // namespace

double ShardingProblem::cost(const std::vector<int>& choice) const {
  check_choice(*this, choice);
  double seconds = 0;
  for (std::size_t i = 0; i < choice.size(); ++i) {
    const ShardingStrategy& s = strategies[i][static_cast<std::size_t>(choice[i])];
    seconds += s.compute_seconds + s.communication_seconds;
  }
  for (std::size_t e = 0; e < resharding.size(); ++e) {
    const std::size_t src = edge_src[e].value(), dst = edge_dst[e].value();
    seconds += resharding[e][static_cast<std::size_t>(choice[src]) * strategies[dst].size() + static_cast<std::size_t>(choice[dst])];
  }
  return seconds;
}

double ShardingProblem::memory(const std::vector<int>& choice) const {
  check_choice(*this, choice);
  double bytes = 0;
  for (std::size_t i = 0; i < choice.size(); ++i) bytes += strategies[i][static_cast<std::size_t>(choice[i])].memory_bytes;
  return bytes;
}

OPPLAN_END_NAMESPACE
