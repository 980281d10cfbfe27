// Private: what every layer of a Graph costs per micro-batch on one device of one pipeline rank
// under a ParallelConfig (tensor, sequence, context and expert parallelism, recomputation). The
// rules are stated in include/opplan/evaluate.hpp and docs/evaluate.md; every time comes from the
// CostModel, on the rank's own devices and groups.
#pragma once

#include <string>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/parallel_config.hpp>
#include <opplan/status.hpp>
#include <opplan/training.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace configs_detail {

// How tensor parallelism treats one op.
enum class TpRole : std::uint8_t {
  kReplicated,  // whole on every TP rank (split along the sequence with SP)
  kColumn,      // weighted, whole input: weight columns split, output split
  kRow,         // weighted, split input: weight rows split, output all-reduced
  kSplit,       // no weights, an input split: runs on its slice (heads, FFN columns)
  kVocab,       // embedding split by vocabulary: output all-reduced
};

struct OpRole {
  TpRole tp = TpRole::kReplicated;
  bool expert = false;  // split by expert parallelism
  bool core = false;    // attention core: what selective recomputation drops
};

// The ops of the graph in groups: the ops before the first layer (`pre`), each tagged layer (with
// any untagged op that follows it before the next layer), and the ops after the last layer.
struct GraphLayout {
  std::vector<OpId> order;  // topological
  std::vector<OpRole> roles;  // by OpId
  std::vector<OpId> pre, post;
  std::vector<std::vector<OpId>> layers;
  std::vector<std::string> layer_names;
  DType dtype = DType::kF32;  // the dtype of most FLOPs
  double boundary_bytes = 0;  // the largest tensor between two layers, per micro-batch of the graph
};

// Fails naming the op when TP does not divide its heads / columns.
Result<GraphLayout> layout_graph(const Graph& graph, int tp);

// Costs per micro-batch, per device, for a group of ops on one pipeline rank.
struct UnitCost {
  double forward = 0, input_grad = 0, weight_grad = 0;  // compute, seconds
  double recompute = 0;                                 // forward run again in the backward
  double tp_forward = 0, tp_backward = 0;               // tensor-parallel collectives
  double cp_forward = 0, cp_backward = 0;               // context-parallel exchange
  double ep_forward = 0, ep_backward = 0;               // expert all-to-all
  double activations = 0;                               // kept per micro-batch, with the policy
  double full_activations = 0;                          // without recomputation
  double largest_layer = 0;  // the most full activations of one layer (what full recomputation rebuilds at once)
  ParameterBytes params;                                // per device (TP / EP split, before ZeRO)
  ParameterBytes expert_params;  // the part of `params` in expert ops: ZeRO shards it over DP / EP ranks only
  double weight_bytes = 0;                              // the weights alone (ZeRO-3 gathers)
  double largest_tensor = 0;                            // the largest op output per device
  double flops = 0;                                     // model FLOPs of one micro-batch, whole
  double recompute_flops = 0;

  UnitCost& operator+=(const UnitCost& o);
  // Each time of `o` where it is longer (the same stage costed on two devices: the slower sets it).
  void take_slower_times(const UnitCost& o);
};

// One pipeline rank's view: its distinct devices and its groups.
struct RankContext {
  std::vector<const Device*> device_kinds;  // one device of each distinct kind in the rank
  std::vector<DeviceId> tp_group, cp_group, ep_group;
};

// The cost of `ops` (one layer, or the pre / post ops) scaled from the graph's batch to the
// configuration's micro-batch (`scale`), on `rank`. `full_layer` says the ops are one layer that
// full recomputation reruns.
UnitCost cost_unit(const Graph& graph, const GraphLayout& layout, const std::vector<OpId>& ops, bool full_layer,
                   const ParallelConfig& config, double scale, const Cluster& cluster, const CostModel& cost_model,
                   const RankContext& rank);

}  // namespace configs_detail
OPPLAN_END_NAMESPACE
