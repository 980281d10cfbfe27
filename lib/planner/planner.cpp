// plan_pipeline(): placement, warm starts, lower bound, MIP and windowed MIP improvement, and the
// verification of everything returned (see planner.hpp for the steps).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <random>
#include <string>
#include <memory>
#include <new>
#include <opplan/mip_model.hpp>
#include <tuple>

#include "core/text_units.hpp"
#include "pipeline/pipeline_internal.hpp"
#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::Clock;
using detail::seconds_since;

// Phase orders for the list scheduler: the rank of F, b and W (smaller first).
using detail::kPhaseOrders;
using detail::ListPhases;

std::string rule_name(const ListPhases& phases, const detail::ListRule& rule) {
  std::string name = std::string("list/") + phases.name;
  if (rule.prefer_tail) name += "+tail";
  if (rule.max_in_flight > 0) name += fmt::format("/in-flight={}", rule.max_in_flight);
  return name;
}

int max_peak_activations(const Schedule& s) {
  int peak = 0;
  for (const DeviceMetrics& d : s.metrics.devices) peak = std::max(peak, d.peak_activations);
  return peak;
}

// The spec laid out as `placement` asks, with the option's memory cap; unverified.
Result<PipelineSpec> place(const PipelineSpec& spec, Placement target) {
  if (spec.placement == target) return spec;
  const bool uniform =
      std::all_of(spec.stages.begin(), spec.stages.end(), [&](const StageSpec& s) { return s == spec.stages.front(); });
  if (!uniform)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("placement '{}' re-lays the stages, so they must all be equal; the spec's differ (give "
                              "the routes yourself and use placement 'given')",
                              to_string(target)));
  auto placed = make_pipeline_spec(target, spec.num_devices, spec.num_micro_batches, spec.stages.front());
  if (!placed.ok()) return placed.status();
  placed->name = spec.name;
  placed->memory_cap = spec.memory_cap;
  return placed;
}

// Fails naming every device whose cap is below what one micro-batch needs there.
Status check_memory(const PipelineSpec& spec, const detail::InstanceGraph& graph) {
  if (spec.memory_cap.empty()) return Status::Ok();
  const std::vector<double> need = detail::minimum_memory(spec, graph);
  std::string problems;
  for (int d = 0; d < spec.num_devices; ++d) {
    const double cap = spec.cap(d), n = need[static_cast<std::size_t>(d)];
    if (n > cap + 1e-9 * std::max(1.0, std::abs(cap)))
      problems += fmt::format(
          "\n  device {}: one micro-batch needs {:g} there (parameters {:g} + activations {:g}), the cap is {:g}: "
          "short by {:g}",
          d, n, spec.param_memory(d), n - spec.param_memory(d), cap, n - cap);
  }
  if (problems.empty()) return Status::Ok();
  return Status(StatusCode::kInvalidArgument,
                fmt::format("no schedule fits the memory caps on the '{}' placement:{}", to_string(spec.placement),
                            problems));
}

// Progress reports to the caller's monitor (progress.hpp): improvements always, routine reports at
// most every `interval` seconds. Called directly on the planner's thread, so an exception thrown by
// the callback propagates out of plan_pipeline() (nothing here needs cleaning up by hand).
struct Reporter {
  const PlanMonitor& monitor;
  Clock::time_point t0;
  Clock::time_point last{};
  bool reported = false;
  PlanProgress state;

  Reporter(const PlanMonitor& m, Clock::time_point start) : monitor(m), t0(start) {}

  bool stop_requested() const { return monitor.stop_requested(); }
  void send(bool improved) {
    if (!monitor.progress) return;
    const auto now = Clock::now();
    state.elapsed_seconds = std::chrono::duration<double>(now - t0).count();
    state.improved = improved;
    last = now;
    reported = true;
    monitor.progress(state);
  }
  // A routine report of the current step, unless one went out less than `interval` ago.
  void tick(const char* step) {
    state.step = step;
    if (!monitor.progress) return;
    if (reported && std::chrono::duration<double>(Clock::now() - last).count() < monitor.interval) return;
    send(false);
  }
  // A better plan: always reported. Under the makespan objective only a shorter one counts (with
  // several placements a search may improve on itself without beating another's); under the
  // others `best` is the makespan of the plan that is best by the objective.
  bool by_makespan = true;
  void improved(double makespan) {
    if (by_makespan && !(makespan < state.best)) return;
    state.best = makespan;
    send(true);
  }
};

