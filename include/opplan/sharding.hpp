// Intra-operator sharding: how to split every operator of a graph over a 2-D device mesh so that
// one training step is as short as possible within each device's memory (Alpa's intra-op pass).
//
//   ShardingSpec       how one tensor is laid out on the mesh, one entry per dimension:
//                      R (replicated), S0 / S1 (split over mesh axis 0 / 1), S01 (over both).
//   ShardingProblem    every op's strategies (derived from its dimension annotation, Op::dims)
//                      with compute, communication and memory cost, and every edge's resharding
//                      cost between the producer's and the consumer's strategies.
//   ShardingFormulation  the integer program over a ShardingProblem (one-hot strategy per op,
//                      linearised edge products, a memory row), after follow-merging light ops
//                      and tying identical layers; an opplan::Formulation, so users can extend it.
//   shard()            all of it: problem, formulation, exact variable elimination first (the
//                      memory row relaxed), GLPK (LP relaxation, branch-and-bound) when that
//                      cannot prove the optimum, and the per-op plan.
//
// docs/sharding.md explains how annotations become strategies and costs, with a worked example.
// Thread-safety: functions are re-entrant; objects are not shared between threads by opplan.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/formulation.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/solver.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// How one tensor dimension is laid out on a rows x cols mesh.
enum class DimSharding : std::uint8_t {
  kReplicated = 0,  // "R": every device holds the whole dimension
  kAxis0 = 1,       // "S0": split into `rows` pieces along mesh axis 0
  kAxis1 = 2,       // "S1": split into `cols` pieces along mesh axis 1
  kBothAxes = 3,    // "S01": split into rows * cols pieces, axis 0 major
};
// "R", "S0", "S1", "S01".
OPPLAN_EXPORT const char* to_string(DimSharding sharding);

// The layout of one tensor: one DimSharding per dimension. A valid spec uses each mesh axis at
// most once ("S0S0" and "S01S1" are not valid).
class OPPLAN_EXPORT ShardingSpec {
 public:
  ShardingSpec() = default;  // rank 0 (a scalar)
  explicit ShardingSpec(std::vector<DimSharding> dims) : dims_(std::move(dims)) {}
  static ShardingSpec replicated(int rank);

  int rank() const { return static_cast<int>(dims_.size()); }
  const std::vector<DimSharding>& dims() const { return dims_; }
  DimSharding dim(int i) const;  // throws std::out_of_range

  bool is_replicated() const;
  bool is_valid() const;
  // The dimension that mesh axis 0 or 1 splits, or -1 when the axis is not used.
  int dim_of_axis(int axis) const;
  // Pieces the tensor is cut into on a rows x cols mesh: 1 for a replicated tensor.
  int num_tiles(int rows, int cols) const;

  // "S0R", "RS01", "S0S1"; the empty string for rank 0.
  std::string to_string() const;

  friend bool operator==(const ShardingSpec& a, const ShardingSpec& b) { return a.dims_ == b.dims_; }
  friend bool operator!=(const ShardingSpec& a, const ShardingSpec& b) { return !(a == b); }

 private:
  std::vector<DimSharding> dims_;
};

// Reads "S0R", "RS01", "S01R", "" (rank 0); whitespace between dims is allowed ("S0 R"). Fails
// with kParseError naming the position of an unknown token, or kInvalidArgument when a mesh axis
// is used twice.
OPPLAN_EXPORT Result<ShardingSpec> parse_sharding_spec(std::string_view text);

// The first rows * cols devices of the cluster (in id order) as a row-major mesh named
// "<rows>x<cols>". Fails with kInvalidArgument, naming the shape and the device count, when a side
// is not positive or rows * cols does not divide the number of devices.
OPPLAN_EXPORT Result<Mesh> make_mesh(const Cluster& cluster, int rows, int cols);

