// End-to-end plan() on the zoo models (and any graph JSON files given, e.g. the exported
// torchvision graphs in tests/data/torch): planning time and plan quality of the operator-level,
// hierarchical (Alpa) and pipeline-only strategies side by side, as one Markdown table.
//
//   bench_plan_zoo [micro-batches=8] [seconds per plan=30] [preset=dgx-a100] [GRAPH.json ...]
//
// Columns per strategy: iteration time (ms), the largest bubble (ms), the largest peak memory
// (GB), the gap to that strategy's bound, and planning seconds; "-" with the reason in a footnote
// when the strategy finds no plan (e.g. a model larger than the cluster's memory).
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <opplan/opplan.hpp>
#include <string>
#include <vector>

namespace {

std::string cell(const opplan::Result<opplan::Plan>& p, std::vector<std::string>& notes, const std::string& what) {
  if (!p.ok()) {
    notes.push_back(fmt::format("{}: {}", what, p.status().message().substr(0, 400)));
    return fmt::format("- [{}] | | | |", notes.size());
  }
  double bubble = 0, memory = 0;
  for (const auto& d : p->schedule.metrics.devices) {
    bubble = std::max(bubble, d.bubble);
    memory = std::max(memory, d.peak_memory);
  }
  return fmt::format("{:.2f} | {:.2f} | {:.1f} | {:.1f}% | {:.1f}", 1e3 * p->iteration_seconds, 1e3 * bubble,
                     memory / 1e9, 100 * p->gap, p->summary.total_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const int micro_batches = argc > 1 ? std::atoi(argv[1]) : 8;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 30;
  const std::string preset = argc > 3 ? argv[3] : "dgx-a100";
  auto cluster = opplan::Cluster::preset(preset);
  if (!cluster.ok()) {
    fmt::print(stderr, "{}\n", cluster.status().to_string());
    return 1;
  }
  std::vector<std::pair<std::string, opplan::Result<opplan::Graph>>> graphs;
  for (const char* name : {"gpt3-350m", "gpt3-1.3b", "gshard-moe-380m", "wresnet-250m", "inception-stack", "moe-stack",
                           "two-tower", "llama3-8b"})
    graphs.emplace_back(name, opplan::zoo_model(name));
  for (int k = 4; k < argc; ++k) graphs.emplace_back(argv[k], opplan::read_graph_json(argv[k]));

  fmt::print("{} micro-batches on {} ({} devices), at most {} s per plan.\n\n", micro_batches, preset,
             cluster->num_devices(), seconds);
  fmt::print("| model | ops | operator-level: iteration ms | bubble ms | peak GB | gap | s "
             "| hierarchical: iteration ms | bubble ms | peak GB | gap | s "
             "| pipeline-only: iteration ms | bubble ms | peak GB | gap | s | best |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::string> notes;
  for (auto& [name, graph] : graphs) {
    if (!graph.ok()) {
      fmt::print(stderr, "{}: {}\n", name, graph.status().to_string());
      continue;
    }
    std::string row = fmt::format("| {} | {} ", name, graph->num_ops());
    double best = std::numeric_limits<double>::infinity();
    std::string winner = "-";
    for (auto strategy : {opplan::PlanStrategy::kOperatorLevel, opplan::PlanStrategy::kHierarchical,
                          opplan::PlanStrategy::kPipelineOnly}) {
      opplan::PlanOptions o;
      o.strategy = strategy;
      o.micro_batches = micro_batches;
      o.time_limit = seconds;
      auto p = opplan::plan(*graph, *cluster, o);
      row += "| " + cell(p, notes, fmt::format("{} {}", name, opplan::to_string(strategy))) + " ";
      if (p.ok() && p->iteration_seconds < best) {
        best = p->iteration_seconds;
        winner = opplan::to_string(strategy);
      }
    }
    fmt::print("{}| {} |\n", row, winner);
    std::fflush(stdout);
  }
  for (std::size_t k = 0; k < notes.size(); ++k) fmt::print("\n[{}] {}", k + 1, notes[k]);
  fmt::print("\n");
}
