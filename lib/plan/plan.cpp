// plan(): validate, then the operator-level and / or the hierarchical strategy, and the better
// verified plan with a summary of every step (plan.hpp).
#include <opplan/plan.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <opplan/sharding.hpp>

#include "configs/evaluate_internal.hpp"
#include "core/text_units.hpp"
#include "plan/recost.hpp"
#include "stages/layer_costs.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::bytes_text;
using detail::Clock;
using detail::seconds_since;
constexpr double kNever = std::numeric_limits<double>::infinity();

// "-" for a figure that does not exist (no bound yet).
std::string seconds_text(double s) { return std::isfinite(s) ? detail::seconds_text(s) : std::string("-"); }

// The schedule and outcome fields OperatorPlan and PlanResult share.
template <typename PlannerResult>
void take_outcome(Plan& p, PlannerResult& r) {
  p.schedule = std::move(r.schedule);
  p.iteration_seconds = r.makespan;
  p.lower_bound = r.lower_bound;
  p.gap = r.gap;
  p.verified = r.verified;
  p.summary.termination = r.termination;
  p.summary.message = r.message;
}

// Reports across strategies: `best` never goes back up when the second strategy starts.
PlanMonitor shared_monitor(const PlanMonitor& outer, double* best) {
  PlanMonitor m = outer;
  if (outer.progress)
    m.progress = [progress = outer.progress, best](const PlanProgress& p) {
      PlanProgress q = p;
      q.improved = p.improved && p.best < *best;
      *best = std::min(*best, p.best);
      q.best = *best;
      progress(q);
    };
  return m;
}

Result<Plan> operator_level(const Graph& graph, const Cluster& cluster, const CostModel& cost, const PlanOptions& o,
                            double seconds, const PlanMonitor& monitor) {
  OperatorPlanOptions oo = o.operator_level;
  oo.micro_batches = o.micro_batches;
  oo.objective = o.objective;
  oo.time_limit = std::max(seconds, 1e-3);
  oo.memory_cap = o.memory_cap;
  oo.seed = o.seed;
  oo.monitor = monitor;
  oo.score = o.score;
  oo.relative_gap = o.relative_gap;
  auto op = plan_operators(graph, cluster, cost, oo);
  if (!op.ok()) return op.status();
  Plan p;
  p.strategy = PlanStrategy::kOperatorLevel;
  p.placement = op->placement;
  p.sharding.assign(graph.num_ops(), "replicated");
  p.summary.steps.push_back({"operator-level", op->solve_seconds, op->BriefReport()});  // before the move
  take_outcome(p, *op);
  return p;
}

