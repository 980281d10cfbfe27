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

// The owner's operand holding the weight `user` reads through its aliased operand, and the owner
// dim of each of the user's dims: by dimension name when one of the owner's parameter operands
// uses the same names, else position by position when one has the same sizes.
struct AliasMatch {
  int operand = -1;
  std::vector<int> owner_dim;  // per user dim
};

Result<AliasMatch> match_alias(const Graph& graph, OpId owner, OpId user, const detail::OpTensors& o,
                               const detail::OpTensors& u) {
  const detail::Operand& tied = u.operands[static_cast<std::size_t>(u.aliased_operand)];
  std::vector<std::string> user_names;
  std::vector<std::int64_t> user_sizes;
  for (int l : tied.letters) {
    user_names.push_back(u.names[static_cast<std::size_t>(l)]);
    user_sizes.push_back(u.sizes[static_cast<std::size_t>(l)]);
  }
  auto text = [](const std::vector<std::string>& names, const std::vector<std::int64_t>& sizes) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i)
      out += fmt::format("{}{}={}", i ? " " : "", names[i], sizes[i] < 0 ? std::string("?") : std::to_string(sizes[i]));
    return out;
  };
  std::string candidates;
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t i = 0; i < o.operands.size(); ++i) {
      const detail::Operand& w = o.operands[i];
      if (w.role != detail::OperandRole::kParameter || w.letters.size() != tied.letters.size()) continue;
      AliasMatch m;
      m.operand = static_cast<int>(i);
      bool ok = true;
      for (std::size_t j = 0; j < tied.letters.size() && ok; ++j) {
        int found = -1;
        for (std::size_t k = 0; k < w.letters.size(); ++k) {
          const bool same = pass == 0 ? o.names[static_cast<std::size_t>(w.letters[k])] == user_names[j] : k == j;
          if (same) found = static_cast<int>(k);
        }
        const std::int64_t size = found < 0 ? -1 : o.sizes[static_cast<std::size_t>(w.letters[static_cast<std::size_t>(found)])];
        ok = found >= 0 && (size < 0 || user_sizes[j] < 0 || size == user_sizes[j]);
        m.owner_dim.push_back(found);
      }
      if (ok) return m;
      if (pass == 0) {
        std::vector<std::string> names;
        std::vector<std::int64_t> sizes;
        for (int l : w.letters) names.push_back(o.names[static_cast<std::size_t>(l)]), sizes.push_back(o.sizes[static_cast<std::size_t>(l)]);
        candidates += fmt::format("{}[{}]", candidates.empty() ? "" : ", ", text(names, sizes));
      }
    }
  return Status(StatusCode::kInvalidArgument,
                fmt::format("op '{}': params_from '{}': the weight it reads, [{}], matches none of the owner's parameter "
                            "operands ({}) by dimension names or by sizes",
                            graph.op(user).name, graph.op(owner).name, text(user_names, user_sizes),
                            candidates.empty() ? "it has none in its dims annotation" : candidates));
}

