// The default cost model: dtype-aware roofline compute with a shape-dependent matmul efficiency,
// alpha-beta links, NCCL-like hierarchical collectives (or Alpa's flat ring, shared/reference/alpa.md
// section 1), training memory from the optimizer's bytes per parameter. Planners call op_time and collective_time in their
// innermost loops, so these do no allocation (except the duplicate check of a large group).
#include <opplan/cost_model.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <array>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

CostModel::~CostModel() = default;

const char* to_string(Collective collective) {
  switch (collective) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kAllGather: return "all_gather";
    case Collective::kReduceScatter: return "reduce_scatter";
    case Collective::kAllToAll: return "all_to_all";
  }
  return "unknown";
}

std::optional<Collective> parse_collective(std::string_view name) {
  for (Collective c : {Collective::kAllReduce, Collective::kAllGather, Collective::kReduceScatter,
                       Collective::kAllToAll})
    if (name == to_string(c)) return c;
  return std::nullopt;
}

namespace {

std::string fraction_problem(const char* field, double v) {
  // Written so that NaN fails too.
  if (!(v > 0 && v <= 1)) return fmt::format("{} must be in (0, 1] (is {})", field, v);
  return {};
}

void check_bytes(const char* caller, double bytes) {
  if (std::isnan(bytes) || bytes < 0)
    throw std::invalid_argument(
        fmt::format("opplan::AnalyticCostModel::{}: bytes must be non-negative (is {})", caller, bytes));
}

}  // namespace

bool AnalyticCostModel::Options::IsValid(std::string* error) const {
  std::string problems;
  auto add = [&](std::string problem) {
    if (problem.empty()) return;
    if (!problems.empty()) problems += "; ";
    problems += problem;
  };
  add(fraction_problem("compute_efficiency", compute_efficiency));
  add(fraction_problem("memory_efficiency", memory_efficiency));
  for (const auto& [model, efficiency] : device_efficiency)
    add(fraction_problem(fmt::format("device_efficiency['{}']", model).c_str(), efficiency));
  add(fraction_problem("nvlink_bus_efficiency", nvlink_bus_efficiency));
  add(fraction_problem("network_bus_efficiency", network_bus_efficiency));
  if (!(efficiency_half_dim >= 0) || std::isinf(efficiency_half_dim))
    add(fmt::format("efficiency_half_dim must be finite and >= 0 (is {})", efficiency_half_dim));
  if (!(custom_bytes_per_parameter >= 0) || std::isinf(custom_bytes_per_parameter))
    add(fmt::format("custom_bytes_per_parameter must be finite and >= 0 (is {})", custom_bytes_per_parameter));
  if (!(launch_overhead >= 0) || std::isinf(launch_overhead))
    add(fmt::format("launch_overhead must be finite and >= 0 seconds (is {})", launch_overhead));
  if (!(param_memory_factor >= 0) || std::isinf(param_memory_factor))
    add(fmt::format("param_memory_factor must be finite and >= 0 (is {}; 0 = from the optimizer)",
                    param_memory_factor));
  if (error) *error = problems;
  return problems.empty();
}

AnalyticCostModel::AnalyticCostModel() : AnalyticCostModel(Options{}) {}

AnalyticCostModel::AnalyticCostModel(const Options& options) : options_(options) {
  std::string error;
  if (!options_.IsValid(&error)) throw std::invalid_argument("opplan::AnalyticCostModel: " + error);
}

namespace {

bool is_matrix_product(const Op& op) {
  return op.kind == "matmul" || op.kind == "batch_matmul" || op.kind == "conv" || op.kind == "linear";
}

// Roofline time of `flops` and `bytes` at `peak` FLOP/s with `efficiency`; the launch overhead
// only when there is work.
double roofline(double flops, double bytes, double peak, double efficiency, const Device& device,
                const AnalyticCostModel::Options& o) {
  if (flops == 0 && bytes == 0) return 0;
  // Guarded so that a zero amount on a device with a zero rating is 0, not 0/0 = NaN.
  const double compute = flops == 0 ? 0 : flops / (peak * efficiency);
  const double memory = bytes == 0 ? 0 : bytes / (device.memory_bandwidth * o.memory_efficiency);
  return std::max(compute, memory) + o.launch_overhead;
}

}  // namespace

double AnalyticCostModel::peak(const Device& device, DType dtype) const {
  return options_.dtype_peaks ? device.peak_for(dtype, options_.allow_tf32) : device.peak_flops;
}

double AnalyticCostModel::device_factor(const Device& device) const {
  for (const auto& [model, efficiency] : options_.device_efficiency)
    if (!model.empty() && device.model.find(model) != std::string::npos) return efficiency / options_.compute_efficiency;
  return 1.0;
}

