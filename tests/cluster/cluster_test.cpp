#include <opplan/cluster.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::Cluster;
using opplan::Device;
using opplan::DeviceId;
using opplan::Link;
using opplan::Mesh;
using opplan::MeshId;
using opplan::StatusCode;
using ::testing::HasSubstr;
using ::testing::Not;

Device gpu(std::string name, int node, double flops = 100e12) {
  Device d;
  d.name = std::move(name);
  d.model = "test-gpu";
  d.node = node;
  d.peak_flops = flops;
  d.memory_bytes = 16e9;
  d.memory_bandwidth = 1e12;
  return d;
}

const Link kIntra{1e-6, 1.0 / 100e9};
const Link kInter{10e-6, 1.0 / 10e9};

// Two nodes of two devices: a0 a1 on node 0, b0 b1 on node 1.
Cluster two_by_two() {
  Cluster c("tiny");
  c.add_device(gpu("a0", 0));
  c.add_device(gpu("a1", 0));
  c.add_device(gpu("b0", 1));
  c.add_device(gpu("b1", 1));
  c.set_intra_node_link(kIntra);
  c.set_inter_node_link(kInter);
  return c;
}

DeviceId dev(std::uint32_t i) { return DeviceId(i); }

// ---- devices and nodes -----------------------------------------------------------------------

TEST(Cluster, AddsDevicesWithDenseIdsAndDefaultNames) {
  Cluster c("c");
  EXPECT_EQ(c.name(), "c");
  EXPECT_EQ(c.num_devices(), 0u);
  EXPECT_EQ(c.num_nodes(), 0);
  EXPECT_EQ(c.add_device(gpu("x", 0)), dev(0));
  EXPECT_EQ(c.add_device(gpu("", 2)), dev(1));
  EXPECT_EQ(c.num_devices(), 2u);
  EXPECT_EQ(c.device(dev(1)).name, "dev1");
  EXPECT_EQ(c.device(dev(0)).model, "test-gpu");
  EXPECT_EQ(c.find_device("dev1"), dev(1));
  EXPECT_EQ(c.find_device("x"), dev(0));
  EXPECT_FALSE(c.find_device("nope").has_value());
  EXPECT_THROW(c.device(dev(2)), std::out_of_range);
  EXPECT_THROW(c.device(DeviceId()), std::out_of_range);
  c.mutable_device(dev(0)).peak_flops = 7;
  EXPECT_EQ(c.device(dev(0)).peak_flops, 7);
  c.set_name("renamed");
  EXPECT_EQ(c.name(), "renamed");
}

TEST(Cluster, NodesAreOnePlusTheLargestIndex) {
  Cluster c;
  c.add_device(gpu("a", 0));
  c.add_device(gpu("b", 3));
  c.add_device(gpu("c", 3));
  EXPECT_EQ(c.num_nodes(), 4);
  EXPECT_EQ(c.node_devices(3), (std::vector<DeviceId>{dev(1), dev(2)}));
  EXPECT_EQ(c.node_devices(0), (std::vector<DeviceId>{dev(0)}));
  EXPECT_TRUE(c.node_devices(1).empty());
}

// ---- links -----------------------------------------------------------------------------------

TEST(Cluster, LinkDefaultsToIntraOrInterNodeAndSelfIsFree) {
  const Cluster c = two_by_two();
  EXPECT_EQ(c.intra_node_link(), kIntra);
  EXPECT_EQ(c.inter_node_link(), kInter);
  EXPECT_EQ(c.link(dev(0), dev(1)), kIntra);
  EXPECT_EQ(c.link(dev(3), dev(2)), kIntra);
  EXPECT_EQ(c.link(dev(0), dev(2)), kInter);
  EXPECT_EQ(c.link(dev(3), dev(1)), kInter);
  EXPECT_EQ(c.link(dev(2), dev(2)), Link{});
  EXPECT_EQ(c.link(dev(2), dev(2)).time(1e9), 0);
  EXPECT_THROW(c.link(dev(0), dev(4)), std::out_of_range);
}

