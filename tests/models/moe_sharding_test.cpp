// GShard MoE on a mesh: experts split with all-to-all between the token groups and the experts.
// (Its ILP is compared with CBC's in tests/sharding/cbc_test.cpp.)
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include <string>

#include <gtest/gtest.h>

namespace opplan {
namespace {

const OpSharding& op_of(const ShardingPlan& plan, const Graph& g, const std::string& name) {
  return plan.ops.at(g.find_op(name).value().value());
}

// Eight sequences in four 2048-token groups on four GPUs with Adam state: each device keeps a
// quarter of the experts; tokens stay split by group around them, so dispatch and combine move
// them by all-to-all.
TEST(MoeShardingTest, ExpertsSplitWithAllToAll) {
  MoeConfig config = gshard_moe_config("1.3B").value();
  config.layers = 2;
  config.micro_batch = 8;
  const Graph g = build_gshard_moe(config).value();
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  AnalyticCostModel::Options adam;
  adam.param_memory_factor = 8;
  const AnalyticCostModel cm(adam);
  auto plan = shard(g, c, mesh, cm);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(op_of(*plan, g, "layer1.expert_fc1").chosen.name, "e=S1");
  EXPECT_EQ(op_of(*plan, g, "layer1.expert_fc1").chosen.operands[1].to_string(), "S1RR");  // 4 of 16 experts each
  EXPECT_EQ(op_of(*plan, g, "layer1.dispatch").chosen.output.to_string(), "RS1RR");         // tokens by group
  EXPECT_EQ(op_of(*plan, g, "layer1.combine").chosen.operands[0].to_string(), "RS1RR");
  EXPECT_GT(plan->resharding_seconds, 0);
}

}  // namespace
}  // namespace opplan
