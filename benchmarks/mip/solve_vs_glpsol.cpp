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
// Second part, the equal search (issue 18): one scheduling instance of 10^4-10^5 nodes on which
// opplan and glpsol walk the same tree (the program checks that the node counts agree). opplan
// solves it as `opplan solve FILE.mps` does (read_mps, default options, an interrupt flag), once
// with no callback and once with a progress callback registered; glpsol runs with its defaults.
// Printed: the median times, the time ratio to glpsol's in the same run, and instructions per node
// when the CPU's counter can be read (perf_event_open; not in most virtual machines, where it says
// "n/a"). Instructions per node whatever the machine, with callgrind (see docs/mip-layer.md):
//
//   bench_solve_vs_glpsol --write-equal-search /tmp/equal.mps
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench_solve_vs_glpsol --one none /tmp/equal.mps
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null bench_solve_vs_glpsol --one progress /tmp/equal.mps
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null glpsol --freemps /tmp/equal.mps
//
// and divide each "I refs" (the whole process: start, reading the file, the search) by the nodes.
//
// usage: bench_solve_vs_glpsol [repeats=3] [workdir=/tmp]
//        bench_solve_vs_glpsol --write-equal-search FILE.mps
//        bench_solve_vs_glpsol --one none|progress FILE.mps
#include <opplan/opplan.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "instances.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The node count of glpsol's last progress line "+ 24787: mip = ... (0; 13185)" (from 100,000
// simplex iterations on, "+277056: mip = ...").
long glpsol_nodes(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  long nodes = -1;
  while (std::getline(in, line)) {
    const auto semi = line.rfind("; ");
    if (line.rfind('+', 0) == 0 && line.find(": ") != std::string::npos && semi != std::string::npos)
      nodes = std::strtol(line.c_str() + semi + 2, nullptr, 10);
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

// User-space instructions retired, from the CPU's counter (Linux perf_event_open). With
// `children`, the count includes the child processes that ended while it ran (glpsol under
// std::system). ok() is false where the counter cannot be opened (most virtual machines, or
// kernel.perf_event_paranoid > 2).
class InstructionCounter {
 public:
  explicit InstructionCounter(bool children) {
#if defined(__linux__)
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_HARDWARE;
    attr.size = sizeof(attr);
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.inherit = children ? 1 : 0;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
#else
    (void)children;
#endif
  }
  ~InstructionCounter() {
#if defined(__linux__)
    if (fd_ >= 0) close(fd_);
#endif
  }
  InstructionCounter(const InstructionCounter&) = delete;
  InstructionCounter& operator=(const InstructionCounter&) = delete;
  bool ok() const { return fd_ >= 0; }
  void start() {
#if defined(__linux__)
    if (fd_ < 0) return;
    ioctl(fd_, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
#endif
  }
  // Instructions since start(), or -1 without a counter.
  double stop() {
#if defined(__linux__)
    if (fd_ < 0) return -1;
    ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0);
    long long value = 0;
    if (read(fd_, &value, sizeof(value)) != static_cast<ssize_t>(sizeof(value))) return -1;
    return static_cast<double>(value);
#else
    return -1;
#endif
  }

 private:
  int fd_ = -1;
};

// The equal-search instance: 9 jobs of 1..5 time units on 2 machines (big-M disjunctions). GLPK
// needs about 44,000 nodes for it, and takes the same path on the problem opplan builds from the
// file as on the one glpsol reads (most instances of this shape differ by a few dozen nodes there).
opplan_bench::Instance equal_search_instance() { return opplan_bench::machine_scheduling(9, 2, 1, 1, 5); }

enum class Listener { kNone, kProgress };

struct OpplanRun {
  opplan::SolveResult result;
  int progress_reports = 0;
};

// As `opplan solve FILE.mps` does: read the file, default options, an interrupt flag (Ctrl-C);
// with kProgress, also a progress callback that counts its reports.
OpplanRun solve_file_like_the_cli(const std::string& mps, Listener listener) {
  OpplanRun run;
  auto model = opplan::read_mps(mps);
  if (!model.ok()) {
    run.result.termination = opplan::Termination::kError;
    run.result.message = model.status().to_string();
    return run;
  }
  static std::atomic<bool> interrupted{false};
  opplan::SolveArguments args;
  args.interrupt = &interrupted;
  if (listener == Listener::kProgress) {
    args.registration.progress = true;
    args.callback = [&run](const opplan::CallbackData&) {
      ++run.progress_reports;
      return opplan::CallbackResult{};
    };
  }
  run.result = opplan::GlpkSolver().solve(*model, args);
  return run;
}

std::string per_node(double instructions, long nodes) {
  if (instructions < 0 || nodes <= 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f", instructions / static_cast<double>(nodes));
  return text;
}

// Part 2 (see the top of the file). False when the searches or the optima differ.
bool equal_search(int repeats, const std::string& dir) {
  const opplan_bench::Instance inst = equal_search_instance();
  const std::string mps = dir + "/opplan-bench-equal-" + inst.name + ".mps";
  if (auto s = opplan::write_mps(inst.model, mps); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return false;
  }
  InstructionCounter in_process(false), with_children(true);
  struct Row {
    const char* name;
    std::vector<double> seconds, instructions;
    long nodes = -1;
    double objective = NAN;
    int reports = 0;
  };
  Row none{"opplan, no callback"}, progress{"opplan, progress callback"}, glpsol{"glpsol"};
  for (int r = 0; r < repeats; ++r) {
    for (Row* row : {&none, &progress}) {
      const Listener listener = row == &none ? Listener::kNone : Listener::kProgress;
      in_process.start();
      const auto t0 = Clock::now();
      const OpplanRun run = solve_file_like_the_cli(mps, listener);
      row->seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      row->instructions.push_back(in_process.stop());
      if (run.result.termination != opplan::Termination::kOptimal) {
        std::fprintf(stderr, "%s: %s: %s\n", inst.name.c_str(), row->name, run.result.BriefReport().c_str());
        return false;
      }
      row->nodes = static_cast<long>(run.result.nodes);
      row->objective = run.result.objective;
      row->reports = run.progress_reports;
    }
    const std::string out = mps + ".out", log = mps + ".log";
    const std::string cmd = "glpsol --freemps '" + mps + "' -o '" + out + "' > '" + log + "' 2>&1";
    with_children.start();
    const auto t1 = Clock::now();
    const int rc = std::system(cmd.c_str());
    glpsol.seconds.push_back(std::chrono::duration<double>(Clock::now() - t1).count());
    glpsol.instructions.push_back(with_children.stop());
    if (rc != 0 || !glpsol_objective(out, &glpsol.objective)) {
      std::fprintf(stderr, "%s: glpsol failed (exit %d)\n", inst.name.c_str(), rc);
      return false;
    }
    glpsol.nodes = glpsol_nodes(log);
    std::remove(out.c_str());
    std::remove(log.c_str());
  }

  std::printf("\nequal search: %s (%zu vars, %zu rows), %d repeat(s), medians\n", inst.name.c_str(),
              inst.model.num_variables(), inst.model.num_rows(), repeats);
  std::printf("%-27s %8s %10s %9s %7s %12s %8s\n", "", "nodes", "objective", "seconds", "ratio", "instr/node",
              "reports");
  const double base = median(glpsol.seconds);
  bool same = true;
  for (const Row* row : {&none, &progress, &glpsol}) {
    const bool agrees = row->nodes == glpsol.nodes && std::abs(row->objective - glpsol.objective) <= 1e-6;
    same = same && agrees;
    const std::string reports = row == &progress ? std::to_string(row->reports) : "";
    std::printf("%-27s %8ld %10.6g %9.3f %7.3f %12s %8s%s\n", row->name, row->nodes, row->objective,
                median(row->seconds), median(row->seconds) / base, per_node(median(row->instructions), row->nodes).c_str(),
                reports.c_str(), agrees ? "" : "  SEARCH DIFFERS FROM GLPSOL'S");
  }
  if (!in_process.ok())
    std::printf("instructions: no CPU counter here (perf_event_open failed); use callgrind as the top of "
                "benchmarks/mip/solve_vs_glpsol.cpp shows\n");
  std::printf("target: ratio < 1.10 with and without the progress callback\n");
  std::remove(mps.c_str());
  return same && progress.reports > 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--write-equal-search") == 0) {
    const auto s = opplan::write_mps(equal_search_instance().model, argv[2]);
    if (!s.ok()) std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return s.ok() ? 0 : 1;
  }
  if (argc == 4 && std::strcmp(argv[1], "--one") == 0) {
    // One solve, for callgrind: the process's instructions over the nodes printed.
    const bool with_progress = std::strcmp(argv[2], "progress") == 0;
    if (!with_progress && std::strcmp(argv[2], "none") != 0) {
      std::fprintf(stderr, "--one none|progress FILE.mps\n");
      return 2;
    }
    const OpplanRun run = solve_file_like_the_cli(argv[3], with_progress ? Listener::kProgress : Listener::kNone);
    std::printf("%s; %d progress reports\n", run.result.BriefReport().c_str(), run.progress_reports);
    return run.result.termination == opplan::Termination::kOptimal ? 0 : 1;
  }
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
  const bool equal = equal_search(repeats, dir);
  return all_agree && equal ? 0 : 1;
}
