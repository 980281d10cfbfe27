// The cost of every clustered layer on every candidate mesh.
//
// Alpa compiles and profiles every (span of layers, submesh, logical mesh): O(L^2) intra-op
// plans per mesh, which is why its search takes 40 minutes on GPT-3 39B. Here each *layer* is
// planned once per candidate with shard() and a stage's latency and memory are the sums over its
// layers: O(L) plans per mesh, and identical layers (same ops, costs, annotations and internal
// edges: the repeated blocks of every zoo model) are planned once. What the sum leaves out is the
// resharding between two layers of one stage whose plans disagree on the boundary tensor's layout;
// the boundary is the layer's narrowest cut (cluster_layers), and each layer's inputs may take any
// layout for free (see `input_placeholder`), as Alpa ignores cross-mesh resharding.
//
// Gradients accumulate over the B micro-batches of an iteration and are all-reduced once, so each
// layer is planned with its parameter-gradient all-reduce charged at 1 / B (weight_sync_scale): a
// stage's per-micro-batch latency carries its share of the once-per-iteration synchronisation.
// With gradient buckets (StageOptions::gradient_bucket_bytes) each op's gradient is priced at its
// share of a full bucket's all-reduce, and every layer cost records its synchronisation (seconds,
// bytes per mesh axis) and its backward compute, so that plan_stages can charge a span of layers
// only what its backward does not hide.
//
// Two shardings per (layer, mesh): the fastest (no memory limit) and, when it holds more, the
// fastest of those with the least memory; the stage DP picks whichever fits (1F1B condition).
// Memory is split into parameters and per-micro-batch activations by pricing the same plan with
// a cost model whose op_memory reports activations only.
//
// Recomputation needs two more figures per (layer, mesh, sharding). The forward seconds: the
// forward phase of every op with its chosen number of shards (CostModel::sharded_op_time), plus
// the collectives and resharding of the forward alone, read from the same plan on a copy of the
// layer whose ops have no input- or weight-gradient work (its strategies then carry only forward
// collectives and its edges only forward resharding; the parameter-gradient all-reduce, which it
// still lists, is subtracted). The kept inputs: every outside producer's tensor once (the largest
// of its edges into the layer), divided by the pieces its placeholder's chosen layout cuts it into
// (the layout the tensor arrives and is stored in; replicated, hence undivided, when unknown).
#include "stages/layer_costs.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace stages_detail {

namespace {

// Delegates everything but memory, which it reports without parameters.
class ActivationsOnly final : public CostModel {
 public:
  explicit ActivationsOnly(const CostModel& base) : base_(base) {}
  double op_time(const Op& op, Phase phase, const Device& device) const override { return base_.op_time(op, phase, device); }
  double sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh, int shards) const override {
    return base_.sharded_op_time(op, phase, cluster, mesh, shards);
  }
  double transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const override {
    return base_.transfer_time(cluster, src, dst, bytes);
  }
  double collective_time(const Cluster& cluster, Collective c, const std::vector<DeviceId>& group, double bytes) const override {
    return base_.collective_time(cluster, c, group, bytes);
  }
  OpMemory op_memory(const Op& op) const override {
    OpMemory m = base_.op_memory(op);
    m.parameters = 0;
    return m;
  }

 private:
  const CostModel& base_;
};

// A stand-in for a producer in an earlier layer: same output tensor, no cost, and an identity
// annotation so that it can hand its tensor over in whatever layout the consumer wants. It is not
// the producer: under the producer's own name a cost model that looks ops up by name
// (ProfiledCostModel) would charge the producer's measured time to every consumer layer again.
Op input_placeholder(const Op& producer, const std::set<std::string_view>& taken) {
  Op op;
  op.name = producer.name + " (input)";
  while (taken.count(op.name)) op.name += "'";
  op.kind = "input";
  op.shape = producer.shape;
  op.dtype = producer.dtype;
  if (!producer.shape.empty()) {
    std::string names;
    for (std::size_t i = 0; i < producer.shape.size(); ++i) names += fmt::format("{}d{}", i ? " " : "", i);
    op.dims = names + " -> " + names;
  }
  return op;
}


// Everything shard() reads, without names: identical layers get the same key. A cost model may
// still tell two such layers apart by name (a profile that measured each op): the ops' times on
// one device of each model in the cluster are part of the key.
std::string signature(const Graph& g, const CostModel& cost_model, const std::vector<const Device*>& models) {
  std::string key;
  for (OpId id : g.ops()) {
    const Op& op = g.op(id);
    key += fmt::format("{}|{}|{}|{}|{}|", op.kind, op.dims, fmt::join(op.shape, ","), static_cast<int>(op.dtype), op.group);
    for (Phase p : kAllPhases) {
      key += fmt::format("{:a},{:a},{};", op.cost(p).flops, op.cost(p).bytes, op.cost(p).seconds ? *op.cost(p).seconds : -1.0);
      for (const Device* d : models) key += fmt::format("{:a};", cost_model.op_time(op, p, *d));
    }
    const auto owner = op.params_from.empty() ? std::nullopt : g.find_op(op.params_from);
    key += fmt::format("{:a}|{:a}|{}\n", op.param_bytes, op.activation_bytes, owner ? static_cast<long>(owner->value()) : -1L);
  }
  for (EdgeId e : g.edges()) key += fmt::format("{}>{}:{:a}\n", g.edge(e).src.value(), g.edge(e).dst.value(), g.edge(e).bytes);
  return key;
}

