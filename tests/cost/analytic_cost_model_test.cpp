#include <opplan/cost_model.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::AnalyticCostModel;
using opplan::Cluster;
using opplan::Collective;
using opplan::CostModel;
using opplan::Device;
using opplan::DType;
using opplan::OpMemory;
using opplan::DeviceId;
using opplan::Link;
using opplan::Mesh;
using opplan::Op;
using opplan::Phase;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Expected values below are computed by hand; the tolerance only absorbs the last bits of rounding.
#define EXPECT_SECONDS(actual, expected) EXPECT_NEAR((actual), (expected), 1e-12 * std::abs(expected) + 1e-18)

DeviceId dev(std::uint32_t i) { return DeviceId(i); }

Device gpu(std::string name, int node, double flops, double bandwidth) {
  Device d;
  d.name = std::move(name);
  d.node = node;
  d.peak_flops = flops;
  d.memory_bytes = 16e9;
  d.memory_bandwidth = bandwidth;
  return d;
}

// 100 TFLOP/s, 1 TB/s: with the default efficiencies (0.5, 0.8) an op runs at 50 TFLOP/s and
// 0.8 TB/s.
const Device kGpu = gpu("g", 0, 100e12, 1e12);

const Link kIntra{1e-6, 1e-11};  // 100 GB/s
const Link kInter{10e-6, 1e-10};  // 10 GB/s

// Nodes of `per_node` identical devices.
Cluster nodes(int count, int per_node) {
  Cluster c;
  for (int n = 0; n < count; ++n)
    for (int g = 0; g < per_node; ++g)
      c.add_device(gpu("n" + std::to_string(n) + "g" + std::to_string(g), n, 100e12, 1e12));
  c.set_intra_node_link(kIntra);
  c.set_inter_node_link(kInter);
  return c;
}

Op op_with(double flops, double bytes) {
  Op op;
  op.name = "op";
  op.forward.flops = flops;
  op.forward.bytes = bytes;
  return op;
}

// ---- names -----------------------------------------------------------------------------------

TEST(Collective, NamesRoundTrip) {
  EXPECT_STREQ(to_string(Collective::kAllReduce), "all_reduce");
  EXPECT_STREQ(to_string(Collective::kAllGather), "all_gather");
  EXPECT_STREQ(to_string(Collective::kReduceScatter), "reduce_scatter");
  EXPECT_STREQ(to_string(Collective::kAllToAll), "all_to_all");
  for (Collective c : {Collective::kAllReduce, Collective::kAllGather, Collective::kReduceScatter,
                       Collective::kAllToAll})
    EXPECT_EQ(opplan::parse_collective(to_string(c)), c);
  EXPECT_FALSE(opplan::parse_collective("allreduce").has_value());
  EXPECT_FALSE(opplan::parse_collective("All_Reduce").has_value());
  EXPECT_FALSE(opplan::parse_collective("").has_value());
}

// ---- options ---------------------------------------------------------------------------------

TEST(CostOptions, DefaultsAreValid) {
  for (const AnalyticCostModel::Options& o : {AnalyticCostModel::Options{}, AnalyticCostModel::Options::Alpa()}) {
    std::string error = "stale";
    EXPECT_TRUE(o.IsValid(&error));
    EXPECT_EQ(error, "");
    EXPECT_TRUE(o.IsValid(nullptr));
  }
  const AnalyticCostModel model;  // the calibrated defaults (docs/calibration.md)
  EXPECT_EQ(model.options().compute_efficiency, 0.72);
  EXPECT_EQ(model.options().memory_efficiency, 0.8);
  EXPECT_EQ(model.options().launch_overhead, 5e-6);
  EXPECT_EQ(model.options().optimizer, opplan::Optimizer::kAdam);
  EXPECT_EQ(model.options().collective_model, opplan::CollectiveModel::kNccl);
  const AnalyticCostModel alpa(AnalyticCostModel::Options::Alpa());
  EXPECT_EQ(alpa.options().compute_efficiency, 0.5);
  EXPECT_EQ(alpa.options().collective_model, opplan::CollectiveModel::kRing);
}

