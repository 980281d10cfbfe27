#include <opplan/io.hpp>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace opplan {
namespace {

const std::string kData = OPPLAN_TEST_DATA_DIR;

void expect_same_cluster(const Cluster& a, const Cluster& b) {
  EXPECT_EQ(a.name(), b.name());
  ASSERT_EQ(a.num_devices(), b.num_devices());
  for (DeviceId id : a.devices()) EXPECT_EQ(a.device(id), b.device(id)) << "device #" << id.value();
  EXPECT_EQ(a.intra_node_link(), b.intra_node_link());
  EXPECT_EQ(a.inter_node_link(), b.inter_node_link());
  EXPECT_EQ(a.link_overrides(), b.link_overrides());
  ASSERT_EQ(a.num_meshes(), b.num_meshes());
  for (MeshId id : a.meshes()) EXPECT_EQ(a.mesh(id), b.mesh(id)) << "mesh #" << id.value();
}

Cluster small_cluster() {
  auto cluster = read_cluster_json(kData + "/cluster_small.json");
  EXPECT_TRUE(cluster.ok()) << cluster.status().to_string();
  return cluster.ok() ? std::move(cluster).value() : Cluster();
}

TEST(ClusterJson, ReadsEveryFieldOfTheSmallExample) {
  const Cluster c = small_cluster();
  EXPECT_EQ(c.name(), "two-a100-nodes");
  ASSERT_EQ(c.num_devices(), 8u);
  EXPECT_EQ(c.num_nodes(), 2);
  const Device& gpu4 = c.device(*c.find_device("gpu4"));
  EXPECT_EQ(gpu4.model, "A100-SXM4-40GB");
  EXPECT_EQ(gpu4.node, 1);
  EXPECT_EQ(gpu4.peak_flops, 312e12);
  EXPECT_EQ(gpu4.memory_bytes, 42949672960.0);
  EXPECT_EQ(gpu4.memory_bandwidth, 1555e9);
  EXPECT_EQ(c.device(DeviceId(7)).model, "");  // optional

  EXPECT_EQ(c.intra_node_link(), (Link{2e-6, 3.3333333333333335e-12}));
  EXPECT_EQ(c.inter_node_link(), (Link{8e-6, 4e-11}));
  ASSERT_EQ(c.link_overrides().size(), 1u);
  EXPECT_EQ(c.link_overrides()[0], (LinkOverride{DeviceId(3), DeviceId(4), Link{5e-6, 2e-11}}));
  EXPECT_EQ(c.link(DeviceId(4), DeviceId(3)), (Link{5e-6, 2e-11}));

  ASSERT_EQ(c.num_meshes(), 2u);
  const Mesh& mesh = c.mesh(*c.find_mesh("cluster"));
  EXPECT_EQ(mesh.rows, 2);
  EXPECT_EQ(mesh.cols, 4);
  EXPECT_EQ(mesh.at(1, 0), DeviceId(4));
  EXPECT_EQ(c.mesh(MeshId(1)).devices.size(), 4u);
}

TEST(ClusterJson, OneNodeNeedsNoInterNodeLinkAndNoMeshes) {
  auto c = parse_cluster_json(R"({"format": "opplan.cluster", "version": 1, "devices": [
      {"name": "gpu", "peak_flops": 1e14, "memory_bytes": 1.6e10, "memory_bandwidth": 9e11}],
      "intra_node_link": {"alpha": 0, "beta": 0}})");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->inter_node_link(), Link{});
  EXPECT_EQ(c->num_meshes(), 0u);
  EXPECT_EQ(c->device(DeviceId(0)).node, 0);
}

TEST(ClusterJson, InfinityFrom1e999IsReportedAtItsPath) {
  auto c = parse_cluster_json(R"({"format": "opplan.cluster", "version": 1, "devices": [
      {"name": "gpu", "peak_flops": 1e999, "memory_bytes": 1.6e10, "memory_bandwidth": 9e11}]})",
                              "c.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "c.json: /devices/0/peak_flops: is infinite (1e999 is beyond the range of a double)");
}

