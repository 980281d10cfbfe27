// GlpkSolver: MipModel -> glp_prob -> glp_intopt, with opplan's callbacks on GLPK's reasons.
//
// The callback events map onto GLPK's search-tree reasons: GLP_IBINGO (incumbent), GLP_IROWGEN
// (lazy rows), GLP_IHEUR (suggested solutions, and the warm start at the first chance), and every
// reason (progress, interrupt, node limit). GLPK's presolver renumbers columns, so it is used only
// when no event needs original columns.
//
// What the search costs per node. GLPK has one callback for all reasons (about five calls per node)
// and no way to register it for some of them; it is always registered, because glp_intopt reports
// neither the node count nor the best bound, and the node count is part of every result. Each call
// must then stay cheap when nobody listens to its reason: a relaxed atomic load for the interrupt
// flag, the tree size, the incumbent's status, and nothing else. The one expensive read is the best
// bound: glp_ios_best_node (and GLPK's own relative-gap check, ios_relative_gap, which calls it)
// walks the whole list of open nodes, thousands of nodes scattered over the heap, and misses the
// data cache on nearly every one. Done at every node selection, plus GLPK's gap check at every node,
// it made a search 20 % slower than glpsol's with the same instructions (callgrind: a fifth of all
// D1 misses were in that walk). So the bound is read only when something needs it (see
// kBoundRefresh* and handle_event): a progress report that is due, a better incumbent, a stop, and
// every few dozen node selections, for the relative-gap test (which opplan does itself instead of
// passing mip_gap to GLPK) and for the bound a time-out reports. A bound read earlier is still a
// valid bound (the best open bound only improves as the search goes on), just possibly a weaker one.
#include <opplan/solver.hpp>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <climits>
#include <cmath>
#include <exception>

#include <fmt/format.h>

#include "mip/glpk_env.hpp"
#include "mip/glpk_problem.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int glpk_msg_level(int log_level) {
  switch (log_level) {
    case 0: return GLP_MSG_OFF;
    case 1: return GLP_MSG_ERR;
    case 2: return GLP_MSG_ON;
    default: return GLP_MSG_ALL;
  }
}

int glpk_milliseconds(double seconds) {
  if (!std::isfinite(seconds) || seconds * 1000.0 >= static_cast<double>(INT_MAX)) return INT_MAX;
  return std::max(1, static_cast<int>(seconds * 1000.0));
}

enum class StopReason { kNone, kUser, kInterrupt, kNodeLimit, kGap, kCallbackError };

// Node selections between two routine reads of the best bound (for the relative-gap test, and for
// the bound a time-out reports): at least kBoundRefreshMin, and more with many open nodes, so that
// the walks visit at most kBoundRefreshShare open nodes per selection on average.
constexpr std::int64_t kBoundRefreshMin = 64;
constexpr std::int64_t kBoundRefreshShare = 16;
// Progress reports when nothing changed: at most this often (seconds).
constexpr double kProgressInterval = 0.2;

// Everything the GLPK callback needs; lives on solve()'s stack for the duration of glp_intopt.
struct Search {
  const MipModel* model = nullptr;
  const SolveArguments* args = nullptr;
  Clock::time_point start;
  int n = 0;
  bool minimize = true;

  const std::vector<double>* warm_start = nullptr;  // feasible warm start not yet given to GLPK
  double best_objective = kInf;                     // in the model's sense (+inf for min when none)
  bool have_bound = false;
  double best_bound = 0;    // as of the last read_bound(): valid, possibly weaker than the current one
  bool bound_read = false;  // read_bound() ran during the current event
  std::int64_t nodes = 0;
  std::int64_t selections = 0;          // GLP_ISELECT events so far
  std::int64_t next_bound_read = 0;     // selection count of the next routine read of the bound
  int suggestions_rejected = 0;

  double last_progress_at = -1;
  double last_progress_bound = NAN;
  double last_progress_objective = NAN;

