// Per-layer costs under a parallel configuration: Megatron-LM's tensor-parallel rule applied to
// the graph, sequence / context / expert parallelism and recomputation. See layer_profile.hpp.
#include "configs/layer_profile.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace configs_detail {

namespace {

bool is_matrix_product(const Op& op) {
  return op.kind == "matmul" || op.kind == "linear" || op.kind == "conv" || op.kind == "batch_matmul";
}
bool has_weights(const Op& op) { return op.param_bytes > 0 || !op.params_from.empty(); }

// The output part of a dimension annotation ("b s h, h o -> b s o" -> "b s o").
std::string_view output_dims(const Op& op) {
  std::string_view d = op.dims;
  const auto arrow = d.find("->");
  if (arrow == std::string_view::npos) return {};
  d = d.substr(arrow + 2);
  while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
  return d;
}
// An expert op: its output is expert-major ("e g c h"); a router's output names experts last.
bool expert_major(const Op& op) {
  const std::string_view out = output_dims(op);
  return out.size() >= 1 && out[0] == 'e' && (out.size() == 1 || out[1] == ' ');
}
bool names_experts(const Op& op) {
  const std::string_view out = output_dims(op);
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] == 'e' && (i == 0 || out[i - 1] == ' ') && (i + 1 == out.size() || out[i + 1] == ' ')) return true;
  return false;
}

}  // namespace

UnitCost& UnitCost::operator+=(const UnitCost& o) {
  forward += o.forward, input_grad += o.input_grad, weight_grad += o.weight_grad, recompute += o.recompute;
  tp_forward += o.tp_forward, tp_backward += o.tp_backward, cp_forward += o.cp_forward, cp_backward += o.cp_backward;
  ep_forward += o.ep_forward, ep_backward += o.ep_backward;
  activations += o.activations, full_activations += o.full_activations;
  params.weights += o.params.weights, params.gradients += o.params.gradients, params.optimizer += o.params.optimizer;
  expert_params.weights += o.expert_params.weights, expert_params.gradients += o.expert_params.gradients;
  expert_params.optimizer += o.expert_params.optimizer;
  weight_bytes += o.weight_bytes;
  largest_tensor = std::max(largest_tensor, o.largest_tensor);
  largest_layer = std::max(largest_layer, o.largest_layer);
  flops += o.flops, recompute_flops += o.recompute_flops;
  return *this;
}

void UnitCost::take_slower_times(const UnitCost& o) {
  for (auto field : {&UnitCost::forward, &UnitCost::input_grad, &UnitCost::weight_grad, &UnitCost::recompute,
                     &UnitCost::tp_forward, &UnitCost::tp_backward, &UnitCost::cp_forward, &UnitCost::cp_backward,
                     &UnitCost::ep_forward, &UnitCost::ep_backward})
    this->*field = std::max(this->*field, o.*field);
}

