// MPS and CPLEX-LP files through GLPK's readers and writers, and the LP relaxation.
#include <opplan/solver.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

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

// GLPK's MPS reader and writer know no objective sense (glpsol takes --max instead). opplan writes
// the common free-MPS extension "OBJSENSE / MAX" that CBC, HiGHS and others read, and strips it
// again before handing a file to GLPK.
Status add_objsense_section(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::string content = text.str();
  const auto name_line = content.find("\nNAME");
  const auto insert_at = name_line == std::string::npos ? std::string::npos : content.find('\n', name_line + 1);
  if (insert_at == std::string::npos) return Status(StatusCode::kInternal, "MPS file written by GLPK has no NAME line");
  content.insert(insert_at + 1, "OBJSENSE\n    MAX\n");
  std::ofstream out(path, std::ios::trunc);
  out << content;
  if (!out) return Status(StatusCode::kIoError, fmt::format("cannot write '{}'", path));
  return Status::Ok();
}

// Copies an MPS file with its OBJSENSE section turned into comments (so line numbers in GLPK's
// messages stay right) to a temporary file; returns its path, or an empty string when the file has
// no such section. *maximize is set from the section.
std::string strip_objsense_section(const std::string& path, bool* maximize) {
  std::ifstream in(path);
  std::string line, kept;
  bool found = false, in_section = false;
  while (std::getline(in, line)) {
    std::string word = line;
    word.erase(0, word.find_first_not_of(" \t"));
    const bool indicator = !line.empty() && line[0] != ' ' && line[0] != '\t' && line[0] != '*';
    if (in_section && !indicator) {
      if (word.rfind("MAX", 0) == 0) *maximize = true;
      kept += "* " + line + '\n';
      continue;
    }
    in_section = false;
    if (indicator && line.rfind("OBJSENSE", 0) == 0) {
      found = true;
      in_section = true;
      if (line.find("MAX") != std::string::npos) *maximize = true;  // "OBJSENSE MAX" on one line
      kept += "* " + line + '\n';
      continue;
    }
    kept += line;
    kept += '\n';
  }
  if (!found) return {};
  // Unique across threads (counter) and processes (a random tag drawn once per process).
  static std::atomic<unsigned> counter{0};
  static const unsigned process_tag = std::random_device{}();
  const auto tmp = std::filesystem::temp_directory_path() /
                   fmt::format("opplan-{:08x}-{}.mps", process_tag, counter++);
  std::ofstream out(tmp);
  out << kept;
  return out ? tmp.string() : std::string();
}

// GLPK's LP reader knows no objective constant; its writer keeps it in a comment right after the
// objective (a line "\* constant term = 10 *\"), which is read back here. 0 when there is none.
double lp_objective_constant(const std::string& path) {
  static const std::string kTag = "\\* constant term = ";
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kTag, 0) == 0) return std::strtod(line.c_str() + kTag.size(), nullptr);
    std::string word;
    std::istringstream(line) >> word;
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (word == "subject" || word == "such" || word == "st" || word == "s.t.") break;  // the constraints begin
  }
  return 0;
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
  if (format != Format::kLp && model.sense() == ObjectiveSense::kMaximize) return add_objsense_section(path);
  return Status::Ok();
}

Result<MipModel> read_model(const std::string& path, Format format) {
  if (!std::ifstream(path).good()) return Status(StatusCode::kIoError, fmt::format("cannot open '{}'", path));
  bool maximize = false;
  std::string stripped;
  if (format != Format::kLp) stripped = strip_objsense_section(path, &maximize);
  struct RemoveOnExit {
    std::string file;
    ~RemoveOnExit() {
      if (!file.empty()) std::filesystem::remove(file);
    }
  } cleanup{stripped};
  const std::string& source = stripped.empty() ? path : stripped;
  detail::GlpkSession session;
  detail::GlpkProblem problem(session);
  if (!problem.get()) return Status(StatusCode::kInternal, "GLPK could not create a problem");
  glp_prob* P = problem.get();
  int ret = 1;
  const bool ok = session.guarded([&] {
    ret = format == Format::kLp ? glp_read_lp(P, nullptr, source.c_str())
                                : glp_read_mps(P, format == Format::kFreeMps ? GLP_MPS_FILE : GLP_MPS_DECK, nullptr,
                                               source.c_str());
  });
  if (!ok || ret != 0) {
    // GLPK's reader prints "path:line: what is wrong"; that is the message users need.
    std::string why = session.log_tail(2);
    if (!stripped.empty())
      for (auto at = why.find(stripped); at != std::string::npos; at = why.find(stripped, at + path.size()))
        why.replace(at, stripped.size(), path);
    return Status(StatusCode::kParseError, fmt::format("'{}' is not a valid {} file: {}", path, format_name(format), why));
  }
  MipModel model = problem.to_model(path);
  if (maximize) model.set_sense(ObjectiveSense::kMaximize);
  if (format == Format::kLp) model.add_to_objective(LinearExpr(lp_objective_constant(path)));
  return model;
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
      if (ret == GLP_ENOFEAS || status == GLP_NOFEAS) {
        // "No primal or dual feasible solution": the interior point method cannot tell infeasible
        // from unbounded; the simplex method can.
        glp_smcp smcp;
        glp_init_smcp(&smcp);
        smcp.msg_lev = GLP_MSG_ERR;
        ret = glp_simplex(P, &smcp);
        status = glp_get_status(P);
        if (ret == 0 && status == GLP_OPT) status = GLP_UNDEF;  // should not happen: report an error
      }
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
