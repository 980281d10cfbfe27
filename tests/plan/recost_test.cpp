// The re-costing check of plan() (lib/plan/recost.hpp, issue 16): the 4 A100 + 4 V100
// regression, tampered plans rejected by the check, and the property that slowing a device down
// never makes the returned plan faster, over random graphs, random mixed clusters and every
// strategy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <opplan/models.hpp>
#include <opplan/plan.hpp>
#include <random>
#include <string>
#include <vector>

#include "plan/recost.hpp"

namespace {

using opplan::Cluster;
using opplan::Device;
using opplan::DeviceId;
using opplan::Graph;
using opplan::Plan;
using opplan::PlanOptions;
using opplan::PlanStrategy;
using ::testing::HasSubstr;

constexpr double kTFlops = 1e12, kGB = 1e9;

Device a100(int node, int k) {
  Device d;
  d.name = "n" + std::to_string(node) + ".a100." + std::to_string(k);
  d.model = "A100-SXM4-80GB";
  d.node = node;
  d.peak_flops = 312 * kTFlops;
  d.peaks = {19.5 * kTFlops, 156 * kTFlops, 312 * kTFlops, 312 * kTFlops, 0};
  d.memory_bytes = 80 * kGB;
  d.memory_bandwidth = 2039 * kGB;
  return d;
}

Device v100(int node, int k) {
  Device d;
  d.name = "n" + std::to_string(node) + ".v100." + std::to_string(k);
  d.model = "V100-SXM2-32GB";
  d.node = node;
  d.peak_flops = 125 * kTFlops;
  d.peaks = {15.7 * kTFlops, 0, 125 * kTFlops, 0, 0};
  d.memory_bytes = 32 * kGB;
  d.memory_bandwidth = 900 * kGB;
  return d;
}

// Node 0: 4 A100, node 1: 4 V100, the DGX A100 links and one 2 x 4 mesh.
Cluster a100_v100() {
  const Cluster dgx = Cluster::dgx_a100();
  Cluster c("4a100-4v100");
  opplan::Mesh mesh{"cluster", 2, 4, {}};
  for (int k = 0; k < 4; ++k) mesh.devices.push_back(c.add_device(a100(0, k)));
  for (int k = 0; k < 4; ++k) mesh.devices.push_back(c.add_device(v100(1, k)));
  c.set_intra_node_link(dgx.intra_node_link());
  c.set_inter_node_link(dgx.inter_node_link());
  c.add_mesh(mesh);
  return c;
}

// 8 A100 as two nodes of 4, the same links: what the mixed cluster may at best match.
Cluster eight_a100() {
  Cluster c = a100_v100();
  for (int k = 4; k < 8; ++k) {
    Device d = a100(1, k - 4);
    c.mutable_device(DeviceId(static_cast<std::uint32_t>(k))) = d;
  }
  c.set_name("8a100");
  return c;
}

opplan::plan_detail::RecostOptions recost_options(const PlanOptions& o) {
  opplan::plan_detail::RecostOptions r;
  r.micro_batches = o.micro_batches;
  r.serialized_links = o.operator_level.serialize_links;
  r.evaluate = o.parallel_config.evaluate;
  return r;
}

// The reproduction: the hierarchical plan of GPT-3 1.3B on 4 A100 + 4 V100 claimed 90.4 ms,
// faster than on 8 A100, with the V100 stages timed as A100s. Now it is no faster than on 8 A100,
// it passes the re-costing check, and the same plan with every V100 stage's tasks shortened to
// A100 speed (the old figures) is rejected, naming a stage on the V100s.
TEST(RecostTest, MixedA100V100HierarchicalPlanIsNoFasterThanEightA100) {
  auto g = opplan::zoo_model("gpt3-1.3b");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  PlanOptions o;
  o.strategy = PlanStrategy::kHierarchical;
  o.time_limit = 60;
  const Cluster mixed = a100_v100(), uniform = eight_a100();
  auto fast = opplan::plan(*g, uniform, o);
  auto slow = opplan::plan(*g, mixed, o);
  ASSERT_TRUE(fast.ok()) << fast.status().to_string();
  ASSERT_TRUE(slow.ok()) << slow.status().to_string();
  EXPECT_GE(slow->iteration_seconds, fast->iteration_seconds);
  EXPECT_TRUE(slow->verified);

  const opplan::AnalyticCostModel cost;
  const auto r = recost_options(o);
  EXPECT_TRUE(opplan::plan_detail::recost_plan(*slow, *g, mixed, cost, r).ok());
  // The returned plan re-costed on the 8 A100 passes there too (A100s are faster everywhere)...
  EXPECT_TRUE(opplan::plan_detail::recost_plan(*slow, *g, uniform, cost, r).ok());

  // ... but the plan made for 8 A100 does not pass on the mixed cluster when one of its stages
  // has a device on the V100 node: its durations are A100 times.
  ASSERT_TRUE(fast->stages.has_value());
  bool on_v100 = false;
  for (const auto& st : fast->stages->stages)
    for (DeviceId d : st.mesh.devices) on_v100 = on_v100 || d.value() >= 4;
  ASSERT_TRUE(on_v100) << "the 8 A100 plan leaves the second node idle: " << fast->stages->FullReport();
  const opplan::Status old = opplan::plan_detail::recost_plan(*fast, *g, mixed, cost, r);
  EXPECT_FALSE(old.ok());
  EXPECT_THAT(old.message(), HasSubstr("v100"));
  EXPECT_THAT(old.message(), HasSubstr("slowest device of its mesh"));

  // Tampered: the mixed plan's stages on the V100 node charged at A100 speed (125 / 312).
  Plan tampered = *slow;
  ASSERT_TRUE(tampered.stages.has_value());
  bool tampered_any = false;
  for (std::size_t s = 0; s < tampered.stages->stages.size(); ++s) {
    const auto& devs = tampered.stages->stages[s].mesh.devices;
    if (std::none_of(devs.begin(), devs.end(), [](DeviceId d) { return d.value() >= 4; })) continue;
    for (auto& t : tampered.schedule.device_tasks[s]) t.end = t.start + t.duration() * 125.0 / 312.0;
    tampered_any = true;
  }
  ASSERT_TRUE(tampered_any);
  const opplan::Status rejected = opplan::plan_detail::recost_plan(tampered, *g, mixed, cost, r);
  EXPECT_FALSE(rejected.ok());
  EXPECT_THAT(rejected.message(), HasSubstr("re-costing: the hierarchical plan disagrees with the cost model"));
}

// ---- random instances ------------------------------------------------------------------------

// A random DAG: a chain (so stage cuts exist) with extra forward edges, matmul-like ops of
// random size in fp16 or fp32, some without weights (no W).
Graph random_graph(std::mt19937& rng, int index) {
  std::uniform_int_distribution<int> count(6, 12);
  std::uniform_real_distribution<double> gflop(2, 200), unit(0, 1);
  Graph g("random" + std::to_string(index));
  const int n = count(rng);
  std::vector<opplan::OpId> ids;
  for (int i = 0; i < n; ++i) {
    opplan::Op op;
    op.name = "op" + std::to_string(i);
    op.kind = "matmul";
    op.dtype = unit(rng) < 0.7 ? opplan::DType::kF16 : opplan::DType::kF32;
    const double f = gflop(rng) * 1e9;
    op.forward = {f, f / 200, std::nullopt};
    op.input_grad = {f, f / 200, std::nullopt};
    const bool weights = unit(rng) < 0.8;
    op.weight_grad = {weights ? f : 0, weights ? f / 200 : 0, std::nullopt};
    op.param_bytes = weights ? 2e6 + 4e7 * unit(rng) : 0;
    op.activation_bytes = 1e6 + 3e7 * unit(rng);
    ids.push_back(g.add_op(op));
  }
  for (int i = 1; i < n; ++i) {
    g.add_edge(ids[static_cast<std::size_t>(i - 1)], ids[static_cast<std::size_t>(i)], 1e6 + 2e7 * unit(rng));
    if (i >= 2 && unit(rng) < 0.3) g.add_edge(ids[static_cast<std::size_t>(i - 2)], ids[static_cast<std::size_t>(i)], 1e6 + 1e7 * unit(rng));
  }
  return g;
}

// Two nodes of two devices, each an A100 or a V100 at random (nodes must have equal counts for
// the stage strategies), DGX A100 links, one 2 x 2 mesh.
Cluster random_cluster(std::mt19937& rng, int index) {
  std::uniform_real_distribution<double> unit(0, 1);
  Cluster c("mixed" + std::to_string(index));
  opplan::Mesh mesh{"cluster", 2, 2, {}};
  for (int node = 0; node < 2; ++node)
    for (int k = 0; k < 2; ++k) {
      Device d = unit(rng) < 0.5 ? a100(node, k) : v100(node, k);
      mesh.devices.push_back(c.add_device(d));
    }
  const Cluster dgx = Cluster::dgx_a100();
  c.set_intra_node_link(dgx.intra_node_link());
  c.set_inter_node_link(dgx.inter_node_link());
  c.add_mesh(mesh);
  return c;
}

// Every figure of one device divided by `factor`: slower at every dtype and every shape.
Cluster slowed(const Cluster& c, std::uint32_t device, double factor) {
  Cluster out = c;
  Device& d = out.mutable_device(DeviceId(device));
  d.peak_flops /= factor;
  d.peaks.fp32 /= factor, d.peaks.tf32 /= factor, d.peaks.fp16 /= factor, d.peaks.bf16 /= factor, d.peaks.fp8 /= factor;
  d.memory_bandwidth /= factor;
  d.model += " (slowed)";
  return out;
}

std::string fmt_name(PlanStrategy strategy, int instance, std::uint32_t device) {
  return std::string(opplan::to_string(strategy)) + " on random instance " + std::to_string(instance) +
         ", device " + std::to_string(device) + " slowed";
}

PlanOptions small_options(PlanStrategy strategy) {
  PlanOptions o;
  o.strategy = strategy;
  o.micro_batches = 4;
  o.time_limit = 5;  // a safety cap only: these problems finish in well under a second
  o.threads = 1;
  return o;
}

// Each strategy's plan passes; the same plan with one duration shortened does not, and the
// message names what was shortened.
TEST(RecostTest, TamperedPlansOfEveryStrategyAreRejected) {
  std::mt19937 rng(7);
  const Graph g = random_graph(rng, 0);
  const Cluster c = random_cluster(rng, 0);
  const opplan::AnalyticCostModel cost;
  for (PlanStrategy strategy : {PlanStrategy::kOperatorLevel, PlanStrategy::kHierarchical, PlanStrategy::kPipelineOnly,
                                PlanStrategy::kParallelConfig}) {
    const PlanOptions o = small_options(strategy);
    auto p = opplan::plan(g, c, o);
    ASSERT_TRUE(p.ok()) << opplan::to_string(strategy) << ": " << p.status().to_string();
    const auto r = recost_options(o);
    ASSERT_TRUE(opplan::plan_detail::recost_plan(*p, g, c, cost, r).ok()) << opplan::to_string(strategy);
    Plan bad = *p;
    if (strategy == PlanStrategy::kParallelConfig) {
      bad.iteration_seconds *= 0.9;
      EXPECT_THAT(opplan::plan_detail::recost_plan(bad, g, c, cost, r).message(), HasSubstr("evaluate() of its configuration"));
      continue;
    }
    // The longest task of the schedule, shortened by a third.
    opplan::Task* longest = nullptr;
    for (auto& row : bad.schedule.device_tasks)
      for (auto& t : row)
        if (!longest || t.duration() > longest->duration()) longest = &t;
    ASSERT_NE(longest, nullptr);
    longest->end = longest->start + longest->duration() * 2 / 3;
    const opplan::Status st = opplan::plan_detail::recost_plan(bad, g, c, cost, r);
    EXPECT_FALSE(st.ok()) << opplan::to_string(strategy);
    EXPECT_THAT(st.message(), HasSubstr(strategy == PlanStrategy::kOperatorLevel ? "the cost model says" : "need at least"));
    if (strategy == PlanStrategy::kOperatorLevel) {
      // Lengthened is wrong too: an operator-level task is exactly its op's time.
      Plan longer = *p;
      for (auto& row : longer.schedule.device_tasks)
        if (!row.empty()) {
          row.back().end += 1e-3;
          break;
        }
      EXPECT_FALSE(opplan::plan_detail::recost_plan(longer, g, c, cost, r).ok());
    }
  }
}

// Slowing a device down never makes the returned plan faster (operator level: than the faster
// cluster's bound, see below), for every strategy, and every plan returned passes the re-costing
// check on its own cluster.
TEST(RecostTest, ASlowerDeviceNeverMakesTheReturnedPlanFaster) {
  std::mt19937 rng(16);
  const opplan::AnalyticCostModel cost;
  for (int i = 0; i < 4; ++i) {
    const Graph g = random_graph(rng, i);
    const Cluster c = random_cluster(rng, i);
    const std::uint32_t victim = std::uniform_int_distribution<std::uint32_t>(0, 3)(rng);
    const Cluster s = slowed(c, victim, 2.5);
    for (PlanStrategy strategy : {PlanStrategy::kOperatorLevel, PlanStrategy::kHierarchical, PlanStrategy::kPipelineOnly,
                                  PlanStrategy::kParallelConfig}) {
      const PlanOptions o = small_options(strategy);
      auto base = opplan::plan(g, c, o);
      auto slower = opplan::plan(g, s, o);
      const std::string what = fmt_name(strategy, i, victim);
      ASSERT_TRUE(base.ok()) << what << ": " << base.status().to_string();
      ASSERT_TRUE(slower.ok()) << what << ": " << slower.status().to_string();
      EXPECT_TRUE(opplan::plan_detail::recost_plan(*base, g, c, cost, recost_options(o)).ok()) << what;
      EXPECT_TRUE(opplan::plan_detail::recost_plan(*slower, g, s, cost, recost_options(o)).ok()) << what;
      if (strategy == PlanStrategy::kOperatorLevel) {
        // The operator-level search is a heuristic whose path depends on every cost: a slower
        // device may steer it to a better placement (0.5 % shorter on 1 of 30 random instances
        // tried), so its plans are held to what a correctly costed plan must satisfy: no plan on
        // the slower cluster beats the bound over every placement on the faster one.
        EXPECT_GE(slower->iteration_seconds, base->lower_bound * (1 - 1e-12)) << what;
      } else {
        EXPECT_GE(slower->iteration_seconds, base->iteration_seconds * (1 - 1e-12)) << what;
      }
    }
  }
}

}  // namespace
