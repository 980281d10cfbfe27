// The hierarchical plan against data parallelism evaluated on the same cost model (issue 15):
// ConvNeXt-T, one micro-batch of 64 images on one DGX-A100. Its 100 parameter ops used to pay one
// all-reduce latency each, never overlapped, where evaluate()'s DP reduces the same gradients in
// 50 MB buckets behind the backward; the stage planner now prices a stage's gradient
// synchronisation that way too (StageOptions::gradient_bucket_bytes, docs/stages.md).
//
// tests/data/torch/convnext_t.json: torchvision's convnext_tiny traced at batch 64, 224 x 224,
// with "samples": 64 added (the exporter does not record the batch):
//   /usr/bin/python3 tools/torch_export/opplan_export.py --module FILE.py:convnext_t --name convnext_t \
//       -o convnext_t.json
// where FILE.py's convnext_t() returns (torchvision.models.convnext_tiny(), (torch.randn(64, 3, 224, 224),)).
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/io.hpp>
#include <opplan/plan.hpp>
#include <opplan/sharding.hpp>
#include <opplan/stages.hpp>

#include <string>

#include <gtest/gtest.h>

namespace opplan {
namespace {

Graph convnext_t() {
  auto graph = read_graph_json(std::string(OPPLAN_TEST_DATA_DIR) + "/torch/convnext_t.json");
  EXPECT_TRUE(graph.ok()) << graph.status().to_string();
  return graph.ok() ? std::move(graph).value() : Graph();
}

TEST(HierarchicalVsDataParallel, ConvNextTinyOneMicroBatchOf64IsWithinFivePercentOfDp8) {
  const Graph graph = convnext_t();
  ASSERT_EQ(graph.samples(), 64);
  const Cluster cluster = Cluster::dgx_a100();
  PlanOptions o;
  o.strategy = PlanStrategy::kHierarchical;
  o.micro_batches = 1;
  auto p = plan(graph, cluster, o);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_TRUE(p->verified);

  ParallelConfig dp;
  dp.dp = 8;
  dp.micro_batch_size = 8;
  const AnalyticCostModel cost;  // plan()'s default cost model
  auto ev = evaluate(graph, cluster, dp, cost);
  ASSERT_TRUE(ev.ok()) << ev.status().to_string();
  ASSERT_EQ(ev->config.effective_global_batch(), 64);  // the same 64 images per iteration
  EXPECT_LE(p->iteration_seconds, 1.05 * ev->iteration_seconds)
      << "hierarchical " << p->iteration_seconds << " s against DP 8 " << ev->iteration_seconds << " s\n"
      << p->summary.FullReport() << (p->stages ? p->stages->FullReport() : std::string()) << ev->FullReport();
}

// The intra-op ILP with buckets: every op's gradient bytes at the per-byte price of one full
// bucket, so the plan's weight sync is the bytes summed times that price (one latency per bucket),
// far below one all-reduce per op.
TEST(HierarchicalVsDataParallel, GradientBucketsChargeTheSummedBytesAtABucketsPrice) {
  const Graph graph = convnext_t();
  const Cluster cluster = Cluster::dgx_a100();
  auto mesh = make_mesh(cluster, 1, 8);
  ASSERT_TRUE(mesh.ok());
  const AnalyticCostModel cost;
  ShardingOptions per_op;
  ShardingOptions bucketed;
  bucketed.gradient_bucket_bytes = 50e6;
  auto a = shard(graph, cluster, *mesh, cost, per_op);
  auto b = shard(graph, cluster, *mesh, cost, bucketed);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  double bytes = 0, params = 0;
  for (const OpSharding& op : b->ops) bytes += op.chosen.weight_sync_bytes[1];
  for (OpId id : graph.ops()) params += graph.op(id).param_bytes;
  // Data parallelism over the 8 devices: every parameter's gradient is all-reduced once.
  EXPECT_NEAR(bytes, params, 1e-6 * params);
  const double per_byte = cost.collective_time(cluster, Collective::kAllReduce, mesh->devices, 50e6) / 50e6;
  EXPECT_NEAR(b->weight_sync_seconds, bytes * per_byte, 1e-9 * b->weight_sync_seconds);
  EXPECT_LT(b->weight_sync_seconds, 0.5 * a->weight_sync_seconds);
  EXPECT_LT(b->objective, a->objective);

  ShardingOptions bad;
  bad.gradient_bucket_bytes = -1;
  auto c = shard(graph, cluster, *mesh, cost, bad);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("gradient_bucket_bytes"), std::string::npos) << c.status().message();
}

// A stage's gradient all-reduce overlaps its backward: with buckets the one-stage plan pays at
// most its last bucket for synchronisation, without (0, Alpa's pricing) every op's all-reduce.
TEST(HierarchicalVsDataParallel, StageGradientSyncOverlapsTheBackward) {
  const Graph graph = convnext_t();
  const Cluster cluster = Cluster::dgx_a100();
  const AnalyticCostModel cost;
  StageOptions o;
  o.num_microbatches = 1;
  o.submesh_shapes = {SubmeshShape{1, 8}};
  o.all_logical_meshes = false;
  EXPECT_EQ(o.gradient_bucket_bytes, EvaluateOptions{}.bucket_bytes);  // evaluate()'s buckets
  auto bucketed = plan_stages(graph, cluster, cost, o);
  o.gradient_bucket_bytes = 0;
  auto per_op = plan_stages(graph, cluster, cost, o);
  ASSERT_TRUE(bucketed.ok()) << bucketed.status().to_string();
  ASSERT_TRUE(per_op.ok()) << per_op.status().to_string();
  ASSERT_EQ(bucketed->stages.size(), 1u);
  ASSERT_EQ(per_op->stages.size(), 1u);
  const double last_bucket = cost.collective_time(cluster, Collective::kAllReduce, bucketed->stages[0].mesh.devices, 50e6);
  EXPECT_LT(bucketed->iteration_seconds + 1e-3, per_op->iteration_seconds);
  // The compute alone: every op's three phases on 8 shards.
  double compute = 0;
  for (OpId id : graph.ops())
    for (Phase phase : kAllPhases)
      compute += cost.sharded_op_time(graph.op(id), phase, cluster, bucketed->stages[0].mesh, 8);
  EXPECT_GE(bucketed->iteration_seconds, compute * (1 - 1e-9));
  EXPECT_LE(bucketed->iteration_seconds, compute + last_bucket + 1e-4);

  o.gradient_bucket_bytes = -1;
  auto bad = plan_stages(graph, cluster, cost, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("gradient_bucket_bytes"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace opplan
