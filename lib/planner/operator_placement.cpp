// The upper level of the operator-level planner: unit costs, the unit DAG of a placement, and the
// placements it starts from (operator_internal.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "planner/operator_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {
constexpr double kNever = std::numeric_limits<double>::infinity();

bool within(double value, double cap) { return value <= cap + 1e-9 * std::max(1.0, std::abs(cap)); }
}  // namespace

bool splits_backward(const CostModel& cost, const Op& op, const Device& device) {
  return cost.op_time(op, Phase::kWeightGrad, device) > 0;
}

UnitProblem make_unit_problem(const Graph& graph, const Cluster& cluster, const CostModel& cost, Coarsening coarse,
                              std::vector<OpId> topo, int micro_batches, const std::vector<double>& cap) {
  UnitProblem p;
  p.devices = static_cast<int>(cluster.num_devices());
  p.micro_batches = micro_batches;
  p.coarse = std::move(coarse);
  p.topo = std::move(topo);
  p.cap = cap;
  const std::size_t U = p.coarse.units.size(), D = static_cast<std::size_t>(p.devices);
  p.forward.assign(U * D, 0);
  p.input_grad.assign(U * D, 0);
  p.weight_grad.assign(U * D, 0);
  p.params.assign(U, 0);
  p.activation.assign(U, 0);
  p.freed_by_input_grad.assign(U, 0);
  for (std::size_t u = 0; u < U; ++u) {
    for (OpId id : p.coarse.units[u]) {
      const Op& op = graph.op(id);
      const OpMemory mem = cost.op_memory(op);
      p.params[u] += mem.parameters;
      p.activation[u] += mem.activations;
      // Whether b frees an op's activation depends on its device only through the cost model;
      // with every device alike (the usual case) the first device decides.
      if (!splits_backward(cost, op, cluster.device(DeviceId(0)))) p.freed_by_input_grad[u] += mem.activations;
      for (std::size_t d = 0; d < D; ++d) {
        const Device& dev = cluster.device(DeviceId(static_cast<std::uint32_t>(d)));
        p.forward[u * D + d] += cost.op_time(op, Phase::kForward, dev);
        p.input_grad[u * D + d] += cost.op_time(op, Phase::kInputGrad, dev);
        p.weight_grad[u * D + d] += cost.op_time(op, Phase::kWeightGrad, dev);
      }
    }
  }
  // Unit edges with the largest tensor crossing them.
  std::map<std::pair<int, int>, double> largest;
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    const int a = p.coarse.unit_of[edge.src.value()], b = p.coarse.unit_of[edge.dst.value()];
    if (a == b) continue;
    double& bytes = largest[{a, b}];
    bytes = std::max(bytes, edge.bytes);
  }
  for (const auto& [ab, bytes] : largest) {
    p.edges.push_back({ab.first, ab.second});
    for (std::size_t a = 0; a < D; ++a)
      for (std::size_t b = 0; b < D; ++b)
        p.transfer.push_back(a == b ? 0.0
                                    : cost.transfer_time(cluster, DeviceId(static_cast<std::uint32_t>(a)),
                                                         DeviceId(static_cast<std::uint32_t>(b)), bytes));
  }
  return p;
}

LinkChannels link_channels(const UnitProblem& p, const std::vector<int>& device_of_unit) {
  LinkChannels out;
  if (!p.serialize_links) return out;
  std::map<std::pair<int, int>, int> index;
  const auto channel = [&](int a, int b) {
    const auto [it, added] = index.emplace(std::pair{a, b}, static_cast<int>(out.channels.size()));
    if (added) out.channels.emplace_back(a, b);
    return it->second;
  };
  for (std::size_t e = 0; e < p.edges.size(); ++e) {
    const int a = device_of_unit[static_cast<std::size_t>(p.edges[e].from)];
    const int b = device_of_unit[static_cast<std::size_t>(p.edges[e].to)];
    if (a == b) continue;
    channel(a, b);
    channel(b, a);
    out.edge_of_transfer.push_back(static_cast<int>(e));
  }
  return out;
}