TEST(Cluster, LinkTimeIsAlphaPlusBetaBytes) {
  EXPECT_DOUBLE_EQ(kInter.time(1e9), 10e-6 + 0.1);
  EXPECT_DOUBLE_EQ(kIntra.time(0), 1e-6);
}

TEST(Cluster, OverrideAppliesInBothDirectionsAndTheLaterOneWins) {
  Cluster c = two_by_two();
  const Link fast{0.5e-6, 1.0 / 400e9};
  c.set_link(dev(0), dev(2), fast);
  EXPECT_EQ(c.link(dev(0), dev(2)), fast);
  EXPECT_EQ(c.link(dev(2), dev(0)), fast);
  EXPECT_EQ(c.link(dev(0), dev(3)), kInter);  // other pairs keep the default
  const Link slow{2e-6, 1.0 / 1e9};
  c.set_link(dev(2), dev(0), slow);  // same pair, reversed
  EXPECT_EQ(c.link(dev(0), dev(2)), slow);
  EXPECT_EQ(c.link(dev(2), dev(0)), slow);
  ASSERT_EQ(c.link_overrides().size(), 1u);
  EXPECT_EQ(c.link_overrides()[0].link, slow);
  EXPECT_THROW(c.set_link(dev(0), dev(9), fast), std::out_of_range);
}

// ---- meshes ----------------------------------------------------------------------------------

TEST(Mesh, AtIsRowMajorAndAxisGroupsFollowAlpa) {
  Mesh m{"m", 2, 3, {dev(10), dev(11), dev(12), dev(13), dev(14), dev(15)}};
  EXPECT_EQ(m.at(0, 0), dev(10));
  EXPECT_EQ(m.at(0, 2), dev(12));
  EXPECT_EQ(m.at(1, 0), dev(13));
  EXPECT_EQ(m.at(1, 2), dev(15));
  EXPECT_THROW(m.at(2, 0), std::out_of_range);
  EXPECT_THROW(m.at(0, 3), std::out_of_range);
  EXPECT_THROW(m.at(-1, 0), std::out_of_range);
  // Axis 0 changes the row (a column of the mesh), axis 1 the column (a row).
  EXPECT_EQ(m.axis_group(0, 1, 1), (std::vector<DeviceId>{dev(11), dev(14)}));
  EXPECT_EQ(m.axis_group(1, 1, 1), (std::vector<DeviceId>{dev(13), dev(14), dev(15)}));
  EXPECT_THROW(m.axis_group(2, 0, 0), std::out_of_range);
}

TEST(Cluster, AddsAndFindsMeshes) {
  Cluster c = two_by_two();
  const MeshId id = c.add_mesh(Mesh{"grid", 2, 2, {dev(0), dev(1), dev(2), dev(3)}});
  const MeshId unnamed = c.add_mesh(Mesh{"", 1, 1, {dev(0)}});
  EXPECT_EQ(c.num_meshes(), 2u);
  EXPECT_EQ(c.find_mesh("grid"), id);
  EXPECT_EQ(c.mesh(unnamed).name, "mesh1");
  EXPECT_EQ(c.mesh(id).at(1, 0), dev(2));
  EXPECT_FALSE(c.find_mesh("none").has_value());
  EXPECT_THROW(c.mesh(MeshId(2)), std::out_of_range);
}

