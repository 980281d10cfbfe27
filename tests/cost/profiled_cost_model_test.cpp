// ProfiledCostModel: measured op times by name and by signature, interpolated nccl-tests tables,
// the analytic model for the rest, and a profile's bad input named by path.
#include <opplan/profiled_cost_model.hpp>

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace opplan {
namespace {

using ::testing::HasSubstr;

constexpr const char* kProfile = R"({
  "format": "opplan.profile", "version": 1,
  "ops": [
    {"device": "A100-SXM4-80GB", "name": "qkv", "phase": "forward", "seconds": 0.003},
    {"name": "qkv", "phase": "forward", "seconds": 0.009},
    {"device": "A100-SXM4-80GB", "kind": "matmul", "shape": [1, 1024, 4096], "dtype": "f16", "phase": "forward",
     "seconds": 0.002}
  ],
  "collectives": [
    {"collective": "all_reduce", "devices": 8, "nodes": 1, "bus_bandwidth": [[1e6, 50e9], [1e8, 200e9]]}
  ]
})";

Op matmul(std::string name) {
  Op op;
  op.name = std::move(name);
  op.kind = "matmul";
  op.dtype = DType::kF16;
  op.shape = {1, 1024, 4096};
  op.forward.flops = 1e12;
  return op;
}

TEST(ProfiledCostModel, MeasuredTimesBeatTheAnalyticModel) {
  auto model = ProfiledCostModel::FromJson(kProfile);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ(model->num_op_entries(), 3u);
  const Cluster a100 = Cluster::dgx_a100();
  const Device& gpu = a100.device(DeviceId(0));
  // By name on this device model, by name on any device, by signature, else analytic.
  EXPECT_EQ(model->op_time(matmul("qkv"), Phase::kForward, gpu), 0.003);
  Device other = gpu;
  other.model = "H100";
  EXPECT_EQ(model->op_time(matmul("qkv"), Phase::kForward, other), 0.009);
  EXPECT_EQ(model->op_time(matmul("fc1"), Phase::kForward, gpu), 0.002);
  const AnalyticCostModel analytic;
  EXPECT_EQ(model->op_time(matmul("fc1"), Phase::kInputGrad, gpu), analytic.op_time(matmul("fc1"), Phase::kInputGrad, gpu));
  // Four shards of a measured op on the A100 mesh: a quarter each.
  const Mesh& mesh = a100.mesh(MeshId(0));
  Mesh four{"four", 1, 4, {mesh.devices[0], mesh.devices[1], mesh.devices[2], mesh.devices[3]}};
  EXPECT_DOUBLE_EQ(model->sharded_op_time(matmul("fc1"), Phase::kForward, a100, four, 4), 0.0005);
}

TEST(ProfiledCostModel, CollectivesInterpolateTheBusBandwidthOnLogSize) {
  auto model = ProfiledCostModel::FromJson(kProfile);
  ASSERT_TRUE(model.ok());
  const Cluster a100 = Cluster::dgx_a100();
  std::vector<DeviceId> all;
  for (DeviceId id : a100.devices()) all.push_back(id);
  // 1e7 bytes sits halfway between 1e6 and 1e8 on a log scale: 125 GB/s.
  EXPECT_DOUBLE_EQ(model->collective_time(a100, Collective::kAllReduce, all, 1e7), 2 * 7.0 / 8 * 1e7 / 125e9);
  // Beyond the table: its last bandwidth.
  EXPECT_DOUBLE_EQ(model->collective_time(a100, Collective::kAllReduce, all, 1e9), 2 * 7.0 / 8 * 1e9 / 200e9);
  // Not measured (all-gather, or 4 devices): the analytic model.
  const AnalyticCostModel analytic;
  EXPECT_EQ(model->collective_time(a100, Collective::kAllGather, all, 1e7),
            analytic.collective_time(a100, Collective::kAllGather, all, 1e7));
}

TEST(ProfiledCostModel, BadProfilesNameThePath) {
  auto fails = [](const std::string& text, const std::string& what) {
    auto r = ProfiledCostModel::FromJson(text, "p.json");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(r.status().message(), HasSubstr(what));
  };
  fails("{", "p.json: malformed JSON");
  fails(R"({"format": "opplan.graph", "version": 1})", "p.json: /format");
  fails(R"({"format": "opplan.profile", "version": 1, "ops": [{"name": "a", "phase": "forward", "seconds": -1}]})",
        "p.json: /ops/0/seconds: must be a positive number");
  fails(R"({"format": "opplan.profile", "version": 1, "ops": [{"name": "a", "phase": "backward", "seconds": 1}]})",
        "/ops/0/phase");
  fails(R"({"format": "opplan.profile", "version": 1, "ops": [{"name": "a", "kind": "matmul", "phase": "forward", "seconds": 1}]})",
        "not both");
  fails(R"({"format": "opplan.profile", "version": 1, "collectives": [{"collective": "broadcast", "devices": 8, "bus_bandwidth": [[1, 1]]}]})",
        "/collectives/0/collective");
  fails(R"({"format": "opplan.profile", "version": 1, "collectives": [{"collective": "all_reduce", "devices": 8, "bus_bandwidth": [[1, 1], [1, 2]]}]})",
        "size 1 is given twice");
  fails(R"({"format": "opplan.profile", "version": 1, "kernels": []})", "/kernels: unknown field");
  fails(R"({"format": "opplan.profile", "version": 1, "ops": [{"name": "a", "phase": "forward", "seconds": 1, "wall": 2}]})",
        "/ops/0/wall: unknown field");
  // Extensions (x-...) are ignored in an entry as at the top level.
  EXPECT_TRUE(ProfiledCostModel::FromJson(
                  R"({"format": "opplan.profile", "version": 1, "ops": [{"name": "a", "phase": "forward", "seconds": 1, "x-wall-seconds": 2}]})")
                  .ok());
  EXPECT_EQ(ProfiledCostModel::FromFile("/nonexistent/p.json").status().code(), StatusCode::kNotFound);
}

TEST(ProfiledCostModel, TheExampleProfileReads) {
  auto model = ProfiledCostModel::FromFile(OPPLAN_EXAMPLES_DIR "/profile.json");
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ(model->num_op_entries(), 4u);
  EXPECT_EQ(model->num_collective_tables(), 2u);
}

}  // namespace
}  // namespace opplan
