// Writes the crafted ONNX models of tests/io/onnx_import_test.cpp (issue 16): convolution and pooling
// nodes whose kernel attributes disagree with their inputs, which crashed ONNX's shape inference
// (onnx::convPoolShapeInference) when opplan handed them over unchecked. Build against the ONNX
// library and run in tests/data/onnx:
//   g++ -std=c++17 -DONNX_ML=1 -DONNX_NAMESPACE=onnx make_bad_kernels.cpp -lonnx -lonnx_proto -lprotobuf -o /tmp/make_bad_kernels
//   /tmp/make_bad_kernels
#include <fstream>
#include <initializer_list>
#include <string>

#include <onnx/onnx_pb.h>

namespace {

void tensor_input(onnx::GraphProto& g, const std::string& name, std::initializer_list<long> dims) {
  auto* v = g.add_input();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (long d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void weight(onnx::GraphProto& g, const std::string& name, std::initializer_list<long> dims) {
  auto* w = g.add_initializer();
  w->set_name(name);
  w->set_data_type(onnx::TensorProto::FLOAT);
  long n = 1;
  for (long d : dims) w->add_dims(d), n *= d;
  for (long i = 0; i < n; ++i) w->add_float_data(0.5f);
}

void ints(onnx::NodeProto& node, const std::string& name, std::initializer_list<long> values) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (long v : values) a->add_ints(v);
}

onnx::NodeProto& node(onnx::GraphProto& g, const std::string& type, const std::string& name,
                      std::initializer_list<const char*> inputs, const std::string& output) {
  auto* n = g.add_node();
  n->set_op_type(type);
  n->set_name(name);
  for (const char* i : inputs) n->add_input(i);
  n->add_output(output);
  return *n;
}

void write(onnx::ModelProto& m, const std::string& file) {
  m.set_ir_version(8);
  m.set_producer_name("make_bad_kernels");
  m.add_opset_import()->set_version(13);
  auto* out = m.mutable_graph()->add_output();
  out->set_name(m.graph().node(m.graph().node_size() - 1).output(0));
  auto* t = out->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d = 0; d < 4; ++d) t->mutable_shape()->add_dim()->set_dim_param("d" + std::to_string(d));
  std::ofstream f(file, std::ios::binary);
  m.SerializeToOstream(&f);
}

}  // namespace

int main() {
  {  // Conv without kernel_shape whose weight has 3 spatial axes on a 2-D input (rank 4).
    onnx::ModelProto m;
    auto& g = *m.mutable_graph();
    g.set_name("conv-weight-rank");
    tensor_input(g, "x", {1, 2, 8, 8});
    weight(g, "w", {2, 2, 3, 3, 3});
    node(g, "Conv", "conv", {"x", "w"}, "y");
    write(m, "bad_conv_weight_rank.onnx");
  }
  {  // The same behind a Relu: the Conv's input rank is known only after inference.
    onnx::ModelProto m;
    auto& g = *m.mutable_graph();
    g.set_name("conv-weight-rank-inner");
    tensor_input(g, "x", {1, 2, 8, 8});
    weight(g, "w", {2, 2, 3, 3, 3});
    node(g, "Relu", "relu", {"x"}, "r");
    node(g, "Conv", "conv", {"r", "w"}, "y");
    write(m, "bad_conv_inner_rank.onnx");
  }
  {  // MaxPool with a zero stride: inference divides by it.
    onnx::ModelProto m;
    auto& g = *m.mutable_graph();
    g.set_name("pool-zero-stride");
    tensor_input(g, "x", {1, 2, 8, 8});
    auto& p = node(g, "MaxPool", "pool", {"x"}, "y");
    ints(p, "kernel_shape", {2, 2});
    ints(p, "strides", {0, 0});
    write(m, "bad_pool_zero_stride.onnx");
  }
  {  // AveragePool whose pads have the wrong length (one per axis instead of two).
    onnx::ModelProto m;
    auto& g = *m.mutable_graph();
    g.set_name("pool-pads");
    tensor_input(g, "x", {1, 2, 8, 8});
    node(g, "Relu", "relu", {"x"}, "r");
    auto& p = node(g, "AveragePool", "pool", {"r"}, "y");
    ints(p, "kernel_shape", {2, 2});
    ints(p, "pads", {1, 1});
    write(m, "bad_pool_pads.onnx");
  }
  return 0;
}
