// Dimension annotations (Op::dims, "b s h, h o -> b s o") read against a graph: which operand is
// fed by which edge, which operands are parameters, the size of every dimension name, and how a
// producer's output dimensions line up with a consumer's operand dimensions. Private to lib/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/graph.hpp>
#include <opplan/status.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// The parsed text: operand dimension names and output dimension names, each as indices into
// `names` (a name is one whitespace-separated token).
struct ParsedDims {
  std::vector<std::string> names;
  std::vector<std::vector<int>> operands;
  std::vector<int> output;
};

// Fails with kInvalidArgument naming the problem (no "->", an empty operand, a name repeated in
// one tensor).
Result<ParsedDims> parse_dims(std::string_view dims);

enum class OperandRole : std::uint8_t {
  kActivation,  // fed by an in-edge; its gradient flows back along the edge
  kParameter,   // a weight of the op: memory, and a gradient to all-reduce
  kInput,       // data with no producer and no gradient (token ids, a tied weight owned elsewhere)
  kAliased,     // the weight of another op (Op::params_from): its layout must equal the owner's
};

struct Operand {
  std::vector<int> letters;  // dimension names, indices into OpTensors::names
  OperandRole role = OperandRole::kInput;
  double bytes = 0;          // the whole tensor
};

// One operand fed by an edge, with the producer-to-operand dimension map.
struct EdgeUse {
  int operand = -1;          // -1: the consumer has no annotation and takes the tensor replicated
  std::vector<int> to_operand;  // producer output dim -> operand dim, -1 where a split cannot carry over
  double bytes = 0;
};

struct OpTensors {
  bool annotated = false;
  bool reshape = false;  // kind reshape / view / flatten: output dims are a regrouping of the operand's
  std::vector<std::string> names;
  std::vector<std::int64_t> sizes;  // per name; -1 when it cannot be inferred
  std::vector<int> output;          // names of the output dims
  std::vector<Operand> operands;
  int aliased_operand = -1;         // the operand with role kAliased, if any
  double output_bytes = 0;
  double implicit_param_bytes = 0;  // parameters no operand names (kept whole on every device)
  int norm_letter = -1;             // softmax / layer-norm: the dimension normalised over
  bool conv = false;                // only batch and channel dimensions may be split
  // reshape: operand dim -> output dim.
  std::vector<int> reshape_map;
};

struct BoundGraph {
  std::vector<OpTensors> ops;                // by OpId
  std::vector<std::vector<EdgeUse>> edges;   // by EdgeId
};

// Reads every annotation against the graph. Errors name the op, its dims and the shapes that
// disagree; all problems are reported at once (one per line).
Result<BoundGraph> bind_annotations(const Graph& graph);

// Lines up producer dimensions (sizes `from`) with consumer dimensions (sizes `to`) for a tensor
// that is reshaped or transposed on the way: a dimension carries over to the first unused one of
// the same size, else to the first unused one whose size it divides or is divided by (its major
// factor). Same ranks map position by position. Returns from-dim -> to-dim or -1.
std::vector<int> align_dims(const std::vector<std::int64_t>& from, const std::vector<std::int64_t>& to);

}  // namespace detail
OPPLAN_END_NAMESPACE