TEST(CostOptions, EachBadFieldIsNamed) {
  struct Case {
    void (*set)(AnalyticCostModel::Options&);
    const char* message;
  };
  const Case cases[] = {
      {[](auto& o) { o.compute_efficiency = 0; }, "compute_efficiency must be in (0, 1] (is 0)"},
      {[](auto& o) { o.compute_efficiency = 1.5; }, "compute_efficiency must be in (0, 1] (is 1.5)"},
      {[](auto& o) { o.compute_efficiency = kNaN; }, "compute_efficiency must be in (0, 1] (is nan)"},
      {[](auto& o) { o.memory_efficiency = -0.1; }, "memory_efficiency must be in (0, 1] (is -0.1)"},
      {[](auto& o) { o.launch_overhead = -1e-6; }, "launch_overhead must be finite and >= 0 seconds (is -1e-06)"},
      {[](auto& o) { o.launch_overhead = kNaN; }, "launch_overhead must be finite and >= 0 seconds (is nan)"},
      {[](auto& o) { o.param_memory_factor = -1; },
       "param_memory_factor must be finite and >= 0 (is -1; 0 = from the optimizer)"},
      {[](auto& o) { o.param_memory_factor = std::numeric_limits<double>::infinity(); },
       "param_memory_factor must be finite and >= 0 (is inf; 0 = from the optimizer)"},
      {[](auto& o) { o.efficiency_half_dim = -1; }, "efficiency_half_dim must be finite and >= 0 (is -1)"},
      {[](auto& o) { o.network_bus_efficiency = 0; }, "network_bus_efficiency must be in (0, 1] (is 0)"},
  };
  for (const Case& c : cases) {
    AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
    c.set(o);
    std::string error;
    EXPECT_FALSE(o.IsValid(&error)) << c.message;
    EXPECT_EQ(error, c.message);
    EXPECT_FALSE(o.IsValid(nullptr));
  }
  // Boundaries that are allowed.
  AnalyticCostModel::Options edge = AnalyticCostModel::Options::Alpa();
  edge.compute_efficiency = 1;
  edge.memory_efficiency = 1;
  edge.launch_overhead = 0;
  EXPECT_TRUE(edge.IsValid(nullptr));
}

TEST(CostOptions, SeveralBadFieldsAreAllNamed) {
  AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
  o.compute_efficiency = 2;
  o.param_memory_factor = -1;
  std::string error;
  EXPECT_FALSE(o.IsValid(&error));
  EXPECT_THAT(error, HasSubstr("compute_efficiency"));
  EXPECT_THAT(error, HasSubstr("param_memory_factor"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("memory_efficiency must")));
}

TEST(CostOptions, ConstructorThrowsWithTheMessage) {
  AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
  o.memory_efficiency = 0;
  try {
    AnalyticCostModel model(o);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("memory_efficiency must be in (0, 1] (is 0)"));
  }
}

// ---- compute ---------------------------------------------------------------------------------

TEST(CostOpTime, ComputeBound) {
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  // 1 TFLOP at 50 TFLOP/s = 20 ms; 1 GB at 0.8 TB/s = 1.25 ms; plus 5 us launch.
  EXPECT_SECONDS(model.op_time(op_with(1e12, 1e9), Phase::kForward, kGpu), 0.020005);
}

TEST(CostOpTime, MemoryBound) {
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  // 1 GFLOP = 20 us; 8 GB at 0.8 TB/s = 10 ms; plus 5 us.
  EXPECT_SECONDS(model.op_time(op_with(1e9, 8e9), Phase::kForward, kGpu), 0.010005);
}

TEST(CostOpTime, EfficienciesAndOverheadComeFromOptions) {
  AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
  o.compute_efficiency = 1;
  o.memory_efficiency = 0.5;
  o.launch_overhead = 1e-3;
  const AnalyticCostModel model(o);
  EXPECT_SECONDS(model.op_time(op_with(1e12, 0), Phase::kForward, kGpu), 0.011);  // 10 ms + 1 ms
  EXPECT_SECONDS(model.op_time(op_with(0, 1e9), Phase::kForward, kGpu), 0.003);   // 2 ms + 1 ms
}

