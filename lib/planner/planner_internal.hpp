// Private: the operator-instance graph the planner reasons on, its bounds, and the scheduling MIP.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <opplan/planner.hpp>
#include <opplan/simulator.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// An arc a -> b: b may start `delay` after a ends.
struct Arc {
  int to;
  double delay;
};

// One operator instance: one piece of work of one micro-batch on one stage.
struct Instance {
  WorkItem item;
  int device = 0;
  double duration = 0;
  double alloc = 0;  // memory taken at the start
  double free = 0;   // memory released at the end
};

// A DAG of units (an operator-level problem after coarsening and placement): each unit runs on one
// device with F / b / W durations there; a link u -> v delays v's forward after u's by `forward`
// and u's input-gradient after v's by `backward` (the transfers, zero on one device).
struct UnitDag {
  struct Unit {
    int device = 0;
    int backward_device = -1;  // where b / W / B run when not `device` (a transfer unit's return link)
    double forward = 0, input_grad = 0, weight_grad = 0;  // weight_grad 0: one B of input_grad
    double activation = 0;        // allocated by F
    double freed_by_input_grad = 0;  // of which b releases this part (W the rest)
  };
  struct Link {
    int from = 0, to = 0;
    double forward = 0, backward = 0;
  };
  int num_devices = 0;
  int micro_batches = 1;
  std::vector<Unit> units;  // in a topological order of the links
  std::vector<Link> links;
  std::vector<double> cap;     // per device, activations + params; +inf = none
  std::vector<double> params;  // per device
};

// Every instance of a valid spec (or unit DAG) and the data dependencies between them (the
// simulator's rules). The backward is split into b and W when the stage has a weight-gradient,
// else one B. Work items of a unit DAG name the unit as `stage`, route 0.
struct InstanceGraph {
  std::vector<Instance> ops;
  std::vector<double> cap;     // per device: params + activations, +inf = none
  std::vector<double> params;  // per device
  std::vector<std::vector<Arc>> succ, pred;
  std::vector<std::vector<int>> by_device;  // instance ids per device
  std::vector<int> topo;                    // a topological order
  std::vector<double> head;                 // earliest start (longest path from the sources)
  std::vector<double> tail;                 // longest path from the end to the last end
  double critical_path = 0;

  explicit InstanceGraph(const PipelineSpec& spec);
  explicit InstanceGraph(const UnitDag& dag);
  int num_devices() const { return static_cast<int>(by_device.size()); }
  // The instance id of a work item (kBackward and kInputGrad map to the same instance when the
  // stage is not split; likewise a W of an unsplit stage does not exist: -1).
  int find(const WorkItem& item) const;

 private:
  void finish();  // topological order, heads, tails, critical path
  int routes_ = 0, mbs_ = 0, stages_ = 0;
  std::vector<int> id_of_;  // ((route * M + mb) * S + stage) * 3 + {F, b/B, W}
};

// max(critical path, per-device one-machine relaxation with heads and tails, and on devices with
// one chunk and a memory cap the same relaxation after the cap's memory wall).
double lower_bound(const PipelineSpec& spec, const InstanceGraph& graph);
// The first two only (any instance graph).
double lower_bound(const InstanceGraph& graph);

// Per-device instance orders -> earliest start of every instance (no link serialisation); the
// makespan, or -1 when the orders deadlock.
double earliest_starts(const InstanceGraph& g, const std::vector<std::vector<int>>& orders, std::vector<double>& start);

// Per device, the least memory any schedule needs: parameters plus the most one micro-batch holds
// there at once (its activations nest the same way in every schedule).
std::vector<double> minimum_memory(const PipelineSpec& spec, const InstanceGraph& graph);

// One micro-batch at a time, each run to the end before the next starts: slow but needs no more
// memory than minimum_memory(), so it exists whenever any schedule does.
PipelineOrders serial_orders(const PipelineSpec& spec, const InstanceGraph& graph);

// Per device, the instance ids in the order of `schedule`'s tasks (every task one instance).
std::vector<std::vector<int>> orders_of(const InstanceGraph& graph, const Schedule& schedule);
PipelineOrders to_pipeline_orders(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders);

// Phase orders for the list scheduler: the ranks of F, b and W (smaller first), and a name. The
// operator-level planner uses the first four (W never first: its units free memory at b or W).
struct ListPhases {
  int f, b, w;
  const char* name;
};
inline constexpr ListPhases kPhaseOrders[] = {{1, 0, 2, "bFW"}, {0, 1, 2, "FbW"}, {2, 0, 1, "bWF"},
                                              {0, 2, 1, "FWb"}, {1, 2, 0, "WFb"}, {2, 1, 0, "WbF"}};

// A priority rule of list_schedule(): phase ranks (smaller first), tails as tie-break, and the
// most activation chunks in flight per device (0 = only the memory cap).
struct ListRule {
  int rank_forward = 1;
  int rank_input_grad = 0;
  int rank_weight_grad = 2;
  bool prefer_tail = false;
  int max_in_flight = 0;
};
// Per-device instance orders of the list scheduler, or empty when memory blocks it. With `rng`,
// ties are broken at random (a different schedule per draw).
std::vector<std::vector<int>> list_schedule(const InstanceGraph& graph, const ListRule& rule,
                                            std::mt19937* rng = nullptr);

