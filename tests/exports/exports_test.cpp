// Engine exports: PyTorch pipelining actions of every schedule kind, Megatron-LM arguments and
// DeepSpeed configs of stage plans, and the errors for plans an engine cannot run.
#include <opplan/cost_model.hpp>
#include <opplan/exports.hpp>
#include <opplan/models.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/stages.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace opplan {
namespace {

using Strings = std::vector<std::string>;

Strings first(const Strings& actions, std::size_t n) {
  return Strings(actions.begin(), actions.begin() + static_cast<std::ptrdiff_t>(std::min(n, actions.size())));
}

PyTorchPipelineExport pytorch(Placement placement, ScheduleKind kind, int devices, int micro_batches, int chunks = 1,
                              std::optional<double> fb = std::nullopt, const PyTorchExportOptions& options = {}) {
  StageSpec stage;
  stage.forward_backward = fb;
  auto spec = make_pipeline_spec(placement, devices, micro_batches, stage, chunks);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  auto schedule = build_schedule(*spec, kind);
  EXPECT_TRUE(schedule.ok()) << schedule.status().message();
  auto exported = export_pytorch_pipeline(*spec, *schedule, options);
  EXPECT_TRUE(exported.ok()) << exported.status().message();
  return *exported;
}

// ---- PyTorch ------------------------------------------------------------------------------------------

TEST(PyTorchExport, OneFOneBOnFourRanks) {
  const auto p = pytorch(Placement::kLinear, ScheduleKind::k1F1B, 4, 8);
  EXPECT_EQ(p.schedule, "1f1b");
  EXPECT_EQ(p.num_ranks, 4);
  EXPECT_EQ(p.num_stages, 4);
  EXPECT_EQ(p.num_microbatches, 8);
  EXPECT_EQ(p.style, "loop");
  EXPECT_FALSE(p.bidirectional);
  EXPECT_EQ(p.stage_to_rank, (std::vector<int>{0, 1, 2, 3}));
  // Rank 0: P - 1 = 3 warm-up forwards, then F, B pairs, then the drain (PyTorch's Schedule1F1B).
  EXPECT_EQ(p.actions[0], (Strings{"0F0", "0F1", "0F2", "0F3", "0B0", "0F4", "0B1", "0F5", "0B2", "0F6", "0B3", "0F7",
                                   "0B4", "0B5", "0B6", "0B7"}));
  EXPECT_EQ(p.actions[3], (Strings{"3F0", "3B0", "3F1", "3B1", "3F2", "3B2", "3F3", "3B3", "3F4", "3B4", "3F5", "3B5",
                                   "3F6", "3B6", "3F7", "3B7"}));
}

TEST(PyTorchExport, ZeroBubbleH1SplitsBackwardIntoIAndW) {
  const auto p = pytorch(Placement::kLinear, ScheduleKind::kZBH1, 4, 8);
  EXPECT_EQ(first(p.actions[0], 8), (Strings{"0F0", "0F1", "0F2", "0F3", "0I0", "0W0", "0F4", "0I1"}));
  // The last stage defers its first W behind three (F, I) pairs: 3W0 is its 9th action.
  EXPECT_EQ(first(p.actions[3], 9), (Strings{"3F0", "3I0", "3F1", "3I1", "3F2", "3I2", "3F3", "3I3", "3W0"}));
  for (std::size_t r = 0; r < 4; ++r) {
    std::map<char, int> kinds;
    for (const std::string& a : p.actions[r]) ++kinds[a[1]];
    EXPECT_EQ(kinds['F'], 8) << "rank " << r;
    EXPECT_EQ(kinds['I'], 8) << "rank " << r;
    EXPECT_EQ(kinds['W'], 8) << "rank " << r;
    EXPECT_EQ(kinds['B'], 0) << "rank " << r;
  }
}

TEST(PyTorchExport, InterleavedUsesLoopedStageIds) {
  const auto p = pytorch(Placement::kInterleaved, ScheduleKind::kInterleaved, 4, 8, 2);
  EXPECT_EQ(p.num_stages, 8);
  EXPECT_EQ(p.style, "loop");
  EXPECT_EQ(p.stage_to_rank, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  // Megatron's order: a group of P micro-batches on the first chunk (stage 0), then on the second (stage 4).
  EXPECT_EQ(first(p.actions[0], 9), (Strings{"0F0", "0F1", "0F2", "0F3", "4F0", "4F1", "4F2", "4F3", "0F4"}));
  std::set<int> stages_of_rank1;
  for (const std::string& a : p.actions[1]) stages_of_rank1.insert(std::stoi(a));
  EXPECT_EQ(stages_of_rank1, (std::set<int>{1, 5}));
}

TEST(PyTorchExport, DualPipeVUsesVShapedStageIds) {
  const auto p = pytorch(Placement::kV, ScheduleKind::kDualPipeV, 4, 8);
  EXPECT_EQ(p.style, "v");
  EXPECT_EQ(p.stage_to_rank, (std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0}));
  EXPECT_EQ(first(p.actions[0], 8), (Strings{"0F0", "0F1", "0F2", "0F3", "0F4", "0F5", "0F6", "7F0"}));
}

TEST(PyTorchExport, DualPipeRoutesBecomeVirtualStagesWithGlobalMicroBatches) {
  // The reference DualPipe (P = 8, N = 20, docs/pipeline-schedules.md).
  const auto p = pytorch(Placement::kDualPipe, ScheduleKind::kDualPipe, 8, 20, 1, 3.0);
  EXPECT_TRUE(p.bidirectional);
  EXPECT_EQ(p.style, "bidirectional");
  EXPECT_EQ(p.num_routes, 2);
  EXPECT_EQ(p.num_stages, 16);
  EXPECT_EQ(p.num_microbatches, 20);
  EXPECT_EQ(p.stage_to_rank, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2, 1, 0}));
  // Route b enters at rank 7: its stage 0 is virtual stage 8, its micro-batch 0 is micro-batch 10;
  // on rank 0 it is route b's stage 7 = virtual stage 15.
  EXPECT_EQ(first(p.actions[0], 9), (Strings{"0F0", "0F1", "0F2", "0F3", "0F4", "0F5", "0F6", "15F10", "15I10"}));
  // F7a&B3b (op 17 of rank 0): two actions, the forward first.
  EXPECT_EQ(p.actions[0][17], "0F7");
  EXPECT_EQ(p.actions[0][18], "15B13");
  EXPECT_EQ(p.actions[7][0], "8F10");

  PyTorchExportOptions strict;
  strict.allow_bidirectional = false;
  auto spec = make_pipeline_spec(Placement::kDualPipe, 8, 20, StageSpec{});
  auto schedule = build_schedule(*spec, ScheduleKind::kDualPipe);
  ASSERT_TRUE(schedule.ok());
  auto refused = export_pytorch_pipeline(*spec, *schedule, strict);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("2 routes"), std::string::npos) << refused.status().message();
}