  StopReason stop = StopReason::kNone;
  std::exception_ptr exception;  // thrown by the user's callback
  Status callback_error;         // a bad lazy row or suggestion shape

  std::vector<double> x;  // 1-based scratch for glp_ios_heur_sol
  std::vector<int> row_cols;
  std::vector<double> row_vals;
  std::vector<int> col_slot;  // per column: position in row_cols, for merging duplicates
};

bool better(const Search& s, double a, double b) { return s.minimize ? a < b : a > b; }

double gap_of(double objective, double bound) {
  if (!std::isfinite(objective) || !std::isfinite(bound)) return kInf;
  return std::abs(objective - bound) / (std::abs(objective) + DBL_EPSILON);
}

// Reads the best bound of the open nodes: a walk over all of them (see the top of the file), so only
// when something needs it. Any event will do: the node being solved stays on GLPK's active list
// with its parent's bound until it is branched on or pruned.
void read_bound(glp_tree* T, Search& s) {
  if (const int p = glp_ios_best_node(T); p != 0) {
    s.best_bound = glp_ios_node_bound(T, p);
    s.have_bound = true;
  }
  s.bound_read = true;
}

bool gap_reached(const Search& s) {
  const double tolerance = s.args->options.relative_gap;
  return tolerance > 0 && s.have_bound && std::isfinite(s.best_objective) &&
         gap_of(s.best_objective, s.best_bound) <= tolerance;
}

CallbackData make_data(const Search& s, CallbackEvent event) {
  CallbackData d;
  d.event = event;
  d.best_objective = std::isfinite(s.best_objective) ? s.best_objective : (s.minimize ? kInf : -kInf);
  d.best_bound = s.have_bound ? s.best_bound : (s.minimize ? -kInf : kInf);
  d.gap = gap_of(s.best_objective, d.best_bound);
  d.nodes = s.nodes;
  d.seconds = seconds_since(s.start);
  return d;
}

void read_columns(glp_prob* P, int n, bool mip, std::vector<double>& out) {
  out.resize(static_cast<std::size_t>(n));
  for (int j = 1; j <= n; ++j) out[static_cast<std::size_t>(j - 1)] = mip ? glp_mip_col_val(P, j) : glp_get_col_prim(P, j);
}

void apply_result(Search& s, const CallbackResult& r) {
  if (r.terminate && s.stop == StopReason::kNone) s.stop = StopReason::kUser;
}

// Adds the callback's lazy rows to the problem; a malformed row stops the search with an error.
void add_lazy_rows(glp_tree* T, Search& s, const std::vector<BoundedExpr>& rows) {
  glp_prob* P = glp_ios_get_prob(T);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const BoundedExpr& row = rows[r];
    s.row_cols.assign(1, 0);
    s.row_vals.assign(1, 0.0);
    std::string problem;
    for (const Term& t : row.expr.terms()) {
      if (t.var.model_id() != s.model->id() || t.var.index() >= static_cast<std::uint32_t>(s.n)) {
        problem = fmt::format("uses variable {} of another model", t.var.index());
        break;
      }
      if (!std::isfinite(t.coef)) {
        problem = fmt::format("has coefficient {} for variable {}", t.coef, t.var.index());
        break;
      }
      int& slot = s.col_slot[t.var.index()];
      if (slot > 0) {
        s.row_vals[static_cast<std::size_t>(slot)] += t.coef;
      } else {
        slot = static_cast<int>(s.row_cols.size());
        s.row_cols.push_back(static_cast<int>(t.var.index()) + 1);
        s.row_vals.push_back(t.coef);
      }
    }
    for (std::size_t k = 1; k < s.row_cols.size(); ++k) s.col_slot[static_cast<std::size_t>(s.row_cols[k] - 1)] = 0;
    const double lo = row.lower - row.expr.constant(), up = row.upper - row.expr.constant();
    if (problem.empty() && (std::isnan(lo) || std::isnan(up) || lo > up || lo == kInf || up == -kInf))
      problem = fmt::format("has bounds [{}, {}] that admit no value", lo, up);
    if (!problem.empty()) {
      s.callback_error = Status(StatusCode::kInvalidArgument, fmt::format("lazy row #{} from the callback {}", r, problem));
      s.stop = StopReason::kCallbackError;
      return;
    }
    detail::glpk_add_row(P, lo, up, s.row_cols, s.row_vals);
  }
}

