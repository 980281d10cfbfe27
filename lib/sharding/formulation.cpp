// ShardingFormulation: the intra-op ILP over the reduced problem (alpa.md section 1, "The ILP").
//
//   min  sum_v s_v'c_v + sum_(a,b) e_ab'R_ab
//   s.t. sum_p s_v[p] = 1                      every node
//        sum_q e_ab[p,q] = s_a[p]   for all p  every edge (the marginals: with one-hot s they
//        sum_p e_ab[p,q] = s_b[q]   for all q   force e_ab[p,q] = s_a[p] * s_b[q])
//        sum_v m_tv's_v <= budget   for every live point t that can bind (Reduction::memory_rows)
//
// Pairs of strategies that break an alias constraint (a tied weight laid out differently by its
// owner and a user) get no e variable, so the marginals forbid them.
//
// The marginal form is Alpa's "sum e = 1, sum_q e <= s_a, sum_p e <= s_b" written as equalities
// (the same polytope), and it is why e can stay continuous: at integral s the rows leave e no
// choice. Its LP relaxation is tight on tree-like graphs, so it is often integral.
#include <opplan/sharding.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "sharding/elimination.hpp"
#include "sharding/reduction.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr double kMemoryScale = 1e-9;  // memory row in GB: coefficients near 1

// A hand-made problem (users may build one) must fit the graph before anything indexes it.
Status check_problem(const Graph& graph, const ShardingProblem& problem) {
  auto fail = [](std::string message) { return Status(StatusCode::kInvalidArgument, "sharding problem: " + message); };
  if (graph.num_ops() != problem.strategies.size() || graph.num_edges() != problem.resharding.size() ||
      graph.num_edges() != problem.edge_src.size() || graph.num_edges() != problem.edge_dst.size())
    return fail(fmt::format("it has {} ops and {} edges ({} sources, {} destinations) but graph '{}' has {} and {}",
                            problem.strategies.size(), problem.resharding.size(), problem.edge_src.size(),
                            problem.edge_dst.size(), graph.name(), graph.num_ops(), graph.num_edges()));
  for (OpId id : graph.ops())
    if (problem.strategies[id.value()].empty())
      return fail(fmt::format("op '{}' has no strategy", graph.op(id).name));
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    if (problem.edge_src[e.value()] != edge.src || problem.edge_dst[e.value()] != edge.dst)
      return fail(fmt::format("edge #{} does not connect the ops it connects in the graph", e.value()));
    const std::size_t expected = problem.strategies[edge.src.value()].size() * problem.strategies[edge.dst.value()].size();
    if (problem.resharding[e.value()].size() != expected)
      return fail(fmt::format("edge #{} ('{}' -> '{}') has {} resharding costs for {} strategy pairs", e.value(),
                              graph.op(edge.src).name, graph.op(edge.dst).name, problem.resharding[e.value()].size(),
                              expected));
  }
  if (!graph.topological_order().ok()) return fail(fmt::format("graph '{}' has a cycle", graph.name()));
  return Status::Ok();
}

}  // namespace

struct ShardingFormulation::Impl {
  const Graph& graph;
  const ShardingProblem& problem;
  ShardingOptions options;
  Status mismatch;
  detail::Reduction reduction;
  double budget = kInf;
  double min_memory = 0;            // peak of least_choice
  double memory_lb = 0;             // max over rows of the least each row can be
  std::vector<int> least_choice;    // per node: its least-memory strategy
  // Variables of the last build: s per node (empty for a node with one strategy), e per edge.
  std::vector<std::vector<Var>> s;
  std::vector<std::vector<Var>> e;
  Var constant;
  std::size_t num_variables = 0;

  Impl(const Graph& g, const ShardingProblem& p, const ShardingOptions& o) : graph(g), problem(p), options(o) {}

  std::vector<int> node_choice(const std::vector<double>& values) const {
    std::vector<int> choice(reduction.nodes.size(), 0);
    for (std::size_t n = 0; n < s.size(); ++n) {
      double best = -kInf;
      for (std::size_t p = 0; p < s[n].size(); ++p) {
        const double v = values[s[n][p].index()];
        if (v > best + 1e-9) best = v, choice[n] = static_cast<int>(p);
      }
    }
    return choice;
  }

