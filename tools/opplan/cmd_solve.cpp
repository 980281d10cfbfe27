// `opplan solve MODEL.mps|MODEL.lp`: solve any MIP file with opplan's GLPK backend, e.g. one that
// opplan exported, to compare with another solver on exactly the same instance. Ctrl-C stops the
// search and prints the best solution found so far.
#include <atomic>
#include <cmath>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opplan/solver.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct SolveArgs {
  std::string model_file;
  double time_limit = kInf;
  double gap = 1e-6;
  bool fixed_mps = false;
  bool lp_relaxation = false;
  bool show_log = false;
  bool json = false;
};

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

int run_solve(const SolveArgs& args) {
  auto model = ends_with(args.model_file, ".lp") ? read_lp(args.model_file) : read_mps(args.model_file, args.fixed_mps);
  if (!model.ok()) return report_error(model.status(), args.model_file);

  SolveResult result;
  if (args.lp_relaxation) {
    LpOptions options;
    options.time_limit = args.time_limit;
    result = solve_lp_relaxation(*model, options);
  } else {
    SolveArguments solve_args;
    solve_args.options.time_limit = args.time_limit;
    solve_args.options.relative_gap = args.gap;
    solve_args.options.log_level = args.show_log ? 2 : 1;
    solve_args.interrupt = &g_interrupted;
    auto previous = std::signal(SIGINT, on_sigint);
    GlpkSolver solver;
    result = solver.solve(*model, solve_args);
    std::signal(SIGINT, previous);
  }
  if (result.termination == Termination::kInvalidInput || result.termination == Termination::kError)
    return report_error(fmt::format("{}: {}: {}", args.model_file, to_string(result.termination), result.message));

  if (args.json) {
    nlohmann::ordered_json out;
    out["model"] = {{"file", args.model_file},
                    {"variables", model->num_variables()},
                    {"rows", model->num_rows()},
                    {"nonzeros", model->num_nonzeros()}};
    out["termination"] = to_string(result.termination);
    out["message"] = result.message;
    out["has_solution"] = result.has_solution;
    out["objective"] = result.has_solution ? number_or_null(result.objective) : nlohmann::ordered_json(nullptr);
    out["best_bound"] = number_or_null(result.best_bound);
    out["gap"] = number_or_null(result.gap);
    out["nodes"] = result.nodes;
    out["seconds"] = result.seconds;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format("model         {}\n", model->summary());
    std::cout << result.FullReport();
    if (!args.show_log) return kExitOk;
  }
  if (args.show_log) std::cerr << result.log;
  return kExitOk;
}

}  // namespace

Command add_solve_command(CLI::App& parent) {
  auto args = std::make_shared<SolveArgs>();
  CLI::App* app = parent.add_subcommand(
      "solve", "Solve a MIP file (free MPS, or CPLEX LP when it ends in .lp) with the GLPK backend");
  app->add_option("MODEL", args->model_file, "Model file: .mps (free format) or .lp")->required();
  app->add_option("--time-limit", args->time_limit, "Seconds; the best solution so far is reported at the limit")
      ->check(number_above(0, true));
  app->add_option("--gap", args->gap, "Relative gap at which to stop (default 1e-6)")->check(number_above(0, true));
  app->add_flag("--fixed-mps", args->fixed_mps, "Read MODEL as fixed-format MPS");
  app->add_flag("--lp-relaxation", args->lp_relaxation, "Solve the LP relaxation only (a bound)");
  app->add_flag("--log", args->show_log, "Print GLPK's log on stderr");
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_solve(*args); }};
}

}  // namespace opplan::cli
