#include <opplan/cluster.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::Cluster;
using opplan::DeviceId;
using opplan::Link;
using opplan::StatusCode;
using ::testing::HasSubstr;

DeviceId dev(std::uint32_t i) { return DeviceId(i); }

// The figures each preset must carry (decimal units: GB = 1e9 bytes).
struct Expected {
  const char* model;
  double peak_flops;
  double memory_bytes;
  double memory_bandwidth;
  Link intra;
  Link inter;
};

void expect_preset(const Cluster& c, int nodes, const Expected& e) {
  ASSERT_EQ(c.num_devices(), static_cast<std::size_t>(nodes) * 8);
  EXPECT_EQ(c.num_nodes(), nodes);
  for (DeviceId id : c.devices()) {
    const auto& d = c.device(id);
    const int node = static_cast<int>(id.value()) / 8;
    EXPECT_EQ(d.name, "n" + std::to_string(node) + ".gpu" + std::to_string(id.value() % 8));
    EXPECT_EQ(d.node, node);
    EXPECT_EQ(d.model, e.model);
    EXPECT_DOUBLE_EQ(d.peak_flops, e.peak_flops);
    EXPECT_DOUBLE_EQ(d.memory_bytes, e.memory_bytes);
    EXPECT_DOUBLE_EQ(d.memory_bandwidth, e.memory_bandwidth);
  }
  for (int n = 0; n < nodes; ++n) EXPECT_EQ(c.node_devices(n).size(), 8u);
  EXPECT_DOUBLE_EQ(c.intra_node_link().alpha, e.intra.alpha);
  EXPECT_DOUBLE_EQ(c.intra_node_link().beta, e.intra.beta);
  EXPECT_DOUBLE_EQ(c.inter_node_link().alpha, e.inter.alpha);
  EXPECT_DOUBLE_EQ(c.inter_node_link().beta, e.inter.beta);
  EXPECT_TRUE(c.link_overrides().empty());

  ASSERT_EQ(c.num_meshes(), 1u);
  const auto mesh_id = c.find_mesh("cluster");
  ASSERT_TRUE(mesh_id.has_value());
  const auto& mesh = c.mesh(*mesh_id);
  EXPECT_EQ(mesh.rows, nodes);
  EXPECT_EQ(mesh.cols, 8);
  // Row r is node r, so axis 1 stays inside a node and axis 0 crosses nodes.
  for (int r = 0; r < nodes; ++r)
    for (int col = 0; col < 8; ++col) EXPECT_EQ(mesh.at(r, col), dev(static_cast<std::uint32_t>(r * 8 + col)));
  EXPECT_EQ(c.mesh_axis_link(mesh, 1), c.intra_node_link());
  EXPECT_EQ(c.mesh_axis_link(mesh, 0), nodes > 1 ? c.inter_node_link() : Link{});

  EXPECT_TRUE(c.validate().ok()) << c.validate().to_string();
}

const Expected kA100{"A100-SXM4-80GB", 312e12, 80e9, 2.039e12, Link{5e-6, 1 / 300e9}, Link{10e-6, 1 / 25e9}};
const Expected kH100{"H100-SXM5-80GB", 989e12, 80e9, 3.35e12, Link{5e-6, 1 / 450e9}, Link{10e-6, 1 / 50e9}};
// 25 Gb/s Ethernet per instance shared by 8 GPUs: 25e9 / 8 bits / 8 GPUs = 390.625 MB/s per GPU.
const Expected kP3{"V100-SXM2-16GB", 125e12, 16e9, 900e9, Link{5e-6, 1 / 150e9}, Link{30e-6, 1 / 390.625e6}};

TEST(Presets, DgxA100) {
  expect_preset(Cluster::dgx_a100(), 1, kA100);
  expect_preset(Cluster::dgx_a100(2), 2, kA100);
  expect_preset(Cluster::dgx_a100(4), 4, kA100);
  EXPECT_EQ(Cluster::dgx_a100().name(), "dgx-a100");
  EXPECT_EQ(Cluster::dgx_a100(4).name(), "dgx-a100x4");
  // Bandwidths as people quote them.
  EXPECT_DOUBLE_EQ(1 / Cluster::dgx_a100().intra_node_link().beta, 300e9);
  EXPECT_DOUBLE_EQ(1 / Cluster::dgx_a100().inter_node_link().beta, 25e9);
}