// The stage pipeline of a StagePlan as a PipelineSpec: one "device" per stage, each stage's
// latency (less its recomputed forwards, which go to b) split into F / b / W in the proportions of
// its ops' unsharded times on the slowest device of its mesh (every shard waits for it; the first
// device of a mesh over mixed nodes may be a fast one), the tensors
// crossing a boundary sent between the meshes' first devices (divided over the smaller mesh, as
// every device sends its shard).
Result<PipelineSpec> stage_pipeline(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                    const StagePlan& sp, int micro_batches, double cap) {
  const int S = static_cast<int>(sp.stages.size());
  std::vector<int> stage_of(graph.num_ops(), -1);
  for (int s = 0; s < S; ++s)
    for (OpId id : sp.stages[static_cast<std::size_t>(s)].ops) stage_of[id.value()] = s;
  PipelineSpec spec;
  spec.name = graph.name();
  spec.num_devices = S;
  spec.num_micro_batches = micro_batches;
  spec.placement = Placement::kLinear;
  for (int s = 0; s < S; ++s) {
    const Stage& stage = sp.stages[static_cast<std::size_t>(s)];
    double f = 0, b = 0, w = 0;
    for (OpId id : stage.ops) {
      const Op& op = graph.op(id);
      // Per op: which device is slowest depends on the op's dtype and whether it is memory-bound.
      double slowest[kNumPhases] = {0, 0, 0};
      for (DeviceId d : stage.mesh.devices)
        for (int k = 0; k < kNumPhases; ++k)
          slowest[k] = std::max(slowest[k], cost.op_time(op, kAllPhases[k], cluster.device(d)));
      f += slowest[0];
      b += slowest[1];
      w += slowest[2];
    }
    const double total = f + b + w;
    // Recomputed forwards run again during the backward: they belong to b, not to the split.
    const double split = stage.latency - stage.recompute_seconds;
    StageSpec st;
    st.forward = total > 0 ? split * f / total : split / 3;
    st.input_grad = (total > 0 ? split * b / total : split / 3) + stage.recompute_seconds;
    st.weight_grad = total > 0 ? split * w / total : split / 3;
    st.activation = stage.activation_bytes;
    // The one full-activation peak of a recomputed layer's backward is held once per stage.
    st.params = stage.parameter_bytes + stage.recompute_peak_bytes;
    spec.stages.push_back(st);
  }
  std::vector<double> crossing(static_cast<std::size_t>(S), 0);
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    const int a = stage_of[edge.src.value()], b = stage_of[edge.dst.value()];
    if (a >= 0 && b > a) crossing[static_cast<std::size_t>(a)] += edge.bytes;
  }
  for (int s = 0; s + 1 < S; ++s) {
    const Mesh& from = sp.stages[static_cast<std::size_t>(s)].mesh;
    const Mesh& to = sp.stages[static_cast<std::size_t>(s + 1)].mesh;
    const double shards = static_cast<double>(std::min(from.devices.size(), to.devices.size()));
    spec.stages[static_cast<std::size_t>(s)].p2p =
        cost.transfer_time(cluster, from.devices.front(), to.devices.front(), crossing[static_cast<std::size_t>(s)] / shards);
  }
  auto routes = placement_routes(Placement::kLinear, S);
  if (!routes.ok()) return routes.status();
  spec.routes = *routes;
  spec.memory_cap.assign(static_cast<std::size_t>(S), cap);
  if (Status s = spec.validate(); !s.ok()) return s;
  return spec;
}

