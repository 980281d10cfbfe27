// The operator-level planner of arXiv 2503.09357 on a Graph and a Cluster: which device runs each
// operator and in what order every F / b / W of every micro-batch runs, within each device's memory.
//
// The bi-level framework (docs/planner.md, "Operator level"):
//   upper level  coarsen the graph into units (co-location groups, then edge contractions that
//                cannot create a cycle -- chains and light ops into their producer -- lightest
//                first, down to max_units), each unit placed on one device for every micro-batch
//                (ops that share weights stay together). Placements tried: the best contiguous
//                stage partition (what a stage pipeline would do), a load-balancing one, and local
//                moves from the best (move a unit, swap two), each judged by the list scheduler.
//   lower level  on the chosen placement, the scheduling search of plan_pipeline(): list schedules
//                under several rules and seeded random draws, then the disjunctive MIP (GLPK) over
//                windows of the incumbent (large-neighbourhood search), warm-started from it.
//   bounds       over every placement: the critical path of one micro-batch on the fastest devices
//                and the total work over the devices; for the chosen placement: critical path and
//                per-device heads + load + tails. The gap is against the first.
//   verify       the unit schedule is expanded back to operators (a unit's ops run back to back in
//                topological order, its backward in reverse) and checked by
//                verify_operator_schedule() against the Graph itself; only verified plans return.
//
// Devices may differ (per-device FLOP/s and memory come from the Cluster through the CostModel).
// Transfers between devices run on their own streams and overlap compute (a send starts when its
// producer ends and delays only its consumer); with serialize_links each directed link carries one
// transfer at a time, in an order the search chooses.
//
// Deterministic: every phase is bounded by counts (moves, draws, nodes, windows), so the same input
// and options give the same plan; the time limit is a safety cap that the result reports when it
// cut the search. Thread-safety: re-entrant; the CostModel is only read.
#pragma once

#include <cstdint>
#include <functional>
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/planner.hpp>
#include <opplan/progress.hpp>
#include <opplan/schedule.hpp>
#include <opplan/simulator.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <optional>
#include <string>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

struct OperatorPlanOptions {
  int micro_batches = 8;  // per iteration, >= 1; the Graph's sizes are per micro-batch
  // Seconds of wall time, > 0: a safety cap (see above), not a budget.
  double time_limit = 10;
  PlanObjective objective = PlanObjective::kMakespan;
  // The schedule search stops once the makespan is within this fraction of the chosen placement's
  // lower bound (0 = only at the bound), >= 0.
  double relative_gap = 0;
  // Bytes per device for parameters (with gradients and optimizer state, as the CostModel counts
  // them) plus activations; unset = each device's own memory.
  std::optional<double> memory_cap;
  // Coarsening target: at most this many units (0 = 6 per device, at least 12). More units: finer
  // placement, a larger scheduling problem.
  int max_units = 0;
  // Local placement moves tried (-1 = by the problem size: 20,000,000 / (instances x devices),
  // between 50 and 3,000; 0 = none). Each costs one list schedule of the whole iteration.
  int placement_moves = -1;
  // Transfers on one directed link run one at a time, in an order the search chooses (a link is
  // scheduled like a device: list schedules and the MIP order its transfers). False: transfers
  // overlap freely, each only a delay between its producer and its consumer.
  bool serialize_links = false;
  bool use_mip = true;  // improve the schedule with the MIP over windows
  int mip_windows = 8;                 // windows solved at most (each a few tenths of a second), >= 0
  int window_instances = 24;           // instances freed per MIP window, >= 2
  std::int64_t window_node_limit = 20;  // branch-and-bound nodes per window, >= 0
  int seed = 0;
  // When not empty: the scheduling MIP of the chosen placement (every unit instance free; the
  // returned schedule's makespan as the horizon and big-M) is written there as free MPS, for other
  // solvers. Refused (the plan fails, naming the limit) above 2,000 unit instances, where the
  // pairwise order binaries would number in the hundreds of thousands.
  std::string mps_file;
  // Progress reports and the stop request (progress.hpp).
  PlanMonitor monitor;
  // A custom objective (and constraints): scores an operator-level schedule -- the kind the plan
  // returns, verified or not yet -- smaller is better; +inf or NaN rejects the schedule. When set it
  // replaces `objective` everywhere in the search (placements are valued by their best list
  // schedule's score), with the makespan breaking ties; the lower bounds still bound the makespan.
  // Called synchronously on the planning thread, often (once per candidate schedule): keep it
  // cheap. Exceptions propagate to the caller.
  std::function<double(const Schedule&)> score;

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

// A stage-partitioned pipeline of the same graph on the same cost model: the baseline the
// operator-level plan must beat on branch-rich graphs.
struct StagePipelineBaseline {
  std::string source;      // the schedule that achieved it, e.g. "1f1b", "zb-h1", "list/bFW"
  double makespan = 0;     // seconds; +inf when no stage partition fits in memory
  int stages = 0;
};

struct OperatorPlan {
  // The coarsening: every unit's ops in topological order, and each op's unit.
  std::vector<std::vector<OpId>> units;
  std::vector<int> unit_of;               // indexed by OpId value
  std::vector<DeviceId> placement;        // indexed by OpId value
  // Operator-level schedule: a task per (op, micro-batch, piece of work) with Task::item.stage the
  // OpId value and route 0; transfers per crossing edge and micro-batch. Times in seconds, memory
  // in bytes (param_memory per device, memory_cap per device).
  Schedule schedule;
  double makespan = 0;
  double lower_bound = 0;            // over every placement
  double placement_lower_bound = 0;  // for the chosen placement (>= lower_bound)
  double gap = 0;                    // (makespan - lower_bound) / makespan
  double solve_seconds = 0;
  bool verified = false;   // always true for a returned plan
  std::string source;      // how the schedule was found: "stages/1f1b-order", "moves/list/bFW", "lns", ...
  std::string placement_source;  // "stages", "balanced", "moves"
  PlanTermination termination = PlanTermination::kNoImprovement;
  std::string message;
  StagePipelineBaseline stage_baseline;
  int placement_moves_tried = 0;
  int placement_moves_accepted = 0;
  int mip_solves = 0;
  int mip_improvements = 0;

