// plan() at the limits (issue 16): planning time and peak memory against graph size (chain graphs of
// 10^3 .. 2 x 10^5 ops, generated here) and against the micro-batch count (GPT-3 1.3B, 8 .. 10^5),
// on one DGX-A100 node with the default strategy (auto), as two Markdown tables.
//
//   bench_plan_limits [seconds per plan=60] [largest graph=200000] [most micro-batches=100000]
//
// Each plan runs in a child process, so that its peak resident memory (getrusage's ru_maxrss of
// that child alone) is its own. "refused" rows give the library's message: above its documented
// caps (kMaxPlannerInstances, kMaxOperatorTasks) plan() refuses instead of allocating.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <opplan/opplan.hpp>
#include <string>
#include <vector>

namespace {

// A chain of n ops: each a 1 GFLOP-per-phase matmul with 1 MB of parameters and activations,
// joined by 1 MB tensors.
opplan::Graph chain(int n) {
  opplan::Graph g(fmt::format("chain{}", n));
  opplan::OpId previous;
  for (int i = 0; i < n; ++i) {
    opplan::Op op;
    op.name = fmt::format("op{}", i);
    op.kind = "matmul";
    op.forward.flops = op.input_grad.flops = op.weight_grad.flops = 1e9;
    op.forward.bytes = op.input_grad.bytes = op.weight_grad.bytes = 1e6;
    op.param_bytes = 1e6;
    op.activation_bytes = 1e6;
    const opplan::OpId id = g.add_op(op);
    if (i > 0) g.add_edge(previous, id, 1e6);
    previous = id;
  }
  return g;
}

struct Row {
  std::string outcome;
  double seconds = 0, peak_gb = 0;
};

// Runs `make_and_plan` in a child; its one-line outcome comes back through a pipe.
Row measure(const std::function<std::string()>& make_and_plan) {
  int fd[2];
  if (pipe(fd) != 0) return {"pipe failed"};
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    close(fd[0]);
    std::string line;
    try {
      line = make_and_plan();
    } catch (const std::exception& e) {
      line = fmt::format("exception: {}", e.what());
    }
    const ssize_t written = write(fd[1], line.data(), line.size());
    _exit(written == static_cast<ssize_t>(line.size()) ? 0 : 1);
  }
  close(fd[1]);
  const auto t0 = std::chrono::steady_clock::now();
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(fd[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  close(fd[0]);
  int status = 0;
  rusage usage{};
  wait4(child, &status, 0, &usage);
  Row row;
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.peak_gb = static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // KB on Linux
  row.outcome = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status)) : text;
  return row;
}

std::string outcome(const opplan::Result<opplan::Plan>& p) {
  if (!p.ok()) return "refused: " + p.status().message().substr(0, 160);
  return fmt::format("{} plan, iteration {:.3g} s, gap {:.1f}%, {}{}", p->summary.strategy, p->iteration_seconds,
                     100 * p->gap, opplan::to_string(p->summary.termination), p->verified ? ", verified" : "");
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 60;
  const int largest = argc > 2 ? std::atoi(argv[2]) : 200000;
  const int most = argc > 3 ? std::atoi(argv[3]) : 100000;
  const opplan::Cluster cluster = opplan::Cluster::dgx_a100();
  opplan::PlanOptions options;
  options.time_limit = seconds;

  fmt::print("plan() on dgx-a100, strategy auto, time limit {:g} s\n\n", seconds);
  fmt::print("| chain ops | micro-batches | wall s | peak GB | outcome |\n|---:|---:|---:|---:|---|\n");
  for (int n : {1000, 10000, 50000, 100000, 200000}) {
    if (n > largest) break;
    const Row r = measure([&] { return outcome(opplan::plan(chain(n), cluster, options)); });
    fmt::print("| {} | {} | {:.2f} | {:.2f} | {} |\n", n, options.micro_batches, r.seconds, r.peak_gb, r.outcome);
  }
  fmt::print("\n| model | micro-batches | wall s | peak GB | outcome |\n|---|---:|---:|---:|---|\n");
  for (int m : {8, 100, 1000, 10000, 100000, 1000000}) {
    if (m > most && m != 1000000) break;
    opplan::PlanOptions o = options;
    o.micro_batches = m;
    const Row r = measure([&] { return outcome(opplan::plan(opplan::zoo_model("gpt3-1.3b").value(), cluster, o)); });
    fmt::print("| gpt3-1.3b | {} | {:.2f} | {:.2f} | {} |\n", m, r.seconds, r.peak_gb, r.outcome);
  }
  return 0;
}
