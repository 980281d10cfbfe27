// The backend-independent parts of the solver API: names, option checks, reports.
#include <opplan/solver.hpp>

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

const char* to_string(Termination termination) {
  switch (termination) {
    case Termination::kOptimal: return "optimal";
    case Termination::kFeasible: return "feasible";
    case Termination::kNoSolutionFound: return "no solution found";
    case Termination::kInfeasible: return "infeasible";
    case Termination::kUnbounded: return "unbounded";
    case Termination::kStoppedByUser: return "stopped by user";
    case Termination::kInvalidInput: return "invalid input";
    case Termination::kError: return "error";
  }
  return "unknown";
}

const char* to_string(CallbackEvent event) {
  switch (event) {
    case CallbackEvent::kIncumbent: return "incumbent";
    case CallbackEvent::kProgress: return "progress";
    case CallbackEvent::kLazyRows: return "lazy rows";
    case CallbackEvent::kHeuristic: return "heuristic";
  }
  return "unknown";
}

bool SolverOptions::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  if (std::isnan(time_limit) || time_limit < 0)
    return fail(fmt::format("time_limit must be >= 0 seconds (is {})", time_limit));
  if (!std::isfinite(relative_gap) || relative_gap < 0)
    return fail(fmt::format("relative_gap must be finite and >= 0 (is {})", relative_gap));
  if (log_level < 0 || log_level > 3) return fail(fmt::format("log_level must be 0..3 (is {})", log_level));
  if (node_limit < -1) return fail(fmt::format("node_limit must be -1 (none) or >= 0 (is {})", node_limit));
  return true;
}

Solver::~Solver() = default;

double SolveResult::value(Var v) const {
  if (!has_solution) throw std::out_of_range("opplan::SolveResult::value: the result has no solution");
  if (!v.valid() || v.index() >= values.size())
    throw std::out_of_range(fmt::format("opplan::SolveResult::value: variable {} of {}{}", v.index(), values.size(),
                                        v.valid() ? "" : " (an uninitialised Var)"));
  return values[v.index()];
}

namespace {
std::string percent(double gap) {
  if (!std::isfinite(gap)) return "inf";
  return fmt::format("{:.4g}%", gap * 100);
}
}  // namespace

std::string SolveResult::BriefReport() const {
  std::string s = to_string(termination);
  if (has_solution) s += fmt::format(": objective {:.10g} (bound {:.10g}, gap {})", objective, best_bound, percent(gap));
  else if (std::isfinite(best_bound)) s += fmt::format(": bound {:.10g}", best_bound);
  s += fmt::format(", {} nodes, {:.3f} s", nodes, seconds);
  return s;
}

std::string SolveResult::FullReport() const {
  std::string s = fmt::format("solver:        {}\n", solver_name.empty() ? "?" : solver_name);
  s += fmt::format("termination:   {}\n", to_string(termination));
  if (!message.empty()) s += fmt::format("message:       {}\n", message);
  s += fmt::format("solution:      {}\n", has_solution ? fmt::format("{} values", values.size()) : "none");
  if (has_solution) s += fmt::format("objective:     {:.17g}\n", objective);
  s += fmt::format("best bound:    {:.17g}\n", best_bound);
  s += fmt::format("gap:           {}\n", percent(gap));
  s += fmt::format("nodes:         {}\n", nodes);
  s += fmt::format("time:          {:.3f} s (setup and root LP {:.3f} s)\n", seconds, presolve_seconds);
  s += fmt::format("presolve:      {}\n", presolve_used ? "on" : "off");
  s += fmt::format("warm start:    {}\n", warm_start_used ? "used" : "none");
  if (!log.empty()) {
    // The end of the captured log is what explains most outcomes.
    std::size_t pos = log.size(), lines = 0;
    while (pos > 0 && lines < 20) {
      --pos;
      if (log[pos] == '\n' && pos + 1 < log.size()) ++lines;
    }
    s += "log (end):\n" + log.substr(lines < 20 ? 0 : pos + 1);
    if (s.back() != '\n') s += '\n';
  }
  return s;
}

OPPLAN_END_NAMESPACE
