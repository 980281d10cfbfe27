// Graphs exported from PyTorch by tools/torch_export/opplan_export.py (tests/data/torch), checked
// against the models' published sizes: parameters counted by torch, and the multiply-accumulates
// torchvision documents (ResNet-50 4.09 G, Inception-v3 5.71 G, Swin-T 4.49 G per image; a MAC is
// 2 FLOPs). Regenerate the files with
//   /usr/bin/python3 tools/torch_export/opplan_export.py --model NAME -o tests/data/torch/NAME.json
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/io.hpp>
#include <opplan/sharding.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace opplan {
namespace {

const std::string kTorchData = std::string(OPPLAN_TEST_DATA_DIR) + "/torch";

Graph load(const std::string& name) {
  auto graph = read_graph_json(kTorchData + "/" + name + ".json");
  EXPECT_TRUE(graph.ok()) << graph.status().to_string();
  return graph.ok() ? std::move(graph).value() : Graph();
}

const Op& op_named(const Graph& graph, const std::string& name) {
  const auto id = graph.find_op(name);
  if (!id) throw std::runtime_error("no op named '" + name + "' in " + graph.name());
  return graph.op(*id);
}

std::map<std::string, int> kinds(const Graph& graph) {
  std::map<std::string, int> out;
  for (OpId id : graph.ops()) ++out[graph.op(id).kind];
  return out;
}

// Forward FLOPs of the ops that do the multiply-accumulates (convolutions, matmuls, attention).
double matmul_forward_flops(const Graph& graph) {
  double sum = 0;
  for (OpId id : graph.ops()) {
    const Op& op = graph.op(id);
    if (op.kind == "conv" || op.kind == "matmul" || op.kind == "batch_matmul" || op.kind == "attention")
      sum += op.forward.flops;
  }
  return sum;
}

double relative_error(double value, double expected) { return std::fabs(value - expected) / expected; }

// Every edge goes forward in the topological order, which covers every op once.
void expect_topological(const Graph& graph) {
  auto order = graph.topological_order();
  ASSERT_TRUE(order.ok()) << order.status().to_string();
  ASSERT_EQ(order->size(), graph.num_ops());
  std::vector<std::size_t> position(graph.num_ops());
  for (std::size_t i = 0; i < order->size(); ++i) position[(*order)[i].value()] = i;
  for (EdgeId e : graph.edges())
    EXPECT_LT(position[graph.edge(e).src.value()], position[graph.edge(e).dst.value()]) << "edge #" << e.value();
}

// The dimension annotations bind to the graph: the sharding planner derives strategies for every op.
void expect_annotations_bind(const Graph& graph) {
  const Cluster cluster = Cluster::dgx_a100();
  auto mesh = make_mesh(cluster, 1, 2);
  ASSERT_TRUE(mesh.ok()) << mesh.status().to_string();
  const AnalyticCostModel cost;
  auto problem = build_sharding_problem(graph, cluster, *mesh, cost);
  ASSERT_TRUE(problem.ok()) << graph.name() << ": " << problem.status().to_string();
  EXPECT_EQ(problem->strategies.size(), graph.num_ops());
}

TEST(TorchGraphs, ResNet50MatchesTorchvision) {
  const Graph g = load("resnet50");
  EXPECT_EQ(g.name(), "resnet50");
  // 53 convolutions each followed by a batch norm, 16 residual adds + 17 ReLUs + ... as fx traces them.
  EXPECT_EQ(g.num_ops(), 176u);
  EXPECT_EQ(g.num_edges(), 191u);
  const auto k = kinds(g);
  EXPECT_EQ(k.at("conv"), 53);
  EXPECT_EQ(k.at("batchnorm"), 53);
  EXPECT_EQ(k.at("matmul"), 1);
  EXPECT_EQ(k.at("pool"), 2);  // max pool and global average pool
  EXPECT_EQ(k.at("input"), 1);
  EXPECT_TRUE(g.validate().ok());
  expect_topological(g);

  const GraphTotals t = g.totals();
  // 25,557,032 parameters in f32.
  EXPECT_EQ(t.param_bytes, 25557032.0 * 4);
  // 4,089,184,256 MACs in convolutions and the classifier, plus the classifier's 1000 bias adds.
  EXPECT_EQ(matmul_forward_flops(g), 2 * 4089184256.0 + 1000);
  // With batch norms, ReLUs, adds and pools the forward is within 2% of the 8.18 GFLOP figure.
  EXPECT_LT(relative_error(t.flops[0], 2 * 4.089e9), 0.02) << t.flops[0];
  // Backward: the weight gradient of every conv / linear costs its forward; the input gradient too,
  // except for the stem conv, whose input (the image) needs no gradient.
  const Op& stem = op_named(g, "conv1");
  EXPECT_EQ(stem.forward.flops, 2.0 * 64 * 112 * 112 * 3 * 7 * 7);
  EXPECT_EQ(stem.input_grad.flops, 0);
  EXPECT_EQ(stem.weight_grad.flops, stem.forward.flops);
  EXPECT_EQ(stem.param_bytes, 64.0 * 3 * 7 * 7 * 4);
  EXPECT_EQ(stem.activation_bytes, 3.0 * 224 * 224 * 4);  // keeps its input for the weight gradient
  EXPECT_EQ(stem.shape, (std::vector<std::int64_t>{1, 64, 112, 112}));
  EXPECT_EQ(stem.dims, "b c i j, r c k -> b k x y");
  const Op& conv2 = op_named(g, "layer1_0_conv2");  // 3x3, 64 -> 64 on 56x56
  EXPECT_EQ(conv2.forward.flops, 2.0 * 64 * 56 * 56 * 64 * 9);
  EXPECT_EQ(conv2.input_grad.flops, conv2.forward.flops);
  EXPECT_EQ(conv2.layer, "layer1.0");
  const Op& fc = op_named(g, "fc");
  EXPECT_EQ(fc.kind, "matmul");
  EXPECT_EQ(fc.forward.flops, 2.0 * 2048 * 1000 + 1000);
  EXPECT_EQ(fc.input_grad.flops, 2.0 * 2048 * 1000);
  EXPECT_EQ(fc.param_bytes, (2048.0 * 1000 + 1000) * 4);
  EXPECT_EQ(fc.dims, "b i, i o -> b o");
  EXPECT_EQ(fc.shape, (std::vector<std::int64_t>{1, 1000}));
  EXPECT_EQ(g.out_degree(*g.find_op("fc")), 0u);
  // The image is a graph input op with no cost; its edge carries 3 x 224 x 224 floats.
  const Op& x = op_named(g, "x");
  EXPECT_EQ(x.kind, "input");
  EXPECT_EQ(x.forward.flops, 0);
  const auto out = g.out_edges(*g.find_op("x"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(g.edge(out[0]).bytes, 3.0 * 224 * 224 * 4);
  // One layer tag per bottleneck block: 3 + 4 + 6 + 3.
  std::set<std::string> layers;
  for (OpId id : g.ops())
    if (!g.op(id).layer.empty()) layers.insert(g.op(id).layer);
  EXPECT_EQ(layers.size(), 16u);
  EXPECT_TRUE(layers.count("layer4.2"));
  expect_annotations_bind(g);
}

TEST(TorchGraphs, InceptionV3MatchesTorchvision) {
  const Graph g = load("inception_v3");
  EXPECT_EQ(g.num_ops(), 315u);
  EXPECT_EQ(g.num_edges(), 349u);
  const auto k = kinds(g);
  EXPECT_EQ(k.at("conv"), 94);
  EXPECT_EQ(k.at("concat"), 15);  // 11 Inception blocks, 4 of them with two inner concatenations
  EXPECT_TRUE(g.validate().ok());
  expect_topological(g);
  const GraphTotals t = g.totals();
  EXPECT_EQ(t.param_bytes, 23834568.0 * 4);  // without the auxiliary classifier
  EXPECT_LT(relative_error(matmul_forward_flops(g), 2 * 5.713e9), 0.01) << matmul_forward_flops(g);
  EXPECT_LT(relative_error(t.flops[0], 2 * 5.713e9), 0.02) << t.flops[0];
  // A concatenation's output is the sum of its inputs: the edges into Mixed_5b's cat carry
  // 64 + 64 + 96 + 32 channels of 35 x 35 floats.
  const OpId cat = *g.find_op("cat");
  double in_bytes = 0;
  for (EdgeId e : g.in_edges(cat)) in_bytes += g.edge(e).bytes;
  EXPECT_EQ(in_bytes, 256.0 * 35 * 35 * 4);
  EXPECT_EQ(g.op(cat).output_bytes(), in_bytes);
  expect_annotations_bind(g);
}

TEST(TorchGraphs, TransformerMatchesItsFormula) {
  const Graph g = load("transformer");
  // nn.Transformer(): d_model 512, 8 heads, FFN 2048, 6 encoder and 6 decoder layers; 32 source and
  // 32 target tokens, batch 1.
  EXPECT_EQ(g.num_ops(), 178u);
  EXPECT_EQ(g.num_edges(), 212u);
  const auto k = kinds(g);
  EXPECT_EQ(k.at("attention"), 18);  // 6 encoder self-, 6 decoder self- and 6 cross-attentions
  EXPECT_EQ(k.at("matmul"), 24);     // two FFN linears per layer
  EXPECT_EQ(k.at("layernorm"), 32);  // 2 per encoder, 3 per decoder layer, 2 final norms
  EXPECT_EQ(k.at("input"), 2);
  EXPECT_TRUE(g.validate().ok());
  expect_topological(g);
  const GraphTotals t = g.totals();
  EXPECT_EQ(t.param_bytes, 44140544.0 * 4);
  const double s = 32, d = 512, f = 2048, heads = 8;
  const double attention_macs = 4 * s * d * d + 2 * s * s * d;  // projections; scores and context
  const double ffn_macs = 2 * s * d * f;
  const double macs = 6 * (attention_macs + ffn_macs) + 6 * (2 * attention_macs + ffn_macs);
  EXPECT_LT(relative_error(matmul_forward_flops(g), 2 * macs), 0.01) << matmul_forward_flops(g);
  EXPECT_LT(relative_error(t.flops[0], 2 * macs), 0.02) << t.flops[0];
  // One self-attention exactly: projections, two attention matmuls, softmax, projection biases.
  const Op& attn = op_named(g, "encoder_layers_0_self_attn");
  EXPECT_EQ(attn.forward.flops, 2 * attention_macs + 5 * s * s * heads + 4 * s * d);
  EXPECT_EQ(attn.param_bytes, (4 * d * d + 4 * d) * 4);
  EXPECT_EQ(attn.input_grad.flops, 0);  // its input is the graph input `src`
  EXPECT_EQ(attn.layer, "encoder.layers.0");
  const Op& ffn = op_named(g, "encoder_layers_0_linear1");
  EXPECT_EQ(ffn.forward.flops, 2 * s * d * f + s * f);
  EXPECT_EQ(ffn.input_grad.flops, 2 * s * d * f);
  EXPECT_EQ(ffn.weight_grad.flops, 2 * s * d * f + s * f);
  EXPECT_EQ(ffn.dims, "b d1 i, i o -> b d1 o");
  EXPECT_EQ(ffn.shape, (std::vector<std::int64_t>{32, 1, 2048}));
  expect_annotations_bind(g);
}

TEST(TorchGraphs, SwinTMatchesTorchvision) {
  const Graph g = load("swin_t");
  EXPECT_EQ(g.num_ops(), 174u);
  EXPECT_EQ(kinds(g).at("attention"), 12);  // 2 + 2 + 6 + 2 blocks
  EXPECT_TRUE(g.validate().ok());
  expect_topological(g);
  const GraphTotals t = g.totals();
  EXPECT_EQ(t.param_bytes, 28288354.0 * 4);
  EXPECT_LT(relative_error(t.flops[0], 2 * 4.49e9), 0.02) << t.flops[0];
  expect_annotations_bind(g);
}

}  // namespace
}  // namespace opplan
