// The operator-level planner on Graph + Cluster: known answers on small graphs, heterogeneous
// devices, memory that forces spreading, branch-rich graphs against the stage pipeline, the
// independent verifier catching broken schedules, and every bad input of issue 5.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <vector>
#include <opplan/cost_model.hpp>
#include <opplan/models.hpp>
#include <opplan/operator_planner.hpp>
#include <string>

namespace {

using opplan::Cluster;
using opplan::Device;
using opplan::DeviceId;
using opplan::Graph;
using opplan::Op;
using opplan::OperatorPlan;
using opplan::OperatorPlanOptions;
using opplan::OpId;
using opplan::ViolationKind;
using ::testing::HasSubstr;

Device gpu(const std::string& name, double flops = 100e12, double memory = 16e9) {
  Device d;
  d.name = name;
  d.peak_flops = flops;
  d.memory_bytes = memory;
  d.memory_bandwidth = 1e12;
  return d;
}

// `n` devices; transfers cost nothing when the link is free (alpha = beta = 0).
Cluster devices(int n, double alpha = 0, double beta = 0) {
  Cluster c("test");
  for (int d = 0; d < n; ++d) c.add_device(gpu("g" + std::to_string(d)));
  c.set_intra_node_link({alpha, beta});
  c.set_inter_node_link({alpha, beta});
  return c;
}

// An op with measured times (the same on every device): F, b, W seconds.
Op timed(const std::string& name, double f, double b, double w = 0, double params = 0, double activation = 0) {
  Op op;
  op.name = name;
  op.forward.seconds = f;
  op.input_grad.seconds = b;
  op.weight_grad.seconds = w;
  op.param_bytes = params;
  op.activation_bytes = activation;
  return op;
}

// src -> {left, right} -> sink: F and b 1, 4, 4, 1.
Graph diamond() {
  Graph g("diamond");
  const OpId src = g.add_op(timed("src", 1, 1));
  const OpId left = g.add_op(timed("left", 4, 4));
  const OpId right = g.add_op(timed("right", 4, 4));
  const OpId sink = g.add_op(timed("sink", 1, 1));
  g.add_edge(src, left, 0);
  g.add_edge(src, right, 0);
  g.add_edge(left, sink, 0);
  g.add_edge(right, sink, 0);
  return g;
}

OperatorPlanOptions quick(int micro_batches = 1) {
  OperatorPlanOptions o;
  o.micro_batches = micro_batches;
  o.time_limit = 60;
  o.mip_windows = 2;
  return o;
}

void expect_verified(const Graph& g, const Cluster& c, const OperatorPlan& plan, int micro_batches) {
  const opplan::AnalyticCostModel cost;
  const auto report = opplan::verify_operator_schedule(g, c, cost, plan.placement, micro_batches, plan.schedule);
  EXPECT_TRUE(report.ok()) << report.to_string();
  EXPECT_TRUE(plan.verified);
}

TEST(OperatorPlannerTest, DiamondRunsItsBranchesSideBySide) {
  // On two devices the branches run at once: F 1 + 4 + 1, b 1 + 4 + 1 = 12, which is also the
  // critical path (the bound). On one device the same graph takes 20.
  const Graph g = diamond();
  auto plan = opplan::plan_operators(g, devices(2), quick());
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_DOUBLE_EQ(plan->makespan, 12);
  EXPECT_DOUBLE_EQ(plan->lower_bound, 12);
  EXPECT_EQ(plan->termination, opplan::PlanTermination::kOptimal);
  EXPECT_NE(plan->placement[1], plan->placement[2]) << "left and right share a device";
  expect_verified(g, devices(2), *plan, 1);

  auto alone = opplan::plan_operators(g, devices(1), quick());
  ASSERT_TRUE(alone.ok()) << alone.status().to_string();
  EXPECT_DOUBLE_EQ(alone->makespan, 20);
}

TEST(OperatorPlannerTest, TransfersDelayTheConsumerAcrossDevices) {
  // A 1 ms link. With the branches apart, sink shares a device with one branch and src with one
  // (src, left | right, sink): the best path crosses once forward (left -> sink) and once back
  // (left's b -> src's b), so 12 + 0.002; still far better than 20 on one device.
  const Graph g = diamond();
  const Cluster c = devices(2, 1e-3, 0);
  auto plan = opplan::plan_operators(g, c, quick());
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NEAR(plan->makespan, 12.002, 1e-9);
  EXPECT_FALSE(plan->schedule.transfers.empty());
  expect_verified(g, c, *plan, 1);
}

TEST(OperatorPlannerTest, ManyMicroBatchesBalanceTheLoad) {
  // 8 micro-batches of 20 s of work on 2 devices: at least 80 s; the plan gets within 10 % of that.
  const Graph g = diamond();
  auto plan = opplan::plan_operators(g, devices(2), quick(8));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_DOUBLE_EQ(plan->lower_bound, 80);
  EXPECT_GE(plan->makespan, 80);
  EXPECT_LE(plan->makespan, 88);
  EXPECT_EQ(plan->schedule.num_tasks(), 8u * 4u * 2u);  // F and B of 4 ops per micro-batch
  expect_verified(g, devices(2), *plan, 8);
}

TEST(OperatorPlannerTest, HeterogeneousDevicesPutAChainOnTheFastOne) {
  // A chain with one micro-batch gains nothing from two devices; the fast device (4x) runs it all.
  Graph g("chain");
  Op a;
  a.name = "a";
  a.forward.flops = a.input_grad.flops = a.weight_grad.flops = 1e12;
  a.param_bytes = 1e6;
  Op b = a;
  b.name = "b";
  g.add_edge(g.add_op(a), g.add_op(b), 1e6);
  Cluster c("mixed");
  c.add_device(gpu("slow", 25e12));
  c.add_device(gpu("fast", 100e12));
  c.set_intra_node_link({1e-5, 1e-11});
  c.set_inter_node_link({1e-5, 1e-11});
  auto plan = opplan::plan_operators(g, c, quick());
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->placement[0], DeviceId(1));
  EXPECT_EQ(plan->placement[1], DeviceId(1));
  const opplan::AnalyticCostModel cost;
  double expected = 0;
  for (const Op* op : {&a, &b})
    for (auto phase : {opplan::Phase::kForward, opplan::Phase::kInputGrad, opplan::Phase::kWeightGrad})
      expected += cost.op_time(*op, phase, c.device(DeviceId(1)));
  EXPECT_NEAR(plan->makespan, expected, 1e-12);
  expect_verified(g, c, *plan, 1);
}

