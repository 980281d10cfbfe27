// Solver: the interface every MIP backend implements, its options, callbacks and result.
//
// One outcome channel: solve() never throws for a bad model or bad options and never aborts the
// process; everything comes back in SolveResult (termination, message, reports). An exception
// thrown by a user callback is caught inside the solver, the search is stopped, and the exception
// is rethrown from solve() after the backend has returned and cleaned up.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opplan/mip_model.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

enum class Termination : std::uint8_t {
  kOptimal,            // proven optimal within the relative gap
  kFeasible,           // a solution, but a limit (time, nodes, gap not reached) stopped the search
  kNoSolutionFound,    // a limit stopped the search before any solution was found
  kInfeasible,         // proven to have no solution
  kUnbounded,          // the objective can improve without limit (or the LP relaxation is unbounded)
  kStoppedByUser,      // a callback or the interrupt flag asked to stop (a solution may exist)
  kInvalidInput,       // the model or the options failed validation; nothing was solved
  kError,              // the backend failed; the message says how
};
OPPLAN_EXPORT const char* to_string(Termination termination);

struct SolverOptions {
  double time_limit = kInf;    // seconds, >= 0; 0 returns at once (the warm start, if any)
  double relative_gap = 1e-6;  // stop when |best - bound| / max(|best|, eps) <= this, >= 0
  bool presolve = true;        // backend presolve; turned off when callbacks need original columns
  int log_level = 1;           // 0 none, 1 errors and warnings, 2 normal, 3 everything (captured, never printed)
  std::int64_t node_limit = -1;  // branch-and-bound nodes, -1 = no limit
  int seed = 0;  // for backends with randomised choices; GLPK's branch-and-cut is deterministic

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

// What a callback is called for.
enum class CallbackEvent : std::uint8_t {
  kIncumbent,  // a new best solution was found (solution holds it)
  kProgress,   // periodic: bound, gap and node count changed
  kLazyRows,   // a relaxation optimum (solution holds it, possibly fractional): add violated rows
  kHeuristic,  // the solver invites suggested solutions (solution holds the current relaxation)
};
OPPLAN_EXPORT const char* to_string(CallbackEvent event);

// Which events the callback wants, declared before the solve (backends set themselves up for it;
// lazy rows and suggested solutions turn GLPK's presolve off, which would otherwise renumber
// columns).
struct CallbackRegistration {
  bool incumbent = false;
  bool progress = false;
  bool lazy_rows = false;
  bool heuristic = false;
  bool any() const { return incumbent || progress || lazy_rows || heuristic; }
};

struct CallbackData {
  CallbackEvent event = CallbackEvent::kProgress;
  double best_objective = kInf;  // +-inf while no solution is known (sign by sense)
  double best_bound = -kInf;
  double gap = kInf;
  std::int64_t nodes = 0;
  double seconds = 0;
  // One value per variable, for kIncumbent, kLazyRows and kHeuristic; empty otherwise.
  std::vector<double> solution;
};

struct CallbackResult {
  bool terminate = false;                    // stop the search; the best solution so far is kept
  std::vector<BoundedExpr> lazy_rows;        // kLazyRows: rows to add (must use this model's variables)
  std::vector<std::vector<double>> suggested_solutions;  // full assignments; infeasible ones are ignored
};

// Called on the thread that runs solve(), synchronously, never concurrently with itself. The
// solver does not take ownership of anything the callback captures.
using SolverCallback = std::function<CallbackResult(const CallbackData&)>;

struct SolveArguments {
  SolverOptions options;
  // A full assignment (one value per variable) to start from. If it is feasible the result is never
  // worse than it; an infeasible warm start is ignored (the result's message says why). Feasibility
  // is checked against the model's rows only: with lazy rows, the caller must give a warm start (and
  // suggested solutions) that also satisfies every row its callback could add.
  std::vector<double> warm_start;
  CallbackRegistration registration;
  SolverCallback callback;
  // Polled during the search; set it from any thread to stop (like Ctrl-C). Not owned.
  const std::atomic<bool>* interrupt = nullptr;
};

struct SolveResult {
  Termination termination = Termination::kError;
  std::string message;             // why it ended, in words
  bool has_solution = false;
  std::vector<double> values;      // one per variable when has_solution
  double objective = kInf;         // of `values`
  double best_bound = -kInf;       // proven bound (min: lower, max: upper); = objective when optimal
  double gap = kInf;               // relative gap |objective - bound| / (|objective| + DBL_EPSILON), as GLPK
  std::int64_t nodes = 0;
  double seconds = 0;              // wall time of solve()
  double presolve_seconds = 0;     // building the backend problem and the root relaxation
  bool presolve_used = false;
  bool warm_start_used = false;    // a feasible warm start was given to the backend
  std::string solver_name;
  std::string log;                 // what the backend printed, captured