Result<Plan> hierarchical(const Graph& graph, const Cluster& input_cluster, const CostModel& cost, const PlanOptions& o,
                          bool pipeline_only, double seconds, const PlanMonitor& monitor, std::vector<PlanStep>& steps) {
  Cluster cluster = input_cluster;
  if (o.memory_cap)
    for (DeviceId d : cluster.devices())
      cluster.mutable_device(d).memory_bytes = std::min(cluster.device(d).memory_bytes, *o.memory_cap);
  const char* name = pipeline_only ? "pipeline-only" : "hierarchical";
  StageOptions so;
  so.num_microbatches = o.micro_batches;
  so.stop = monitor.stop;
  so.time_limit = std::max(seconds, 1e-3);
  if (pipeline_only) {
    so.submesh_shapes = {SubmeshShape{1, 1}};
    so.all_logical_meshes = false;
  }
  auto t0 = Clock::now();
  auto sp = plan_stages(graph, cluster, cost, so);
  steps.push_back({fmt::format("{}: stages", name), seconds_since(t0), sp.ok() ? sp->BriefReport() : sp.status().message()});
  if (!sp.ok()) return sp.status();
  // Stages are contiguous cuts: a co-location group (tied embeddings) may end up on two stages,
  // which this plan cannot honour.
  {
    std::map<std::string, std::size_t> stage_of_group;
    for (std::size_t s = 0; s < sp->stages.size(); ++s)
      for (OpId id : sp->stages[s].ops) {
        const std::string& group = graph.op(id).group;
        if (group.empty()) continue;
        const auto [it, first] = stage_of_group.emplace(group, s);
        if (!first && it->second != s)
          return Status(StatusCode::kFailedPrecondition,
                        fmt::format("co-location group '{}' spans stages {} and {} (op '{}'); the stage plan cannot "
                                    "keep it on one device",
                                    group, it->second, s, graph.op(id).name));
      }
  }

  t0 = Clock::now();
  auto spec = stage_pipeline(graph, cluster, cost, *sp, o.micro_batches, sp->device_memory);
  if (!spec.ok()) return spec.status();
  PlannerOptions po;
  po.time_limit = std::max(seconds - seconds_since(t0), 1e-3);
  po.objective = o.objective;
  po.seed = o.seed;
  po.monitor = monitor;
  auto scheduled = plan_pipeline(*spec, po);
  steps.push_back({fmt::format("{}: schedule", name), seconds_since(t0),
                   scheduled.ok() ? scheduled->BriefReport() : scheduled.status().message()});
  if (!scheduled.ok()) return scheduled.status();

  // Each stage's ops sharded on its logical mesh, as plan_stages costed them.
  t0 = Clock::now();
  Plan p;
  p.strategy = pipeline_only ? PlanStrategy::kPipelineOnly : PlanStrategy::kHierarchical;
  p.placement.assign(graph.num_ops(), DeviceId(0));
  p.sharding.assign(graph.num_ops(), "replicated");
  for (std::size_t s = 0; s < sp->stages.size(); ++s) {
    const Stage& stage = sp->stages[s];
    for (OpId id : stage.ops) p.placement[id.value()] = stage.mesh.devices.front();
    if (stage.mesh.devices.size() < 2) continue;
    const Graph sub = stages_detail::layer_graph(graph, stage.ops, static_cast<int>(s));
    ShardingOptions sharding;
    sharding.weight_sync_scale = 1.0 / o.micro_batches;
    sharding.time_limit = std::max(seconds / 10, 1.0);
    sharding.gradient_bucket_bytes = so.gradient_bucket_bytes;  // the stage planner priced gradients in buckets
    if (stage.least_memory_sharding) sharding.memory_budget = kNever;
    auto shards = shard(sub, cluster, stage.mesh, cost, sharding);
    if (!shards.ok()) return shards.status();
    for (std::size_t k = 0; k < stage.ops.size(); ++k) p.sharding[stage.ops[k].value()] = shards->ops[k].chosen.name;
  }
  steps.push_back({fmt::format("{}: sharding", name), seconds_since(t0), "every stage's ops on its logical mesh"});
  p.stages = std::move(*sp);
  take_outcome(p, *scheduled);
  return p;
}

// The fastest ParallelConfig that fits (search_parallel_configs()), as a Plan: evaluate()'s
// figures and timed schedule, each op on its pipeline rank.
Result<Plan> parallel_config(const Graph& graph, const Cluster& cluster, const CostModel& cost, const PlanOptions& o,
                             double seconds, const PlanMonitor& monitor, std::vector<PlanStep>& steps) {
  ConfigSearchOptions so = o.parallel_config;
  so.global_batch = o.global_batch;
  so.micro_batches = o.micro_batches;
  so.memory_cap = o.memory_cap;
  so.threads = o.threads;
  so.time_limit = std::max(seconds, 1e-3);
  so.monitor = monitor;
  so.evaluate.keep_schedule = true;
  auto t0 = Clock::now();
  auto found = search_parallel_configs(graph, cluster, cost, so);
  steps.push_back({"parallel-config: search", seconds_since(t0), found.ok() ? found->BriefReport() : found.status().message()});
  if (!found.ok()) return found.status();
  const Evaluation& ev = found->best;
  auto layout = configs_detail::layout_graph(graph, ev.config.tp);
  if (!layout.ok()) return layout.status();
  auto assigned = configs_detail::assign_ops(graph, *layout, ev.config);
  if (!assigned.ok()) return assigned.status();
  Plan p;
  p.strategy = PlanStrategy::kParallelConfig;
  p.placement.resize(graph.num_ops());
  for (std::size_t i = 0; i < graph.num_ops(); ++i)
    p.placement[i] = DeviceId(static_cast<std::uint32_t>(ev.stages[static_cast<std::size_t>(assigned->rank[i])].first_device));
  p.sharding = std::move(assigned->sharding);
  p.schedule = ev.schedule;
  p.iteration_seconds = ev.iteration_seconds;
  p.lower_bound = std::min(found->lower_bound, ev.iteration_seconds);
  p.gap = ev.iteration_seconds > 0 ? (ev.iteration_seconds - p.lower_bound) / ev.iteration_seconds : 0;
  const VerifyReport report = verify(ev.pipeline, ev.schedule);
  p.verified = report.ok();
  // A complete search is exact over its space; the gap is to the bound, which ignores bubbles.
  p.summary.termination = !found->complete ? PlanTermination::kTimeLimit
                          : p.gap <= 0     ? PlanTermination::kOptimal
                                           : PlanTermination::kNoImprovement;
  if (monitor.stop_requested()) p.summary.termination = PlanTermination::kStopped;
  p.summary.message = found->complete ? "the fastest configuration of the space that fits"
                                      : "the search stopped early: the best configuration found so far";
  p.configs = std::move(*found);
  return p;
}

