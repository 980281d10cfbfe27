// Question: what does opplan's GLPK wrapper cost on top of GLPK itself?
// Target (issue 3): solve time within 10 % of `glpsol` on the same MPS files.
//
// For each seeded instance: write the MPS file, solve it with opplan::GlpkSolver (presolve on,
// gap 0, as glpsol's defaults) and with `glpsol --mps FILE` in the same run, `repeats` times each,
// and compare the medians. opplan's time includes building GLPK's problem from the MipModel and
// the callback that tracks bound and nodes; glpsol's includes process start and reading the file.
// The objectives must agree, else the program fails. Node counts are printed for both: GLPK can
// take a different pivot sequence on a problem read from a file than on the same problem loaded in
// memory, and then the two searches differ; the wrapper's own cost shows on the instances whose
// node counts agree.
//
// usage: bench_solve_vs_glpsol [repeats=3] [workdir=/tmp]
#include <opplan/opplan.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "instances.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The node count of glpsol's last progress line "+ 24787: mip = ... (0; 13185)".
long glpsol_nodes(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  long nodes = -1;
  while (std::getline(in, line)) {
    const auto semi = line.rfind("; ");
    if (line.rfind("+ ", 0) == 0 && semi != std::string::npos) nodes = std::strtol(line.c_str() + semi + 2, nullptr, 10);
  }
  return nodes;
}

// glpsol writes "Objective:  <row name> = -1234 (MINimum)" to its -o report.
bool glpsol_objective(const std::string& report, double* objective) {
  std::ifstream in(report);
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find('=');
    if (line.rfind("Objective:", 0) == 0 && at != std::string::npos) {
      *objective = std::strtod(line.c_str() + at + 1, nullptr);
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const std::string dir = argc > 2 ? argv[2] : "/tmp";
  if (std::system("glpsol --version > /dev/null 2>&1") != 0) {
    std::fprintf(stderr, "glpsol not found (Debian package glpk-utils)\n");
    return 2;
  }

  std::vector<opplan_bench::Instance> instances;
  instances.push_back(opplan_bench::multi_knapsack(90, 10, 2));
  instances.push_back(opplan_bench::set_cover(200, 400, 3));
  instances.push_back(opplan_bench::set_cover(150, 300, 5));
  instances.push_back(opplan_bench::machine_scheduling(8, 2, 4));

  std::printf("%-20s %5s %5s %6s %10s %8s %8s %9s %9s %7s\n", "instance", "vars", "rows", "nnz", "objective",
              "nodes", "glpsol", "opplan s", "glpsol s", "ratio");
  double sum_ratio = 0;
  bool all_agree = true;
  for (auto& inst : instances) {
    const std::string mps = dir + "/opplan-bench-" + inst.name + ".mps";
    const std::string out = mps + ".out";
    if (auto s = opplan::write_mps(inst.model, mps); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());
      return 1;
    }
    opplan::GlpkSolver solver;
    opplan::SolveArguments args;
    args.options.relative_gap = 0;
    args.options.log_level = 0;
    std::vector<double> ours, theirs;
    double our_objective = NAN, their_objective = NAN;
    long our_nodes = 0, their_nodes = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      const auto result = solver.solve(inst.model, args);
      ours.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      if (result.termination != opplan::Termination::kOptimal) {
        std::fprintf(stderr, "%s: %s\n", inst.name.c_str(), result.BriefReport().c_str());
        return 1;
      }
      our_objective = result.objective;
      our_nodes = static_cast<long>(result.nodes);

      const std::string log = out + ".log";
      const std::string cmd = "glpsol --freemps '" + mps + "' -o '" + out + "' > '" + log + "' 2>&1";
      const auto t1 = Clock::now();
      const int rc = std::system(cmd.c_str());
      theirs.push_back(std::chrono::duration<double>(Clock::now() - t1).count());
      if (rc != 0 || !glpsol_objective(out, &their_objective)) {
        std::fprintf(stderr, "%s: glpsol failed (exit %d)\n", inst.name.c_str(), rc);
        return 1;
      }
      their_nodes = glpsol_nodes(log);
      std::remove(log.c_str());
    }
    const double ratio = median(ours) / median(theirs);
    sum_ratio += ratio;
    const bool agree = std::abs(our_objective - their_objective) <= 1e-6 * std::max(1.0, std::abs(our_objective));
    all_agree = all_agree && agree;
    std::printf("%-20s %5zu %5zu %6zu %10.6g %8ld %8ld %9.3f %9.3f %7.3f%s\n", inst.name.c_str(),
                inst.model.num_variables(), inst.model.num_rows(), inst.model.num_nonzeros(), our_objective, our_nodes,
                their_nodes, median(ours), median(theirs), ratio, agree ? "" : "  OBJECTIVES DIFFER");
    std::remove(out.c_str());
  }
  std::printf("mean time ratio opplan/glpsol: %.3f (target < 1.10)\n", sum_ratio / static_cast<double>(instances.size()));
  return all_agree ? 0 : 1;
}
