// The operator-instance graph of a pipeline spec, the minimum memory of a device, the serial
// fall-back schedule, and conversions between per-device instance orders and PipelineOrders.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pipeline/pipeline_internal.hpp"
#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {
constexpr int kSlotF = 0, kSlotB = 1, kSlotW = 2;

bool split_backward(const StageSpec& st) { return st.weight_grad > 0; }
}  // namespace

InstanceGraph::InstanceGraph(const PipelineSpec& spec)
    : routes_(spec.num_routes()), mbs_(spec.micro_batches_per_route()), stages_(spec.num_stages()) {
  id_of_.assign(static_cast<std::size_t>(routes_) * mbs_ * stages_ * 3, -1);
  by_device.resize(static_cast<std::size_t>(spec.num_devices));
  const auto slot = [&](int r, int m, int s, int k) -> int& {
    return id_of_[((static_cast<std::size_t>(r) * mbs_ + m) * stages_ + s) * 3 + k];
  };
  const auto add = [&](Work work, int r, int m, int s, int k) {
    Instance inst;
    inst.item = WorkItem{work, r, m, s};
    inst.device = spec.routes[static_cast<std::size_t>(r)][static_cast<std::size_t>(s)];
    inst.duration = work_time(spec.stages[static_cast<std::size_t>(s)], work);
    inst.alloc = memory_alloc(spec, inst.item);
    inst.free = memory_free(spec, inst.item);
    slot(r, m, s, k) = static_cast<int>(ops.size());
    by_device[static_cast<std::size_t>(inst.device)].push_back(static_cast<int>(ops.size()));
    ops.push_back(inst);
  };
  for (int r = 0; r < routes_; ++r)
    for (int m = 0; m < mbs_; ++m)
      for (int s = 0; s < stages_; ++s) {
        add(Work::kForward, r, m, s, kSlotF);
        if (split_backward(spec.stages[static_cast<std::size_t>(s)])) {
          add(Work::kInputGrad, r, m, s, kSlotB);
          add(Work::kWeightGrad, r, m, s, kSlotW);
        } else {
          add(Work::kBackward, r, m, s, kSlotB);
        }
      }
  succ.resize(ops.size());
  pred.resize(ops.size());
  const auto arc = [&](int a, int b, double delay) {
    succ[static_cast<std::size_t>(a)].push_back({b, delay});
    pred[static_cast<std::size_t>(b)].push_back({a, delay});
  };
  for (int r = 0; r < routes_; ++r)
    for (int m = 0; m < mbs_; ++m)
      for (int s = 0; s < stages_; ++s) {
        if (s > 0) arc(slot(r, m, s - 1, kSlotF), slot(r, m, s, kSlotF), boundary_delay(spec, r, s - 1));
        if (s == stages_ - 1) arc(slot(r, m, s, kSlotF), slot(r, m, s, kSlotB), 0);
        if (s < stages_ - 1) arc(slot(r, m, s + 1, kSlotB), slot(r, m, s, kSlotB), boundary_delay(spec, r, s));
        if (slot(r, m, s, kSlotW) >= 0) arc(slot(r, m, s, kSlotB), slot(r, m, s, kSlotW), 0);
      }

  cap.resize(static_cast<std::size_t>(spec.num_devices));
  params.resize(static_cast<std::size_t>(spec.num_devices));
  for (int d = 0; d < spec.num_devices; ++d) {
    cap[static_cast<std::size_t>(d)] = spec.cap(d);
    params[static_cast<std::size_t>(d)] = spec.param_memory(d);
  }
  finish();
}