TEST(Cluster, MeshAxisLinkTakesTheLargestAlphaAndBetaSeparately) {
  Cluster c = two_by_two();
  // Rows are nodes: axis 0 crosses nodes, axis 1 stays inside one.
  const Mesh m{"grid", 2, 2, {dev(0), dev(1), dev(2), dev(3)}};
  EXPECT_EQ(c.mesh_axis_link(m, 0), kInter);
  EXPECT_EQ(c.mesh_axis_link(m, 1), kIntra);
  // One row pair gets a higher latency, the other a lower bandwidth: the axis link is the worst
  // of each, a combination no single pair has.
  c.set_link(dev(0), dev(1), Link{8e-6, 1.0 / 200e9});
  c.set_link(dev(2), dev(3), Link{0.1e-6, 1.0 / 5e9});
  const Link axis1 = c.mesh_axis_link(m, 1);
  EXPECT_DOUBLE_EQ(axis1.alpha, 8e-6);
  EXPECT_DOUBLE_EQ(axis1.beta, 1.0 / 5e9);
  // An axis of size 1 has no hops.
  EXPECT_EQ(c.mesh_axis_link(Mesh{"row", 1, 4, {dev(0), dev(1), dev(2), dev(3)}}, 0), Link{});
  // Along the row: hop a1-b0 crosses nodes (largest alpha), hop b0-b1 has the lowest bandwidth.
  const Link row = c.mesh_axis_link(Mesh{"row", 1, 4, {dev(0), dev(1), dev(2), dev(3)}}, 1);
  EXPECT_DOUBLE_EQ(row.alpha, kInter.alpha);
  EXPECT_DOUBLE_EQ(row.beta, 1.0 / 5e9);
}

// ---- validate --------------------------------------------------------------------------------

TEST(ClusterValidate, AcceptsAWellFormedCluster) {
  Cluster c = two_by_two();
  c.add_mesh(Mesh{"grid", 2, 2, {dev(0), dev(1), dev(2), dev(3)}});
  c.set_link(dev(0), dev(3), Link{1e-6, 1e-9});
  EXPECT_TRUE(c.validate().ok()) << c.validate().to_string();
}

TEST(ClusterValidate, RejectsAClusterWithoutDevices) {
  const auto s = Cluster("empty").validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("no devices"));
}

TEST(ClusterValidate, NamesTheDeviceAndFieldOfBadFigures) {
  Cluster c = two_by_two();
  c.mutable_device(dev(1)).memory_bytes = 0;
  c.mutable_device(dev(2)).peak_flops = 0;
  c.mutable_device(dev(3)).memory_bandwidth = std::numeric_limits<double>::quiet_NaN();
  const auto s = c.validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("3 problems"));
  EXPECT_THAT(s.message(), HasSubstr("device 'a1' (#1): memory_bytes must be positive (is 0)"));
  EXPECT_THAT(s.message(), HasSubstr("device 'b0' (#2): peak_flops must be positive (is 0)"));
  EXPECT_THAT(s.message(), HasSubstr("device 'b1' (#3): memory_bandwidth is NaN"));
  EXPECT_THAT(s.message(), Not(HasSubstr("'a0'")));
}

TEST(ClusterValidate, RejectsInfiniteFiguresAndNaNLinks) {
  Cluster c = two_by_two();
  c.mutable_device(dev(0)).peak_flops = std::numeric_limits<double>::infinity();
  c.set_intra_node_link(Link{1e-6, std::numeric_limits<double>::quiet_NaN()});
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("device 'a0' (#0): peak_flops is infinite"));
  EXPECT_THAT(s.message(), HasSubstr("intra_node_link beta is NaN"));
}

TEST(ClusterValidate, RejectsANegativeNode) {
  Cluster c = two_by_two();
  c.mutable_device(dev(2)).node = -1;
  EXPECT_THAT(c.validate().message(), HasSubstr("device 'b0' (#2): node is negative (-1)"));
}

TEST(ClusterValidate, RejectsDuplicateAndEmptyNames) {
  Cluster c = two_by_two();
  c.mutable_device(dev(3)).name = "a0";
  c.mutable_device(dev(2)).name = "";
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("device 'a0' (#3): name is also used by device #0"));
  EXPECT_THAT(s.message(), HasSubstr("device '' (#2): name is empty"));
}

TEST(ClusterValidate, RejectsAMeshWhoseShapeDoesNotMatchItsDevices) {
  Cluster c;
  for (int i = 0; i < 6; ++i) c.add_device(gpu("g" + std::to_string(i), 0));
  c.add_mesh(Mesh{"wide", 2, 4, {dev(0), dev(1), dev(2), dev(3), dev(4), dev(5)}});
  const auto s = c.validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("mesh 'wide' (#0):"));
  EXPECT_THAT(s.message(), HasSubstr("shape 2x4 needs 8 devices but 6 are given"));
}