  // One value per variable of the last build for a node-local strategy choice.
  std::vector<double> values_of(const std::vector<int>& choice) const {
    std::vector<double> out(num_variables, 0.0);
    for (std::size_t n = 0; n < s.size(); ++n)
      if (!s[n].empty()) out[s[n][static_cast<std::size_t>(choice[n])].index()] = 1;
    for (std::size_t k = 0; k < e.size(); ++k) {
      const auto& edge = reduction.edges[k];
      const auto c = static_cast<std::size_t>(edge.row_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(edge.a)])]);
      const auto d = static_cast<std::size_t>(edge.col_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(edge.b)])]);
      const Var v = e[k][c * static_cast<std::size_t>(edge.num_col_classes) + d];
      if (v.valid()) out[v.index()] = 1;  // invalid only for a choice that breaks an alias
    }
    if (constant.valid()) out[constant.index()] = 1;
    return out;
  }

  bool breaks_alias(const std::vector<int>& choice) const {
    for (const auto& edge : reduction.edges) {
      const auto c = static_cast<std::size_t>(edge.row_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(edge.a)])]);
      const auto d = static_cast<std::size_t>(edge.col_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(edge.b)])]);
      if (!(edge.cost[c * static_cast<std::size_t>(edge.num_col_classes) + d] < kInf)) return true;
    }
    return false;
  }

  // The peak over the memory rows.
  double memory_of(const std::vector<int>& choice) const {
    double peak = 0;
    for (const detail::MemoryRow& row : reduction.memory_rows) {
      double bytes = 0;
      for (std::size_t n = 0; n < choice.size(); ++n) bytes += row.coef[n][static_cast<std::size_t>(choice[n])];
      peak = std::max(peak, bytes);
    }
    return peak;
  }
};

ShardingFormulation::ShardingFormulation(const Graph& graph, const ShardingProblem& problem,
                                         const ShardingOptions& options)
    : impl_(std::make_unique<Impl>(graph, problem, options)) {
  Impl& m = *impl_;
  m.mismatch = check_problem(graph, problem);
  if (!m.mismatch.ok()) return;
  m.reduction = detail::reduce(graph, problem, options);
  if (!m.reduction.infeasible.empty()) {
    m.mismatch = Status(StatusCode::kInvalidArgument, m.reduction.infeasible);
    return;
  }
  m.budget = options.memory_budget == 0 ? problem.device_memory : options.memory_budget;
  m.least_choice = detail::least_memory_choice(m.reduction);
  m.min_memory = m.memory_of(m.least_choice);
  for (const auto& row : m.reduction.memory_rows) {
    double least = 0;
    for (const auto& coef : row.coef) least += *std::min_element(coef.begin(), coef.end());
    m.memory_lb = std::max(m.memory_lb, least);
  }
}

ShardingFormulation::~ShardingFormulation() = default;

std::size_t ShardingFormulation::num_nodes() const {
  return static_cast<std::size_t>(std::count_if(impl_->reduction.nodes.begin(), impl_->reduction.nodes.end(),
                                                [](const detail::ReducedNode& n) { return n.cost.size() > 1; }));
}
OpId ShardingFormulation::leader_of(OpId op) const {
  const auto& r = impl_->reduction;
  if (!op.valid() || op.value() >= r.group_of_op.size()) return op;
  return r.group_leader[static_cast<std::size_t>(r.group_of_op[op.value()])];
}
std::size_t ShardingFormulation::num_edges() const { return impl_->reduction.edges.size(); }
std::size_t ShardingFormulation::num_followers() const { return impl_->reduction.followers; }
std::size_t ShardingFormulation::num_tied() const { return impl_->reduction.tied; }
std::size_t ShardingFormulation::num_pruned() const { return impl_->reduction.pruned; }
double ShardingFormulation::memory_budget() const { return impl_->budget; }
double ShardingFormulation::minimum_memory() const { return impl_->min_memory; }
double ShardingFormulation::memory_lower_bound() const { return impl_->memory_lb; }
std::size_t ShardingFormulation::num_memory_rows() const { return impl_->reduction.memory_rows.size(); }