// One way to run an op on the mesh.
struct ShardingStrategy {
  // Mesh axes given to the annotation's dimension names, e.g. "b=S0 o=S1"; "replicated" when
  // nothing is split.
  std::string name;
  ShardingSpec output;                 // layout of the op's output
  std::vector<ShardingSpec> operands;  // layout each annotation operand must have, in order
  int num_shards = 1;                  // devices that share the op's work (the rest repeat it)
  double compute_seconds = 0;          // forward + input-gradient + weight-gradient
  double communication_seconds = 0;    // collectives the strategy needs: partial sums, gradients
  double weight_sync_seconds = 0;      // of which: the all-reduce of parameter gradients (at full cost)
  // The parameter-gradient bytes each device all-reduces along mesh axis 0 and along axis 1: what
  // weight_sync_seconds prices (per op, or in buckets: ShardingOptions::gradient_bucket_bytes).
  std::array<double, 2> weight_sync_bytes{};
  double memory_bytes = 0;             // per device: parameters (with optimizer state) + saved activations
  double parameter_bytes = 0;          // of memory_bytes: the parameters with their optimizer state
  // Per device: the op's output tensor in this layout. Its gradient, as large, is live during the
  // op's backward on top of everything held then (not part of memory_bytes; see peak_memory()).
  double output_bytes = 0;
};

// An alias constraint: op `user` reads a weight that op `owner` holds (Op::params_from), so both
// must lay it out the same way; gradients of the two uses then add up in place.
// allowed[p * (strategies of user) + q] is 1 when strategy p of the owner and q of the user agree.
struct ShardingAlias {
  OpId owner;
  OpId user;
  std::vector<std::uint8_t> allowed;
};

// Everything the sharding ILP optimises over, before any merging: ops and edges by id.
struct OPPLAN_EXPORT ShardingProblem {
  int mesh_rows = 1;
  int mesh_cols = 1;
  double device_memory = 0;  // the smallest memory of a mesh device, bytes
  // strategies[op] for every op; never empty (an op without annotation has one replicated strategy).
  std::vector<std::vector<ShardingStrategy>> strategies;
  // resharding[edge]: seconds to bring the producer's output (strategy p) into the layout the
  // consumer's strategy q needs, and the gradient back in the backward pass; row-major,
  // resharding[e][p * strategies[dst].size() + q].
  std::vector<std::vector<double>> resharding;
  std::vector<OpId> edge_src, edge_dst;  // by edge id, copied from the graph
  std::vector<ShardingAlias> aliases;    // one per op with Op::params_from
  // The order the step runs the forwards in (the backwards run in reverse): the graph's
  // topological order. Empty means op id order.
  std::vector<OpId> order;

  // One strategy index per op: the total seconds (strategies' compute and communication plus
  // resharding on every edge; +infinity when an alias constraint is broken), and the memory held
  // per device at the end of the forward (parameters and saved activations). Throw
  // std::invalid_argument when the choice has the wrong size or an index out of range.
  double cost(const std::vector<int>& choice) const;
  double memory(const std::vector<int>& choice) const;
  // The peak per device over the step's live points: at the backward of op t, every parameter,
  // the saved activations of t and of every op before it in `order`, and the gradient of t's output
  // (output_bytes). This is what a memory budget bounds. `at`, when given, receives the op.
  double peak_memory(const std::vector<int>& choice, OpId* at = nullptr) const;
  // Whether every alias constraint holds.
  bool aliases_hold(const std::vector<int>& choice) const;
};

// Derives every op's strategies and every edge's resharding costs. Fails with a Status naming the
// op and the dimensions when an annotation does not parse or does not match the tensor shapes,
// or naming the mesh when it does not match its devices or the cluster; also fails when the graph
// or the cluster does not validate.
OPPLAN_EXPORT Result<ShardingProblem> build_sharding_problem(const Graph& graph, const Cluster& cluster,
                                                             const Mesh& mesh, const CostModel& cost_model);

