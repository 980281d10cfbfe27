// The pipeline planner: the scheduling side of the operator-level MIP planner (arXiv 2503.09357)
// applied to a PipelineSpec. It orders and times every operator instance (stage x micro-batch x
// phase F / b / W, or F / B when a stage has no weight-gradient) on every device, within the
// devices' memory caps, and returns the best schedule it can prove valid.
//
// How (docs/planner.md):
//   1 placement   the spec's own (kGiven), a built-in one (DualPipe, DualPipeV, 1F1B's linear), or
//                 the best of those that keep the spec's stages (kFree)
//   2 warm start  every pipeline baseline that fits the placement (1F1B, ZB-H1/H2, the Zero-Bubble
//                 heuristic, DualPipe, DualPipeV, interleaved), the greedy list scheduler with several
//                 in-flight limits, a list scheduler under several priority rules, and a
//                 one-micro-batch-at-a-time schedule that always fits memory; then a fixed number
//                 of random list schedules (seeded; the count depends on the instance size)
//   3 lower bound critical path, and per device heads + load + tails (the one-machine relaxation)
//   4 improve     a disjunctive MIP (continuous starts, one binary per unordered same-device pair,
//                 memory rows from signed activation deltas, big-M = the warm start's makespan)
//                 solved by GLPK on the whole instance when it is small, then over a seeded sequence
//                 of windows of the incumbent (large-neighbourhood search), each solve bounded by a
//                 node limit (instances of up to 100,000 operator instances: a window's MIP grows
//                 with the whole instance)
//   5 verify      every candidate is replayed by simulate() and checked by verify(); only verified
//                 schedules are returned
// It stops early when the makespan meets the lower bound. Deterministic by default: every phase is
// bounded by counts (draws, nodes, windows), not by the clock, so the same spec and options give the
// same plan. The time limit is a safety cap: when it cuts the search (termination kTimeLimit, and the
// message says so) the plan may differ from run to run; it is still the best verified schedule found
// so far (at worst a heuristic one), never nothing.
#pragma once

#include <cstdint>
#include <opplan/pipeline.hpp>
#include <opplan/progress.hpp>
#include <opplan/schedule.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

// What "best" means. Every objective keeps the memory caps as hard constraints.
enum class PlanObjective : std::uint8_t {
  kMakespan,       // shortest iteration
  kUtilisation,    // busiest devices: total busy / (devices * makespan); the same order as kMakespan
                   // at fixed work, kept as its own name because users ask for it
  kTotalIdle,      // least idle time inside the devices' spans (sum of span - busy), then makespan
  kMemoryBalance,  // lowest peak memory over the devices, then makespan
};
// "makespan", "utilisation", "total-idle", "memory-balance".
OPPLAN_EXPORT const char* to_string(PlanObjective objective);
OPPLAN_EXPORT std::optional<PlanObjective> parse_plan_objective(std::string_view name);

// Where stages go. Built-in placements re-lay the spec's stages, which must then all be equal.
enum class PlanPlacement : std::uint8_t {
  kGiven,      // the spec's routes as they are
  kDualPipe,   // two routes, stage s on device s and on P-1-s
  kDualPipeV,  // 2P stages, stage s on device s, then back (each stage as the spec's first)
  k1F1B,       // linear: stage s on device s
  kFree,       // the best of the given, linear and DualPipe placements with the spec's stage count
};
// "given", "dualpipe", "dualpipev", "1f1b", "free".
OPPLAN_EXPORT const char* to_string(PlanPlacement placement);
OPPLAN_EXPORT std::optional<PlanPlacement> parse_plan_placement(std::string_view name);

