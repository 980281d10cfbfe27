// shard() on cases with known optima: Megatron's MLP, a transformer layer on a 2 x 4 mesh, a
// memory budget that forces parameter sharding, brute force on tiny graphs, expert parallelism.
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sharding_test_util.hpp"

namespace opplan {
namespace {

using sharding_test::make_op;
using sharding_test::mlp;
using sharding_test::strategy_named;
using sharding_test::two_level_cluster;

ShardingPlan plan_or_die(const Graph& g, const Cluster& c, const Mesh& m, const CostModel& cm,
                         const ShardingOptions& o = {}) {
  auto plan = shard(g, c, m, cm, o);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  return plan.ok() ? std::move(plan).value() : ShardingPlan{};
}

std::vector<int> choice_of(const ShardingPlan& plan) {
  std::vector<int> choice;
  for (const auto& op : plan.ops) choice.push_back(op.strategy);
  return choice;
}

const OpSharding& op_of(const ShardingPlan& plan, const Graph& g, const std::string& name) {
  return plan.ops.at(g.find_op(name).value().value());
}

// Tokens 8 x 64, hidden 1024 -> 4096 on 4 GPUs of one node: one all-reduce of the 1 MB output
// costs far less than data parallelism's two all-reduces of 8 MB weights or replicated compute.
TEST(ShardTest, MlpOnOneByFourIsMegatronColumnThenRow) {
  const Graph g = mlp(8, 64, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const AnalyticCostModel cm;
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm);
  EXPECT_EQ(plan.termination, Termination::kOptimal);
  EXPECT_EQ(op_of(plan, g, "fc1").chosen.name, "f=S1");  // column parallel
  EXPECT_EQ(op_of(plan, g, "fc1").chosen.operands[1].to_string(), "RS1");
  EXPECT_EQ(op_of(plan, g, "gelu").chosen.output.to_string(), "RRS1");
  EXPECT_EQ(op_of(plan, g, "fc2").chosen.name, "f=S1");  // row parallel: f is fc2's contraction
  EXPECT_EQ(op_of(plan, g, "fc2").chosen.operands[1].to_string(), "S1R");
  EXPECT_EQ(op_of(plan, g, "fc2").chosen.output.to_string(), "RRR");
  // A single all-reduce (of fc2's output) and no resharding at all.
  const double all_reduce = cm.collective_time(c, Collective::kAllReduce, mesh.devices, 8 * 64 * 1024 * 2);
  EXPECT_DOUBLE_EQ(plan.communication_seconds, all_reduce);
  EXPECT_DOUBLE_EQ(op_of(plan, g, "fc2").chosen.communication_seconds, all_reduce);
  EXPECT_EQ(plan.resharding_seconds, 0);
  EXPECT_TRUE(plan.lp_integral);
  EXPECT_DOUBLE_EQ(plan.objective, plan.compute_seconds + all_reduce);
  EXPECT_NEAR(plan.best_bound, plan.objective, 1e-9 * plan.objective);
}

// One GPT layer (hidden 1024, 16 heads, sequence 512, micro-batch 8) on 2 nodes x 4 GPUs, the mesh
// rows being the nodes: 12x less bandwidth along axis 0. The optimum is Megatron's tensor
// parallelism inside the node (axis 1) and data parallelism across nodes (axis 0).
TEST(ShardTest, TransformerLayerOnTwoByFourIsMegatronInsideDataParallelAcross) {
  TransformerConfig config;
  config.name = "layer";
  config.layers = 1;
  config.hidden = 1024;
  config.heads = 16;
  config.seq_len = 512;
  config.micro_batch = 8;
  config.vocab = 1024;
  const Graph g = build_transformer(config).value();
  const Cluster c = two_level_cluster(2, 4);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm;
  ShardingOptions exact;
  exact.merge_light_ops = false;  // the whole strategy space: a proven optimum
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, exact);
  ASSERT_EQ(plan.ops.size(), g.num_ops());
  EXPECT_EQ(plan.termination, Termination::kOptimal);
  const std::pair<const char*, const char*> expected[] = {
      {"layer0.qkv", "b=S0 o=S1"},    {"layer0.scores", "b=S0 n=S1"}, {"layer0.softmax", "b=S0 n=S1"},
      {"layer0.attn_v", "b=S0 n=S1"}, {"layer0.proj", "b=S0 h=S1"},   {"layer0.fc1", "b=S0 o=S1"},
      {"layer0.gelu", "b=S0 f=S1"},   {"layer0.fc2", "b=S0 h=S1"}};
  for (const auto& [op, strategy] : expected) EXPECT_EQ(op_of(plan, g, op).chosen.name, strategy) << op;
  EXPECT_EQ(op_of(plan, g, "layer0.qkv").chosen.operands[1].to_string(), "RS1");  // weights split by columns
  EXPECT_EQ(op_of(plan, g, "layer0.proj").chosen.operands[1].to_string(), "S1R");  // and by rows

