// shard(): problem, formulation, exact variable elimination first, then (when it cannot prove the
// optimum) the LP relaxation and branch-and-bound, and the plan with its reports.
#include <opplan/sharding.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/text_units.hpp"
#include "sharding/mesh_costs.hpp"

OPPLAN_BEGIN_NAMESPACE

bool ShardingOptions::IsValid(std::string* error) const {
  std::string problems;
  auto add = [&](std::string problem) {
    if (!problems.empty()) problems += "; ";
    problems += problem;
  };
  if (!(memory_budget >= 0))
    add(fmt::format("memory_budget must be >= 0 bytes (0 = the device memory, inf = no limit) (is {})", memory_budget));
  if (!(integrality_tolerance > 0 && integrality_tolerance < 0.5))
    add(fmt::format("integrality_tolerance must be in (0, 0.5) (is {})", integrality_tolerance));
  if (!(weight_sync_scale >= 0 && weight_sync_scale <= 1))
    add(fmt::format("weight_sync_scale must be in [0, 1] (is {})", weight_sync_scale));
  if (!(gradient_bucket_bytes >= 0) || std::isinf(gradient_bucket_bytes))
    add(fmt::format("gradient_bucket_bytes must be finite and >= 0 (0 = no buckets) (is {})", gradient_bucket_bytes));
  if (!(time_limit >= 0)) add(fmt::format("time_limit must be >= 0 seconds (is {})", time_limit));
  if (!(relative_gap >= 0) || std::isinf(relative_gap))
    add(fmt::format("relative_gap must be finite and >= 0 (is {})", relative_gap));
  for (std::size_t i = 0; i < light_kinds.size(); ++i)
    if (light_kinds[i].empty()) add(fmt::format("light_kinds[{}] is empty", i));
  if (error) *error = problems;
  return problems.empty();
}

namespace {

using detail::bytes_text;
using detail::Clock;
using detail::seconds_text;

double since(Clock::time_point start) { return detail::seconds_since(start); }

}  // namespace

std::string ShardingPlan::BriefReport() const {
  return fmt::format(
      "{}: {} per step (compute {}, communication {}, resharding {}), memory {} per device of {}{}, {}, "
      "{} ILP nodes ({} ops follow a leader, {} tied to an identical layer, {} dominated strategies dropped), "
      "{} variables, solved in {}",
      to_string(termination), seconds_text(objective), seconds_text(compute_seconds),
      seconds_text(communication_seconds), seconds_text(resharding_seconds), bytes_text(memory_bytes),
      bytes_text(memory_budget), peak_at.empty() ? std::string() : fmt::format(" (peak at '{}')", peak_at), lp_integral ? "LP relaxation integral" : (method.empty() ? "branch-and-bound" : method),
      num_nodes, num_followers,
      num_tied, num_pruned, num_variables, seconds_text(solve_seconds));
}

std::string ShardingPlan::FullReport() const {
  std::string out = BriefReport() + "\n";
  if (!message.empty()) out += message + "\n";
  std::size_t width = 4;
  for (const OpSharding& op : ops) width = std::max(width, op.name.size());
  out += fmt::format("{:<{}}  {:<10} {:<24} {}\n", "op", width, "output", "operands", "strategy");
  for (const OpSharding& op : ops) {
    std::vector<std::string> operands;
    for (const auto& spec : op.chosen.operands) operands.push_back(spec.rank() ? spec.to_string() : "-");
    std::string strategy = op.chosen.name;
    if (op.leader.valid() && op.leader.value() < ops.size() && ops[op.leader.value()].name != op.name)
      strategy += fmt::format(" (follows {})", ops[op.leader.value()].name);
    out += fmt::format("{:<{}}  {:<10} {:<24} {}\n", op.name, width, op.chosen.output.rank() ? op.chosen.output.to_string() : "-",
                       fmt::format("{}", fmt::join(operands, ", ")), strategy);
  }
  return out;
}