InstanceGraph::InstanceGraph(const UnitDag& dag)
    : cap(dag.cap), params(dag.params), routes_(1), mbs_(dag.micro_batches), stages_(static_cast<int>(dag.units.size())) {
  id_of_.assign(static_cast<std::size_t>(mbs_) * stages_ * 3, -1);
  by_device.resize(static_cast<std::size_t>(dag.num_devices));
  cap.resize(by_device.size(), std::numeric_limits<double>::infinity());
  params.resize(by_device.size(), 0);
  const auto slot = [&](int m, int u, int k) -> int& {
    return id_of_[(static_cast<std::size_t>(m) * stages_ + u) * 3 + k];
  };
  const auto add = [&](Work work, int m, int u, int k, double duration, double alloc, double free) {
    Instance inst;
    inst.item = WorkItem{work, 0, m, u};
    const UnitDag::Unit& unit = dag.units[static_cast<std::size_t>(u)];
    inst.device = work != Work::kForward && unit.backward_device >= 0 ? unit.backward_device : unit.device;
    inst.duration = duration;
    inst.alloc = alloc;
    inst.free = free;
    slot(m, u, k) = static_cast<int>(ops.size());
    by_device[static_cast<std::size_t>(inst.device)].push_back(static_cast<int>(ops.size()));
    ops.push_back(inst);
  };
  for (int m = 0; m < mbs_; ++m)
    for (int u = 0; u < stages_; ++u) {
      const UnitDag::Unit& unit = dag.units[static_cast<std::size_t>(u)];
      add(Work::kForward, m, u, kSlotF, unit.forward, unit.activation, 0);
      if (unit.weight_grad > 0) {
        add(Work::kInputGrad, m, u, kSlotB, unit.input_grad, 0, unit.freed_by_input_grad);
        add(Work::kWeightGrad, m, u, kSlotW, unit.weight_grad, 0, unit.activation - unit.freed_by_input_grad);
      } else {
        add(Work::kBackward, m, u, kSlotB, unit.input_grad, 0, unit.activation);
      }
    }
  succ.resize(ops.size());
  pred.resize(ops.size());
  const auto arc = [&](int a, int b, double delay) {
    succ[static_cast<std::size_t>(a)].push_back({b, delay});
    pred[static_cast<std::size_t>(b)].push_back({a, delay});
  };
  for (int m = 0; m < mbs_; ++m) {
    for (int u = 0; u < stages_; ++u) {
      arc(slot(m, u, kSlotF), slot(m, u, kSlotB), 0);
      if (slot(m, u, kSlotW) >= 0) arc(slot(m, u, kSlotB), slot(m, u, kSlotW), 0);
    }
    for (const UnitDag::Link& l : dag.links) {
      arc(slot(m, l.from, kSlotF), slot(m, l.to, kSlotF), l.forward);
      arc(slot(m, l.to, kSlotB), slot(m, l.from, kSlotB), l.backward);
    }
  }
  finish();
}

void InstanceGraph::finish() {
  // Kahn's algorithm; both constructors build acyclic graphs (chains per micro-batch, or a DAG's
  // forward links and their reverses joined at each unit's F -> b arc).
  std::vector<int> indegree(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) indegree[i] = static_cast<int>(pred[i].size());
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (indegree[i] == 0) topo.push_back(static_cast<int>(i));
  for (std::size_t k = 0; k < topo.size(); ++k)
    for (const Arc& a : succ[static_cast<std::size_t>(topo[k])])
      if (--indegree[static_cast<std::size_t>(a.to)] == 0) topo.push_back(a.to);

  head.assign(ops.size(), 0);
  tail.assign(ops.size(), 0);
  for (int i : topo)
    for (const Arc& a : succ[static_cast<std::size_t>(i)])
      head[static_cast<std::size_t>(a.to)] = std::max(head[static_cast<std::size_t>(a.to)],
                                                      head[static_cast<std::size_t>(i)] +
                                                          ops[static_cast<std::size_t>(i)].duration + a.delay);
  for (auto it = topo.rbegin(); it != topo.rend(); ++it)
    for (const Arc& a : succ[static_cast<std::size_t>(*it)])
      tail[static_cast<std::size_t>(*it)] =
          std::max(tail[static_cast<std::size_t>(*it)],
                   a.delay + ops[static_cast<std::size_t>(a.to)].duration + tail[static_cast<std::size_t>(a.to)]);
  for (std::size_t i = 0; i < ops.size(); ++i)
    critical_path = std::max(critical_path, head[i] + ops[i].duration + tail[i]);
}

int InstanceGraph::find(const WorkItem& item) const {
  if (item.route < 0 || item.route >= routes_ || item.micro_batch < 0 || item.micro_batch >= mbs_ || item.stage < 0 ||
      item.stage >= stages_)
    return -1;
  const int k = item.work == Work::kForward ? kSlotF : item.work == Work::kWeightGrad ? kSlotW : kSlotB;
  return id_of_[((static_cast<std::size_t>(item.route) * mbs_ + item.micro_batch) * stages_ + item.stage) * 3 +
                static_cast<std::size_t>(k)];
}

