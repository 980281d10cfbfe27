// The schedules of a unit DAG that are not searches: the serial fall-back, the stage pipeline's
// expert schedules mapped onto units, and the expansion of a unit schedule back to operators
// (operator_internal.hpp).
#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "planner/operator_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// One micro-batch after another, each forward then backward in full: fits whenever the placement
// fits (placement_fits), so the search always has a schedule.
std::vector<std::vector<int>> serial_unit_orders(const InstanceGraph& g, int units, int micro_batches) {
  std::vector<std::vector<int>> orders(static_cast<std::size_t>(g.num_devices()));
  const auto push = [&](Work w, int m, int u) {
    const int i = g.find(WorkItem{w, 0, m, u});
    if (i >= 0 && g.ops[static_cast<std::size_t>(i)].item.work == w)
      orders[static_cast<std::size_t>(g.ops[static_cast<std::size_t>(i)].device)].push_back(i);
  };
  for (int m = 0; m < micro_batches; ++m) {
    for (int u = 0; u < units; ++u) push(Work::kForward, m, u);
    for (int u = units - 1; u >= 0; --u) {
      push(Work::kInputGrad, m, u);
      push(Work::kBackward, m, u);
      push(Work::kWeightGrad, m, u);
    }
  }
  return orders;
}

// The stage pipeline of a stage placement as a PipelineSpec (stage s = the units on device s),
// for the expert generators. Transfers: the slowest crossing edge out of each stage.
std::optional<PipelineSpec> stage_spec(const UnitProblem& p, const std::vector<int>& device_of_unit) {
  const int S = *std::max_element(device_of_unit.begin(), device_of_unit.end()) + 1;
  PipelineSpec spec;
  spec.name = "stages";
  spec.num_devices = S;
  spec.num_micro_batches = p.micro_batches;
  spec.placement = Placement::kLinear;
  spec.stages.assign(static_cast<std::size_t>(S), StageSpec{});
  for (StageSpec& st : spec.stages) {
    st.forward = st.input_grad = st.weight_grad = st.activation = 0;
  }
  const std::size_t D = static_cast<std::size_t>(p.devices);
  std::vector<double> freed(static_cast<std::size_t>(S), 0);
  for (std::size_t u = 0; u < p.num_units(); ++u) {
    const std::size_t s = static_cast<std::size_t>(device_of_unit[u]);
    StageSpec& st = spec.stages[s];
    st.forward += p.forward[u * D + s];
    st.input_grad += p.input_grad[u * D + s];
    st.weight_grad += p.weight_grad[u * D + s];
    st.activation += p.activation[u];
    st.params += p.params[u];
    freed[s] += p.weight_grad[u * D + s] > 0 ? p.freed_by_input_grad[u] : p.activation[u];
  }
  for (std::size_t s = 0; s < spec.stages.size(); ++s)
    spec.stages[s].input_grad_frees = spec.stages[s].weight_grad > 0 ? freed[s] : 0;
  for (std::size_t e = 0; e < p.edges.size(); ++e) {
    const int a = device_of_unit[static_cast<std::size_t>(p.edges[e].from)];
    const int b = device_of_unit[static_cast<std::size_t>(p.edges[e].to)];
    if (a != b) spec.stages[static_cast<std::size_t>(a)].p2p = std::max(spec.stages[static_cast<std::size_t>(a)].p2p, p.transfer_time(e, a, b));
  }
  auto routes = placement_routes(Placement::kLinear, S);
  if (!routes.ok()) return std::nullopt;
  spec.routes = *routes;
  spec.memory_cap.assign(p.cap.begin(), p.cap.begin() + S);
  if (!spec.validate().ok()) return std::nullopt;
  return spec;
}

// A stage pipeline's per-device programs as unit instance orders: a stage's F runs its units in
// order, its b (or B) their input gradients in reverse and then their weight gradients.
std::vector<std::vector<int>> unit_orders_of(const InstanceGraph& g, const UnitProblem& p,
                                             const std::vector<int>& device_of_unit, const PipelineOrders& orders) {
  std::vector<std::vector<int>> stage_units(orders.devices.size());
  for (std::size_t u = 0; u < p.num_units(); ++u)
    stage_units[static_cast<std::size_t>(device_of_unit[u])].push_back(static_cast<int>(u));
  std::vector<std::vector<int>> out(static_cast<std::size_t>(g.num_devices()));
  for (std::size_t s = 0; s < orders.devices.size(); ++s)
    for (const OrderEntry& e : orders.devices[s]) {
      if (e.overlapped) return {};
      const auto& units = stage_units[s];
      const int m = e.item.micro_batch;
      const auto push = [&](Work w, int u) {
        const int i = g.find(WorkItem{w, 0, m, u});
        if (i >= 0 && g.ops[static_cast<std::size_t>(i)].item.work == w) out[s].push_back(i);
      };
      switch (e.item.work) {
        case Work::kForward:
          for (int u : units) push(Work::kForward, u);
          break;
        case Work::kWeightGrad:
          for (auto it = units.rbegin(); it != units.rend(); ++it) push(Work::kWeightGrad, *it);
          break;
        case Work::kInputGrad:
        case Work::kBackward:
          for (auto it = units.rbegin(); it != units.rend(); ++it) {
            push(Work::kInputGrad, *it);
            push(Work::kBackward, *it);
          }
          if (e.item.work == Work::kBackward)
            for (auto it = units.rbegin(); it != units.rend(); ++it) push(Work::kWeightGrad, *it);
          break;
      }
    }
  return out;
}

