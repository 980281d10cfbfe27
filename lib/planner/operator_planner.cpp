// plan_operators(): the bi-level operator-level planner on a Graph and a Cluster (see
// operator_planner.hpp for the steps).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <functional>
#include <random>
#include <span>
#include <tuple>

#include "core/text_units.hpp"
#include "planner/operator_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::bytes_text;
using detail::Clock;
using detail::seconds_since;
constexpr double kNever = std::numeric_limits<double>::infinity();

// The list scheduler's phase orders this planner draws from (planner_internal.hpp).
constexpr std::span<const detail::ListPhases> kPhases = std::span(detail::kPhaseOrders).first<4>();

// Per device: the cap on parameters + activations.
std::vector<double> device_caps(const Cluster& cluster, const std::optional<double>& memory_cap) {
  std::vector<double> cap;
  for (DeviceId d : cluster.devices()) cap.push_back(memory_cap ? *memory_cap : cluster.device(d).memory_bytes);
  return cap;
}


// Memory no placement can meet: an op larger than every device, or a model larger than all of
// them together (one micro-batch of activations counted).
Status check_memory(const Graph& graph, const Cluster& cluster, const CostModel& cost, const std::vector<double>& cap) {
  const double largest = *std::max_element(cap.begin(), cap.end());
  const double all = std::accumulate(cap.begin(), cap.end(), 0.0);
  std::string problems;
  double total = 0;
  for (OpId id : graph.ops()) {
    const Op& op = graph.op(id);
    const OpMemory m = cost.op_memory(op);
    total += m.total();
    if (m.total() > largest * (1 + 1e-12))
      problems += fmt::format("\n  op '{}' needs {} (parameters {} + activations {}), the largest device holds {}: "
                              "short by {}",
                              op.name, bytes_text(m.total()), bytes_text(m.parameters), bytes_text(m.activations),
                              bytes_text(largest), bytes_text(m.total() - largest));
  }
  if (problems.empty() && total > all * (1 + 1e-12))
    problems = fmt::format("\n  the model needs {} (parameters and one micro-batch of activations), the {} devices "
                           "hold {} together: short by {}",
                           bytes_text(total), cluster.num_devices(), bytes_text(all), bytes_text(total - all));
  if (problems.empty()) return Status::Ok();
  return Status(StatusCode::kInvalidArgument, "no placement fits in device memory:" + problems);
}

// The lower level's state: the best unit-level schedule found so far on one placement.
// How a unit schedule ranks: plan_score() of the objective, or the caller's score callback on the
// operator-level schedule it expands to (with the makespan to break ties).
using UnitScorer = std::function<std::pair<double, double>(const Schedule&)>;

struct UnitSearch {
  const detail::InstanceGraph& graph;
  PlanObjective objective;
  UnitScorer scorer;  // empty = plan_score(objective)
  std::vector<std::vector<int>> orders;  // per device, instance ids
  Schedule schedule;                     // unit level
  std::pair<double, double> score{kNever, kNever};
  std::string source;

  // A timed unit-level schedule of `orders`, or nothing when they deadlock or break memory.
  std::optional<Schedule> replay(const std::vector<std::vector<int>>& candidate) const {
    std::vector<double> start;
    if (detail::earliest_starts(graph, candidate, start) < 0) return std::nullopt;
    Schedule s;
    s.num_devices = graph.num_devices();
    s.device_tasks.resize(static_cast<std::size_t>(s.num_devices));
    s.param_memory = graph.params;
    s.memory_cap = graph.cap;
    for (std::size_t d = 0; d < candidate.size(); ++d)
      for (int i : candidate[d]) {
        const detail::Instance& op = graph.ops[static_cast<std::size_t>(i)];
        Task t;
        t.device = static_cast<int>(d);
        t.start = start[static_cast<std::size_t>(i)];
        t.end = t.start + op.duration;
        t.item = op.item;
        t.memory_alloc = op.alloc;
        t.memory_free = op.free;
        s.device_tasks[d].push_back(t);
      }
    s.compute_metrics();
    for (std::size_t d = 0; d < s.metrics.devices.size(); ++d) {
      const double cap = graph.cap[d];
      if (s.metrics.devices[d].peak_memory > cap + 1e-9 * std::max(1.0, std::abs(cap))) return std::nullopt;
    }
    return s;
  }

