// Exact solution of the reduced sharding problem without LP or branching: min-sum variable
// (bucket) elimination over the nodes' strategies in a greedy low-width order, and Lagrangian
// relaxation of a memory row (the elimination run with cost + lambda * row, lambda moved to the
// breakpoint of the two solutions that bracket the budget; the row the unconstrained optimum
// exceeds most, per branch). Private to lib/.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sharding/reduction.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

struct EliminationResult {
  bool has_solution = false;    // false: the elimination order needs too large tables (message)
  bool proved_optimal = false;  // cost == lower_bound up to rounding (1e-9 relative)
  std::vector<int> choice;      // node-local strategy per reduced node, within the budget
  double cost = 0;              // seconds: nodes' cost (single-strategy nodes included) + edges'
  double memory = 0;            // bytes of `choice`
  double lower_bound = 0;       // seconds: a proven lower bound on any choice within the budget
  int runs = 0;                 // eliminations run (one per lambda)
  double lambda = 0;            // seconds per byte of the last run that decided the bound
  std::size_t largest_table = 0;  // entries of the largest table the order creates
  std::string message;
};

// `budget` in bytes (kInf: no memory row). Gives up (has_solution false) when some elimination
// step would need a table of more than `max_table` entries. Stops refining lambda after
// `time_limit` seconds (the best choice within the budget so far is kept, not proved).
// When the Lagrangian bound leaves a gap, branches on it (a node's strategy fixed or forbidden)
// within `max_runs` eliminations in all.
// A choice of low peak memory that keeps every alias constraint: of the choices with the least
// held memory (parameters and saved activations) and with the least memory in each row, the one
// whose largest row is smallest (by elimination when some edge has +infinity entries; per node
// otherwise, or when the tables would be too large).
std::vector<int> least_memory_choice(const Reduction& reduction);

EliminationResult solve_by_elimination(const Reduction& reduction, double budget, double time_limit,
                                       std::size_t max_table = std::size_t{1} << 24, int max_runs = 400);

}  // namespace detail
OPPLAN_END_NAMESPACE