TEST(OperatorPlannerTest, MemoryForcesOpsApart) {
  // Each op holds 10 GB for training (2.5 GB of fp32 weights: with Adam's gradients and moments
  // 16 bytes per 4-byte weight); a 16 GB device takes one of them only.
  Graph g("big");
  g.add_edge(g.add_op(timed("a", 1, 1, 1, 2.5e9)), g.add_op(timed("b", 1, 1, 1, 2.5e9)), 0);
  auto plan = opplan::plan_operators(g, devices(2), quick(4));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NE(plan->placement[0], plan->placement[1]);
  for (const auto& d : plan->schedule.metrics.devices) EXPECT_LE(d.peak_memory, 16e9);
  expect_verified(g, devices(2), *plan, 4);
}

TEST(OperatorPlannerTest, ActivationCapsLimitMicroBatchesInFlight) {
  // One device, 2 GB of activations per micro-batch, a 5 GB cap: at most two forwards in flight.
  Graph g("acts");
  g.add_edge(g.add_op(timed("a", 1, 1, 1, 0, 2e9)), g.add_op(timed("b", 1, 1, 1, 0, 0)), 0);
  OperatorPlanOptions o = quick(6);
  o.memory_cap = 5e9;
  auto plan = opplan::plan_operators(g, devices(1), o);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_LE(plan->schedule.metrics.devices[0].peak_memory, 5e9);
  EXPECT_DOUBLE_EQ(plan->makespan, 36);  // one device: all 6 x 6 s of work, no idle time
  const opplan::AnalyticCostModel cost;
  EXPECT_TRUE(opplan::verify_operator_schedule(g, devices(1), cost, plan->placement, 6, plan->schedule, 5e9).ok());
}

TEST(OperatorPlannerTest, BranchRichGraphsBeatTheStagePipeline) {
  for (auto model : {opplan::BranchyModel::kMoeStack, opplan::BranchyModel::kInceptionStack}) {
    opplan::BranchyConfig config;
    config.model = model;
    config.blocks = 3;
    config.hidden = 1024;
    config.tokens = 1024;
    auto g = opplan::build_branchy(config);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    const Cluster c = Cluster::dgx_a100();
    OperatorPlanOptions o = quick(8);
    o.use_mip = false;
    o.placement_moves = 400;
    auto plan = opplan::plan_operators(*g, c, o);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    EXPECT_LT(plan->makespan, plan->stage_baseline.makespan) << opplan::to_string(model) << ": " << plan->BriefReport();
    EXPECT_GE(plan->makespan, plan->lower_bound);
    EXPECT_GE(plan->placement_lower_bound, plan->lower_bound);
    expect_verified(*g, c, *plan, 8);
  }
}