std::vector<std::vector<int>> fill_channel_orders(const InstanceGraph& g, std::vector<std::vector<int>> orders,
                                                  int compute_devices) {
  const std::size_t n = g.ops.size(), D = static_cast<std::size_t>(compute_devices);
  const std::size_t all = static_cast<std::size_t>(g.num_devices());
  orders.resize(all);
  if (all == D) return orders;
  for (std::size_t c = D; c < all; ++c) orders[c].clear();
  std::vector<int> waiting(n);
  std::vector<double> ready(n, 0);
  for (std::size_t i = 0; i < n; ++i) waiting[i] = static_cast<int>(g.pred[i].size());
  std::vector<std::size_t> next(D, 0);
  std::vector<double> free_at(all, 0);
  std::vector<std::vector<int>> released(all);  // per channel, transfers whose inputs are done
  for (std::size_t i = 0; i < n; ++i)
    if (waiting[i] == 0 && static_cast<std::size_t>(g.ops[i].device) >= D) released[static_cast<std::size_t>(g.ops[i].device)].push_back(static_cast<int>(i));
  const auto place = [&](int i, std::size_t d, double t) {
    const double end = t + g.ops[static_cast<std::size_t>(i)].duration;
    free_at[d] = end;
    for (const Arc& a : g.succ[static_cast<std::size_t>(i)]) {
      const std::size_t j = static_cast<std::size_t>(a.to);
      ready[j] = std::max(ready[j], end + a.delay);
      if (--waiting[j] == 0 && static_cast<std::size_t>(g.ops[j].device) >= D)
        released[static_cast<std::size_t>(g.ops[j].device)].push_back(a.to);
    }
  };
  for (std::size_t placed = 0; placed < n; ++placed) {
    // The earliest start among the compute devices' next instances and the channels' waiting
    // transfers (first come, first served); compute devices win ties.
    double best_t = std::numeric_limits<double>::infinity();
    std::size_t best_d = all, best_k = 0;
    for (std::size_t d = 0; d < D; ++d) {
      if (next[d] >= orders[d].size()) continue;
      const int i = orders[d][next[d]];
      if (waiting[static_cast<std::size_t>(i)] > 0) continue;
      const double t = std::max(free_at[d], ready[static_cast<std::size_t>(i)]);
      if (t < best_t) best_t = t, best_d = d;
    }
    for (std::size_t c = D; c < all; ++c)
      for (std::size_t k = 0; k < released[c].size(); ++k) {
        const double t = std::max(free_at[c], ready[static_cast<std::size_t>(released[c][k])]);
        if (t < best_t) best_t = t, best_d = c, best_k = k;
      }
    if (best_d == all) return {};  // the compute orders deadlock
    if (best_d < D) {
      place(orders[best_d][next[best_d]++], best_d, best_t);
    } else {
      const int i = released[best_d][best_k];
      released[best_d].erase(released[best_d].begin() + static_cast<std::ptrdiff_t>(best_k));
      orders[best_d].push_back(i);
      place(i, best_d, best_t);
    }
  }
  return orders;
}

