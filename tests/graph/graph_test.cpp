#include <opplan/graph.hpp>

#include <cmath>
#include <limits>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::DType;
using opplan::Graph;
using opplan::Op;
using opplan::OpId;
using opplan::Phase;
using ::testing::HasSubstr;

Op make_op(std::string name, double fwd_flops = 1.0) {
  Op op;
  op.name = std::move(name);
  op.kind = "matmul";
  op.forward.flops = fwd_flops;
  return op;
}

TEST(Graph, AddsOpsAndEdgesWithDenseIds) {
  Graph g("tiny");
  const OpId a = g.add_op(make_op("a"));
  const OpId b = g.add_op(make_op("b"));
  const OpId c = g.add_op(make_op("c"));
  EXPECT_EQ(a.value(), 0u);
  EXPECT_EQ(c.value(), 2u);
  const auto e0 = g.add_edge(a, b, 16.0);
  const auto e1 = g.add_edge(a, c, 32.0);
  g.add_edge(b, c, 8.0);
  EXPECT_EQ(g.name(), "tiny");
  EXPECT_EQ(g.num_ops(), 3u);
  EXPECT_EQ(g.num_edges(), 3u);
  EXPECT_EQ(g.edge(e0).dst, b);
  EXPECT_EQ(g.edge(e1).bytes, 32.0);
  EXPECT_EQ(g.out_degree(a), 2u);
  EXPECT_EQ(g.in_degree(c), 2u);
  EXPECT_THAT(g.successors(a), ::testing::UnorderedElementsAre(b, c));
  EXPECT_THAT(g.predecessors(c), ::testing::UnorderedElementsAre(a, b));
  EXPECT_THAT(g.in_edges(b), ::testing::ElementsAre(e0));
  std::vector<std::uint32_t> seen;
  for (OpId id : g.ops()) seen.push_back(id.value());
  EXPECT_THAT(seen, ::testing::ElementsAre(0u, 1u, 2u));
}

TEST(Graph, EdgeBytesDefaultToProducerOutput) {
  Graph g;
  Op a = make_op("a");
  a.shape = {4, 1024};
  a.dtype = DType::kBF16;
  const OpId ia = g.add_op(a);
  const OpId ib = g.add_op(make_op("b"));
  const auto e = g.add_edge(ia, ib);
  EXPECT_EQ(g.edge(e).bytes, 4 * 1024 * 2);
}

TEST(Graph, UnnamedOpsGetTheirIdAsName) {
  Graph g;
  g.add_op(Op{});
  const OpId second = g.add_op(Op{});
  EXPECT_EQ(g.op(second).name, "op1");
  EXPECT_EQ(g.find_op("op1"), second);
}

TEST(Graph, FindOpFollowsRenames) {
  Graph g;
  const OpId a = g.add_op(make_op("a"));
  EXPECT_EQ(g.find_op("a"), a);
  EXPECT_FALSE(g.find_op("z").has_value());
  g.mutable_op(a).name = "renamed";
  EXPECT_FALSE(g.find_op("a").has_value());
  EXPECT_EQ(g.find_op("renamed"), a);
  const OpId b = g.add_op(make_op("b"));
  EXPECT_EQ(g.find_op("b"), b);
}

TEST(Graph, BadIdsThrowOutOfRange) {
  Graph g;
  const OpId a = g.add_op(make_op("a"));
  EXPECT_THROW(g.add_edge(a, OpId(7)), std::out_of_range);
  EXPECT_THROW(g.add_edge(OpId(), a), std::out_of_range);
  EXPECT_THROW(g.op(OpId(1)), std::out_of_range);
  EXPECT_THROW(g.edge(opplan::EdgeId(0)), std::out_of_range);
  EXPECT_THROW(g.successors(OpId(3)), std::out_of_range);
}

TEST(Graph, CopyIsDeepAndMoveLeavesAnEmptyGraph) {
  Graph g("orig");
  const OpId a = g.add_op(make_op("a"));
  const OpId b = g.add_op(make_op("b"));
  g.add_edge(a, b, 1.0);
  Graph copy = g;
  copy.mutable_op(a).name = "changed";
  copy.add_op(make_op("c"));
  EXPECT_EQ(g.op(a).name, "a");
  EXPECT_EQ(g.num_ops(), 2u);
  EXPECT_EQ(copy.num_ops(), 3u);
  EXPECT_EQ(copy.find_op("changed"), a);
  EXPECT_EQ(copy.successors(a), std::vector<OpId>{b});

  Graph moved = std::move(g);
  EXPECT_EQ(moved.num_ops(), 2u);
  EXPECT_EQ(g.num_ops(), 0u);  // NOLINT(bugprone-use-after-move): documented as empty and usable
  g.add_op(make_op("again"));
  EXPECT_EQ(g.find_op("again"), OpId(0));
}

TEST(Graph, TotalsSumEveryPhaseAndSize) {
  Graph g;
  Op a = make_op("a", 10);
  a.input_grad.flops = 20;
  a.weight_grad.flops = 30;
  a.param_bytes = 100;
  a.activation_bytes = 7;
  Op b = make_op("b", 1);
  b.param_bytes = 5;
  const OpId ia = g.add_op(a);
  const OpId ib = g.add_op(b);
  g.add_edge(ia, ib, 64);
  const auto t = g.totals();
  EXPECT_EQ(t.flops[static_cast<int>(Phase::kForward)], 11);
  EXPECT_EQ(t.flops[static_cast<int>(Phase::kInputGrad)], 20);
  EXPECT_EQ(t.flops[static_cast<int>(Phase::kWeightGrad)], 30);
  EXPECT_EQ(t.param_bytes, 105);
  EXPECT_EQ(t.activation_bytes, 7);
  EXPECT_EQ(t.edge_bytes, 64);
}