Status ShardingFormulation::build_model(MipModel& model, VariableGroups& variables) {
  Impl& m = *impl_;
  if (!m.mismatch.ok()) return m.mismatch;
  const detail::Reduction& r = m.reduction;
  // A relative slack so that a budget equal to the minimum (computed the same way) is feasible.
  if (m.budget < m.memory_lb * (1 - 1e-12)) {
    const bool exact = m.memory_lb >= m.min_memory * (1 - 1e-12);
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("memory budget {:.0f} bytes per device is below the minimum possible {:.4g} GB "
                              "(every op at its least-memory strategy{}); raise the budget to at least {:.0f} bytes",
                              m.budget, m.memory_lb * 1e-9,
                              exact ? "" : fmt::format("; a plan surely fits from {:.0f} bytes", std::ceil(m.min_memory)),
                              std::ceil(m.memory_lb)));
  }
  m.s.assign(r.nodes.size(), {});
  m.e.assign(r.edges.size(), {});
  m.constant = Var();
  const double scale = kObjectiveScale;

  double constant = 0;  // cost of nodes with one strategy
  LinearExpr row;
  for (std::size_t n = 0; n < r.nodes.size(); ++n) {
    const detail::ReducedNode& node = r.nodes[n];
    if (node.cost.size() == 1) {
      constant += node.cost[0];
      continue;
    }
    const std::string& leader = m.graph.op(node.leader).name;
    row.clear();
    for (std::size_t p = 0; p < node.cost.size(); ++p) {
      const Var v = model.add_binary(fmt::format("s{}_{}", n, p));
      model.set_objective_coefficient(v, node.cost[p] * scale);
      const auto leader_strategy = static_cast<std::size_t>(node.strategy[p]);
      variables.add("s", v, fmt::format("{}/{}", leader, m.problem.strategies[node.leader.value()][leader_strategy].name));
      m.s[n].push_back(v);
      row.add(v, 1.0);
    }
    model.add_row(row == 1.0);
  }
  // A variable fixed at 1 rather than an objective constant: MPS readers disagree on constants.
  // Also there when nothing is left to choose, so that the model is never empty; never an empty
  // column otherwise (CBC rejects GLPK's "empty column" MPS line).
  if (constant != 0 || model.num_variables() == 0) {
    m.constant = model.add_continuous(1, 1, "constant");
    model.set_objective_coefficient(m.constant, constant * scale);
  }
  // Edge variables over classes of strategies with the same costs (see ReducedEdge): the
  // marginal of a class is the sum of its strategies' s. The same LP bound as one variable per
  // strategy pair (any such solution aggregates to this one and back), with far fewer columns.
  for (std::size_t k = 0; k < r.edges.size(); ++k) {
    const detail::ReducedEdge& edge = r.edges[k];
    const auto& sa = m.s[static_cast<std::size_t>(edge.a)];
    const auto& sb = m.s[static_cast<std::size_t>(edge.b)];
    const std::size_t rows = static_cast<std::size_t>(edge.num_row_classes);
    const std::size_t cols = static_cast<std::size_t>(edge.num_col_classes);
    auto& ev = m.e[k];
    ev.reserve(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) {
      if (!(edge.cost[i] < kInf)) {  // breaks an alias constraint: no variable, the pair cannot occur
        ev.emplace_back();
        continue;
      }
      const Var v = model.add_continuous(0, 1);
      model.set_objective_coefficient(v, edge.cost[i] * scale);
      variables.add("e", v);
      ev.push_back(v);
    }
    for (std::size_t c = 0; c < rows; ++c) {
      row.clear();
      for (std::size_t d = 0; d < cols; ++d)
        if (ev[c * cols + d].valid()) row.add(ev[c * cols + d], 1.0);
      for (std::size_t p = 0; p < sa.size(); ++p)
        if (static_cast<std::size_t>(edge.row_class[p]) == c) row.add(sa[p], -1.0);
      model.add_row(row == 0.0);
    }
    for (std::size_t d = 0; d < cols; ++d) {
      row.clear();
      for (std::size_t c = 0; c < rows; ++c)
        if (ev[c * cols + d].valid()) row.add(ev[c * cols + d], 1.0);
      for (std::size_t q = 0; q < sb.size(); ++q)
        if (static_cast<std::size_t>(edge.col_class[q]) == d) row.add(sb[q], -1.0);
      model.add_row(row == 0.0);
    }
  }
  if (m.budget < kInf) {
    for (std::size_t i = 0; i < r.memory_rows.size(); ++i) {
      const detail::MemoryRow& memory = r.memory_rows[i];
      row.clear();
      double fixed_memory = 0;  // of nodes with one strategy
      for (std::size_t n = 0; n < r.nodes.size(); ++n) {
        if (m.s[n].empty()) fixed_memory += memory.coef[n][0];
        for (std::size_t p = 0; p < m.s[n].size(); ++p) row.add(m.s[n][p], memory.coef[n][p] * kMemoryScale);
      }
      const std::string name = r.memory_rows.size() == 1 ? std::string("memory") : fmt::format("memory{}", i);
      if (!row.terms().empty()) model.add_row(row <= (m.budget - fixed_memory) * kMemoryScale, name);
    }
  }
  m.num_variables = model.num_variables();
  return Status::Ok();
}

