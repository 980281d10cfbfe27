// Question: how long does the inter-op stage / submesh DP take on Alpa's benchmark models at
// Alpa's GPU counts, and what iteration time does it predict? Target (issue 6): GPT-3 39B on
// 8 x p3.16xlarge (64 V100) planned end-to-end in under 60 s (Alpa: about 40 minutes).
//
// Clusters are p3.16xlarge nodes (8 x V100 16 GB, NVLink, 25 Gbps between nodes); fewer than 8
// GPUs are the first GPUs of one node. Global batches as in Alpa (1024 sequences, 1536 images),
// cut into micro-batches of 2 sequences / 8 images (Llama, DeepSeek: 1024 sequences of one per
// micro-batch); memory with mixed-precision Adam
// (8 bytes per parameter byte). Prints per row: planning seconds (of which intra-op costing),
// stages and their submeshes, predicted iteration seconds and the PFLOP/s it implies.
//
// Recomputation: `auto` (default, StageOptions::recompute = kAuto), `never` (the plans before
// recomputation existed) or `always`; the last column counts recomputed layers of the 16.
//
// usage: bench_stages_zoo [family=all|gpt|moe|wresnet|llama|deepseek] [auto|never|always] [report]
// (`report`: every plan's FullReport too)
#include <opplan/opplan.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace opplan;

Recompute recompute_mode = Recompute::kAuto;
bool full_report = false;

Cluster p3(int gpus) {
  if (gpus >= 8) return Cluster::aws_p3_16xlarge(gpus / 8);
  const Cluster node = Cluster::aws_p3_16xlarge(1);
  Cluster c(node.name() + "-" + std::to_string(gpus) + "gpu");
  for (int i = 0; i < gpus; ++i) c.add_device(node.device(DeviceId(static_cast<std::uint32_t>(i))));
  c.set_intra_node_link(node.intra_node_link());
  c.set_inter_node_link(node.inter_node_link());
  return c;
}

struct Row {
  std::string family;
  std::string size;
  int gpus;
  Result<Graph> graph;
  int microbatches;
};

void run(const Row& row) {
  if (!row.graph.ok()) {
    std::printf("%-18s %4d  build failed: %s\n", row.size.c_str(), row.gpus, row.graph.status().to_string().c_str());
    return;
  }
  const Graph& g = *row.graph;
  const Cluster cluster = p3(row.gpus);
  AnalyticCostModel::Options adam;
  adam.param_memory_factor = 8;
  const AnalyticCostModel cm(adam);
  StageOptions options;
  options.num_microbatches = row.microbatches;
  options.recompute = recompute_mode;
  auto plan = plan_stages(g, cluster, cm, options);
  if (!plan.ok()) {
    std::printf("%-18s %4d  no plan: %s\n", g.name().c_str(), row.gpus, plan.status().message().c_str());
    return;
  }
  const GraphTotals t = g.totals();
  const double flops = (t.flops[0] + t.flops[1] + t.flops[2]) * row.microbatches;
  std::string meshes;
  for (const Stage& s : plan->stages)
    meshes += (meshes.empty() ? "" : " ") + std::to_string(s.submesh.hosts) + "x" + std::to_string(s.submesh.devices) +
              "/" + std::to_string(s.mesh.rows) + "x" + std::to_string(s.mesh.cols);
  std::printf("%-18s %4d %4d  plan %7.2f s (costing %6.2f s, %4zu shard, %3zu t_max)  %2zu stages  iter %8.3f s  %6.3f PFLOP/s  [%s]  recomputed %d\n",
              g.name().c_str(), row.gpus, row.microbatches, plan->planning_seconds, plan->costing_seconds,
              plan->num_shard_calls, plan->num_t_max_tried, plan->stages.size(), plan->iteration_seconds,
              flops / plan->iteration_seconds * 1e-15, meshes.c_str(), plan->num_recomputed_layers());
  if (full_report) std::printf("%s", plan->FullReport().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string family = argc > 1 ? argv[1] : "all";
  const std::string mode = argc > 2 ? argv[2] : "auto";
  full_report = argc > 3 && std::string(argv[3]) == "report";
  if (mode == "never") recompute_mode = Recompute::kNever;
  else if (mode == "always") recompute_mode = Recompute::kAlways;
  else if (mode != "auto") {
    std::fprintf(stderr, "unknown recompute mode '%s': expected auto, never or always\n", mode.c_str());
    return 2;
  }
  const int gpus[] = {1, 4, 8, 16, 32, 64};
  std::printf("%-18s %4s %4s  ...\n", "model", "gpus", "B");
  if (family == "all" || family == "gpt") {
    const char* sizes[] = {"350M", "1.3B", "2.6B", "6.7B", "15B", "39B"};
    for (int i = 0; i < 6; ++i) {
      TransformerConfig c = gpt3_config(sizes[i]).value();
      c.micro_batch = 2;  // 512 micro-batches of 2: Alpa's 1024 sequences
      run({"gpt", sizes[i], gpus[i], build_transformer(c), 512});
    }
  }
  if (family == "all" || family == "moe") {
    const char* sizes[] = {"380M", "1.3B", "2.4B", "10B", "27B", "70B"};
    for (int i = 0; i < 6; ++i) {
      MoeConfig c = gshard_moe_config(sizes[i]).value();
      c.micro_batch = 2;
      run({"moe", sizes[i], gpus[i], build_gshard_moe(c), 512});
    }
  }
  if (family == "all" || family == "wresnet") {
    const char* sizes[] = {"250M", "1B", "2B", "4B", "6.8B", "13B"};
    for (int i = 0; i < 6; ++i) {
      WideResNetConfig c = wide_resnet_config(sizes[i]).value();
      c.micro_batch = 8;  // 192 micro-batches of 8: Alpa's 1536 images
      run({"wresnet", sizes[i], gpus[i], build_wide_resnet(c), 192});
    }
  }
  if (family == "all" || family == "llama") {
    // Sequences of 8192 tokens, one per micro-batch: 1024 sequences.
    run({"llama", "8B", 64, zoo_model("llama3-8b"), 1024});
    run({"llama", "70B", 64, zoo_model("llama3-70b"), 1024});
  }
  if (family == "all" || family == "deepseek") run({"deepseek", "671B", 64, zoo_model("deepseek-v3-671b"), 1024});
  return 0;
}