double AnalyticCostModel::matmul_efficiency(const Op& op, int shards) const {
  const double e = options_.compute_efficiency;
  const double d = options_.efficiency_half_dim;
  if (d == 0 || !is_matrix_product(op) || op.shape.empty() || op.forward.flops <= 0) return e;
  double out = 1;
  for (auto x : op.shape) out *= static_cast<double>(std::max<std::int64_t>(x, 1));
  // N: the output's columns (a 4-D conv output is b k x y: its channels).
  const bool conv = op.kind == "conv" && op.shape.size() == 4;
  double n = static_cast<double>(std::max<std::int64_t>(conv ? op.shape[1] : op.shape.back(), 1));
  double m = out / n;
  double k = op.forward.flops / (2 * out);
  // A sharded op: its largest dimension is the one cut (the usual choice of a sharding plan).
  if (shards > 1) {
    double* largest = &m;
    if (n > *largest) largest = &n;
    if (k > *largest) largest = &k;
    *largest = std::max(1.0, *largest / shards);
  }
  auto f = [d](double x) { return x / (x + d); };
  return e * f(m) * f(n) * f(k);
}

double AnalyticCostModel::op_time(const Op& op, Phase phase, const Device& device) const {
  const PhaseCost& cost = op.cost(phase);
  if (cost.seconds) return *cost.seconds;
  return roofline(cost.flops, cost.bytes, peak(device, op.dtype),
                  matmul_efficiency(op) * device_factor(device), device, options_);
}

double AnalyticCostModel::sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                                          int num_shards) const {
  if (num_shards < 1)
    throw std::invalid_argument(
        fmt::format("opplan::AnalyticCostModel::sharded_op_time: num_shards must be >= 1 (is {})", num_shards));
  if (mesh.devices.empty())
    throw std::invalid_argument(
        fmt::format("opplan::AnalyticCostModel::sharded_op_time: mesh '{}' has no devices", mesh.name));
  const PhaseCost& cost = op.cost(phase);
  const double shards = num_shards;
  // A measured time is the same on every device: no need to look at the mesh beyond checking ids.
  if (cost.seconds) {
    for (DeviceId id : mesh.devices) (void)cluster.device(id);
    return *cost.seconds / shards;
  }
  const double efficiency = matmul_efficiency(op, num_shards);
  double slowest = 0;
  for (DeviceId id : mesh.devices) {
    const Device& device = cluster.device(id);
    slowest = std::max(slowest, roofline(cost.flops / shards, cost.bytes / shards,
                                         peak(device, op.dtype),
                                         efficiency * device_factor(device), device, options_));
  }
  return slowest;
}

double AnalyticCostModel::transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const {
  check_bytes("transfer_time", bytes);
  const Link link = cluster.link(src, dst);  // also checks the ids; {0, 0} when src == dst
  if (src == dst) return 0;
  return link.time(bytes);
}

namespace {

void check_distinct(const Cluster& cluster, const std::vector<DeviceId>& group) {
  const std::size_t n = group.size();
  auto fail = [&](DeviceId id) {
    throw std::invalid_argument(fmt::format(
        "opplan::AnalyticCostModel::collective_time: device '{}' appears more than once in the group",
        cluster.device(id).name));
  };
  // Typical groups are one mesh axis (<= 8..16 devices): a pairwise scan beats sorting a copy.
  constexpr std::size_t kPairwiseLimit = 32;
  if (n <= kPairwiseLimit) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j)
        if (group[i] == group[j]) fail(group[i]);
    return;
  }
  std::vector<DeviceId> sorted(group);
  std::sort(sorted.begin(), sorted.end());
  if (auto it = std::adjacent_find(sorted.begin(), sorted.end()); it != sorted.end()) fail(*it);
}

}  // namespace

