// GShard MoE on a mesh: experts split with all-to-all between the token groups and the experts,
// and the sharding ILP of GShard MoE 1.3B solved by opplan and by CBC (Debian's coinor-cbc) on the
// exported MPS file must agree (skipped when cbc is absent), as tests/sharding/cbc_test.cpp does
// for GPT-3 1.3B.
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace opplan {
namespace {

bool have_cbc() { return std::system("command -v cbc > /dev/null 2>&1") == 0; }

// cbc's solution file starts with "Optimal - objective value 16825.98286722".
bool cbc_objective(const std::string& mps, const std::string& solution, double* objective) {
  const std::string command = "cbc " + mps + " solve solution " + solution + " > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return false;
  std::ifstream in(solution);
  std::string line;
  if (!std::getline(in, line) || line.rfind("Optimal", 0) != 0) return false;
  const auto at = line.find("objective value");
  if (at == std::string::npos) return false;
  *objective = std::strtod(line.c_str() + at + 15, nullptr);
  return true;
}

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

TEST(MoeShardingTest, GShardMoe13bOnTwoByFourMatchesCbc) {
  if (!have_cbc()) GTEST_SKIP() << "cbc not found (Debian package coinor-cbc)";
  const Graph g = zoo_model("gshard-moe-1.3b").value();
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm;
  ShardingOptions options;
  options.mps_file = ::testing::TempDir() + "opplan-sharding-gshard-moe-1.3b.mps";
  auto plan = shard(g, c, mesh, cm, options);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->termination, Termination::kOptimal);
  double theirs = 0;
  ASSERT_TRUE(cbc_objective(options.mps_file, options.mps_file + ".sol", &theirs));
  const double ours = plan->ilp_objective * ShardingFormulation::kObjectiveScale;  // the ILP is in microseconds
  EXPECT_NEAR(ours, theirs, 1e-6 * theirs);
  EXPECT_NEAR(plan->objective * ShardingFormulation::kObjectiveScale, theirs, 1e-6 * theirs);
  std::remove(options.mps_file.c_str());
  std::remove((options.mps_file + ".sol").c_str());
}

}  // namespace
}  // namespace opplan