TEST(OperatorPlannerTest, SameInputSamePlan) {
  auto g = opplan::zoo_model("two-tower");
  ASSERT_TRUE(g.ok());
  OperatorPlanOptions o = quick(4);
  o.placement_moves = 100;
  auto a = opplan::plan_operators(*g, devices(4, 1e-5, 1e-11), o);
  auto b = opplan::plan_operators(*g, devices(4, 1e-5, 1e-11), o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->makespan, b->makespan);
  EXPECT_EQ(a->placement, b->placement);
}

TEST(OperatorPlannerTest, AFewMillisecondsStillGiveAVerifiedPlan) {
  auto g = opplan::zoo_model("inception-stack");
  ASSERT_TRUE(g.ok());
  OperatorPlanOptions o;
  o.micro_batches = 8;
  o.time_limit = 0.005;
  auto plan = opplan::plan_operators(*g, Cluster::dgx_a100(), o);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_TRUE(plan->verified);
  EXPECT_GT(plan->makespan, 0);
  expect_verified(*g, Cluster::dgx_a100(), *plan, 8);
}

TEST(OperatorPlannerTest, MoreDevicesThanOpsLeavesSomeIdle) {
  const Graph g = diamond();
  auto plan = opplan::plan_operators(g, devices(8), quick(2));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_THAT(plan->message, HasSubstr("4 units for 8 devices"));
  expect_verified(g, devices(8), *plan, 2);
}

TEST(OperatorPlannerTest, ZeroTimeAndUnconnectedOpsArePlanned) {
  Graph g("odd");
  const OpId a = g.add_op(timed("a", 0, 0));
  const OpId b = g.add_op(timed("b", 2, 2));
  g.add_edge(a, b, 0);
  g.add_op(timed("island", 3, 3));  // reached from nothing, feeds nothing
  auto plan = opplan::plan_operators(g, devices(2), quick(2));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_DOUBLE_EQ(plan->makespan, 12);  // island and the chain side by side: 2 x 6 each
  expect_verified(g, devices(2), *plan, 2);
}

TEST(OperatorPlannerTest, TiedEmbeddingsShareADeviceAcrossThePath) {
  // embed -> mid1 -> mid2 -> head with embed and head in one group (tied weights): they cannot be
  // one unit (the path leaves and comes back), so they are placed together instead.
  Graph g("tied");
  Op embed = timed("embed", 1, 1, 1, 1e9), head = timed("head", 1, 1, 1);
  embed.group = head.group = "tied-embedding";
  const OpId e = g.add_op(embed);
  const OpId m1 = g.add_op(timed("mid1", 3, 3, 3));
  const OpId m2 = g.add_op(timed("mid2", 3, 3, 3));
  const OpId h = g.add_op(head);
  g.add_edge(e, m1, 0);
  g.add_edge(m1, m2, 0);
  g.add_edge(m2, h, 0);
  auto plan = opplan::plan_operators(g, devices(2), quick(4));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->placement[e.value()], plan->placement[h.value()]);
  EXPECT_NE(plan->unit_of[e.value()], plan->unit_of[h.value()]);
  expect_verified(g, devices(2), *plan, 4);

  // The verifier rejects the same schedule when the placement splits the group.
  std::vector<DeviceId> split = plan->placement;
  split[h.value()] = DeviceId(1 - split[h.value()].value());
  const opplan::AnalyticCostModel cost;
  const auto report = opplan::verify_operator_schedule(g, devices(2), cost, split, 4, plan->schedule);
  EXPECT_THAT(report.to_string(), HasSubstr("co-location group 'tied-embedding'"));
}

