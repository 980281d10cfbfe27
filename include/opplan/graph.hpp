// Graph: the operator DAG that every planning step reads.
//
// An op is one operator of the model (or a merged group of operators) with its cost for each
// training phase: forward (F), input-gradient (b) and weight-gradient (W). An edge is a tensor that
// flows from a producer to a consumer. Ops and edges are identified by dense strong ids in insertion
// order; names are for people and files, ids are for code (a compiler pass never needs a string).
//
// Graph is a value type (copyable, movable). It is not thread-safe for concurrent mutation; const
// methods may be called concurrently from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/dtype.hpp>
#include <opplan/ids.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// The phases of one training step of an op. A full backward (B) is kInputGrad + kWeightGrad.
enum class Phase : std::uint8_t { kForward = 0, kInputGrad = 1, kWeightGrad = 2 };
inline constexpr int kNumPhases = 3;
inline constexpr Phase kAllPhases[kNumPhases] = {Phase::kForward, Phase::kInputGrad, Phase::kWeightGrad};

// "forward", "input_grad", "weight_grad" (the names used in JSON files).
OPPLAN_EXPORT const char* to_string(Phase phase);
OPPLAN_EXPORT std::optional<Phase> parse_phase(std::string_view name);



// Cost of one phase of one op (for one micro-batch). Either analytic (FLOPs and bytes of memory
// traffic, turned into time by a CostModel) or measured: when `seconds` is set it overrides the
// cost model on every device.
struct PhaseCost {
  double flops = 0;                // floating-point operations
  double bytes = 0;                // bytes read and written from device memory
  std::optional<double> seconds;   // measured time; overrides the cost model when set

  friend bool operator==(const PhaseCost& a, const PhaseCost& b) {
    return a.flops == b.flops && a.bytes == b.bytes && a.seconds == b.seconds;
  }
  friend bool operator!=(const PhaseCost& a, const PhaseCost& b) { return !(a == b); }
};

// One operator. All sizes are per micro-batch and unsharded (the whole operator on one device).
struct Op {
  std::string name;             // unique in the graph; empty -> "op<id>" is assigned by add_op
  std::string kind = "generic"; // "matmul", "conv", "elementwise", "softmax", ... (docs/file-formats.md)
  PhaseCost forward;            // F
  PhaseCost input_grad;         // b: gradient with respect to the inputs
  PhaseCost weight_grad;        // W: gradient with respect to the parameters (zero without params)
  double param_bytes = 0;       // parameters owned by this op
  double activation_bytes = 0;  // bytes kept from F until the backward has consumed them
  std::vector<std::int64_t> shape;  // output tensor shape
  DType dtype = DType::kF32;        // output tensor element type
  std::string dims;   // einsum-like dimension annotation, e.g. "b m k, k n -> b m n"; may be empty
  std::string layer;  // optional layer tag (ops of one repeated layer share it)
  std::string group;  // optional co-location group: ops of one group run on the same device(s)
  // Optional: the name of the op that owns the weight this op also reads (a tied weight, e.g. an
  // LM head multiplying by the token embedding table). The owner counts the parameters (this op's
  // param_bytes covers only weights of its own); sharding keeps the weight's layout the same in
  // both ops (an alias constraint, docs/sharding.md).
  std::string params_from;

  const PhaseCost& cost(Phase phase) const;
  PhaseCost& cost(Phase phase);
  // Elements of the output tensor times the element size; 0 when no shape is given.
  double output_bytes() const;

  friend bool operator==(const Op& a, const Op& b);
  friend bool operator!=(const Op& a, const Op& b) { return !(a == b); }
};

// A tensor flowing from src to dst.
struct Edge {
  OpId src;
  OpId dst;
  double bytes = 0;

  friend bool operator==(const Edge& a, const Edge& b) {
    return a.src == b.src && a.dst == b.dst && a.bytes == b.bytes;
  }
  friend bool operator!=(const Edge& a, const Edge& b) { return !(a == b); }
};