std::vector<int> ShardingFormulation::decode(const std::vector<double>& values) const {
  if (values.size() < impl_->num_variables)
    throw std::invalid_argument(fmt::format("opplan::ShardingFormulation::decode: {} values for {} variables",
                                            values.size(), impl_->num_variables));
  return impl_->reduction.expand(impl_->node_choice(values));
}

bool ShardingFormulation::is_integral(const std::vector<double>& values, double tolerance) const {
  if (values.size() < impl_->num_variables) return false;
  for (const auto& node : impl_->s)
    for (Var v : node) {
      const double x = values[v.index()];
      if (std::min(std::fabs(x), std::fabs(1 - x)) > tolerance) return false;
    }
  return true;
}

std::vector<double> ShardingFormulation::round(const std::vector<double>& values) const {
  const Impl& m = *impl_;
  std::vector<int> choice(m.reduction.nodes.size(), 0);
  if (values.size() >= m.num_variables) choice = m.node_choice(values);
  if (m.memory_of(choice) > m.budget || m.breaks_alias(choice)) choice = m.least_choice;
  return m.values_of(choice);
}

SolveResult ShardingFormulation::solve_exact(double time_limit) const {
  const Impl& m = *impl_;
  SolveResult result;
  result.solver_name = "variable elimination";
  if (!m.mismatch.ok() || m.num_variables == 0 || m.s.size() != m.reduction.nodes.size()) {
    result.termination = Termination::kInvalidInput;
    result.message = m.mismatch.ok() ? "ShardingFormulation::solve_exact: build() has not succeeded" : m.mismatch.message();
    return result;
  }
  if (num_extensions() > 0) {
    result.termination = Termination::kInvalidInput;
    result.message = fmt::format("ShardingFormulation::solve_exact: {} extension(s) change the model; solve it with a Solver",
                                 num_extensions());
    return result;
  }
  const auto start = std::chrono::steady_clock::now();
  const detail::EliminationResult ex = detail::solve_by_elimination(m.reduction, m.budget, time_limit);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.message = ex.message;
  if (!ex.has_solution) {
    result.termination = Termination::kNoSolutionFound;
    return result;
  }
  result.has_solution = true;
  result.values = m.values_of(ex.choice);
  result.objective = ex.cost * kObjectiveScale;
  result.best_bound = ex.lower_bound * kObjectiveScale;
  result.gap = std::fabs(result.objective - result.best_bound) / (std::fabs(result.objective) + 2.220446049250313e-16);
  result.nodes = ex.runs;
  result.termination = ex.proved_optimal ? Termination::kOptimal : Termination::kFeasible;
  return result;
}

OPPLAN_END_NAMESPACE