TEST(OperatorPlannerTest, ReportsProgressAndStopsOnRequest) {
  auto g = opplan::zoo_model("moe-stack");
  ASSERT_TRUE(g.ok());
  OperatorPlanOptions o = quick(4);
  o.placement_moves = 200;
  std::vector<opplan::PlanProgress> reports;
  o.monitor.progress = [&](const opplan::PlanProgress& p) { reports.push_back(p); };
  auto plan = opplan::plan_operators(*g, Cluster::dgx_a100(), o);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_FALSE(reports.empty());
  double best = std::numeric_limits<double>::infinity();
  for (const auto& r : reports) {
    EXPECT_LE(r.best, best) << r.step;  // never worse than an earlier report
    best = r.best;
  }
  EXPECT_NEAR(best, plan->makespan, 1e-12 * plan->makespan);

  // Asked to stop before it starts: the first verified plan, termination "stopped".
  std::atomic<bool> stop{true};
  o.monitor = {};
  o.monitor.stop = &stop;
  auto stopped = opplan::plan_operators(*g, Cluster::dgx_a100(), o);
  ASSERT_TRUE(stopped.ok()) << stopped.status().to_string();
  EXPECT_EQ(stopped->termination, opplan::PlanTermination::kStopped);
  EXPECT_EQ(stopped->placement_moves_tried, 0);
  expect_verified(*g, Cluster::dgx_a100(), *stopped, 4);

  // A callback that throws ends the planning with its exception.
  o.monitor = {};
  o.monitor.progress = [](const opplan::PlanProgress&) { throw std::runtime_error("enough"); };
  EXPECT_THROW((void)opplan::plan_operators(*g, Cluster::dgx_a100(), o), std::runtime_error);
}

TEST(OperatorPlannerTest, AScoreCallbackSteersTheSearch) {
  // A custom objective: the makespan plus a heavy penalty per task on device 0. The best plan keeps
  // device 0 idle and still runs the branches side by side on devices 1 and 2: makespan 12.
  const Graph g = diamond();
  OperatorPlanOptions o = quick();
  int calls = 0;
  o.score = [&](const opplan::Schedule& s) {
    ++calls;
    return s.metrics.makespan + 100.0 * static_cast<double>(s.device_tasks[0].size());
  };
  auto plan = opplan::plan_operators(g, devices(3), o);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_GT(calls, 0);
  for (DeviceId d : plan->placement) EXPECT_NE(d, DeviceId(0));
  EXPECT_DOUBLE_EQ(plan->makespan, 12);
  expect_verified(g, devices(3), *plan, 1);

  // Rejecting everything is an error that says so.
  o.score = [](const opplan::Schedule&) { return std::numeric_limits<double>::infinity(); };
  auto none = opplan::plan_operators(g, devices(3), o);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("score callback rejected every schedule"));
}