// Offers a full assignment to GLPK (which does not check it) after checking it ourselves.
bool offer_solution(glp_tree* T, Search& s, const std::vector<double>& values) {
  if (values.size() != static_cast<std::size_t>(s.n) || !s.model->check_solution(values).ok()) {
    ++s.suggestions_rejected;
    return false;
  }
  s.x.resize(static_cast<std::size_t>(s.n) + 1);
  for (int j = 0; j < s.n; ++j) {
    double v = values[static_cast<std::size_t>(j)];
    if (s.model->var_types()[static_cast<std::size_t>(j)] != VarType::kContinuous) v = std::round(v);
    s.x[static_cast<std::size_t>(j) + 1] = v;
  }
  // Not better than the incumbent when non-zero. An accepted one is announced as the new incumbent
  // at the next event (handle_event).
  return glp_ios_heur_sol(T, s.x.data()) == 0;
}

// Tells the callback about a better incumbent, if there is one; true when there was. GLPK announces
// only the solutions of its branching (GLP_IBINGO); those of heuristics (its own rounding, a
// suggested solution, the warm start) become the incumbent silently, so every event compares. With a
// tree (during the search) the bound is read again first: the gap changes with the incumbent.
bool report_new_incumbent(glp_tree* T, glp_prob* P, Search& s) {
  if (glp_mip_status(P) != GLP_FEAS && glp_mip_status(P) != GLP_OPT) return false;
  const double z = glp_mip_obj_val(P);
  if (std::isfinite(s.best_objective) && !better(s, z, s.best_objective)) return false;
  s.best_objective = z;
  if (T) read_bound(T, s);
  if (s.args->registration.incumbent) {
    CallbackData d = make_data(s, CallbackEvent::kIncumbent);
    read_columns(P, s.n, /*mip=*/true, d.solution);
    apply_result(s, s.args->callback(d));
  }
  return true;
}