// Every (stage, micro-batch) has exactly one F and either one B or one I and one W, on the rank
// stage_to_rank names, for every schedule kind.
TEST(PyTorchExport, EveryKindRoundTripsItsWork) {
  const std::regex action(R"(^(\d+)([FIWB])(\d+)$)");
  const std::tuple<ScheduleKind, Placement, int> cases[] = {
      {ScheduleKind::kGPipe, Placement::kLinear, 1},         {ScheduleKind::k1F1B, Placement::kLinear, 1},
      {ScheduleKind::kInterleaved, Placement::kInterleaved, 2}, {ScheduleKind::kZBH1, Placement::kLinear, 1},
      {ScheduleKind::kZBH2, Placement::kLinear, 1},          {ScheduleKind::kDualPipe, Placement::kDualPipe, 1},
      {ScheduleKind::kDualPipeV, Placement::kV, 1}};
  for (const auto& [kind, placement, chunks] : cases) {
    SCOPED_TRACE(to_string(kind));
    const auto p = pytorch(placement, kind, 4, 8, chunks, 3.0);
    std::map<std::pair<int, int>, std::map<char, int>> counts;
    std::size_t total = 0;
    for (std::size_t r = 0; r < p.actions.size(); ++r)
      for (const std::string& a : p.actions[r]) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(a, m, action)) << a;
        const int stage = std::stoi(m[1]), mb = std::stoi(m[3]);
        ASSERT_LT(stage, p.num_stages);
        ASSERT_LT(mb, p.num_microbatches);
        EXPECT_EQ(p.stage_to_rank[static_cast<std::size_t>(stage)], static_cast<int>(r)) << a;
        ++counts[{stage, mb}][m[2].str()[0]];
        ++total;
      }
    // Bidirectional: each route's micro-batches visit only its own chain of stages.
    const std::size_t pairs = static_cast<std::size_t>(p.num_stages / p.num_routes) *
                              static_cast<std::size_t>(p.num_microbatches);
    EXPECT_EQ(counts.size(), pairs);
    std::size_t expected_total = 0;
    for (auto& [key, c] : counts) {
      EXPECT_EQ(c['F'], 1) << key.first << "/" << key.second;
      const bool fused = c['B'] == 1 && c['I'] == 0 && c['W'] == 0;
      const bool split = c['B'] == 0 && c['I'] == 1 && c['W'] == 1;
      EXPECT_TRUE(fused || split) << key.first << "/" << key.second;
      expected_total += fused ? 2 : 3;
      if (p.bidirectional) EXPECT_EQ(key.first / 4, key.second / 4) << "route of stage and micro-batch";
    }
    EXPECT_EQ(total, expected_total);
  }
}