// The unit-level schedule back at operator level (operator_planner.hpp, "verify").
Schedule expand(const Graph& graph, const Cluster& cluster, const CostModel& cost, const UnitProblem& p,
                const std::vector<DeviceId>& placement, const Schedule& units, const std::string& name) {
  const std::size_t n = graph.num_ops(), M = static_cast<std::size_t>(p.micro_batches);
  Schedule s;
  s.name = name;
  s.num_devices = p.devices;
  s.device_tasks.resize(static_cast<std::size_t>(p.devices));
  s.param_memory.assign(units.param_memory.begin(), units.param_memory.begin() + p.devices);
  s.memory_cap.assign(units.memory_cap.begin(), units.memory_cap.begin() + p.devices);
  std::vector<double> forward_end(n * M, 0), backward_end(n * M, 0);
  // Serialised links: the transfer units' tasks on the channel rows are the transfers.
  if (p.serialize_links) {
    std::vector<int> device_of_unit(p.num_units());
    for (std::size_t u = 0; u < p.num_units(); ++u) device_of_unit[u] = static_cast<int>(placement[p.coarse.units[u].front().value()].value());
    const LinkChannels lc = link_channels(p, device_of_unit);
    // Per unit edge, one op edge it carries: its producer and consumer name the transfers.
    std::map<std::pair<int, int>, EdgeId> carried;
    for (EdgeId e : graph.edges())
      carried.emplace(std::pair{p.coarse.unit_of[graph.edge(e).src.value()], p.coarse.unit_of[graph.edge(e).dst.value()]}, e);
    for (std::size_t d = static_cast<std::size_t>(p.devices); d < units.device_tasks.size(); ++d)
      for (const Task& ut : units.device_tasks[d]) {
        const std::size_t k = static_cast<std::size_t>(ut.item.stage) - p.num_units();
        const auto& unit_edge = p.edges[static_cast<std::size_t>(lc.edge_of_transfer[k])];
        const Edge& edge = graph.edge(carried.at({unit_edge.from, unit_edge.to}));
        const auto [src, dst] = lc.channels[d - static_cast<std::size_t>(p.devices)];
        const bool forward = ut.item.work == Work::kForward;
        const bool split = splits_backward(cost, graph.op(edge.dst), cluster.device(DeviceId(static_cast<std::uint32_t>(src))));
        const WorkItem item = forward ? WorkItem{Work::kForward, 0, ut.item.micro_batch, static_cast<int>(edge.src.value())}
                                      : WorkItem{split ? Work::kInputGrad : Work::kBackward, 0, ut.item.micro_batch,
                                                 static_cast<int>(edge.dst.value())};
        s.transfers.push_back({src, dst, ut.start, ut.end, item});
      }
  }
  for (std::size_t d = 0; d < static_cast<std::size_t>(p.devices); ++d) {
    const Device& device = cluster.device(DeviceId(static_cast<std::uint32_t>(d)));
    for (const Task& ut : units.device_tasks[d]) {
      const auto& ops = p.coarse.units[static_cast<std::size_t>(ut.item.stage)];
      const int m = ut.item.micro_batch;
      double t = ut.start;
      const auto emit = [&](OpId id, Work work, double duration, double alloc, double free) {
        Task task;
        task.device = static_cast<int>(d);
        // Clamped to the unit's slot: summing op times in another order than the unit's total
        // may overshoot it by a rounding error, which would put a zero-length op after the next one.
        task.start = std::min(t, ut.end);
        task.end = std::min(t + duration, ut.end);
        task.item = WorkItem{work, 0, m, static_cast<int>(id.value())};
        task.memory_alloc = alloc;
        task.memory_free = free;
        t = task.end;
        const std::size_t k = id.value() * M + static_cast<std::size_t>(m);
        if (work == Work::kForward) forward_end[k] = task.end;
        if (work == Work::kInputGrad || work == Work::kBackward) backward_end[k] = task.end;
        s.device_tasks[d].push_back(task);
      };
      if (ut.item.work == Work::kForward) {
        for (OpId id : ops) {
          const Op& op = graph.op(id);
          emit(id, Work::kForward, cost.op_time(op, Phase::kForward, device), cost.op_memory(op).activations, 0);
        }
        continue;
      }
      for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
        const Op& op = graph.op(*it);
        const bool split = splits_backward(cost, op, device);
        const double act = cost.op_memory(op).activations;
        if (ut.item.work == Work::kWeightGrad) {
          if (split) emit(*it, Work::kWeightGrad, cost.op_time(op, Phase::kWeightGrad, device), 0, act);
        } else {
          emit(*it, split ? Work::kInputGrad : Work::kBackward, cost.op_time(op, Phase::kInputGrad, device), 0,
               split ? 0 : act);
        }
      }
    }
  }
  for (EdgeId e : graph.edges()) {
    if (p.serialize_links) break;  // listed above, one per unit edge and micro-batch
    const Edge& edge = graph.edge(e);
    const DeviceId a = placement[edge.src.value()], b = placement[edge.dst.value()];
    if (a == b) continue;
    const double forward = cost.transfer_time(cluster, a, b, edge.bytes);
    const double backward = cost.transfer_time(cluster, b, a, edge.bytes);
    for (std::size_t m = 0; m < M; ++m) {
      const double f0 = forward_end[edge.src.value() * M + m], b0 = backward_end[edge.dst.value() * M + m];
      s.transfers.push_back({static_cast<int>(a.value()), static_cast<int>(b.value()), f0, f0 + forward,
                             WorkItem{Work::kForward, 0, static_cast<int>(m), static_cast<int>(edge.src.value())}});
      const bool split = splits_backward(cost, graph.op(edge.dst), cluster.device(b));
      s.transfers.push_back({static_cast<int>(b.value()), static_cast<int>(a.value()), b0, b0 + backward,
                             WorkItem{split ? Work::kInputGrad : Work::kBackward, 0, static_cast<int>(m),
                                      static_cast<int>(edge.dst.value())}});
    }
  }
  std::stable_sort(s.transfers.begin(), s.transfers.end(), [](const Transfer& x, const Transfer& y) {
    return std::tie(x.src_device, x.dst_device, x.start) < std::tie(y.src_device, y.dst_device, y.start);
  });
  s.compute_metrics();
  return s;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
