// Bad input to the sharding planner: a clear Status naming the op, dimension, mesh or field; never
// a crash.
#include <opplan/cost_model.hpp>
#include <opplan/sharding.hpp>

#include <cstdlib>
#include <stdexcept>
#include <vector>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sharding_test_util.hpp"

namespace opplan {
namespace {

using sharding_test::make_op;
using sharding_test::mlp;
using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  Cluster cluster = Cluster::dgx_a100(1);
  Mesh mesh = make_mesh(cluster, 2, 4).value();
  AnalyticCostModel cost_model;

  Status shard_status(const Graph& g, const ShardingOptions& options = {}) {
    return shard(g, cluster, mesh, cost_model, options).status();
  }
  Status shard_status(const Graph& g, const Mesh& m) { return shard(g, cluster, m, cost_model).status(); }
};

TEST_F(BadInputTest, OutputDimsThatDoNotMatchTheShapeNameTheOp) {
  Graph g = mlp(8, 64, 256, 1024);
  g.mutable_op(OpId(0)).shape = {8, 1024};  // the annotation names three output dims
  const Status s = shard_status(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("op 'fc1'"));
  EXPECT_THAT(s.message(), HasSubstr("'b s h, h f -> b s f'"));
  EXPECT_THAT(s.message(), HasSubstr("[8, 1024]"));
}

TEST_F(BadInputTest, OperandDimsThatDisagreeWithTheProducerNameBothOps) {
  Graph g = mlp(8, 64, 256, 1024);
  g.mutable_op(OpId(1)).shape = {8, 32, 1024};  // gelu says s = 32; fc2's output still says 64
  g.mutable_op(OpId(1)).dims = "b t f -> b t f";
  g.mutable_op(OpId(2)).dims = "b s f, f h -> b s h";
  const Status s = shard_status(g);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  // fc2 reads gelu's [8, 32, 1024] as "b s f" with s = 64 from its own output.
  EXPECT_THAT(s.message(), HasSubstr("op 'fc2'"));
  EXPECT_THAT(s.message(), HasSubstr("dimension 's'"));
  EXPECT_THAT(s.message(), HasSubstr("'gelu'"));
  EXPECT_THAT(s.message(), HasSubstr("[8, 32, 1024]"));
  // gelu's own annotation conflicts with fc1's output as well: every problem is reported at once.
  EXPECT_THAT(s.message(), HasSubstr("op 'gelu'"));
}

TEST_F(BadInputTest, MalformedAnnotations) {
  const std::pair<const char*, const char*> cases[] = {
      {"b s h", "no '->'"},
      {"b s h -> b s h -> b s h", "more than one '->'"},
      {"b s h,, h f -> b s f", "operand 1 is empty"},
      {"b b h -> b s h", "'b' appears twice in operand 0"},
      {"b s h$ -> b s h", "is not a dimension name"},
  };
  for (const auto& [dims, why] : cases) {
    Graph g("one");
    g.add_op(make_op("op", "elementwise", dims, {8, 64, 256}, 1));
    const Status s = shard_status(g);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << dims;
    EXPECT_THAT(s.message(), HasSubstr("op 'op'")) << dims;
    EXPECT_THAT(s.message(), HasSubstr(why)) << dims;
  }
}

TEST_F(BadInputTest, MoreEdgesThanOperands) {
  Graph g = mlp(8, 64, 256, 1024);
  g.add_edge(OpId(0), OpId(2));  // fc2 now has two in-edges for "b s f, f h": f h is a weight
  g.add_edge(OpId(1), OpId(2), 1.0);
  const Status s = shard_status(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("op 'fc2'"));
  EXPECT_THAT(s.message(), HasSubstr("3 input edges"));
}

TEST_F(BadInputTest, MeshesThatDoNotMatchTheirDevices) {
  const Graph g = mlp(8, 64, 256, 1024);
  Mesh short_mesh = mesh;
  short_mesh.devices.pop_back();
  Status s = shard_status(g, short_mesh);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("mesh '2x4'"));
  EXPECT_THAT(s.message(), HasSubstr("needs 8 devices but the mesh lists 7"));

  Mesh foreign = mesh;
  foreign.devices[3] = DeviceId(42);
  s = shard_status(g, foreign);
  EXPECT_THAT(s.message(), HasSubstr("id 42"));
  EXPECT_THAT(s.message(), HasSubstr("8 devices"));

  Mesh twice = mesh;
  twice.devices[3] = DeviceId(0);
  s = shard_status(g, twice);
  EXPECT_THAT(s.message(), HasSubstr("'n0.gpu0' appears more than once"));

  Mesh flat = mesh;
  flat.rows = 0;
  EXPECT_EQ(shard_status(g, flat).code(), StatusCode::kInvalidArgument);
}

TEST_F(BadInputTest, MemoryBudgetBelowTheMinimumGivesTheMinimum) {
  const Graph g = mlp(8, 64, 256, 1024);
  ShardingOptions options;
  options.memory_budget = 1000;
  const Status s = shard_status(g, options);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("below the minimum possible"));
  // The minimum in the message is exact: a budget equal to it is feasible, 0.1 % less is not.
  const auto at = s.message().find("at least ");
  ASSERT_NE(at, std::string::npos);
  const double minimum = std::strtod(s.message().c_str() + at + 9, nullptr);
  ASSERT_GT(minimum, 1000);
  options.memory_budget = minimum;
  auto plan = shard(g, cluster, mesh, cost_model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_LE(plan->memory_bytes, minimum * (1 + 1e-9));
  EXPECT_GE(plan->memory_bytes, minimum * (1 - 1e-6));
  options.memory_budget = minimum * 0.999;
  EXPECT_THAT(shard_status(g, options).message(), HasSubstr("below the minimum possible"));
}

TEST_F(BadInputTest, InvalidOptionsNameTheField) {
  const Graph g = mlp(8, 64, 256, 1024);
  ShardingOptions options;
  options.time_limit = -1;
  options.integrality_tolerance = 0.7;
  const Status s = shard_status(g, options);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("time_limit"));
  EXPECT_THAT(s.message(), HasSubstr("integrality_tolerance"));
  std::string error;
  EXPECT_TRUE(ShardingOptions{}.IsValid(&error)) << error;
  options = {};
  options.memory_budget = -5;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_THAT(error, HasSubstr("memory_budget"));
}

TEST_F(BadInputTest, AGraphThatDoesNotValidateIsReportedFirst) {
  Graph g = mlp(8, 64, 256, 1024);
  g.mutable_op(OpId(1)).forward.flops = -1;
  const Status s = shard_status(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("gelu"));
}

// A user's cost model that throws is reported, not a crash.
TEST_F(BadInputTest, ACostModelThatThrowsIsReported) {
  struct Broken : AnalyticCostModel {
    double collective_time(const Cluster&, Collective, const std::vector<DeviceId>&, double) const override {
      throw std::runtime_error("no table for this group");
    }
  } broken;
  const Status s = shard(mlp(8, 64, 256, 1024), cluster, mesh, broken).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("no table for this group"));
}

TEST_F(BadInputTest, UnannotatedOpsRunReplicated) {
  Graph g = mlp(8, 64, 256, 1024);
  g.mutable_op(OpId(1)).dims.clear();
  auto plan = shard(g, cluster, mesh, cost_model);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->ops[1].chosen.name, "replicated");
  EXPECT_EQ(plan->ops[1].chosen.output.to_string(), "RRR");
}

}  // namespace
}  // namespace opplan