  bool offer(const std::vector<std::vector<int>>& candidate, const std::string& name) {
    if (candidate.empty()) return false;
    auto s = replay(candidate);
    if (!s) return false;
    const auto sc = scorer ? scorer(*s) : detail::plan_score(*s, objective);
    if (!std::isfinite(sc.first) || !detail::better_score(sc, score)) return false;
    score = sc;
    orders = candidate;
    schedule = std::move(*s);
    source = name;
    return true;
  }
};

}  // namespace

bool OperatorPlanOptions::IsValid(std::string* error) const {
  std::string e;
  if (micro_batches < 1)
    e = fmt::format("micro_batches: must be >= 1, got {}", micro_batches);
  else if (!(time_limit > 0) || !std::isfinite(time_limit))
    e = fmt::format("time_limit: must be a positive number of seconds, got {}", time_limit);
  else if (memory_cap && (!(*memory_cap > 0) || !std::isfinite(*memory_cap)))
    e = fmt::format("memory_cap: must be positive and finite, got {}", *memory_cap);
  else if (!(relative_gap >= 0) || !std::isfinite(relative_gap))
    e = fmt::format("relative_gap: must be >= 0, got {}", relative_gap);
  else if (max_units < 0)
    e = fmt::format("max_units: must be >= 0 (0 = by the device count), got {}", max_units);
  else if (placement_moves < -1)
    e = fmt::format("placement_moves: must be >= 0 or -1 (by the problem size), got {}", placement_moves);
  else if (mip_windows < 0)
    e = fmt::format("mip_windows: must be >= 0, got {}", mip_windows);
  else if (window_instances < 2)
    e = fmt::format("window_instances: must be >= 2, got {}", window_instances);
  else if (window_node_limit < 0)
    e = fmt::format("window_node_limit: must be >= 0, got {}", window_node_limit);
  if (error) *error = e;
  return e.empty();
}

std::string OperatorPlan::BriefReport() const {
  std::string baseline = std::isfinite(stage_baseline.makespan)
                             ? fmt::format("stage pipeline {:.4g} s ({})", stage_baseline.makespan, stage_baseline.source)
                             : std::string("no stage pipeline fits");
  return fmt::format("makespan {:.4g} s (bound {:.4g} s, gap {:.2f}%), {} units on {} devices, {}, {}, {:.3f} s",
                     makespan, lower_bound, 100 * gap, units.size(), schedule.num_devices, baseline,
                     to_string(termination), solve_seconds);
}

Result<OperatorPlan> plan_operators(const Graph& graph, const Cluster& cluster, const OperatorPlanOptions& options) {
  const AnalyticCostModel cost;
  return plan_operators(graph, cluster, cost, options);
}

