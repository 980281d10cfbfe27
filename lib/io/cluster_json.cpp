// Cluster files (docs/file-formats.md): {"format": "opplan.cluster", "version": 1, "name", "devices", the two
// default links, per-pair "links" and "meshes"}. Devices are added in file order, so /devices/<i> is DeviceId i,
// and the problems Cluster's own checks find are reported at their JSON paths.
#include <opplan/io.hpp>

#include <climits>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "cluster/cluster_problems.hpp"
#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::Json;
using detail::JsonObject;
using detail::JsonPath;
using detail::JsonWriter;

constexpr std::string_view kFormat = "opplan.cluster";

constexpr std::string_view kRootFields[] = {"format",          "version",         "name",  "devices",
                                            "intra_node_link", "inter_node_link", "links", "meshes"};
enum RootField : std::size_t {
  kRootFormat, kRootVersion, kRootName, kRootDevices, kRootIntra, kRootInter, kRootLinks, kRootMeshes
};

constexpr std::string_view kDeviceFields[] = {"name",         "model",            "node",
                                              "peak_flops",   "memory_bytes",     "memory_bandwidth",
                                              "peak_flops_by_dtype"};
enum DeviceField : std::size_t {
  kDevName, kDevModel, kDevNode, kDevPeakFlops, kDevMemoryBytes, kDevMemoryBandwidth, kDevPeaks
};

// Optional per-format peaks of a device (Device::peaks); a file without them reads as before.
constexpr std::string_view kPeakFields[] = {"fp32", "tf32", "fp16", "bf16", "fp8"};
enum PeakField : std::size_t { kPeakFp32, kPeakTf32, kPeakFp16, kPeakBf16, kPeakFp8 };

constexpr std::string_view kLinkFields[] = {"alpha", "beta"};
enum LinkField : std::size_t { kLinkAlpha, kLinkBeta };

constexpr std::string_view kOverrideFields[] = {"a", "b", "alpha", "beta"};
enum OverrideField : std::size_t { kOverA, kOverB, kOverAlpha, kOverBeta };

constexpr std::string_view kMeshFields[] = {"name", "shape", "devices"};
enum MeshField : std::size_t { kMeshName, kMeshShape, kMeshDevices };

class ClusterReader {
 public:
  explicit ClusterReader(std::string_view source) : reader_(source) {}

  Result<Cluster> read(std::string_view text) {
    auto doc = detail::parse_json(reader_, text);
    if (!doc) return reader_.status();
    detail::JsonReader header(reader_.source());
    if (!detail::check_header(header, *doc, kFormat, kClusterFormatVersion, "cluster")) return header.status();

    JsonObject root(reader_, *doc, root_path_, kRootFields);
    cluster_.set_name(root.string(kRootName));
    if (Json::array_t* devices = root.array(kRootDevices, true)) {
      const JsonPath path = root.field_path(kRootDevices);
      for (std::size_t i = 0; i < devices->size(); ++i) read_device((*devices)[i], JsonPath(path, i));
    }
    cluster_.set_intra_node_link(read_link(root, kRootIntra, true));
    // A cluster of one node never uses the inter-node link, so only a multi-node cluster must give it.
    cluster_.set_inter_node_link(read_link(root, kRootInter, cluster_.num_nodes() > 1));
    if (Json::array_t* links = root.array(kRootLinks, false)) {
      const JsonPath path = root.field_path(kRootLinks);
      for (std::size_t i = 0; i < links->size(); ++i) read_override((*links)[i], JsonPath(path, i));
    }
    if (Json::array_t* meshes = root.array(kRootMeshes, false)) {
      const JsonPath path = root.field_path(kRootMeshes);
      for (std::size_t i = 0; i < meshes->size(); ++i) read_mesh((*meshes)[i], JsonPath(path, i));
    }
    if (reader_.has_problems()) return reader_.status();

    for (const detail::ClusterProblem& p : detail::find_cluster_problems(cluster_))
      reader_.add(StatusCode::kInvalidArgument, "/" + p.path, p.message);
    if (reader_.has_problems()) return reader_.status();
    return std::move(cluster_);
  }

 private:
  // A name that must be given and not be empty (the Cluster would otherwise invent one).
  std::string read_name(JsonObject& o, std::size_t field) {
    auto name = o.required_string(field);
    if (!name) return {};
    if (name->empty()) reader_.add(StatusCode::kInvalidArgument, o.field_path(field), "is empty");
    return std::move(*name);
  }