  // The classical alternatives cost more: pure data parallelism, Megatron with the axes swapped.
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  auto uniform = [&](const std::function<std::string(const std::string& op)>& name_for) {
    std::vector<int> choice = choice_of(plan);
    for (OpId id : g.ops()) {
      const int s = strategy_named(p, g, g.op(id).name, name_for(g.op(id).name));
      if (s >= 0) choice[id.value()] = s;
    }
    return p.cost(choice);
  };
  const double data_parallel = uniform([](const std::string&) { return "b=S01"; });
  const double swapped = uniform([&](const std::string& op) {
    std::string name = op_of(plan, g, op).chosen.name;
    for (char& ch : name) ch = ch == '0' ? '1' : ch == '1' ? '0' : ch;
    return name;
  });
  EXPECT_DOUBLE_EQ(p.cost(choice_of(plan)), plan.objective);
  EXPECT_LT(plan.objective, data_parallel);
  EXPECT_LT(plan.objective, swapped);
  // Follow-merging keeps the same plan for the heavy ops here, with fewer ILP nodes.
  const ShardingPlan merged = plan_or_die(g, c, mesh, cm);
  EXPECT_LT(merged.num_nodes, plan.num_nodes);
  for (const auto& [op, strategy] : expected) EXPECT_EQ(op_of(merged, g, op).chosen.name, strategy) << op;
}

// Many tokens make data parallelism the cheapest MLP plan, but it replicates the weights and their
// optimizer state (8 bytes per fp16 byte): a budget below that forces the weights to be split.
TEST(ShardTest, MemoryBudgetForcesParameterSharding) {
  const Graph g = mlp(32, 512, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  AnalyticCostModel::Options adam;
  adam.param_memory_factor = 8;
  const AnalyticCostModel cm(adam);
  const ShardingPlan free_plan = plan_or_die(g, c, mesh, cm);
  EXPECT_EQ(op_of(free_plan, g, "fc1").chosen.operands[1].to_string(), "RR");
  EXPECT_EQ(op_of(free_plan, g, "fc2").chosen.operands[1].to_string(), "RR");
  const double replicated_weights = 2 * 2.0 * 1024 * 4096 * 8;
  EXPECT_GT(free_plan.memory_bytes, replicated_weights);

  ShardingOptions tight;
  tight.memory_budget = 0.75 * free_plan.memory_bytes;
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, tight);
  EXPECT_LE(plan.memory_bytes, tight.memory_budget);
  EXPECT_GT(plan.objective, free_plan.objective);
  const bool split = op_of(plan, g, "fc1").chosen.operands[1].to_string() != "RR" ||
                     op_of(plan, g, "fc2").chosen.operands[1].to_string() != "RR";
  EXPECT_TRUE(split);
  EXPECT_DOUBLE_EQ(plan.memory_budget, tight.memory_budget);
  // The memory row makes the relaxation fractional: this optimum comes from branch-and-bound.
  EXPECT_FALSE(plan.lp_integral);
  EXPECT_EQ(plan.termination, Termination::kOptimal);
  EXPECT_TRUE(free_plan.lp_integral);

  // The same optimum by brute force over all 5 * 4 * 5 strategy combinations within the budget.
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  double best = kInf;
  std::vector<int> choice(3);
  for (choice[0] = 0; choice[0] < int(p.strategies[0].size()); ++choice[0])
    for (choice[1] = 0; choice[1] < int(p.strategies[1].size()); ++choice[1])
      for (choice[2] = 0; choice[2] < int(p.strategies[2].size()); ++choice[2])
        if (p.memory(choice) <= tight.memory_budget) best = std::min(best, p.cost(choice));
  EXPECT_NEAR(plan.objective, best, 1e-9 * best);
}

// Every combination of strategies on small graphs: the ILP (without merging or tying) finds the
// minimum, with and without a memory budget; with merging it is never better and its reported
// objective is the true cost of the plan it returns.
class BruteForceTest : public ::testing::TestWithParam<int> {};

Graph diamond() {
  Graph g("diamond");
  const OpId x = g.add_op(make_op("x", "elementwise", "b h -> b h", {8, 64}, 8 * 64, 0, 8 * 64 * 2));
  const OpId a = g.add_op(make_op("a", "matmul", "b h, h f -> b f", {8, 256}, 2.0 * 8 * 64 * 256, 64 * 256 * 2, 8 * 64 * 2));
  const OpId r = g.add_op(make_op("r", "elementwise", "b h -> b h", {8, 64}, 8 * 64, 0, 8 * 64 * 2));
  const OpId d = g.add_op(make_op("d", "matmul", "b f, f h -> b h", {8, 64}, 2.0 * 8 * 64 * 256, 64 * 256 * 2, 8 * 256 * 2));
  const OpId add = g.add_op(make_op("add", "elementwise", "b h, b h -> b h", {8, 64}, 8 * 64));
  g.add_edge(x, a);
  g.add_edge(x, r);
  g.add_edge(a, d);
  g.add_edge(r, add);
  g.add_edge(d, add);
  return g;
}

TEST_P(BruteForceTest, IlpAgreesWithBruteForce) {
  const bool use_diamond = GetParam() == 1;
  const Graph g = use_diamond ? diamond() : mlp(4, 16, 64, 256);
  // Microsecond latencies and a slow axis 0 make communication and compute comparable.
  const Cluster c = two_level_cluster(2, 2, 1 / 50e9, 1 / 5e9, 1e-6);
  const Mesh mesh = make_mesh(c, 2, 2).value();
  const AnalyticCostModel cm;
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();

  double best = kInf, least_memory = kInf, most_memory = 0;
  std::vector<std::pair<double, double>> all;  // (memory, cost) of every combination
  std::vector<int> choice(g.num_ops(), 0);
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    if (i == choice.size()) {
      all.emplace_back(p.memory(choice), p.cost(choice));
      best = std::min(best, all.back().second);
      least_memory = std::min(least_memory, all.back().first);
      most_memory = std::max(most_memory, all.back().first);
      return;
    }
    for (choice[i] = 0; choice[i] < int(p.strategies[i].size()); ++choice[i]) visit(i + 1);
  };
  visit(0);
  ASSERT_GT(all.size(), 1000u);