struct Search {
  const PipelineSpec& spec;
  detail::InstanceGraph graph;
  PlanObjective objective;
  PlanResult result;
  std::pair<double, double> best_score{kInf, kInf};
  bool have_best = false;
  // The best schedule the MIP can start from (no overlapped F&B slots) and its instance orders.
  Schedule mip_incumbent;
  std::vector<std::vector<int>> mip_orders;
  std::pair<double, double> mip_score{kInf, kInf};
  Reporter* reporter = nullptr;
  double bound = 0;  // detail::lower_bound of the spec

  Search(const PipelineSpec& s, PlanObjective o, Reporter* r) : spec(s), graph(s), objective(o), reporter(r) {}

  // Verifies and records a candidate; true when it became the best.
  bool offer(Result<Schedule> schedule, const std::string& name) {
    PlanCandidate c;
    c.name = name;
    if (!schedule.ok()) {
      c.note = schedule.status().message().substr(0, schedule.status().message().find('\n'));
      result.candidates.push_back(std::move(c));
      return false;
    }
    schedule->name = name;
    const VerifyReport report = verify(spec, *schedule);
    c.makespan = schedule->metrics.makespan;
    c.peak_activations = max_peak_activations(*schedule);
    c.verified = report.ok();
    if (!report.ok()) c.note = report.violations.front().message;
    result.candidates.push_back(c);
    if (!report.ok()) return false;
    const auto sc = detail::plan_score(*schedule, objective);
    if (detail::better_score(sc, mip_score)) {
      auto orders = detail::orders_of(graph, *schedule);
      if (!orders.empty()) {
        mip_orders = std::move(orders);
        mip_incumbent = *schedule;
        mip_score = sc;
      }
    }
    if (have_best && !detail::better_score(sc, best_score)) return false;
    have_best = true;
    best_score = sc;
    result.schedule = std::move(*schedule);
    result.source = name;
    if (reporter) reporter->improved(result.schedule.metrics.makespan);
    return true;
  }

  // The serial schedule, the baselines and the greedy ones always run (cheap, and the guarantee of
  // never losing to a baseline rests on them); the list-scheduler rules stop at a stop request.
  // True when the stop request cut them short.
  // The serial schedule always runs (it always fits memory: the plan is never nothing). On
  // instances of up to kCheapWarmStarts the baselines and the greedy ones always run too (they take
  // milliseconds, and the guarantee of never losing to a baseline rests on them); on larger ones,
  // where each takes up to seconds, they too stop at the stop request or `out_of_time` (the time
  // limit, which sets `cut`). The list-scheduler rules always stop at either. True when the stop
  // request cut them short.
  static constexpr std::size_t kCheapWarmStarts = 2000;
  template <typename OutOfTime>
  bool warm_starts(bool baselines, OutOfTime out_of_time, bool& cut) {
    if (reporter) reporter->tick("warm starts");
    SimulateOptions sim;
    sim.name = "serial";
    offer(simulate(spec, detail::serial_orders(spec, graph), sim), "serial");
    if (!baselines) return false;
    const auto halt = [&] {
      if (reporter && reporter->stop_requested()) return true;
      if (out_of_time()) cut = true;
      if (reporter && !cut) reporter->tick("warm starts");
      return cut;
    };
    const bool cheap = graph.ops.size() <= kCheapWarmStarts;
    for (ScheduleKind kind : kAllScheduleKinds) {
      if (kind == ScheduleKind::kGreedy || required_placement(kind) != spec.placement) continue;
      if (!cheap && halt()) return !cut;
      offer(build_schedule(spec, kind), to_string(kind));
    }
    const int P = spec.num_devices;
    for (int limit : {0, P, P + 1, 2 * P - 1}) {
      if (!cheap && halt()) return !cut;
      ScheduleOptions o;
      o.max_in_flight = limit;
      offer(build_schedule(spec, ScheduleKind::kGreedy, o),
            limit == 0 ? std::string("greedy") : fmt::format("greedy/in-flight={}", limit));
    }
    // The list scheduler under every phase order, with and without the tail tie-break.
    if (graph.ops.size() > 20000) return false;
    for (const ListPhases& phases : kPhaseOrders)
      for (bool tail : {false, true})
        for (int limit : {0, P}) {
          if (halt()) return !cut;
          detail::ListRule rule{phases.f, phases.b, phases.w, tail, limit};
          try_orders(detail::list_schedule(graph, rule), rule_name(phases, rule));
        }
    return false;
  }