  void read_device(Json& value, const JsonPath& path) {
    JsonObject o(reader_, value, path, kDeviceFields);
    Device d;
    d.name = read_name(o, kDevName);
    d.model = o.string(kDevModel);
    d.node = static_cast<int>(o.integer(kDevNode, INT_MIN, INT_MAX).value_or(0));
    d.peak_flops = o.required_number(kDevPeakFlops).value_or(0);
    d.memory_bytes = o.required_number(kDevMemoryBytes).value_or(0);
    d.memory_bandwidth = o.required_number(kDevMemoryBandwidth).value_or(0);
    if (Json* peaks = o.object_value(kDevPeaks, false)) {
      const JsonPath peaks_path = o.field_path(kDevPeaks);
      JsonObject p(reader_, *peaks, peaks_path, kPeakFields);
      d.peaks.fp32 = p.number(kPeakFp32);
      d.peaks.tf32 = p.number(kPeakTf32);
      d.peaks.fp16 = p.number(kPeakFp16);
      d.peaks.bf16 = p.number(kPeakBf16);
      d.peaks.fp8 = p.number(kPeakFp8);
    }
    const bool named = !d.name.empty();
    const DeviceId id = cluster_.add_device(std::move(d));
    // Duplicate names are reported by the cluster checks; references resolve to the first.
    if (named) ids_.try_emplace(cluster_.device(id).name, id);
  }

  Link read_link(JsonObject& root, std::size_t field, bool required) {
    Json* value = root.object_value(field, required);
    if (!value) return Link{};
    const JsonPath path = root.field_path(field);
    JsonObject o(reader_, *value, path, kLinkFields);
    return Link{o.required_number(kLinkAlpha).value_or(0), o.required_number(kLinkBeta).value_or(0)};
  }

  std::optional<DeviceId> device(Json& value, const JsonPath& path) {
    auto name = reader_.string(value, path);
    if (!name) return std::nullopt;
    const auto it = ids_.find(*name);
    if (it != ids_.end()) return it->second;
    reader_.add(StatusCode::kInvalidArgument, path, fmt::format("no device named '{}'", *name));
    return std::nullopt;
  }

  void read_override(Json& value, const JsonPath& path) {
    JsonObject o(reader_, value, path, kOverrideFields);
    std::optional<DeviceId> a, b;
    if (Json* v = o.require(kOverA)) a = device(*v, o.field_path(kOverA));
    if (Json* v = o.require(kOverB)) b = device(*v, o.field_path(kOverB));
    const Link link{o.required_number(kOverAlpha).value_or(0), o.required_number(kOverBeta).value_or(0)};
    if (!a || !b) return;
    const std::string& name_a = cluster_.device(*a).name;
    if (*a == *b) {
      reader_.add(StatusCode::kInvalidArgument, path, fmt::format("connects device '{}' to itself", name_a));
      return;
    }
    // Cluster::set_link lets a later call win; in a file a repeated pair is a mistake, and keeping one
    // override per entry keeps /links/<i> equal to the override's index for the checks below.
    const std::pair<std::uint32_t, std::uint32_t> key = std::minmax(a->value(), b->value());  // copies, not refs
    const auto [it, inserted] = pairs_.try_emplace(key, overrides_read_);
    if (!inserted) {
      reader_.add(StatusCode::kInvalidArgument, path,
                  fmt::format("the link between '{}' and '{}' is already given by /links/{}", name_a,
                              cluster_.device(*b).name, it->second));
      return;
    }
    ++overrides_read_;
    cluster_.set_link(*a, *b, link);
  }

  void read_mesh(Json& value, const JsonPath& path) {
    JsonObject o(reader_, value, path, kMeshFields);
    Mesh mesh;
    mesh.name = read_name(o, kMeshName);
    if (!mesh.name.empty()) {
      const auto [it, inserted] = mesh_names_.try_emplace(mesh.name, cluster_.num_meshes());
      if (!inserted)
        reader_.add(StatusCode::kInvalidArgument, o.field_path(kMeshName),
                    fmt::format("'{}' is also the name of mesh #{}", mesh.name, it->second));
    }
    if (Json::array_t* shape = o.array(kMeshShape, true)) {
      const JsonPath shape_path = o.field_path(kMeshShape);
      if (shape->size() != 2) {
        reader_.add(StatusCode::kParseError, shape_path,
                    fmt::format("expected [rows, cols], got an array of {} element{}", shape->size(),
                                shape->size() == 1 ? "" : "s"));
      } else {
        // Non-positive sizes are left to the cluster checks.
        auto size = [&](std::size_t i) {
          return static_cast<int>(reader_.integer((*shape)[i], JsonPath(shape_path, i), INT_MIN, INT_MAX).value_or(1));
        };
        mesh.rows = size(0);
        mesh.cols = size(1);
      }
    }
    if (Json::array_t* devices = o.array(kMeshDevices, true)) {
      const JsonPath devices_path = o.field_path(kMeshDevices);
      mesh.devices.reserve(devices->size());
      for (std::size_t k = 0; k < devices->size(); ++k)
        if (auto id = device((*devices)[k], JsonPath(devices_path, k))) mesh.devices.push_back(*id);
    }
    cluster_.add_mesh(std::move(mesh));
  }

