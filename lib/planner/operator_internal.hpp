// Private: the upper level of the operator-level planner (coarsening, unit costs, placements) and
// the bridge to the instance graph the lower level schedules.
#pragma once

#include <cstddef>
#include <opplan/operator_planner.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Units of the coarsened graph, numbered in a topological order of the unit graph.
struct Coarsening {
  std::vector<std::vector<OpId>> units;  // each unit's ops in the graph's topological order
  std::vector<int> unit_of;              // per op
  // Co-location groups that could not become one unit (a path leaves and re-enters them): their
  // units are tied, i.e. placed on one device. tie[u] indexes tied_groups, -1 for none.
  std::vector<int> tie;
  std::vector<std::string> tied_groups;
};

// Merges each co-location group into one unit (or ties its units, see Coarsening), then contracts edges that cannot create a cycle
// (the consumer's only producer, or the producer's only consumer), the lightest pair first by
// `weight` (per op), until at most `max_units` remain or no contraction is safe. No contraction
// makes a unit's `memory` (per op, summed) exceed `memory_limit`. A group whose merge would create
// a cycle is an error naming it.
Result<Coarsening> coarsen(const Graph& graph, const std::vector<OpId>& topo, const std::vector<double>& weight,
                           const std::vector<double>& memory, double memory_limit, std::size_t max_units);

// Everything about the coarsened problem that does not depend on the placement.
struct UnitProblem {
  int devices = 0;
  int micro_batches = 1;
  // Transfers as work on link channels (one at a time per directed link) instead of delays.
  bool serialize_links = false;
  Coarsening coarse;
  std::vector<OpId> topo;           // ops, topologically
  std::vector<double> cap;          // per device
  // Per unit and device (index u * devices + d): seconds of F, b, W of one micro-batch.
  std::vector<double> forward, input_grad, weight_grad;
  std::vector<double> params, activation, freed_by_input_grad;  // per unit, bytes
  // Unit graph edges with the largest tensor crossing them; transfer[(e * devices + a) * devices + b]
  // is its time from device a to device b (0 on one device).
  struct Edge {
    int from = 0, to = 0;
  };
  std::vector<Edge> edges;
  std::vector<double> transfer;

  double work(int unit, int device) const {
    const std::size_t k = static_cast<std::size_t>(unit) * static_cast<std::size_t>(devices) + static_cast<std::size_t>(device);
    return forward[k] + input_grad[k] + weight_grad[k];
  }
  double transfer_time(std::size_t edge, int a, int b) const {
    return transfer[(edge * static_cast<std::size_t>(devices) + static_cast<std::size_t>(a)) * static_cast<std::size_t>(devices) +
                    static_cast<std::size_t>(b)];
  }
  std::size_t num_units() const { return coarse.units.size(); }
};

// Whether an op runs its backward as b + W (a weight-gradient that takes time on its device) or as one B.
bool splits_backward(const CostModel& cost, const Op& op, const Device& device);

UnitProblem make_unit_problem(const Graph& graph, const Cluster& cluster, const CostModel& cost, Coarsening coarse,
                              std::vector<OpId> topo, int micro_batches, const std::vector<double>& cap);

// The instance-graph input for one placement (device per unit). With serialize_links, every unit
// edge that crosses devices gets a transfer unit after the problem's units (in edge order): its F
// is the forward transfer on the channel of (source device, destination device), its B the
// gradient on the reverse channel; channels are extra "devices" numbered from `devices` on, in the
// order link_channels() gives.
UnitDag make_unit_dag(const UnitProblem& problem, const std::vector<int>& device_of_unit);
struct LinkChannels {
  std::vector<std::pair<int, int>> channels;  // channel c = device devices + c: (source, destination)
  std::vector<int> edge_of_transfer;          // transfer unit num_units() + k carries unit edge edge_of_transfer[k]
};
LinkChannels link_channels(const UnitProblem& problem, const std::vector<int>& device_of_unit);

// Moves every tied unit to its group's device: that of `anchor` when it is tied, else of the
// group's heaviest unit. Returns false when the result does not fit (placement_fits).
bool enforce_ties(const UnitProblem& problem, std::vector<int>& device_of_unit, int anchor = -1);

// Per device, parameters plus one micro-batch's activations of its units: within the cap, one
// micro-batch at a time always fits, so the placement has a schedule.
bool placement_fits(const UnitProblem& problem, const std::vector<int>& device_of_unit);

// Contiguous stages of the unit order, stage i on device i (at most `devices` stages), minimising
// the slowest stage's F + b + W among partitions that fit (placement_fits); empty when none does.
std::vector<int> stage_placement(const UnitProblem& problem);
// The heaviest units first onto the device where they would finish earliest in a one-micro-batch
// schedule (transfers counted), among those where they fit; empty when something fits nowhere.
std::vector<int> balanced_placement(const UnitProblem& problem);

// The best list schedule (a few fixed rules) of a placement; +inf when memory blocks them all.
double placement_makespan(const UnitProblem& problem, const std::vector<int>& device_of_unit);

// ---- schedules of the unit DAG (operator_schedules.cpp) ----------------------------------------
// One micro-batch after another, each forward then backward in full: fits whenever the placement
// fits (placement_fits), so the search always has a schedule.
std::vector<std::vector<int>> serial_unit_orders(const InstanceGraph& g, int units, int micro_batches);
// The stage pipeline of a stage placement as a PipelineSpec (stage s = the units on device s), for
// the expert generators; nothing when it does not validate.
std::optional<PipelineSpec> stage_spec(const UnitProblem& p, const std::vector<int>& device_of_unit);
// Completes per-device orders that cover only the compute devices with the orders of the link
// channels (device >= compute_devices): each channel sends its transfers first come, first served,
// while the compute devices keep their orders. Empty when the compute orders deadlock.
std::vector<std::vector<int>> fill_channel_orders(const InstanceGraph& g, std::vector<std::vector<int>> orders,
                                                  int compute_devices);
// A stage pipeline's per-device programs as unit instance orders; empty for overlapped slots.
std::vector<std::vector<int>> unit_orders_of(const InstanceGraph& g, const UnitProblem& p,
                                             const std::vector<int>& device_of_unit, const PipelineOrders& orders);
// The unit-level schedule back at operator level: a unit's ops back to back in topological order
// (its backward in reverse), transfers for every crossing edge and micro-batch.
Schedule expand(const Graph& graph, const Cluster& cluster, const CostModel& cost, const UnitProblem& p,
                const std::vector<DeviceId>& placement, const Schedule& units, const std::string& name);

}  // namespace detail
OPPLAN_END_NAMESPACE