Result<GraphLayout> layout_graph(const Graph& graph, int tp) {
  GraphLayout layout;
  auto order = graph.topological_order();
  if (!order.ok()) return order.status();
  layout.order = std::move(*order);
  const std::size_t n = graph.num_ops();
  layout.roles.resize(n);
  std::vector<char> split(n, 0);  // the op's output is split by TP
  const std::int64_t seq = graph.sequence_length();
  std::map<DType, double> flops_by_dtype;
  std::vector<std::string> problems;
  for (OpId id : layout.order) {
    const Op& op = graph.op(id);
    OpRole& role = layout.roles[id.value()];
    flops_by_dtype[op.dtype] += op.forward.flops;
    bool input_split = false;
    for (OpId p : graph.predecessors(id)) input_split = input_split || split[p.value()];
    role.expert = expert_major(op);
    const auto& shape = op.shape;
    role.core = !has_weights(op) && seq > 1 && shape.size() == 4 && shape[2] == seq && shape[3] == seq;
    if (op.kind == "embedding") {
      role.tp = TpRole::kVocab;
    } else if (role.expert || (names_experts(op) && !input_split)) {
      role.tp = TpRole::kReplicated;  // experts go by EP; a router stays whole
    } else if (is_matrix_product(op) && has_weights(op)) {
      role.tp = input_split ? TpRole::kRow : TpRole::kColumn;
    } else {
      role.tp = input_split ? TpRole::kSplit : TpRole::kReplicated;
    }
    split[id.value()] = role.tp == TpRole::kColumn || role.tp == TpRole::kSplit;
    if (tp > 1 && !shape.empty()) {
      if (role.tp == TpRole::kColumn && shape.back() % tp != 0)
        problems.push_back(fmt::format("tp {} does not divide the {} output columns of op '{}'", tp, shape.back(), op.name));
      else if (role.tp == TpRole::kSplit && shape.size() == 4 && shape[1] % tp != 0)
        problems.push_back(fmt::format("tp {} does not divide the {} heads of op '{}'", tp, shape[1], op.name));
    }
  }
  if (!problems.empty()) {
    if (problems.size() > 3) problems.resize(3), problems.push_back("...");
    return Status(StatusCode::kInvalidArgument, fmt::format("tensor parallelism: {}", fmt::join(problems, "; ")));
  }
  layout.dtype = DType::kF32;
  double most = -1;
  for (const auto& [dtype, flops] : flops_by_dtype)
    if (flops > most) most = flops, layout.dtype = dtype;

  // Layers in the order their first op appears; untagged ops between layers join the one before.
  std::unordered_map<std::string, std::size_t> index;
  std::vector<OpId> pending;  // untagged ops since the last tagged one
  for (OpId id : layout.order) {
    const std::string& tag = graph.op(id).layer;
    if (tag.empty()) {
      pending.push_back(id);
      continue;
    }
    // Untagged ops seen since the last tagged one belong to the layer before them (or before
    // the first layer).
    auto& before = layout.layers.empty() ? layout.pre : layout.layers.back();
    before.insert(before.end(), pending.begin(), pending.end());
    pending.clear();
    auto [it, inserted] = index.try_emplace(tag, layout.layers.size());
    if (inserted) {
      layout.layers.emplace_back();
      layout.layer_names.push_back(tag);
    }
    layout.layers[it->second].push_back(id);
  }
  for (OpId p : pending) (layout.layers.empty() ? layout.pre : layout.post).push_back(p);

  // The tensor between two layers: the inputs a layer reads from outside, each producer once.
  for (const auto& layer : layout.layers) {
    std::unordered_map<std::uint32_t, double> from;  // producer -> largest edge into the layer
    std::unordered_map<std::uint32_t, bool> inside;
    for (OpId id : layer) inside[id.value()] = true;
    for (OpId id : layer)
      for (EdgeId e : graph.in_edges(id)) {
        const Edge& edge = graph.edge(e);
        if (inside.count(edge.src.value())) continue;
        double& b = from[edge.src.value()];
        b = std::max(b, edge.bytes);
      }
    double bytes = 0;
    for (const auto& [src, b] : from) bytes += b;
    layout.boundary_bytes = std::max(layout.boundary_bytes, bytes);
  }
  return layout;
}

namespace {

double scaled(double v, double s) { return v * s; }

void scale_phase(PhaseCost& c, double s) {
  c.flops = scaled(c.flops, s);
  c.bytes = scaled(c.bytes, s);
  if (c.seconds) *c.seconds = scaled(*c.seconds, s);
}

double slowest(const RankContext& rank, const CostModel& cm, const Op& op, Phase phase) {
  double t = 0;
  for (const Device* d : rank.device_kinds) t = std::max(t, cm.op_time(op, phase, *d));
  return t;
}

}  // namespace