  const JsonPath root_path_;
  detail::JsonReader reader_;
  Cluster cluster_;
  std::unordered_map<std::string, DeviceId> ids_;
  std::unordered_map<std::string, std::size_t> mesh_names_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::size_t> pairs_;  // device pair -> index in "links"
  std::size_t overrides_read_ = 0;
};

void write_link(JsonWriter& w, std::string_view key, const Link& link) {
  w.key(key).begin_object(JsonWriter::Layout::kOneLine);
  w.field("alpha", link.alpha).field("beta", link.beta).end_object();
}

// Names the device of `id`; an id outside the cluster (possible only in a cluster that does not validate)
// gets a name that no device has, so that reading the file back reports it instead of this writer throwing.
std::string device_name(const Cluster& cluster, DeviceId id) {
  if (id.valid() && id.value() < cluster.num_devices()) return cluster.device(id).name;
  return fmt::format("<no device #{}>", id.valid() ? std::to_string(id.value()) : "invalid");
}

}  // namespace

Result<Cluster> parse_cluster_json(std::string_view text, std::string_view source) {
  return detail::parse_guarded<Cluster>(source, "cluster", [&] { return ClusterReader(source).read(text); });
}

Result<Cluster> read_cluster_json(const std::string& path) {
  return detail::read_json_file<Cluster>(path, parse_cluster_json);
}

std::string cluster_to_json(const Cluster& cluster, int indent) {
  using Layout = JsonWriter::Layout;
  JsonWriter w(indent);
  w.begin_object();
  w.field("format", kFormat).field("version", kClusterFormatVersion).field("name", cluster.name());
  // One device per line reads like a table.
  w.key("devices").begin_array();
  for (DeviceId id : cluster.devices()) {
    const Device& d = cluster.device(id);
    w.begin_object(Layout::kOneLine).field("name", d.name);
    if (!d.model.empty()) w.field("model", d.model);
    w.field("node", d.node).field("peak_flops", d.peak_flops).field("memory_bytes", d.memory_bytes);
    w.field("memory_bandwidth", d.memory_bandwidth);
    if (!d.peaks.empty()) {
      w.key("peak_flops_by_dtype").begin_object(Layout::kOneLine);
      const std::pair<std::string_view, double> peaks[] = {
          {"fp32", d.peaks.fp32}, {"tf32", d.peaks.tf32}, {"fp16", d.peaks.fp16}, {"bf16", d.peaks.bf16}, {"fp8", d.peaks.fp8}};
      for (const auto& [format, v] : peaks)
        if (v != 0) w.field(format, v);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array();
  write_link(w, "intra_node_link", cluster.intra_node_link());
  write_link(w, "inter_node_link", cluster.inter_node_link());
  if (!cluster.link_overrides().empty()) {
    w.key("links").begin_array();
    for (const LinkOverride& o : cluster.link_overrides()) {
      w.begin_object(Layout::kOneLine).field("a", device_name(cluster, o.a)).field("b", device_name(cluster, o.b));
      w.field("alpha", o.link.alpha).field("beta", o.link.beta).end_object();
    }
    w.end_array();
  }
  if (cluster.num_meshes() > 0) {
    w.key("meshes").begin_array();
    for (MeshId id : cluster.meshes()) {
      const Mesh& m = cluster.mesh(id);
      w.begin_object().field("name", m.name);
      w.key("shape").begin_array(Layout::kOneLine).value(m.rows).value(m.cols).end_array();
      std::size_t width = 0;
      for (DeviceId d : m.devices) width += device_name(cluster, d).size() + 4;
      w.key("devices").begin_array(width <= 80 ? Layout::kOneLine : Layout::kWrapped);
      for (DeviceId d : m.devices) w.value(device_name(cluster, d));
      w.end_array().end_object();
    }
    w.end_array();
  }
  w.end_object();
  return w.finish();
}

Status write_cluster_json(const Cluster& cluster, const std::string& path, int indent) {
  return detail::write_text_file(path, cluster_to_json(cluster, indent));
}

OPPLAN_END_NAMESPACE
