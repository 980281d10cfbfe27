// shard() on cases with known optima: Megatron's MLP, a transformer layer on a 2 x 4 mesh, a
// memory budget that forces parameter sharding, brute force on tiny graphs, expert parallelism.
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include <algorithm>
#include <functional>
#include <random>
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

// Brute force over every combination of strategies: the least cost whose peak memory fits.
double cheapest_fitting(const ShardingProblem& p, double budget) {
  double best = kInf;
  std::vector<int> choice(p.strategies.size(), 0);
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    if (i == choice.size()) {
      if (p.peak_memory(choice) <= budget) best = std::min(best, p.cost(choice));
      return;
    }
    for (choice[i] = 0; choice[i] < int(p.strategies[i].size()); ++choice[i]) visit(i + 1);
  };
  visit(0);
  return best;
}

// Tokens 8 x 64, hidden 1024 -> 4096 on 4 GPUs of one node: one all-reduce of the 1 MB output
// costs far less than data parallelism's two all-reduces of 8 MB weights or replicated compute.
TEST(ShardTest, MlpOnOneByFourIsMegatronColumnThenRow) {
  const Graph g = mlp(8, 64, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
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
  // Solved by elimination (the memory row is slack); the LP path finds the same plan, its
  // relaxation being integral.
  EXPECT_EQ(plan.method, "variable elimination");
  EXPECT_FALSE(plan.lp_integral);
  EXPECT_DOUBLE_EQ(plan.objective, plan.compute_seconds + all_reduce);
  EXPECT_NEAR(plan.best_bound, plan.objective, 1e-9 * plan.objective);
  ShardingOptions lp_path;
  lp_path.exact_elimination = false;
  const ShardingPlan lp_plan = plan_or_die(g, c, mesh, cm, lp_path);
  EXPECT_TRUE(lp_plan.lp_integral);
  EXPECT_EQ(lp_plan.method, "LP relaxation");
  EXPECT_EQ(choice_of(lp_plan), choice_of(plan));
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
  config.dropout = false;  // the layer these figures were recorded on
  const Graph g = build_transformer(config).value();
  const Cluster c = two_level_cluster(2, 4);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
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
  // The tied embedding table has one layout in the embedding and the LM head (alias constraint).
  EXPECT_EQ(op_of(plan, g, "embedding").chosen.operands[1].to_string(), "RS1");
  EXPECT_EQ(op_of(plan, g, "lm_head").chosen.operands[1].to_string(), "S1R");
  EXPECT_TRUE(p.aliases_hold(choice_of(plan)));
  // Follow-merging: fewer ILP nodes, a plan within 0.1 % of the optimum whose reported cost is
  // exact. (Its followers take the strategy cheapest for them, which with the tied head here
  // makes the axes-swapped layer a hair cheaper than Megatron's for the merged problem.)
  const ShardingPlan merged = plan_or_die(g, c, mesh, cm);
  EXPECT_LT(merged.num_nodes, plan.num_nodes);
  EXPECT_GE(merged.objective, plan.objective * (1 - 1e-12));
  EXPECT_LE(merged.objective, plan.objective * 1.001);
  EXPECT_DOUBLE_EQ(p.cost(choice_of(merged)), merged.objective);
  EXPECT_TRUE(p.aliases_hold(choice_of(merged)));
}

// Many tokens make data parallelism the cheapest MLP plan, but it replicates the weights and their
// optimizer state (8 bytes per fp16 byte): a budget below that forces the weights to be split.
TEST(ShardTest, MemoryBudgetForcesParameterSharding) {
  const Graph g = mlp(32, 512, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  AnalyticCostModel::Options adam = AnalyticCostModel::Options::Alpa();
  adam.param_memory_factor = 8;
  const AnalyticCostModel cm(adam);
  const ShardingPlan free_plan = plan_or_die(g, c, mesh, cm);
  EXPECT_EQ(op_of(free_plan, g, "fc1").chosen.operands[1].to_string(), "RR");
  EXPECT_EQ(op_of(free_plan, g, "fc2").chosen.operands[1].to_string(), "RR");
  const double replicated_weights = 2 * 2.0 * 1024 * 4096 * 8;
  EXPECT_GT(free_plan.memory_bytes, replicated_weights);

  // Halfway between the least peak any plan can have and the free plan's peak.
  const ShardingProblem problem = build_sharding_problem(g, c, mesh, cm).value();
  const double least = ShardingFormulation(g, problem).minimum_memory();
  ASSERT_LT(least, free_plan.memory_bytes * (1 - 1e-6));
  ShardingOptions tight;
  tight.memory_budget = 0.5 * (least + free_plan.memory_bytes);
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, tight);
  EXPECT_LE(plan.memory_bytes, tight.memory_budget);
  EXPECT_GT(plan.objective, free_plan.objective);
  const bool split = op_of(plan, g, "fc1").chosen.operands[1].to_string() != "RR" ||
                     op_of(plan, g, "fc2").chosen.operands[1].to_string() != "RR";
  EXPECT_TRUE(split);
  EXPECT_DOUBLE_EQ(plan.memory_budget, tight.memory_budget);
  EXPECT_FALSE(plan.lp_integral);
  EXPECT_EQ(plan.termination, Termination::kOptimal);
  EXPECT_EQ(free_plan.method, "variable elimination");
  // The budget binds: elimination relaxes the memory row and proves the optimum with the
  // Lagrangian bound, branching on it if needed.
  EXPECT_TRUE(plan.method == "variable elimination + Lagrangian" || plan.method == "variable elimination + Lagrangian B&B")
      << plan.method;
  // GLPK alone: the memory row makes the relaxation fractional, branch-and-bound finds the same optimum.
  ShardingOptions glpk = tight;
  glpk.exact_elimination = false;
  const ShardingPlan glpk_plan = plan_or_die(g, c, mesh, cm, glpk);
  EXPECT_FALSE(glpk_plan.lp_integral);
  EXPECT_EQ(glpk_plan.method, "branch-and-bound");
  EXPECT_NEAR(glpk_plan.objective, plan.objective, 1e-9 * plan.objective);

  // The same optimum by brute force over all 5 * 4 * 5 strategy combinations within the budget.
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  const double best = cheapest_fitting(p, tight.memory_budget);
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
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();

  double best = kInf, least_memory = kInf, most_memory = 0;
  std::vector<std::pair<double, double>> all;  // (memory, cost) of every combination
  std::vector<int> choice(g.num_ops(), 0);
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    if (i == choice.size()) {
      all.emplace_back(p.peak_memory(choice), p.cost(choice));
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

  // GLPK (LP first, then branch-and-bound) and branch-and-bound alone give the same optima.
  exact.exact_elimination = false;
  EXPECT_NEAR(plan_or_die(g, c, mesh, cm, exact).objective, best_within, 1e-9 * best_within);
  exact.memory_budget = 0;
  EXPECT_NEAR(plan_or_die(g, c, mesh, cm, exact).objective, best, 1e-9 * best);
  exact.solve_lp_first = false;
  EXPECT_NEAR(plan_or_die(g, c, mesh, cm, exact).objective, best, 1e-9 * best);
  EXPECT_EQ(plan.method, "variable elimination");

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
// GPT-3's LM head multiplies by the token embedding table (Op::params_from): on 2 x 4 A100s the
// untied optimum would split the table along h in the embedding but read it whole in the head;
// the alias constraint gives it one layout in both, at a small price.
TEST(ShardTest, TiedEmbeddingTableHasOneLayoutInBothOps) {
  const Graph g = zoo_model("gpt3-1.3b").value();
  Graph untied = g;
  untied.mutable_op(*untied.find_op("lm_head")).params_from.clear();
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 2, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  ASSERT_EQ(p.aliases.size(), 1u);
  EXPECT_EQ(g.op(p.aliases[0].owner).name, "embedding");
  EXPECT_EQ(g.op(p.aliases[0].user).name, "lm_head");
  EXPECT_TRUE(build_sharding_problem(untied, c, mesh, cm).value().aliases.empty());

  const ShardingPlan tied = plan_or_die(g, c, mesh, cm);
  const ShardingPlan free = plan_or_die(untied, c, mesh, cm);
  EXPECT_EQ(tied.termination, Termination::kOptimal);
  // "v h" in the embedding and "h v" in the head: the same layout is the transposed spec.
  auto transposed = [](const ShardingSpec& s) { return ShardingSpec({s.dim(1), s.dim(0)}); };
  EXPECT_EQ(transposed(op_of(tied, g, "embedding").chosen.operands[1]), op_of(tied, g, "lm_head").chosen.operands[1]);
  EXPECT_NE(transposed(op_of(free, untied, "embedding").chosen.operands[1]), op_of(free, untied, "lm_head").chosen.operands[1]);
  EXPECT_TRUE(p.aliases_hold(choice_of(tied)));
  EXPECT_FALSE(p.aliases_hold(choice_of(free)));
  EXPECT_EQ(p.cost(choice_of(free)), kInf);
  EXPECT_GT(tied.objective, free.objective);
  EXPECT_LT(tied.objective, free.objective * 1.01);
}

TEST(ShardTest, TiedWeightMatchingNoOwnerOperandIsAnError) {
  Graph g("tied");
  const OpId emb = g.add_op(make_op("emb", "embedding", "b s, v h -> b s h", {8, 16, 4}, 1e6, 10 * 4 * 2));
  Op head = make_op("head", "matmul", "b s h, h w -> b s w", {8, 16, 12}, 1e6);
  head.params_from = "emb";
  g.add_edge(emb, g.add_op(head));
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  auto plan = shard(g, c, mesh, AnalyticCostModel(AnalyticCostModel::Options::Alpa()));
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              ::testing::HasSubstr("op 'head': params_from 'emb': the weight it reads, [h=4 w=12], matches none of the owner's "
                        "parameter operands ([v=10 h=4]) by dimension names or by sizes"));
}

// The output gradient is live during an op's backward. Here a wide projection feeds a sum that
// saves nothing, so the peak is at the projection's backward, not at the end of the forward. On
// 1 x 4 A100s the free plan (replicated input, column-parallel projection) holds 50.3 MB and peaks
// at 58.7 MB; a budget between the two rejects it although what it holds would fit (one memory
// row, as before live points, would accept it), and the batch-split input (44.0 / 52.4 MB) wins.
TEST(ShardTest, MemoryBudgetHoldsAtEveryLivePoint) {
  Graph g("wide");
  const std::int64_t b = 1024, h = 4096, f = 16384;
  const OpId in = g.add_op(make_op("in", "elementwise", "b h -> b h", {b, h}, 1e6, 0, 2.0 * b * h));
  const OpId up = g.add_op(make_op("up", "matmul", "b h, h f -> b f", {b, f}, 2.0 * b * h * f, 2.0 * h * f, 2.0 * b * h));
  const OpId sum = g.add_op(make_op("sum", "reduce", "b f -> b", {b}, 1.0 * b * f));
  g.add_edge(in, up);
  g.add_edge(up, sum);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  ShardingOptions no_merge;
  no_merge.merge_light_ops = false;
  const ShardingPlan free = plan_or_die(g, c, mesh, cm, no_merge);
  EXPECT_EQ(free.peak_at, "up");
  EXPECT_DOUBLE_EQ(free.memory_bytes, p.peak_memory(choice_of(free)));
  const double held = p.memory(choice_of(free));
  EXPECT_NEAR(held, 50.3316e6, 1e3);
  EXPECT_NEAR(free.memory_bytes, 58.7203e6, 1e3);
  const ShardingFormulation formulation(g, p, no_merge);
  EXPECT_GE(formulation.num_memory_rows(), 2u);
  EXPECT_NEAR(formulation.minimum_memory(), 52.4288e6, 1e3);  // the least peak of any plan

  ShardingOptions tight = no_merge;
  tight.memory_budget = 0.5 * (held + free.memory_bytes);
  const ShardingPlan plan = plan_or_die(g, c, mesh, cm, tight);
  EXPECT_EQ(plan.termination, Termination::kOptimal);
  EXPECT_LE(plan.memory_bytes, tight.memory_budget);
  EXPECT_NE(choice_of(plan), choice_of(free));
  EXPECT_GT(plan.objective, free.objective);
  EXPECT_EQ(op_of(plan, g, "in").chosen.name, "b=S1");
  EXPECT_EQ(op_of(plan, g, "up").chosen.name, "f=S1");
  // Brute force over every combination: the cheapest whose peak fits.
  const double best = cheapest_fitting(p, tight.memory_budget);
  EXPECT_NEAR(plan.objective, best, 1e-9 * best);
}

// A chain of 100 ops whose outputs shrink and that save nothing: every live point can bind, more
// than the 64 rows kept; consecutive points are merged into rows that imply each of them.
TEST(ShardTest, ManyLivePointsMergeIntoConservativeRows) {
  Graph g("shrinking");
  OpId prev;
  for (int i = 0; i < 100; ++i) {
    const OpId id = g.add_op(make_op("op" + std::to_string(i), "elementwise", "", {8, 1000 - 8 * i}, 1e6));
    if (prev.valid()) g.add_edge(prev, id);
    prev = id;
  }
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const ShardingProblem p = build_sharding_problem(g, c, mesh, AnalyticCostModel(AnalyticCostModel::Options::Alpa())).value();
  const ShardingFormulation f(g, p);
  EXPECT_EQ(f.num_memory_rows(), 64u);
  const std::vector<int> only(100, 0);
  OpId at;
  const double peak = p.peak_memory(only, &at);
  EXPECT_EQ(g.op(at).name, "op0");  // the largest output gradient, nothing saved
  EXPECT_DOUBLE_EQ(peak, 8.0 * 1000 * 2);
  EXPECT_GE(f.memory_lower_bound(), peak);  // a merged row counts two or more points' gradients
  EXPECT_LE(f.memory_lower_bound(), 2 * peak);
}

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
  AnalyticCostModel::Options adam = AnalyticCostModel::Options::Alpa();
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
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
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
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
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

// Random problems (strategies, costs, memory and resharding drawn at random, edges between any
// earlier and later op so that the graph is not a chain) solved three ways: brute force over every
// combination, elimination (ShardingFormulation::solve_exact) and GLPK's branch-and-bound on the
// same ILP; without a budget and with one halfway between the least memory and the memory of the
// unconstrained optimum, so that the memory row binds.
// A random sharding problem for brute force: ops with 2-4 strategies of random cost and memory,
// edges with random resharding costs (a third of them free).
struct RandomInstance {
  std::mt19937 rng;
  Graph g{"random"};
  ShardingProblem p;
  explicit RandomInstance(int seed) : rng(static_cast<unsigned>(seed)) { p.device_memory = 1e12; }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  // `live_points`: parameters and output bytes too, op 0's output larger than all that is saved.
  void add_ops(int n, double max_memory, bool live_points) {
    for (int i = 0; i < n; ++i) {
      g.add_op(make_op("op" + std::to_string(i), "matmul", "", {8}, 1e9));
      std::vector<ShardingStrategy> list(static_cast<std::size_t>(pick(2, 4)));
      for (std::size_t k = 0; k < list.size(); ++k) {
        list[k].name = "s" + std::to_string(k);
        list[k].compute_seconds = uniform(1e-4, 1e-3);
        list[k].communication_seconds = uniform(0, 5e-4);
        list[k].memory_bytes = uniform(1e8, max_memory);
        if (!live_points) continue;
        list[k].parameter_bytes = list[k].memory_bytes * uniform(0, 0.5);
        list[k].output_bytes = i == 0 ? uniform(4e9, 5e9) : uniform(0, 1e9);
      }
      p.strategies.push_back(std::move(list));
    }
  }
  // Every combination of strategies that keeps the aliases: (peak memory, cost) of each, the
  // cheapest one's peak and the least peak. Broken aliases must cost +infinity.
  struct BruteForce {
    std::vector<std::pair<double, double>> all;
    double best = kInf, best_memory = 0, least_memory = kInf;
    // The least cost within `budget`, and the options that solve the ILP at that budget exactly
    // (no merging, no tying): with `budgeted`, halfway between the least peak and the best's.
    double cheapest_within(double budget) const {
      double out = kInf;
      for (const auto& [memory, cost] : all)
        if (memory <= budget) out = std::min(out, cost);
      return out;
    }
    ShardingOptions exact_options(bool budgeted) const {
      ShardingOptions options;
      options.merge_light_ops = false;
      options.tie_repeated_layers = false;
      options.memory_budget = budgeted ? (least_memory + best_memory) / 2 : kInf;
      return options;
    }
  };
  BruteForce brute_force() const {
    BruteForce out;
    std::vector<int> choice(p.strategies.size(), 0);
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
      if (i == choice.size()) {
        if (!p.aliases_hold(choice)) {
          EXPECT_EQ(p.cost(choice), kInf);
          return;
        }
        const double cost = p.cost(choice), memory = p.peak_memory(choice);
        out.all.emplace_back(memory, cost);
        if (cost < out.best) out.best = cost, out.best_memory = memory;
        out.least_memory = std::min(out.least_memory, memory);
        return;
      }
      for (choice[i] = 0; choice[i] < int(p.strategies[i].size()); ++choice[i]) visit(i + 1);
    };
    visit(0);
    return out;
  }

  void connect(int a, int b) {
    g.add_edge(OpId(static_cast<std::uint32_t>(a)), OpId(static_cast<std::uint32_t>(b)), 1e6);
    p.edge_src.push_back(OpId(static_cast<std::uint32_t>(a)));
    p.edge_dst.push_back(OpId(static_cast<std::uint32_t>(b)));
    std::vector<double> cost(p.strategies[static_cast<std::size_t>(a)].size() * p.strategies[static_cast<std::size_t>(b)].size());
    for (double& x : cost) x = pick(0, 2) == 0 ? 0.0 : uniform(0, 6e-4);
    p.resharding.push_back(std::move(cost));
  }
};

class RandomProblemTest : public ::testing::TestWithParam<int> {};

TEST_P(RandomProblemTest, EliminationAgreesWithBruteForceAndGlpk) {
  RandomInstance r(GetParam());
  const int n = r.pick(5, 7);
  r.add_ops(n, 1e9, /*live_points=*/false);
  for (int i = 1; i < n; ++i) r.connect(r.pick(0, i - 1), i);  // a random tree
  for (int extra = 0; extra < 3; ++extra) {                     // and cycles through it
    const int a = r.pick(0, n - 2), b = r.pick(a + 1, n - 1);
    r.connect(a, b);
  }
  const Graph& g = r.g;
  const ShardingProblem& p = r.p;
  ASSERT_TRUE(g.validate().ok());

  // No output bytes and no aliases here: the peak is what is held, every choice counts.
  const RandomInstance::BruteForce brute = r.brute_force();
  ASSERT_GT(brute.best_memory, brute.least_memory * (1 + 1e-6));  // a budget in between binds

  for (bool budgeted : {false, true}) {
    SCOPED_TRACE(budgeted ? "budget binds" : "no budget");
    const ShardingOptions options = brute.exact_options(budgeted);
    const double expected = brute.cheapest_within(options.memory_budget);
    ShardingFormulation f(g, p, options);
    auto model = f.build();
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    const double scale = ShardingFormulation::kObjectiveScale;

    const SolveResult exact = f.solve_exact();
    ASSERT_TRUE(exact.has_solution) << exact.message;
    const std::vector<int> found = f.decode(exact.values);
    EXPECT_LE(p.peak_memory(found), options.memory_budget * (1 + 1e-9));
    EXPECT_NEAR(exact.objective, p.cost(found) * scale, 1e-9 * expected * scale);
    EXPECT_NEAR(model->objective_value(exact.values), exact.objective, 1e-9 * expected * scale);
    EXPECT_LE(exact.best_bound, expected * scale * (1 + 1e-9));
    // Proved optimal either way: the memory row slack, or (budgeted) the Lagrangian bound with
    // branching on it; these small instances all leave a root gap, so the branching is exercised.
    EXPECT_EQ(exact.termination, Termination::kOptimal) << exact.message;
    EXPECT_NEAR(exact.objective, expected * scale, 1e-9 * expected * scale);
    EXPECT_NEAR(exact.best_bound, exact.objective, 1e-9 * expected * scale);
    EXPECT_THAT(exact.message, ::testing::HasSubstr(budgeted ? "relaxed" : "slack"));

    GlpkSolver glpk;
    SolveArguments args;
    args.options.relative_gap = 0;
    const SolveResult mip = glpk.solve(*model, args);
    ASSERT_EQ(mip.termination, Termination::kOptimal) << mip.message;
    EXPECT_NEAR(mip.objective, expected * scale, 1e-9 * expected * scale);
    // Warm-started from elimination's plan (as shard() does when elimination leaves a gap).
    args.warm_start = exact.values;
    const SolveResult warm = glpk.solve(*model, args);
    ASSERT_EQ(warm.termination, Termination::kOptimal) << warm.message;
    EXPECT_NEAR(warm.objective, expected * scale, 1e-9 * expected * scale);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomProblemTest, ::testing::Range(1, 21));

// Random problems with several live points that can bind (the first op's output gradient is larger
// than everything saved after it, and the last op's point always counts) and alias constraints
// between random pairs of ops (random compatible strategy pairs): brute force over every
// combination keeping the aliases and the peak within the budget, elimination and GLPK agree.
class LivePointAliasTest : public ::testing::TestWithParam<int> {};

TEST_P(LivePointAliasTest, EliminationAgreesWithBruteForceAndGlpk) {
  RandomInstance r(GetParam());
  auto pick = [&](int lo, int hi) { return r.pick(lo, hi); };
  const int n = pick(5, 7);
  r.add_ops(n, 5e8, /*live_points=*/true);
  for (int i = 1; i < n; ++i) r.connect(pick(0, i - 1), i);  // a random tree, ids in topological order
  const Graph& g = r.g;
  ShardingProblem& p = r.p;
  for (int k = 0; k < 2; ++k) {  // aliases between any two ops, connected or not
    const int a = pick(0, n - 1);
    int b = pick(0, n - 2);
    if (b >= a) ++b;
    ShardingAlias alias{OpId(static_cast<std::uint32_t>(a)), OpId(static_cast<std::uint32_t>(b)), {}};
    alias.allowed.resize(p.strategies[static_cast<std::size_t>(a)].size() * p.strategies[static_cast<std::size_t>(b)].size());
    for (auto& x : alias.allowed) x = pick(0, 1);
    alias.allowed[0] = 1;  // the first strategies agree (as replicated layouts do)
    p.aliases.push_back(std::move(alias));
  }
  ASSERT_TRUE(g.validate().ok());

  const RandomInstance::BruteForce brute = r.brute_force();
  ASSERT_FALSE(brute.all.empty());
  // The output gradient is on top of what is held: the all-first-strategies choice (aliases keep it).
  const std::vector<int> first(static_cast<std::size_t>(n), 0);
  EXPECT_GT(p.peak_memory(first), p.memory(first));

  for (bool budgeted : {false, true}) {
    SCOPED_TRACE(budgeted ? "budget binds" : "no budget");
    if (budgeted && !(brute.best_memory > brute.least_memory * (1 + 1e-6))) continue;  // nothing to bind
    const ShardingOptions options = brute.exact_options(budgeted);
    const double expected = brute.cheapest_within(options.memory_budget);
    ShardingFormulation f(g, p, options);
    EXPECT_GE(f.num_memory_rows(), 2u);
    EXPECT_LE(f.memory_lower_bound(), brute.least_memory * (1 + 1e-12));
    EXPECT_GE(f.minimum_memory(), brute.least_memory * (1 - 1e-12));
    auto model = f.build();
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    const double scale = ShardingFormulation::kObjectiveScale;

    const SolveResult exact = f.solve_exact();
    ASSERT_TRUE(exact.has_solution) << exact.message;
    EXPECT_EQ(exact.termination, Termination::kOptimal) << exact.message;
    const std::vector<int> found = f.decode(exact.values);
    EXPECT_TRUE(p.aliases_hold(found));
    EXPECT_LE(p.peak_memory(found), options.memory_budget * (1 + 1e-9));
    EXPECT_NEAR(exact.objective, expected * scale, 1e-9 * expected * scale);
    EXPECT_NEAR(model->objective_value(exact.values), exact.objective, 1e-9 * expected * scale);

    GlpkSolver glpk;
    SolveArguments args;
    args.options.relative_gap = 0;
    const SolveResult mip = glpk.solve(*model, args);
    ASSERT_EQ(mip.termination, Termination::kOptimal) << mip.message;
    EXPECT_NEAR(mip.objective, expected * scale, 1e-9 * expected * scale);
    EXPECT_TRUE(p.aliases_hold(f.decode(mip.values)));
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LivePointAliasTest, ::testing::Range(1, 21));

// Two independent ops, each with strategies (cost, memory) = (1 ms, 3 GB), (2 ms, 2 GB),
// (4 ms, 1 GB). Budget 4 GB: the best pair within it is (2, 2) at 4 ms, and the Lagrangian at
// lambda = 1.5 ms/GB picks exactly it (2 + 3 = 5 per op beats 1 + 4.5 and 4 + 1.5), with bound
// 10 - 1.5 * 4 = 4 ms: proved. Budget 3.5 GB: the optimum is (2, 1) at 6 ms, but the dual
// max_lambda 2 min_k (c_k + lambda m_k) - 3.5 lambda is 5 ms (at lambda = 2): a gap that
// branching on the Lagrangian bound (or GLPK's branch-and-bound) closes.
TEST(EliminationTest, LagrangianClosesTheGapOnAConvexTradeOff) {
  Graph g("pair");
  ShardingProblem p;
  p.device_memory = 1e12;
  for (const char* name : {"a", "b"}) {
    g.add_op(make_op(name, "matmul", "", {8}, 1e9));
    std::vector<ShardingStrategy> list(3);
    const double cost_ms[] = {1, 2, 4}, memory_gb[] = {3, 2, 1};
    for (std::size_t k = 0; k < 3; ++k) {
      list[k].name = "s" + std::to_string(k);
      list[k].compute_seconds = cost_ms[k] * 1e-3;
      list[k].memory_bytes = memory_gb[k] * 1e9;
    }
    p.strategies.push_back(std::move(list));
  }
  ShardingOptions options;
  options.memory_budget = 4e9;
  ShardingFormulation f(g, p, options);
  auto model = f.build();
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const SolveResult exact = f.solve_exact();
  ASSERT_EQ(exact.termination, Termination::kOptimal) << exact.message;
  EXPECT_NEAR(exact.objective, 4e3, 1e-6);  // microseconds
  EXPECT_NEAR(exact.best_bound, 4e3, 1e-6);
  EXPECT_THAT(exact.message, ::testing::HasSubstr("relaxed"));
  EXPECT_EQ(f.decode(exact.values), (std::vector<int>{1, 1}));
  ShardingOptions tighter;
  tighter.memory_budget = 3.5e9;
  ShardingFormulation f2(g, p, tighter);
  auto model2 = f2.build();
  ASSERT_TRUE(model2.ok());
  const SolveResult gap = f2.solve_exact();
  ASSERT_TRUE(gap.has_solution);
  EXPECT_EQ(gap.termination, Termination::kOptimal) << gap.message;
  EXPECT_NEAR(gap.objective, 6e3, 1e-6);
  EXPECT_NEAR(gap.best_bound, 6e3, 1e-6);
  // At the root the incumbent is (4, 4) ms at 8 ms (the dual optimum's feasible minimiser) and the
  // bound the 5 ms dual.
  EXPECT_THAT(gap.message, ::testing::HasSubstr("root gap 3e+03 us"));
  const std::vector<int> within = f2.decode(gap.values);
  EXPECT_LE(p.memory(within), 3.5e9);
  EXPECT_NE(within[0], within[1]);  // one op at 2 ms / 2 GB, the other at 4 ms / 1 GB
  GlpkSolver glpk;
  const SolveResult mip = glpk.solve(*model2);
  ASSERT_EQ(mip.termination, Termination::kOptimal);
  EXPECT_NEAR(mip.objective, 6e3, 1e-6);
}

// A budget below the least memory any plan needs fails before solving, with the minimum.
TEST(EliminationTest, InfeasibleBudgetNamesTheMinimum) {
  const Graph g = mlp(8, 64, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  double least = 0;  // per op its least-memory strategy: merging cannot go below this
  for (const auto& list : p.strategies) {
    double m = kInf;
    for (const auto& s : list) m = std::min(m, s.memory_bytes);
    least += m;
  }
  ShardingOptions options;
  options.memory_budget = least * 0.5;
  auto plan = shard(g, c, mesh, cm, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), ::testing::HasSubstr("below the minimum possible"));
  ShardingFormulation f(g, p, options);
  EXPECT_EQ(f.solve_exact().termination, Termination::kInvalidInput);  // nothing built
  EXPECT_FALSE(f.build().ok());
}

// Elimination knows only the formulation's own model: with a user extension it refuses.
TEST(EliminationTest, RefusesAModelWithExtensions) {
  const Graph g = mlp(8, 64, 1024, 4096);
  const Cluster c = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(c, 1, 4).value();
  const AnalyticCostModel cm(AnalyticCostModel::Options::Alpa());
  const ShardingProblem p = build_sharding_problem(g, c, mesh, cm).value();
  ShardingFormulation f(g, p);
  ASSERT_TRUE(f.build().ok());
  EXPECT_EQ(f.solve_exact().termination, Termination::kOptimal);
  f.add_extension([](MipModel&, const VariableGroups&) { return Status::Ok(); });
  ASSERT_TRUE(f.build().ok());
  const SolveResult refused = f.solve_exact();
  EXPECT_EQ(refused.termination, Termination::kInvalidInput);
  EXPECT_THAT(refused.message, ::testing::HasSubstr("1 extension(s)"));
}

}  // namespace
}  // namespace opplan
