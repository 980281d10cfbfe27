#include <opplan/graph.hpp>

#include <limits>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::Graph;
using opplan::Op;
using opplan::OpId;
using ::testing::HasSubstr;

Graph diamond() {
  // a -> b -> d, a -> c -> d, with b heavier than c.
  Graph g;
  for (const char* n : {"a", "b", "c", "d"}) {
    Op op;
    op.name = n;
    g.add_op(op);
  }
  g.add_edge(OpId(0), OpId(1), 1);
  g.add_edge(OpId(0), OpId(2), 1);
  g.add_edge(OpId(1), OpId(3), 1);
  g.add_edge(OpId(2), OpId(3), 1);
  return g;
}

bool is_topological(const Graph& g, const std::vector<OpId>& order) {
  if (order.size() != g.num_ops()) return false;
  std::vector<int> pos(g.num_ops(), -1);
  for (std::size_t i = 0; i < order.size(); ++i) pos[order[i].value()] = static_cast<int>(i);
  for (auto e : g.edges())
    if (pos[g.edge(e).src.value()] >= pos[g.edge(e).dst.value()]) return false;
  return true;
}

TEST(GraphAlgorithms, TopologicalOrderOfADiamond) {
  const Graph g = diamond();
  auto order = g.topological_order();
  ASSERT_TRUE(order.ok());
  EXPECT_TRUE(is_topological(g, *order));
  EXPECT_EQ(order->front(), OpId(0));
  EXPECT_EQ(order->back(), OpId(3));
}

TEST(GraphAlgorithms, TopologicalOrderOfRandomDagsIsValidAndDeterministic) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    Graph g;
    const int n = 50;
    for (int i = 0; i < n; ++i) g.add_op(Op{});
    // Edges only from a lower to a higher position of a random permutation: a DAG by construction.
    std::vector<std::uint32_t> perm(n);
    for (int i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::uniform_int_distribution<int> pick(0, n - 1);
    for (int k = 0; k < 120; ++k) {
      int i = pick(rng), j = pick(rng);
      if (i == j) continue;
      if (i > j) std::swap(i, j);
      g.add_edge(OpId(perm[i]), OpId(perm[j]), 1);
    }
    auto first = g.topological_order();
    auto second = g.topological_order();
    ASSERT_TRUE(first.ok());
    EXPECT_TRUE(is_topological(g, *first));
    EXPECT_EQ(*first, *second);
    EXPECT_FALSE(g.find_cycle().has_value());
  }
}

TEST(GraphAlgorithms, FindCycleReturnsAClosedCycle) {
  Graph g = diamond();
  g.add_edge(OpId(3), OpId(1), 1);  // b -> d -> b
  auto cycle = g.find_cycle();
  ASSERT_TRUE(cycle.has_value());
  ASSERT_EQ(cycle->size(), 2u);
  // Every consecutive pair, and last -> first, is an edge of the graph.
  for (std::size_t i = 0; i < cycle->size(); ++i) {
    const OpId from = (*cycle)[i];
    const OpId to = (*cycle)[(i + 1) % cycle->size()];
    EXPECT_THAT(g.successors(from), ::testing::Contains(to));
  }
  auto order = g.topological_order();
  ASSERT_FALSE(order.ok());
  EXPECT_THAT(order.status().message(), ::testing::AnyOf(HasSubstr("'b' -> 'd' -> 'b'"), HasSubstr("'d' -> 'b' -> 'd'")));
}

TEST(GraphAlgorithms, SelfLoopIsACycleOfOne) {
  Graph g;
  const OpId a = g.add_op(Op{});
  g.add_edge(a, a, 1);
  auto cycle = g.find_cycle();
  ASSERT_TRUE(cycle.has_value());
  EXPECT_EQ(*cycle, std::vector<OpId>{a});
}

TEST(GraphAlgorithms, CriticalPathTakesTheHeavierBranch) {
  const Graph g = diamond();
  const std::vector<double> cost = {1, 5, 2, 1};
  auto cp = g.critical_path([&](OpId id) { return cost[id.value()]; });
  ASSERT_TRUE(cp.ok()) << cp.status().to_string();
  EXPECT_DOUBLE_EQ(cp->length, 7.0);
  EXPECT_EQ(cp->ops, (std::vector<OpId>{OpId(0), OpId(1), OpId(3)}));
}

