// Cluster presets for common 8-GPU machines. Figures are vendor data-sheet values in decimal units
// (1 GB = 1e9 bytes, 1 GB/s = 1e9 bytes/s); docs/cluster-presets.md lists each with its source and
// explains the modelling choices (per-GPU share of a link, latencies).
#include <opplan/cluster.hpp>

#include <array>
#include <charconv>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr int kGpusPerNode = 8;
// Large enough for any real deployment, small enough that a typo ("x100000") cannot build a
// cluster of a million devices.
constexpr int kMaxPresetNodes = 4096;  // 32,768 GPUs: Llama-3 405B trained on 16,384

constexpr double kGB = 1e9;
constexpr double kTFlops = 1e12;
constexpr double kMicrosecond = 1e-6;

struct PresetSpec {
  const char* name;        // the base name accepted by Cluster::preset
  const char* gpu_model;
  double peak_flops;       // dense bf16/fp16 tensor-core FLOP/s
  DTypePeaks peaks;        // dense peaks per number format (data sheet)
  double memory_bytes;
  double memory_bandwidth; // bytes/s
  Link intra_node;         // GPU to GPU inside a node
  Link inter_node;         // per-GPU share of the node's network, when all 8 GPUs send at once
};

// NVLink latency: a collective over NVLink costs a few microseconds before any byte moves (kernel
// launch, synchronisation of the peers). InfiniBand adds the NIC and switch hops; TCP over
// Ethernet adds the kernel network stack, which dominates small messages.
constexpr double kNvlinkAlpha = 5 * kMicrosecond;
constexpr double kInfinibandAlpha = 10 * kMicrosecond;
constexpr double kEthernetAlpha = 30 * kMicrosecond;

constexpr PresetSpec kDgxA100{
    "dgx-a100", "A100-SXM4-80GB", 312 * kTFlops,
    // fp32 19.5, tf32 156, fp16 / bf16 312; no fp8.
    DTypePeaks{19.5 * kTFlops, 156 * kTFlops, 312 * kTFlops, 312 * kTFlops, 0}, 80 * kGB, 2039 * kGB,
    // NVLink 3 through NVSwitch: 600 GB/s bidirectional per GPU = 300 GB/s per direction.
    Link{kNvlinkAlpha, 1 / (300 * kGB)},
    // One 200 Gb/s HDR InfiniBand port per GPU: 200e9 / 8 = 25 GB/s.
    Link{kInfinibandAlpha, 1 / (25 * kGB)}};

constexpr PresetSpec kDgxH100{
    "dgx-h100", "H100-SXM5-80GB", 989 * kTFlops,
    DTypePeaks{67 * kTFlops, 494 * kTFlops, 989 * kTFlops, 989 * kTFlops, 1979 * kTFlops}, 80 * kGB, 3350 * kGB,
    // NVLink 4 through NVSwitch: 900 GB/s bidirectional per GPU = 450 GB/s per direction.
    Link{kNvlinkAlpha, 1 / (450 * kGB)},
    // One 400 Gb/s NDR InfiniBand port per GPU: 400e9 / 8 = 50 GB/s.
    Link{kInfinibandAlpha, 1 / (50 * kGB)}};

constexpr PresetSpec kAwsP3{
    "p3.16xlarge", "V100-SXM2-16GB", 125 * kTFlops,
    // Volta: fp16 tensor cores only; bf16 and tf32 do not exist (bf16 is emulated: left at the
    // fp16 figure, which is optimistic), fp32 runs on CUDA cores.
    DTypePeaks{15.7 * kTFlops, 0, 125 * kTFlops, 0, 0}, 16 * kGB, 900 * kGB,
    // NVLink 2 hybrid cube-mesh: 6 links of 25 GB/s per direction per GPU. Ring collectives (the
    // traffic the planner prices most) run several rings at once over all six links, so they see
    // the per-GPU aggregate, 150 GB/s per direction. A single pair gets less (25 or 50 GB/s, or
    // PCIe for the 3 peers without a direct link); see docs/cluster-presets.md.
    Link{kNvlinkAlpha, 1 / (150 * kGB)},
    // 25 Gb/s Ethernet for the whole instance = 3.125 GB/s, shared by its 8 GPUs: a mesh-axis-0
    // collective has all 8 GPUs crossing at once, so each gets 3.125 / 8 = 0.390625 GB/s.
    Link{kEthernetAlpha, 1 / (25e9 / 8 / kGpusPerNode)}};