double AnalyticCostModel::collective_time(const Cluster& cluster, Collective collective,
                                          const std::vector<DeviceId>& group, double bytes) const {
  check_bytes("collective_time", bytes);
  if (group.empty()) throw std::invalid_argument("opplan::AnalyticCostModel::collective_time: the group is empty");
  for (DeviceId id : group) (void)cluster.device(id);  // std::out_of_range for an unknown id
  check_distinct(cluster, group);
  const std::size_t size = group.size();
  if (size == 1) return 0;

  const double n = static_cast<double>(size);
  double bandwidth = 0, latency = 0;       // bytes/s and seconds of one pass over the ring
  double remote_bandwidth = 0;             // kNccl all-to-all: one GPU's share of the network
  double remote_fraction = 0;              // kNccl all-to-all: the peers on other nodes
  double local_bandwidth = 0;              // kNccl all-to-all: to the peers on the same node
  if (options_.collective_model == CollectiveModel::kRing) {
    // A ring moves data at the pace of its slowest hop, including the hop from the last member
    // back to the first.
    Link slowest;
    for (std::size_t i = 0; i < size; ++i) {
      const Link l = cluster.link(group[i], group[(i + 1) % size]);
      slowest.alpha = std::max(slowest.alpha, l.alpha);
      slowest.beta = std::max(slowest.beta, l.beta);
    }
    bandwidth = slowest.beta > 0 ? 1 / slowest.beta : std::numeric_limits<double>::infinity();
    latency = slowest.alpha;
  } else {
    // The ring NCCL builds: members ordered by node, consecutive members of one node linked over
    // NVLink, one hop from each node to the next. Each kind of hop at its slowest. No allocation
    // for groups of up to 32 (the planners' inner loops price mesh axes).
    Link intra, inter;
    bool any_intra = false, any_inter = false;
    constexpr std::size_t kSmall = 32;
    std::array<DeviceId, kSmall> small{};
    std::vector<DeviceId> large;
    DeviceId* ordered = small.data();
    if (size > kSmall) {
      large.assign(group.begin(), group.end());
      ordered = large.data();
    } else {
      std::copy(group.begin(), group.end(), small.begin());
    }
    std::stable_sort(ordered, ordered + size, [&](DeviceId x, DeviceId y) {
      return cluster.device(x).node < cluster.device(y).node;
    });
    int node_count = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const DeviceId a = ordered[i], b = ordered[(i + 1) % size];
      const bool same = cluster.device(a).node == cluster.device(b).node;
      const Link l = cluster.link(a, b);
      Link& worst = same ? intra : inter;
      (same ? any_intra : any_inter) = true;
      worst.alpha = std::max(worst.alpha, l.alpha);
      worst.beta = std::max(worst.beta, l.beta);
      if (i + 1 == size || cluster.device(ordered[i + 1]).node != cluster.device(a).node) ++node_count;
    }
    const double nodes = node_count;
    const double inf = std::numeric_limits<double>::infinity();
    const double intra_bw = any_intra && intra.beta > 0 ? options_.nvlink_bus_efficiency / intra.beta : inf;
    const double inter_bw = any_inter && inter.beta > 0 ? options_.network_bus_efficiency / inter.beta : inf;
    // Rails: each GPU reaches other nodes through its own NIC, so a ring that crosses nodes runs
    // at one GPU's share of the network whatever the number of members per node.
    bandwidth = std::min(intra_bw, inter_bw);
    // A ring takes n steps: n - nodes hops inside nodes and one hop out of each node.
    latency = any_inter ? (n - nodes) * intra.alpha + nodes * inter.alpha : (n - 1) * intra.alpha;
    remote_bandwidth = inter_bw;
    local_bandwidth = any_intra ? intra_bw : options_.nvlink_bus_efficiency / cluster.intra_node_link().beta;
    // All-to-all: the share of each member's peers on other nodes (nodes hold equal shares).
    remote_fraction = any_inter ? (n - n / nodes) / (n - 1) : 0;
  }
  auto over = [&](double volume) { return std::isinf(bandwidth) ? 0.0 : volume / bandwidth; };
  switch (collective) {
    case Collective::kAllReduce:
      // A reduce-scatter then an all-gather: two passes (kRing keeps Alpa's single alpha).
      return (options_.collective_model == CollectiveModel::kRing ? 1 : 2) * latency + over(2 * (n - 1) / n * bytes);
    case Collective::kAllGather:
    case Collective::kReduceScatter: return latency + over((n - 1) / n * bytes);
    case Collective::kAllToAll: {
      const double congestion = options_.alpa_all_to_all_penalty ? std::max(1.0, n / 2) : 1.0;
      const double volume = (n - 1) / (n * n) * bytes * congestion;
      if (options_.collective_model == CollectiveModel::kRing || remote_fraction == 0) return latency + over(volume);
      // Each GPU sends the part bound for other nodes through its own NIC, the rest over NVLink.
      const double local = (1 - remote_fraction) * volume, remote = remote_fraction * volume;
      const double local_time = local == 0 ? 0 : local / local_bandwidth;
      const double remote_time = std::isinf(remote_bandwidth) ? 0 : remote / remote_bandwidth;
      return latency + std::max(local_time, remote_time);
    }
  }
  throw std::invalid_argument(fmt::format("opplan::AnalyticCostModel::collective_time: unknown collective {}",
                                          static_cast<int>(collective)));
}

OpMemory AnalyticCostModel::op_memory(const Op& op) const {
  OpMemory memory;
  memory.activations = op.activation_bytes;
  if (options_.param_memory_factor > 0) {
    memory.parameters = op.param_bytes * options_.param_memory_factor;
    memory.parameter_parts.weights = op.param_bytes;
    memory.parameter_parts.optimizer = memory.parameters - op.param_bytes;
    return memory;
  }
  // param_bytes are the weights in the op's dtype; the optimizer says what else each one costs.
  const double element = size_in_bytes(op.dtype);
  const double count = op.param_bytes / element;
  const ParameterBytes per = bytes_per_parameter(options_.optimizer, op.dtype, options_.custom_bytes_per_parameter);
  memory.parameter_parts = {count * per.weights, count * per.gradients, count * per.optimizer};
  memory.parameters = memory.parameter_parts.total();
  return memory;
}

OPPLAN_END_NAMESPACE