TEST(ClusterValidate, RejectsANonPositiveMeshShape) {
  Cluster c = two_by_two();
  c.add_mesh(Mesh{"flat", 0, 4, {}});
  EXPECT_THAT(c.validate().message(), HasSubstr("mesh 'flat' (#0): shape 0x4 must be positive"));
}

TEST(ClusterValidate, RejectsAMeshRepeatingADevice) {
  Cluster c = two_by_two();
  c.add_mesh(Mesh{"ok", 1, 2, {dev(0), dev(1)}});
  c.add_mesh(Mesh{"twice", 1, 2, {dev(1), dev(1)}});
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("1 problem"));
  EXPECT_THAT(s.message(), HasSubstr("mesh 'twice' (#1): device 'a1' appears twice"));
}

TEST(ClusterValidate, RejectsDuplicateMeshNames) {
  Cluster c = two_by_two();
  c.add_mesh(Mesh{"node", 1, 2, {dev(0), dev(1)}});
  c.add_mesh(Mesh{"node", 1, 2, {dev(2), dev(3)}});
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("1 problem"));
  EXPECT_THAT(s.message(), HasSubstr("mesh 'node' (#1): name is also used by mesh #0"));
}

TEST(ClusterValidate, RejectsUnknownDeviceIdsInMeshes) {
  Cluster c = two_by_two();
  c.add_mesh(Mesh{"ghost", 1, 2, {dev(0), dev(99)}});
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("mesh 'ghost' (#0): device id 99 is not in the cluster"));
}

TEST(ClusterValidate, RejectsNegativeAlpha) {
  Cluster c = two_by_two();
  c.set_inter_node_link(Link{-1e-6, 1e-9});
  c.set_link(dev(0), dev(1), Link{-2, 1e-9});
  const auto s = c.validate();
  EXPECT_THAT(s.message(), HasSubstr("2 problems"));
  EXPECT_THAT(s.message(), HasSubstr("inter_node_link alpha is negative (-1e-06)"));
  EXPECT_THAT(s.message(), HasSubstr("link override #0 alpha is negative (-2)"));
}

// ---- value semantics -------------------------------------------------------------------------

TEST(Cluster, CopiesAreIndependent) {
  Cluster a = two_by_two();
  a.add_mesh(Mesh{"grid", 2, 2, {dev(0), dev(1), dev(2), dev(3)}});
  Cluster b(a);
  b.mutable_device(dev(0)).name = "changed";
  b.set_intra_node_link(Link{});
  EXPECT_EQ(a.device(dev(0)).name, "a0");
  EXPECT_EQ(a.intra_node_link(), kIntra);
  EXPECT_EQ(b.mesh(MeshId(0)), a.mesh(MeshId(0)));
  Cluster c;
  c = a;
  c.set_link(dev(0), dev(1), Link{3, 3});
  EXPECT_TRUE(a.link_overrides().empty());
  EXPECT_EQ(c.num_devices(), 4u);
  EXPECT_EQ(c.name(), "tiny");
}

TEST(Cluster, MovedFromIsEmptyAndUsable) {
  Cluster a = two_by_two();
  Cluster b(std::move(a));
  EXPECT_EQ(b.num_devices(), 4u);
  EXPECT_EQ(b.link(dev(0), dev(2)), kInter);
  EXPECT_EQ(a.num_devices(), 0u);  // NOLINT(bugprone-use-after-move): documented state
  a.add_device(gpu("fresh", 0));
  EXPECT_EQ(a.num_devices(), 1u);
  Cluster c;
  c = std::move(b);
  EXPECT_EQ(c.num_devices(), 4u);
  EXPECT_EQ(c.name(), "tiny");
  EXPECT_EQ(b.num_devices(), 0u);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