// Local search over per-device orders (iterated): repeatedly moves an instance of a critical path
// ahead of its device predecessor, or the predecessor behind it (or swaps a random adjacent pair),
// keeping moves that respect the memory caps, do not deadlock and leave the makespan (then the sum
// of device spans) no worse; stuck for long, it restarts from the best orders with a few random
// swaps. At most `evaluations` replays (a count: deterministic for one `rng` state); stops at
// `target` or when `stop` says so. Returns the best orders found when strictly shorter than the
// start, else empty.
std::vector<std::vector<int>> improve_orders(const InstanceGraph& graph, std::vector<std::vector<int>> orders,
                                             std::int64_t evaluations, std::mt19937& rng, double target,
                                             const std::function<bool()>& stop = {});
// How many replays improve_orders() gets on `instances` instances: 3 * 10^8 / instances, between
// 2,000 and 200,000 (a replay costs about the instance count).
std::int64_t order_search_evaluations(std::size_t instances);

// How many random list schedules the planner draws for an instance graph of `instances` operator
// instances: 200 on small graphs, fewer on large ones (each draw costs about instances x ready
// ops), at least 10; none above 20,000 instances. A count, so the phase is the same on any machine.
int random_list_draws(std::size_t instances);

// The scheduling MIP around an incumbent: instances with `free_op` true may be re-ordered among
// themselves on their device; every other pair keeps the incumbent's order. Solves with GLPK
// within `node_limit` branch-and-bound nodes (the deterministic budget) and `seconds` (the safety
// cap; `time_limited` says when it stopped the solve) and returns the per-device orders of the solution, sorted by start time, or an
// empty vector when the solver found nothing (or nothing better than the incumbent). `interrupt`
// (not owned, may be null) is polled by GLPK: setting it stops the solve (`interrupted`), keeping
// the best solution found so far.
struct MipOutcome {
  std::vector<std::vector<int>> orders;  // empty when no solution
  double objective = 0;
  double best_bound = 0;
  bool proved_optimal = false;  // optimal for the whole instance (every op free)
  bool time_limited = false;    // the time cap, not the node limit or optimality, ended the solve
  bool interrupted = false;     // the interrupt flag ended the solve
  std::string message;
};
MipOutcome solve_schedule_mip(const InstanceGraph& graph,
                              const std::vector<std::vector<int>>& incumbent_orders, const Schedule& incumbent,
                              const std::vector<char>& free_op, PlanObjective objective, double seconds,
                              std::int64_t node_limit, const std::atomic<bool>* interrupt = nullptr);

// The LP relaxation of the whole-instance scheduling MIP as a lower bound on the makespan: every
// pair of instances on one device that no dependency orders gets an order variable in [0, 1] (no
// symmetry breaking, which is only valid for the integer problem's search), start times bounded by
// heads, tails and the horizon `orders`' schedule gives (no better schedule ends later), the
// memory rows with the relaxed orders. `value` is set only when the LP was solved to optimality
// within `seconds`; skipped (with the reason) above `max_pairs` order variables.
struct LpBoundOutcome {
  bool ok = false;
  double value = 0;
  std::size_t variables = 0, rows = 0;
  std::string message;
};
LpBoundOutcome lp_relaxation_bound(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders,
                                   double seconds, std::size_t max_pairs = 100000);

// Writes the whole-instance scheduling MIP (every instance free, big-M and bounds from `orders`'
// schedule, the warm start's makespan as the horizon) as free MPS to `path`.
Status write_schedule_mip(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders,
                          PlanObjective objective, const std::string& path);

// How good a schedule is under `objective`: smaller is better, compared lexicographically (the
// objective's own measure, then the makespan or the peak memory).
std::pair<double, double> plan_score(const Schedule& schedule, PlanObjective objective);
bool better_score(const std::pair<double, double>& a, const std::pair<double, double>& b);

// Instances above which window_search() does nothing: its MIPs grow with the whole instance.
inline constexpr std::size_t kMaxWindowSearchInstances = 100000;

// The large-neighbourhood search shared by both planners: free the instances of one window of the
// incumbent (a seeded draw over its start order), keep the rest of its order, re-solve the MIP
// within `node_limit` nodes. Ends at the bound, after `max_fruitless` fruitless windows in a row
// (0 = 2 passes: 2 * (2 * instances / window)), after `max_windows` in all (0 = 4 passes), or when
// `remaining` seconds run out.
struct WindowSearchHooks {
  // The incumbent the MIP starts from: its per-device instance orders and its timed schedule.
  std::function<const std::vector<std::vector<int>>&()> orders;
  std::function<const Schedule&()> schedule;
  // Replays and verifies orders; true when they improved the plan (and so the incumbent).
  std::function<bool(const std::vector<std::vector<int>>&, const std::string&)> try_orders;
  // Forgets the candidate record the last try_orders() left when it did not improve.
  std::function<void()> forget_last;
  std::function<bool()> at_bound;
  std::function<double()> remaining;
  // Optional: the caller's stop request (checked before every window, and polled by GLPK inside
  // each solve through `interrupt`), and a hook called before every window (progress reports).
  std::function<bool()> stop_requested;
  const std::atomic<bool>* interrupt = nullptr;
  std::function<void()> before_window;
};
struct WindowSearchOutcome {
  int solves = 0;
  int improvements = 0;
  bool cut = false;      // the time cap stopped it
  bool stopped = false;  // the caller's stop request stopped it
};
WindowSearchOutcome window_search(const InstanceGraph& graph, PlanObjective objective, std::size_t window_instances,
                                  std::int64_t node_limit, int seed, const WindowSearchHooks& hooks,
                                  std::size_t max_windows = 0, std::size_t max_fruitless = 0);

}  // namespace detail
OPPLAN_END_NAMESPACE