namespace {

// One device runs one instance at a time: for every set of its instances that cannot start before
// `a` and leave at least `b` of work after them, a + (their total time) + b is a bound. Sets of the
// form {head >= a, tail >= b} are the strongest; scan them with tails sorted once.
double one_machine_bound(const InstanceGraph& graph, std::vector<int> ids, const std::vector<double>& head) {
  double bound = 0;
  if (ids.empty()) return bound;
  std::sort(ids.begin(), ids.end(), [&](int x, int y) {
    return graph.tail[static_cast<std::size_t>(x)] > graph.tail[static_cast<std::size_t>(y)];
  });
  std::vector<double> heads;
  for (int i : ids) heads.push_back(head[static_cast<std::size_t>(i)]);
  std::sort(heads.begin(), heads.end());
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
  // Quadratic in the device's instance count; past a few thousand keep the loosest set only.
  if (heads.size() * ids.size() > 20'000'000) heads.resize(1);
  for (double a : heads) {
    double load = 0;
    for (int i : ids) {
      if (head[static_cast<std::size_t>(i)] < a) continue;
      load += graph.ops[static_cast<std::size_t>(i)].duration;
      bound = std::max(bound, a + load + graph.tail[static_cast<std::size_t>(i)]);
    }
  }
  return bound;
}

// The memory wall of a device holding one chunk: with room for k activations, nothing freed before
// e (the earliest end of an instance that frees memory there), at most k forwards start before e.
// Micro-batches are interchangeable in the relaxation (same heads and tails), so the other N - k
// start their forward at e or later, and their b and W (which depend on it) shift with it. The
// one-machine bound on those shifted heads is a bound on any schedule within the cap.
double memory_wall_bound(const PipelineSpec& spec, const InstanceGraph& graph, int d) {
  const auto chunks = spec.device_chunks(d);
  const double budget = spec.cap(d) - spec.param_memory(d);
  if (chunks.size() != 1 || !std::isfinite(budget)) return 0;
  const StageSpec& st = spec.stages[static_cast<std::size_t>(chunks.front().second)];
  if (!(st.activation > 0)) return 0;
  const int k = static_cast<int>(std::floor(budget / st.activation + 1e-9));
  const auto& ids = graph.by_device[static_cast<std::size_t>(d)];
  double forward_head = -1, earliest_free = std::numeric_limits<double>::infinity();
  for (int i : ids) {
    const Instance& op = graph.ops[static_cast<std::size_t>(i)];
    if (op.item.work == Work::kForward) forward_head = graph.head[static_cast<std::size_t>(i)];
    if (op.free > 0) earliest_free = std::min(earliest_free, graph.head[static_cast<std::size_t>(i)] + op.duration);
  }
  const double delta = earliest_free - forward_head;
  if (k >= spec.micro_batches_per_route() || forward_head < 0 || !(delta > 0) || !std::isfinite(delta)) return 0;
  std::vector<double> head = graph.head;
  for (int i : ids)
    if (graph.ops[static_cast<std::size_t>(i)].item.micro_batch >= k) head[static_cast<std::size_t>(i)] += delta;
  return one_machine_bound(graph, ids, head);
}

}  // namespace

double lower_bound(const InstanceGraph& graph) {
  double bound = graph.critical_path;
  for (const auto& ids : graph.by_device) bound = std::max(bound, one_machine_bound(graph, ids, graph.head));
  return bound;
}

double lower_bound(const PipelineSpec& spec, const InstanceGraph& graph) {
  double bound = lower_bound(graph);
  for (int d = 0; d < spec.num_devices; ++d) bound = std::max(bound, memory_wall_bound(spec, graph, d));
  return bound;
}

