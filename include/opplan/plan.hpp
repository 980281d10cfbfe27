// plan(): the one call that plans a training iteration of a Graph on a Cluster (DESIGN.md).
//
//   validate   Graph::validate, Cluster::validate, the options
//   strategy   kOperatorLevel: plan_operators() -- coarsen, place every op on one device, schedule
//                every F / b / W of every micro-batch (operator_planner.hpp);
//              kHierarchical: Alpa's stages and submeshes with intra-op sharding (plan_stages(),
//                stages.hpp), then the stage pipeline scheduled by plan_pipeline() (planner.hpp)
//                and each stage's ops sharded on its logical mesh (shard(), sharding.hpp);
//              kPipelineOnly: the hierarchical path with one device per stage (no sharding);
//              kParallelConfig: the fastest ParallelConfig that fits -- DP with ZeRO, TP + SP, CP,
//                EP, PP with virtual stages and a schedule, micro-batch size, recomputation --
//                found by search_parallel_configs() on evaluate() (config_search.hpp);
//              kAuto: the parallel-config plan (unless a score is given), the hierarchical and the
//                operator-level plan; the shortest iteration wins.
//   verify     every schedule returned has passed the verifier of its level.
//
// Deterministic: the same graph, cluster and options (seed included) give the same plan unless the
// time limit or a stop request cut the search (the summary says so). Thread-safety: re-entrant;
// the CostModel is only read, the monitor is called on the calling thread (progress.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <opplan/cluster.hpp>
#include <opplan/config_search.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/operator_planner.hpp>
#include <opplan/planner.hpp>
#include <opplan/progress.hpp>
#include <opplan/schedule.hpp>
#include <opplan/stages.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

enum class PlanStrategy : std::uint8_t { kAuto, kOperatorLevel, kHierarchical, kPipelineOnly, kParallelConfig };
// "auto", "operator-level", "hierarchical", "pipeline-only", "parallel-config".
OPPLAN_EXPORT const char* to_string(PlanStrategy strategy);
OPPLAN_EXPORT std::optional<PlanStrategy> parse_plan_strategy(std::string_view name);

struct PlanOptions {
  PlanStrategy strategy = PlanStrategy::kAuto;
  int micro_batches = 8;  // per iteration, >= 1; the Graph's sizes are per micro-batch
  PlanObjective objective = PlanObjective::kMakespan;
  // Seconds for the whole plan, > 0: a safety cap (each planner is bounded by counts first).
  double time_limit = 60;
  // Stop improving once within this fraction of the bound (passed to the operator level; the
  // stage pipeline's search stops at its bound), >= 0.
  double relative_gap = 0;
  // Bytes per device for parameters + activations; unset = each device's memory.
  std::optional<double> memory_cap;
  int seed = 0;
  // Samples per iteration for the parallel-config strategy (which picks the micro-batch size and
  // count itself), >= 0; 0 = micro_batches x the graph's samples (its batch, 1 without one).
  std::int64_t global_batch = 0;
  // Threads of the parallel-config search, >= 0; 0 = the machine's cores. Its result does not
  // depend on them.
  int threads = 0;
  // Knobs of the parallel-config search (its global_batch, memory_cap, threads, time_limit and
  // monitor are taken from the fields above).
  ConfigSearchOptions parallel_config;
  // The cost model; nullptr = an AnalyticCostModel with default options. Not owned; must outlive
  // the call.
  const CostModel* cost_model = nullptr;
  PlanMonitor monitor;  // progress reports and the stop request (progress.hpp)
  // A custom objective and constraints for the operator-level strategy (see
  // OperatorPlanOptions::score): smaller is better, +inf rejects. It needs operator-level
  // schedules, so with a score `auto` runs the operator-level strategy only, and the hierarchical
  // and pipeline-only strategies are refused.
  std::function<double(const Schedule&)> score;
  // Knobs of the operator-level planner (its micro_batches, objective, time_limit, memory_cap,
  // seed and monitor are taken from the fields above; its mps_file exports its scheduling MIP).
  OperatorPlanOptions operator_level;

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

// One step of plan() and the seconds it took.
struct PlanStep {
  std::string name;  // "validate", "operator-level", "hierarchical: stages", ...
  double seconds = 0;
  std::string outcome;  // one line: what the step found, or why it gave no plan
};

struct PlanSummary {
  std::string strategy;  // to_string() of the strategy that produced the plan
  std::string graph, cluster;
  int devices = 0;
  int micro_batches = 0;
  double iteration_seconds = 0, lower_bound = 0, gap = 0;
  bool verified = false;
  PlanTermination termination = PlanTermination::kNoImprovement;
  std::string message;
  std::vector<PlanStep> steps;
  double total_seconds = 0;
  std::vector<std::string> device_lines;  // per schedule row: busy, bubble, peak memory

  // "operator-level plan of gpt3-1.3b on dgx-a100 (8 devices, 8 micro-batches): iteration
  //  91.8 ms, bound 69.1 ms (gap 24.7%), verified, no-improvement, 6.2 s".
  std::string BriefReport() const;
  // The brief report, the message, every step with its time and outcome, and the device lines.
  std::string FullReport() const;
};

struct Plan {
  PlanStrategy strategy = PlanStrategy::kOperatorLevel;  // the one that produced this plan
  // Per op (OpId value): the device that runs it -- for hierarchical plans the first device of its
  // stage's mesh -- and its sharding ("replicated" for operator-level plans, else the strategy
  // shard() chose on the stage's logical mesh, e.g. "b=S0 o=S1").
  std::vector<DeviceId> placement;
  std::vector<std::string> sharding;
  // Hierarchical plans: the stages with their submeshes and logical meshes.
  std::optional<StagePlan> stages;
  // Parallel-config plans: the search with the chosen configuration's evaluate() (`configs->best`,
  // its schedule included) and the runners-up. `placement` gives each op the first device of its
  // pipeline rank, `sharding` how TP / EP split it ("column TP 8", "expert EP 64", ...).
  std::optional<ConfigSearchResult> configs;
  // The timed schedule. Operator-level: one row per cluster device, one task per op and
  // micro-batch and piece of work. Hierarchical: one row per stage (every device of the stage's
  // mesh runs that row), one task per stage and micro-batch and piece of work. Parallel-config:
  // one row per pipeline rank (every TP / CP / DP device of the rank runs it).
  Schedule schedule;
  // The schedule's makespan; for parallel-config plans evaluate()'s iteration: the schedule, then
  // the exposed data-parallel reduction and the optimizer step.
  double iteration_seconds = 0;
  double lower_bound = 0;        // for the strategy that produced the plan
  double gap = 0;                // (iteration_seconds - lower_bound) / iteration_seconds
  bool verified = false;         // always true for a returned plan
  PlanSummary summary;
};

// Plans `graph` on `cluster`. Fails, naming the field, op or device, for an invalid graph, cluster
// or options, or when no strategy finds a plan that fits memory (the message gives each
// strategy's reason). A time-out or stop returns the best verified plan so far.
OPPLAN_EXPORT Result<Plan> plan(const Graph& graph, const Cluster& cluster, const PlanOptions& options = {});

OPPLAN_END_NAMESPACE
