// ShardingFormulation on hand-made problems: a frustrated triangle whose LP relaxation is
// fractional (so branching is needed), rounding, extensions through the published variables, and
// follow-merging arithmetic.
#include <opplan/sharding.hpp>
#include <opplan/solver.hpp>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace opplan {
namespace {

ShardingStrategy strategy(const std::string& name, double seconds, double memory = 0) {
  ShardingStrategy s;
  s.name = name;
  s.compute_seconds = seconds;
  s.memory_bytes = memory;
  return s;
}

// Three ops, each with two strategies, edges a->b, b->c, a->c costing 1 ms when both ends pick the
// same strategy: an odd cycle cannot alternate, so the optimum is 1 ms, while the LP relaxation
// takes every strategy at 1/2 and pays nothing.
struct Triangle {
  Graph graph{"triangle"};
  ShardingProblem problem;
  Triangle() {
    for (const char* name : {"a", "b", "c"}) {
      Op op;
      op.name = name;
      op.kind = "matmul";
      graph.add_op(op);
      problem.strategies.push_back({strategy("x", 0, 1), strategy("y", 0, 2)});
    }
    const std::pair<int, int> edges[] = {{0, 1}, {1, 2}, {0, 2}};
    for (const auto& [u, v] : edges) {
      graph.add_edge(OpId(u), OpId(v));
      problem.edge_src.push_back(OpId(u));
      problem.edge_dst.push_back(OpId(v));
      problem.resharding.push_back({1e-3, 0, 0, 1e-3});
    }
    problem.device_memory = 100;
  }
};

TEST(ShardingFormulationTest, FractionalRelaxationNeedsBranching) {
  Triangle t;
  ShardingFormulation f(t.graph, t.problem);
  auto model = f.build();
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ(f.num_nodes(), 3u);
  EXPECT_EQ(f.num_edges(), 3u);
  EXPECT_EQ(model->num_variables(), 3u * 2 + 3u * 4);
  EXPECT_EQ(f.num_pruned(), 0u);
  const SolveResult lp = solve_lp_relaxation(*model);
  ASSERT_EQ(lp.termination, Termination::kOptimal);
  EXPECT_NEAR(lp.objective, 0, 1e-9);
  EXPECT_FALSE(f.is_integral(lp.values, 1e-6));

  // Rounding gives a feasible assignment; branch-and-bound the optimum, 1 ms = 1000 ILP units.
  const std::vector<double> rounded = f.round(lp.values);
  EXPECT_TRUE(model->check_solution(rounded).ok());
  GlpkSolver solver;
  const SolveResult mip = solver.solve(*model);
  ASSERT_TRUE(mip.has_solution);
  EXPECT_NEAR(mip.objective, 1e-3 * ShardingFormulation::kObjectiveScale, 1e-6);
  const std::vector<int> choice = f.decode(mip.values);
  EXPECT_NEAR(t.problem.cost(choice), 1e-3, 1e-12);
  EXPECT_TRUE(f.is_integral(mip.values, 1e-6));
}

TEST(ShardingFormulationTest, ExtensionsSeeTheStrategyVariables) {
  Triangle t;
  ShardingFormulation f(t.graph, t.problem);
  // Forbid strategy "y" of op a through its published key: a = x, so b, c must differ from x and
  // from each other's... only one of the edges can be satisfied differently; cost stays 1 ms.
  f.add_extension([](MipModel& model, const VariableGroups& vars) {
    const auto y = vars.find("s", "a/y");
    if (!y) return Status(StatusCode::kNotFound, "no variable a/y");
    model.set_bounds(*y, 0, 0);
    return Status::Ok();
  });
  auto model = f.build();
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ(f.variables().get("s").size(), 6u);
  GlpkSolver solver;
  const SolveResult mip = solver.solve(*model);
  ASSERT_TRUE(mip.has_solution);
  EXPECT_EQ(f.decode(mip.values)[0], 0);
  EXPECT_NEAR(mip.objective, 1e3, 1e-6);
}

TEST(ShardingFormulationTest, MemoryRowAndMinimum) {
  Triangle t;
  ShardingOptions options;
  options.memory_budget = 4;  // each op needs 1 (x) or 2 (y): at most one y
  ShardingFormulation f(t.graph, t.problem, options);
  EXPECT_DOUBLE_EQ(f.minimum_memory(), 3);
  auto model = f.build();
  ASSERT_TRUE(model.ok());
  GlpkSolver solver;
  const SolveResult mip = solver.solve(*model);
  const std::vector<int> choice = f.decode(mip.values);
  EXPECT_LE(t.problem.memory(choice), 4);
  EXPECT_NEAR(mip.objective, 1e3, 1e-6);

  options.memory_budget = 2.5;
  ShardingFormulation too_small(t.graph, t.problem, options);
  auto failed = too_small.build();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), ::testing::HasSubstr("at least 3 bytes"));
}

TEST(ShardingFormulationTest, AProblemThatDoesNotFitTheGraphIsAnError) {
  Triangle t;
  t.problem.resharding[1].pop_back();
  ShardingFormulation f(t.graph, t.problem);
  auto model = f.build();
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), ::testing::HasSubstr("edge #1 ('b' -> 'c') has 3 resharding costs for 4"));
  t.problem.strategies.pop_back();
  ShardingFormulation g(t.graph, t.problem);
  EXPECT_THAT(g.build().status().message(), ::testing::HasSubstr("2 ops"));
  EXPECT_THROW(t.problem.cost({0, 0}), std::invalid_argument);
}

// Op b is a light op following a: for each strategy of a it takes the strategy that is cheapest
// given the edge, and the folded costs make the ILP objective exact.
TEST(ShardingFormulationTest, FollowersTakeTheirCheapestStrategyGivenTheLeader) {
  Graph g("follow");
  Op a;
  a.name = "a";
  a.kind = "matmul";
  Op b;
  b.name = "b";
  b.kind = "elementwise";
  g.add_op(a);
  g.add_op(b);
  g.add_edge(OpId(0), OpId(1));
  ShardingProblem p;
  p.device_memory = kInf;
  p.strategies = {{strategy("x", 5e-3), strategy("y", 1e-3)}, {strategy("x", 1e-3), strategy("y", 4e-3)}};
  p.edge_src = {OpId(0)};
  p.edge_dst = {OpId(1)};
  p.resharding = {{0, 2e-3, 2e-3, 0}};  // switching layouts costs 2 ms
  ShardingFormulation f(g, p);
  EXPECT_EQ(f.num_followers(), 1u);
  EXPECT_EQ(f.leader_of(OpId(1)), OpId(0));
  auto model = f.build();
  ASSERT_TRUE(model.ok());
  // a = y with b = x (4 ms) beats a = x with b = x (6 ms) whatever the rest: x is dropped as
  // dominated and nothing is left to choose.
  EXPECT_EQ(f.num_pruned(), 1u);
  EXPECT_EQ(f.num_nodes(), 0u);
  const SolveResult lp = solve_lp_relaxation(*model);
  // a = y (1 ms); b then takes x (1 + 2 ms) rather than y (4 ms): 4 ms in all, the true optimum.
  EXPECT_NEAR(lp.objective, 4e3, 1e-6);
  EXPECT_EQ(f.decode(lp.values), (std::vector<int>{1, 0}));
}

}  // namespace
}  // namespace opplan