TEST(Presets, DgxH100) {
  expect_preset(Cluster::dgx_h100(), 1, kH100);
  expect_preset(Cluster::dgx_h100(2), 2, kH100);
  expect_preset(Cluster::dgx_h100(4), 4, kH100);
  EXPECT_EQ(Cluster::dgx_h100(2).name(), "dgx-h100x2");
}

TEST(Presets, AwsP3) {
  expect_preset(Cluster::aws_p3_16xlarge(), 1, kP3);
  expect_preset(Cluster::aws_p3_16xlarge(2), 2, kP3);
  expect_preset(Cluster::aws_p3_16xlarge(4), 4, kP3);
  EXPECT_EQ(Cluster::aws_p3_16xlarge().name(), "p3.16xlarge");
  // 1 GB over the network takes 2.56 s per GPU when all 8 GPUs of a node send at once.
  const Cluster c = Cluster::aws_p3_16xlarge(2);
  EXPECT_NEAR(c.link(dev(0), dev(8)).time(1e9), 30e-6 + 2.56, 1e-12);
}

TEST(Presets, NewerMachinesAreFaster) {
  const Cluster a = Cluster::dgx_a100(2), h = Cluster::dgx_h100(2), v = Cluster::aws_p3_16xlarge(2);
  EXPECT_GT(h.device(dev(0)).peak_flops, a.device(dev(0)).peak_flops);
  EXPECT_GT(a.device(dev(0)).peak_flops, v.device(dev(0)).peak_flops);
  EXPECT_LT(h.inter_node_link().beta, a.inter_node_link().beta);
  EXPECT_LT(a.inter_node_link().beta, v.inter_node_link().beta);
  for (const Cluster* c : {&a, &h, &v}) EXPECT_LT(c->intra_node_link().beta, c->inter_node_link().beta);
}

TEST(Presets, NonPositiveNodeCountIsAProgrammingError) {
  EXPECT_THROW(Cluster::dgx_a100(0), std::invalid_argument);
  EXPECT_THROW(Cluster::dgx_h100(-1), std::invalid_argument);
  EXPECT_THROW(Cluster::aws_p3_16xlarge(0), std::invalid_argument);
}

TEST(Presets, Names) {
  EXPECT_EQ(Cluster::preset_names(),
            (std::vector<std::string>{"dgx-a100", "dgx-h100", "dgx-h800", "p3.16xlarge", "selene"}));
  for (const std::string& name : Cluster::preset_names()) {
    const auto c = Cluster::preset(name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().to_string();
    EXPECT_EQ(c->name(), name);
    EXPECT_EQ(c->num_devices(), 8u);
  }
}

TEST(Presets, ByNameIsCaseInsensitiveAndTakesANodeSuffix) {
  const auto a = Cluster::preset("DGX-A100x4");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  expect_preset(*a, 4, kA100);
  EXPECT_EQ(a->name(), "dgx-a100x4");

  const auto h = Cluster::preset("dgx-h100X2");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  expect_preset(*h, 2, kH100);

  // "16xlarge" contains an x of its own; the suffix comes after the whole name.
  const auto p = Cluster::preset("P3.16xLarge");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  expect_preset(*p, 1, kP3);
  const auto p3 = Cluster::preset("p3.16xlargex3");
  ASSERT_TRUE(p3.ok()) << p3.status().to_string();
  expect_preset(*p3, 3, kP3);

  const auto one = Cluster::preset("dgx-a100x1");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->name(), "dgx-a100");
  const auto most = Cluster::preset("dgx-a100x4096");
  ASSERT_TRUE(most.ok());
  EXPECT_EQ(most->num_devices(), 32768u);
}

TEST(Presets, UnknownNameIsNotFoundAndListsTheKnownNames) {
  for (const char* name : {"tpu-v4", "dgx", "dgx-a100y2", "", " dgx-a100", "dgx-a100 "}) {
    const auto r = Cluster::preset(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << name;
    EXPECT_THAT(r.status().message(), HasSubstr("'" + std::string(name) + "'"));
    EXPECT_THAT(r.status().message(), HasSubstr("dgx-a100, dgx-h100, dgx-h800, p3.16xlarge, selene"));
  }
}

TEST(Presets, BadNodeCountIsInvalidArgument) {
  for (const char* name :
       {"dgx-a100x0", "dgx-a100x4097", "dgx-a100x", "dgx-a100x-2", "dgx-a100x2.5", "dgx-h100x99999999999",
        "p3.16xlargexx2", "dgx-a100x+2"}) {
    const auto r = Cluster::preset(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(r.status().message(), HasSubstr("1..4096")) << name;
  }
}

}  // namespace
