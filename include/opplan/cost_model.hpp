// CostModel: how long things take and how much memory they use. Every planning step asks the cost
// model and nothing else, so a framework can plug in its own measurements.
//
// Extension: subclass CostModel (every method), or subclass AnalyticCostModel and override only
// what you measure. Planners take a `const CostModel&` and do not take ownership; the object must
// outlive the call. Methods are const and may be called concurrently from several threads, so an
// implementation must not mutate shared state without its own synchronisation.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/graph.hpp>
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

// The default model.
//  - Compute (roofline): max(flops / (peak_flops * compute_efficiency),
//                            bytes / (memory_bandwidth * memory_efficiency)) + launch_overhead.
//    A phase with no flops and no bytes takes no time (no launch either).
//    A measured `PhaseCost::seconds` overrides this on every device.
//  - Point-to-point: alpha + beta * bytes over Cluster::link(src, dst).
//  - Collectives on n devices, as ring algorithms limited by the slowest link of the ring
//    (alpha, beta = the largest alpha and beta between consecutive group members):
//      all-reduce      alpha + beta * 2 (n-1)/n * bytes
//      all-gather      alpha + beta *   (n-1)/n * bytes
//      reduce-scatter  alpha + beta *   (n-1)/n * bytes
//      all-to-all      alpha + beta *   (n-1)/n^2 * bytes * all_to_all_congestion(n)
//    with all_to_all_congestion(n) = max(1, n/2) when Options::alpa_all_to_all_penalty (Alpa's
//    penalty for V100 NVLink), else 1.
//  - Memory: parameters = param_bytes * param_memory_factor; activations = activation_bytes.
// Programming errors throw: negative or NaN bytes, num_shards < 1, an empty mesh or group, a
// device repeated in a group (std::invalid_argument), a device id not in the cluster
// (std::out_of_range).
class OPPLAN_EXPORT AnalyticCostModel : public CostModel {
 public:
  struct Options {
    double compute_efficiency = 0.5;    // fraction of peak FLOP/s reached by real kernels, (0, 1]
    double memory_efficiency = 0.8;     // fraction of peak memory bandwidth reached, (0, 1]
    double launch_overhead = 5e-6;      // seconds added to every non-empty phase, >= 0
    // Bytes of memory per byte of parameters: 1 = weights only; 2 adds gradients; mixed-precision
    // Adam (fp16 weights + grads, fp32 master, momentum, variance) is 8.
    double param_memory_factor = 1.0;  // finite, > 0
    bool alpa_all_to_all_penalty = false;

    // False, with a message naming the field, when a value is out of range.
    bool IsValid(std::string* error) const;
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

 private:
  Options options_;
};

OPPLAN_END_NAMESPACE
