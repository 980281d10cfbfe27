// Cluster: the devices a plan runs on, how they are grouped into nodes, the links between them and
// the logical 2-D device meshes that sharding plans are expressed on.
//
// Units: FLOP/s, bytes, bytes/s, seconds. A link is modelled as alpha-beta: sending B bytes takes
// alpha + beta * B seconds. Devices may differ (heterogeneous clusters are allowed).
//
// Cluster is a value type; const methods may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/dtype.hpp>
#include <opplan/ids.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// Dense peak FLOP/s of a device per number format, as data sheets quote them (tensor cores where
// the device has them). 0 = not given: Device::peak_for() falls back (see there).
struct DTypePeaks {
  double fp32 = 0;  // plain fp32 (CUDA cores)
  double tf32 = 0;  // fp32 matmuls on tensor cores (A100 and later)
  double fp16 = 0;
  double bf16 = 0;
  double fp8 = 0;

  bool empty() const { return fp32 == 0 && tf32 == 0 && fp16 == 0 && bf16 == 0 && fp8 == 0; }
  friend bool operator==(const DTypePeaks& a, const DTypePeaks& b) {
    return a.fp32 == b.fp32 && a.tf32 == b.tf32 && a.fp16 == b.fp16 && a.bf16 == b.bf16 && a.fp8 == b.fp8;
  }
  friend bool operator!=(const DTypePeaks& a, const DTypePeaks& b) { return !(a == b); }
};

struct Device {
  std::string name;              // unique in the cluster; empty -> "dev<id>" is assigned
  std::string model;             // informative, e.g. "A100-SXM4-80GB"
  int node = 0;                  // index of the node (host) the device sits in
  // Peak FLOP/s of the 16-bit tensor-core path (the dtype large models train in); the fallback of
  // every entry of `peaks` that is not given.
  double peak_flops = 0;
  double memory_bytes = 0;       // device memory capacity
  double memory_bandwidth = 0;   // device memory bandwidth, bytes/s
  DTypePeaks peaks;              // per number format; optional (all 0 = peak_flops for everything)

  // The peak FLOP/s for arithmetic on `dtype`: f16 -> fp16; bf16 -> bf16, else fp16; f8 -> fp8,
  // else bf16 / fp16; f32 -> tf32 when `allow_tf32` and given, else fp32; f64 and integer types ->
  // fp32. Whatever is still not given is peak_flops.
  double peak_for(DType dtype, bool allow_tf32 = false) const;

  friend bool operator==(const Device& a, const Device& b) {
    return a.name == b.name && a.model == b.model && a.node == b.node && a.peak_flops == b.peak_flops &&
           a.memory_bytes == b.memory_bytes && a.memory_bandwidth == b.memory_bandwidth && a.peaks == b.peaks;
  }
  friend bool operator!=(const Device& a, const Device& b) { return !(a == b); }
};

// alpha-beta model of a point-to-point link.
struct Link {
  double alpha = 0;  // latency, seconds
  double beta = 0;   // seconds per byte (1 / bandwidth)

  double time(double bytes) const { return alpha + beta * bytes; }
  friend bool operator==(const Link& a, const Link& b) { return a.alpha == b.alpha && a.beta == b.beta; }
  friend bool operator!=(const Link& a, const Link& b) { return !(a == b); }
};

// A link between one specific pair of devices that replaces the intra/inter-node default (both
// directions).
struct LinkOverride {
  DeviceId a;
  DeviceId b;
  Link link;

  friend bool operator==(const LinkOverride& x, const LinkOverride& y) {
    return x.a == y.a && x.b == y.b && x.link == y.link;
  }
};

// A logical 2-D view of a set of devices, row-major: device (r, c) is devices[r * cols + c].
// Axis 0 runs along a column (changes r), axis 1 along a row (changes c), as in Alpa.
struct Mesh {
  std::string name;
  int rows = 1;
  int cols = 1;
  std::vector<DeviceId> devices;

  // Throws std::out_of_range outside the mesh.
  DeviceId at(int row, int col) const;
  // The devices that differ only in the coordinate of `axis` (0 or 1) from device (row, col):
  // one all-reduce group along that axis.
  std::vector<DeviceId> axis_group(int axis, int row, int col) const;