TEST(PyTorchExport, SchedulesThatDoNotRunTheSpecAreRejected) {
  auto spec = make_pipeline_spec(Placement::kLinear, 4, 8, StageSpec{});
  auto schedule = build_schedule(*spec, ScheduleKind::k1F1B);
  ASSERT_TRUE(schedule.ok());

  Schedule moved = *schedule;
  moved.device_tasks[1].push_back(moved.device_tasks[0].back());  // B7 of stage 0 on device 1 as well
  auto wrong_device = export_pytorch_pipeline(*spec, moved);
  ASSERT_FALSE(wrong_device.ok());
  EXPECT_EQ(wrong_device.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_device.status().message().find("stage 0 of route 0 is on device 0"), std::string::npos)
      << wrong_device.status().message();
  EXPECT_NE(wrong_device.status().message().find("route 0 stage 0 micro-batch 7: the schedule has 1 F, 2 B"),
            std::string::npos)
      << wrong_device.status().message();

  Schedule missing = *schedule;
  missing.device_tasks[2].erase(missing.device_tasks[2].begin());  // F0 of stage 2
  auto incomplete = export_pytorch_pipeline(*spec, missing);
  ASSERT_FALSE(incomplete.ok());
  EXPECT_NE(incomplete.status().message().find("route 0 stage 2 micro-batch 0: the schedule has 0 F, 1 B"),
            std::string::npos)
      << incomplete.status().message();

  auto other = make_pipeline_spec(Placement::kLinear, 2, 8, StageSpec{});
  auto mismatch = export_pytorch_pipeline(*other, *schedule);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("has 4 devices but the spec has 2"), std::string::npos);
}

TEST(PyTorchExport, Json) {
  const auto p = pytorch(Placement::kLinear, ScheduleKind::k1F1B, 2, 2);
  EXPECT_EQ(pytorch_pipeline_to_json(p, -1),
            R"({"format":"opplan.pytorch_pipeline","schedule":"1f1b","num_ranks":2,"num_stages":2,)"
            R"("num_microbatches":2,"style":"loop","bidirectional":false,"num_routes":1,"stage_to_rank":[0,1],)"
            R"("actions":{"0":["0F0","0F1","0B0","0B1"],"1":["1F0","1B0","1F1","1B1"]}})");
}

