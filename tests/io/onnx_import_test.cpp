// read_onnx_graph on tests/data/onnx/tiny_cnn.onnx (made by make_tiny_cnn.py there; its docstring
// lists the nodes and shapes). The file stores no inner shapes, so every shape and FLOP count below
// comes from ONNX shape inference.
#include <opplan/io.hpp>
#include <opplan/onnx.hpp>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace opplan {
namespace {

const std::string kOnnxData = std::string(OPPLAN_TEST_DATA_DIR) + "/onnx";

TEST(OnnxImport, TinyCnnOpsShapesAndFlops) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  auto loaded = read_onnx_graph(kOnnxData + "/tiny_cnn.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Graph& g = *loaded;
  EXPECT_EQ(g.name(), "tiny-cnn");
  ASSERT_EQ(g.num_ops(), 10u);  // the input x and 9 nodes
  // x->conv->relu->pool->flat->fc->act, act->mix, act->res, mix->res, res->prob.
  EXPECT_EQ(g.num_edges(), 10u);
  EXPECT_TRUE(g.validate().ok());
  const std::vector<std::string> names = {"x", "conv", "relu", "pool", "flat", "fc", "act", "mix", "res", "prob"};
  const std::vector<std::string> kinds = {"input", "conv", "elementwise", "pool", "reshape", "matmul",
                                          "elementwise", "matmul", "elementwise", "softmax"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(g.op(OpId(i)).name, names[i]);
    EXPECT_EQ(g.op(OpId(i)).kind, kinds[i]) << names[i];
  }
  auto op = [&](const char* name) -> const Op& { return g.op(*g.find_op(name)); };

  // Conv 3 -> 8, 3x3 on [2, 3, 8, 8] with padding 1: 2 * 1024 outputs * 27 MACs, plus the bias.
  const Op& conv = op("conv");
  EXPECT_EQ(conv.shape, (std::vector<std::int64_t>{2, 8, 8, 8}));
  EXPECT_EQ(conv.forward.flops, 2.0 * 1024 * 27 + 1024);
  EXPECT_EQ(conv.input_grad.flops, 0);  // its input is the graph input
  EXPECT_EQ(conv.weight_grad.flops, 2.0 * 1024 * 27 + 1024);
  EXPECT_EQ(conv.param_bytes, (8.0 * 3 * 3 * 3 + 8) * 4);
  EXPECT_EQ(conv.activation_bytes, 2.0 * 3 * 8 * 8 * 4);
  EXPECT_EQ(conv.forward.bytes, (2.0 * 3 * 8 * 8 + 224 + 1024) * 4);  // input, weights and bias, output
  EXPECT_EQ(op("pool").shape, (std::vector<std::int64_t>{2, 8, 4, 4}));
  EXPECT_EQ(op("pool").forward.flops, 256.0 * 4);
  EXPECT_EQ(op("flat").shape, (std::vector<std::int64_t>{2, 128}));
  EXPECT_EQ(op("flat").forward.flops, 0);
  // Gemm [2, 128] x [128, 16]^T + bias.
  const Op& fc = op("fc");
  EXPECT_EQ(fc.shape, (std::vector<std::int64_t>{2, 16}));
  EXPECT_EQ(fc.forward.flops, 2.0 * 2 * 128 * 16 + 32);
  EXPECT_EQ(fc.input_grad.flops, 2.0 * 2 * 128 * 16);
  EXPECT_EQ(fc.param_bytes, (16.0 * 128 + 16) * 4);
  EXPECT_EQ(op("mix").forward.flops, 2.0 * 2 * 16 * 16);
  EXPECT_EQ(op("mix").param_bytes, 16.0 * 16 * 4);
  EXPECT_EQ(op("prob").forward.flops, 5.0 * 32);
  EXPECT_EQ(op("prob").shape, (std::vector<std::int64_t>{2, 16}));

  const GraphTotals t = g.totals();
  EXPECT_EQ(t.param_bytes, (216.0 + 8 + 2048 + 16 + 256) * 4);  // conv, fc, mix
  EXPECT_EQ(t.flops[0], 56320.0 + 1024 + 1024 + 0 + 8224 + 32 + 1024 + 32 + 160);
  // Edges carry the inferred tensors: pool -> flat [2, 8, 4, 4] floats.
  const auto in_flat = g.in_edges(*g.find_op("flat"));
  ASSERT_EQ(in_flat.size(), 1u);
  EXPECT_EQ(g.edge(in_flat[0]).bytes, 256.0 * 4);
  // The residual reads act and mix: two edges of [2, 16] floats.
  EXPECT_EQ(g.in_edges(*g.find_op("res")).size(), 2u);
  // Round trip through the JSON format.
  auto again = parse_graph_json(graph_to_json(g), "tiny_cnn.json");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->num_ops(), 10u);
}