Result<ShardingPlan> shard(const Graph& graph, const Cluster& cluster, const Mesh& mesh, const CostModel& cost_model,
                           const ShardingOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "ShardingOptions: " + error);
  const auto start = Clock::now();
  auto problem = build_sharding_problem(graph, cluster, mesh, cost_model);
  if (!problem.ok()) return problem.status();
  // Buckets: each op's gradient bytes at the per-byte price of one full bucket's all-reduce on
  // that axis (the same collective_time every other collective is costed by).
  if (options.gradient_bucket_bytes > 0) {
    detail::MeshCosts costs(cluster, mesh, cost_model);
    const double bucket = options.gradient_bucket_bytes;
    const double per_byte[2] = {costs.collective(Collective::kAllReduce, 0, bucket) / bucket,
                                costs.collective(Collective::kAllReduce, 1, bucket) / bucket};
    for (auto& strategies : problem->strategies)
      for (ShardingStrategy& s : strategies) {
        const double bucketed = s.weight_sync_bytes[0] * per_byte[0] + s.weight_sync_bytes[1] * per_byte[1];
        s.communication_seconds += bucketed - s.weight_sync_seconds;
        s.weight_sync_seconds = bucketed;
      }
  }
  // Gradient accumulation: the parameter-gradient all-reduce is charged at the given fraction.
  if (options.weight_sync_scale != 1)
    for (auto& strategies : problem->strategies)
      for (ShardingStrategy& s : strategies) s.communication_seconds -= (1 - options.weight_sync_scale) * s.weight_sync_seconds;
  ShardingFormulation formulation(graph, *problem, options);
  auto model = formulation.build();
  if (!model.ok()) return model.status();
  if (!options.mps_file.empty())
    if (Status s = write_mps(*model, options.mps_file); !s.ok()) return s;

  ShardingPlan plan;
  plan.build_seconds = since(start);
  plan.num_variables = model->num_variables();
  plan.num_rows = model->num_rows();
  plan.num_nodes = formulation.num_nodes();
  plan.num_followers = formulation.num_followers();
  plan.num_tied = formulation.num_tied();
  plan.num_pruned = formulation.num_pruned();
  plan.memory_budget = formulation.memory_budget();

  const auto solve_start = Clock::now();
  std::vector<double> values;
  double ilp_objective = 0, bound = -kInf;
  // Exact elimination first; its plan (always within the budget) warm-starts branch-and-bound
  // when the Lagrangian bound leaves a gap, in which case the LP relaxation cannot be integral
  // (the Lagrangian bound is at least the LP bound), so the LP step is skipped.
  std::vector<double> elimination_start;
  if (options.exact_elimination && options.time_limit > 0) {  // a limit of 0 returns the warm start at once
    const SolveResult exact = formulation.solve_exact(options.time_limit);
    if (exact.has_solution) {
      bound = exact.best_bound;
      if (exact.termination == Termination::kOptimal) {
        values = exact.values;
        ilp_objective = model->objective_value(values);
        plan.termination = Termination::kOptimal;
        plan.method = exact.message.find("branching") != std::string::npos ? "variable elimination + Lagrangian B&B"
                      : exact.message.find("relaxed") != std::string::npos ? "variable elimination + Lagrangian"
                                                                            : "variable elimination";
        plan.message = exact.message;
      } else {
        elimination_start = exact.values;
        plan.message = exact.message;
      }
    }
  }
  SolveResult lp;
  if (values.empty() && elimination_start.empty() && options.solve_lp_first) {
    LpOptions lp_options;
    lp_options.time_limit = options.time_limit;
    lp = solve_lp_relaxation(*model, lp_options);
    if (lp.termination == Termination::kOptimal && lp.has_solution) {
      bound = lp.objective;
      if (formulation.is_integral(lp.values, options.integrality_tolerance)) {
        values = lp.values;
        ilp_objective = lp.objective;
        plan.lp_integral = true;
        plan.method = "LP relaxation";
        plan.termination = Termination::kOptimal;
        plan.message = "the LP relaxation is integral: no branching needed";
      }
    }
  }
  if (values.empty()) {
    const std::vector<double> warm = !elimination_start.empty()
                                         ? elimination_start
                                         : formulation.round(lp.has_solution ? lp.values : std::vector<double>{});
    SolveArguments args;
    args.options.time_limit = std::max(0.0, options.time_limit - since(solve_start));
    args.options.relative_gap = options.relative_gap;
    args.options.log_level = 0;
    args.warm_start = warm;
    GlpkSolver solver;
    const SolveResult mip = solver.solve(*model, args);
    if (mip.has_solution) {
      values = mip.values;
      ilp_objective = mip.objective;
      plan.termination = mip.termination;
      plan.method = elimination_start.empty() ? "branch-and-bound" : "branch-and-bound from elimination";
      plan.message = plan.message.empty() ? mip.message : plan.message + "; " + mip.message;
      bound = std::max(bound, mip.best_bound);
    } else if (mip.termination == Termination::kInfeasible) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("no sharding fits the memory budget of {:.6g} bytes per device at every live point "
                                "(no plan needs less than {:.6g} bytes; the least-memory plan peaks at {:.6g})",
                                plan.memory_budget, formulation.memory_lower_bound(), formulation.minimum_memory()));
    } else if (mip.termination == Termination::kInvalidInput || mip.termination == Termination::kError) {
      return Status(StatusCode::kInternal, fmt::format("the sharding ILP failed: {}", mip.message));
    } else {
      // A limit stopped the search first: the rounded LP (or least-memory) plan, as promised.
      values = warm;
      ilp_objective = model->objective_value(warm);
      plan.termination = Termination::kFeasible;
      plan.method = "warm start";
      plan.message = fmt::format("{}; returning {}", mip.message,
                                 elimination_start.empty() ? "the rounded LP relaxation" : "the elimination's plan");
    }
  }
  plan.solve_seconds = since(solve_start);

  const std::vector<int> choice = formulation.decode(values);
  const ShardingProblem& p = *problem;
  plan.ops.resize(graph.num_ops());
  // Every figure is recomputed from the problem, so it is exact whatever the ILP's scaling.
  for (OpId id : graph.ops()) {
    OpSharding& op = plan.ops[id.value()];
    op.name = graph.op(id).name;
    op.strategy = choice[id.value()];
    op.chosen = p.strategies[id.value()][static_cast<std::size_t>(op.strategy)];
    op.leader = formulation.leader_of(id);
    plan.compute_seconds += op.chosen.compute_seconds;
    plan.communication_seconds += op.chosen.communication_seconds;
    plan.weight_sync_seconds += op.chosen.weight_sync_seconds;
  }
  for (std::size_t e = 0; e < p.resharding.size(); ++e) {
    const std::size_t src = p.edge_src[e].value(), dst = p.edge_dst[e].value();
    plan.resharding_seconds += p.resharding[e][static_cast<std::size_t>(choice[src]) * p.strategies[dst].size() +
                                               static_cast<std::size_t>(choice[dst])];
  }
  plan.objective = p.cost(choice);
  OpId peak_at;
  plan.memory_bytes = p.peak_memory(choice, &peak_at);
  if (peak_at.valid()) plan.peak_at = graph.op(peak_at).name;
  // Never a plan the memory model or an alias rejects: possible only when a limit stopped the
  // search before any plan within a budget between the two memory figures was found.
  if (!p.aliases_hold(choice))
    return Status(StatusCode::kInternal, "the sharding plan breaks an alias constraint (params_from); please report");
  if (plan.memory_bytes > plan.memory_budget * (1 + 1e-9))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("no sharding within the memory budget of {:.6g} bytes per device was found before the "
                              "time limit (the least-memory plan peaks at {:.6g} bytes; raise the budget or the limit)",
                              plan.memory_budget, formulation.minimum_memory()));
  plan.ilp_objective = ilp_objective / ShardingFormulation::kObjectiveScale;
  plan.best_bound = std::isfinite(bound) ? bound / ShardingFormulation::kObjectiveScale : 0;
  if (plan.termination == Termination::kOptimal) plan.best_bound = std::min(plan.best_bound, plan.objective);
  return plan;
}

OPPLAN_END_NAMESPACE