TEST(OperatorPlannerTest, SerializedLinksCarryOneTransferAtATime) {
  // src feeds two heavy branches; whichever branch leaves src's device needs a 2 s transfer per
  // micro-batch, and src's forwards are short, so unserialised transfers would pile up on the link.
  Graph g("fan");
  const OpId src = g.add_op(timed("src", 0.1, 0.1));
  g.add_edge(src, g.add_op(timed("a", 10, 10)), 0);
  g.add_edge(src, g.add_op(timed("b", 10, 10)), 0);
  const Cluster c = devices(2, 2, 0);
  OperatorPlanOptions o = quick(4);
  o.serialize_links = true;
  auto plan = opplan::plan_operators(g, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const opplan::AnalyticCostModel cost;
  EXPECT_TRUE(opplan::verify_operator_schedule(g, c, cost, plan->placement, 4, plan->schedule, std::nullopt, true).ok());
  ASSERT_NE(plan->placement[1], plan->placement[2]);  // the branches run side by side
  // One forward and one gradient transfer per micro-batch over the one crossing edge.
  EXPECT_EQ(plan->schedule.transfers.size(), 8u);
  for (const auto& t : plan->schedule.transfers) EXPECT_NEAR(t.end - t.start, 2.0, 1e-9);

  // Two transfers at once on one link are caught.
  opplan::Schedule broken = plan->schedule;
  auto& ts = broken.transfers;
  std::size_t k = 1;
  while (k < ts.size() && !(ts[k].src_device == ts[k - 1].src_device && ts[k].dst_device == ts[k - 1].dst_device)) ++k;
  ASSERT_LT(k, ts.size());
  ts[k].start = ts[k - 1].start + 1;
  ts[k].end = ts[k].start + 2;
  EXPECT_GE(opplan::verify_operator_schedule(g, c, cost, plan->placement, 4, broken, std::nullopt, true)
                .count(ViolationKind::kTransfer),
            1u);
}

TEST(OperatorPlannerTest, ARelativeGapStopsTheScheduleSearchEarly) {
  auto g = opplan::zoo_model("moe-stack");
  ASSERT_TRUE(g.ok());
  OperatorPlanOptions o = quick(4);
  o.placement_moves = 50;
  auto full = opplan::plan_operators(*g, Cluster::dgx_a100(), o);
  o.relative_gap = 1.0;  // any schedule is within 100 % of the bound
  auto early = opplan::plan_operators(*g, Cluster::dgx_a100(), o);
  ASSERT_TRUE(full.ok() && early.ok());
  EXPECT_GT(full->mip_solves, 0);
  EXPECT_EQ(early->mip_solves, 0);
  EXPECT_GE(early->makespan, full->makespan);
  expect_verified(*g, Cluster::dgx_a100(), *early, 4);
}

TEST(OperatorPlannerTest, BadInputIsNamed) {
  const Graph g = diamond();
  OperatorPlanOptions o;
  o.time_limit = 0;
  auto r = opplan::plan_operators(g, devices(2), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("time_limit"));
  o = {};
  o.micro_batches = 0;
  r = opplan::plan_operators(g, devices(2), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("micro_batches"));

  o = {};
  o.relative_gap = -0.1;
  r = opplan::plan_operators(g, devices(2), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("relative_gap"));

  r = opplan::plan_operators(Graph("empty"), devices(2), OperatorPlanOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no ops"));

  Graph huge("huge");
  huge.add_op(timed("giant", 1, 1, 1, 5e9));  // fp32 weights: 20 GB with Adam
  r = opplan::plan_operators(huge, devices(2), OperatorPlanOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("op 'giant' needs 20 GB"));
  EXPECT_THAT(r.status().message(), HasSubstr("short by 4 GB"));

  Graph wide("wide");
  for (int k = 0; k < 3; ++k) wide.add_op(timed("w" + std::to_string(k), 1, 1, 1, 3e9));  // 12 GB each
  r = opplan::plan_operators(wide, devices(2), OperatorPlanOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("the model needs 36 GB"));
  EXPECT_THAT(r.status().message(), HasSubstr("short by 4 GB"));

  Cluster none("none");
  r = opplan::plan_operators(g, none, OperatorPlanOptions{});
  EXPECT_FALSE(r.ok());
}

TEST(OperatorVerifierTest, CatchesBrokenSchedules) {
  const Graph g = diamond();
  const Cluster c = devices(2, 1e-3, 0);
  auto plan = opplan::plan_operators(g, c, quick(2));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const opplan::AnalyticCostModel cost;
  const auto check = [&](const opplan::Schedule& s) {
    return opplan::verify_operator_schedule(g, c, cost, plan->placement, 2, s);
  };
  ASSERT_TRUE(check(plan->schedule).ok());

  opplan::Schedule early = plan->schedule;  // the last task of device 0 moved to time 0
  auto& last = early.device_tasks[0].back();
  last.end -= last.start;
  last.start = 0;
  EXPECT_GT(check(early).count(ViolationKind::kOverlap) + check(early).count(ViolationKind::kPrecedence), 0u);

  opplan::Schedule missing = plan->schedule;
  missing.device_tasks[1].pop_back();
  EXPECT_EQ(check(missing).count(ViolationKind::kMissing), 1u);

  opplan::Schedule twice = plan->schedule;
  twice.device_tasks[0].push_back(twice.device_tasks[0].back());
  EXPECT_GE(check(twice).count(ViolationKind::kDuplicate), 1u);

  opplan::Schedule short_task = plan->schedule;
  short_task.device_tasks[0].front().end = short_task.device_tasks[0].front().start + 0.5;
  EXPECT_GE(check(short_task).count(ViolationKind::kDuration), 1u);

  opplan::Schedule moved = plan->schedule;
  moved.device_tasks[1].push_back(moved.device_tasks[0].front());
  moved.device_tasks[0].erase(moved.device_tasks[0].begin());
  EXPECT_GE(check(moved).count(ViolationKind::kStructure), 1u);

  // A 1 GB activation that the graph does not have pushes nothing over 16 GB but is wrong.
  opplan::Schedule leaky = plan->schedule;
  leaky.device_tasks[0].front().memory_alloc = 20e9;
  EXPECT_GE(check(leaky).count(ViolationKind::kMemory), 1u);
}

}  // namespace