TEST(CostOpTime, LaunchOverheadOnlyForNonEmptyPhases) {
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  Op op = op_with(1e10, 0);   // forward: 200 us of compute
  op.input_grad.bytes = 8e6;  // input_grad: 10 us of memory traffic
  // weight_grad: empty
  EXPECT_SECONDS(model.op_time(op, Phase::kForward, kGpu), 205e-6);
  EXPECT_SECONDS(model.op_time(op, Phase::kInputGrad, kGpu), 15e-6);
  EXPECT_EQ(model.op_time(op, Phase::kWeightGrad, kGpu), 0);
  // A device with no rating still gives 0 for an empty phase rather than 0/0.
  EXPECT_EQ(model.op_time(op, Phase::kWeightGrad, Device{}), 0);
}

TEST(CostOpTime, MeasuredSecondsOverrideOnEveryDevice) {
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  Op op = op_with(1e15, 1e12);
  op.forward.seconds = 0.123;
  EXPECT_EQ(model.op_time(op, Phase::kForward, kGpu), 0.123);
  EXPECT_EQ(model.op_time(op, Phase::kForward, gpu("slow", 0, 1e12, 1e9)), 0.123);
  op.weight_grad.seconds = 0;  // measured as free: no launch overhead added
  op.weight_grad.flops = 1e12;
  EXPECT_EQ(model.op_time(op, Phase::kWeightGrad, kGpu), 0);
}

// ---- sharded ops -----------------------------------------------------------------------------

TEST(CostShardedOpTime, TheSlowestDeviceOfAHeterogeneousMeshDecides) {
  Cluster c;
  c.add_device(gpu("fast", 0, 100e12, 1e12));
  c.add_device(gpu("slow", 0, 25e12, 1e12));
  const Mesh mesh{"m", 1, 2, {dev(0), dev(1)}};
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  const Op op = op_with(1e12, 1e9);
  // Half of 1 TFLOP at 12.5 TFLOP/s (25 * 0.5) = 40 ms, + 5 us. The fast device would take 10 ms.
  EXPECT_SECONDS(model.sharded_op_time(op, Phase::kForward, c, mesh, 2), 0.040005);
  // A quarter: 20 ms.
  EXPECT_SECONDS(model.sharded_op_time(op, Phase::kForward, c, mesh, 4), 0.020005);
  // One shard is the whole op on the slow device.
  EXPECT_SECONDS(model.sharded_op_time(op, Phase::kForward, c, mesh, 1),
                 model.op_time(op, Phase::kForward, c.device(dev(1))));
  // Only the fast device: 10 ms.
  EXPECT_SECONDS(model.sharded_op_time(op, Phase::kForward, c, Mesh{"f", 1, 1, {dev(0)}}, 2), 0.010005);
}

TEST(CostShardedOpTime, MemoryBoundShardOnASlowMemoryDevice) {
  Cluster c;
  c.add_device(gpu("a", 0, 100e12, 1e12));
  c.add_device(gpu("b", 0, 100e12, 0.5e12));
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  // 8 GB / 4 shards = 2 GB at 0.4 TB/s (0.5 * 0.8) = 5 ms, + 5 us.
  EXPECT_SECONDS(model.sharded_op_time(op_with(1e9, 8e9), Phase::kForward, c, Mesh{"m", 2, 1, {dev(0), dev(1)}}, 4),
                 0.005005);
}

TEST(CostShardedOpTime, MeasuredSecondsAreDividedByTheShards) {
  const Cluster c = nodes(1, 2);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  Op op = op_with(1e12, 0);
  op.forward.seconds = 0.1;
  EXPECT_SECONDS(model.sharded_op_time(op, Phase::kForward, c, Mesh{"m", 1, 2, {dev(0), dev(1)}}, 4), 0.025);
  EXPECT_EQ(model.sharded_op_time(op_with(0, 0), Phase::kForward, c, Mesh{"m", 1, 2, {dev(0), dev(1)}}, 4), 0);
}