// ---- Megatron-LM and DeepSpeed on plans by hand -----------------------------------------------------------

// embed, then `layers` layers of a heavy op "l<i>.mm" (1000 FLOPs) and a light op "l<i>.add"
// (1 FLOP), then head; returns the graph and the op ids in order.
std::pair<Graph, std::vector<OpId>> layered(int layers) {
  Graph g("layered");
  std::vector<OpId> ids;
  auto add = [&](const std::string& name, const std::string& layer, double flops) {
    Op op;
    op.name = name;
    op.layer = layer;
    op.forward.flops = flops;
    const OpId id = g.add_op(op);
    if (!ids.empty()) g.add_edge(ids.back(), id, 1);
    ids.push_back(id);
  };
  add("embed", "", 10);
  for (int i = 0; i < layers; ++i) {
    add("l" + std::to_string(i) + ".mm", "layer" + std::to_string(i), 1000);
    add("l" + std::to_string(i) + ".add", "layer" + std::to_string(i), 1);
  }
  add("head", "", 10);
  return {std::move(g), std::move(ids)};
}

// Stages cut after the given op positions, each on a rows x cols mesh of consecutive devices.
StagePlan hand_plan(const std::vector<OpId>& ids, const std::vector<std::size_t>& ends, int rows, int cols,
                    int micro_batches = 8) {
  StagePlan plan;
  plan.num_microbatches = micro_batches;
  std::size_t begin = 0;
  std::uint32_t device = 0;
  for (std::size_t end : ends) {
    Stage s;
    s.ops.assign(ids.begin() + static_cast<std::ptrdiff_t>(begin), ids.begin() + static_cast<std::ptrdiff_t>(end));
    s.mesh.rows = rows;
    s.mesh.cols = cols;
    for (int k = 0; k < rows * cols; ++k) s.mesh.devices.push_back(DeviceId(device++));
    s.submesh = {1, rows * cols};
    plan.stages.push_back(std::move(s));
    begin = end;
  }
  return plan;
}

TEST(MegatronArgs, EvenSplitOnTwoByTwoMeshes) {
  auto [g, ids] = layered(4);
  // embed l0 l1 | l2 l3 head: positions 0..4 and 5..9
  const StagePlan plan = hand_plan(ids, {5, 10}, 2, 2);
  EngineExportOptions options;
  options.micro_batch_size = 4;
  auto args = megatron_args(g, plan, options);
  ASSERT_TRUE(args.ok()) << args.status().message();
  const ParallelLayout& l = args->layout;
  EXPECT_EQ(l.pipeline_parallel, 2);
  EXPECT_EQ(l.tensor_parallel, 2);  // the columns
  EXPECT_EQ(l.data_parallel, 2);    // the rows
  EXPECT_EQ(l.world_size, 8);
  EXPECT_EQ(l.num_layers, 4);
  EXPECT_EQ(l.global_batch_size, 4 * 8 * 2);
  EXPECT_TRUE(l.moved.empty());
  EXPECT_TRUE(l.stages[0].embedding);
  EXPECT_FALSE(l.stages[0].head);
  EXPECT_TRUE(l.stages[1].head);
  EXPECT_EQ(l.stages[1].first_layer, "layer2");
  EXPECT_EQ(args->command_line(),
            "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --num-layers 4 --micro-batch-size 4 "
            "--global-batch-size 64");

  options.virtual_stages = 2;
  auto interleaved = megatron_args(g, plan, options);
  ASSERT_TRUE(interleaved.ok()) << interleaved.status().message();
  EXPECT_EQ(interleaved->flags.back(), (std::pair<std::string, std::string>{"--num-layers-per-virtual-pipeline-stage", "1"}));

  auto ds = deepspeed_config(g, plan, {});
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->partition_method, "type:transformer");
  const std::string json = deepspeed_config_to_json(*ds, -1);
  EXPECT_EQ(json.rfind(R"({"format":"opplan.deepspeed","config":{"gradient_accumulation_steps":8},)"
                       R"("pipeline_module":{"num_stages":2,"partition_method":"type:transformer"},)"
                       R"("topology":{"num_pp":2,"num_mp":2,"num_dp":2},)",
                       0),
            0u)
      << json;
}