UnitDag make_unit_dag(const UnitProblem& p, const std::vector<int>& device_of_unit) {
  UnitDag dag;
  dag.num_devices = p.devices;
  dag.micro_batches = p.micro_batches;
  dag.cap = p.cap;
  dag.params.assign(static_cast<std::size_t>(p.devices), 0);
  const std::size_t D = static_cast<std::size_t>(p.devices);
  for (std::size_t u = 0; u < p.num_units(); ++u) {
    const int d = device_of_unit[u];
    const std::size_t k = u * D + static_cast<std::size_t>(d);
    UnitDag::Unit unit;
    unit.device = d;
    unit.forward = p.forward[k];
    unit.input_grad = p.input_grad[k];
    unit.weight_grad = p.weight_grad[k];
    unit.activation = p.activation[u];
    unit.freed_by_input_grad = unit.weight_grad > 0 ? p.freed_by_input_grad[u] : p.activation[u];
    dag.units.push_back(unit);
    dag.params[static_cast<std::size_t>(d)] += p.params[u];
  }
  if (!p.serialize_links) {
    for (std::size_t e = 0; e < p.edges.size(); ++e) {
      const int a = device_of_unit[static_cast<std::size_t>(p.edges[e].from)];
      const int b = device_of_unit[static_cast<std::size_t>(p.edges[e].to)];
      dag.links.push_back({p.edges[e].from, p.edges[e].to, p.transfer_time(e, a, b), p.transfer_time(e, b, a)});
    }
    return dag;
  }
  const LinkChannels lc = link_channels(p, device_of_unit);
  std::map<std::pair<int, int>, int> channel;
  for (std::size_t c = 0; c < lc.channels.size(); ++c) channel[lc.channels[c]] = p.devices + static_cast<int>(c);
  dag.num_devices = p.devices + static_cast<int>(lc.channels.size());
  dag.cap.resize(static_cast<std::size_t>(dag.num_devices), kNever);
  dag.params.resize(static_cast<std::size_t>(dag.num_devices), 0);
  std::size_t k = 0;
  for (std::size_t e = 0; e < p.edges.size(); ++e) {
    const int from = p.edges[e].from, to = p.edges[e].to;
    const int a = device_of_unit[static_cast<std::size_t>(from)], b = device_of_unit[static_cast<std::size_t>(to)];
    if (a == b) {
      dag.links.push_back({from, to, 0, 0});
      continue;
    }
    // The transfer unit: F = the forward send on a -> b, B = the gradient on b -> a.
    UnitDag::Unit transfer;
    transfer.device = channel.at({a, b});
    transfer.backward_device = channel.at({b, a});
    transfer.forward = p.transfer_time(e, a, b);
    transfer.input_grad = p.transfer_time(e, b, a);
    const int t = static_cast<int>(p.num_units() + k++);
    dag.units.push_back(transfer);
    dag.links.push_back({from, t, 0, 0});
    dag.links.push_back({t, to, 0, 0});
  }
  return dag;
}

bool placement_fits(const UnitProblem& p, const std::vector<int>& device_of_unit) {
  std::vector<double> need(static_cast<std::size_t>(p.devices), 0);
  for (std::size_t u = 0; u < p.num_units(); ++u)
    need[static_cast<std::size_t>(device_of_unit[u])] += p.params[u] + p.activation[u];
  for (std::size_t d = 0; d < need.size(); ++d)
    if (!within(need[d], p.cap[d])) return false;
  return true;
}