  ShardingOptions exact;
  exact.merge_light_ops = false;
  exact.tie_repeated_layers = false;
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, exact);
  EXPECT_NEAR(plan.objective, best, 1e-9 * best);
  EXPECT_NEAR(p.cost(choice_of(plan)), plan.objective, 1e-12 * best);
  EXPECT_NEAR(plan.ilp_objective, plan.objective, 1e-9 * best);

  // A budget halfway between the least and the most memory any combination needs.
  exact.memory_budget = (least_memory + most_memory) / 2;
  double best_within = kInf;
  for (const auto& [memory, cost] : all)
    if (memory <= exact.memory_budget) best_within = std::min(best_within, cost);
  const ShardingPlan budgeted = plan_or_die(g, c, mesh, cm, exact);
  EXPECT_NEAR(budgeted.objective, best_within, 1e-9 * best_within);
  EXPECT_LE(budgeted.memory_bytes, exact.memory_budget * (1 + 1e-9));

  // Branch-and-bound alone gives the same optimum.
  exact.memory_budget = 0;
  exact.solve_lp_first = false;
  EXPECT_NEAR(plan_or_die(g, c, mesh, cm, exact).objective, best, 1e-9 * best);

  const ShardingPlan merged = plan_or_die(g, c, mesh, cm);
  EXPECT_GE(merged.objective, best * (1 - 1e-9));
  EXPECT_NEAR(p.cost(choice_of(merged)), merged.objective, 1e-12 * best);
  // Merging folds followers' costs and inner edges into their leader: the ILP still counts exactly.
  EXPECT_NEAR(merged.ilp_objective, merged.objective, 1e-9 * best);
  EXPECT_GT(merged.num_followers, 0u);
}

INSTANTIATE_TEST_SUITE_P(Graphs, BruteForceTest, ::testing::Values(0, 1));