TEST(MegatronArgs, UnevenSplitsAndRoundedCuts) {
  auto [g, ids] = layered(6);
  // Ops: 0 embed, 1+2i l<i>.mm, 2+2i l<i>.add, 13 head.
  // embed l0 | l1 l2 l3 l4.mm | l4.add l5 head: layer 4's add (1 of 1001 + 2 units) is rounded to stage 1.
  const StagePlan plan = hand_plan(ids, {3, 10, 14}, 1, 1);
  auto args = megatron_args(g, plan);
  ASSERT_TRUE(args.ok()) << args.status().message();
  std::vector<int> split;
  for (const EngineStage& s : args->layout.stages) split.push_back(s.num_layers);
  EXPECT_EQ(split, (std::vector<int>{1, 4, 1}));
  ASSERT_EQ(args->layout.moved.size(), 1u);
  EXPECT_EQ(args->layout.moved[0], "layer 'layer4': its ops on stage 2 from 'l4.add' (0.20% of its work) go to stage 1");
  EXPECT_EQ(args->command_line(),
            "--tensor-model-parallel-size 1 --pipeline-model-parallel-size 3 --num-layers 6 "
            "--decoder-first-pipeline-num-layers 1 --decoder-last-pipeline-num-layers 1");

  // Only exact cuts: the same plan is an error naming the layer and both stages.
  EngineExportOptions exact;
  exact.max_moved_fraction = 0;
  auto strict = megatron_args(g, plan, exact);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(strict.status().message().find("decoder layer 'layer4' is split between stages: stage 1 (99.8%"),
            std::string::npos)
      << strict.status().message();

  // Middle stages that differ: the general layout string.
  // embed l0 | l1 | l2 l3 l4 | l5 head
  auto general = megatron_args(g, hand_plan(ids, {3, 5, 11, 14}, 1, 1));
  ASSERT_TRUE(general.ok()) << general.status().message();
  EXPECT_EQ(general->flags.back(),
            (std::pair<std::string, std::string>{"--pipeline-model-parallel-layout", "E,t|t|t*3|t,L"}));
  EXPECT_NE(general->command_line().find("--pipeline-model-parallel-layout \"E,t|t|t*3|t,L\""), std::string::npos);

  // DeepSpeed cannot place explicit boundaries.
  auto ds = deepspeed_config(g, plan);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(ds.status().message().find("stage 1 holds 4 decoder layers but stage 0 holds 1"), std::string::npos);

  // Interleaving needs equal stages.
  EngineExportOptions vpp;
  vpp.virtual_stages = 2;
  auto interleaved = megatron_args(g, plan, vpp);
  ASSERT_FALSE(interleaved.ok());
  EXPECT_EQ(interleaved.status().code(), StatusCode::kUnsupported);
}