std::vector<std::string> device_lines(const Plan& p, const Cluster& cluster) {
  std::vector<std::string> lines;
  for (std::size_t d = 0; d < p.schedule.metrics.devices.size(); ++d) {
    const DeviceMetrics& m = p.schedule.metrics.devices[d];
    std::string who = p.configs && d < p.configs->best.stages.size()
                          ? fmt::format("pipeline rank {} ({} devices from {})", d,
                                        p.configs->best.num_devices / std::max(1, p.configs->best.config.pp),
                                        cluster.device(DeviceId(static_cast<std::uint32_t>(p.configs->best.stages[d].first_device))).name)
                      : p.stages ? fmt::format("stage {} ({} on {} device(s) from {})", d, p.stages->stages[d].mesh.name,
                                             p.stages->stages[d].mesh.devices.size(),
                                             cluster.device(p.stages->stages[d].mesh.devices.front()).name)
                               : fmt::format("device {} ({})", d, cluster.device(DeviceId(static_cast<std::uint32_t>(d))).name);
    lines.push_back(fmt::format("{}: busy {}, bubble {}, peak memory {}", who, seconds_text(m.busy),
                                seconds_text(m.bubble), bytes_text(m.peak_memory)));
  }
  return lines;
}

}  // namespace

const char* to_string(PlanStrategy strategy) {
  switch (strategy) {
    case PlanStrategy::kAuto: return "auto";
    case PlanStrategy::kOperatorLevel: return "operator-level";
    case PlanStrategy::kHierarchical: return "hierarchical";
    case PlanStrategy::kPipelineOnly: return "pipeline-only";
    case PlanStrategy::kParallelConfig: return "parallel-config";
  }
  return "?";
}

std::optional<PlanStrategy> parse_plan_strategy(std::string_view name) {
  for (auto s : {PlanStrategy::kAuto, PlanStrategy::kOperatorLevel, PlanStrategy::kHierarchical,
                 PlanStrategy::kPipelineOnly, PlanStrategy::kParallelConfig})
    if (name == to_string(s)) return s;
  return std::nullopt;
}