  friend bool operator==(const Mesh& a, const Mesh& b) {
    return a.name == b.name && a.rows == b.rows && a.cols == b.cols && a.devices == b.devices;
  }
};

class OPPLAN_EXPORT Cluster {
 public:
  Cluster();
  explicit Cluster(std::string name);
  ~Cluster();
  Cluster(const Cluster& other);
  Cluster& operator=(const Cluster& other);
  Cluster(Cluster&& other) noexcept;
  Cluster& operator=(Cluster&& other) noexcept;

  const std::string& name() const;
  void set_name(std::string name);

  // ---- devices and nodes ---------------------------------------------------------------------
  DeviceId add_device(Device device);
  std::size_t num_devices() const;
  IdRange<DeviceId> devices() const { return IdRange<DeviceId>(num_devices()); }
  const Device& device(DeviceId id) const;  // throws std::out_of_range
  Device& mutable_device(DeviceId id);      // throws std::out_of_range
  std::optional<DeviceId> find_device(std::string_view name) const;
  // 1 + the largest node index of any device (0 without devices).
  int num_nodes() const;
  std::vector<DeviceId> node_devices(int node) const;

  // ---- links ---------------------------------------------------------------------------------
  void set_intra_node_link(Link link);
  void set_inter_node_link(Link link);
  const Link& intra_node_link() const;
  const Link& inter_node_link() const;
  // Overrides the link between a and b (both directions); a later call for the same pair wins.
  // Throws std::out_of_range for an unknown device.
  void set_link(DeviceId a, DeviceId b, Link link);
  const std::vector<LinkOverride>& link_overrides() const;
  // The link used from a to b: an override, else intra- or inter-node by the devices' nodes.
  // A device to itself costs nothing.
  Link link(DeviceId a, DeviceId b) const;

  // ---- meshes --------------------------------------------------------------------------------
  MeshId add_mesh(Mesh mesh);
  std::size_t num_meshes() const;
  IdRange<MeshId> meshes() const { return IdRange<MeshId>(num_meshes()); }
  const Mesh& mesh(MeshId id) const;  // throws std::out_of_range
  std::optional<MeshId> find_mesh(std::string_view name) const;
  // The slowest link (largest alpha, largest beta) between neighbours along one axis of a mesh:
  // what a ring collective along that axis is limited by. {0, 0} for an axis of size 1.
  Link mesh_axis_link(const Mesh& mesh, int axis) const;

  // ---- checking ------------------------------------------------------------------------------
  // Every problem at once, one per line: no devices, empty or duplicate names, non-positive or
  // non-finite FLOP/s / memory / bandwidth, negative node index, negative or non-finite alpha or
  // beta, overrides naming unknown devices, meshes whose shape does not match their devices or
  // that repeat or name unknown devices.
  Status validate() const;

  // ---- presets -------------------------------------------------------------------------------
  // `nodes` nodes of 8 GPUs each, named "n<node>.gpu<k>" (device id 8 * node + k), with one mesh
  // named "cluster" of shape nodes x 8. Figures are the vendors' data-sheet values
  // (docs/cluster-presets.md). Throw std::invalid_argument when nodes < 1.
  static Cluster dgx_a100(int nodes = 1);  // A100-SXM4-80GB, NVLink 3, 8x HDR InfiniBand
  static Cluster dgx_h100(int nodes = 1);  // H100-SXM5-80GB, NVLink 4, 8x NDR InfiniBand
  static Cluster aws_p3_16xlarge(int nodes = 1);  // V100-SXM2-16GB, NVLink 2, 25 Gbps Ethernet
  // H800-SXM5-80GB (DeepSeek-V3's nodes): H100 compute, NVLink cut to 400 GB/s, 8x NDR InfiniBand.
  static Cluster dgx_h800(int nodes = 1);
  // By name, case-insensitive: "dgx-a100" (alias "selene": Megatron-LM's A100 SuperPOD, the same
  // nodes), "dgx-h100", "dgx-h800", "p3.16xlarge"; a suffix "xN" asks for N
  // nodes, 1 <= N <= 1024 ("dgx-a100x4"), else kInvalidArgument. An unknown name fails with
  // kNotFound listing the known names.
  static Result<Cluster> preset(std::string_view name);
  static std::vector<std::string> preset_names();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

OPPLAN_END_NAMESPACE