// The longest path through the graph for a given cost per op (and optionally per edge).
struct CriticalPath {
  double length = 0;
  std::vector<OpId> ops;  // in path order, first to last
};

// Totals over all ops, per micro-batch.
struct GraphTotals {
  double flops[kNumPhases] = {0, 0, 0};  // indexed by Phase
  double param_bytes = 0;
  double activation_bytes = 0;
  double edge_bytes = 0;
};

class OPPLAN_EXPORT Graph {
 public:
  Graph();
  explicit Graph(std::string name);
  ~Graph();
  Graph(const Graph& other);
  Graph& operator=(const Graph& other);
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;

  const std::string& name() const;
  void set_name(std::string name);

  // The batch the graph's costs and activations are for: samples per micro-batch and tokens per
  // sample, as the zoo built it or an importer traced it. 0 = not recorded (evaluate() then takes
  // the graph as one sample; sequence_length 0 is also right for models without sequences).
  // evaluate() scales a graph of `samples` samples to the micro-batch size of a configuration.
  std::int64_t samples() const;
  void set_samples(std::int64_t samples);
  std::int64_t sequence_length() const;
  void set_sequence_length(std::int64_t tokens);

  // ---- building ----------------------------------------------------------------------------
  void reserve(std::size_t num_ops, std::size_t num_edges);
  // Adds an op and returns its id (= the number of ops before the call). Values are not checked
  // here; validate() reports every problem at once.
  OpId add_op(Op op);
  // Adds an edge src -> dst carrying `bytes` (default: the output bytes of src).
  // Throws std::out_of_range if src or dst is not an op of this graph.
  EdgeId add_edge(OpId src, OpId dst, std::optional<double> bytes = std::nullopt);

  // ---- reading -----------------------------------------------------------------------------
  std::size_t num_ops() const;
  std::size_t num_edges() const;
  IdRange<OpId> ops() const { return IdRange<OpId>(num_ops()); }
  IdRange<EdgeId> edges() const { return IdRange<EdgeId>(num_edges()); }

  // Throw std::out_of_range for an id that is not in this graph.
  const Op& op(OpId id) const;
  Op& mutable_op(OpId id);  // renaming through it is allowed; find_op() stays correct
  const Edge& edge(EdgeId id) const;

  // The op with this name (the first one, if names are duplicated).
  std::optional<OpId> find_op(std::string_view name) const;

  std::vector<EdgeId> in_edges(OpId id) const;
  std::vector<EdgeId> out_edges(OpId id) const;
  std::vector<OpId> predecessors(OpId id) const;
  std::vector<OpId> successors(OpId id) const;
  std::size_t in_degree(OpId id) const;
  std::size_t out_degree(OpId id) const;

  GraphTotals totals() const;

  // ---- checking and algorithms ---------------------------------------------------------------
  // Every problem at once, one per line, each naming the op or edge: empty or duplicate names,
  // negative / NaN / infinite costs or sizes, negative shape dimensions, self-loops, cycles
  // (listing the ops of one cycle). OK for an empty graph.
  Status validate() const;

  // The ops of one directed cycle in order (the last op has an edge back to the first), or
  // nullopt when the graph is acyclic.
  std::optional<std::vector<OpId>> find_cycle() const;

  // Ops ordered so that every edge goes forward; fails on a cycle, naming its ops. Deterministic:
  // the same graph (same insertion order) always gives the same order.
  Result<std::vector<OpId>> topological_order() const;

  // Longest path where each op costs op_cost(op) and each edge edge_cost(edge) (0 if not given).
  // Costs must be finite and non-negative; fails on a cycle or a bad cost.
  Result<CriticalPath> critical_path(const std::function<double(OpId)>& op_cost,
                                     const std::function<double(EdgeId)>& edge_cost = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

OPPLAN_END_NAMESPACE
