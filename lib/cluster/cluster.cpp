#include <opplan/cluster.hpp>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <utility>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "cluster/cluster_impl.hpp"
#include "cluster/cluster_problems.hpp"
#include "graph/graph_problems.hpp"

OPPLAN_BEGIN_NAMESPACE

DeviceId Mesh::at(int row, int col) const {
  if (row < 0 || row >= rows || col < 0 || col >= cols ||
      static_cast<std::size_t>(row) * static_cast<std::size_t>(cols) + static_cast<std::size_t>(col) >= devices.size())
    throw std::out_of_range(fmt::format("opplan::Mesh::at({}, {}) is outside mesh '{}' of shape {}x{}", row, col, name,
                                        rows, cols));
  return devices[static_cast<std::size_t>(row * cols + col)];
}

std::vector<DeviceId> Mesh::axis_group(int axis, int row, int col) const {
  if (axis != 0 && axis != 1) throw std::out_of_range(fmt::format("opplan::Mesh::axis_group: axis {} is not 0 or 1", axis));
  std::vector<DeviceId> group;
  if (axis == 0)
    for (int r = 0; r < rows; ++r) group.push_back(at(r, col));
  else
    for (int c = 0; c < cols; ++c) group.push_back(at(row, c));
  return group;
}

double Device::peak_for(DType dtype, bool allow_tf32) const {
  auto first = [this](std::initializer_list<double> candidates) {
    for (double v : candidates)
      if (v > 0) return v;
    return peak_flops;
  };
  switch (dtype) {
    case DType::kF16: return first({peaks.fp16});
    case DType::kBF16: return first({peaks.bf16, peaks.fp16});
    case DType::kF8: return first({peaks.fp8, peaks.bf16, peaks.fp16});
    case DType::kF32:
      if (allow_tf32 && peaks.tf32 > 0) return peaks.tf32;
      return first({peaks.fp32});
    default: return first({peaks.fp32});
  }
}