std::vector<double> minimum_memory(const PipelineSpec& spec, const InstanceGraph& graph) {
  const int P = spec.num_devices;
  std::vector<double> need(static_cast<std::size_t>(P), 0);
  // Micro-batch 0 of every route, run alone in topological order with each W right after its b:
  // every activation it holds at a forward's start is held at that moment in any schedule too,
  // because the backward that frees it depends on that forward.
  for (int r = 0; r < spec.num_routes(); ++r) {
    std::vector<double> live(static_cast<std::size_t>(P), 0);
    for (int i : graph.topo) {
      const Instance& op = graph.ops[static_cast<std::size_t>(i)];
      if (op.item.route != r || op.item.micro_batch != 0) continue;
      double& l = live[static_cast<std::size_t>(op.device)];
      l += op.alloc;
      need[static_cast<std::size_t>(op.device)] = std::max(need[static_cast<std::size_t>(op.device)], l);
      l -= op.free;
    }
  }
  for (int d = 0; d < P; ++d) need[static_cast<std::size_t>(d)] += spec.param_memory(d);
  return need;
}

PipelineOrders serial_orders(const PipelineSpec& spec, const InstanceGraph& graph) {
  std::vector<std::vector<int>> orders(static_cast<std::size_t>(spec.num_devices));
  // graph.topo lists micro-batch by micro-batch only by accident of construction; sort explicitly so
  // each micro-batch finishes before the next starts, in its own topological order.
  std::vector<int> sequence = graph.topo;
  std::stable_sort(sequence.begin(), sequence.end(), [&](int x, int y) {
    const WorkItem& a = graph.ops[static_cast<std::size_t>(x)].item;
    const WorkItem& b = graph.ops[static_cast<std::size_t>(y)].item;
    return a.micro_batch != b.micro_batch ? a.micro_batch < b.micro_batch : a.route < b.route;
  });
  for (int i : sequence) orders[static_cast<std::size_t>(graph.ops[static_cast<std::size_t>(i)].device)].push_back(i);
  return to_pipeline_orders(graph, orders);
}

std::vector<std::vector<int>> orders_of(const InstanceGraph& graph, const Schedule& schedule) {
  std::vector<std::vector<int>> orders(schedule.device_tasks.size());
  const auto push = [&](std::vector<int>& out, const WorkItem& item) {
    const int id = graph.find(item);
    if (id >= 0 && graph.ops[static_cast<std::size_t>(id)].item.work == item.work) {
      out.push_back(id);
      return true;
    }
    // A fused B where the graph splits it: run as b then W, back to back (the same times).
    if (item.work == Work::kBackward) {
      const int b = graph.find(WorkItem{Work::kInputGrad, item.route, item.micro_batch, item.stage});
      const int w = graph.find(WorkItem{Work::kWeightGrad, item.route, item.micro_batch, item.stage});
      if (b < 0 || w < 0) return false;
      out.push_back(b);
      out.push_back(w);
      return true;
    }
    // A split b / W where the graph has one B (no weight-gradient): the b stands for it.
    if (item.work == Work::kInputGrad && id >= 0) {
      out.push_back(id);
      return true;
    }
    return item.work == Work::kWeightGrad && id < 0;
  };
  for (std::size_t d = 0; d < schedule.device_tasks.size(); ++d)
    for (const Task& t : schedule.device_tasks[d]) {
      if (!t.overlapped) {
        if (!push(orders[d], t.item)) return {};
        continue;
      }
      // An overlapped F&B slot that takes as long as F then B is no better than running them in
      // that order: the forward's output is ready earlier, the backward ends at the same time, and
      // memory is taken at the start and freed at the end either way. A faster slot has no
      // equivalent without overlap.
      const WorkItem& first = t.item.work == Work::kForward ? t.item : *t.overlapped;
      const WorkItem& second = t.item.work == Work::kForward ? *t.overlapped : t.item;
      const std::size_t mark = orders[d].size();
      if (!push(orders[d], first) || !push(orders[d], second)) return {};
      double sequential = 0;
      for (std::size_t k = mark; k < orders[d].size(); ++k)
        sequential += graph.ops[static_cast<std::size_t>(orders[d][k])].duration;
      if (std::abs(sequential - t.duration()) > 1e-9 * std::max(1.0, sequential)) return {};
    }
  return orders;
}

PipelineOrders to_pipeline_orders(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders) {
  PipelineOrders out;
  out.devices.resize(orders.size());
  for (std::size_t d = 0; d < orders.size(); ++d)
    for (int i : orders[d]) out.devices[d].push_back(OrderEntry{graph.ops[static_cast<std::size_t>(i)].item, {}});
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
