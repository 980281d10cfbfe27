// Strategies and costs against hand-computed figures: Alpa's matmul table (forward only),
// backward all-reduces, normalisation statistics, vocabulary-parallel embedding, and the
// resharding table of alpa.md section 1.
#include <opplan/cost_model.hpp>
#include <opplan/sharding.hpp>

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sharding_test_util.hpp"

namespace opplan {
namespace {

using sharding_test::make_op;
using sharding_test::strategy_named;
using sharding_test::two_level_cluster;

class StrategiesTest : public ::testing::Test {
 protected:
  // 2 x 2 mesh: axis 0 crosses nodes (slow), axis 1 stays inside one (fast).
  Cluster cluster = two_level_cluster(2, 2);
  Mesh mesh = make_mesh(cluster, 2, 2).value();
  AnalyticCostModel cost_model{AnalyticCostModel::Options::Alpa()};

  double collective(Collective c, int axis, double bytes) const {
    return cost_model.collective_time(cluster, c, mesh.axis_group(axis, 0, 0), bytes);
  }
  double all_reduce(int axis, double bytes) const { return collective(Collective::kAllReduce, axis, bytes); }

  ShardingProblem problem_of(const Graph& g) {
    auto p = build_sharding_problem(g, cluster, mesh, cost_model);
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    return std::move(p).value();
  }
  const ShardingStrategy& strategy(const ShardingProblem& p, const Graph& g, const std::string& op,
                                   const std::string& name) {
    const int i = strategy_named(p, g, op, name);
    EXPECT_GE(i, 0) << op << " has no strategy " << name;
    static const ShardingStrategy kNone;
    return i < 0 ? kNone : p.strategies[g.find_op(op)->value()][static_cast<std::size_t>(i)];
  }
};

// C[m, n] = A[m, k] B[k, n] with A and B produced by other ops and no backward, so only the
// forward collectives of Alpa's table remain.
TEST_F(StrategiesTest, MatmulReproducesAlpasTable) {
  Graph g("matmul");
  const OpId a = g.add_op(make_op("a", "elementwise", "m k -> m k", {64, 32}, 1));
  const OpId b = g.add_op(make_op("b", "elementwise", "k n -> k n", {32, 16}, 1));
  Op mm = make_op("c", "matmul", "m k, k n -> m n", {64, 16}, 2.0 * 64 * 32 * 16);
  mm.input_grad = {};
  const OpId c = g.add_op(mm);
  g.add_edge(a, c);
  g.add_edge(b, c);
  const ShardingProblem p = problem_of(g);
  const double M = 64 * 16 * 2;  // output bytes
  EXPECT_EQ(p.strategies[c.value()].size(), 16u);  // (3 names + none)^2, every size divisible by 2 and 4

  const auto& ss = strategy(p, g, "c", "m=S0 n=S1");
  EXPECT_EQ(ss.output.to_string(), "S0S1");
  EXPECT_EQ(ss.operands[0].to_string(), "S0R");
  EXPECT_EQ(ss.operands[1].to_string(), "RS1");
  EXPECT_EQ(ss.communication_seconds, 0);
  EXPECT_EQ(ss.num_shards, 4);

  const auto& sr = strategy(p, g, "c", "m=S0 k=S1");
  EXPECT_EQ(sr.output.to_string(), "S0R");
  EXPECT_EQ(sr.operands[0].to_string(), "S0S1");
  EXPECT_EQ(sr.operands[1].to_string(), "S1R");
  EXPECT_DOUBLE_EQ(sr.communication_seconds, all_reduce(1, M / 2));

  const auto& rs = strategy(p, g, "c", "k=S0 n=S1");
  EXPECT_EQ(rs.output.to_string(), "RS1");
  EXPECT_DOUBLE_EQ(rs.communication_seconds, all_reduce(0, M / 2));

  const auto& rr = strategy(p, g, "c", "k=S01");
  EXPECT_EQ(rr.output.to_string(), "RR");
  EXPECT_EQ(rr.operands[0].to_string(), "RS01");
  EXPECT_DOUBLE_EQ(rr.communication_seconds, all_reduce(0, M) + all_reduce(1, M));

  const auto& flat = strategy(p, g, "c", "m=S01");
  EXPECT_EQ(flat.output.to_string(), "S01R");
  EXPECT_EQ(flat.communication_seconds, 0);

  // Compute: the work split over the devices of the used axes; the replicated strategy does all of it.
  const auto& none = strategy(p, g, "c", "replicated");
  EXPECT_EQ(none.num_shards, 1);
  EXPECT_DOUBLE_EQ(none.compute_seconds, cost_model.op_time(g.op(c), Phase::kForward, cluster.device(DeviceId(0))));
  EXPECT_DOUBLE_EQ(ss.compute_seconds, cost_model.sharded_op_time(g.op(c), Phase::kForward, cluster, mesh, 4));
}

// A linear layer x[b, h] w[h, o] in training: the backward adds the all-reduces Megatron and data
// parallelism are known for.
TEST_F(StrategiesTest, BackwardAllReducesInputAndWeightGradients) {
  Graph g("linear");
  const OpId x = g.add_op(make_op("x", "elementwise", "b h -> b h", {8, 64}, 1));
  const double params = 64 * 32 * 2;
  const OpId fc = g.add_op(make_op("fc", "matmul", "b h, h o -> b o", {8, 32}, 2.0 * 8 * 64 * 32, params, 8 * 64 * 2));
  g.add_edge(x, fc);
  const ShardingProblem p = problem_of(g);
  const double in_bytes = 8 * 64 * 2;
  // Column parallel (o split): the input gradient sums over o -> all-reduce of the input.
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "o=S1").communication_seconds, all_reduce(1, in_bytes));
  // Data parallel (b split): the weight gradient sums over b -> all-reduce of the weights.
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "b=S0").communication_seconds, all_reduce(0, params));
  // Row parallel (h split): the forward output is a partial sum.
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "h=S1").communication_seconds, all_reduce(1, 8 * 32 * 2));
  // Memory: parameters divided as the weight operand is cut, saved input as the input operand.
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "o=S1").memory_bytes, params / 2 + in_bytes);
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "b=S0").memory_bytes, params + in_bytes / 2);
  EXPECT_DOUBLE_EQ(strategy(p, g, "fc", "b=S0 o=S1").memory_bytes, params / 2 + in_bytes / 2);
}