// Megatron-LM's runs (Narayanan et al. 2021, Korthikanti et al. 2022) used NVIDIA's Selene: an
// A100 SuperPOD of DGX A100 nodes, so the same figures under the name users know.
constexpr PresetSpec kSelene{"selene", kDgxA100.gpu_model, kDgxA100.peak_flops, kDgxA100.peaks,
                             kDgxA100.memory_bytes, kDgxA100.memory_bandwidth, kDgxA100.intra_node,
                             kDgxA100.inter_node};

// DeepSeek-V3's nodes (arXiv 2412.19437): H800 = H100 compute and memory with NVLink cut to
// 400 GB/s bidirectional (200 GB/s per direction; DeepSeek reports about 160 GB/s achieved),
// 8 x 400 Gb/s InfiniBand NICs per node (50 GB/s per GPU; 40-50 GB/s achieved).
constexpr PresetSpec kDgxH800{
    "dgx-h800", "H800-SXM5-80GB", 989 * kTFlops,
    DTypePeaks{67 * kTFlops, 494 * kTFlops, 989 * kTFlops, 989 * kTFlops, 1979 * kTFlops}, 80 * kGB, 3350 * kGB,
    Link{kNvlinkAlpha, 1 / (200 * kGB)}, Link{kInfinibandAlpha, 1 / (50 * kGB)}};

constexpr std::array<const PresetSpec*, 5> kPresets = {&kDgxA100, &kDgxH100, &kDgxH800, &kAwsP3, &kSelene};

Cluster build(const PresetSpec& spec, int nodes, const char* caller) {
  // A programming error, not bad user data: preset() validates names read from files first.
  if (nodes < 1)
    throw std::invalid_argument(fmt::format("opplan::Cluster::{}: nodes must be >= 1 (is {})", caller, nodes));
  Cluster cluster(nodes == 1 ? std::string(spec.name) : fmt::format("{}x{}", spec.name, nodes));
  Mesh mesh{"cluster", nodes, kGpusPerNode, {}};
  mesh.devices.reserve(static_cast<std::size_t>(nodes) * kGpusPerNode);
  for (int n = 0; n < nodes; ++n) {
    for (int g = 0; g < kGpusPerNode; ++g) {
      Device d;
      d.name = fmt::format("n{}.gpu{}", n, g);
      d.model = spec.gpu_model;
      d.node = n;
      d.peak_flops = spec.peak_flops;
      d.peaks = spec.peaks;
      d.memory_bytes = spec.memory_bytes;
      d.memory_bandwidth = spec.memory_bandwidth;
      mesh.devices.push_back(cluster.add_device(std::move(d)));
    }
  }
  cluster.set_intra_node_link(spec.intra_node);
  cluster.set_inter_node_link(spec.inter_node);
  cluster.add_mesh(std::move(mesh));
  return cluster;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

Cluster Cluster::dgx_a100(int nodes) { return build(kDgxA100, nodes, "dgx_a100"); }
Cluster Cluster::dgx_h100(int nodes) { return build(kDgxH100, nodes, "dgx_h100"); }
Cluster Cluster::aws_p3_16xlarge(int nodes) { return build(kAwsP3, nodes, "aws_p3_16xlarge"); }
Cluster Cluster::dgx_h800(int nodes) { return build(kDgxH800, nodes, "dgx_h800"); }

std::vector<std::string> Cluster::preset_names() {
  std::vector<std::string> names;
  for (const PresetSpec* p : kPresets) names.emplace_back(p->name);
  return names;
}

Result<Cluster> Cluster::preset(std::string_view name) {
  const std::string lower = to_lower(name);
  for (const PresetSpec* p : kPresets) {
    const std::string_view base = p->name;
    if (lower.compare(0, base.size(), base) != 0) continue;
    const std::string_view suffix = std::string_view(lower).substr(base.size());
    if (suffix.empty()) return build(*p, 1, "preset");
    // Anything after the base name other than "x..." is a different name, not a bad node count.
    if (suffix.front() != 'x') continue;
    const std::string_view digits = suffix.substr(1);
    int nodes = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), nodes);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || nodes < 1 ||
        nodes > kMaxPresetNodes)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("cluster preset '{}': the node count after 'x' must be an integer in 1..{} (got '{}')",
                                name, kMaxPresetNodes, digits));
    return build(*p, nodes, "preset");
  }
  return Status(StatusCode::kNotFound,
                fmt::format("no cluster preset named '{}'; known presets: {} (append xN for N nodes, e.g. '{}x4')",
                            name, fmt::join(preset_names(), ", "), kPresets.front()->name));
}

OPPLAN_END_NAMESPACE
