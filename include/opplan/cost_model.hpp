// CostModel: how long things take and how much memory they use. Every planning step asks the cost
// model and nothing else, so a framework can plug in its own measurements.
//
// Extension: subclass CostModel (every method), or subclass AnalyticCostModel and override only
// what you measure. Planners take a `const CostModel&` and do not take ownership; the object must
// outlive the call. Methods are const and may be called concurrently from several threads, so an
// implementation must not mutate shared state without its own synchronisation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/graph.hpp>
#include <opplan/training.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

enum class Collective : std::uint8_t { kAllReduce, kAllGather, kReduceScatter, kAllToAll };
// "all_reduce", "all_gather", "reduce_scatter", "all_to_all".
OPPLAN_EXPORT const char* to_string(Collective collective);
OPPLAN_EXPORT std::optional<Collective> parse_collective(std::string_view name);

// Memory an op holds on the device that runs it (unsharded, one micro-batch).
struct OpMemory {
  double parameters = 0;   // parameters plus their gradients and optimizer state
  double activations = 0;  // kept from forward to backward, per micro-batch in flight
  double total() const { return parameters + activations; }
  // What `parameters` is made of (informative; weights + gradients + optimizer == parameters
  // for the analytic model).
  ParameterBytes parameter_parts;
};

class OPPLAN_EXPORT CostModel {
 public:
  virtual ~CostModel();

  // Seconds for one phase of one op (one micro-batch) on one device.
  virtual double op_time(const Op& op, Phase phase, const Device& device) const = 0;

  // Seconds for one phase of an op split evenly into `num_shards` pieces run in parallel on the
  // devices of `mesh` (communication not included: that is the sharding plan's collectives).
  virtual double sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                                 int num_shards) const = 0;

  // Seconds to send `bytes` from src to dst (0 when src == dst). A message of 0 bytes between two
  // devices still costs the link's latency: it is a synchronisation.
  virtual double transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const = 0;

  // Seconds for a collective over `group`, where `bytes` is the size of the full buffer each
  // device contributes (all-reduce, reduce-scatter, all-to-all) or ends up with (all-gather).
  // 0 for a group of one device.
  virtual double collective_time(const Cluster& cluster, Collective collective,
                                 const std::vector<DeviceId>& group, double bytes) const = 0;

  // Memory the op holds on the device that runs it.
  virtual OpMemory op_memory(const Op& op) const = 0;
};

// How collectives are priced.
enum class CollectiveModel : std::uint8_t {
  // As NCCL runs them: a ring inside a node over NVLink / NVSwitch, and across nodes one ring per
  // NIC (rails: every GPU of a node has its own NIC), so a group with k members on each node
  // crosses nodes at k times one GPU's share of the network; bus bandwidth below link bandwidth
  // (Options::*_bus_efficiency); one latency per ring step, intra- or inter-node.
  kNccl,
  // Alpa's flat ring limited by its slowest hop at full link bandwidth (the model before kNccl).
  kRing,
};