TEST_F(StrategiesTest, SoftmaxSplitOverItsRowAllReducesStatistics) {
  Graph g("softmax");
  const OpId x = g.add_op(make_op("x", "elementwise", "r t -> r t", {16, 64}, 1));
  const OpId sm = g.add_op(make_op("sm", "softmax", "r t -> r t", {16, 64}, 5.0 * 16 * 64));
  g.add_edge(x, sm);
  const ShardingProblem p = problem_of(g);
  EXPECT_EQ(strategy(p, g, "sm", "r=S1").communication_seconds, 0);
  // Split over t on axis 1: each device holds 16 rows; two fp32 statistics per row, forward and backward.
  EXPECT_DOUBLE_EQ(strategy(p, g, "sm", "t=S1").communication_seconds, 2 * all_reduce(1, 16 * 8));
  // With rows also split over axis 0, each device has 8 rows.
  EXPECT_DOUBLE_EQ(strategy(p, g, "sm", "r=S0 t=S1").communication_seconds, 2 * all_reduce(1, 8 * 8));
}

TEST_F(StrategiesTest, VocabularyParallelEmbeddingAllReducesItsOutput) {
  Graph g("embedding");
  const double table = 1000 * 64 * 2;
  g.add_op(make_op("emb", "embedding", "b s, v h -> b s h", {4, 8, 64}, 4 * 8 * 64, table, 4 * 8 * 4));
  const ShardingProblem p = problem_of(g);
  const double out = 4 * 8 * 64 * 2;
  const auto& vocab = strategy(p, g, "emb", "v=S1");
  EXPECT_EQ(vocab.operands[1].to_string(), "S1R");
  EXPECT_EQ(vocab.operands[0].to_string(), "RR");  // token ids: data, free to slice
  // The partial sums over v are all-reduced; the table's gradient is complete on every device.
  EXPECT_DOUBLE_EQ(vocab.communication_seconds, all_reduce(1, out));
  EXPECT_DOUBLE_EQ(vocab.memory_bytes, table / 2 + 4 * 8 * 4);
  // Data parallel over b: the whole table's gradient is all-reduced.
  EXPECT_DOUBLE_EQ(strategy(p, g, "emb", "b=S1").communication_seconds, all_reduce(1, table));
}