TEST(GraphAlgorithms, CriticalPathCountsEdgeCosts) {
  const Graph g = diamond();
  const std::vector<double> cost = {1, 5, 2, 1};
  // A slow transfer on a -> c makes the light branch critical: 1 + 10 + 2 + 1 = 14.
  auto cp = g.critical_path([&](OpId id) { return cost[id.value()]; },
                            [](opplan::EdgeId e) { return e.value() == 1 ? 10.0 : 0.0; });
  ASSERT_TRUE(cp.ok());
  EXPECT_DOUBLE_EQ(cp->length, 14.0);
  EXPECT_EQ(cp->ops, (std::vector<OpId>{OpId(0), OpId(2), OpId(3)}));
}

TEST(GraphAlgorithms, CriticalPathOfDisconnectedOpsIsTheHeaviestOp) {
  Graph g;
  for (int i = 0; i < 3; ++i) g.add_op(Op{});
  auto cp = g.critical_path([](OpId id) { return id.value() == 1 ? 9.0 : 1.0; });
  ASSERT_TRUE(cp.ok());
  EXPECT_DOUBLE_EQ(cp->length, 9.0);
  EXPECT_EQ(cp->ops, std::vector<OpId>{OpId(1)});
  auto empty = Graph().critical_path([](OpId) { return 1.0; });
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->length, 0.0);
  EXPECT_TRUE(empty->ops.empty());
}

TEST(GraphAlgorithms, CriticalPathMatchesBruteForceOnRandomDags) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 9;
    Graph g;
    std::uniform_real_distribution<double> w(0.0, 10.0);
    std::vector<double> cost(n);
    for (int i = 0; i < n; ++i) {
      g.add_op(Op{});
      cost[i] = w(rng);
    }
    std::bernoulli_distribution has_edge(0.35);
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j)
        if (has_edge(rng)) g.add_edge(OpId(i), OpId(j), 1);
    // Brute force: longest path ending at each op by recursion over predecessors.
    std::function<double(int)> best_to = [&](int v) {
      double best = 0;
      for (OpId u : g.predecessors(OpId(v))) best = std::max(best, best_to(static_cast<int>(u.value())));
      return best + cost[v];
    };
    double expected = 0;
    for (int v = 0; v < n; ++v) expected = std::max(expected, best_to(v));
    auto cp = g.critical_path([&](OpId id) { return cost[id.value()]; });
    ASSERT_TRUE(cp.ok());
    EXPECT_NEAR(cp->length, expected, 1e-9);
    double along = 0;
    for (std::size_t i = 0; i < cp->ops.size(); ++i) {
      along += cost[cp->ops[i].value()];
      if (i > 0) EXPECT_THAT(g.successors(cp->ops[i - 1]), ::testing::Contains(cp->ops[i]));
    }
    EXPECT_NEAR(along, expected, 1e-9);
  }
}

TEST(GraphAlgorithms, CriticalPathRejectsBadCostsAndCycles) {
  const Graph g = diamond();
  auto neg = g.critical_path([](OpId id) { return id.value() == 2 ? -1.0 : 1.0; });
  ASSERT_FALSE(neg.ok());
  EXPECT_THAT(neg.status().message(), HasSubstr("op 'c' (#2) is -1"));
  auto nan = g.critical_path([](OpId) { return 1.0; },
                             [](opplan::EdgeId) { return std::numeric_limits<double>::quiet_NaN(); });
  ASSERT_FALSE(nan.ok());
  EXPECT_THAT(nan.status().message(), HasSubstr("edge #"));
  EXPECT_FALSE(g.critical_path(nullptr).ok());
  Graph cyclic = diamond();
  cyclic.add_edge(OpId(3), OpId(0), 1);
  auto cyc = cyclic.critical_path([](OpId) { return 1.0; });
  ASSERT_FALSE(cyc.ok());
  EXPECT_THAT(cyc.status().message(), HasSubstr("cycle"));
}

TEST(GraphAlgorithms, DeepChainDoesNotOverflowTheStack) {
  Graph g;
  const int n = 200000;
  g.reserve(n, n);
  for (int i = 0; i < n; ++i) g.add_op(Op{});
  for (int i = 0; i + 1 < n; ++i) g.add_edge(OpId(i), OpId(i + 1), 1);
  auto cp = g.critical_path([](OpId) { return 1.0; });
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->length, n);
  EXPECT_EQ(cp->ops.size(), static_cast<std::size_t>(n));
}

}  // namespace