TEST(CostShardedOpTime, BadArgumentsThrow) {
  const Cluster c = nodes(1, 2);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  const Op op = op_with(1e12, 0);
  const Mesh mesh{"m", 1, 2, {dev(0), dev(1)}};
  EXPECT_THROW(model.sharded_op_time(op, Phase::kForward, c, mesh, 0), std::invalid_argument);
  EXPECT_THROW(model.sharded_op_time(op, Phase::kForward, c, mesh, -2), std::invalid_argument);
  EXPECT_THROW(model.sharded_op_time(op, Phase::kForward, c, Mesh{"empty", 1, 1, {}}, 1), std::invalid_argument);
  EXPECT_THROW(model.sharded_op_time(op, Phase::kForward, c, Mesh{"ghost", 1, 1, {dev(7)}}, 1), std::out_of_range);
}

// ---- transfers -------------------------------------------------------------------------------

TEST(CostTransferTime, IntraVersusInterNode) {
  const Cluster c = nodes(2, 2);  // devices 0, 1 on node 0; 2, 3 on node 1
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_SECONDS(model.transfer_time(c, dev(0), dev(1), 1e9), 1e-6 + 0.01);
  EXPECT_SECONDS(model.transfer_time(c, dev(3), dev(2), 1e9), 1e-6 + 0.01);
  EXPECT_SECONDS(model.transfer_time(c, dev(1), dev(2), 1e9), 10e-6 + 0.1);
  EXPECT_EQ(model.transfer_time(c, dev(2), dev(2), 1e9), 0);
  // The formula is alpha + beta * bytes, so an empty message still pays the latency.
  EXPECT_SECONDS(model.transfer_time(c, dev(0), dev(3), 0), 10e-6);
}

TEST(CostTransferTime, UsesLinkOverrides) {
  Cluster c = nodes(2, 2);
  c.set_link(dev(0), dev(2), Link{2e-6, 1e-12});
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_SECONDS(model.transfer_time(c, dev(2), dev(0), 1e9), 2e-6 + 1e-3);
}

TEST(CostTransferTime, BadArgumentsThrow) {
  const Cluster c = nodes(1, 2);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_THROW(model.transfer_time(c, dev(0), dev(1), -1), std::invalid_argument);
  EXPECT_THROW(model.transfer_time(c, dev(0), dev(0), -1), std::invalid_argument);
  EXPECT_THROW(model.transfer_time(c, dev(0), dev(1), kNaN), std::invalid_argument);
  EXPECT_THROW(model.transfer_time(c, dev(0), dev(5), 1), std::out_of_range);
}

// ---- collectives -----------------------------------------------------------------------------

std::vector<DeviceId> first(int n) {
  std::vector<DeviceId> g;
  for (int i = 0; i < n; ++i) g.push_back(dev(static_cast<std::uint32_t>(i)));
  return g;
}

struct FormulaCase {
  Collective collective;
  bool penalty;
  int n;
  double seconds;  // for 1 GB over 100 GB/s links with 1 us latency
};

TEST(CostCollectiveTime, RingFormulasForOneTwoFourAndEightDevices) {
  const Cluster c = nodes(1, 8);
  const FormulaCase cases[] = {
      // all-reduce: 2 (n-1)/n * 10 ms
      {Collective::kAllReduce, false, 1, 0},
      {Collective::kAllReduce, false, 2, 1e-6 + 0.010},
      {Collective::kAllReduce, false, 4, 1e-6 + 0.015},
      {Collective::kAllReduce, false, 8, 1e-6 + 0.0175},
      // all-gather and reduce-scatter: (n-1)/n * 10 ms
      {Collective::kAllGather, false, 1, 0},
      {Collective::kAllGather, false, 2, 1e-6 + 0.005},
      {Collective::kAllGather, false, 4, 1e-6 + 0.0075},
      {Collective::kAllGather, false, 8, 1e-6 + 0.00875},
      {Collective::kReduceScatter, false, 1, 0},
      {Collective::kReduceScatter, false, 2, 1e-6 + 0.005},
      {Collective::kReduceScatter, false, 4, 1e-6 + 0.0075},
      {Collective::kReduceScatter, false, 8, 1e-6 + 0.00875},
      // all-to-all: (n-1)/n^2 * 10 ms
      {Collective::kAllToAll, false, 1, 0},
      {Collective::kAllToAll, false, 2, 1e-6 + 0.0025},
      {Collective::kAllToAll, false, 4, 1e-6 + 0.001875},
      {Collective::kAllToAll, false, 8, 1e-6 + 0.00109375},
      // with Alpa's penalty: times max(1, n/2)
      {Collective::kAllToAll, true, 1, 0},
      {Collective::kAllToAll, true, 2, 1e-6 + 0.0025},
      {Collective::kAllToAll, true, 4, 1e-6 + 0.00375},
      {Collective::kAllToAll, true, 8, 1e-6 + 0.004375},
  };
  for (const FormulaCase& f : cases) {
    AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
    o.alpa_all_to_all_penalty = f.penalty;
    const AnalyticCostModel model(o);
    SCOPED_TRACE(std::string(to_string(f.collective)) + " n=" + std::to_string(f.n) +
                 (f.penalty ? " penalty" : ""));
    EXPECT_SECONDS(model.collective_time(c, f.collective, first(f.n), 1e9), f.seconds);
  }
}

