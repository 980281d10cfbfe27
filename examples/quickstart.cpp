// Quickstart: build a model graph in code, plan it on a DGX-A100 node with opplan::plan(), and
// print the report. The graph: an embedding, two parallel MLP branches, and a head.
#include <iostream>
#include <opplan/opplan.hpp>
#include <string>

namespace {

// A matmul of `tokens` x `in` by `in` x `out` in fp16 with its forward, input-gradient and
// weight-gradient FLOPs (2 * tokens * in * out each), parameters and saved activation.
opplan::Op matmul(const std::string& name, double tokens, double in, double out) {
  opplan::Op op;
  op.name = name;
  op.kind = "matmul";
  const double flops = 2 * tokens * in * out;
  op.forward.flops = op.input_grad.flops = op.weight_grad.flops = flops;
  op.forward.bytes = op.input_grad.bytes = op.weight_grad.bytes = 2 * (tokens * in + in * out + tokens * out);
  op.param_bytes = 2 * in * out;
  op.activation_bytes = 2 * tokens * in;
  return op;
}

}  // namespace

int main() {
  const double tokens = 8192, hidden = 4096;
  opplan::Graph graph("quickstart");
  const opplan::OpId embed = graph.add_op(matmul("embed", tokens, 1024, hidden));
  opplan::OpId left = embed, right = embed;
  for (int k = 0; k < 3; ++k) {  // two branches of three layers each
    const opplan::OpId l = graph.add_op(matmul("left" + std::to_string(k), tokens, hidden, hidden));
    const opplan::OpId r = graph.add_op(matmul("right" + std::to_string(k), tokens, hidden, hidden));
    graph.add_edge(left, l, 2 * tokens * hidden);
    graph.add_edge(right, r, 2 * tokens * hidden);
    left = l;
    right = r;
  }
  const opplan::OpId head = graph.add_op(matmul("head", tokens, hidden, 1024));
  graph.add_edge(left, head, 2 * tokens * hidden);
  graph.add_edge(right, head, 2 * tokens * hidden);

  opplan::PlanOptions options;  // strategy auto: operator-level and hierarchical, the shorter wins
  options.micro_batches = 4;
  options.time_limit = 60;
  auto plan = opplan::plan(graph, opplan::Cluster::dgx_a100(), options);
  if (!plan.ok()) {
    std::cerr << "cannot plan: " << plan.status().to_string() << "\n";
    return 1;
  }
  std::cout << plan->summary.FullReport();
  std::cout << "placement:";
  for (opplan::OpId id : graph.ops()) std::cout << " " << graph.op(id).name << "@" << plan->placement[id.value()].value();
  std::cout << "\n";
  return 0;
}