Cluster::Cluster() : impl_(std::make_unique<Impl>()) {}
Cluster::Cluster(std::string name) : Cluster() { impl_->name = std::move(name); }
Cluster::~Cluster() = default;
Cluster::Cluster(const Cluster& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Cluster& Cluster::operator=(const Cluster& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
// A moved-from Cluster is empty and usable.
Cluster::Cluster(Cluster&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {
  try {
    other.impl_ = std::make_unique<Impl>();
  } catch (...) {
  }
}
Cluster& Cluster::operator=(Cluster&& other) noexcept {
  if (this != &other) {
    impl_.swap(other.impl_);
    try {
      other.impl_ = std::make_unique<Impl>();
    } catch (...) {
    }
  }
  return *this;
}

const std::string& Cluster::name() const { return impl_->name; }
void Cluster::set_name(std::string name) { impl_->name = std::move(name); }

DeviceId Cluster::add_device(Device device) {
  const auto id = static_cast<std::uint32_t>(impl_->devices.size());
  if (device.name.empty()) device.name = fmt::format("dev{}", id);
  impl_->devices.push_back(std::move(device));
  return DeviceId(id);
}

std::size_t Cluster::num_devices() const { return impl_->devices.size(); }

namespace {
void check_device_id(DeviceId id, std::size_t n) {
  if (!id.valid() || id.value() >= n)
    throw std::out_of_range(fmt::format("opplan::Cluster: device id {} is not in the cluster ({} devices)",
                                        id.valid() ? std::to_string(id.value()) : "invalid", n));
}
}  // namespace

const Device& Cluster::device(DeviceId id) const {
  check_device_id(id, impl_->devices.size());
  return impl_->devices[id.value()];
}

Device& Cluster::mutable_device(DeviceId id) {
  check_device_id(id, impl_->devices.size());
  return impl_->devices[id.value()];
}

std::optional<DeviceId> Cluster::find_device(std::string_view name) const {
  for (std::uint32_t i = 0; i < impl_->devices.size(); ++i)
    if (impl_->devices[i].name == name) return DeviceId(i);
  return std::nullopt;
}

int Cluster::num_nodes() const {
  int n = 0;
  for (const Device& d : impl_->devices) n = std::max(n, d.node + 1);
  return n;
}

std::vector<DeviceId> Cluster::node_devices(int node) const {
  std::vector<DeviceId> out;
  for (std::uint32_t i = 0; i < impl_->devices.size(); ++i)
    if (impl_->devices[i].node == node) out.emplace_back(i);
  return out;
}

void Cluster::set_intra_node_link(Link link) { impl_->intra_node = link; }
void Cluster::set_inter_node_link(Link link) { impl_->inter_node = link; }
const Link& Cluster::intra_node_link() const { return impl_->intra_node; }
const Link& Cluster::inter_node_link() const { return impl_->inter_node; }

void Cluster::set_link(DeviceId a, DeviceId b, Link link) {
  check_device_id(a, impl_->devices.size());
  check_device_id(b, impl_->devices.size());
  for (LinkOverride& o : impl_->overrides) {
    if ((o.a == a && o.b == b) || (o.a == b && o.b == a)) {
      o.link = link;
      return;
    }
  }
  impl_->overrides.push_back(LinkOverride{a, b, link});
}

const std::vector<LinkOverride>& Cluster::link_overrides() const { return impl_->overrides; }

Link Cluster::link(DeviceId a, DeviceId b) const {
  check_device_id(a, impl_->devices.size());
  check_device_id(b, impl_->devices.size());
  if (a == b) return Link{};
  for (const LinkOverride& o : impl_->overrides)
    if ((o.a == a && o.b == b) || (o.a == b && o.b == a)) return o.link;
  return impl_->devices[a.value()].node == impl_->devices[b.value()].node ? impl_->intra_node : impl_->inter_node;
}

MeshId Cluster::add_mesh(Mesh mesh) {
  const auto id = static_cast<std::uint32_t>(impl_->meshes.size());
  if (mesh.name.empty()) mesh.name = fmt::format("mesh{}", id);
  impl_->meshes.push_back(std::move(mesh));
  return MeshId(id);
}

std::size_t Cluster::num_meshes() const { return impl_->meshes.size(); }

const Mesh& Cluster::mesh(MeshId id) const {
  if (!id.valid() || id.value() >= impl_->meshes.size())
    throw std::out_of_range(fmt::format("opplan::Cluster: mesh id {} is not in the cluster ({} meshes)",
                                        id.valid() ? std::to_string(id.value()) : "invalid", impl_->meshes.size()));
  return impl_->meshes[id.value()];
}

std::optional<MeshId> Cluster::find_mesh(std::string_view name) const {
  for (std::uint32_t i = 0; i < impl_->meshes.size(); ++i)
    if (impl_->meshes[i].name == name) return MeshId(i);
  return std::nullopt;
}

Link Cluster::mesh_axis_link(const Mesh& mesh, int axis) const {
  Link worst;
  const int len = axis == 0 ? mesh.rows : mesh.cols;
  const int across = axis == 0 ? mesh.cols : mesh.rows;
  if (axis != 0 && axis != 1) throw std::out_of_range(fmt::format("opplan::Cluster::mesh_axis_link: axis {}", axis));
  for (int k = 0; k < across; ++k) {
    for (int i = 0; i + 1 < len; ++i) {
      const DeviceId a = axis == 0 ? mesh.at(i, k) : mesh.at(k, i);
      const DeviceId b = axis == 0 ? mesh.at(i + 1, k) : mesh.at(k, i + 1);
      const Link l = link(a, b);
      worst.alpha = std::max(worst.alpha, l.alpha);
      worst.beta = std::max(worst.beta, l.beta);
    }
  }
  return worst;
}

namespace detail {

std::vector<ClusterProblem> find_cluster_problems(const Cluster& cluster) {
  std::vector<ClusterProblem> problems;
  auto add = [&](std::string path, std::string who, std::string message) {
    problems.push_back({std::move(path), std::move(who), std::move(message)});
  };
  auto positive = [&](const std::string& path, const std::string& who, double v) {
    if (std::isnan(v)) add(path, who, "is NaN");
    else if (std::isinf(v)) add(path, who, "is infinite");
    else if (v <= 0) add(path, who, fmt::format("must be positive (is {})", v));
  };
  auto link_ok = [&](const std::string& path, const std::string& who, const Link& l) {
    if (auto why = amount_problem(l.alpha)) add(path + "/alpha", who + " alpha", *why);
    if (auto why = amount_problem(l.beta)) add(path + "/beta", who + " beta", *why);
  };

  const std::size_t n = cluster.num_devices();
  if (n == 0) add("devices", "devices", "is empty: the cluster has no devices");
  std::unordered_map<std::string_view, std::size_t> names;
  for (DeviceId id : cluster.devices()) {
    const Device& d = cluster.device(id);
    const auto i = id.value();
    const std::string path = fmt::format("devices/{}", i);
    const std::string who = fmt::format("device '{}' (#{})", d.name, i);
    if (d.name.empty()) add(path + "/name", who + ": name", "is empty");
    else if (auto [it, inserted] = names.emplace(d.name, i); !inserted)
      add(path + "/name", who + ": name", fmt::format("is also used by device #{}", it->second));
    positive(path + "/peak_flops", who + ": peak_flops", d.peak_flops);
    positive(path + "/memory_bytes", who + ": memory_bytes", d.memory_bytes);
    positive(path + "/memory_bandwidth", who + ": memory_bandwidth", d.memory_bandwidth);
    // Per-format peaks are optional (0 = not given) but never negative or non-finite.
    const std::pair<const char*, double> peaks[] = {{"fp32", d.peaks.fp32}, {"tf32", d.peaks.tf32},
                                                    {"fp16", d.peaks.fp16}, {"bf16", d.peaks.bf16},
                                                    {"fp8", d.peaks.fp8}};
    for (const auto& [format, v] : peaks)
      if (v != 0) positive(fmt::format("{}/peak_flops_by_dtype/{}", path, format), fmt::format("{}: {} peak", who, format), v);
    if (d.node < 0) add(path + "/node", who + ": node", fmt::format("is negative ({})", d.node));
  }
  link_ok("intra_node_link", "intra_node_link", cluster.intra_node_link());
  link_ok("inter_node_link", "inter_node_link", cluster.inter_node_link());
  const auto& overrides = cluster.link_overrides();
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    const LinkOverride& o = overrides[i];
    const std::string path = fmt::format("links/{}", i);
    const std::string who = fmt::format("link override #{}", i);
    if (!o.a.valid() || o.a.value() >= n || !o.b.valid() || o.b.value() >= n)
      add(path, who + ":", "names a device that is not in the cluster");
    link_ok(path, who, o.link);
  }
  std::unordered_map<std::string_view, std::uint32_t> mesh_names;
  for (MeshId mid : cluster.meshes()) {
    const Mesh& mesh = cluster.mesh(mid);
    const std::string path = fmt::format("meshes/{}", mid.value());
    const std::string who = fmt::format("mesh '{}' (#{})", mesh.name, mid.value());
    if (auto [it, inserted] = mesh_names.emplace(mesh.name, mid.value()); !inserted)
      add(path + "/name", who + ": name", fmt::format("is also used by mesh #{}", it->second));
    if (mesh.rows <= 0 || mesh.cols <= 0) {
      add(path + "/shape", who + ": shape", fmt::format("{}x{} must be positive", mesh.rows, mesh.cols));
      continue;
    }
    const auto expected = static_cast<std::size_t>(mesh.rows) * static_cast<std::size_t>(mesh.cols);
    if (mesh.devices.size() != expected)
      add(path + "/devices", who + ":",
          fmt::format("shape {}x{} needs {} devices but {} are given", mesh.rows, mesh.cols, expected,
                      mesh.devices.size()));
    std::unordered_set<std::uint32_t> seen;
    for (std::size_t k = 0; k < mesh.devices.size(); ++k) {
      const DeviceId id = mesh.devices[k];
      const std::string dpath = fmt::format("{}/devices/{}", path, k);
      if (!id.valid() || id.value() >= n)
        add(dpath, who + ":", fmt::format("device id {} is not in the cluster", id.valid() ? std::to_string(id.value()) : "invalid"));
      else if (!seen.insert(id.value()).second)
        add(dpath, who + ":", fmt::format("device '{}' appears twice", cluster.device(id).name));
    }
  }
  return problems;
}

}  // namespace detail

Status Cluster::validate() const {
  const auto problems = detail::find_cluster_problems(*this);
  if (problems.empty()) return Status::Ok();
  std::string message = problems.size() == 1 ? "1 problem" : fmt::format("{} problems", problems.size());
  for (const auto& p : problems) message += "\n  " + p.who + " " + p.message;
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

OPPLAN_END_NAMESPACE