// Mixture of experts, GShard style: tokens in groups g are dispatched to experts e. With large
// expert weights, expert parallelism (each device holds one expert) beats replicating them; the
// tokens then move by all-to-all, which the resharding between "g split" and "e split" prices.
TEST(ShardTest, MixtureOfExpertsUsesExpertParallelismAndAllToAll) {
  const std::int64_t G = 4, S = 256, E = 4, C = 128, H = 1024, F = 4096;
  Graph g("moe");
  const OpId x = g.add_op(make_op("x", "elementwise", "g s h -> g s h", {G, S, H}, double(G * S * H)));
  const OpId route = g.add_op(make_op("route", "elementwise", "g s e c -> g s e c", {G, S, E, C}, double(G * S * E * C)));
  const OpId dispatch = g.add_op(make_op("dispatch", "moe_dispatch", "g s h, g s e c -> e g c h", {E, G, C, H},
                                         2.0 * G * S * E * C * H));
  const OpId expert = g.add_op(make_op("expert", "matmul", "e g c h, e h f -> e g c f", {E, G, C, F},
                                       2.0 * E * G * C * H * F, 2.0 * E * H * F, 2.0 * E * G * C * H));
  const OpId combine = g.add_op(make_op("combine", "moe_combine", "e g c f, g s e c -> g s f", {G, S, F},
                                        2.0 * G * S * E * C * F));
  g.add_edge(x, dispatch);
  g.add_edge(route, dispatch);
  g.add_edge(dispatch, expert);
  g.add_edge(expert, combine);
  g.add_edge(route, combine);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  AnalyticCostModel::Options adam;
  adam.param_memory_factor = 8;
  const AnalyticCostModel cm(adam);
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm);
  EXPECT_EQ(op_of(plan, g, "expert").chosen.name, "e=S1");
  EXPECT_EQ(op_of(plan, g, "expert").chosen.operands[1].to_string(), "S1RR");  // one expert per device
  EXPECT_EQ(op_of(plan, g, "dispatch").chosen.name, "g=S1");
  EXPECT_EQ(op_of(plan, g, "combine").chosen.name, "g=S1");
  // dispatch -> expert and expert -> combine each move their tensor by all-to-all, forward and back.
  const double a2a = cm.collective_time(c, Collective::kAllToAll, mesh.devices, E * G * C * H * 2.0) +
                     cm.collective_time(c, Collective::kAllToAll, mesh.devices, E * G * C * F * 2.0);
  EXPECT_DOUBLE_EQ(plan.resharding_seconds, 2 * a2a);
}

// Identical layers share one strategy vector; the plan's cost is still exact, and the untied ILP
// can only be as good or better.
TEST(ShardTest, IdenticalLayersShareStrategies) {
  TransformerConfig config;
  config.layers = 4;
  config.hidden = 512;
  config.heads = 8;
  config.seq_len = 256;
  config.vocab = 2048;
  config.micro_batch = 4;
  const Graph g = build_transformer(config).value();
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm;
  const ShardingPlan tied = plan_or_die(g, c, mesh, cm);
  ShardingOptions untied_options;
  untied_options.tie_repeated_layers = false;
  const ShardingPlan untied = plan_or_die(g, c, mesh, cm, untied_options);
  EXPECT_GT(tied.num_tied, 0u);
  EXPECT_EQ(untied.num_tied, 0u);
  EXPECT_LT(tied.num_variables, untied.num_variables);
  EXPECT_LE(untied.objective, tied.objective * (1 + 1e-9));
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  EXPECT_NEAR(p.cost(choice_of(tied)), tied.objective, 1e-12 * tied.objective);
  EXPECT_NEAR(tied.ilp_objective, tied.objective, 1e-9 * tied.objective);
  // Layers 1 and 2 have the same neighbours' kinds all round: their ops must agree position by position.
  for (const char* op : {"qkv", "scores", "attn_v", "proj", "fc1", "fc2"})
    EXPECT_EQ(op_of(tied, g, std::string("layer1.") + op).strategy, op_of(tied, g, std::string("layer2.") + op).strategy)
        << op;
  // softmax follows scores, gelu follows fc1.
  EXPECT_EQ(op_of(tied, g, "layer1.softmax").leader, g.find_op("layer1.scores").value());
  EXPECT_EQ(op_of(tied, g, "layer1.gelu").leader, g.find_op("layer1.fc1").value());
  EXPECT_EQ(op_of(tied, g, "layer1.fc1").leader, g.find_op("layer1.fc1").value());
}

// A time limit of 0 stops before any solving: the plan is the least-memory or rounded one, never
// nothing, and still within the budget.
TEST(ShardTest, TimeLimitZeroStillReturnsAPlan) {
  const Graph g = mlp(8, 64, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm;
  ShardingOptions options;
  options.time_limit = 0;
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, options);
  EXPECT_EQ(plan.termination, Termination::kFeasible);
  ASSERT_EQ(plan.ops.size(), 3u);
  EXPECT_LE(plan.memory_bytes, plan.memory_budget);
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  EXPECT_NEAR(plan.objective, p.cost(choice_of(plan)), 1e-12 * plan.objective);
  EXPECT_GE(plan.objective, plan_or_die(g, c, mesh, cm).objective);
}

}  // namespace
}  // namespace opplan