TEST(CostCollectiveTime, PenaltyOnlyAffectsAllToAll) {
  const Cluster c = nodes(1, 8);
  AnalyticCostModel::Options o = AnalyticCostModel::Options::Alpa();
  o.alpa_all_to_all_penalty = true;
  const AnalyticCostModel with(o);
  const AnalyticCostModel without(AnalyticCostModel::Options::Alpa());
  for (Collective k : {Collective::kAllReduce, Collective::kAllGather, Collective::kReduceScatter})
    EXPECT_EQ(with.collective_time(c, k, first(8), 1e9), without.collective_time(c, k, first(8), 1e9));
  EXPECT_SECONDS(with.collective_time(c, Collective::kAllToAll, first(8), 1e9) - 1e-6,
                 4 * (without.collective_time(c, Collective::kAllToAll, first(8), 1e9) - 1e-6));
}

TEST(CostCollectiveTime, RingOverTwoNodesUsesTheInterNodeLink) {
  const Cluster c = nodes(2, 2);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  // Inside node 0: 100 GB/s.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, {dev(0), dev(1)}, 1e9), 1e-6 + 0.01);
  // Across: 1.5 GB at 10 GB/s, even though two of the four hops are NVLink-fast.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, {dev(0), dev(1), dev(2), dev(3)}, 1e9),
                 10e-6 + 0.15);
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllGather, {dev(1), dev(3)}, 1e9), 10e-6 + 0.05);
}

TEST(CostCollectiveTime, TheHopFromLastBackToFirstCounts) {
  Cluster c = nodes(1, 3);
  c.set_link(dev(2), dev(0), Link{1e-3, 1e-9});  // only the closing hop is slow
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  // (3-1)/3 of 3 GB = 2 GB at 1 GB/s.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllGather, {dev(0), dev(1), dev(2)}, 3e9), 1e-3 + 2);
  // Without dev(2) the slow pair is not in the ring.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllGather, {dev(0), dev(1)}, 2e9), 1e-6 + 0.01);
}

TEST(CostCollectiveTime, AlphaAndBetaAreTheWorstOfAnyHop) {
  Cluster c = nodes(1, 3);
  c.set_link(dev(0), dev(1), Link{1e-3, 1e-12});  // slow to start, fast to stream
  c.set_link(dev(1), dev(2), Link{0, 1e-9});      // instant start, 1 GB/s
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_SECONDS(model.collective_time(c, Collective::kReduceScatter, {dev(0), dev(1), dev(2)}, 3e9), 1e-3 + 2);
}

TEST(CostCollectiveTime, OneDeviceAndEmptyBuffers) {
  const Cluster c = nodes(1, 2);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_EQ(model.collective_time(c, Collective::kAllReduce, {dev(1)}, 1e12), 0);
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, {dev(0), dev(1)}, 0), 1e-6);
}

TEST(CostCollectiveTime, BadArgumentsThrow) {
  const Cluster c = nodes(1, 4);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, {dev(0), dev(1)}, -1), std::invalid_argument);
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, {dev(0)}, -1), std::invalid_argument);
  EXPECT_THROW(model.collective_time(c, Collective::kAllGather, {dev(0), dev(1)}, kNaN), std::invalid_argument);
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, {}, 1), std::invalid_argument);
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, {dev(0), dev(9)}, 1), std::out_of_range);
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, {dev(9)}, 1), std::out_of_range);
  try {
    model.collective_time(c, Collective::kAllReduce, {dev(0), dev(1), dev(2), dev(1)}, 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'n0g1' appears more than once"));
  }
}

