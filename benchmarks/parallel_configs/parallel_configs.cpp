// The configuration search measured: (1) for every measured run of the calibration table, the
// configuration search_parallel_configs() finds against the published one, both evaluated on the
// same cost model with the same devices, memory, global batch and framework features (fused
// attention and overlaps as published); (2) planning time and predicted throughput for the zoo
// from 8 to 16,384 GPUs, each search timed in this process.
//
//   bench_parallel_configs [OUTPUT.md]   (docs/parallel-configs.md is its output)
#include <opplan/opplan.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "calibration_runs.hpp"

namespace {

struct ZooRun {
  std::string model, cluster;
  long long global_batch;
  std::string note;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const opplan::AnalyticCostModel cost_model;
  std::string out = "# The configuration search against hand-written configurations\n\n"
                    "Written by `bench_parallel_configs docs/parallel-configs.md` (benchmarks/parallel_configs); "
                    "every figure is `evaluate()` on the default `AnalyticCostModel`. Search seconds are wall time "
                    "on the machine that ran it (2 cores here); compare them with each other, not across machines.\n\n"
                    "## The calibration runs: planner against the published configuration\n\n"
                    "Same devices, device memory, global batch, fused attention and overlaps as published; the "
                    "planner's configuration may change everything else. Ratio = planner's predicted time / the "
                    "published configuration's predicted time (below 1: the planner's is faster).\n\n"
                    "| run | published | predicted s | planner's configuration | predicted s | ratio | memory | "
                    "search s | evaluated of candidates |\n|---|---|---|---|---|---|---|---|---|\n";
  int not_worse = 0, runs = 0;
  double worst_ratio = 0;
  for (const calibration::Row& r : calibration::rows()) {
    auto graph = opplan::zoo_model(r.model);
    auto cluster = opplan::Cluster::preset(r.cluster);
    if (!graph.ok() || !cluster.ok()) {
      std::cerr << r.name << ": cannot build the model or cluster\n";
      return 1;
    }
    opplan::ConfigSearchOptions o;
    o.global_batch = r.config.effective_global_batch();
    o.flash_attention = r.config.flash_attention;
    o.overlap_tp_comm = r.config.overlap_tp_comm;
    o.overlap_grad_reduce = r.config.overlap_grad_reduce;
    o.overlap_param_gather = r.config.overlap_param_gather;
    o.references = {r.config};
    const auto t0 = std::chrono::steady_clock::now();
    auto found = opplan::search_parallel_configs(*graph, *cluster, cost_model, o);
    const double seconds = seconds_since(t0);
    if (!found.ok()) {
      out += fmt::format("| {} | {} | | no configuration: {} | | | | {:.1f} | |\n", r.name, r.config.ToString(),
                         found.status().message(), seconds);
      continue;
    }
    const opplan::ConfigCandidate& pub = found->references.front();
    const double ratio = pub.iteration_seconds > 0 ? found->best.iteration_seconds / pub.iteration_seconds : 0;
    ++runs;
    // A published run that does not fit on the model is beaten by any configuration that does.
    if (ratio <= 1 + 1e-9 || !pub.fits) ++not_worse;
    worst_ratio = std::max(worst_ratio, pub.fits ? ratio : 0.0);
    out += fmt::format("| {} | {} | {:.3f}{} | {} | {:.3f} | {:.3f} | {:.1f} GB | {:.1f} | {} of {} |\n", r.name,
                       r.config.ToString(), pub.iteration_seconds, pub.fits ? "" : " (does not fit)",
                       found->best.config.ToString(), found->best.iteration_seconds, ratio,
                       found->best.peak_memory.total() / 1e9, seconds, found->evaluated, found->enumerated);
    std::cerr << r.name << ": " << fmt::format("{:.3f}", ratio) << " in " << fmt::format("{:.1f}", seconds) << " s\n";
  }
  out += fmt::format("\n{} of {} runs: the planner's configuration is at least as fast as the published one (largest "
                     "ratio {:.3f}).\n",
                     not_worse, runs, worst_ratio);

  out += "\n## The zoo from 8 to 16,384 GPUs\n\n| model | cluster | GPUs | global batch | chosen configuration | s per "
         "iteration | MFU | memory | search s | evaluated of candidates | plain DP |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  const std::vector<ZooRun> zoo = {
      {"llama3-8b", "dgx-a100", 64, ""},
      {"gpt3-6.7b", "dgx-a100x4", 256, ""},
      {"llama3-70b", "dgx-a100x8", 1024, ""},
      {"wresnet-13b", "p3.16xlargex8", 1024, ""},
      {"gpt3-175b", "dgx-a100x128", 1536, "target: under 10 s"},
      {"deepseek-v3-671b", "dgx-h800x256", 15360, "target: under 60 s"},
      {"llama3-405b", "dgx-h100x2048", 2048, "16M tokens; target: under 60 s"},
  };
  for (const ZooRun& z : zoo) {
    auto graph = opplan::zoo_model(z.model);
    auto cluster = opplan::Cluster::preset(z.cluster);
    if (!graph.ok() || !cluster.ok()) return 1;
    opplan::ConfigSearchOptions o;
    o.global_batch = z.global_batch;
    const auto t0 = std::chrono::steady_clock::now();
    auto found = opplan::search_parallel_configs(*graph, *cluster, cost_model, o);
    const double seconds = seconds_since(t0);
    if (!found.ok()) {
      out += fmt::format("| {} | {} | {} | {} | {} | | | | {:.1f} | | |\n", z.model, z.cluster, cluster->num_devices(),
                         z.global_batch, found.status().message(), seconds);
      continue;
    }
    std::string dp = "-";
    if (found->data_parallel)
      dp = found->data_parallel->fits ? fmt::format("{:.3g} s", found->data_parallel->iteration_seconds) : "does not fit";
    out += fmt::format("| {} | {} | {} | {} | {} | {:.3g} | {:.1f} % | {:.1f} GB | {:.1f}{} | {} of {} | {} |\n", z.model,
                       z.cluster, cluster->num_devices(), z.global_batch, found->best.config.ToString(),
                       found->best.iteration_seconds, 100 * found->best.mfu, found->best.peak_memory.total() / 1e9,
                       seconds, z.note.empty() ? "" : " (" + z.note + ")", found->evaluated, found->enumerated, dp);
    std::cerr << z.model << " on " << z.cluster << ": " << fmt::format("{:.1f}", seconds) << " s\n";
  }
  if (argc > 1) {
    std::ofstream f(argv[1]);
    f << out;
    if (!f) {
      std::cerr << "cannot write " << argv[1] << "\n";
      return 1;
    }
  } else {
    std::cout << out;
  }
  return 0;
}