std::vector<int> stage_placement(const UnitProblem& p) {
  const std::size_t U = p.num_units();
  const std::size_t S = std::min<std::size_t>(U, static_cast<std::size_t>(p.devices));
  // best[s][j]: the smallest slowest-stage time of units [0, j) cut into s stages on devices
  // 0..s-1, each within its memory; cut[s][j] the start of the last stage.
  std::vector<std::vector<double>> best(S + 1, std::vector<double>(U + 1, kNever));
  std::vector<std::vector<std::size_t>> cut(S + 1, std::vector<std::size_t>(U + 1, 0));
  best[0][0] = 0;
  for (std::size_t s = 1; s <= S; ++s) {
    const int d = static_cast<int>(s - 1);
    for (std::size_t j = s; j <= U; ++j) {
      double time = 0, memory = 0;
      // The last stage is units [i, j), grown backwards.
      for (std::size_t i = j; i-- > s - 1;) {
        time += p.work(static_cast<int>(i), d);
        memory += p.params[i] + p.activation[i];
        if (!within(memory, p.cap[static_cast<std::size_t>(d)])) break;
        const double value = std::max(best[s - 1][i], time);
        if (value < best[s][j]) {
          best[s][j] = value;
          cut[s][j] = i;
        }
      }
    }
  }
  if (!std::isfinite(best[S][U])) return {};
  std::vector<int> device(U, 0);
  for (std::size_t s = S, j = U; s > 0; --s) {
    const std::size_t i = cut[s][j];
    for (std::size_t u = i; u < j; ++u) device[u] = static_cast<int>(s - 1);
    j = i;
  }
  return device;
}

std::vector<int> balanced_placement(const UnitProblem& p) {
  const std::size_t U = p.num_units(), D = static_cast<std::size_t>(p.devices);
  std::vector<std::vector<std::size_t>> in_edges(U);
  for (std::size_t e = 0; e < p.edges.size(); ++e) in_edges[static_cast<std::size_t>(p.edges[e].to)].push_back(e);
  // A one-micro-batch list schedule in which a unit occupies its device for all of its work
  // (F + b + W), so the devices' loads stay balanced while parallel branches spread out.
  std::vector<double> free_at(D, 0), memory(D, 0), finish(U, 0);
  std::vector<int> device(U, -1);
  for (std::size_t u = 0; u < U; ++u) {  // units are numbered topologically
    double best = kNever;
    for (std::size_t d = 0; d < D; ++d) {
      if (!within(memory[d] + p.params[u] + p.activation[u], p.cap[d])) continue;
      double ready = free_at[d];
      for (std::size_t e : in_edges[u]) {
        const std::size_t from = static_cast<std::size_t>(p.edges[e].from);
        ready = std::max(ready, finish[from] + p.transfer_time(e, device[from], static_cast<int>(d)));
      }
      const double end = ready + p.work(static_cast<int>(u), static_cast<int>(d));
      if (end < best) {
        best = end;
        device[u] = static_cast<int>(d);
      }
    }
    if (device[u] < 0) return {};
    finish[u] = best;
    free_at[static_cast<std::size_t>(device[u])] = best;
    memory[static_cast<std::size_t>(device[u])] += p.params[u] + p.activation[u];
  }
  return device;
}

bool enforce_ties(const UnitProblem& p, std::vector<int>& device, int anchor) {
  const auto& tie = p.coarse.tie;
  for (std::size_t t = 0; t < p.coarse.tied_groups.size(); ++t) {
    int lead = -1;
    if (anchor >= 0 && tie[static_cast<std::size_t>(anchor)] == static_cast<int>(t)) lead = anchor;
    for (std::size_t u = 0; u < p.num_units() && lead < 0; ++u)
      if (tie[u] == static_cast<int>(t)) lead = static_cast<int>(u);
    if (anchor < 0 || lead != anchor)  // the heaviest unit decides
      for (std::size_t u = 0; u < p.num_units(); ++u)
        if (tie[u] == static_cast<int>(t) && p.params[u] + p.activation[u] > p.params[static_cast<std::size_t>(lead)] + p.activation[static_cast<std::size_t>(lead)])
          lead = static_cast<int>(u);
    for (std::size_t u = 0; u < p.num_units(); ++u)
      if (tie[u] == static_cast<int>(t)) device[u] = device[static_cast<std::size_t>(lead)];
  }
  return placement_fits(p, device);
}

double placement_makespan(const UnitProblem& p, const std::vector<int>& device_of_unit) {
  const InstanceGraph graph(make_unit_dag(p, device_of_unit));
  double best = kNever;
  std::vector<double> start;
  for (const ListRule& rule : {ListRule{1, 0, 2, true, 0}, ListRule{0, 1, 2, true, 0}}) {
    const auto orders = list_schedule(graph, rule);
    if (orders.empty()) continue;
    best = std::min(best, earliest_starts(graph, orders, start));
  }
  return best;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