void handle_event(glp_tree* T, Search& s) {
  const SolveArguments& args = *s.args;
  const CallbackRegistration& reg = args.registration;
  const int reason = glp_ios_reason(T);
  int active = 0, alive = 0, total = 0;
  glp_ios_tree_size(T, &active, &alive, &total);
  s.nodes = total;
  if (args.interrupt && args.interrupt->load(std::memory_order_relaxed)) s.stop = StopReason::kInterrupt;
  if (args.options.node_limit >= 0 && s.nodes > args.options.node_limit) s.stop = StopReason::kNodeLimit;
  if (s.stop != StopReason::kNone) return;

  // Routine reads of the bound: at the first node selection, then every few dozen. They feed the
  // gap test, and the bound reported when GLPK's own time limit ends the search (no event follows).
  if (reason == GLP_ISELECT && s.selections++ >= s.next_bound_read) {
    read_bound(T, s);
    s.next_bound_read = s.selections + std::max<std::int64_t>(kBoundRefreshMin, active / kBoundRefreshShare);
  }
  // A progress report is due: its bound must be the current one.
  double now = 0;
  bool progress_due = false;
  if (reg.progress) {
    now = seconds_since(s.start);
    progress_due = now - s.last_progress_at >= kProgressInterval;
    if (progress_due && !s.bound_read) read_bound(T, s);
  }

  glp_prob* P = glp_ios_get_prob(T);
  report_new_incumbent(T, P, s);
  if (s.stop != StopReason::kNone) return;
  // GLPK's own test (iocp.mip_gap) would walk the open nodes at every node; this one runs only when
  // the bound or the incumbent was read again. A bound read earlier gives a gap no smaller than the
  // current one: the search may stop a few nodes after GLPK's test would have, never before.
  if (s.bound_read && gap_reached(s)) {
    s.stop = StopReason::kGap;
    return;
  }
  switch (reason) {
    case GLP_IHEUR: {
      if (s.warm_start) {
        offer_solution(T, s, *s.warm_start);
        s.warm_start = nullptr;
      }
      if (reg.heuristic) {
        CallbackData d = make_data(s, CallbackEvent::kHeuristic);
        read_columns(P, s.n, /*mip=*/false, d.solution);
        const CallbackResult r = args.callback(d);
        for (const auto& values : r.suggested_solutions) offer_solution(T, s, values);
        apply_result(s, r);
      }
      break;
    }
    case GLP_IROWGEN: {
      if (reg.lazy_rows) {
        CallbackData d = make_data(s, CallbackEvent::kLazyRows);
        read_columns(P, s.n, /*mip=*/false, d.solution);
        const CallbackResult r = args.callback(d);
        add_lazy_rows(T, s, r.lazy_rows);
        apply_result(s, r);
      }
      break;
    }
    default: break;
  }

  if (reg.progress && s.stop == StopReason::kNone) {
    // On a changed bound or incumbent, else at most every kProgressInterval seconds. A bound change
    // is seen when the bound is read: for a report that is due, a new incumbent or the gap test.
    const double bound = s.have_bound ? s.best_bound : NAN;
    const bool changed = !(bound == s.last_progress_bound) || !(s.best_objective == s.last_progress_objective);
    if ((changed && (s.have_bound || std::isfinite(s.best_objective))) || progress_due) {
      s.last_progress_at = now;
      s.last_progress_bound = bound;
      s.last_progress_objective = s.best_objective;
      apply_result(s, args.callback(make_data(s, CallbackEvent::kProgress)));
    }
  }
}

// GLPK's callback: a C function pointer. Nothing may unwind through GLPK's frames.
void on_glpk_event(glp_tree* T, void* info) {
  auto& s = *static_cast<Search*>(info);
  if (s.stop == StopReason::kNone) {
    s.bound_read = false;
    try {
      handle_event(T, s);
    } catch (...) {
      s.exception = std::current_exception();
      s.stop = StopReason::kCallbackError;
    }
    // Stopping here: the result's bound is the one of the open nodes now.
    if (s.stop != StopReason::kNone && !s.bound_read) read_bound(T, s);
  }
  if (s.stop != StopReason::kNone) glp_ios_terminate(T);
}

void fill_iocp(glp_iocp& iocp, const GlpkSolver::Options& o) {
  using B = GlpkSolver::Options::Branching;
  using K = GlpkSolver::Options::Backtracking;
  switch (o.branching) {
    case B::kFirstFractional: iocp.br_tech = GLP_BR_FFV; break;
    case B::kLastFractional: iocp.br_tech = GLP_BR_LFV; break;
    case B::kMostFractional: iocp.br_tech = GLP_BR_MFV; break;
    case B::kDriebeckTomlin: iocp.br_tech = GLP_BR_DTH; break;
  }
  switch (o.backtracking) {
    case K::kDepthFirst: iocp.bt_tech = GLP_BT_DFS; break;
    case K::kBreadthFirst: iocp.bt_tech = GLP_BT_BFS; break;
    case K::kBestLocalBound: iocp.bt_tech = GLP_BT_BLB; break;
    case K::kBestProjection: iocp.bt_tech = GLP_BT_BPH; break;
  }
  iocp.gmi_cuts = o.gomory_cuts ? GLP_ON : GLP_OFF;
  iocp.mir_cuts = o.mir_cuts ? GLP_ON : GLP_OFF;
  iocp.cov_cuts = o.cover_cuts ? GLP_ON : GLP_OFF;
  iocp.clq_cuts = o.clique_cuts ? GLP_ON : GLP_OFF;
  iocp.fp_heur = o.feasibility_pump ? GLP_ON : GLP_OFF;
  iocp.ps_heur = o.proximity_search ? GLP_ON : GLP_OFF;
}