// The alias constraints of every op with params_from (the graph validated: owners exist).
Result<std::vector<ShardingAlias>> build_aliases(const Graph& graph, const detail::BoundGraph& bound,
                                                 const std::vector<std::vector<ShardingStrategy>>& strategies) {
  std::vector<ShardingAlias> out;
  for (OpId user : graph.ops()) {
    const Op& op = graph.op(user);
    const detail::OpTensors& u = bound.ops[user.value()];
    // An op without annotation runs replicated and reads the weight whole: nothing to choose.
    if (op.params_from.empty() || !u.annotated || u.aliased_operand < 0) continue;
    const OpId owner = *graph.find_op(op.params_from);
    const detail::OpTensors& o = bound.ops[owner.value()];
    const auto& so = strategies[owner.value()];
    const auto& su = strategies[user.value()];
    ShardingAlias alias{owner, user, std::vector<std::uint8_t>(so.size() * su.size(), 0)};
    const auto ua = static_cast<std::size_t>(u.aliased_operand);
    if (!o.annotated) {  // the owner holds the weight whole: the user must read it unsplit
      for (std::size_t q = 0; q < su.size(); ++q) alias.allowed[q] = su[q].operands[ua].is_replicated();
    } else {
      auto match = match_alias(graph, owner, user, o, u);
      if (!match.ok()) return match.status();
      const auto oa = static_cast<std::size_t>(match->operand);
      for (std::size_t p = 0; p < so.size(); ++p)
        for (std::size_t q = 0; q < su.size(); ++q) {
          bool same = true;
          for (std::size_t j = 0; j < match->owner_dim.size() && same; ++j)
            same = su[q].operands[ua].dim(static_cast<int>(j)) == so[p].operands[oa].dim(match->owner_dim[j]);
          alias.allowed[p * su.size() + q] = same;
        }
    }
    out.push_back(std::move(alias));
  }
  return out;
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
  auto aliases = build_aliases(graph, *bound, problem.strategies);
  if (!aliases.ok()) return aliases.status();
  problem.aliases = std::move(*aliases);
  problem.order = *graph.topological_order();
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
  for (std::size_t a = 0; a < p.aliases.size(); ++a) {
    const ShardingAlias& alias = p.aliases[a];
    if (!alias.owner.valid() || !alias.user.valid() || alias.owner.value() >= p.strategies.size() ||
        alias.user.value() >= p.strategies.size() ||
        alias.allowed.size() != p.strategies[alias.owner.value()].size() * p.strategies[alias.user.value()].size())
      throw std::invalid_argument(fmt::format(
          "opplan::ShardingProblem: alias #{} names an op out of range or has the wrong number of entries", a));
  }
  if (!p.order.empty() && p.order.size() != p.strategies.size())
    throw std::invalid_argument(fmt::format("opplan::ShardingProblem: the order has {} ops for {} ops", p.order.size(),
                                            p.strategies.size()));
  for (OpId op : p.order)
    if (!op.valid() || op.value() >= p.strategies.size())
      throw std::invalid_argument("opplan::ShardingProblem: the order names an op out of range");
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
  return aliases_hold(choice) ? seconds : kInf;
}

bool ShardingProblem::aliases_hold(const std::vector<int>& choice) const {
  check_choice(*this, choice);
  for (const ShardingAlias& a : aliases) {
    const std::size_t p = static_cast<std::size_t>(choice[a.owner.value()]), q = static_cast<std::size_t>(choice[a.user.value()]);
    if (!a.allowed[p * strategies[a.user.value()].size() + q]) return false;
  }
  return true;
}

double ShardingProblem::peak_memory(const std::vector<int>& choice, OpId* at) const {
  check_choice(*this, choice);
  auto strategy = [&](std::size_t op) -> const ShardingStrategy& {
    return strategies[op][static_cast<std::size_t>(choice[op])];
  };
  double parameters = 0;
  for (std::size_t i = 0; i < choice.size(); ++i) parameters += strategy(i).parameter_bytes;
  double saved = 0, peak = -1;
  for (std::size_t k = 0; k < choice.size(); ++k) {
    const OpId op = order.empty() ? OpId(static_cast<std::uint32_t>(k)) : order[k];
    const ShardingStrategy& s = strategy(op.value());
    saved += s.memory_bytes - s.parameter_bytes;
    const double live = parameters + saved + s.output_bytes;
    if (live > peak) {
      peak = live;
      if (at) *at = op;
    }
  }
  return std::max(peak, 0.0);
}

double ShardingProblem::memory(const std::vector<int>& choice) const {
  check_choice(*this, choice);
  double bytes = 0;
  for (std::size_t i = 0; i < choice.size(); ++i) bytes += strategies[i][static_cast<std::size_t>(choice[i])].memory_bytes;
  return bytes;
}

OPPLAN_END_NAMESPACE
