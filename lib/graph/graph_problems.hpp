// Private: the checks behind Graph::validate(), as structured records so that the JSON reader can
// report each problem at its JSON path ("/ops/17/forward/flops") while Graph::validate() names the
// op ("op 'fc1' (#17): forward.flops ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <opplan/graph.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::size_t kMaxGraphProblems = 50;

struct GraphProblem {
  enum class Subject { kGraph, kOp, kEdge };
  Subject subject = Subject::kGraph;
  std::uint32_t index = 0;  // op or edge id
  std::string field;        // JSON-style path below the op/edge, e.g. "forward/flops"; may be empty
  std::string message;      // what is wrong, e.g. "is negative (-5)"
};

// Up to kMaxGraphProblems problems, ops first, then edges, then one cycle.
std::vector<GraphProblem> find_graph_problems(const Graph& graph);

// "op 'fc1' (#17): forward.flops is negative (-5)".
std::string describe(const Graph& graph, const GraphProblem& problem);

// Why `value` is not a valid non-negative finite amount ("is NaN", "is infinite", "is negative
// (-5)"), or nullopt when it is fine. Shared by the graph and cluster checks.
std::optional<std::string> amount_problem(double value);

}  // namespace detail
OPPLAN_END_NAMESPACE