const char* glpk_return_name(int code) {
  switch (code) {
    case GLP_EBADB: return "invalid initial basis";
    case GLP_ESING: return "singular basis matrix";
    case GLP_ECOND: return "ill-conditioned basis matrix";
    case GLP_EBOUND: return "incorrect bounds";
    case GLP_EFAIL: return "solver failure";
    case GLP_EOBJLL: return "objective lower limit reached";
    case GLP_EOBJUL: return "objective upper limit reached";
    case GLP_EITLIM: return "iteration limit";
    case GLP_ETMLIM: return "time limit";
    case GLP_ENOPFS: return "no primal feasible solution";
    case GLP_ENODFS: return "no dual feasible solution";
    case GLP_EROOT: return "root LP optimum not provided";
    case GLP_ESTOP: return "search terminated";
    case GLP_EMIPGAP: return "relative gap reached";
    default: return "unknown return code";
  }
}

}  // namespace

bool GlpkSolver::thread_safe() { return detail::glpk_has_tls(); }

SolveResult GlpkSolver::solve(const MipModel& model, const SolveArguments& args) {
  const auto start = Clock::now();
  SolveResult result;
  result.solver_name = name();
  const bool minimize = model.sense() == ObjectiveSense::kMinimize;
  result.objective = minimize ? kInf : -kInf;
  result.best_bound = minimize ? -kInf : kInf;
  auto finish = [&](Termination t, std::string message) -> SolveResult {
    result.termination = t;
    if (!message.empty()) result.message = result.message.empty() ? message : message + "; " + result.message;
    result.seconds = seconds_since(start);
    return result;
  };

  // ---- checks: nothing reaches GLPK that could make it abort --------------------------------
  if (std::string why; !args.options.IsValid(&why)) return finish(Termination::kInvalidInput, "invalid options: " + why);
  if (args.registration.any() && !args.callback)
    return finish(Termination::kInvalidInput, "callback events are registered but no callback is given");
  if (model.num_variables() == 0) return finish(Termination::kInvalidInput, "the model has no variables");
  if (Status s = model.validate(); !s.ok()) return finish(Termination::kInvalidInput, "invalid model: " + s.message());

  const std::vector<double>* warm = nullptr;
  if (!args.warm_start.empty()) {
    if (Status s = model.check_solution(args.warm_start); s.ok()) warm = &args.warm_start;
    else result.message = "warm start ignored: " + s.message();
  }
  // Keeps the result no worse than a feasible warm start, whatever the search found.
  auto settle_with_warm_start = [&] {
    if (!warm) return;
    const double z = model.objective_value(*warm);
    if (result.has_solution && !(minimize ? z < result.objective : z > result.objective)) return;
    result.has_solution = true;
    result.values = *warm;
    result.objective = z;
    result.gap = gap_of(z, result.best_bound);
    if (result.termination == Termination::kNoSolutionFound || result.termination == Termination::kInfeasible)
      result.termination = Termination::kFeasible;
    result.message += result.message.empty() ? "the warm start is the best solution found"
                                             : "; the warm start is the best solution found";
  };

  if (args.interrupt && args.interrupt->load()) {
    result.termination = Termination::kStoppedByUser;
    settle_with_warm_start();
    return finish(result.termination, "interrupted before the solve started");
  }
  if (args.options.time_limit == 0) {
    result.termination = Termination::kNoSolutionFound;
    settle_with_warm_start();
    return finish(result.termination, "time limit is 0: no search was run");
  }

  // ---- GLPK -----------------------------------------------------------------------------
  detail::GlpkSession session;
  detail::GlpkProblem problem(session);
  const bool needs_original_columns = args.registration.incumbent || args.registration.lazy_rows ||
                                      args.registration.heuristic || warm != nullptr;
  const bool presolve = args.options.presolve && !needs_original_columns;
  result.presolve_used = presolve;
  result.warm_start_used = warm != nullptr;
  auto glpk_failed = [&](const std::string& what) {
    result.log = session.log();
    return finish(Termination::kError, fmt::format("GLPK failed while {}: {}", what, session.log_tail(4)));
  };
  if (!problem.load(model)) return glpk_failed("loading the model");
  glp_prob* P = problem.get();
  const int n = static_cast<int>(model.num_variables());
  // glp_scale_prob prints its statistics whatever msg_lev says: let it only from log level 2 on.
  if (options_.scale && !session.guarded([&] {
        const int terminal = glp_term_out(args.options.log_level >= 2 ? GLP_ON : GLP_OFF);
        glp_scale_prob(P, GLP_SF_AUTO);
        glp_term_out(terminal);
      }))
    return glpk_failed("scaling");

  // Without the MIP presolver glp_intopt needs an optimal basis of the root LP.
  if (!presolve) {
    glp_smcp smcp;
    glp_init_smcp(&smcp);
    smcp.msg_lev = glpk_msg_level(args.options.log_level);
    smcp.tm_lim = glpk_milliseconds(args.options.time_limit - seconds_since(start));
    int ret = 0, status = 0;
    if (!session.guarded([&] {
          ret = glp_simplex(P, &smcp);
          status = glp_get_status(P);
        }))
      return glpk_failed("solving the root LP");
    result.log = session.log();
    if (ret == GLP_ETMLIM) {
      result.termination = Termination::kNoSolutionFound;
      settle_with_warm_start();
      return finish(result.termination, "time limit reached while solving the root LP relaxation");
    }
    if (ret != 0) return finish(Termination::kError, fmt::format("root LP: {}", glpk_return_name(ret)));
    if (status == GLP_NOFEAS) return finish(Termination::kInfeasible, "the LP relaxation is infeasible");
    if (status == GLP_UNBND) return finish(Termination::kUnbounded, "the LP relaxation is unbounded");
    if (status != GLP_OPT) return finish(Termination::kError, fmt::format("root LP ended with GLPK status {}", status));
  }
  result.presolve_seconds = seconds_since(start);

  Search s;
  s.model = &model;
  s.args = &args;
  s.start = start;
  s.n = n;
  s.minimize = minimize;
  s.warm_start = warm;
  s.best_objective = minimize ? kInf : -kInf;
  s.col_slot.assign(static_cast<std::size_t>(n), 0);

  glp_iocp iocp;
  glp_init_iocp(&iocp);
  fill_iocp(iocp, options_);
  iocp.msg_lev = glpk_msg_level(args.options.log_level);
  iocp.tm_lim = glpk_milliseconds(args.options.time_limit - seconds_since(start));
  iocp.mip_gap = 0;  // the relative gap is tested in the callback (handle_event), not at every node
  iocp.presolve = presolve ? GLP_ON : GLP_OFF;
  iocp.cb_func = &on_glpk_event;
  iocp.cb_info = &s;
  if (args.registration.lazy_rows) {
    // GLPK's own heuristics see only the lazy rows added so far: their solutions may violate others.
    iocp.sr_heur = GLP_OFF;
    iocp.fp_heur = GLP_OFF;
    iocp.ps_heur = GLP_OFF;
  }

  int ret = 0, mip_status = GLP_UNDEF;
  if (!session.guarded([&] {
        ret = glp_intopt(P, &iocp);
        mip_status = glp_mip_status(P);
      }))
    return glpk_failed("searching");
  result.log = session.log();
  result.nodes = s.nodes;
  // A heuristic's incumbent found after the last event has not been announced yet.
  if (!s.exception && (s.stop == StopReason::kNone || s.stop == StopReason::kNodeLimit)) report_new_incumbent(nullptr, P, s);

  if (mip_status == GLP_OPT || mip_status == GLP_FEAS) {
    result.has_solution = true;
    read_columns(P, n, /*mip=*/true, result.values);
    for (int j = 0; j < n; ++j) {
      double& v = result.values[static_cast<std::size_t>(j)];
      if (model.var_types()[static_cast<std::size_t>(j)] != VarType::kContinuous && std::abs(v - std::round(v)) < 1e-6)
        v = std::round(v);
    }
    result.objective = glp_mip_obj_val(P);
  }

  Termination termination = Termination::kError;
  std::string message;
  switch (ret) {
    case 0:
      termination = mip_status == GLP_OPT    ? Termination::kOptimal
                    : mip_status == GLP_NOFEAS ? Termination::kInfeasible
                    : result.has_solution      ? Termination::kFeasible
                                               : Termination::kNoSolutionFound;
      message = termination == Termination::kInfeasible ? "no integer solution exists" : "";
      break;
    case GLP_EMIPGAP:  // not asked for (iocp.mip_gap is 0), kept for completeness
      termination = Termination::kOptimal;
      message = fmt::format("within the relative gap {}", args.options.relative_gap);
      break;
    case GLP_ETMLIM:
      termination = result.has_solution ? Termination::kFeasible : Termination::kNoSolutionFound;
      message = fmt::format("time limit of {} s reached", args.options.time_limit);
      break;
    case GLP_ENOPFS: termination = Termination::kInfeasible; message = "the LP relaxation is infeasible"; break;
    case GLP_ENODFS: termination = Termination::kUnbounded; message = "the LP relaxation is unbounded"; break;
    case GLP_ESTOP:
      switch (s.stop) {
        case StopReason::kUser: termination = Termination::kStoppedByUser; message = "the callback asked to stop"; break;
        case StopReason::kInterrupt: termination = Termination::kStoppedByUser; message = "interrupted"; break;
        case StopReason::kGap:
          termination = Termination::kOptimal;
          message = fmt::format("within the relative gap {}", args.options.relative_gap);
          break;
        case StopReason::kNodeLimit:
          termination = result.has_solution ? Termination::kFeasible : Termination::kNoSolutionFound;
          message = fmt::format("node limit of {} reached", args.options.node_limit);
          break;
        case StopReason::kCallbackError:
          termination = Termination::kError;
          message = s.exception ? "the callback threw an exception" : s.callback_error.message();
          break;
        case StopReason::kNone: termination = Termination::kError; message = "GLPK stopped for no known reason"; break;
      }
      break;
    default:
      termination = Termination::kError;
      message = fmt::format("GLPK: {}: {}", glpk_return_name(ret), session.log_tail(4));
  }
  result.termination = termination;

  // The proven bound: the objective when optimal, else the best open node's bound.
  if (termination == Termination::kOptimal && ret == 0) result.best_bound = result.objective;
  else if (s.have_bound) result.best_bound = s.best_bound;
  else if (termination == Termination::kOptimal) result.best_bound = result.objective;
  if (result.has_solution)
    result.best_bound = minimize ? std::min(result.best_bound, result.objective) : std::max(result.best_bound, result.objective);
  result.gap = result.has_solution ? gap_of(result.objective, result.best_bound) : kInf;
  if (s.suggestions_rejected > 0)
    message += fmt::format("{}{} suggested solution(s) were infeasible and ignored", message.empty() ? "" : "; ",
                           s.suggestions_rejected);
  if (termination != Termination::kError && termination != Termination::kUnbounded) settle_with_warm_start();
  SolveResult out = finish(result.termination, message);
  if (s.exception) std::rethrow_exception(s.exception);  // after GLPK has returned; problem freed on unwind
  return out;
}

OPPLAN_END_NAMESPACE