struct ShardingOptions {
  // Bytes each device may hold at every live point (ShardingProblem::peak_memory): parameters
  // (with the cost model's optimizer factor), the saved activations and the gradient being
  // produced. 0 = the smallest device memory of the mesh; opplan::kInf = no limit.
  double memory_budget = 0;
  // Alpa's graph simplification: an op of a light kind follows its deepest producer (its strategy
  // becomes a function of the producer's), which shrinks the ILP a lot.
  bool merge_light_ops = true;
  std::vector<std::string> light_kinds = {"elementwise", "add",       "mul",       "gelu",    "relu",   "dropout",
                                          "cast",        "layernorm", "rmsnorm",   "softmax", "reshape", "transpose",
                                          "broadcast",   "reduce",    "slice",     "concat",  "loss"};
  // Ops at the same position of layers with identical structure (Op::layer tags) share one
  // strategy vector.
  bool tie_repeated_layers = true;
  // Solve exactly by variable elimination first (min-sum dynamic programming over the ILP nodes'
  // strategies in a low-width order, the memory row relaxed with a Lagrange multiplier, branching
  // on that bound when it leaves a gap): accepted when it proves optimality, else its plan
  // warm-starts GLPK's branch-and-bound and its bound is kept.
  // Skipped when the graph is too wide (an elimination table above 2^24 entries).
  bool exact_elimination = true;
  // Solve the LP relaxation first and accept it when it is integral; branch-and-bound otherwise.
  bool solve_lp_first = true;
  double integrality_tolerance = 1e-6;  // (0, 0.5)
  double time_limit = kInf;             // seconds for the solver, >= 0
  double relative_gap = 1e-6;           // branch-and-bound stops at this gap, >= 0
  // When not empty, the ILP is written there as free MPS before solving (for other solvers).
  std::string mps_file;
  // Fraction of the parameter-gradient all-reduce charged to the step, in [0, 1]: 1 for one step
  // per update; 1 / B when gradients accumulate over B micro-batches and are reduced once (how
  // plan_stages prices a pipeline stage per micro-batch).
  double weight_sync_scale = 1.0;
  // Bytes per gradient bucket: parameter gradients are all-reduced in buckets, as DDP and
  // Megatron-LM do, so a collective's latency is paid once per bucket rather than once per op:
  // every op is charged its gradient bytes' share of one full bucket's all-reduce along each mesh
  // axis (CostModel::collective_time of a bucket, times bytes / bucket); weight_sync_seconds then
  // holds that price. 0 = every op's gradient all-reduced alone (Alpa's pricing). Finite, >= 0.
  double gradient_bucket_bytes = 0;

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

// The integer program of a ShardingProblem. Variables: group "s" (binary, one per strategy of
// every ILP node, key "<leader op>/<strategy name>"; an ILP node is a group of ops that follow one
// leader, shared by identical layers) and group "e" (continuous in [0, 1], one per pair of
// strategy classes of two connected nodes, a class being the strategies the edge's costs do not
// tell apart, e.g. those producing the same layout; a pair that breaks an alias constraint has no
// variable). Rows: one-hot per node, the marginals of every edge, and a memory row "memory" per
// live point that can bind (the others are implied by a later one; one row when ops have no
// output shapes). Objective: microseconds (seconds * 1e6) so that solvers see well-scaled numbers.
// The graph and problem must outlive the formulation.
class OPPLAN_EXPORT ShardingFormulation : public Formulation {
 public:
  ShardingFormulation(const Graph& graph, const ShardingProblem& problem, const ShardingOptions& options = {});
  ~ShardingFormulation() override;
  ShardingFormulation(const ShardingFormulation&) = delete;
  ShardingFormulation& operator=(const ShardingFormulation&) = delete;

  std::string name() const override { return "sharding"; }

  // The per-op strategy indices of a solution (one value per variable of the last build()).
  std::vector<int> decode(const std::vector<double>& values) const;
  // True when every "s" variable is within `tolerance` of 0 or 1.
  bool is_integral(const std::vector<double>& values, double tolerance) const;
  // A feasible assignment (one value per variable) from fractional "s" values: the largest value
  // per node, or each node's least-memory strategy when that breaks the memory budget.
  std::vector<double> round(const std::vector<double>& values) const;

  // Solves the ILP of the last build() without LP or GLPK (docs/sharding.md, "Solving"):
  // bucket elimination of the nodes in a greedy min-table order, exact for the objective, and
  // Lagrangian relaxation of the memory row when the unconstrained optimum does not fit, and
  // depth-first branching on that bound (a node's strategy fixed or forbidden) when it leaves a gap,
  // within 400 eliminations. termination kOptimal when proved (the memory row slack, the bound
  // meeting the best plan within the budget to 1e-9 relative, or every branch closed); kFeasible
  // with that plan and the root bound otherwise;
  // kNoSolutionFound when an elimination table would exceed 2^24 entries or no plan within the
  // budget was found; kInvalidInput before a successful build() or when extensions were added
  // (elimination knows only the formulation's own rows and costs). Values are per variable of the
  // build, objective and best_bound in the ILP's units (microseconds); message says which case.
  SolveResult solve_exact(double time_limit = kInf) const;

