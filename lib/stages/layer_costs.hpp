// Private: the cost of every clustered layer on every candidate (submesh, logical mesh), from the
// intra-op sharding planner. See layer_costs.cpp for why layers are planned one at a time.
#pragma once

#include <functional>

#include <array>
#include <cstddef>
#include <vector>

#include <opplan/stages.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace stages_detail {

// A submesh shape with one logical view, placed on canonical devices (the first `hosts` nodes,
// the first `devices` devices of each) for costing.
struct Candidate {
  SubmeshShape shape;
  Mesh mesh;  // rows x cols over the canonical devices
};

// One layer on one candidate with one sharding: the fastest plan, or the least-memory one.
struct LayerCost {
  double latency = 0;     // seconds per micro-batch (F + b + W, communication, resharding)
  double parameters = 0;  // bytes per device
  double activations = 0; // bytes per device per micro-batch in flight
  // Recomputation: the seconds its forward takes again in the backward (forward compute of the
  // chosen strategies, their forward collectives and forward resharding on the layer's edges), and
  // the bytes per device per micro-batch it then keeps: its input tensors (each producer's tensor
  // once, divided by the pieces the plan cuts it into; see layer_costs.cpp).
  double forward = 0;
  double inputs = 0;
  // Gradient synchronisation, for the stage to overlap it with its backward: the seconds of the
  // plan's parameter-gradient all-reduces per iteration at full cost (latency carries them times
  // weight_sync_scale), the bytes they reduce along each mesh axis, and the seconds of the
  // backward compute (input and weight gradients of the chosen shardings) per micro-batch.
  double weight_sync = 0;
  std::array<double, 2> sync_bytes{};
  double backward = 0;
};

enum Variant : int { kFastest = 0, kLeastMemory = 1 };

struct CostTable {
  // cost[layer][candidate][variant]
  std::vector<std::vector<std::array<LayerCost, 2>>> cost;
  std::size_t shard_calls = 0;
};

// The subgraph of `ops` that shard() can plan alone: the ops, a placeholder "input" op for every
// outside producer, and the edges into the ops in the original edge-id order (lib/sharding binds
// in-edges to operands by edge id). Its first ops are `ops`, in order.
Graph layer_graph(const Graph& graph, const std::vector<OpId>& ops, int index);

// Alpa's submesh shapes for `hosts` nodes of `per_host` devices with every (or only the physical)
// logical view.
std::vector<Candidate> make_candidates(const Cluster& cluster, int hosts, int per_host,
                                       const std::vector<SubmeshShape>& only, bool all_logical);

Result<CostTable> cost_layers(const Graph& graph, const std::vector<std::vector<OpId>>& layers, const Cluster& cluster,
                              const CostModel& cost_model, const std::vector<Candidate>& candidates,
                              const ShardingOptions& sharding, double weight_sync_scale,
                              double gradient_bucket_bytes, const std::function<bool()>& halt = {});

}  // namespace stages_detail
OPPLAN_END_NAMESPACE
