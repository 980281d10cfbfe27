// A compiler pass builds an opplan Graph from its own IR by id (no strings needed), checks it, and
// asks for the critical path of the forward pass on one GPU of a DGX-A100 node.
//
//   embed -> attn -> mlp -> head
//        \----------------/      (a residual that skips two ops)
#include <opplan/opplan.hpp>

#include <cstdio>

int main() {
  opplan::Graph graph("residual-block");

  auto add = [&](const char* kind, double gflops, double param_mb) {
    opplan::Op op;  // unnamed: the graph names it "op<id>"
    op.kind = kind;
    op.forward.flops = gflops * 1e9;
    op.forward.bytes = param_mb * 1e6;
    op.input_grad = op.forward;
    op.weight_grad.flops = param_mb > 0 ? op.forward.flops : 0;
    op.param_bytes = param_mb * 1e6;
    op.shape = {8, 2048, 1024};
    op.dtype = opplan::DType::kBF16;
    return graph.add_op(op);
  };
  const opplan::OpId embed = add("embedding", 0.1, 100);
  const opplan::OpId attn = add("matmul", 400, 8);
  const opplan::OpId mlp = add("matmul", 800, 16);
  const opplan::OpId head = add("matmul", 200, 0);
  graph.add_edge(embed, attn);  // bytes default to the producer's output tensor
  graph.add_edge(attn, mlp);
  graph.add_edge(mlp, head);
  graph.add_edge(embed, head);

  if (opplan::Status status = graph.validate(); !status.ok()) {
    std::fprintf(stderr, "%s\n", status.to_string().c_str());
    return 1;
  }

  const opplan::Cluster cluster = opplan::Cluster::dgx_a100();
  const opplan::Device& gpu = cluster.device(opplan::DeviceId(0));
  const opplan::AnalyticCostModel cost_model;  // roofline with default efficiencies

  auto path = graph.critical_path(
      [&](opplan::OpId id) { return cost_model.op_time(graph.op(id), opplan::Phase::kForward, gpu); });
  if (!path.ok()) {
    std::fprintf(stderr, "%s\n", path.status().to_string().c_str());
    return 1;
  }
  std::printf("forward on one %s: critical path: %zu ops, %.3f ms\n", gpu.model.c_str(), path->ops.size(),
              path->length * 1e3);
  for (opplan::OpId id : path->ops) std::printf("  %s (%s)\n", graph.op(id).name.c_str(), graph.op(id).kind.c_str());
  return 0;
}