// The layer with only its forward work: same ops, annotations, shapes and edges, so the same
// strategies in the same order, but no gradient phases and therefore no backward collectives.
Graph forward_only(const Graph& sub) {
  Graph g = sub;
  for (OpId id : g.ops()) {
    Op& op = g.mutable_op(id);
    op.input_grad = PhaseCost{};
    op.weight_grad = PhaseCost{};
  }
  return g;
}

bool same_strategies(const ShardingProblem& a, const ShardingProblem& b) {
  if (a.strategies.size() != b.strategies.size() || a.resharding.size() != b.resharding.size()) return false;
  for (std::size_t i = 0; i < a.strategies.size(); ++i) {
    if (a.strategies[i].size() != b.strategies[i].size()) return false;
    for (std::size_t k = 0; k < a.strategies[i].size(); ++k)
      if (a.strategies[i][k].name != b.strategies[i][k].name || a.strategies[i][k].num_shards != b.strategies[i][k].num_shards)
        return false;
  }
  for (std::size_t e = 0; e < a.resharding.size(); ++e)
    if (a.resharding[e].size() != b.resharding[e].size()) return false;
  return true;
}

std::vector<int> choice_of(const ShardingPlan& plan) {
  std::vector<int> choice;
  choice.reserve(plan.ops.size());
  for (const OpSharding& op : plan.ops) choice.push_back(op.strategy);
  return choice;
}

}  // namespace

// The layer's ops, then placeholders for outside producers, then the edges into the layer in the
// original edge-id order (lib/sharding binds in-edges to operands by edge id).
Graph layer_graph(const Graph& graph, const std::vector<OpId>& ops, int index) {
  Graph sub(fmt::format("{}.layer{}", graph.name(), index));
  std::map<std::uint32_t, OpId> local;
  std::set<std::string_view> names;
  for (OpId id : ops) names.insert(graph.op(id).name);
  for (OpId id : ops) {
    Op op = graph.op(id);
    // A tied weight whose owner is in another layer arrives like an input (its gradient goes back
    // to the owner's stage), so no alias constraint holds inside this layer.
    if (!op.params_from.empty() && !names.count(op.params_from)) op.params_from.clear();
    local.emplace(id.value(), sub.add_op(std::move(op)));
  }
  std::map<std::uint32_t, OpId> placeholder;
  std::vector<EdgeId> edges;
  for (OpId id : ops)
    for (EdgeId e : graph.in_edges(id)) edges.push_back(e);
  std::sort(edges.begin(), edges.end());
  for (EdgeId e : edges) {
    const Edge& edge = graph.edge(e);
    if (!local.count(edge.src.value()) && !placeholder.count(edge.src.value()))
      placeholder.emplace(edge.src.value(), sub.add_op(input_placeholder(graph.op(edge.src), names)));
  }
  for (EdgeId e : edges) {
    const Edge& edge = graph.edge(e);
    auto it = local.find(edge.src.value());
    const OpId src = it != local.end() ? it->second : placeholder.at(edge.src.value());
    sub.add_edge(src, local.at(edge.dst.value()), edge.bytes);
  }
  return sub;
}

std::vector<Candidate> make_candidates(const Cluster& cluster, int hosts, int per_host,
                                       const std::vector<SubmeshShape>& only, bool all_logical) {
  std::vector<SubmeshShape> shapes;
  for (int d = 1; d <= per_host; d *= 2)
    if (per_host % d == 0) shapes.push_back({1, d});
  if (shapes.back().devices != per_host) shapes.push_back({1, per_host});
  // Multi-host shapes in powers of two (Alpa's default) and the whole cluster: few enough that
  // the DP's table stays small on large clusters; whole nodes always tile.
  for (int h = 2; h < hosts; h *= 2) shapes.push_back({h, per_host});
  if (hosts > 1) shapes.push_back({hosts, per_host});
  std::vector<Candidate> out;
  for (const SubmeshShape& shape : shapes) {
    if (!only.empty() && std::find(only.begin(), only.end(), shape) == only.end()) continue;
    std::vector<DeviceId> devices;
    for (int h = 0; h < shape.hosts; ++h) {
      const auto node = cluster.node_devices(h);
      devices.insert(devices.end(), node.begin(), node.begin() + shape.devices);
    }
    const int n = shape.size();
    for (int rows = 1; rows <= n; ++rows) {
      if (n % rows != 0) continue;
      if (!all_logical && rows != shape.hosts) continue;
      Candidate c;
      c.shape = shape;
      c.mesh.rows = rows;
      c.mesh.cols = n / rows;
      c.mesh.name = fmt::format("{}x{}", rows, n / rows);
      c.mesh.devices = devices;
      out.push_back(std::move(c));
    }
  }
  return out;
}

