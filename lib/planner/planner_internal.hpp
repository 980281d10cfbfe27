// Private: the operator-instance graph the planner reasons on, its bounds, and the scheduling MIP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <opplan/planner.hpp>
#include <opplan/simulator.hpp>
#include <random>
#include <string>
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

// Every instance of a valid spec and the data dependencies between them (the simulator's rules).
// The backward is split into b and W when the stage has a weight-gradient, else one B.
struct InstanceGraph {
  std::vector<Instance> ops;
  std::vector<std::vector<Arc>> succ, pred;
  std::vector<std::vector<int>> by_device;  // instance ids per device
  std::vector<int> topo;                    // a topological order
  std::vector<double> head;                 // earliest start (longest path from the sources)
  std::vector<double> tail;                 // longest path from the end to the last end
  double critical_path = 0;

  explicit InstanceGraph(const PipelineSpec& spec);
  // The instance id of a work item (kBackward and kInputGrad map to the same instance when the
  // stage is not split; likewise a W of an unsplit stage does not exist: -1).
  int find(const WorkItem& item) const;

 private:
  int routes_ = 0, mbs_ = 0, stages_ = 0;
  std::vector<int> id_of_;  // ((route * M + mb) * S + stage) * 3 + {F, b/B, W}
};

// max(critical path, per-device one-machine relaxation with heads and tails, and on devices with
// one chunk and a memory cap the same relaxation after the cap's memory wall).
double lower_bound(const PipelineSpec& spec, const InstanceGraph& graph);

// Per device, the least memory any schedule needs: parameters plus the most one micro-batch holds
// there at once (its activations nest the same way in every schedule).
std::vector<double> minimum_memory(const PipelineSpec& spec, const InstanceGraph& graph);

// One micro-batch at a time, each run to the end before the next starts: slow but needs no more
// memory than minimum_memory(), so it exists whenever any schedule does.
PipelineOrders serial_orders(const PipelineSpec& spec, const InstanceGraph& graph);

// Per device, the instance ids in the order of `schedule`'s tasks (every task one instance).
std::vector<std::vector<int>> orders_of(const InstanceGraph& graph, const Schedule& schedule);
PipelineOrders to_pipeline_orders(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders);

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
std::vector<std::vector<int>> list_schedule(const PipelineSpec& spec, const InstanceGraph& graph, const ListRule& rule,
                                            std::mt19937* rng = nullptr);

// How many random list schedules the planner draws for an instance graph of `instances` operator
// instances: 200 on small graphs, fewer on large ones (each draw costs about instances x ready
// ops), at least 10; none above 20,000 instances. A count, so the phase is the same on any machine.
int random_list_draws(std::size_t instances);

// The scheduling MIP around an incumbent: instances with `free_op` true may be re-ordered among
// themselves on their device; every other pair keeps the incumbent's order. Solves with GLPK
// within `node_limit` branch-and-bound nodes (the deterministic budget) and `seconds` (the safety
// cap; `time_limited` says when it stopped the solve) and returns the per-device orders of the solution, sorted by start time, or an
// empty vector when the solver found nothing (or nothing better than the incumbent).
struct MipOutcome {
  std::vector<std::vector<int>> orders;  // empty when no solution
  double objective = 0;
  double best_bound = 0;
  bool proved_optimal = false;  // optimal for the whole instance (every op free)
  bool time_limited = false;    // the time cap, not the node limit or optimality, ended the solve
  std::string message;
};
MipOutcome solve_schedule_mip(const PipelineSpec& spec, const InstanceGraph& graph,
                              const std::vector<std::vector<int>>& incumbent_orders, const Schedule& incumbent,
                              const std::vector<char>& free_op, PlanObjective objective, double seconds,
                              std::int64_t node_limit);

}  // namespace detail
OPPLAN_END_NAMESPACE
