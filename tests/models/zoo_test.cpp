// The zoo's MoE, Wide-ResNet, Llama-3 and DeepSeek-V3 builders: parameter counts against the
// published sizes, op costs against hand formulas, every zoo graph validates, and the sharding
// planner accepts one small instance of each family.
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/sharding.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace opplan {
namespace {

double params_of(const Result<Graph>& g, double bytes_per_param) {
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g->totals().param_bytes / bytes_per_param;
}

const Op& op_named(const Graph& g, const std::string& name) {
  auto id = g.find_op(name);
  EXPECT_TRUE(id.has_value()) << name;
  return g.op(*id);
}

TEST(ModelZooTest, ParameterCountsMatchTheNominalSizes) {
  struct Case {
    const char* model;
    double nominal;
    double bytes;
  };
  const Case cases[] = {
      {"gshard-moe-380m", 380e6, 2}, {"gshard-moe-1.3b", 1.3e9, 2}, {"gshard-moe-10b", 10e9, 2},
      {"gshard-moe-27b", 27e9, 2},   {"gshard-moe-70b", 70e9, 2},   {"wresnet-250m", 250e6, 4},
      {"wresnet-1b", 1e9, 4},        {"wresnet-2b", 2e9, 4},        {"wresnet-4b", 4e9, 4},
      {"wresnet-6.8b", 6.8e9, 4},    {"wresnet-13b", 13e9, 4},      {"llama3-8b", 8.03e9, 2},
      {"llama3-70b", 70.6e9, 2},     {"deepseek-v3-671b", 671e9, 2}};
  for (const Case& c : cases) {
    const double params = params_of(zoo_model(c.model), c.bytes);
    EXPECT_NEAR(params / c.nominal, 1.0, 0.05) << c.model << ": " << params;
  }
}

TEST(ModelZooTest, EveryZooModelBuildsAndValidates) {
  const auto names = zoo_names();
  EXPECT_EQ(names.size(), 7u + 6u + 6u + 3u + 1u + 3u);
  for (const std::string& name : names) {
    auto g = zoo_model(name);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status().to_string();
    EXPECT_EQ(g->name(), name);
    EXPECT_TRUE(g->validate().ok()) << name << ": " << g->validate().to_string();
    for (OpId id : g->ops()) {
      const Op& op = g->op(id);
      EXPECT_FALSE(op.shape.empty()) << name << " " << op.name;
      if (op.kind != "input") {
        EXPECT_FALSE(op.dims.empty()) << name << " " << op.name;
        EXPECT_GT(op.forward.bytes, 0) << name << " " << op.name;
      }
      if (op.param_bytes > 0 && op.kind != "embedding") EXPECT_GT(op.weight_grad.flops, 0) << name << " " << op.name;
    }
  }
  // Case-insensitive, and an unknown name lists the known ones.
  EXPECT_TRUE(zoo_model("LLaMA3-8B").ok());
  auto unknown = zoo_model("gshard-moe-3b");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("wresnet-13b"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("deepseek-v3-671b"), std::string::npos);
}

TEST(ModelZooTest, MoeExpertCostsFollowTheCapacity) {
  const Graph g = zoo_model("gshard-moe-380m").value();
  // One group of 1024 tokens (the expert group, 2048, is more than a sequence), 8 experts,
  // top-2: capacity C = 2 * 1024 / 8 = 256 tokens per expert.
  const Op& fc1 = op_named(g, "layer3.expert_fc1");
  EXPECT_EQ(fc1.shape, (std::vector<std::int64_t>{8, 1, 256, 4 * 768}));
  EXPECT_EQ(fc1.forward.flops, 2.0 * 8 * 256 * 768 * 3072);
  EXPECT_EQ(fc1.param_bytes, 8.0 * 768 * 3072 * 2);
  EXPECT_EQ(op_named(g, "layer3.dispatch").kind, "moe_dispatch");
  EXPECT_EQ(op_named(g, "layer3.dispatch").dims, "g s h, g s e c -> e g c h");
  EXPECT_EQ(op_named(g, "layer3.combine").dims, "e g c h, g s e c -> g s h");
  EXPECT_EQ(op_named(g, "layer3.combine").layer, "layer3");
  // Two sequences in one 2048-token group: a regrouping view appears and C doubles.
  MoeConfig two = gshard_moe_config("380M").value();
  two.micro_batch = 2;
  const Graph g2 = build_gshard_moe(two).value();
  EXPECT_EQ(op_named(g2, "layer0.expert_fc1").shape, (std::vector<std::int64_t>{8, 1, 512, 3072}));
  EXPECT_EQ(op_named(g2, "layer0.group").kind, "reshape");
  EXPECT_TRUE(g2.validate().ok());
  MoeConfig bad = two;
  bad.top_k = 9;
  EXPECT_EQ(build_gshard_moe(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelZooTest, LlamaUsesGroupedQueryAttentionAndSwiGlu) {
  const Graph g = zoo_model("llama3-8b").value();
  const double T = 8192, h = 4096;
  EXPECT_EQ(op_named(g, "layer0.q").forward.flops, 2 * T * h * h);
  EXPECT_EQ(op_named(g, "layer0.k").shape, (std::vector<std::int64_t>{1, 8192, 1024}));  // 8 kv heads of 128
  EXPECT_EQ(op_named(g, "layer0.k").param_bytes, h * 1024 * 2);
  EXPECT_EQ(op_named(g, "layer0.attn_norm").kind, "rmsnorm");
  EXPECT_EQ(op_named(g, "layer0.attn_norm").param_bytes, h * 2);  // scale only
  EXPECT_EQ(op_named(g, "layer0.swiglu").shape, (std::vector<std::int64_t>{1, 8192, 14336}));
  EXPECT_EQ(op_named(g, "layer0.scores").shape, (std::vector<std::int64_t>{1, 32, 8192, 8192}));
  // embedding + 15 ops per layer + final norm, head, loss
  EXPECT_EQ(g.num_ops(), 1u + 15u * 32u + 3u);
  LlamaConfig bad = llama3_config("8B").value();
  bad.kv_heads = 5;
  EXPECT_EQ(build_llama(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelZooTest, DeepSeekHasDenseThenMoeLayersWithLatentAttention) {
  const Graph g = zoo_model("deepseek-v3-671b").value();
  EXPECT_TRUE(g.find_op("layer2.mlp_gate").has_value());  // dense
  EXPECT_FALSE(g.find_op("layer2.expert_up").has_value());
  const Op& up = op_named(g, "layer3.expert_up");
  // One sequence of 4096 tokens, top-8 of 256 experts: C = 8 * 4096 / 256 = 128.
  EXPECT_EQ(up.shape, (std::vector<std::int64_t>{256, 1, 128, 2048}));
  EXPECT_EQ(op_named(g, "layer3.shared_up").shape, (std::vector<std::int64_t>{1, 4096, 2048}));
  EXPECT_EQ(op_named(g, "layer3.q_up").shape, (std::vector<std::int64_t>{1, 4096, 128 * 192}));
  EXPECT_EQ(op_named(g, "layer3.kv_up").param_bytes, 512.0 * 128 * 256 * 2);
  EXPECT_EQ(op_named(g, "layer3.scores").forward.flops, 2.0 * 128 * 4096 * 4096 * 192);
  EXPECT_EQ(op_named(g, "layer3.attn_v").shape, (std::vector<std::int64_t>{1, 128, 4096, 128}));
  // Active parameters per token: ~37B of 671B (the routed experts' 8 of 256 count).
  double active = 0;
  for (OpId id : g.ops()) {
    const Op& op = g.op(id);
    const bool routed = op.name.find(".expert_") != std::string::npos;
    active += routed ? op.param_bytes * 8 / 256 : op.param_bytes;
  }
  EXPECT_NEAR(active / 2 / 37.5e9, 1.0, 0.05) << active / 2;
}

TEST(ModelZooTest, WideResNetConvolutionsFollowTheBottleneck) {
  const Graph g = zoo_model("wresnet-250m").value();
  // Stage 1's first block: 1x1 640 -> 320 at 56x56, 3x3 320 -> 640 stride 2 to 28x28.
  const Op& conv2 = op_named(g, "layer3.conv2");
  EXPECT_EQ(conv2.kind, "conv");
  EXPECT_EQ(conv2.dims, "b c i j, r c k -> b k x y");
  EXPECT_EQ(conv2.shape, (std::vector<std::int64_t>{32, 640, 28, 28}));
  EXPECT_EQ(conv2.forward.flops, 2.0 * 32 * 28 * 28 * 320 * 640 * 9);
  EXPECT_EQ(conv2.param_bytes, 320.0 * 640 * 9 * 4);
  EXPECT_TRUE(g.find_op("layer3.proj").has_value());
  EXPECT_FALSE(g.find_op("layer4.proj").has_value());
  // 16 blocks for depth 50, 33 for 101.
  EXPECT_TRUE(g.find_op("layer15.add_relu").has_value());
  EXPECT_FALSE(g.find_op("layer16.add_relu").has_value());
  EXPECT_TRUE(zoo_model("wresnet-13b")->find_op("layer32.add_relu").has_value());
}

// A small instance of each family goes through the sharding planner on a 2 x 2 mesh: the
// annotations bind, and the plan is at least as good as running everything replicated.
TEST(ModelZooTest, SmallInstancesShardOnAMesh) {
  MoeConfig moe;
  moe.hidden = 256, moe.layers = 2, moe.heads = 4, moe.experts = 4, moe.seq_len = 128, moe.vocab = 1024, moe.micro_batch = 4;
  moe.expert_group = 256;
  WideResNetConfig resnet;
  resnet.base_channels = 64, resnet.image_size = 64, resnet.classes = 256, resnet.micro_batch = 64;
  LlamaConfig llama;
  llama.hidden = 1024, llama.layers = 2, llama.heads = 8, llama.kv_heads = 2, llama.ffn_hidden = 2048, llama.seq_len = 512;
  llama.vocab = 4096, llama.micro_batch = 4;
  DeepSeekConfig ds;
  ds.hidden = 1024, ds.layers = 3, ds.dense_layers = 1, ds.heads = 4, ds.q_lora_rank = 64, ds.kv_lora_rank = 32;
  ds.qk_nope_dim = 32, ds.qk_rope_dim = 16, ds.v_head_dim = 32, ds.dense_ffn_hidden = 2048, ds.expert_ffn_hidden = 512;
  ds.routed_experts = 8, ds.active_experts = 2, ds.seq_len = 512, ds.vocab = 4096, ds.micro_batch = 4;
  const Graph graphs[] = {build_gshard_moe(moe).value(), build_wide_resnet(resnet).value(), build_llama(llama).value(),
                          build_deepseek(ds).value()};
  const Cluster cluster = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(cluster, 2, 2).value();
  const AnalyticCostModel cost_model(AnalyticCostModel::Options::Alpa());
  for (const Graph& g : graphs) {
    auto problem = build_sharding_problem(g, cluster, mesh, cost_model);
    ASSERT_TRUE(problem.ok()) << g.name() << ": " << problem.status().to_string();
    auto plan = shard(g, cluster, mesh, cost_model);
    ASSERT_TRUE(plan.ok()) << g.name() << ": " << plan.status().to_string();
    EXPECT_EQ(plan->termination, Termination::kOptimal) << g.name();
    const double replicated = problem->cost(std::vector<int>(g.num_ops(), 0));
    EXPECT_LT(plan->objective, replicated) << g.name();
    EXPECT_NEAR(problem->cost([&] {
      std::vector<int> choice;
      for (const auto& o : plan->ops) choice.push_back(o.strategy);
      return choice;
    }()), plan->objective, 1e-9 * plan->objective) << g.name();
  }
}

// Every op of every zoo model has an annotation that binds to its shapes and edges: the sharding
// problem builds on a 2 x 2 mesh, and most ops get a choice of strategies.
TEST(ModelZooTest, EveryZooAnnotationBinds) {
  const Cluster cluster = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(cluster, 2, 2).value();
  const AnalyticCostModel cost_model(AnalyticCostModel::Options::Alpa());
  for (const std::string& name : zoo_names()) {
    const Graph g = zoo_model(name).value();
    auto problem = build_sharding_problem(g, cluster, mesh, cost_model);
    ASSERT_TRUE(problem.ok()) << name << ": " << problem.status().to_string();
    std::size_t with_choice = 0;
    for (const auto& strategies : problem->strategies) with_choice += strategies.size() > 1;
    EXPECT_GT(with_choice, g.num_ops() * 9 / 10) << name;
  }
}

// One zoo size of each new family, as published, on 2 x 2 A100s. Llama-3 8B (8192-token
// sequences) and DeepSeek-V3 do not fit four devices, so memory is not limited here.
TEST(ModelZooTest, ZooSizesShardOnTwoByTwo) {
  const Cluster cluster = Cluster::dgx_a100(1);
  const Mesh mesh = make_mesh(cluster, 2, 2).value();
  const AnalyticCostModel cost_model(AnalyticCostModel::Options::Alpa());
  ShardingOptions unlimited;
  unlimited.memory_budget = kInf;
  for (const char* name : {"gshard-moe-380m", "wresnet-250m", "llama3-8b", "deepseek-v3-671b"}) {
    const Graph g = zoo_model(name).value();
    auto plan = shard(g, cluster, mesh, cost_model, unlimited);
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status().to_string();
    EXPECT_EQ(plan->termination, Termination::kOptimal) << name;
    EXPECT_NEAR(plan->ilp_objective, plan->objective, 1e-9 * plan->objective) << name;
    const double replicated = build_sharding_problem(g, cluster, mesh, cost_model)->cost(std::vector<int>(g.num_ops(), 0));
    EXPECT_LT(plan->objective, 0.5 * replicated) << name;  // four devices share the work
  }
}

}  // namespace
}  // namespace opplan