struct PlannerOptions {
  // Seconds of wall time for the whole plan, > 0: a safety cap, not a budget. The search is bounded
  // by counts (see the node limits and seed) and gives the same plan on any machine unless this cap
  // stops it first, which the result's termination (kTimeLimit) and message report.
  double time_limit = 10;
  PlanObjective objective = PlanObjective::kMakespan;
  PlanPlacement placement = PlanPlacement::kGiven;
  // Per-device cap on parameters + activations in the spec's units, replacing the spec's caps;
  // unset = the spec's caps (if any).
  std::optional<double> memory_cap;
  // Improve with the MIP (whole instance, then windows). Off = best heuristic / baseline only.
  bool use_mip = true;
  // Warm-start from the pipeline baselines and the greedy scheduler. Off = from the serial
  // schedule only (to study what the MIP finds by itself).
  bool use_baselines = true;
  // The whole instance goes to the MIP only when it has at most this many operator instances;
  // larger instances are improved window by window.
  int max_mip_instances = 150;
  // Operator instances freed per window of the large-neighbourhood search, >= 2.
  int window_instances = 24;
  // Branch-and-bound nodes per MIP solve: of the whole instance (-1 = by its size: 2,000,000 /
  // instances², between 20 and 2,000), and of each window (>= 0). These, not a share of the time
  // limit, bound the MIP, so its result does not depend on the machine.
  std::int64_t mip_node_limit = -1;
  std::int64_t window_node_limit = 20;
  // Seeds the random list schedules and the choice of windows. Their number is fixed by the
  // instance size (and the windows' by their outcomes), so the same seed gives the same plan; a
  // different seed may give another one, never worse than the baselines and heuristics.
  int seed = 0;
  // Also solve the LP relaxation of the whole-instance scheduling MIP (every order binary relaxed to
  // [0, 1], no symmetry breaking, horizon = the best warm start's makespan) and raise the lower
  // bound to it where higher. Only for instances with at most 100,000 same-device pairs, within a
  // quarter of the time left; off by default because the big-M relaxation is weak
  // (docs/planner.md, "LP relaxation").
  bool lp_bound = false;
  // Progress reports and the stop request (progress.hpp).
  PlanMonitor monitor;

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

enum class PlanTermination : std::uint8_t {
  kOptimal,        // the makespan equals the lower bound
  kTimeLimit,      // the time limit cut the search with a gap left (the plan may vary run to run)
  kNoImprovement,  // every improvement step ran without closing the gap
  kStopped,        // the caller's stop request (PlanMonitor::stop) ended the search
};
// "optimal", "time-limit", "no-improvement", "stopped".
OPPLAN_EXPORT const char* to_string(PlanTermination termination);

// One schedule the planner considered (a baseline, a heuristic, or a MIP result).
struct PlanCandidate {
  std::string name;   // "1f1b", "greedy", "greedy/in-flight=9", "serial", "mip", "lns", ...
  double makespan = 0;
  int peak_activations = 0;  // the most over the devices
  bool verified = false;     // passed verify() (memory caps included)
  std::string note;          // why it was rejected, when it was
};

struct PlanResult {
  PipelineSpec spec;   // the spec the schedule runs on: the input's, re-placed and capped as asked
  Schedule schedule;   // verified
  double makespan = 0;
  double lower_bound = 0;
  double gap = 0;  // (makespan - lower_bound) / makespan
  double solve_seconds = 0;
  bool verified = false;  // always true for a returned plan; kept so callers and JSON can show it
  std::string source;     // the candidate the schedule came from
  PlanTermination termination = PlanTermination::kNoImprovement;
  std::string message;    // how the search ended, in words
  std::vector<PlanCandidate> candidates;  // every warm start considered, in the order tried
  // The LP relaxation's optimum when PlannerOptions::lp_bound computed it (0 otherwise, and when
  // the instance was too large or the LP did not finish: lp_message says which).
  double lp_bound = 0;
  std::string lp_message;
  int mip_solves = 0;                     // MIP solves run (whole instance and windows)
  int mip_improvements = 0;               // of which improved the incumbent

  // One line: "makespan 63 (bound 63, gap 0%), from greedy, optimal, 0.01 s".
  std::string BriefReport() const;
};

// The most operator instances (micro-batches x stages x phases) plan_pipeline() accepts: its memory
// grows with them (about 1 KB each at peak), so larger specs are refused before anything is allocated.
inline constexpr long long kMaxPlannerInstances = 2'000'000;

// Plans `spec` as described above. Fails (naming the field, device or op) for an invalid spec or
// options, a spec above kMaxPlannerInstances, a placement the spec cannot take, or memory caps no
// schedule can meet: the error names the device, what one micro-batch needs there and by how much
// the cap falls short.
OPPLAN_EXPORT Result<PlanResult> plan_pipeline(const PipelineSpec& spec, const PlannerOptions& options = {});

// The lower bound on any schedule's makespan for `spec` with its placement: the critical path of
// one micro-batch; per device, the one-machine relaxation with heads and tails; and on a device
// holding one chunk under a memory cap, the same relaxation after every memory wall (with room for
// k activations, the j-th forward waits until j - k + 1 earlier micro-batches have freed theirs),
// and the bound through the last forward (docs/planner.md). Fails for an invalid spec.
OPPLAN_EXPORT Result<double> pipeline_lower_bound(const PipelineSpec& spec);

OPPLAN_END_NAMESPACE
