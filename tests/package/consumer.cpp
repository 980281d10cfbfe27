// A program outside the opplan tree, built against an installed opplan (find_package) or a copy of
// its sources (add_subdirectory). Compiled as strict C++17 with only opplan's include directories:
// it proves that the public headers need neither a newer standard nor a dependency's headers.
#include <opplan/opplan.hpp>

#include <cstdio>
#include <string>

int main() {
  opplan::Graph g("consumer");
  opplan::Op op;
  op.kind = "matmul";
  op.forward.flops = 2.0;
  const opplan::OpId a = g.add_op(op);
  op.forward.flops = 5.0;
  const opplan::OpId b = g.add_op(op);
  op.forward.flops = 1.0;
  const opplan::OpId c = g.add_op(op);
  g.add_edge(a, b, 8.0);
  g.add_edge(a, c, 8.0);
  if (!g.validate().ok()) {
    std::fprintf(stderr, "validate failed: %s\n", g.validate().to_string().c_str());
    return 1;
  }
  auto cp = g.critical_path([&](opplan::OpId id) { return g.op(id).forward.flops; });
  if (!cp.ok() || cp->length != 7.0 || cp->ops.size() != 2 || cp->ops[1] != b) {
    std::fprintf(stderr, "unexpected critical path\n");
    return 1;
  }
  // Round trip through the JSON format exercises the dependencies hidden inside the library.
  auto back = opplan::parse_graph_json(opplan::graph_to_json(g), "consumer");
  if (!back.ok() || back->num_ops() != 3 || back->op(b).forward.flops != 5.0) {
    std::fprintf(stderr, "JSON round trip failed: %s\n", back.status().to_string().c_str());
    return 1;
  }
  std::printf("opplan %s: critical path %.1f over %zu ops\n", opplan::version_string(), cp->length, cp->ops.size());
  return 0;
}