Result<CostTable> cost_layers(const Graph& graph, const std::vector<std::vector<OpId>>& layers, const Cluster& cluster,
                              const CostModel& cost_model, const std::vector<Candidate>& candidates,
                              const ShardingOptions& sharding, double weight_sync_scale,
                              double gradient_bucket_bytes, const std::function<bool()>& halt) {
  const auto halted = [&] { return halt && halt(); };
  CostTable table;
  table.cost.resize(layers.size());
  const ActivationsOnly activations_only(cost_model);
  ShardingOptions fastest = sharding;
  fastest.memory_budget = kInf;
  fastest.weight_sync_scale = weight_sync_scale;
  fastest.gradient_bucket_bytes = gradient_bucket_bytes;
  fastest.mps_file.clear();
  std::map<std::string, std::size_t> planned;  // signature -> the first layer with it
  std::vector<const Device*> models;               // one device of each model
  {
    std::set<std::string> seen;
    for (DeviceId d : cluster.devices())
      if (seen.insert(cluster.device(d).model).second) models.push_back(&cluster.device(d));
  }
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const Graph sub = layer_graph(graph, layers[l], static_cast<int>(l));
    const std::string key = signature(sub, cost_model, models);
    if (auto it = planned.find(key); it != planned.end()) {
      table.cost[l] = table.cost[it->second];
      continue;
    }
    planned.emplace(key, l);
    const Graph forward_sub = forward_only(sub);
    auto& row = table.cost[l];
    row.resize(candidates.size());
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      if (halted()) return Status(StatusCode::kFailedPrecondition, "halted");
      const Mesh& mesh = candidates[c].mesh;
      auto problem = build_sharding_problem(sub, cluster, mesh, cost_model);
      if (!problem.ok()) return problem.status();
      auto acts = build_sharding_problem(sub, cluster, mesh, activations_only);
      if (!acts.ok()) return acts.status();
      auto forward_problem = build_sharding_problem(forward_sub, cluster, mesh, cost_model);
      // Should lib/sharding ever derive different strategies without gradients, the forward
      // share falls back to compute alone.
      const bool forward_comm = forward_problem.ok() && same_strategies(*problem, *forward_problem);
      auto price = [&](const ShardingPlan& plan) {
        LayerCost cost;
        const auto choice = choice_of(plan);
        cost.latency = plan.objective;
        cost.weight_sync = plan.weight_sync_seconds;
        cost.activations = acts->memory(choice);
        cost.parameters = std::max(0.0, problem->memory(choice) - cost.activations);
        for (OpId id : sub.ops()) {
          const std::size_t i = id.value();
          cost.forward += cost_model.sharded_op_time(sub.op(id), Phase::kForward, cluster, mesh, plan.ops[i].chosen.num_shards);
          for (Phase phase : {Phase::kInputGrad, Phase::kWeightGrad})
            cost.backward += cost_model.sharded_op_time(sub.op(id), phase, cluster, mesh, plan.ops[i].chosen.num_shards);
          for (std::size_t axis = 0; axis < 2; ++axis) cost.sync_bytes[axis] += plan.ops[i].chosen.weight_sync_bytes[axis];
          if (forward_comm) {
            const ShardingStrategy& f = forward_problem->strategies[i][static_cast<std::size_t>(choice[i])];
            cost.forward += std::max(0.0, f.communication_seconds - f.weight_sync_seconds);
          }
        }
        if (forward_comm)
          for (EdgeId e : sub.edges()) {
            const std::size_t src = sub.edge(e).src.value(), dst = sub.edge(e).dst.value();
            cost.forward += forward_problem->resharding[e.value()][static_cast<std::size_t>(choice[src]) *
                                                                        forward_problem->strategies[dst].size() +
                                                                    static_cast<std::size_t>(choice[dst])];
          }
        for (std::size_t i = layers[l].size(); i < sub.num_ops(); ++i) {  // the placeholders
          double bytes = 0;
          for (EdgeId e : sub.out_edges(OpId(static_cast<std::uint32_t>(i)))) bytes = std::max(bytes, sub.edge(e).bytes);
          cost.inputs += bytes / plan.ops[i].chosen.output.num_tiles(mesh.rows, mesh.cols);
        }
        return cost;
      };
      auto fast = shard(sub, cluster, mesh, cost_model, fastest);
      ++table.shard_calls;
      if (!fast.ok()) return Status(fast.status().code(), fmt::format("layer {} on a {} mesh: {}", l, mesh.name, fast.status().message()));
      row[c][kFastest] = price(*fast);
      row[c][kLeastMemory] = row[c][kFastest];
      const double minimum = ShardingFormulation(sub, *problem, fastest).minimum_memory();
      if (fast->memory_bytes > minimum * (1 + 1e-6)) {
        ShardingOptions lean = fastest;
        lean.memory_budget = minimum;
        auto least = shard(sub, cluster, mesh, cost_model, lean);
        ++table.shard_calls;
        if (least.ok()) row[c][kLeastMemory] = price(*least);
      }
    }
  }
  return table;
}

}  // namespace stages_detail
OPPLAN_END_NAMESPACE