  // `draws` random tie-breaks under random rules (fewer once `out_of_time` or the stop request says
  // so); the list scheduler is cheap and its best draws often beat the fixed rules. The count, not
  // the clock, bounds the phase, so the same seed gives the same draws. True when the time cap cut
  // the phase short; `stopped` is set when the stop request did.
  template <typename AtBound, typename OutOfTime>
  bool random_lists(std::mt19937& rng, int draws, AtBound at_bound, OutOfTime out_of_time, bool& stopped) {
    if (graph.ops.size() > 20000) return false;
    const int P = spec.num_devices;
    const int limits[] = {0, P, P + 1, 2 * P - 1};
    for (int draw = 0; draw < draws; ++draw) {
      if (at_bound()) return false;
      if (reporter && reporter->stop_requested()) {
        stopped = true;
        return false;
      }
      if (out_of_time()) return true;
      if (reporter) reporter->tick("list schedules");
      const ListPhases& phases = kPhaseOrders[rng() % std::size(kPhaseOrders)];
      detail::ListRule rule{phases.f, phases.b, phases.w, rng() % 2 == 0, limits[rng() % 4]};
      // Only the draws that improved the plan are listed among the candidates.
      if (!try_orders(detail::list_schedule(graph, rule, &rng), "list/random") && !result.candidates.empty())
        result.candidates.pop_back();
    }
    return false;
  }

  // Replays instance orders (of the list scheduler or the MIP); true when they improved the plan.
  bool try_orders(const std::vector<std::vector<int>>& orders, const std::string& name) {
    if (orders.empty())
      return offer(Status(StatusCode::kFailedPrecondition, "memory blocks every device before the end"), name);
    SimulateOptions sim;
    sim.name = name;
    return offer(simulate(spec, detail::to_pipeline_orders(graph, orders), sim), name);
  }
};

}  // namespace

const char* to_string(PlanObjective objective) {
  switch (objective) {
    case PlanObjective::kMakespan: return "makespan";
    case PlanObjective::kUtilisation: return "utilisation";
    case PlanObjective::kTotalIdle: return "total-idle";
    case PlanObjective::kMemoryBalance: return "memory-balance";
  }
  return "?";
}

std::optional<PlanObjective> parse_plan_objective(std::string_view name) {
  for (auto o : {PlanObjective::kMakespan, PlanObjective::kUtilisation, PlanObjective::kTotalIdle,
                 PlanObjective::kMemoryBalance})
    if (name == to_string(o)) return o;
  return std::nullopt;
}

const char* to_string(PlanPlacement placement) {
  switch (placement) {
    case PlanPlacement::kGiven: return "given";
    case PlanPlacement::kDualPipe: return "dualpipe";
    case PlanPlacement::kDualPipeV: return "dualpipev";
    case PlanPlacement::k1F1B: return "1f1b";
    case PlanPlacement::kFree: return "free";
  }
  return "?";
}

std::optional<PlanPlacement> parse_plan_placement(std::string_view name) {
  for (auto p : {PlanPlacement::kGiven, PlanPlacement::kDualPipe, PlanPlacement::kDualPipeV, PlanPlacement::k1F1B,
                 PlanPlacement::kFree})
    if (name == to_string(p)) return p;
  return std::nullopt;
}

const char* to_string(PlanTermination termination) {
  switch (termination) {
    case PlanTermination::kOptimal: return "optimal";
    case PlanTermination::kTimeLimit: return "time-limit";
    case PlanTermination::kNoImprovement: return "no-improvement";
    case PlanTermination::kStopped: return "stopped";
  }
  return "?";
}

bool PlannerOptions::IsValid(std::string* error) const {
  std::string e;
  if (!(time_limit > 0) || !std::isfinite(time_limit))
    e = fmt::format("time_limit: must be a positive number of seconds, got {}", time_limit);
  else if (memory_cap && (!(*memory_cap > 0) || !std::isfinite(*memory_cap)))
    e = fmt::format("memory_cap: must be positive and finite, got {}", *memory_cap);
  else if (max_mip_instances < 0)
    e = fmt::format("max_mip_instances: must be >= 0, got {}", max_mip_instances);
  else if (window_instances < 2)
    e = fmt::format("window_instances: must be >= 2, got {}", window_instances);
  else if (mip_node_limit < -1)
    e = fmt::format("mip_node_limit: must be >= 0 or -1 (by the instance size), got {}", mip_node_limit);
  else if (window_node_limit < 0)
    e = fmt::format("window_node_limit: must be >= 0, got {}", window_node_limit);
  else if (!(monitor.interval >= 0) || !std::isfinite(monitor.interval))
    e = fmt::format("monitor.interval: must be a finite number of seconds >= 0, got {}", monitor.interval);
  if (error) *error = e;
  return e.empty();
}

