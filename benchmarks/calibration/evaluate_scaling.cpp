// How long evaluate() takes as the cluster grows: one configuration of a ~1000-op GPT (80 layers,
// 964 ops) on 8 .. 10,000 devices, best of 5 runs each, with the ratio to the 8-device run measured
// in the same process.
//
//   bench_evaluate_scaling
#include <opplan/opplan.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>

#include <fmt/format.h>

namespace {

opplan::Cluster a100_nodes(int nodes) {
  const opplan::Cluster one = opplan::Cluster::dgx_a100();
  opplan::Cluster c(fmt::format("a100x{}", nodes));
  for (int n = 0; n < nodes; ++n)
    for (std::uint32_t g = 0; g < 8; ++g) {
      opplan::Device d = one.device(opplan::DeviceId(g));
      d.name = fmt::format("n{}.gpu{}", n, g), d.node = n;
      c.add_device(d);
    }
  c.set_intra_node_link(one.intra_node_link());
  c.set_inter_node_link(one.inter_node_link());
  return c;
}

}  // namespace

int main() {
  auto graph = opplan::zoo_model("gpt:hidden=8192,layers=80,heads=64,seq=2048,vocab=51200,dtype=bf16");
  if (!graph.ok()) return 1;
  const opplan::AnalyticCostModel cm;
  double base = 0;
  std::cout << "| devices | configuration | ops | seconds per evaluate | ratio to 8 devices | predicted s/iter |\n"
            << "|---|---|---|---|---|---|\n";
  for (int nodes : {1, 10, 125, 1250}) {
    const opplan::Cluster cluster = a100_nodes(nodes);
    opplan::ParallelConfig c;
    c.tp = 8, c.pp = nodes == 1 ? 1 : nodes == 125 ? 5 : 10, c.dp = nodes * 8 / (c.tp * c.pp);
    c.global_batch = static_cast<long long>(c.dp) * 16, c.recompute = opplan::ActivationRecompute::kFull;
    c.sequence_parallel = true, c.zero = 1;
    double best = 1e300, predicted = 0;
    for (int run = 0; run < 5; ++run) {
      const auto start = std::chrono::steady_clock::now();
      auto ev = opplan::evaluate(*graph, cluster, c, cm);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!ev.ok()) {
        std::cerr << ev.status().message() << "\n";
        return 1;
      }
      best = std::min(best, s), predicted = ev->iteration_seconds;
    }
    if (base == 0) base = best;
    std::cout << fmt::format("| {} | {} | {} | {:.4f} | {:.1f} | {:.2f} |\n", cluster.num_devices(), c.ToString(),
                             graph->num_ops(), best, best / base, predicted);
  }
  return 0;
}
