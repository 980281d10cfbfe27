#include <opplan/models.hpp>

#include <algorithm>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace opplan {
namespace {

// The structure build_transformer documents: embedding, 12 ops per layer, final ln + lm head + loss;
// 15 edges per layer (13 inside the layer, plus the two that enter it: into ln1 and the residual into
// the first add) and 3 for the head.
std::size_t expected_ops(int layers) { return 1 + 12 * static_cast<std::size_t>(layers) + 3; }
std::size_t expected_edges(int layers) { return 15 * static_cast<std::size_t>(layers) + 3; }

Graph gpt3(const char* size) {
  auto config = gpt3_config(size);
  EXPECT_TRUE(config.has_value()) << size;
  auto graph = build_transformer(*config);
  EXPECT_TRUE(graph.ok()) << graph.status().to_string();
  return std::move(graph).value();
}

const Op& op_named(const Graph& graph, const std::string& name) {
  auto id = graph.find_op(name);
  EXPECT_TRUE(id.has_value()) << name;
  return graph.op(*id);
}

TEST(TransformerTest, OpAndEdgeCountFollowTheStructure) {
  const Graph g = gpt3("1.3B");
  EXPECT_EQ(g.name(), "gpt3-1.3b");
  EXPECT_EQ(g.num_ops(), expected_ops(24));
  EXPECT_EQ(g.num_ops(), 292u);
  EXPECT_EQ(g.num_edges(), expected_edges(24));

  TransformerConfig tiny;
  tiny.layers = 3;
  EXPECT_EQ(build_transformer(tiny)->num_ops(), expected_ops(3));
  EXPECT_EQ(build_transformer(tiny)->num_edges(), expected_edges(3));
}

TEST(TransformerTest, ParametersMatchTheNominalSizes) {
  const std::pair<const char*, double> sizes[] = {{"350M", 350e6}, {"1.3B", 1.3e9}, {"6.7B", 6.7e9}};
  for (const auto& [size, nominal] : sizes) {
    const double params = gpt3(size).totals().param_bytes / 2;  // fp16
    EXPECT_NEAR(params / nominal, 1.0, 0.05) << size << ": " << params;
  }
}

TEST(TransformerTest, ParameterCountIsExact) {
  // Per layer: qkv 3h^2+3h, proj h^2+h, fc1 4h^2+4h, fc2 4h^2+h, two layer-norms 4h; plus the
  // (vocab + seq) x h embedding and the final layer-norm. fp32 here: 4 bytes per parameter.
  TransformerConfig c;
  c.hidden = 64, c.heads = 4, c.layers = 2, c.seq_len = 32, c.vocab = 100, c.dtype = DType::kF32;
  const double h = 64;
  const double params = 2 * (12 * h * h + 13 * h) + (100 + 32) * h + 2 * h;
  EXPECT_DOUBLE_EQ(build_transformer(c)->totals().param_bytes, 4 * params);
}

TEST(TransformerTest, QkvMatmulCostsTwoMNK) {
  TransformerConfig c;
  c.micro_batch = 2;
  const Graph g = build_transformer(c).value();
  const Op& qkv = op_named(g, "layer3.qkv");
  const double b = 2, s = 1024, h = 1024;
  EXPECT_EQ(qkv.forward.flops, 2 * b * s * h * 3 * h);
  EXPECT_EQ(qkv.input_grad.flops, qkv.forward.flops);
  EXPECT_EQ(qkv.weight_grad.flops, qkv.forward.flops);
  EXPECT_EQ(qkv.kind, "matmul");
  EXPECT_EQ(qkv.layer, "layer3");
  EXPECT_EQ(qkv.dims, "b s h, h o -> b s o");
  EXPECT_EQ(qkv.shape, (std::vector<std::int64_t>{2, 1024, 3 * 1024}));
  EXPECT_EQ(qkv.dtype, DType::kF16);
  EXPECT_EQ(qkv.param_bytes, (h * 3 * h + 3 * h) * 2);
  EXPECT_EQ(qkv.activation_bytes, b * s * h * 2);  // its saved input
  // inputs + weights + outputs, in fp16
  EXPECT_EQ(qkv.forward.bytes, (b * s * h + h * 3 * h + 3 * h + b * s * 3 * h) * 2);
}

TEST(TransformerTest, AttentionOpsHaveNoWeights) {
  const Graph g = gpt3("350M");
  const Op& scores = op_named(g, "layer0.scores");
  const double b = 1, n = 16, s = 1024, d = 64;
  EXPECT_EQ(scores.kind, "batch_matmul");
  EXPECT_EQ(scores.dims, "b n s d, b n t d -> b n s t");
  EXPECT_EQ(scores.forward.flops, 2 * b * n * s * s * d);
  EXPECT_EQ(scores.input_grad.flops, 2 * scores.forward.flops);  // both operands are activations
  EXPECT_EQ(scores.weight_grad.flops, 0);
  EXPECT_EQ(scores.param_bytes, 0);
  EXPECT_EQ(op_named(g, "layer0.softmax").kind, "softmax");
  EXPECT_EQ(op_named(g, "layer0.gelu").kind, "elementwise");
  EXPECT_EQ(op_named(g, "layer0.ln2").kind, "layernorm");
  EXPECT_EQ(op_named(g, "embedding").kind, "embedding");
  EXPECT_EQ(op_named(g, "loss").kind, "loss");
}

TEST(TransformerTest, LmHeadIsTiedToTheEmbedding) {
  const Graph g = gpt3("350M");
  const Op& head = op_named(g, "lm_head");
  EXPECT_EQ(head.param_bytes, 0);
  EXPECT_GT(head.weight_grad.flops, 0);
  EXPECT_EQ(op_named(g, "embedding").param_bytes, (51200.0 + 1024) * 1024 * 2);
}

TEST(TransformerTest, ResidualAddTakesTheLayerInput) {
  const Graph g = gpt3("350M");
  auto names_of = [&](std::vector<OpId> ids) {
    std::set<std::string> names;
    for (OpId id : ids) names.insert(g.op(id).name);
    return names;
  };
  EXPECT_EQ(names_of(g.predecessors(*g.find_op("layer0.attn_add"))),
            (std::set<std::string>{"embedding", "layer0.proj"}));
  EXPECT_EQ(names_of(g.predecessors(*g.find_op("layer1.attn_add"))),
            (std::set<std::string>{"layer0.mlp_add", "layer1.proj"}));
  EXPECT_EQ(names_of(g.predecessors(*g.find_op("layer1.mlp_add"))),
            (std::set<std::string>{"layer1.attn_add", "layer1.fc2"}));
  EXPECT_EQ(names_of(g.predecessors(*g.find_op("layer1.attn_v"))),
            (std::set<std::string>{"layer1.qkv", "layer1.softmax"}));
  EXPECT_EQ(names_of(g.successors(*g.find_op("layer23.mlp_add"))), (std::set<std::string>{"final_ln"}));
}

TEST(TransformerTest, GraphValidatesAndIsAcyclic) {
  const Graph g = gpt3("1.3B");
  EXPECT_TRUE(g.validate().ok()) << g.validate().to_string();
  EXPECT_FALSE(g.find_cycle().has_value());
  EXPECT_TRUE(g.topological_order().ok());
}

TEST(TransformerTest, ForwardCriticalPathCoversEveryOp) {
  const Graph g = gpt3("1.3B");
  auto path = g.critical_path([&](OpId id) { return g.op(id).forward.flops; });
  ASSERT_TRUE(path.ok()) << path.status().to_string();
  EXPECT_EQ(path->ops.size(), g.num_ops());
  EXPECT_DOUBLE_EQ(path->length, g.totals().flops[static_cast<int>(Phase::kForward)]);
  EXPECT_EQ(g.op(path->ops.front()).name, "embedding");
  EXPECT_EQ(g.op(path->ops.back()).name, "loss");
}

TEST(TransformerTest, ForwardFlopsAreTwoParamsPerTokenPlusAttention) {
  const Graph g = gpt3("1.3B");
  const GraphTotals totals = g.totals();
  const double params = totals.param_bytes / 2, tokens = 1024, layers = 24, s = 1024, h = 2048;
  const double attention = layers * 2 * (2 * tokens * s * h);  // scores and attention x V
  const double forward = totals.flops[static_cast<int>(Phase::kForward)];
  EXPECT_NEAR(forward / (2 * params * tokens + attention), 1.0, 0.01);
  // The backward is about twice the forward.
  const double backward = totals.flops[static_cast<int>(Phase::kInputGrad)] +
                          totals.flops[static_cast<int>(Phase::kWeightGrad)];
  EXPECT_NEAR(backward / forward, 2.0, 0.05);
}

TEST(TransformerTest, EveryLayerOpIsTaggedAndNamed) {
  const Graph g = gpt3("350M");
  std::size_t tagged = 0;
  for (OpId id : g.ops()) {
    const Op& op = g.op(id);
    EXPECT_FALSE(op.dims.empty()) << op.name;
    EXPECT_FALSE(op.shape.empty()) << op.name;
    EXPECT_GE(op.forward.flops, 0) << op.name;
    EXPECT_GT(op.forward.bytes, 0) << op.name;
    if (op.layer.empty()) continue;
    ++tagged;
    EXPECT_EQ(op.name.rfind(op.layer + ".", 0), 0u) << op.name;
  }
  EXPECT_EQ(tagged, 12u * 24);
}

TEST(TransformerTest, CostsScaleWithMicroBatch) {
  TransformerConfig one, four;
  four.micro_batch = 4;
  const GraphTotals a = build_transformer(one)->totals(), b = build_transformer(four)->totals();
  for (int p = 0; p < kNumPhases; ++p) EXPECT_DOUBLE_EQ(b.flops[p], 4 * a.flops[p]);
  EXPECT_DOUBLE_EQ(b.activation_bytes, 4 * a.activation_bytes);
  EXPECT_DOUBLE_EQ(b.param_bytes, a.param_bytes);
}

TEST(TransformerTest, IsValidNamesTheBadField) {
  auto rejects = [](TransformerConfig c, const std::string& field) {
    std::string error;
    EXPECT_FALSE(c.IsValid(&error)) << field;
    EXPECT_NE(error.find(field), std::string::npos) << error;
    auto graph = build_transformer(c);
    ASSERT_FALSE(graph.ok());
    EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(graph.status().message().find(field), std::string::npos);
  };
  TransformerConfig c;
  EXPECT_TRUE(c.IsValid(nullptr));

  c = {}, c.hidden = 1000, c.heads = 16;
  rejects(c, "heads");
  c = {}, c.hidden = 0;
  rejects(c, "hidden");
  c = {}, c.layers = -1;
  rejects(c, "layers");
  c = {}, c.heads = 0;
  rejects(c, "heads");
  c = {}, c.seq_len = 0;
  rejects(c, "seq_len");
  c = {}, c.vocab = -5;
  rejects(c, "vocab");
  c = {}, c.micro_batch = 0;
  rejects(c, "micro_batch");
  c = {}, c.ffn_hidden = -1;
  rejects(c, "ffn_hidden");
  c = {}, c.dtype = DType::kI32;
  rejects(c, "dtype");
}

TEST(Gpt3ConfigTest, AlpaSizes) {
  auto c = gpt3_config("6.7B");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->hidden, 4096);
  EXPECT_EQ(c->layers, 32);
  EXPECT_EQ(c->heads, 32);
  EXPECT_EQ(c->seq_len, 1024);
  EXPECT_EQ(c->vocab, 51200);
  EXPECT_EQ(c->dtype, DType::kF16);
  EXPECT_EQ(gpt3_config("39B")->hidden, 8192);
  EXPECT_EQ(gpt3_config("15B")->heads, 40);
  EXPECT_EQ(gpt3_config("2.6b")->layers, 32);
  EXPECT_FALSE(gpt3_config("7B").has_value());
  EXPECT_FALSE(gpt3_config("").has_value());
}

TEST(ZooTest, NamesAreCaseInsensitive) {
  // The GPT-3 sizes come first; the other families follow (tests/models/zoo_test.cpp).
  const auto names = zoo_names();
  ASSERT_GE(names.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 6),
            (std::vector<std::string>{"gpt3-350m", "gpt3-1.3b", "gpt3-2.6b", "gpt3-6.7b", "gpt3-15b", "gpt3-39b"}));
  auto g = zoo_model("GPT3-1.3B");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->name(), "gpt3-1.3b");
  EXPECT_EQ(g->num_ops(), expected_ops(24));
  EXPECT_EQ(zoo_model("gpt3-39b")->num_ops(), expected_ops(48));
}

TEST(ZooTest, UnknownNameListsTheKnownOnes) {
  for (const char* name : {"gpt4", "gpt3-", "gpt3-7b", ""}) {
    auto g = zoo_model(name);
    ASSERT_FALSE(g.ok()) << name;
    EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
    for (const auto& known : zoo_names()) EXPECT_NE(g.status().message().find(known), std::string::npos) << known;
  }
}

}  // namespace
}  // namespace opplan
