// The default cost model: roofline compute, alpha-beta links, ring collectives (Alpa's formulas,
// shared/reference/alpa.md section 1). Planners call op_time and collective_time in their
// innermost loops, so these do no allocation (except the duplicate check of a large group).
#include <opplan/cost_model.hpp>

#include <algorithm>
#include <cmath>
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
  if (!(launch_overhead >= 0) || std::isinf(launch_overhead))
    add(fmt::format("launch_overhead must be finite and >= 0 seconds (is {})", launch_overhead));
  if (!(param_memory_factor > 0) || std::isinf(param_memory_factor))
    add(fmt::format("param_memory_factor must be finite and > 0 (is {})", param_memory_factor));
  if (error) *error = problems;
  return problems.empty();
}

AnalyticCostModel::AnalyticCostModel() : AnalyticCostModel(Options{}) {}

AnalyticCostModel::AnalyticCostModel(const Options& options) : options_(options) {
  std::string error;
  if (!options_.IsValid(&error)) throw std::invalid_argument("opplan::AnalyticCostModel: " + error);
}

namespace {

// Roofline time of `flops` and `bytes` on one device; the launch overhead only when there is work.
double roofline(double flops, double bytes, const Device& device, const AnalyticCostModel::Options& o) {
  if (flops == 0 && bytes == 0) return 0;
  // Guarded so that a zero amount on a device with a zero rating is 0, not 0/0 = NaN.
  const double compute = flops == 0 ? 0 : flops / (device.peak_flops * o.compute_efficiency);
  const double memory = bytes == 0 ? 0 : bytes / (device.memory_bandwidth * o.memory_efficiency);
  return std::max(compute, memory) + o.launch_overhead;
}

}  // namespace

double AnalyticCostModel::op_time(const Op& op, Phase phase, const Device& device) const {
  const PhaseCost& cost = op.cost(phase);
  if (cost.seconds) return *cost.seconds;
  return roofline(cost.flops, cost.bytes, device, options_);
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
  double slowest = 0;
  for (DeviceId id : mesh.devices)
    slowest = std::max(slowest, roofline(cost.flops / shards, cost.bytes / shards, cluster.device(id), options_));
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

  // A ring moves data at the pace of its slowest hop, including the hop from the last member back
  // to the first.
  Link slowest;
  for (std::size_t i = 0; i < size; ++i) {
    const Link l = cluster.link(group[i], group[(i + 1) % size]);
    slowest.alpha = std::max(slowest.alpha, l.alpha);
    slowest.beta = std::max(slowest.beta, l.beta);
  }
  const double n = static_cast<double>(size);
  double volume = 0;  // bytes each device sends over its ring hop
  switch (collective) {
    case Collective::kAllReduce: volume = 2 * (n - 1) / n * bytes; break;
    case Collective::kAllGather:
    case Collective::kReduceScatter: volume = (n - 1) / n * bytes; break;
    case Collective::kAllToAll: {
      const double congestion = options_.alpa_all_to_all_penalty ? std::max(1.0, n / 2) : 1.0;
      volume = (n - 1) / (n * n) * bytes * congestion;
      break;
    }
    default:
      throw std::invalid_argument(fmt::format("opplan::AnalyticCostModel::collective_time: unknown collective {}",
                                              static_cast<int>(collective)));
  }
  return slowest.alpha + slowest.beta * volume;
}

OpMemory AnalyticCostModel::op_memory(const Op& op) const {
  return OpMemory{op.param_bytes * options_.param_memory_factor, op.activation_bytes};
}

OPPLAN_END_NAMESPACE
