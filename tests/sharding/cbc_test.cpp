// The sharding ILPs of GPT-3 1.3B and GShard MoE 1.3B on a 2 x 4 DGX-A100 mesh, solved by opplan
// and by CBC (Debian's coinor-cbc) on the exported MPS file: the objectives must agree. Skipped
// when cbc is absent.
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

// One check for every zoo model whose ILP is compared with CBC's.
class CbcTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CbcTest, TwoByFourMatchesCbc) {
  if (!have_cbc()) GTEST_SKIP() << "cbc not found (Debian package coinor-cbc)";
  const std::string model = GetParam();
  const Graph g = zoo_model(model).value();
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm;
  ShardingOptions options;
  options.mps_file = ::testing::TempDir() + "opplan-sharding-" + model + ".mps";
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

// The GPT-3 instance pins the dense strategies, the GShard MoE one the expert / all-to-all ones.
INSTANTIATE_TEST_SUITE_P(ZooModels, CbcTest, ::testing::Values("gpt3-1.3b", "gshard-moe-1.3b"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-' || ch == '.') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace opplan