TEST(Graph, ValidateAcceptsAGoodGraphAndAnEmptyOne) {
  EXPECT_TRUE(Graph().validate().ok());
  Graph g;
  const OpId a = g.add_op(make_op("a"));
  const OpId b = g.add_op(make_op("b"));
  g.add_edge(a, b, 4);
  EXPECT_TRUE(g.validate().ok()) << g.validate().to_string();
}

TEST(Graph, ValidateReportsDuplicateNames) {
  Graph g;
  g.add_op(make_op("dup"));
  g.add_op(make_op("dup"));
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("op 'dup' (#1): name 'dup' is also the name of op #0"));
}

TEST(Graph, ValidateReportsEveryBadNumberWithItsField) {
  Graph g;
  Op bad = make_op("bad");
  bad.forward.flops = -5;
  bad.input_grad.bytes = std::numeric_limits<double>::quiet_NaN();
  bad.weight_grad.seconds = std::numeric_limits<double>::infinity();
  bad.param_bytes = -1;
  bad.activation_bytes = std::numeric_limits<double>::infinity();
  bad.shape = {2, -3};
  g.add_op(bad);
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("6 problems"));
  EXPECT_THAT(s.message(), HasSubstr("op 'bad' (#0): forward.flops is negative (-5)"));
  EXPECT_THAT(s.message(), HasSubstr("input_grad.bytes is NaN"));
  EXPECT_THAT(s.message(), HasSubstr("weight_grad.seconds is infinite"));
  EXPECT_THAT(s.message(), HasSubstr("param_bytes is negative (-1)"));
  EXPECT_THAT(s.message(), HasSubstr("activation_bytes is infinite"));
  EXPECT_THAT(s.message(), HasSubstr("shape.1 is negative (-3)"));
}

TEST(Graph, ValidateReportsBadEdges) {
  Graph g;
  const OpId a = g.add_op(make_op("a"));
  const OpId b = g.add_op(make_op("b"));
  g.add_edge(a, b, -2);
  g.add_edge(b, b, 1);
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("edge #0 ('a' -> 'b'): bytes is negative (-2)"));
  EXPECT_THAT(s.message(), HasSubstr("edge #1 ('b' -> 'b'): connects op 'b' to itself"));
}

TEST(Graph, ValidateChecksWhoOwnsATiedWeight) {
  Graph g;
  Op table = make_op("table");
  table.param_bytes = 100;
  g.add_op(table);
  Op head = make_op("head");
  head.params_from = "table";  // fine
  g.add_op(head);
  ASSERT_TRUE(g.validate().ok()) << g.validate().to_string();
  Op lost = make_op("lost");
  lost.params_from = "nowhere";
  g.add_op(lost);
  Op self = make_op("self");
  self.params_from = "self";
  g.add_op(self);
  Op bare = make_op("bare");
  bare.params_from = "lost";  // has no parameters (and takes them from elsewhere)
  g.add_op(bare);
  Op chained = make_op("chained");
  chained.param_bytes = 5;
  chained.params_from = "table";
  g.add_op(chained);
  Op second = make_op("second");
  second.params_from = "chained";
  g.add_op(second);
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("4 problems"));
  EXPECT_THAT(s.message(), HasSubstr("op 'lost' (#2): params_from names no op ('nowhere')"));
  EXPECT_THAT(s.message(), HasSubstr("op 'self' (#3): params_from names the op itself"));
  EXPECT_THAT(s.message(), HasSubstr("op 'bare' (#4): params_from names op 'lost', which has no parameters"));
  EXPECT_THAT(s.message(),
              HasSubstr("op 'second' (#6): params_from names op 'chained', which takes its weight from 'table' itself"));
}

TEST(Graph, ValidateNamesTheOpsOfACycle) {
  Graph g;
  const OpId in = g.add_op(make_op("input"));
  const OpId a = g.add_op(make_op("a"));
  const OpId b = g.add_op(make_op("b"));
  const OpId c = g.add_op(make_op("c"));
  g.add_edge(in, a, 1);
  g.add_edge(a, b, 1);
  g.add_edge(b, c, 1);
  g.add_edge(c, a, 1);
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("has a cycle: 'a' -> 'b' -> 'c' -> 'a'"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("'input'")));
}

TEST(Graph, ValidateStopsCountingOnHugeBrokenGraphs) {
  Graph g;
  for (int i = 0; i < 1000; ++i) g.add_op(make_op("x", -1));
  const auto s = g.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("stopped counting"));
  EXPECT_LT(s.message().size(), 10000u);
}

TEST(Graph, ConstReadsAreSafeFromSeveralThreads) {
  Graph g;
  for (int i = 0; i < 2000; ++i) g.add_op(make_op("op_" + std::to_string(i)));
  g.mutable_op(OpId(5)).name = "five";  // forces a lazy index rebuild on the next lookup
  std::vector<std::thread> threads;
  std::vector<int> found(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i)
        if (g.find_op("op_" + std::to_string(i))) ++found[t];
      if (g.find_op("five") == OpId(5)) ++found[t];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(found[t], 2000);  // 1999 op_i plus "five"
}

TEST(Enums, RoundTripThroughStrings) {
  for (Phase p : opplan::kAllPhases) EXPECT_EQ(opplan::parse_phase(opplan::to_string(p)), p);
  EXPECT_FALSE(opplan::parse_phase("backward").has_value());
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kF8, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kBool})
    EXPECT_EQ(opplan::parse_dtype(opplan::to_string(d)), d);
  EXPECT_EQ(opplan::size_in_bytes(DType::kBF16), 2);
  EXPECT_EQ(opplan::size_in_bytes(DType::kF64), 8);
  EXPECT_FALSE(opplan::parse_dtype("float").has_value());
}

}  // namespace