TEST(ClusterJson, MissingFileIsAnIoErrorNamingTheFile) {
  const std::string path = kData + "/no_such_cluster.json";
  auto c = read_cluster_json(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kIoError);
  EXPECT_NE(c.status().message().find(path), std::string::npos) << c.status().message();
}

TEST(ClusterJson, ReportsAllProblemsEachOnItsOwnLine) {
  auto c = parse_cluster_json(R"({"format": "opplan.cluster", "version": 1, "devices": [
      {"name": "a", "peak_flops": 0, "memory_bytes": 1, "memory_bandwidth": 1},
      {"name": "b", "peak_flops": 1, "memory_bytes": -1, "memory_bandwidth": 1, "node": -2}],
      "intra_node_link": {"alpha": 0, "beta": 0}, "meshes": [{"name": "m", "shape": [1, 3], "devices": ["a", "b"]}]})",
                              "c.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            "c.json: 4 problems\n"
            "  c.json: /devices/0/peak_flops: must be positive (is 0)\n"
            "  c.json: /devices/1/memory_bytes: must be positive (is -1)\n"
            "  c.json: /devices/1/node: is negative (-2)\n"
            "  c.json: /meshes/0/devices: shape 1x3 needs 3 devices but 2 are given");
}

TEST(ClusterJson, DuplicateMeshNamesAreRejected) {
  auto c = parse_cluster_json(R"({"format": "opplan.cluster", "version": 1, "devices": [
      {"name": "a", "peak_flops": 1, "memory_bytes": 1, "memory_bandwidth": 1}],
      "intra_node_link": {"alpha": 0, "beta": 0},
      "meshes": [{"name": "m", "shape": [1, 1], "devices": ["a"]},
                 {"name": "m", "shape": [1, 1], "devices": ["a"]}]})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "<string>: /meshes/1/name: 'm' is also the name of mesh #0");
}

struct BadFile {
  const char* file;
  StatusCode code;
  const char* message;  // everything after the file name
};

std::ostream& operator<<(std::ostream& os, const BadFile& b) { return os << b.file; }

const BadFile kBadClusters[] = {
    {"cluster_malformed.json", StatusCode::kParseError,
     ":5:43: malformed JSON: syntax error while parsing object key - unexpected ','; expected string literal"},
    {"cluster_empty.json", StatusCode::kParseError, ":3:1: malformed JSON: the input is empty"},
    {"cluster_wrong_format.json", StatusCode::kParseError,
     ": /format: expected \"opplan.cluster\", got \"opplan.graph\": this is not an opplan cluster file"},
    {"cluster_version2.json", StatusCode::kUnsupported,
     ": /version: unsupported cluster format version 2 (this build reads version 1)"},
    {"cluster_missing_field.json", StatusCode::kParseError, ": /devices/1: missing required field 'peak_flops'"},
    {"cluster_unknown_field.json", StatusCode::kParseError,
     ": 2 problems\n  {F}: /devices/3/peak_flop: unknown field (did you mean 'peak_flops'?)\n  {F}: /devices/3: "
     "missing required field 'peak_flops'"},
    {"cluster_fractional_node.json", StatusCode::kParseError, ": /devices/0/node: expected an integer, got 0.5"},
    {"cluster_bad_mesh_shape.json", StatusCode::kParseError,
     ": /meshes/0/shape: expected [rows, cols], got an array of 1 element"},
    {"cluster_missing_inter_link.json", StatusCode::kParseError, ": /: missing required field 'inter_node_link'"},
    {"cluster_no_devices.json", StatusCode::kInvalidArgument, ": /devices: is empty: the cluster has no devices"},
    {"cluster_zero_memory.json", StatusCode::kInvalidArgument, ": /devices/1/memory_bytes: must be positive (is 0)"},
    {"cluster_zero_flops.json", StatusCode::kInvalidArgument, ": /devices/0/peak_flops: must be positive (is 0)"},
    {"cluster_duplicate_device.json", StatusCode::kInvalidArgument, ": /devices/1/name: is also used by device #0"},
    {"cluster_negative_alpha.json", StatusCode::kInvalidArgument, ": /intra_node_link/alpha: is negative (-1e-06)"},
    {"cluster_unknown_link_device.json", StatusCode::kInvalidArgument, ": /links/0/b: no device named 'gpu9'"},
    {"cluster_self_link.json", StatusCode::kInvalidArgument, ": /links/0: connects device 'gpu2' to itself"},
    {"cluster_duplicate_link.json", StatusCode::kInvalidArgument,
     ": /links/1: the link between 'gpu1' and 'gpu0' is already given by /links/0"},
    {"cluster_unknown_mesh_device.json", StatusCode::kInvalidArgument, ": /meshes/0/devices/2: no device named 'gpu7'"},
    {"cluster_mesh_mismatch.json", StatusCode::kInvalidArgument,
     ": /meshes/0/devices: shape 2x4 needs 8 devices but 4 are given"},
    {"cluster_mesh_zero_shape.json", StatusCode::kInvalidArgument, ": /meshes/0/shape: 0x4 must be positive"},
};