// Every op of the tiny CNN carries the annotation the PyTorch exporter writes for its kind, so that
// shard() can carry a batch split through the whole graph (issue 15).
TEST(OnnxImport, TinyCnnDimsAnnotationsCarryTheBatch) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  auto loaded = read_onnx_graph(kOnnxData + "/tiny_cnn.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Graph& g = *loaded;
  auto dims = [&](const char* name) { return g.op(*g.find_op(name)).dims; };
  EXPECT_EQ(dims("x"), "");
  EXPECT_EQ(dims("conv"), "b c i j, r c k -> b k x y");
  EXPECT_EQ(dims("relu"), "b d1 d2 d3 -> b d1 d2 d3");
  EXPECT_EQ(dims("pool"), "b c i j -> b c x y");
  EXPECT_EQ(dims("flat"), "b d1 d2 d3 -> b r1");
  EXPECT_EQ(dims("fc"), "b i, i o -> b o");
  EXPECT_EQ(dims("act"), "b d1 -> b d1");
  EXPECT_EQ(dims("mix"), "b i, i o -> b o");
  EXPECT_EQ(dims("res"), "b d1, b d1 -> b d1");
  EXPECT_EQ(dims("prob"), "b d1 -> b d1");
}

// tests/data/onnx/shape_arithmetic.onnx (make_shape_arithmetic.py): chunk, channel shuffle and
// expand(n, -1, -1) written by torch.onnx.export as Shape / Gather / Div / Slice / Equal / Where
// chains. They are folded into constants, so every shape downstream is known (the branch
// convolution after chunk once had no shape and no FLOPs), no shape arithmetic is left as an op,
// and every op but the expanded class token is annotated.
TEST(OnnxImport, ShapeArithmeticIsFoldedAndShapesAreKnown) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  auto loaded = read_onnx_graph(kOnnxData + "/shape_arithmetic.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Graph& g = *loaded;
  EXPECT_EQ(g.name(), "shape_arithmetic");  // torch's "torch_jit" gives way to the file's stem
  EXPECT_TRUE(g.validate().ok()) << g.validate().to_string();
  std::vector<std::string> unannotated;
  for (OpId id : g.ops()) {
    const Op& op = g.op(id);
    EXPECT_FALSE(op.shape.empty()) << op.name << " has no shape";
    for (const char* folded : {"Shape", "Gather", "Constant", "Div", "Equal", "Where", "Unsqueeze"})
      EXPECT_EQ(op.name.find(folded), std::string::npos) << op.name << " should have been folded";
    if (op.kind != "input" && op.dims.empty()) unannotated.push_back(op.name);
  }
  EXPECT_EQ(unannotated, (std::vector<std::string>{"/Expand"}));
  // Conv 4 -> 4, 3x3, pad 1 on [2, 4, 6, 6]: 288 outputs x 36 MACs, twice, plus the bias.
  const Op& branch = g.op(*g.find_op("/branch/Conv"));
  EXPECT_EQ(branch.shape, (std::vector<std::int64_t>{2, 4, 6, 6}));
  EXPECT_EQ(branch.forward.flops, 2.0 * 288 * 36 + 288);
  EXPECT_EQ(g.op(*g.find_op("/Transpose")).dims, "b d1 d2 d3 d4 -> b d2 d1 d3 d4");
  EXPECT_EQ(g.op(*g.find_op("/Concat")).dims, "b j0 d2 d3, b j1 d2 d3 -> b d1 d2 d3");
  EXPECT_EQ(g.op(*g.find_op("/Slice_1")).dims, "b d1 d2 d3 -> b s1 d2 d3");
  EXPECT_EQ(g.op(*g.find_op("/head/MatMul")).dims, "b d1 i, i o -> b d1 o");
  EXPECT_EQ(g.op(*g.find_op("/head/Add")).dims, "b d1 d2, d2 -> b d1 d2");  // the bias broadcasts
  EXPECT_EQ(g.op(*g.find_op("/Concat_2")).shape, (std::vector<std::int64_t>{2, 37, 8}));
}