// Two elementwise ops x -> y; y has no backward unless asked, so the edge costs one direction.
class ReshardingTest : public StrategiesTest {
 protected:
  double cost(const std::string& from, const std::string& to, bool backward = false) {
    Graph g("reshard");
    const OpId x = g.add_op(make_op("x", "elementwise", "i j -> i j", {16, 64}, 1));
    Op y = make_op("y", "elementwise", "i j -> i j", {16, 64}, 1);
    if (!backward) y.input_grad = {};
    g.add_op(y);
    g.add_edge(x, OpId(1));
    const ShardingProblem p = problem_of(g);
    auto find = [&](OpId op, const std::string& spec, bool operand) {
      const auto& list = p.strategies[op.value()];
      for (std::size_t i = 0; i < list.size(); ++i)
        if ((operand ? list[i].operands[0] : list[i].output).to_string() == spec) return i;
      ADD_FAILURE() << "no strategy with layout " << spec;
      return std::size_t{0};
    };
    const std::size_t p_from = find(x, from, false), q_to = find(OpId(1), to, true);
    return p.resharding[0][p_from * p.strategies[1].size() + q_to];
  }
  static constexpr double M = 16 * 64 * 2;
};

TEST_F(ReshardingTest, MatchesAlpasTable) {
  EXPECT_EQ(cost("RR", "S0S1"), 0);    // slicing is free
  EXPECT_EQ(cost("S0R", "S01R"), 0);   // S0 is the major part of S01: slice along axis 1
  EXPECT_EQ(cost("S0S1", "S0S1"), 0);
  EXPECT_DOUBLE_EQ(cost("S0R", "RR"), collective(Collective::kAllGather, 0, M));
  EXPECT_DOUBLE_EQ(cost("S0S1", "S0R"), collective(Collective::kAllGather, 1, M / 2));
  EXPECT_DOUBLE_EQ(cost("S01R", "S0R"), collective(Collective::kAllGather, 1, M / 2));
  // A split that moves to another dim on the same axis: all-to-all of the bytes the axis group holds.
  EXPECT_DOUBLE_EQ(cost("S0R", "RS0"), collective(Collective::kAllToAll, 0, M));
  EXPECT_DOUBLE_EQ(cost("S0S1", "S01R"), collective(Collective::kAllToAll, 1, M / 2));
  // Both axes change: all-gathers, each on the bytes gathered so far, then free slices.
  EXPECT_DOUBLE_EQ(cost("S0S1", "S1S0"),
                   collective(Collective::kAllGather, 0, M / 2) + collective(Collective::kAllGather, 1, M));
  EXPECT_DOUBLE_EQ(cost("S01R", "RR"), collective(Collective::kAllGather, 0, M / 2) + collective(Collective::kAllGather, 1, M));
}

TEST_F(ReshardingTest, GradientsFlowBackThroughTheReverseResharding) {
  const double gather = collective(Collective::kAllGather, 0, M);
  EXPECT_DOUBLE_EQ(cost("S0R", "RR", /*backward=*/true), gather);  // gradient RR -> S0R is a slice
  EXPECT_DOUBLE_EQ(cost("RR", "S0R", /*backward=*/true), gather);  // forward slice, gradient gathered
  EXPECT_DOUBLE_EQ(cost("RR", "S0R", /*backward=*/false), 0);
}

