// MPS and CPLEX-LP files through GLPK's readers and writers, and the LP relaxation.
#include <opplan/solver.hpp>

#include <chrono>
#include <climits>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "mip/glpk_env.hpp"
#include "mip/glpk_problem.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

enum class Format { kFreeMps, kFixedMps, kLp };

const char* format_name(Format f) {
  switch (f) {
    case Format::kFreeMps: return "free MPS";
    case Format::kFixedMps: return "fixed MPS";
    case Format::kLp: return "CPLEX LP";
  }
  return "?";
}

Status write_model(const MipModel& model, const std::string& path, Format format) {
  if (Status s = model.validate(); !s.ok()) return s.with_context(fmt::format("cannot write '{}'", path));
  detail::GlpkSession session;
  detail::GlpkProblem problem(session);
  if (!problem.load(model))
    return Status(StatusCode::kInternal, fmt::format("cannot write '{}': GLPK failed to load the model: {}", path,
                                                     session.log_tail(4)));
  glp_prob* P = problem.get();
  int ret = 1;
  const bool ok = session.guarded([&] {
    ret = format == Format::kLp ? glp_write_lp(P, nullptr, path.c_str())
                                : glp_write_mps(P, format == Format::kFreeMps ? GLP_MPS_FILE : GLP_MPS_DECK, nullptr,
                                                path.c_str());
  });
  if (!ok || ret != 0)
    return Status(StatusCode::kIoError,
                  fmt::format("cannot write {} file '{}': {}", format_name(format), path, session.log_tail(3)));
  return Status::Ok();
}

Result<MipModel> read_model(const std::string& path, Format format) {
  if (!std::ifstream(path).good()) return Status(StatusCode::kIoError, fmt::format("cannot open '{}'", path));
  detail::GlpkSession session;
  detail::GlpkProblem problem(session);
  if (!problem.get()) return Status(StatusCode::kInternal, "GLPK could not create a problem");
  glp_prob* P = problem.get();
  int ret = 1;
  const bool ok = session.guarded([&] {
    ret = format == Format::kLp ? glp_read_lp(P, nullptr, path.c_str())
                                : glp_read_mps(P, format == Format::kFreeMps ? GLP_MPS_FILE : GLP_MPS_DECK, nullptr,
                                               path.c_str());
  });
  if (!ok || ret != 0) {
    // GLPK's reader prints "path:line: what is wrong"; that is the message users need.
    return Status(StatusCode::kParseError,
                  fmt::format("'{}' is not a valid {} file: {}", path, format_name(format), session.log_tail(2)));
  }
  return problem.to_model(path);
}

}  // namespace

Status write_mps(const MipModel& model, const std::string& path) { return write_model(model, path, Format::kFreeMps); }
Status write_lp(const MipModel& model, const std::string& path) { return write_model(model, path, Format::kLp); }

Result<MipModel> read_mps(const std::string& path, bool fixed_format) {
  return read_model(path, fixed_format ? Format::kFixedMps : Format::kFreeMps);
}
Result<MipModel> read_lp(const std::string& path) { return read_model(path, Format::kLp); }

SolveResult solve_lp_relaxation(const MipModel& model, const LpOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SolveResult result;
  result.solver_name = options.interior_point ? "glpk-interior" : "glpk-simplex";
  const bool minimize = model.sense() == ObjectiveSense::kMinimize;
  result.objective = minimize ? kInf : -kInf;
  result.best_bound = minimize ? -kInf : kInf;
  auto finish = [&](Termination t, std::string message) {
    result.termination = t;
    result.message = std::move(message);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  if (std::isnan(options.time_limit) || options.time_limit < 0)
    return finish(Termination::kInvalidInput, fmt::format("invalid options: time_limit must be >= 0 (is {})", options.time_limit));
  if (model.num_variables() == 0) return finish(Termination::kInvalidInput, "the model has no variables");
  if (Status s = model.validate(); !s.ok()) return finish(Termination::kInvalidInput, "invalid model: " + s.message());
  if (options.time_limit == 0) return finish(Termination::kNoSolutionFound, "time limit is 0: nothing was solved");

  detail::GlpkSession session;
  detail::GlpkProblem problem(session);
  if (!problem.load(model, /*relax=*/true))
    return finish(Termination::kError, "GLPK failed while loading the model: " + session.log_tail(4));
  glp_prob* P = problem.get();
  const int n = static_cast<int>(model.num_variables());
  int ret = 0, status = GLP_UNDEF;
  const bool ok = session.guarded([&] {
    if (options.interior_point) {
      glp_iptcp ipt;
      glp_init_iptcp(&ipt);
      ipt.msg_lev = GLP_MSG_ERR;
      ret = glp_interior(P, &ipt);
      status = glp_ipt_status(P);
    } else {
      glp_smcp smcp;
      glp_init_smcp(&smcp);
      smcp.msg_lev = GLP_MSG_ERR;
      smcp.presolve = options.presolve ? GLP_ON : GLP_OFF;
      const double ms = options.time_limit * 1000.0;
      smcp.tm_lim = !std::isfinite(ms) || ms >= INT_MAX ? INT_MAX : std::max(1, static_cast<int>(ms));
      ret = glp_simplex(P, &smcp);
      status = glp_get_status(P);
    }
  });
  result.log = session.log();
  if (!ok) return finish(Termination::kError, "GLPK failed: " + session.log_tail(4));
  if (ret == GLP_ETMLIM) return finish(Termination::kNoSolutionFound, "time limit reached");
  if (ret == GLP_ENOPFS || status == GLP_NOFEAS) return finish(Termination::kInfeasible, "the LP relaxation is infeasible");
  if (ret == GLP_ENODFS || status == GLP_UNBND) return finish(Termination::kUnbounded, "the LP relaxation is unbounded");
  if (ret != 0 || status != GLP_OPT)
    return finish(Termination::kError, fmt::format("GLPK returned {} with status {}: {}", ret, status, session.log_tail(3)));
  result.has_solution = true;
  result.values.resize(static_cast<std::size_t>(n));
  for (int j = 1; j <= n; ++j)
    result.values[static_cast<std::size_t>(j - 1)] = options.interior_point ? glp_ipt_col_prim(P, j) : glp_get_col_prim(P, j);
  result.objective = options.interior_point ? glp_ipt_obj_val(P) : glp_get_obj_val(P);
  result.best_bound = result.objective;  // the relaxation's optimum bounds the MIP
  result.gap = 0;
  return finish(Termination::kOptimal, "LP relaxation solved");
}

OPPLAN_END_NAMESPACE