bool PlanOptions::IsValid(std::string* error) const {
  std::string e;
  if (score && (strategy == PlanStrategy::kHierarchical || strategy == PlanStrategy::kPipelineOnly ||
                strategy == PlanStrategy::kParallelConfig)) {
    e = fmt::format("score: a custom score needs operator-level schedules; strategy '{}' cannot use it (use "
                    "'operator-level' or 'auto')",
                    to_string(strategy));
  } else if (global_batch < 0) {
    e = fmt::format("global_batch: must be >= 0 (0 = micro_batches x the graph's samples), got {}", global_batch);
  } else if (threads < 0) {
    e = fmt::format("threads: must be >= 0 (0 = the machine's cores), got {}", threads);
  } else if (std::string pc; !parallel_config.IsValid(&pc)) {
    e = "parallel_config." + pc;
  } else if (!(monitor.interval >= 0)) {
    e = fmt::format("monitor.interval: must be >= 0, got {}", monitor.interval);
  } else {
    // The shared fields are checked by the operator-level options they are copied into; errors
    // in the operator-level knobs are named with their prefix.
    OperatorPlanOptions check = operator_level;
    check.micro_batches = micro_batches;
    check.time_limit = time_limit;
    check.memory_cap = memory_cap;
    check.relative_gap = relative_gap;
    if (!check.IsValid(&e)) {
      const bool shared = e.rfind("micro_batches", 0) == 0 || e.rfind("time_limit", 0) == 0 ||
                          e.rfind("memory_cap", 0) == 0 || e.rfind("relative_gap", 0) == 0;
      if (!shared) e = "operator_level." + e;
    }
  }
  if (error) *error = e;
  return e.empty();
}

std::string PlanSummary::BriefReport() const {
  return fmt::format("{} plan of {} on {} ({} devices, {} micro-batches): iteration {}, bound {} (gap {:.1f}%), {}, {}, {}",
                     strategy, graph, cluster, devices, micro_batches, seconds_text(iteration_seconds),
                     seconds_text(lower_bound), 100 * gap, verified ? "verified" : "NOT verified",
                     to_string(termination), seconds_text(total_seconds));
}

std::string PlanSummary::FullReport() const {
  std::string out = BriefReport() + "\n" + message + "\nsteps:\n";
  for (const PlanStep& s : steps) out += fmt::format("  {:<28} {:>9}  {}\n", s.name, seconds_text(s.seconds), s.outcome);
  for (const std::string& line : device_lines) out += "  " + line + "\n";
  return out;
}