Result<OperatorPlan> plan_operators(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                    const OperatorPlanOptions& options) {
  const auto t0 = Clock::now();
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "OperatorPlanOptions: " + error);
  if (Status s = graph.validate(); !s.ok()) return s;
  if (Status s = cluster.validate(); !s.ok()) return s;
  if (graph.num_ops() == 0) return Status(StatusCode::kInvalidArgument, "the graph has no ops: nothing to plan");
  // Memory grows with the operator-level schedule: refuse what would not fit before allocating it.
  if (const double tasks = static_cast<double>(graph.num_ops()) * options.micro_batches * 3;
      tasks > static_cast<double>(kMaxOperatorTasks))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("the operator-level schedule would have {:.0f} tasks (ops x micro-batches x 3 = {} x {} x 3), "
                              "above the limit of {} (kMaxOperatorTasks; its memory grows with them): plan fewer "
                              "micro-batches or a coarser graph",
                              tasks, graph.num_ops(), options.micro_batches, kMaxOperatorTasks));
  auto topo = graph.topological_order();
  if (!topo.ok()) return topo.status();
  const std::vector<double> cap = device_caps(cluster, options.memory_cap);
  if (Status s = check_memory(graph, cluster, cost, cap); !s.ok()) return s;
  // The stop request acts like the end of the time limit; `stopped` tells them apart at the end.
  const auto remaining = [&] {
    return options.monitor.stop_requested() ? 0.0 : options.time_limit - seconds_since(t0);
  };
  // Progress: improvements always, routine reports at most every monitor.interval seconds.
  double last_report = -kNever, reported_best = kNever, reported_bound = 0;
  const auto report = [&](const char* step, double best, bool improved) {
    if (!options.monitor.progress) return;
    const double now = seconds_since(t0);
    if (!improved && now - last_report < options.monitor.interval) return;
    last_report = now;
    reported_best = std::min(reported_best, best);
    PlanProgress p;
    p.step = step;
    p.elapsed_seconds = now;
    p.best = reported_best;
    p.bound = reported_bound;
    p.improved = improved;
    options.monitor.progress(p);
  };

  // Upper level 1: coarsen.
  const int D = static_cast<int>(cluster.num_devices());
  const Device& first_device = cluster.device(DeviceId(0));
  std::vector<double> weight(graph.num_ops()), memory(graph.num_ops());
  for (OpId id : graph.ops()) {
    const Op& op = graph.op(id);
    weight[id.value()] = cost.op_time(op, Phase::kForward, first_device) +
                         cost.op_time(op, Phase::kInputGrad, first_device) +
                         cost.op_time(op, Phase::kWeightGrad, first_device);
    memory[id.value()] = cost.op_memory(op).total();
  }
  // The unit-level search keeps units x micro-batches x 3 instances: at most kMaxPlannerInstances.
  const std::size_t max_units = std::min<std::size_t>(
      options.max_units > 0 ? static_cast<std::size_t>(options.max_units) : std::max<std::size_t>(12, 6 * static_cast<std::size_t>(D)),
      std::max<std::size_t>(1, static_cast<std::size_t>(kMaxPlannerInstances / (3LL * options.micro_batches))));
  auto coarse = detail::coarsen(graph, *topo, weight, memory, *std::min_element(cap.begin(), cap.end()), max_units);
  if (!coarse.ok()) return coarse.status();
  if (const double instances = static_cast<double>(coarse->units.size()) * options.micro_batches * 3;
      instances > static_cast<double>(kMaxPlannerInstances))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("the unit-level schedule would have {:.0f} instances (units x micro-batches x 3 = {} x {} x "
                              "3; memory needs this many units), above the limit of {} (kMaxPlannerInstances): plan "
                              "fewer micro-batches",
                              instances, coarse->units.size(), options.micro_batches, kMaxPlannerInstances));
  const detail::UnitProblem problem = [&] {
    auto p = detail::make_unit_problem(graph, cluster, cost, std::move(*coarse), *topo, options.micro_batches, cap);
    p.serialize_links = options.serialize_links;
    return p;
  }();
  const int U = static_cast<int>(problem.num_units());

  // The caller's score, if any, on the operator-level schedule a unit schedule expands to.
  const auto scorer_for = [&](const std::vector<int>& unit_device) -> UnitScorer {
    if (!options.score) return nullptr;
    std::vector<DeviceId> op_device(graph.num_ops());
    for (OpId id : graph.ops())
      op_device[id.value()] =
          DeviceId(static_cast<std::uint32_t>(unit_device[static_cast<std::size_t>(problem.coarse.unit_of[id.value()])]));
    return [&, op_device](const Schedule& units) {
      const Schedule ops = detail::expand(graph, cluster, cost, problem, op_device, units, "candidate");
      return std::pair{options.score(ops), ops.metrics.makespan};
    };
  };
  // A placement's value: its best list schedule's makespan, or score with a score callback.
  const auto evaluate = [&](const std::vector<int>& unit_device) {
    if (!options.score) return detail::placement_makespan(problem, unit_device);
    const detail::InstanceGraph pg(detail::make_unit_dag(problem, unit_device));
    UnitSearch trial{pg, options.objective, scorer_for(unit_device)};
    for (const detail::ListRule& rule : {detail::ListRule{1, 0, 2, true, 0}, detail::ListRule{0, 1, 2, true, 0}})
      trial.offer(detail::list_schedule(pg, rule), "list");
    return trial.score.first;
  };

  OperatorPlan plan;
  // Over every placement: one micro-batch's critical path on the fastest devices without
  // transfers, and all the work spread evenly over the devices at their fastest.
  {
    std::vector<double> fastest(static_cast<std::size_t>(U));  // F + b: W need not be on the path
    double total = 0;
    const std::size_t Dz = static_cast<std::size_t>(D);
    for (int u = 0; u < U; ++u) {
      double best = kNever, path_part = kNever;
      for (int d = 0; d < D; ++d) {
        const std::size_t k = static_cast<std::size_t>(u) * Dz + static_cast<std::size_t>(d);
        best = std::min(best, problem.work(u, d));
        path_part = std::min(path_part, problem.forward[k] + problem.input_grad[k]);
      }
      fastest[static_cast<std::size_t>(u)] = path_part;
      total += best * options.micro_batches;
    }
    std::vector<double> finish(static_cast<std::size_t>(U), 0);
    std::vector<std::vector<int>> preds(static_cast<std::size_t>(U));
    for (const auto& e : problem.edges) preds[static_cast<std::size_t>(e.to)].push_back(e.from);
    double path = 0;
    for (int u = 0; u < U; ++u) {  // units are numbered topologically
      double ready = 0;
      for (int p : preds[static_cast<std::size_t>(u)]) ready = std::max(ready, finish[static_cast<std::size_t>(p)]);
      // Forward and input gradient both run along the path: each unit's F + b counts once.
      finish[static_cast<std::size_t>(u)] = ready + fastest[static_cast<std::size_t>(u)];
      path = std::max(path, finish[static_cast<std::size_t>(u)]);
    }
    plan.lower_bound = std::max(path, total / D);
    reported_bound = plan.lower_bound;
  }
  // Upper level 2: placements, judged by the list scheduler.
  std::vector<int> placement;
  double placement_value = kNever;
  std::vector<int> stages = detail::stage_placement(problem);
  if (!stages.empty() && !detail::enforce_ties(problem, stages)) stages.clear();
  std::vector<int> balanced = detail::balanced_placement(problem);
  if (!balanced.empty() && !detail::enforce_ties(problem, balanced)) balanced.clear();
  // The stage pipeline baseline: the expert schedules on the stage placement, timed on the same
  // cost model at unit level. They warm-start the schedule when the stage placement is kept.
  plan.stage_baseline.makespan = kNever;
  std::vector<std::pair<std::vector<std::vector<int>>, std::string>> stage_orders;  // the improving ones
  if (!stages.empty()) {
    const detail::InstanceGraph sg(detail::make_unit_dag(problem, stages));
    UnitSearch baseline{sg, PlanObjective::kMakespan};
    if (auto spec = detail::stage_spec(problem, stages)) {
      plan.stage_baseline.stages = spec->num_stages();
      for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B, ScheduleKind::kZBH1, ScheduleKind::kZBH2,
                                ScheduleKind::kZeroBubble, ScheduleKind::kGreedy}) {
        if (!baseline.orders.empty() && remaining() <= 0) break;  // the time limit (or a stop)
        auto orders = generate_orders(*spec, kind);
        if (!orders.ok()) continue;
        const auto unit_orders =
            detail::fill_channel_orders(sg, detail::unit_orders_of(sg, problem, stages, *orders), D);
        if (baseline.offer(unit_orders, to_string(kind))) stage_orders.emplace_back(unit_orders, to_string(kind));
      }
    }
    if (baseline.orders.empty()) {
      // Every expert schedule overflows memory: the list scheduler on the stage placement stands in.
      for (const auto& ph : kPhases)
        baseline.offer(detail::list_schedule(sg, detail::ListRule{ph.f, ph.b, ph.w, true, 0}),
                       fmt::format("list/{}+tail", ph.name));
    }
    if (!baseline.orders.empty()) {
      plan.stage_baseline.makespan = baseline.schedule.metrics.makespan;
      plan.stage_baseline.source = baseline.source;
    }
  }
  for (const auto& [candidate, name] : {std::pair{stages, "stages"}, std::pair{balanced, "balanced"}}) {
    if (candidate.empty()) continue;
    const double value = evaluate(candidate);
    if (placement.empty() || value < placement_value) {
      placement = candidate;
      placement_value = value;
      plan.placement_source = name;
    }
  }
  if (placement.empty())
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("no placement of the {} units fits in device memory (parameters plus one micro-batch of "
                              "activations per device); give more devices, more memory, or fewer/smaller ops",
                              U));
  // Local moves: a unit to another device, or two units swapped; kept when the list schedule gets
  // shorter. The count, not the clock, bounds them.
  {
    const std::size_t instances = static_cast<std::size_t>(U) * 3 * static_cast<std::size_t>(options.micro_batches);
    const int moves = options.placement_moves >= 0
                          ? options.placement_moves
                          : static_cast<int>(std::clamp<std::size_t>(
                                20000000 / std::max<std::size_t>(instances * static_cast<std::size_t>(D), 1), 50, 3000));
    std::mt19937 rng(static_cast<std::uint32_t>(options.seed) * 2654435761u + 7u);
    // With a relative gap, the moves stop once the list schedule is that close to the global bound.
    const auto close_enough = [&] {
      return !options.score && options.relative_gap > 0 && placement_value > 0 &&
             (placement_value - plan.lower_bound) / placement_value <= options.relative_gap;
    };
    for (int t = 0; t < moves && D > 1 && U > 1 && remaining() > 0 && !close_enough(); ++t) {
      std::vector<int> next = placement;
      const int u = static_cast<int>(rng() % static_cast<unsigned>(U));
      if (rng() % 3 == 0) {
        const int v = static_cast<int>(rng() % static_cast<unsigned>(U));
        if (next[static_cast<std::size_t>(u)] == next[static_cast<std::size_t>(v)]) continue;
        std::swap(next[static_cast<std::size_t>(u)], next[static_cast<std::size_t>(v)]);
      } else {
        const int d = static_cast<int>(rng() % static_cast<unsigned>(D - 1));
        next[static_cast<std::size_t>(u)] = d >= next[static_cast<std::size_t>(u)] ? d + 1 : d;
      }
      ++plan.placement_moves_tried;
      if (!detail::enforce_ties(problem, next, u)) continue;  // tied units move together
      const double value = evaluate(next);
      if (value < placement_value * (1 - 1e-9)) {
        placement = std::move(next);
        placement_value = value;
        plan.placement_source = "moves";
        ++plan.placement_moves_accepted;
        report("placement", value, value < reported_best);
      } else {
        report("placement", placement_value, false);
      }
    }
  }

  // Moves are judged by the list scheduler alone (one move rarely beats an expert schedule, a
  // sequence of them often does); the stage placement with its expert schedules stays the plan
  // unless the moves ended below it.
  // (With a score callback the values are scores, which the baseline's makespan does not compare with.)
  if (!options.score && !stages.empty() && placement != stages && !(placement_value < plan.stage_baseline.makespan)) {
    placement = stages;
    plan.placement_source = "stages";
  }

  // Lower level: schedule the chosen placement.
  const detail::InstanceGraph g(detail::make_unit_dag(problem, placement));
  UnitSearch search{g, options.objective, scorer_for(placement)};
  // Offers a schedule and reports it when it is the best so far.
  const auto offer = [&](const std::vector<std::vector<int>>& orders, const std::string& name, const char* step) {
    const bool better = search.offer(orders, name);
    report(step, search.schedule.metrics.makespan, better && search.schedule.metrics.makespan < reported_best);
    return better;
  };
  offer(detail::fill_channel_orders(g, detail::serial_unit_orders(g, U, options.micro_batches), D), "serial",
        "list schedules");
  if (placement == stages)
    for (const auto& [orders, name] : stage_orders) offer(orders, "stages/" + name, "list schedules");
  bool cut = false;  // the time limit (or a stop) cut a phase short
  for (const auto& ph : kPhases)
    for (bool tail : {false, true}) {
      if (!search.orders.empty() && remaining() <= 0) {
        cut = true;
        break;
      }
      offer(detail::list_schedule(g, detail::ListRule{ph.f, ph.b, ph.w, tail, 0}),
            fmt::format("list/{}{}", ph.name, tail ? "+tail" : ""), "list schedules");
    }

  if (search.orders.empty())
    return options.score ? Status(StatusCode::kFailedPrecondition,
                                  "the score callback rejected every schedule tried (it returned +inf or NaN)")
                         : Status(StatusCode::kInternal, "no schedule of the chosen placement fits in memory");

  plan.placement_lower_bound = detail::lower_bound(g);
  // Close enough: at the placement's bound, or within the caller's relative gap of it.
  const auto at_bound = [&] {
    const double best = search.schedule.metrics.makespan;
    return !options.score && options.objective != PlanObjective::kTotalIdle &&
           options.objective != PlanObjective::kMemoryBalance &&
           (best <= plan.placement_lower_bound * (1 + 1e-9) ||
            (best > 0 && (best - plan.placement_lower_bound) / best <= options.relative_gap));
  };

  // Random list schedules, then the MIP over windows.
  {
    std::mt19937 rng(static_cast<std::uint32_t>(options.seed) + 1u);
    const int draws = detail::random_list_draws(g.ops.size());
    for (int k = 0; k < draws && !at_bound(); ++k) {
      if (remaining() <= 0) {
        cut = true;
        break;
      }
      const auto& ph = kPhases[rng() % std::size(kPhases)];
      offer(detail::list_schedule(g, detail::ListRule{ph.f, ph.b, ph.w, rng() % 2 == 0, 0}, &rng), "list/random",
            "list schedules");
    }
  }
  if (options.use_mip && options.mip_windows > 0 && !cut && !at_bound()) {
    detail::WindowSearchHooks hooks;
    hooks.orders = [&]() -> const std::vector<std::vector<int>>& { return search.orders; };
    hooks.schedule = [&]() -> const Schedule& { return search.schedule; };
    hooks.try_orders = [&](const std::vector<std::vector<int>>& orders, const std::string& name) {
      return offer(orders, name, "mip");
    };
    hooks.forget_last = [] {};
    hooks.at_bound = at_bound;
    hooks.remaining = remaining;
    const auto windows = detail::window_search(g, options.objective, static_cast<std::size_t>(options.window_instances),
                                               options.window_node_limit, options.seed, hooks,
                                               static_cast<std::size_t>(options.mip_windows),
                                               static_cast<std::size_t>(options.mip_windows));
    plan.mip_solves = windows.solves;
    plan.mip_improvements = windows.improvements;
    cut = cut || windows.cut;
  }

  if (!options.mps_file.empty()) {
    constexpr std::size_t kMaxMpsInstances = 2000;
    if (g.ops.size() > kMaxMpsInstances)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("mps_file: the scheduling MIP of {} unit instances is too large to export (at most {}; "
                                "use fewer micro-batches or a smaller max_units)",
                                g.ops.size(), kMaxMpsInstances));
    if (Status s = detail::write_schedule_mip(g, search.orders, options.objective, options.mps_file); !s.ok()) return s;
  }

  // Back to operators, and the independent check.
  plan.units = problem.coarse.units;
  plan.unit_of = problem.coarse.unit_of;
  plan.placement.resize(graph.num_ops());
  for (OpId id : graph.ops())
    plan.placement[id.value()] = DeviceId(static_cast<std::uint32_t>(placement[static_cast<std::size_t>(plan.unit_of[id.value()])]));
  plan.schedule = detail::expand(graph, cluster, cost, problem, plan.placement, search.schedule, search.source);
  const VerifyReport verdict = verify_operator_schedule(graph, cluster, cost, plan.placement, options.micro_batches,
                                                       plan.schedule, options.memory_cap, options.serialize_links);
  plan.verified = verdict.ok();
  if (!plan.verified)
    return Status(StatusCode::kInternal, "the operator-level schedule failed verification: " + verdict.to_string());
  plan.source = search.source;
  plan.makespan = plan.schedule.metrics.makespan;
  plan.placement_lower_bound = std::max(plan.placement_lower_bound, plan.lower_bound);
  plan.gap = plan.makespan > 0 ? std::max(0.0, (plan.makespan - plan.lower_bound) / plan.makespan) : 0;
  plan.solve_seconds = seconds_since(t0);
  const bool at_global_bound = plan.gap <= 1e-9;
  if (at_global_bound) {
    plan.termination = PlanTermination::kOptimal;
    plan.message = "the makespan meets the lower bound";
  } else if (options.monitor.stop_requested()) {
    plan.termination = PlanTermination::kStopped;
    plan.message = fmt::format("stopped at the caller's request; best verified plan so far, gap {:.2f}% left",
                               100 * plan.gap);
  } else if (cut) {
    plan.termination = PlanTermination::kTimeLimit;
    plan.message = fmt::format(
        "the time limit of {:g} s cut the search short (so this plan may differ from run to run), gap {:.2f}% left",
        options.time_limit, 100 * plan.gap);
  } else {
    plan.termination = PlanTermination::kNoImprovement;
    plan.message = fmt::format("{} placement move(s) kept of {}; {} MIP window(s), {} improvement(s); gap {:.2f}% left",
                               plan.placement_moves_accepted, plan.placement_moves_tried, plan.mip_solves,
                               plan.mip_improvements, 100 * plan.gap);
  }
  if (U < D) plan.message += fmt::format("; {} units for {} devices, so some devices stay idle", U, D);
  return plan;
}

OPPLAN_END_NAMESPACE
