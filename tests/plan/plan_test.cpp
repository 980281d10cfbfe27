// plan(): the strategies, auto picking the shorter, the summary, determinism, stop requests and
// bad options.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <opplan/models.hpp>
#include <opplan/plan.hpp>
#include <string>

namespace {

using opplan::Cluster;
using opplan::Graph;
using opplan::PlanOptions;
using opplan::PlanStrategy;
using ::testing::HasSubstr;

Graph small_two_tower() {
  opplan::BranchyConfig c;
  c.model = opplan::BranchyModel::kTwoTower;
  c.blocks = 2;
  c.hidden = 512;
  c.tokens = 512;
  auto g = opplan::build_branchy(c);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? *g : Graph{};
}

PlanOptions quick(PlanStrategy strategy) {
  PlanOptions o;
  o.strategy = strategy;
  o.micro_batches = 4;
  o.time_limit = 120;
  o.operator_level.placement_moves = 100;
  o.operator_level.mip_windows = 1;
  return o;
}

TEST(PlanTest, AutoTakesTheShorterOfBothStrategies) {
  const Graph g = small_two_tower();
  const Cluster c = Cluster::dgx_a100();
  auto op = opplan::plan(g, c, quick(PlanStrategy::kOperatorLevel));
  auto hi = opplan::plan(g, c, quick(PlanStrategy::kHierarchical));
  auto au = opplan::plan(g, c, quick(PlanStrategy::kAuto));
  ASSERT_TRUE(op.ok()) << op.status().to_string();
  ASSERT_TRUE(hi.ok()) << hi.status().to_string();
  ASSERT_TRUE(au.ok()) << au.status().to_string();
  EXPECT_EQ(op->strategy, PlanStrategy::kOperatorLevel);
  EXPECT_EQ(hi->strategy, PlanStrategy::kHierarchical);
  EXPECT_DOUBLE_EQ(au->iteration_seconds, std::min(op->iteration_seconds, hi->iteration_seconds));
  EXPECT_EQ(au->strategy, op->iteration_seconds < hi->iteration_seconds ? PlanStrategy::kOperatorLevel
                                                                          : PlanStrategy::kHierarchical);
  for (const auto* p : {&*op, &*hi, &*au}) {
    EXPECT_TRUE(p->verified);
    EXPECT_EQ(p->placement.size(), g.num_ops());
    EXPECT_EQ(p->sharding.size(), g.num_ops());
    // A plan at its bound may differ from it in the last bits (sums taken in another order).
    EXPECT_GE(p->iteration_seconds, p->lower_bound * (1 - 1e-12));
  }
  // Operator-level plans shard nothing and use one row per device; hierarchical ones one row per stage.
  EXPECT_EQ(op->schedule.num_devices, 8);
  ASSERT_TRUE(hi->stages.has_value());
  EXPECT_EQ(hi->schedule.num_devices, static_cast<int>(hi->stages->stages.size()));
  EXPECT_EQ(std::count(op->sharding.begin(), op->sharding.end(), "replicated"), static_cast<long>(g.num_ops()));
  // The auto plan's steps name both strategies.
  std::string steps;
  for (const auto& s : au->summary.steps) steps += s.name + ";";
  EXPECT_THAT(steps, HasSubstr("validate;"));
  EXPECT_THAT(steps, HasSubstr("hierarchical: stages;"));
  EXPECT_THAT(steps, HasSubstr("operator-level;"));
  EXPECT_THAT(au->summary.BriefReport(), HasSubstr("plan of two-tower on dgx-a100 (8 devices, 4 micro-batches)"));
  EXPECT_THAT(au->summary.FullReport(), HasSubstr("steps:\n  validate"));
}

TEST(PlanTest, HierarchicalShardsOnItsMeshesAndPipelineOnlyDoesNot) {
  auto g = opplan::zoo_model("gpt3-350m");
  ASSERT_TRUE(g.ok());
  const Cluster c = Cluster::dgx_a100();
  auto hi = opplan::plan(*g, c, quick(PlanStrategy::kHierarchical));
  ASSERT_TRUE(hi.ok()) << hi.status().to_string();
  // GPT-3 350M on a DGX-A100 node: two stages of four devices each, so ops are sharded.
  bool any_mesh = false;
  for (const auto& st : hi->stages->stages) any_mesh = any_mesh || st.mesh.devices.size() > 1;
  ASSERT_TRUE(any_mesh);
  EXPECT_LT(std::count(hi->sharding.begin(), hi->sharding.end(), "replicated"), static_cast<long>(g->num_ops()));
  auto po = opplan::plan(*g, c, quick(PlanStrategy::kPipelineOnly));
  ASSERT_TRUE(po.ok()) << po.status().to_string();
  EXPECT_EQ(po->strategy, PlanStrategy::kPipelineOnly);
  for (const auto& st : po->stages->stages) EXPECT_EQ(st.mesh.devices.size(), 1u);
  EXPECT_EQ(std::count(po->sharding.begin(), po->sharding.end(), "replicated"), static_cast<long>(g->num_ops()));
}

TEST(PlanTest, SameSeedSamePlanAndStopReturnsAPlan) {
  const Graph g = small_two_tower();
  const Cluster c = Cluster::dgx_a100();
  auto a = opplan::plan(g, c, quick(PlanStrategy::kAuto));
  auto b = opplan::plan(g, c, quick(PlanStrategy::kAuto));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->iteration_seconds, b->iteration_seconds);
  EXPECT_EQ(a->placement, b->placement);