UnitCost cost_unit(const Graph& graph, const GraphLayout& layout, const std::vector<OpId>& ops, bool full_layer,
                   const ParallelConfig& config, double scale, const Cluster& cluster, const CostModel& cm,
                   const RankContext& rank) {
  UnitCost u;
  const int tp = config.tp, cp = config.cp, ep = config.ep;
  const bool sp = config.sequence_parallel && tp > 1;
  const double s = scale / cp;  // per device of a context-parallel group
  const std::int64_t samples = graph.samples();
  auto coll = [&](Collective c, const std::vector<DeviceId>& group, double bytes) {
    return group.size() > 1 ? cm.collective_time(cluster, c, group, bytes) : 0.0;
  };
  std::unordered_map<std::uint32_t, bool> inside;
  for (OpId id : ops) inside[id.value()] = true;
  std::unordered_map<std::uint32_t, double> layer_inputs;  // full recomputation keeps these

  for (OpId id : ops) {
    const Op& op = graph.op(id);
    const OpRole& role = layout.roles[id.value()];
    Op o = op;  // the op for one micro-batch of the configuration, on one CP rank
    for (Phase ph : kAllPhases) scale_phase(o.cost(ph), s);
    // A fused attention kernel keeps the core's tensors on chip: no memory traffic for them.
    if (config.flash_attention && role.core)
      for (Phase ph : kAllPhases) o.cost(ph).bytes = 0;
    o.activation_bytes = scaled(op.activation_bytes, s);
    if (!o.shape.empty() && samples > 0 && o.shape[0] == samples)
      o.shape[0] = std::max<std::int64_t>(1, std::llround(static_cast<double>(samples) * scale));

    bool input_split = false;
    double input_bytes = 0;  // the largest input tensor
    for (EdgeId e : graph.in_edges(id)) {
      const Edge& edge = graph.edge(e);
      const OpRole& from = layout.roles[edge.src.value()];
      input_split = input_split || from.tp == TpRole::kColumn || from.tp == TpRole::kSplit;
      input_bytes = std::max(input_bytes, edge.bytes * s);
    }
    const bool tp_split = role.tp != TpRole::kReplicated || sp;
    const int d = role.expert ? 1 : (tp_split ? tp : 1);

    Op piece = o;  // what one device runs
    for (Phase ph : kAllPhases) {
      PhaseCost& c = piece.cost(ph);
      c.flops /= d, c.bytes /= d;
      if (c.seconds) *c.seconds /= d;
    }
    if (tp > 1 && !piece.shape.empty()) {
      if (role.tp == TpRole::kColumn) piece.shape.back() = std::max<std::int64_t>(1, piece.shape.back() / tp);
      if (role.tp == TpRole::kSplit && piece.shape.size() == 4) piece.shape[1] = std::max<std::int64_t>(1, piece.shape[1] / tp);
    }
    const double f = slowest(rank, cm, piece, Phase::kForward);
    u.forward += f;
    u.input_grad += slowest(rank, cm, piece, Phase::kInputGrad);
    u.weight_grad += slowest(rank, cm, piece, Phase::kWeightGrad);
    const double op_flops = (op.forward.flops + op.input_grad.flops + op.weight_grad.flops) * scale;
    u.flops += op_flops;

    // Memory.
    const OpMemory m = cm.op_memory(o);
    const bool act_split = !role.expert && (input_split || sp) && tp > 1;
    const double act = m.activations / (act_split ? tp : 1);
    u.full_activations += act;
    double kept = act;
    if (config.recompute == ActivationRecompute::kSelective || config.flash_attention) {
      double from_core = 0, from_outside = 0;
      for (EdgeId e : graph.in_edges(id)) {
        const Edge& edge = graph.edge(e);
        (layout.roles[edge.src.value()].core ? from_core : from_outside) += edge.bytes * s / (act_split ? tp : 1);
      }
      if (role.core) {
        kept = std::min(act, from_outside);
        u.recompute += f;
        u.recompute_flops += op.forward.flops * scale;
      } else {
        kept = std::max(0.0, act - from_core);
      }
    }
    u.activations += kept;
    const OpMemory pm = cm.op_memory(op);  // parameters do not scale with the batch
    ParameterBytes parts = pm.parameter_parts;
    if (parts.total() == 0 && pm.parameters > 0) parts.weights = pm.parameters;
    const int pd = role.expert ? ep : (role.tp == TpRole::kColumn || role.tp == TpRole::kRow || role.tp == TpRole::kVocab ? tp : 1);
    u.params.weights += parts.weights / pd, u.params.gradients += parts.gradients / pd;
    u.params.optimizer += parts.optimizer / pd;
    u.weight_bytes += parts.weights / pd;
    if (role.expert) {
      u.expert_params.weights += parts.weights / pd, u.expert_params.gradients += parts.gradients / pd;
      u.expert_params.optimizer += parts.optimizer / pd;
    }
    const double out_bytes = o.output_bytes() > 0 ? o.output_bytes() : input_bytes;
    u.largest_tensor = std::max(u.largest_tensor, out_bytes / (role.tp == TpRole::kRow || role.expert ? 1 : d));

    // Tensor-parallel collectives (Megatron-LM's f and g operators).
    if (tp > 1) {
      switch (role.tp) {
        case TpRole::kRow:
        case TpRole::kVocab:
          if (sp) {
            u.tp_forward += coll(Collective::kReduceScatter, rank.tp_group, out_bytes);
            u.tp_backward += coll(Collective::kAllGather, rank.tp_group, out_bytes);
          } else {
            u.tp_forward += coll(Collective::kAllReduce, rank.tp_group, out_bytes);
          }
          break;
        case TpRole::kColumn:
          if (sp) {
            u.tp_forward += coll(Collective::kAllGather, rank.tp_group, input_bytes);
            u.tp_backward += coll(Collective::kReduceScatter, rank.tp_group, input_bytes);
          } else {
            u.tp_backward += coll(Collective::kAllReduce, rank.tp_group, input_bytes);
          }
          break;
        default: break;
      }
    }
    // Context parallelism: the attention core gathers the keys and values of the whole sequence
    // (ring attention overlaps the exchange with the core's own compute).
    if (cp > 1 && role.core) {
      for (EdgeId e : graph.in_edges(id)) {
        const Edge& edge = graph.edge(e);
        if (layout.roles[edge.src.value()].core) continue;
        const double local = edge.bytes * s / (tp > 1 ? tp : 1);
        const double gather = coll(Collective::kAllGather, rank.cp_group, local * cp);
        u.cp_forward += std::max(0.0, gather - f);
        u.cp_backward += coll(Collective::kReduceScatter, rank.cp_group, local * cp);
      }
    }
    // Expert parallelism: tokens travel to their experts and back.
    if (ep > 1) {
      for (EdgeId e : graph.in_edges(id)) {
        const Edge& edge = graph.edge(e);
        if (layout.roles[edge.src.value()].expert == role.expert) continue;
        const double t = coll(Collective::kAllToAll, rank.ep_group, edge.bytes * s * ep);
        u.ep_forward += t, u.ep_backward += t;
      }
    }
    if (full_layer)
      for (EdgeId e : graph.in_edges(id)) {
        const Edge& edge = graph.edge(e);
        if (inside.count(edge.src.value())) continue;
        double& b = layer_inputs[edge.src.value()];
        b = std::max(b, edge.bytes * s / (sp ? tp : 1));
      }
  }
  if (full_layer) u.largest_layer = u.full_activations;
  if (full_layer && config.recompute == ActivationRecompute::kFull) {
    double inputs = 0;
    for (const auto& [src, b] : layer_inputs) inputs += b;
    u.activations = inputs;
    u.recompute = u.forward + u.tp_forward + u.cp_forward + u.ep_forward;
    u.recompute_flops = 0;
    for (OpId id : ops) u.recompute_flops += graph.op(id).forward.flops * scale;
  }
  return u;
}

}  // namespace configs_detail
OPPLAN_END_NAMESPACE