  // The op whose strategy decides `op`'s: the leader of the light ops it follows, or `op` itself.
  OpId leader_of(OpId op) const;
  std::size_t num_nodes() const;     // ILP nodes with more than one strategy
  std::size_t num_edges() const;     // ILP edges between such nodes
  std::size_t num_followers() const; // ops merged into a leader
  std::size_t num_tied() const;      // ops whose strategy vector another op of an identical layer owns
  std::size_t num_pruned() const;    // strategies dropped as dominated (no cheaper, no smaller anywhere)
  double memory_budget() const;      // resolved: bytes, possibly kInf
  // The peak memory of a least-memory plan (of the plans with the least held memory and with the
  // least memory in each row, alias constraints kept, the lowest peak): a budget this large is
  // always feasible; with one memory row no solution has less.
  double minimum_memory() const;
  // A proven lower bound on the peak memory of any solution (<= minimum_memory()): budgets below
  // it are rejected by build().
  double memory_lower_bound() const;
  std::size_t num_memory_rows() const;  // live points kept as rows
  static constexpr double kObjectiveScale = 1e6;  // ILP objective units per second

 protected:
  Status build_model(MipModel& model, VariableGroups& variables) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The sharding of one op in a plan.
struct OpSharding {
  std::string name;  // the op's name
  int strategy = 0;  // index into ShardingProblem::strategies[op]
  ShardingStrategy chosen;
  OpId leader;       // the op whose strategy decided this one (the op itself unless it follows)
};

struct OPPLAN_EXPORT ShardingPlan {
  std::vector<OpSharding> ops;  // by OpId
  Termination termination = Termination::kError;
  std::string message;
  double objective = 0;              // seconds: compute + communication + resharding
  double compute_seconds = 0;
  double communication_seconds = 0;  // the strategies' own collectives (weight sync scaled by weight_sync_scale)
  double weight_sync_seconds = 0;    // the parameter-gradient all-reduces of the plan at full cost
  double resharding_seconds = 0;     // on edges
  double ilp_objective = 0;          // the solver's objective in seconds; equals `objective` (merging
                                     // and tying keep the accounting exact)
  double best_bound = 0;             // seconds; a lower bound on the objective of this ILP
  double memory_bytes = 0;           // per device: the peak over live points, what the budget bounds
  std::string peak_at;               // the op at whose backward that peak occurs
  double memory_budget = 0;          // bytes, possibly kInf
  bool lp_integral = false;          // the LP relaxation's optimum was integral: no branching needed
  // How the plan was found: "variable elimination", "variable elimination + Lagrangian" (the
  // memory row binds; the Lagrangian bound proved it), "variable elimination + Lagrangian B&B"
  // (proved by branching on that bound), "LP relaxation", "branch-and-bound" (or "branch-and-bound from elimination" when its plan was
  // the warm start), "warm start" (a limit stopped branch-and-bound first).
  std::string method;
  double build_seconds = 0;          // strategies, costs and the ILP
  double solve_seconds = 0;          // LP relaxation and branch-and-bound
  std::size_t num_variables = 0, num_rows = 0;
  std::size_t num_nodes = 0, num_followers = 0, num_tied = 0, num_pruned = 0;

  // "optimal: 12.3 ms per step (compute 10.1 ms, communication 1.9 ms, resharding 0.3 ms),
  //  memory 31.2 GB of 80 GB, LP integral, 0.05 s".
  std::string BriefReport() const;
  // The brief report and one line per op: name, strategy, output and operand specs.
  std::string FullReport() const;
};

// Plans the sharding of every op. Fails (never throws for bad input) when the options, graph,
// cluster, mesh or an annotation are wrong, or when the memory budget is below the minimum
// possible (the message gives the minimum). A time-out returns the best plan found, at worst
// elimination's plan within the budget, the rounded LP solution or the least-memory plan, with
// termination kFeasible.
OPPLAN_EXPORT Result<ShardingPlan> shard(const Graph& graph, const Cluster& cluster, const Mesh& mesh,
                                         const CostModel& cost_model, const ShardingOptions& options = {});

OPPLAN_END_NAMESPACE