std::string PlanResult::BriefReport() const {
  return fmt::format("makespan {:g} (bound {:g}, gap {:.2f}%), from {}, {}, {:.3f} s", makespan, lower_bound,
                     100 * gap, source, to_string(termination), solve_seconds);
}

Result<double> pipeline_lower_bound(const PipelineSpec& spec) {
  if (Status s = spec.validate(); !s.ok()) return s;
  const detail::InstanceGraph graph(spec);
  return detail::lower_bound(spec, graph);
}

namespace {

Result<PlanResult> plan_pipeline_checked(const PipelineSpec& input, const PlannerOptions& options) {
  const auto t0 = Clock::now();
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "PlannerOptions: " + error);
  PipelineSpec capped = input;
  if (options.memory_cap) capped.memory_cap = {*options.memory_cap};
  {
    // Everything but the caps first, so that a cap problem is reported below with what is needed.
    PipelineSpec uncapped = capped;
    uncapped.memory_cap.clear();
    if (Status s = uncapped.validate(); !s.ok()) return s;
  }
  // Memory grows with the operator instances (each warm start keeps a timed schedule of all of
  // them): refuse, before allocating, what would not fit in a few GB.
  {
    const bool split = std::any_of(capped.stages.begin(), capped.stages.end(),
                                   [](const StageSpec& st) { return st.weight_grad > 0; });
    const double instances = static_cast<double>(capped.num_micro_batches) * static_cast<double>(capped.num_stages()) *
                             (split ? 3 : 2);
    if (instances > static_cast<double>(kMaxPlannerInstances))
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("the spec has {:.0f} operator instances (micro_batches x stages x phases = {} x {} x {}), "
                                "above the planner's limit of {} (its memory grows with them); plan fewer micro-batches "
                                "or stages, or build a baseline schedule with `opplan schedule`",
                                instances, capped.num_micro_batches, capped.num_stages(), split ? 3 : 2,
                                kMaxPlannerInstances));
  }

  std::vector<Placement> placements;
  switch (options.placement) {
    case PlanPlacement::kGiven: placements = {capped.placement}; break;
    case PlanPlacement::kDualPipe: placements = {Placement::kDualPipe}; break;
    case PlanPlacement::kDualPipeV: placements = {Placement::kV}; break;
    case PlanPlacement::k1F1B: placements = {Placement::kLinear}; break;
    case PlanPlacement::kFree:
      // Placements that keep the spec's stages (and so its work): the given one, linear, DualPipe.
      placements = {capped.placement};
      if (capped.num_stages() == capped.num_devices) {
        for (Placement p : {Placement::kLinear, Placement::kDualPipe})
          if (p != capped.placement) placements.push_back(p);
      }
      break;
  }

  // One search per placement: warm starts and the bound.
  std::vector<std::unique_ptr<Search>> searches;
  std::vector<PipelineSpec> specs;
  specs.reserve(placements.size());
  Status first_error;
  for (Placement p : placements) {
    auto placed = place(capped, p);
    if (placed.ok()) {
      PipelineSpec uncapped = *placed;
      uncapped.memory_cap.clear();
      if (Status s = uncapped.validate(); !s.ok()) placed = s;
    }
    if (placed.ok()) {
      const detail::InstanceGraph graph(*placed);
      if (Status s = check_memory(*placed, graph); !s.ok()) placed = s;
    }
    if (placed.ok())
      if (Status s = placed->validate(); !s.ok()) placed = s;
    if (!placed.ok()) {
      if (first_error.ok()) first_error = placed.status();
      continue;
    }
    specs.push_back(std::move(*placed));
  }
  if (specs.empty()) return first_error;
  Reporter reporter(options.monitor, t0);
  reporter.by_makespan =
      options.objective == PlanObjective::kMakespan || options.objective == PlanObjective::kUtilisation;
  bool stopped = false;
  // The bound of each placement first, so that every report carries one (with several placements,
  // the least of them until one is chosen).
  std::vector<std::unique_ptr<Search>> all;
  reporter.state.bound = kInf;
  for (const PipelineSpec& s : specs) {
    all.push_back(std::make_unique<Search>(s, options.objective, &reporter));
    all.back()->bound = detail::lower_bound(s, all.back()->graph);
    reporter.state.bound = std::min(reporter.state.bound, all.back()->bound);
  }
  bool warm_cut = false;  // the time limit cut the warm starts short
  for (auto& search : all) {
    if (search->warm_starts(options.use_baselines, [&] { return seconds_since(t0) >= options.time_limit; }, warm_cut))
      stopped = true;
    if (search->have_best) searches.push_back(std::move(search));
  }
  if (searches.empty()) {
    // validate() keeps every time and memory figure finite over an iteration, so the serial schedule
    // should always pass: say what the verifier found.
    std::string why;
    for (const auto& search : all)
      for (const PlanCandidate& c : search->result.candidates)
        if (!c.note.empty()) {
          why = fmt::format(" ({}: {})", c.name, c.note);
          break;
        }
    return Status(StatusCode::kInternal,
                  fmt::format("no warm start passed the verifier, not even the serial schedule{}", why));
  }
  std::size_t chosen = 0;
  for (std::size_t i = 1; i < searches.size(); ++i)
    if (detail::better_score(searches[i]->best_score, searches[chosen]->best_score)) chosen = i;
  Search& search = *searches[chosen];
  PlanResult& r = search.result;
  for (std::size_t i = 0; i < searches.size(); ++i)
    if (i != chosen)
      for (PlanCandidate c : searches[i]->result.candidates) {
        c.name = fmt::format("{}@{}", c.name, to_string(searches[i]->spec.placement));
        r.candidates.push_back(std::move(c));
      }
  r.lower_bound = search.bound;
  reporter.state.bound = r.lower_bound;
  reporter.state.best = r.schedule.metrics.makespan;

  const bool makespan_objective =
      options.objective == PlanObjective::kMakespan || options.objective == PlanObjective::kUtilisation;
  const auto at_bound = [&] {
    return makespan_objective &&
           r.schedule.metrics.makespan <= r.lower_bound + 1e-9 * std::max(1.0, r.lower_bound);
  };
  const auto remaining = [&] { return options.time_limit - seconds_since(t0); };
  if (options.lp_bound && !warm_cut && !search.mip_orders.empty() && !at_bound()) {
    reporter.tick("lp relaxation");
    // A quarter of the time left at most: the search after it matters more than this bound.
    const detail::LpBoundOutcome lp = detail::lp_relaxation_bound(search.graph, search.mip_orders, remaining() / 4);
    r.lp_message = lp.message;
    if (lp.ok) {
      r.lp_bound = lp.value;
      // The LP's optimum less a solver tolerance: never above the true one.
      r.lower_bound = std::max(r.lower_bound, lp.value - 1e-9 * std::max(1.0, lp.value));
      reporter.state.bound = r.lower_bound;
    }
  }
  const auto stop_now = [&] {
    if (!stopped && reporter.stop_requested()) stopped = true;
    return stopped;
  };

  // Deterministic budgets (docs/planner.md, "Determinism"): a count of random list schedules, a node
  // limit per MIP solve and a bounded sequence of windows, all fixed by the seed and the instance;
  // the time limit is only a safety cap, and `cut` records that it stopped something early.
  bool cut = warm_cut;
  const std::size_t n = search.graph.ops.size();
  std::mt19937 list_rng(static_cast<std::uint32_t>(options.seed) + 1u);
  if (options.use_baselines && !cut && !stop_now())
    cut = search.random_lists(list_rng, detail::random_list_draws(n), at_bound, [&] { return remaining() <= 0; },
                              stopped);

  // Local search over the incumbent's orders (list_scheduler.cpp): cheap moves along its critical
  // paths, a count of replays fixed by the instance size. It shortens the makespan, so it runs only
  // under the objectives that rank by it.
  if (options.use_baselines && makespan_objective && !cut && !stop_now() && !at_bound() &&
      !search.mip_orders.empty() && n <= 20000) {
    reporter.tick("local search");
    std::mt19937 move_rng(static_cast<std::uint32_t>(options.seed) + 2u);
    const auto better = detail::improve_orders(search.graph, search.mip_orders, detail::order_search_evaluations(n),
                                               move_rng, r.lower_bound, [&] { return stop_now() || remaining() <= 0; });
    if (!better.empty()) search.try_orders(better, "local");
    if (remaining() <= 0) cut = true;
  }

  if (options.use_mip && !cut && !stop_now() && !at_bound() && !search.mip_orders.empty()) {
    const auto solve = [&](const std::vector<char>& free_op, std::int64_t nodes) {
      auto out = detail::solve_schedule_mip(search.graph, search.mip_orders, search.mip_incumbent, free_op,
                                            options.objective, std::max(0.0, remaining()), nodes,
                                            options.monitor.stop);
      ++r.mip_solves;
      if (out.time_limited) cut = true;
      if (out.interrupted) stopped = true;
      return out;
    };
    if (n <= static_cast<std::size_t>(options.max_mip_instances)) {
      if (remaining() <= 0) {
        cut = true;
      } else {
        reporter.tick("mip");
        const std::int64_t nodes =
            options.mip_node_limit >= 0
                ? options.mip_node_limit
                : std::clamp<std::int64_t>(2000000 / static_cast<std::int64_t>(n * n), 20, 2000);
        const auto out = solve(std::vector<char>(n, 1), nodes);
        if (!out.orders.empty() && search.try_orders(out.orders, "mip")) ++r.mip_improvements;
      }
    }
    // Large-neighbourhood search over windows of the incumbent (window_search.cpp).
    detail::WindowSearchHooks hooks;
    hooks.orders = [&]() -> const std::vector<std::vector<int>>& { return search.mip_orders; };
    hooks.schedule = [&]() -> const Schedule& { return search.mip_incumbent; };
    hooks.try_orders = [&](const std::vector<std::vector<int>>& orders, const std::string& name) {
      return search.try_orders(orders, name);
    };
    hooks.forget_last = [&] { r.candidates.pop_back(); };
    hooks.at_bound = at_bound;
    hooks.remaining = remaining;
    hooks.stop_requested = [&] { return reporter.stop_requested(); };
    hooks.interrupt = options.monitor.stop;
    hooks.before_window = [&] { reporter.tick("windows"); };
    if (!cut && !stop_now()) {
      const auto windows = detail::window_search(search.graph, options.objective,
                                                 static_cast<std::size_t>(options.window_instances),
                                                 options.window_node_limit, options.seed, hooks);
      r.mip_solves += windows.solves;
      r.mip_improvements += windows.improvements;
      cut = cut || windows.cut;
      stopped = stopped || windows.stopped;
    }
  }
  const bool timed_out = cut && !at_bound();

  r.spec = search.spec;
  r.makespan = r.schedule.metrics.makespan;
  r.gap = r.makespan > 0 ? std::max(0.0, (r.makespan - r.lower_bound) / r.makespan) : 0;
  // The returned schedule is verified again here, as a whole, so the flag is never taken on trust.
  r.verified = verify(r.spec, r.schedule).ok();
  r.solve_seconds = seconds_since(t0);
  if (makespan_objective && r.gap <= 1e-12) {
    r.termination = PlanTermination::kOptimal;
    r.message = "the makespan meets the lower bound";
  } else if (stopped) {
    r.termination = PlanTermination::kStopped;
    r.message = fmt::format(
        "the caller stopped the search (PlanMonitor::stop) after {:.3f} s: best verified plan so far, gap {:.2f}% left",
        r.solve_seconds, 100 * r.gap);
  } else if (timed_out) {
    r.termination = PlanTermination::kTimeLimit;
    r.message = fmt::format(
        "the time limit of {:g} s cut the search short (so this plan may differ from run to run), gap {:.2f}% left",
        options.time_limit, 100 * r.gap);
  } else {
    r.termination = PlanTermination::kNoImprovement;
    r.message = options.use_mip ? fmt::format("{} MIP solve(s), {} improvement(s); gap {:.2f}% left", r.mip_solves,
                                              r.mip_improvements, 100 * r.gap)
                                : "MIP off: best warm start";
  }
  if (!r.verified) return Status(StatusCode::kInternal, "the chosen schedule failed verification");
  return std::move(r);
}

}  // namespace

Result<PlanResult> plan_pipeline(const PipelineSpec& input, const PlannerOptions& options) {
  // kMaxPlannerInstances keeps memory within a few GB; a machine with less still gets a Status.
  try {
    return plan_pipeline_checked(input, options);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("out of memory planning a pipeline of {} stages on {} devices with {} micro-batches: the "
                              "spec is too large for this machine's memory",
                              input.num_stages(), input.num_devices, input.num_micro_batches));
  }
}

OPPLAN_END_NAMESPACE
