// A compiler pass with its own IR asks opplan how to shard it: its nodes become an opplan::Graph
// (by id, remembering which op is which node), shard() plans them on a 1x4 mesh of one DGX-A100
// node, and the chosen layouts go back onto the pass's own nodes.
//
// The IR is a two-matmul MLP (fc1 -> gelu -> fc2) on 8 x 64 tokens of width 1024, hidden 4096: the
// plan is Megatron-LM's tensor parallelism, fc1's weight split by columns (RS1), gelu on the split
// hidden dimension (RRS1), fc2's weight split by rows (S1R), and fc2's output all-reduced (RRR).
#include <opplan/opplan.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace my_ir {

// The caller's own IR: nothing opplan-specific.
struct Node {
  std::string name;
  std::string kind;                // "matmul", "gelu"
  std::vector<std::int64_t> out;   // output shape
  std::int64_t weight_rows = 0;    // weight [rows, cols] of a matmul; 0 for none
  std::int64_t weight_cols = 0;
  std::vector<int> inputs;         // indices of producer nodes

  // Filled by the sharding pass.
  std::string output_layout;
  std::string weight_layout;
};

}  // namespace my_ir

int main() {
  const std::int64_t b = 8, s = 64, h = 1024, f = 4096;
  std::vector<my_ir::Node> nodes = {
      {"fc1", "matmul", {b, s, f}, h, f, {}, "", ""},
      {"gelu", "gelu", {b, s, f}, 0, 0, {0}, "", ""},
      {"fc2", "matmul", {b, s, h}, f, h, {1}, "", ""},
  };

  // IR -> opplan::Graph: costs, shapes and the dimension annotation that lets shard() split an op.
  opplan::Graph graph("my-mlp");
  std::vector<opplan::OpId> op_of(nodes.size());
  const double tokens = double(b) * double(s);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const my_ir::Node& n = nodes[i];
    opplan::Op op;
    op.name = n.name;
    op.shape = n.out;
    op.dtype = opplan::DType::kF16;
    if (n.kind == "matmul") {
      op.kind = "matmul";
      const bool up = n.weight_cols == f;  // b s h, h f -> b s f  or  b s f, f h -> b s h
      op.dims = up ? "b s h, h f -> b s f" : "b s f, f h -> b s h";
      op.forward.flops = 2 * tokens * double(n.weight_rows) * double(n.weight_cols);
      op.input_grad.flops = op.forward.flops;
      op.weight_grad.flops = op.forward.flops;
      op.param_bytes = 2.0 * double(n.weight_rows) * double(n.weight_cols);
      op.activation_bytes = 2 * tokens * double(n.weight_rows);
    } else {
      op.kind = "elementwise";
      op.dims = "b s f -> b s f";
      op.forward.flops = 8 * tokens * double(f);
      op.input_grad.flops = op.forward.flops;
      op.activation_bytes = 2 * tokens * double(f);
    }
    op_of[i] = graph.add_op(op);
    for (int producer : n.inputs) graph.add_edge(op_of[static_cast<std::size_t>(producer)], op_of[i]);
  }

  const opplan::Cluster cluster = opplan::Cluster::dgx_a100();
  auto mesh = opplan::make_mesh(cluster, 1, 4);
  if (!mesh.ok()) {
    std::fprintf(stderr, "%s\n", mesh.status().to_string().c_str());
    return 1;
  }
  const opplan::AnalyticCostModel cost_model;
  auto plan = opplan::shard(graph, cluster, *mesh, cost_model);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", plan.status().to_string().c_str());
    return 1;
  }

  // opplan -> IR: the chosen layouts written back onto the caller's nodes.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const opplan::ShardingStrategy& chosen = plan->ops[op_of[i].value()].chosen;
    nodes[i].output_layout = chosen.output.to_string();
    if (nodes[i].kind == "matmul" && chosen.operands.size() > 1) nodes[i].weight_layout = chosen.operands[1].to_string();
  }

  std::printf("%s\n", plan->BriefReport().c_str());
  for (const my_ir::Node& n : nodes)
    std::printf("%-5s output %-5s weight %s\n", n.name.c_str(), n.output_layout.c_str(),
                n.weight_layout.empty() ? "-" : n.weight_layout.c_str());
  return 0;
}