TEST(CostCollectiveTime, LargeGroupsAreCheckedForDuplicatesToo) {
  const Cluster c = nodes(1, 40);
  const AnalyticCostModel model(AnalyticCostModel::Options::Alpa());
  std::vector<DeviceId> group = first(40);
  // 40 devices on one node: 2 * 39/40 GB at 100 GB/s.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, group, 1e9), 1e-6 + 0.0195);
  group[39] = dev(3);
  EXPECT_THROW(model.collective_time(c, Collective::kAllReduce, group, 1e9), std::invalid_argument);
}

// ---- memory ----------------------------------------------------------------------------------

TEST(CostOpMemory, ParametersScaleByTheFactor) {
  Op op;
  op.param_bytes = 1e9;
  op.activation_bytes = 2e9;
  const auto plain = AnalyticCostModel(AnalyticCostModel::Options::Alpa()).op_memory(op);
  EXPECT_EQ(plain.parameters, 1e9);
  EXPECT_EQ(plain.activations, 2e9);
  EXPECT_EQ(plain.total(), 3e9);
  AnalyticCostModel::Options adam = AnalyticCostModel::Options::Alpa();
  adam.param_memory_factor = 8;
  const auto mixed = AnalyticCostModel(adam).op_memory(op);
  EXPECT_EQ(mixed.parameters, 8e9);
  EXPECT_EQ(mixed.activations, 2e9);
  EXPECT_EQ(mixed.total(), 10e9);
}

// ---- the calibrated model ---------------------------------------------------------------------

TEST(CostDTypes, EachDtypeRunsAtItsOwnPeak) {
  Device d = kGpu;
  d.peaks = {10e12, 80e12, 100e12, 100e12, 200e12};  // fp32, tf32, fp16, bf16, fp8
  AnalyticCostModel::Options o;
  o.efficiency_half_dim = 0, o.launch_overhead = 0, o.compute_efficiency = 0.5;
  Op op = op_with(1e12, 0);
  op.kind = "matmul";
  const AnalyticCostModel model(o);
  op.dtype = DType::kF32;
  EXPECT_SECONDS(model.op_time(op, Phase::kForward, d), 1e12 / (10e12 * 0.5));
  op.dtype = DType::kBF16;
  EXPECT_SECONDS(model.op_time(op, Phase::kForward, d), 1e12 / (100e12 * 0.5));
  op.dtype = DType::kF8;
  EXPECT_SECONDS(model.op_time(op, Phase::kForward, d), 1e12 / (200e12 * 0.5));
  o.allow_tf32 = true;
  op.dtype = DType::kF32;
  EXPECT_SECONDS(AnalyticCostModel(o).op_time(op, Phase::kForward, d), 1e12 / (80e12 * 0.5));
  // V100: no tf32, no bf16 entry: fp32 on CUDA cores, bf16 at the fp16 figure.
  const Device v100 = Cluster::aws_p3_16xlarge().device(DeviceId(0));
  EXPECT_EQ(v100.peak_for(DType::kF32, true), 15.7e12);
  EXPECT_EQ(v100.peak_for(DType::kBF16), 125e12);
  // A device without per-dtype figures uses peak_flops for all (clusters written before them).
  EXPECT_EQ(kGpu.peak_for(DType::kF32), 100e12);
}