  // "makespan 1.234 s (bound 1.2 s, gap 2.7%), 24 units on 8 devices, stage pipeline 1.5 s, 0.8 s".
  std::string BriefReport() const;
};

// The largest operator-level schedule plan_operators() builds: ops x micro-batches x 3 tasks (F, b,
// W). Its memory grows with them (the schedule and its verification, about 200 bytes a task), so a
// larger problem is refused before anything is allocated. The unit-level search is bounded by
// kMaxPlannerInstances (planner.hpp): units x micro-batches x 3, units being at most max_units.
inline constexpr long long kMaxOperatorTasks = 5'000'000;

// Plans `graph` on `cluster` as above. Fails, naming the op, device or field, for an invalid graph,
// cluster or options, a problem above kMaxOperatorTasks, or memory no placement can meet (an op
// larger than every device, or a model larger than all devices together: by how much). More devices
// than units is allowed (some stay idle); above kMaxPlannerInstances the units are fewer.
OPPLAN_EXPORT Result<OperatorPlan> plan_operators(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                                  const OperatorPlanOptions& options = {});
// The same with the default AnalyticCostModel.
OPPLAN_EXPORT Result<OperatorPlan> plan_operators(const Graph& graph, const Cluster& cluster,
                                                  const OperatorPlanOptions& options = {});

// The independent check of an operator-level schedule against the graph itself: every op of every
// micro-batch runs F and either B or b and W exactly once, on its placed device, for at least the
// cost model's time there; data dependencies hold with the transfer time across devices (forward
// outputs and input gradients); one task at a time per device; parameters plus live activations
// within `memory_cap` (unset = each device's memory); stored metrics match; with
// `serialized_links`, the schedule's transfers on one directed link never overlap. Violations name
// the op.
OPPLAN_EXPORT VerifyReport verify_operator_schedule(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                                    const std::vector<DeviceId>& placement, int micro_batches,
                                                    const Schedule& schedule,
                                                    std::optional<double> memory_cap = std::nullopt,
                                                    bool serialized_links = false);

OPPLAN_END_NAMESPACE