// One 16 x 16 weight read by two MatMuls: the first owns it, the second names it as a tied weight.
TEST(OnnxImport, TiedWeightNamesItsOwner) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  auto loaded = read_onnx_graph(kOnnxData + "/tied_matmul.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Graph& g = *loaded;
  EXPECT_TRUE(g.validate().ok()) << g.validate().to_string();
  const Op& first = g.op(*g.find_op("first"));
  const Op& second = g.op(*g.find_op("second"));
  EXPECT_EQ(first.param_bytes, 16.0 * 16 * 4);
  EXPECT_EQ(first.params_from, "");
  EXPECT_EQ(second.param_bytes, 0);
  EXPECT_EQ(second.params_from, "first");
  EXPECT_GT(second.weight_grad.flops, 0);  // its share of the weight's gradient
  EXPECT_EQ(g.totals().param_bytes, 16.0 * 16 * 4);
}

TEST(OnnxImport, MissingFileNamesIt) {
  auto r = read_onnx_graph(kOnnxData + "/no_such_model.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no_such_model.onnx"), std::string::npos) << r.status().message();
  if (onnx_import_available()) {
    EXPECT_EQ(r.status().code(), StatusCode::kIoError);
    EXPECT_NE(r.status().message().find("cannot open"), std::string::npos) << r.status().message();
  }
}

TEST(OnnxImport, NotAnOnnxFileNamesIt) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  for (const std::string path : {kOnnxData + "/not_onnx.onnx", std::string(OPPLAN_TEST_DATA_DIR) + "/graph_small.json"}) {
    auto r = read_onnx_graph(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), StatusCode::kParseError) << r.status().to_string();
    EXPECT_NE(r.status().message().find(path + ": not an ONNX model"), std::string::npos) << r.status().message();
  }
}

TEST(OnnxImport, WithoutOnnxSaysHowToEnableIt) {
  if (onnx_import_available()) GTEST_SKIP() << "built with ONNX";
  auto r = read_onnx_graph(kOnnxData + "/tiny_cnn.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("tiny_cnn.onnx"), std::string::npos);
  EXPECT_NE(r.status().message().find("-DOPPLAN_WITH_ONNX=ON"), std::string::npos);
  EXPECT_NE(r.status().message().find("libonnx-dev"), std::string::npos);
}

}  // namespace
// Issue 16: crafted convolution and pooling nodes that crashed ONNX's shape inference
// (onnx::convPoolShapeInference: a segmentation fault, or a division by a zero stride) when opplan
// handed it the model unchecked. They are made by make_bad_kernels.cpp beside them. Each must be
// refused with a message naming the file, the node and what is wrong -- or, where only inference
// can know the input's rank, by strict shape inference naming the node.
TEST(OnnxImport, CraftedKernelNodesAreRefusedBeforeShapeInference) {
  if (!onnx_import_available()) GTEST_SKIP() << "built without ONNX";
  struct Case {
    const char* file;
    std::vector<const char*> says;
  };
  const Case cases[] = {
      {"bad_conv_weight_rank.onnx", {"node 0 'conv' (Conv)", "the input 'x' has rank 4, a kernel of 3 axes needs rank 5"}},
      {"bad_conv_inner_rank.onnx", {"conv"}},
      {"bad_pool_zero_stride.onnx", {"node 0 'pool' (MaxPool)", "strides[0] = 0 is out of range"}},
      {"bad_pool_pads.onnx", {"node 1 'pool' (AveragePool)", "pads has 2 values", "4 are needed"}},
      // Found by fuzz_onnx (a bit flipped in shape_arithmetic.onnx): a Conv whose inference fails
      // left later inputs without a type, and ONNX 1.12's data propagation dereferenced one.
      {"fuzz_data_propagation_crash.onnx", {"ONNX shape inference failed", "dilations has incorrect size"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto loaded = read_onnx_graph(kOnnxData + "/" + c.file);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << loaded.status().to_string();
    EXPECT_NE(loaded.status().message().find(c.file), std::string::npos) << loaded.status().message();
    for (const char* part : c.says)
      EXPECT_NE(loaded.status().message().find(part), std::string::npos) << loaded.status().message();
  }
}

}  // namespace opplan