TEST(CostShapes, ThinMatmulsRunFurtherBelowPeak) {
  AnalyticCostModel::Options o;
  o.compute_efficiency = 0.8, o.efficiency_half_dim = 64;
  const AnalyticCostModel model(o);
  Op big;
  big.kind = "matmul";
  big.shape = {1, 2048, 4096};  // M 2048, N 4096
  big.forward.flops = 2.0 * 2048 * 4096 * 4096;  // K 4096
  auto f = [](double x) { return x / (x + 64); };
  EXPECT_DOUBLE_EQ(model.matmul_efficiency(big), 0.8 * f(2048) * f(4096) * f(4096));
  Op thin = big;
  thin.shape = {1, 2048, 64};
  thin.forward.flops = 2.0 * 2048 * 64 * 4096;
  EXPECT_DOUBLE_EQ(model.matmul_efficiency(thin), 0.8 * f(2048) * f(64) * f(4096));
  EXPECT_LT(model.matmul_efficiency(thin), 0.6 * model.matmul_efficiency(big));
  // Eight shards of the big one: its largest dimension (N = K = 4096: N first) cut eight ways.
  EXPECT_DOUBLE_EQ(model.matmul_efficiency(big, 8), 0.8 * f(2048) * f(512) * f(4096));
  // Not a matrix product: the plain efficiency.
  Op add = big;
  add.kind = "elementwise";
  EXPECT_DOUBLE_EQ(model.matmul_efficiency(add), 0.8);
}

TEST(CostNccl, InsideANodeAtBusBandwidthWithOneLatencyPerStep) {
  AnalyticCostModel::Options o;
  o.nvlink_bus_efficiency = 0.8;
  const AnalyticCostModel model(o);
  const Cluster c = nodes(1, 8);
  // 8 members: 2 * 7/8 GB at 0.8 * 100 GB/s, two passes of 7 steps of 1 us.
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, first(8), 1e9), 2 * 7e-6 + 1.75e9 / 80e9);
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllGather, first(8), 1e9), 7e-6 + 0.875e9 / 80e9);
}

TEST(CostNccl, AcrossNodesEachGpuUsesItsOwnNic) {
  AnalyticCostModel::Options o;
  o.nvlink_bus_efficiency = 0.8, o.network_bus_efficiency = 0.5;
  const AnalyticCostModel model(o);
  const Cluster c = nodes(2, 4);
  // 8 members on 2 nodes: the ring runs at one GPU's network share, 0.5 * 10 GB/s; 6 NVLink hops
  // and 2 network hops of latency per pass.
  const double latency = 6 * 1e-6 + 2 * 10e-6;
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, first(8), 1e9), 2 * latency + 1.75e9 / 5e9);
  // One member per node (a data-parallel group across tensor-parallel ranks): the same bandwidth.
  const std::vector<DeviceId> pair = {dev(0), dev(4)};
  EXPECT_SECONDS(model.collective_time(c, Collective::kAllReduce, pair, 1e9), 2 * 2 * 10e-6 + 1e9 / 5e9);
}

TEST(CostOpMemory, AdamKeepsSixteenBytesPerSixteenBitParameter) {
  Op op;
  op.dtype = DType::kBF16;
  op.param_bytes = 2e9;  // 1e9 parameters
  const OpMemory m = AnalyticCostModel().op_memory(op);
  EXPECT_EQ(m.parameters, 16e9);
  EXPECT_EQ(m.parameter_parts.weights, 2e9);
  EXPECT_EQ(m.parameter_parts.gradients, 2e9);
  EXPECT_EQ(m.parameter_parts.optimizer, 12e9);
  AnalyticCostModel::Options sgd;
  sgd.optimizer = opplan::Optimizer::kSgd;
  EXPECT_EQ(AnalyticCostModel(sgd).op_memory(op).parameters, 8e9);  // weights, gradients, fp32 master
  op.dtype = DType::kF32;
  op.param_bytes = 4e9;
  EXPECT_EQ(AnalyticCostModel(sgd).op_memory(op).parameters, 8e9);  // weights, gradients
  EXPECT_EQ(AnalyticCostModel().op_memory(op).parameters, 16e9);     // fp32 Adam: 4 + 4 + 8
}

// ---- extension -------------------------------------------------------------------------------

// A framework that measured its op times overrides op_time and keeps the rest.
class MeasuredOps : public AnalyticCostModel {
 public:
  double op_time(const Op&, Phase, const Device&) const override { return 0.5; }
};

TEST(CostModel, SubclassOverridesOnlyWhatItMeasures) {
  const MeasuredOps measured;
  const CostModel& model = measured;
  const Cluster c = nodes(1, 2);
  EXPECT_EQ(model.op_time(op_with(1, 1), Phase::kForward, kGpu), 0.5);
  EXPECT_SECONDS(model.transfer_time(c, dev(0), dev(1), 1e9), 1e-6 + 0.01);
}

}  // namespace