// A producer's split carries over a reshape to the consumer dim it lines up with: attention
// values [b, n, s, d] read as [b, s, h] keep a split over heads n as a split of h.
TEST_F(StrategiesTest, SplitsCarryOverReshapesWhereTheyLineUp) {
  Graph g("heads");
  const OpId av = g.add_op(make_op("attn_v", "elementwise", "b n s d -> b n s d", {2, 4, 8, 16}, 1));
  const OpId proj = g.add_op(make_op("proj", "matmul", "b s h, h o -> b s o", {2, 8, 32}, 2.0 * 16 * 64 * 32, 64 * 32 * 2));
  g.add_edge(av, proj);
  const ShardingProblem p = problem_of(g);
  const std::size_t kq = p.strategies[proj.value()].size();
  const int heads = strategy_named(p, g, "attn_v", "n=S1");
  const int head_dim = strategy_named(p, g, "attn_v", "d=S1");
  const int row_parallel = strategy_named(p, g, "proj", "h=S1");
  ASSERT_GE(heads, 0);
  ASSERT_GE(head_dim, 0);
  ASSERT_GE(row_parallel, 0);
  // The operand size h = n * d was solved from the bytes the edge carries.
  EXPECT_EQ(p.strategies[proj.value()][static_cast<std::size_t>(row_parallel)].operands[0].to_string(), "RRS1");
  EXPECT_EQ(p.resharding[0][static_cast<std::size_t>(heads) * kq + static_cast<std::size_t>(row_parallel)], 0);
  // A split of the minor factor d does not carry: gather it, then slice (and the gradient back).
  EXPECT_GT(p.resharding[0][static_cast<std::size_t>(head_dim) * kq + static_cast<std::size_t>(row_parallel)], 0);
}

// A fused tensor [b, s, 3h] whose edge carries Q and K (2/3 of it) into "b s h, b t h": both
// operands come from the one edge, h is solved from the bytes it carries, and a split of the fused
// dim carries over to h.
TEST_F(StrategiesTest, AFusedEdgeFeedsSeveralOperands) {
  Graph g("fused");
  const OpId qkv = g.add_op(make_op("qkv", "elementwise", "b s o -> b s o", {2, 8, 96}, 1));
  const OpId att = g.add_op(make_op("att", "batch_matmul", "b s h, b t h -> b s t", {2, 8, 8}, 2.0 * 2 * 8 * 8 * 32));
  g.add_edge(qkv, att, 2.0 * 2 * 8 * 64);  // Q and K: 2 x [2, 8, 32] in fp16
  const ShardingProblem p = problem_of(g);
  const std::size_t kq = p.strategies[att.value()].size();
  const int split_o = strategy_named(p, g, "qkv", "o=S1");
  const int split_h = strategy_named(p, g, "att", "h=S1");
  const int split_b = strategy_named(p, g, "att", "b=S1");
  ASSERT_GE(split_o, 0);
  ASSERT_GE(split_h, 0);
  ASSERT_GE(split_b, 0);
  const auto& contraction = p.strategies[att.value()][static_cast<std::size_t>(split_h)];
  EXPECT_EQ(contraction.operands[0].to_string(), "RRS1");
  EXPECT_EQ(contraction.operands[1].to_string(), "RRS1");
  // The output [2, 8, 8] is a partial sum over h; the gradients of Q and K are complete (both have h).
  EXPECT_DOUBLE_EQ(contraction.communication_seconds, all_reduce(1, 2 * 8 * 8 * 2));
  EXPECT_EQ(p.resharding[0][static_cast<std::size_t>(split_o) * kq + static_cast<std::size_t>(split_h)], 0);
  // Splitting the fused dim does not give a batch split: Q and K are gathered, and the gradient too.
  EXPECT_GT(p.resharding[0][static_cast<std::size_t>(split_o) * kq + static_cast<std::size_t>(split_b)], 0);
}

}  // namespace
}  // namespace opplan