namespace {

Result<Plan> plan_checked(const Graph& graph, const Cluster& cluster, const PlanOptions& options) {
  const auto t0 = Clock::now();
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "PlanOptions: " + error);
  // Every strategy schedules at least micro-batches x 3 instances (one stage or unit, F / b / W).
  if (static_cast<double>(options.micro_batches) * 3 > static_cast<double>(kMaxPlannerInstances))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("micro_batches: {} is too many to plan: even one stage needs {:.0f} operator instances "
                              "(micro-batches x 3), above the planners' limit of {} (kMaxPlannerInstances); at most {} "
                              "micro-batches can be planned",
                              options.micro_batches, 3.0 * options.micro_batches, kMaxPlannerInstances,
                              kMaxPlannerInstances / 3));
  std::vector<PlanStep> steps;
  {
    const auto v0 = Clock::now();
    Status g = graph.validate(), c = cluster.validate();
    steps.push_back({"validate", seconds_since(v0), g.ok() && c.ok() ? "graph and cluster are valid" : "invalid"});
    if (!g.ok()) return g;
    if (!c.ok()) return c;
  }
  const AnalyticCostModel analytic;
  const CostModel& cost = options.cost_model ? *options.cost_model : analytic;
  const auto remaining = [&] { return options.time_limit - seconds_since(t0); };
  double best_reported = kNever;
  const PlanMonitor monitor = shared_monitor(options.monitor, &best_reported);

  std::optional<Plan> best;
  std::string failures;
  plan_detail::RecostOptions recost;
  recost.micro_batches = options.micro_batches;
  recost.serialized_links = options.operator_level.serialize_links;
  recost.evaluate = options.parallel_config.evaluate;
  const auto consider = [&](Result<Plan> candidate, const char* name) {
    if (!candidate.ok()) {
      failures += fmt::format("\n  {}: {}", name, candidate.status().message());
      return;
    }
    // Every candidate re-costed from the Graph, Cluster and CostModel alone (plan/recost.hpp): a
    // plan whose figures the cost model does not back is a failure of its strategy, never returned.
    const auto r0 = Clock::now();
    const Status recosted = plan_detail::recost_plan(*candidate, graph, cluster, cost, recost);
    steps.push_back({fmt::format("{}: re-cost", name), seconds_since(r0),
                     recosted.ok() ? "the Graph, Cluster and CostModel back every duration" : recosted.message()});
    if (!recosted.ok()) {
      failures += fmt::format("\n  {}: {}", name, recosted.message());
      return;
    }
    if (!best || candidate->iteration_seconds < best->iteration_seconds) best = std::move(*candidate);
  };
  const PlanStrategy s = options.strategy;
  // The configuration search first under auto: it is quick (seconds at 10^4 devices), and it is
  // the plan a practitioner would write by hand or better, so nothing returned loses to it.
  if ((s == PlanStrategy::kAuto && !options.score) || s == PlanStrategy::kParallelConfig) {
    const double share = s == PlanStrategy::kAuto ? remaining() / 3 : remaining();
    consider(parallel_config(graph, cluster, cost, options, share, monitor, steps), "parallel-config");
  }
  if ((s == PlanStrategy::kAuto && !options.score) || s == PlanStrategy::kHierarchical ||
      s == PlanStrategy::kPipelineOnly) {
    // Hierarchical first under auto: it is quick, and the operator-level search gets what remains.
    const double share = s == PlanStrategy::kAuto ? remaining() / 2 : remaining();
    consider(hierarchical(graph, cluster, cost, options, s == PlanStrategy::kPipelineOnly, share, monitor, steps),
             s == PlanStrategy::kPipelineOnly ? "pipeline-only" : "hierarchical");
  }
  // After a stop request or the time limit the operator-level search still runs (it returns its
  // first verified plan at once) unless a plan exists already.
  if ((s == PlanStrategy::kAuto || s == PlanStrategy::kOperatorLevel) &&
      !(best && (options.monitor.stop_requested() || remaining() <= 0))) {
    auto op = operator_level(graph, cluster, cost, options, remaining(), monitor);
    if (op.ok()) {
      for (const PlanStep& step : op->summary.steps) steps.push_back(step);
    } else {
      steps.push_back({"operator-level", 0, op.status().message()});
    }
    consider(std::move(op), "operator-level");
  }
  if (!best)
    return Status(StatusCode::kFailedPrecondition, fmt::format("no strategy found a plan:{}", failures));

  Plan& p = *best;
  PlanSummary& sum = p.summary;
  sum.strategy = to_string(p.strategy);
  sum.graph = graph.name();
  sum.cluster = cluster.name();
  sum.devices = static_cast<int>(cluster.num_devices());
  sum.micro_batches = options.micro_batches;
  sum.iteration_seconds = p.iteration_seconds;
  sum.lower_bound = p.lower_bound;
  sum.gap = p.gap;
  sum.verified = p.verified;
  if (options.monitor.stop_requested()) sum.termination = PlanTermination::kStopped;
  if (s == PlanStrategy::kAuto && options.score)
    sum.message += " (auto with a score callback: operator-level only)";
  else if (s == PlanStrategy::kAuto)
    sum.message += fmt::format(" (auto: the {} plan was shorter{})", sum.strategy, failures.empty() ? "" : "; the other failed");
  sum.steps = std::move(steps);
  sum.device_lines = device_lines(p, cluster);
  sum.total_seconds = seconds_since(t0);
  if (!p.verified) return Status(StatusCode::kInternal, "the chosen plan failed verification");
  return std::move(p);
}

}  // namespace

Result<Plan> plan(const Graph& graph, const Cluster& cluster, const PlanOptions& options) {
  // The limits above keep memory within a few GB; a machine with less still gets a Status, not an
  // exception.
  try {
    return plan_checked(graph, cluster, options);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("out of memory planning '{}' ({} ops, {} micro-batches) on '{}' ({} devices): the problem "
                              "is too large for this machine's memory; plan fewer micro-batches or a coarser graph",
                              graph.name(), graph.num_ops(), options.micro_batches, cluster.name(),
                              cluster.num_devices()));
  }
}

OPPLAN_END_NAMESPACE