TEST(MegatronArgs, PlansNoEngineCanRun) {
  auto [g, ids] = layered(4);
  // Different meshes per stage.
  StagePlan mixed = hand_plan(ids, {5, 10}, 1, 2);
  mixed.stages[1].mesh.cols = 1;
  mixed.stages[1].mesh.devices.pop_back();
  auto a = megatron_args(g, mixed);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("stage 1 runs on a 1x1 logical mesh (1 devices) but stage 0 on 1x2"),
            std::string::npos)
      << a.status().message();

  // A layer spread over three stages: no stage holds half of its work.
  Graph g3("three");
  std::vector<OpId> ops;
  for (int i = 0; i < 3; ++i) {
    Op op;
    op.name = "x" + std::to_string(i);
    op.layer = "layer0";
    op.forward.flops = 100;
    ops.push_back(g3.add_op(op));
    if (i > 0) g3.add_edge(ops[static_cast<std::size_t>(i - 1)], ops.back(), 1);
  }
  auto b = megatron_args(g3, hand_plan(ops, {1, 2, 3}, 1, 1));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("decoder layer 'layer0' is split between stages: stage 0 (33.3%, from op 'x0')"),
            std::string::npos)
      << b.status().message();

  // The embedding on the second stage.
  StagePlan late = hand_plan(ids, {1, 10}, 1, 1);
  late.stages[0].ops = std::vector<OpId>(ids.begin() + 1, ids.end() - 1);  // the layers
  late.stages[1].ops = {ids.front(), ids.back()};                          // embed and head
  auto c = megatron_args(g, late);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("op 'embed' comes before the first decoder layer 'layer0' but is on stage 1"),
            std::string::npos)
      << c.status().message();

  // No layer tags.
  Graph plain("plain");
  Op op;
  op.name = "only";
  const OpId only = plain.add_op(op);
  auto d = megatron_args(plain, hand_plan({only}, {1}, 1, 1));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("graph 'plain' has no layer tags"), std::string::npos);

  EngineExportOptions bad;
  bad.tensor_parallel_axis = 2;
  EXPECT_EQ(megatron_args(g, hand_plan(ids, {10}, 1, 1), bad).status().code(), StatusCode::kInvalidArgument);
}

// ---- on real plans: GPT-3 1.3B on one DGX-A100 -------------------------------------------------------

// GPT-3 1.3B without dropout, planned with Alpa's cost model: the plans these exports were written
// for (the translation is under test here, not the cost model).
Graph gpt3_graph() {
  TransformerConfig config = gpt3_config("1.3B").value();
  config.dropout = false;
  return build_transformer(config).value();
}

StagePlan gpt3_plan(std::vector<SubmeshShape> shapes) {
  const Graph graph = gpt3_graph();
  StageOptions options;
  options.num_microbatches = 16;
  options.submesh_shapes = std::move(shapes);
  auto plan = plan_stages(graph, Cluster::dgx_a100(), AnalyticCostModel(AnalyticCostModel::Options::Alpa()), options);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return *plan;
}

TEST(MegatronArgs, Gpt3OnDgxA100WithTwoGpuStages) {
  const Graph graph = gpt3_graph();
  const StagePlan plan = gpt3_plan({{1, 2}});
  EngineExportOptions options;
  options.micro_batch_size = 1;
  auto args = megatron_args(graph, plan, options);
  ASSERT_TRUE(args.ok()) << args.status().message();
  const ParallelLayout& l = args->layout;
  EXPECT_EQ(l.pipeline_parallel, 4);
  EXPECT_EQ(l.tensor_parallel, 2);
  EXPECT_EQ(l.data_parallel, 1);
  EXPECT_EQ(l.pipeline_parallel * l.tensor_parallel * l.data_parallel, 8);  // the DGX-A100's GPUs
  EXPECT_EQ(l.num_layers, 24);
  std::vector<int> split;
  for (const EngineStage& s : l.stages) split.push_back(s.num_layers);
  EXPECT_EQ(split, (std::vector<int>{6, 7, 7, 4}));
  EXPECT_EQ(args->command_line(),
            "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 4 --num-layers 24 --micro-batch-size 1 "
            "--global-batch-size 16 --decoder-first-pipeline-num-layers 6 --decoder-last-pipeline-num-layers 4");
  const std::string json = megatron_args_to_json(*args, -1);
  EXPECT_NE(json.find(R"("--decoder-first-pipeline-num-layers":"6")"), std::string::npos) << json;
}

TEST(MegatronArgs, Gpt3DefaultPlanMixesSubmeshesAndIsRefused) {
  const Graph graph = gpt3_graph();
  const StagePlan plan = gpt3_plan({});
  auto args = megatron_args(graph, plan);
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(args.status().message().find("stage 2 runs on a 1x4 logical mesh (4 devices) but stage 0 on 1x2"),
            std::string::npos)
      << args.status().message();
  EXPECT_EQ(deepspeed_config(graph, plan).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace opplan