  std::atomic<bool> stop{true};
  PlanOptions o = quick(PlanStrategy::kOperatorLevel);
  o.monitor.stop = &stop;
  auto stopped = opplan::plan(g, c, o);
  ASSERT_TRUE(stopped.ok()) << stopped.status().to_string();
  EXPECT_EQ(stopped->summary.termination, opplan::PlanTermination::kStopped);
  EXPECT_TRUE(stopped->verified);
}

TEST(PlanTest, BadOptionsAndImpossibleMemoryAreNamed) {
  const Graph g = small_two_tower();
  const Cluster c = Cluster::dgx_a100();
  PlanOptions o;
  o.micro_batches = 0;
  auto r = opplan::plan(g, c, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("micro_batches"));
  o = {};
  o.operator_level.window_instances = 1;
  r = opplan::plan(g, c, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("operator_level.window_instances"));
  o = {};
  o.memory_cap = 1e3;  // 1 kB per device
  r = opplan::plan(g, c, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no strategy found a plan"));
  EXPECT_THAT(r.status().message(), HasSubstr("hierarchical:"));
  EXPECT_THAT(r.status().message(), HasSubstr("operator-level:"));
  EXPECT_FALSE(opplan::plan(Graph("empty"), c, {}).ok());
  o = {};
  o.strategy = PlanStrategy::kHierarchical;
  o.score = [](const opplan::Schedule& s) { return s.metrics.makespan; };
  r = opplan::plan(g, c, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("score: a custom score needs operator-level schedules"));
}

TEST(PlanTest, HierarchicalRefusesToSplitATiedGroupAndAutoFallsBack) {
  // embed ... head tied (one co-location group) around a chain heavy enough to be cut into stages.
  Graph g("tied");
  opplan::Op embed;
  embed.name = "embed";
  embed.group = "tied-embedding";
  embed.forward.flops = embed.input_grad.flops = embed.weight_grad.flops = 1e12;
  embed.param_bytes = 1e8;
  opplan::OpId prev = g.add_op(embed);
  for (int k = 0; k < 6; ++k) {
    opplan::Op mid = embed;
    mid.name = "mid" + std::to_string(k);
    mid.group.clear();
    mid.forward.flops = mid.input_grad.flops = mid.weight_grad.flops = 50e12;
    const opplan::OpId id = g.add_op(mid);
    g.add_edge(prev, id, 1e6);
    prev = id;
  }
  opplan::Op head = embed;
  head.name = "head";
  g.add_edge(prev, g.add_op(head), 1e6);
  const Cluster c = Cluster::dgx_a100();
  auto hi = opplan::plan(g, c, quick(PlanStrategy::kHierarchical));
  ASSERT_FALSE(hi.ok()) << "the 300 TFLOP chain is cut into stages, which splits embed from head";
  EXPECT_THAT(hi.status().message(), HasSubstr("co-location group 'tied-embedding' spans stages"));
  auto au = opplan::plan(g, c, quick(PlanStrategy::kAuto));
  ASSERT_TRUE(au.ok()) << au.status().to_string();
  EXPECT_NE(au->strategy, PlanStrategy::kHierarchical);  // operator-level, or a configuration without PP
  EXPECT_EQ(au->placement.front(), au->placement.back());
}

// Issue 16: sizes that used to run for minutes or end in std::bad_alloc are refused at once, naming
// the quantity and the limit (no timing asserted).
TEST(PlanTest, RefusesMicroBatchCountsNoStrategyCanPlan) {
  const Graph g = small_two_tower();
  PlanOptions o = quick(PlanStrategy::kAuto);
  o.micro_batches = 1000000000;
  auto p = opplan::plan(g, Cluster::dgx_a100(), o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("micro_batches: 1000000000 is too many"));
  EXPECT_THAT(p.status().message(), HasSubstr("limit of 2000000"));
  // The operator level alone refuses a schedule above kMaxOperatorTasks before allocating it.
  o.strategy = PlanStrategy::kOperatorLevel;
  o.micro_batches = static_cast<int>(opplan::kMaxOperatorTasks / 3 / static_cast<long long>(g.num_ops())) + 1;
  auto op = opplan::plan(g, Cluster::dgx_a100(), o);
  ASSERT_FALSE(op.ok());
  EXPECT_THAT(op.status().message(), HasSubstr("kMaxOperatorTasks"));
}

}  // namespace

namespace {

// The stage strategies time each stage on the slowest figures of a mixed cluster: slowing one
// device down never makes their plan faster. (The operator-level search is a heuristic: on this
// graph, slowing device 0 steers it to a placement 5 % shorter than the one it returns on the
// uniform node, so the property does not hold for it yet.)
TEST(PlanTest, ASlowerDeviceNeverMakesAStagePlanFaster) {
  const Graph g = small_two_tower();
  const Cluster fast = Cluster::dgx_a100();
  for (PlanStrategy s : {PlanStrategy::kHierarchical, PlanStrategy::kPipelineOnly}) {
    auto base = opplan::plan(g, fast, quick(s));
    ASSERT_TRUE(base.ok()) << base.status().to_string();
    for (std::uint32_t slow : {0u, 5u}) {
      Cluster c = fast;
      opplan::Device& d = c.mutable_device(opplan::DeviceId(slow));
      d.peak_flops /= 3, d.peaks = {}, d.memory_bandwidth /= 3, d.model = "slower";
      auto p = opplan::plan(g, c, quick(s));
      ASSERT_TRUE(p.ok()) << p.status().to_string();
      // Every device holds a stage, so the plan gets strictly slower (device 5 is not one of the
      // first devices Alpa's DP costs submeshes on).
      EXPECT_GT(p->iteration_seconds, base->iteration_seconds) << opplan::to_string(s) << ", device " << slow;
    }
  }
}

}  // namespace