// The default model.
//  - Compute (roofline): max(flops / (peak * efficiency), bytes / (memory_bandwidth *
//    memory_efficiency)) + launch_overhead, where peak = Device::peak_for(op.dtype, allow_tf32)
//    and, for matrix products ("matmul", "batch_matmul", "conv", "linear") with an output shape,
//    efficiency = compute_efficiency * M/(M+d) * N/(N+d) * K/(K+d) with d = efficiency_half_dim,
//    N the output's last dimension (channels for a 4-D conv), M the rest of the output, K =
//    forward FLOPs / (2 M N): a thin shard or a small matmul runs further below peak than a large
//    one. Other ops run at compute_efficiency. A phase with no flops and no bytes takes no time.
//    A measured `PhaseCost::seconds` overrides this on every device.
//  - Point-to-point: alpha + beta * bytes over Cluster::link(src, dst).
//  - Collectives on n devices, `bytes` per device as in CostModel::collective_time, with a bus
//    bandwidth bw and per-step latency (CollectiveModel):
//      all-reduce      2 (n-1)/n * bytes / bw + 2 * latency
//      all-gather      (n-1)/n * bytes / bw + latency
//      reduce-scatter  (n-1)/n * bytes / bw + latency
//      all-to-all      (n-1)/n^2 * bytes * all_to_all_congestion(n) / bw' + latency
//    kNccl: bw = min(nvlink_bus_efficiency / intra beta, network_bus_efficiency * k / inter beta)
//    with k the fewest members the group has on one of its nodes (the first term alone inside one
//    node), latency = (k-1) intra alpha + (nodes-1) inter alpha; all-to-all sends the share
//    bound for other nodes over one GPU's network share (bw' weighs both). kRing: bw = 1 / the
//    slowest hop's beta, latency = its alpha. all_to_all_congestion(n) = max(1, n/2) when
//    Options::alpa_all_to_all_penalty (Alpa's penalty for V100 NVLink), else 1.
//  - Memory: parameters = param elements (param_bytes / the op dtype's size) *
//    bytes_per_parameter(optimizer, op dtype) (16 bytes for Adam), or param_bytes *
//    param_memory_factor when that is set; activations = activation_bytes.
// Programming errors throw: negative or NaN bytes, num_shards < 1, an empty mesh or group, a
// device repeated in a group (std::invalid_argument), a device id not in the cluster
// (std::out_of_range).
class OPPLAN_EXPORT AnalyticCostModel : public CostModel {
 public:
  struct Options {
    // Fraction of the dtype's peak FLOP/s a large matrix product reaches, (0, 1]. Calibrated
    // against measured training runs (docs/calibration.md); one value for every GPU type.
    double compute_efficiency = 0.72;
    // Per GPU generation: devices whose Device::model contains the name reach this fraction
    // instead (the first match wins). Hopper's doubled tensor-core peak is harder to feed: the
    // measured Megatron-Core runs reach 41-49 % MFU on H100 where Megatron-LM reached 44-56 % on
    // A100 with the same software design (docs/calibration.md).
    std::vector<std::pair<std::string, double>> device_efficiency = {{"H100", 0.6}, {"H800", 0.6}};
    double memory_efficiency = 0.8;     // fraction of peak memory bandwidth reached, (0, 1]
    double launch_overhead = 5e-6;      // seconds added to every non-empty phase, >= 0
    // A matmul dimension of d elements reaches d / (d + efficiency_half_dim) of
    // compute_efficiency; 0 turns the shape model off. >= 0.
    double efficiency_half_dim = 64;
    // fp32 matmuls run on tf32 tensor cores (PyTorch's allow_tf32) where the device has them.
    bool allow_tf32 = false;
    // Training memory per parameter: the optimizer's bytes (training.hpp), Adam by default.
    Optimizer optimizer = Optimizer::kAdam;
    double custom_bytes_per_parameter = 0;  // for Optimizer::kCustom, >= 0
    // Explicit bytes of memory per byte of parameters, replacing the optimizer's count; 0 = use
    // the optimizer (default). Finite, >= 0.
    double param_memory_factor = 0;
    CollectiveModel collective_model = CollectiveModel::kNccl;
    // NCCL's bus bandwidth as a fraction of the link's: over NVLink / NVSwitch, and over the
    // network (kNccl only), (0, 1].
    double nvlink_bus_efficiency = 0.8;
    double network_bus_efficiency = 0.72;
    bool alpa_all_to_all_penalty = false;

    // Per-dtype peaks (Device::peak_for); false = Device::peak_flops for every dtype.
    bool dtype_peaks = true;

    // False, with a message naming the field, when a value is out of range.
    bool IsValid(std::string* error) const;

    // The model of Alpa's paper (shared/reference/alpa.md section 1), which opplan used before it
    // was calibrated: every op at half of Device::peak_flops whatever its dtype and shape, Alpa's
    // flat ring collectives at full link bandwidth, parameters counted as weights only. Tests of
    // planning logic that reproduce Alpa's figures use it.
    static Options Alpa() {
      Options o;
      o.compute_efficiency = 0.5;
      o.efficiency_half_dim = 0;
      o.device_efficiency.clear();
      o.param_memory_factor = 1;
      o.collective_model = CollectiveModel::kRing;
      o.dtype_peaks = false;
      return o;
    }
  };

  AnalyticCostModel();
  // Throws std::invalid_argument when !options.IsValid().
  explicit AnalyticCostModel(const Options& options);

  const Options& options() const { return options_; }

  double op_time(const Op& op, Phase phase, const Device& device) const override;
  double sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                         int num_shards) const override;
  double transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const override;
  double collective_time(const Cluster& cluster, Collective collective, const std::vector<DeviceId>& group,
                         double bytes) const override;
  OpMemory op_memory(const Op& op) const override;

  // The fraction of the dtype's peak that `op` reaches on its FLOPs (compute_efficiency times the
  // shape factor), with `shards` pieces of its largest matrix dimension per device.
  double matmul_efficiency(const Op& op, int shards = 1) const;
  // device_efficiency of this device's model over compute_efficiency (1 without a match).
  double device_factor(const Device& device) const;
  // The peak FLOP/s `device` computes `dtype` at under these options.
  double peak(const Device& device, DType dtype) const;

 private:
  Options options_;
};

OPPLAN_END_NAMESPACE