  double value(Var v) const;       // throws std::out_of_range without a solution or for a bad var
  bool IsSolutionUsable() const { return has_solution; }
  // One line: "optimal: objective 12 (bound 12, gap 0%), 37 nodes, 0.01 s".
  std::string BriefReport() const;
  // Several lines including the message and the end of the captured log.
  std::string FullReport() const;
};

class OPPLAN_EXPORT Solver {
 public:
  virtual ~Solver();
  virtual std::string name() const = 0;
  // Thread-safety: a Solver object may be used by one thread at a time; separate Solver objects
  // may solve concurrently on separate threads.
  virtual SolveResult solve(const MipModel& model, const SolveArguments& arguments = {}) = 0;
};

// The GLPK backend (branch-and-cut of glp_intopt, simplex for the root relaxation).
class OPPLAN_EXPORT GlpkSolver : public Solver {
 public:
  // GLPK's own search settings (glp_iocp); the defaults are GLPK's.
  struct Options {
    enum class Branching : std::uint8_t { kFirstFractional, kLastFractional, kMostFractional, kDriebeckTomlin };
    enum class Backtracking : std::uint8_t { kDepthFirst, kBreadthFirst, kBestLocalBound, kBestProjection };
    Branching branching = Branching::kDriebeckTomlin;
    Backtracking backtracking = Backtracking::kBestLocalBound;
    bool gomory_cuts = false;      // Gomory mixed-integer cuts
    bool mir_cuts = false;         // mixed-integer rounding cuts
    bool cover_cuts = false;       // mixed cover cuts
    bool clique_cuts = false;      // clique cuts
    bool feasibility_pump = false; // feasibility pump heuristic
    bool proximity_search = false; // proximity search heuristic
    bool scale = true;             // scale rows and columns first (glp_scale_prob), as glpsol does
  };

  GlpkSolver() = default;
  explicit GlpkSolver(const Options& options) : options_(options) {}
  const Options& options() const { return options_; }

  std::string name() const override { return "glpk"; }
  SolveResult solve(const MipModel& model, const SolveArguments& arguments = {}) override;
  // Whether GLPK was built with thread-local storage; without it opplan serialises GLPK calls.
  static bool thread_safe();

 private:
  Options options_;
};

// The LP relaxation (integrality dropped), for lower bounds. Simplex by default; interior point
// (glp_interior) when `interior_point` is set, which is faster on large sparse LPs.
struct LpOptions {
  double time_limit = kInf;
  bool interior_point = false;
  bool presolve = true;
};
OPPLAN_EXPORT SolveResult solve_lp_relaxation(const MipModel& model, const LpOptions& options = {});

// Files any other solver reads (free MPS; CPLEX LP). Variable and row names are kept where they
// are valid in the format, otherwise generated (x1, r1, ...).
OPPLAN_EXPORT Status write_mps(const MipModel& model, const std::string& path);
OPPLAN_EXPORT Status write_lp(const MipModel& model, const std::string& path);
// Reads a free-format MPS file (or fixed with `fixed_format`), errors naming the file and line.
OPPLAN_EXPORT Result<MipModel> read_mps(const std::string& path, bool fixed_format = false);
OPPLAN_EXPORT Result<MipModel> read_lp(const std::string& path);

OPPLAN_END_NAMESPACE