class ClusterJsonBadFile : public testing::TestWithParam<BadFile> {};

TEST_P(ClusterJsonBadFile, IsRejectedWithItsProblemAtItsPath) {
  const BadFile& bad = GetParam();
  const std::string path = kData + "/bad/" + bad.file;
  auto c = read_cluster_json(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), bad.code) << c.status().to_string();
  std::string expected = path + bad.message;
  for (auto at = expected.find("{F}"); at != std::string::npos; at = expected.find("{F}"))
    expected.replace(at, 3, path);
  EXPECT_EQ(c.status().message(), expected);
}

INSTANTIATE_TEST_SUITE_P(ClusterJson, ClusterJsonBadFile, testing::ValuesIn(kBadClusters),
                         [](const testing::TestParamInfo<BadFile>& info) {
                           std::string name = std::filesystem::path(info.param.file).stem().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(ClusterJson, EveryBadClusterFileHasATest) {
  std::set<std::string> tested;
  for (const BadFile& b : kBadClusters) tested.insert(b.file);
  for (const auto& entry : std::filesystem::directory_iterator(kData + "/bad")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("cluster_", 0) == 0) EXPECT_TRUE(tested.count(name)) << name << " is not in kBadClusters";
  }
}

TEST(ClusterJson, TheExampleInTheDocumentationIsTheSmallExample) {
  std::ifstream in(kData + "/../../docs/file-formats.md");
  ASSERT_TRUE(in) << "docs/file-formats.md not found";
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int examples = 0;
  for (auto at = doc.find("```json\n"); at != std::string::npos; at = doc.find("```json\n", at + 1)) {
    const auto begin = at + 8;
    const std::string block = doc.substr(begin, doc.find("```", begin) - begin);
    if (block.find("\"opplan.cluster\"") == std::string::npos) continue;
    auto c = parse_cluster_json(block, "docs/file-formats.md");
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    expect_same_cluster(small_cluster(), *c);
    ++examples;
  }
  EXPECT_EQ(examples, 1);
}

TEST(ClusterJson, SmallExampleRoundTripsPrettyAndCompact) {
  const Cluster c = small_cluster();
  for (int indent : {2, 0, -1}) {
    SCOPED_TRACE(indent);
    const std::string text = cluster_to_json(c, indent);
    auto back = parse_cluster_json(text, "written");
    ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
    expect_same_cluster(c, *back);
  }
  EXPECT_EQ(cluster_to_json(c, -1).find('\n'), std::string::npos);
}

// Issue 16: a cluster with "alpha": -0.0 was written back as "-0", which no longer read. Zero is
// written as 0 whatever its sign, and -0.0 reads as +0.
TEST(ClusterJson, NegativeZeroRoundTripsAsZero) {
  Cluster c = small_cluster();
  Link link = c.intra_node_link();
  link.alpha = -0.0;
  c.set_intra_node_link(link);
  for (int indent : {2, -1}) {
    const std::string text = cluster_to_json(c, indent);
    EXPECT_EQ(text.find("-0,"), std::string::npos) << text;
    EXPECT_EQ(text.find("-0}"), std::string::npos) << text;
    auto back = parse_cluster_json(text, "written");
    ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
    expect_same_cluster(c, *back);
    EXPECT_FALSE(std::signbit(back->intra_node_link().alpha));
    EXPECT_EQ(cluster_to_json(*back, indent), text);  // a fixed point
  }
  // Read from text: -0.0 and -0 both read as +0, and the cluster writes and reads again.
  for (const char* zero : {"-0.0", "-0", "-0e5"}) {
    std::string text = cluster_to_json(small_cluster());
    const std::string from = "\"intra_node_link\": {\"alpha\": 2e-6";
    ASSERT_NE(text.find(from), std::string::npos);
    text.replace(text.find(from), from.size(), std::string("\"intra_node_link\": {\"alpha\": ") + zero);
    auto read = parse_cluster_json(text, "negative-zero.json");
    ASSERT_TRUE(read.ok()) << zero << ": " << read.status().to_string();
    EXPECT_FALSE(std::signbit(read->intra_node_link().alpha)) << zero;
    auto again = parse_cluster_json(cluster_to_json(*read), "written");
    ASSERT_TRUE(again.ok()) << zero << ": " << again.status().to_string();
    expect_same_cluster(*read, *again);
  }
}

TEST(ClusterJson, PrettyOutputWritesOneDevicePerLine) {
  const std::string text = cluster_to_json(small_cluster());
  EXPECT_NE(text.find("\n    {\"name\": \"gpu0\", \"model\": \"A100-SXM4-80GB\", \"node\": 0, \"peak_flops\": 3.12e14, "
                      "\"memory_bytes\": 85899345920, \"memory_bandwidth\": 2.039e12},\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n  \"intra_node_link\": {\"alpha\": 2e-6, \"beta\": 3.3333333333333335e-12},\n"),
            std::string::npos);
}

TEST(ClusterJson, LargeClusterWithAwkwardValuesRoundTripsThroughAFile) {
  Cluster c("big \"one\"");
  for (int i = 0; i < 64; ++i) {
    Device d;
    d.name = "node" + std::to_string(i / 8) + "/gpu" + std::to_string(i % 8);
    d.model = i % 2 ? "H100-SXM5-80GB" : "";
    d.node = i / 8;
    d.peak_flops = 989.4e12 / 3;
    d.memory_bytes = 80.0 * (1ull << 30) + i;
    d.memory_bandwidth = 3.35e12 + 1.0 / 7;
    c.add_device(d);
  }
  c.set_intra_node_link({1.0 / 3 * 1e-6, 1 / 450e9});
  c.set_inter_node_link({1e-300, 1 / 50e9});
  c.set_link(DeviceId(7), DeviceId(8), {2.5e-6, 1 / 100e9});
  c.set_link(DeviceId(63), DeviceId(0), {0, 0});
  Mesh all{"all", 8, 8, {}};
  for (DeviceId id : c.devices()) all.devices.push_back(id);
  c.add_mesh(all);
  c.add_mesh(Mesh{"pair", 1, 2, {DeviceId(9), DeviceId(1)}});
  ASSERT_TRUE(c.validate().ok()) << c.validate().to_string();

  const std::string path = (std::filesystem::temp_directory_path() / "opplan_cluster_json_test.json").string();
  ASSERT_TRUE(write_cluster_json(c, path).ok());
  auto back = read_cluster_json(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_cluster(c, *back);
  std::filesystem::remove(path);
}

TEST(ClusterJson, WritingToAMissingDirectoryIsAnIoErrorNamingTheFile) {
  const std::string path = "/nonexistent-opplan-dir/cluster.json";
  const Status status = write_cluster_json(small_cluster(), path);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
}

}  // namespace
}  // namespace opplan
