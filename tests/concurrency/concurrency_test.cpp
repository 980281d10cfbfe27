// Re-entrancy of the planning entry points (issue 16): plan(), shard(), search_parallel_configs()
// (itself multi-threaded), evaluate() and GLPK solves called from several threads at once must each
// give exactly the result of the same call made alone. Its own executable, so that the
// ThreadSanitizer build (tools/check-sanitizers.sh) compiles the library and this file only.
//
// A result is compared through a fingerprint that holds every figure a user would read (times
// printed to 17 digits, placement, sharding, the schedule's tasks): any race that changes a plan
// changes its fingerprint.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <opplan/opplan.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using opplan::Cluster;
using opplan::Graph;

std::string exact(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string fingerprint(const opplan::Schedule& s) {
  std::string out = "schedule " + s.name + " makespan " + exact(s.metrics.makespan) + "\n";
  for (std::size_t d = 0; d < s.device_tasks.size(); ++d)
    for (const auto& t : s.device_tasks[d])
      out += std::to_string(d) + ":" + std::to_string(t.stream) + " " + exact(t.start) + "-" + exact(t.end) + "\n";
  return out;
}

std::string fingerprint(const opplan::Result<opplan::Plan>& p) {
  if (!p.ok()) return "error: " + p.status().to_string();
  std::string out = std::string(opplan::to_string(p->strategy)) + " " + exact(p->iteration_seconds) + " bound " + exact(p->lower_bound) +
                    (p->verified ? " verified\n" : " NOT verified\n");
  for (const auto d : p->placement) out += std::to_string(d.value()) + " ";
  out += "\n";
  for (const auto& s : p->sharding) out += s + ";";
  return out + "\n" + fingerprint(p->schedule);
}

Graph zoo(const char* name) {
  auto g = opplan::zoo_model(name);
  if (!g.ok()) throw std::runtime_error(g.status().to_string());
  return *std::move(g);
}

struct Job {
  std::string name;
  std::function<std::string()> run;
};

// Small instances of every entry point: seconds in a release build, so that a ThreadSanitizer
// build (5-15x slower) still runs them in a minute or two.
std::vector<Job> jobs() {
  static const Graph two_tower = zoo("two-tower");
  static const Graph inception = zoo("inception-stack");
  static const Graph gpt = zoo("gpt3-350m");
  static const Cluster dgx = Cluster::dgx_a100();
  std::vector<Job> out;
  for (const auto strategy :
       {opplan::PlanStrategy::kOperatorLevel, opplan::PlanStrategy::kHierarchical, opplan::PlanStrategy::kParallelConfig}) {
    const Graph* g = strategy == opplan::PlanStrategy::kOperatorLevel ? &inception
                     : strategy == opplan::PlanStrategy::kHierarchical ? &two_tower
                                                                       : &gpt;
    out.push_back({std::string("plan ") + opplan::to_string(strategy), [g, strategy] {
                     opplan::PlanOptions o;
                     o.strategy = strategy;
                     o.micro_batches = 2;
                     o.threads = 2;  // the config search runs its own workers inside this thread
                     return fingerprint(opplan::plan(*g, dgx, o));
                   }});
  }
  out.push_back({"shard", [] {
                   const opplan::AnalyticCostModel cost;
                   const auto s = opplan::shard(gpt, dgx, dgx.mesh(opplan::MeshId{0}), cost);
                   if (!s.ok()) return "error: " + s.status().to_string();
                   std::string f = exact(s->objective) + "\n";
                   for (const auto& op : s->ops) f += op.name + "=" + std::to_string(op.strategy) + " ";
                   return f;
                 }});
  out.push_back({"evaluate", [] {
                   opplan::ParallelConfig c;
                   c.tp = 2;
                   c.pp = 2;
                   c.dp = 2;
                   c.micro_batch_size = 1;
                   c.global_batch = 16;
                   c.schedule = opplan::PipelineSchedule::k1F1B;
                   const opplan::AnalyticCostModel cost;
                   const auto e = opplan::evaluate(gpt, dgx, c, cost, {});
                   if (!e.ok()) return "error: " + e.status().to_string();
                   return e->FullReport();
                 }});
  out.push_back({"glpk solve", [] {
                   // A knapsack with a unique optimum; the solve's figures, not only its objective.
                   opplan::MipModel m("knapsack");
                   opplan::LinearExpr weight, value;
                   for (int i = 0; i < 24; ++i) {
                     const auto x = m.add_binary("x" + std::to_string(i));
                     weight += (3.0 + (i * 7) % 11) * x;
                     value += (5.0 + (i * 13) % 17) * x;
                   }
                   m.add_row(weight <= 60.0, "capacity");
                   m.set_objective(value, opplan::ObjectiveSense::kMaximize);
                   const auto r = opplan::GlpkSolver().solve(m);
                   std::string f = std::string(opplan::to_string(r.termination)) + " " + exact(r.objective) + "\n";
                   for (const double v : r.values) f += exact(v) + " ";
                   return f;
                 }});
  return out;
}

TEST(Concurrency, EveryEntryPointOnFourThreadsGivesItsSerialResult) {
  const auto work = jobs();
  std::vector<std::string> serial;
  for (const auto& j : work) serial.push_back(j.run());
  for (std::size_t i = 0; i < work.size(); ++i) {
    ASSERT_EQ(serial[i].rfind("error", 0), std::string::npos) << work[i].name << ": " << serial[i];
  }

  // Four threads, each running every job in a different order, so that each job meets the others.
  constexpr int kThreads = 4;
  std::vector<std::vector<std::string>> got(kThreads, std::vector<std::string>(work.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t k = 0; k < work.size(); ++k) {
        const std::size_t i = (k + static_cast<std::size_t>(t) * 2) % work.size();
        got[t][i] = work[i].run();
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (std::size_t i = 0; i < work.size(); ++i) EXPECT_EQ(got[t][i], serial[i]) << work[i].name << " on thread " << t;
}

}  // namespace
