// Evaluate the configurations you would write by hand: GPT-3 175B on 64 A100 (TP 8 x PP 8, as
// Korthikanti et al. trained it) with full recomputation, and with sequence parallelism and
// selective recomputation; print both predictions and their memory, then the same run read
// from a Megatron-LM argument line.
#include <iostream>

#include <opplan/opplan.hpp>

int main() {
  auto model = opplan::zoo_model("gpt3-175b");  // 96 layers, hidden 12288, 2048-token sequences
  auto cluster = opplan::Cluster::preset("selenex8");
  if (!model.ok() || !cluster.ok()) return 1;
  const opplan::AnalyticCostModel cost_model;  // calibrated: docs/calibration.md

  opplan::ParallelConfig config;
  config.tp = 8, config.pp = 8, config.global_batch = 64;
  config.recompute = opplan::ActivationRecompute::kFull;
  auto full = opplan::evaluate(*model, *cluster, config, cost_model);
  config.sequence_parallel = true;
  config.recompute = opplan::ActivationRecompute::kSelective;
  auto selective = opplan::evaluate(*model, *cluster, config, cost_model);
  if (!full.ok() || !selective.ok()) {
    std::cerr << (full.ok() ? selective.status() : full.status()).message() << "\n";
    return 1;
  }
  std::cout << "full recomputation: " << full->BriefReport() << "\n";
  std::cout << "SP + selective:     " << selective->BriefReport() << "\n";
  std::cout << "measured (Korthikanti et al. 2022, Table 5): 18.13 s and 13.75 s\n";

  auto line = opplan::parse_megatron_args(
      "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 8 --micro-batch-size 1 "
      "--global-batch-size 64 --sequence-parallel --recompute-activations --world-size 64");
  if (!line.ok()) return 1;
  auto same = opplan::evaluate(*model, *cluster, line->config, cost_model);
  if (!same.ok()) return 1;
  std::cout << "from the Megatron line: " << same->iteration_seconds << " s per iteration\n";
  return same->iteration_seconds == selective->iteration_seconds ? 0 : 1;
}
