// verify_operator_schedule(): checks an operator-level schedule against the Graph, the Cluster and
// the CostModel alone -- nothing of how the planner coarsened, placed or ordered is trusted.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <opplan/operator_planner.hpp>

OPPLAN_BEGIN_NAMESPACE

namespace {

class OperatorChecker {
 public:
  OperatorChecker(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                  const std::vector<DeviceId>& placement, int micro_batches, const Schedule& schedule,
                  std::optional<double> memory_cap, bool serialized_links)
      : graph_(graph), cluster_(cluster), cost_(cost), placement_(placement), M_(micro_batches), schedule_(schedule),
        memory_cap_(memory_cap), serialized_links_(serialized_links) {}

  VerifyReport run() {
    if (!check_shape()) return std::move(report_);
    index_tasks();
    check_missing();
    check_precedence();
    check_overlap_and_memory();
    if (serialized_links_) check_links();
    check_metrics();
    return std::move(report_);
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // Slots per (op, micro-batch): F, b-or-B, W.
  struct Ref {
    std::size_t device = kNone, position = kNone;
  };

  void add(ViolationKind kind, int device, std::string message) {
    if (report_.violations.size() >= 1000) {
      report_.truncated = true;
      return;
    }
    report_.violations.push_back({kind, device, std::move(message)});
  }
  static double tol(double t) { return 1e-9 * std::max(1.0, std::abs(t)); }
  std::string name(const WorkItem& w) const {
    return fmt::format("{} of op '{}' (micro-batch {})", to_string(w.work),
                       graph_.op(OpId(static_cast<std::uint32_t>(w.stage))).name, w.micro_batch);
  }
  const Task& at(const Ref& r) const { return schedule_.device_tasks[r.device][r.position]; }
  Ref& slot(std::size_t op, int m, int k) { return slots_[(op * static_cast<std::size_t>(M_) + static_cast<std::size_t>(m)) * 3 + static_cast<std::size_t>(k)]; }
  const Device& device_of(std::size_t op) const { return cluster_.device(placement_[op]); }
  bool splits(std::size_t op) const {
    return cost_.op_time(graph_.op(OpId(static_cast<std::uint32_t>(op))), Phase::kWeightGrad, device_of(op)) > 0;
  }

  bool check_shape() {
    if (placement_.size() != graph_.num_ops()) {
      add(ViolationKind::kStructure, -1,
          fmt::format("the placement names {} ops, the graph has {}", placement_.size(), graph_.num_ops()));
      return false;
    }
    for (std::size_t i = 0; i < placement_.size(); ++i)
      if (placement_[i].value() >= cluster_.num_devices()) {
        add(ViolationKind::kStructure, -1,
            fmt::format("op '{}' is placed on device {}, the cluster has {}", graph_.op(OpId(static_cast<std::uint32_t>(i))).name,
                        placement_[i].value(), cluster_.num_devices()));
        return false;
      }
    // Co-location groups share a device.
    std::map<std::string, std::size_t> group_op;
    for (std::size_t i = 0; i < placement_.size(); ++i) {
      const Op& op = graph_.op(OpId(static_cast<std::uint32_t>(i)));
      if (op.group.empty()) continue;
      const auto [it, first] = group_op.emplace(op.group, i);
      if (!first && placement_[it->second] != placement_[i])
        add(ViolationKind::kStructure, -1,
            fmt::format("co-location group '{}': op '{}' is on device {}, op '{}' on device {}", op.group,
                        graph_.op(OpId(static_cast<std::uint32_t>(it->second))).name, placement_[it->second].value(),
                        op.name, placement_[i].value()));
    }
    if (M_ < 1 || schedule_.device_tasks.size() != cluster_.num_devices()) {
      add(ViolationKind::kStructure, -1,
          fmt::format("the schedule has {} devices and {} micro-batches were asked; the cluster has {} devices",
                      schedule_.device_tasks.size(), M_, cluster_.num_devices()));
      return false;
    }
    return true;
  }

  void index_tasks() {
    slots_.assign(graph_.num_ops() * static_cast<std::size_t>(M_) * 3, Ref{});
    for (std::size_t d = 0; d < schedule_.device_tasks.size(); ++d)
      for (std::size_t p = 0; p < schedule_.device_tasks[d].size(); ++p) {
        const Task& t = schedule_.device_tasks[d][p];
        const WorkItem& w = t.item;
        if (t.overlapped || w.route != 0 || w.stage < 0 || static_cast<std::size_t>(w.stage) >= graph_.num_ops() ||
            w.micro_batch < 0 || w.micro_batch >= M_) {
          add(ViolationKind::kStructure, static_cast<int>(d),
              fmt::format("device {} task {} names no op and micro-batch of the plan", d, p));
          continue;
        }
        const std::size_t op = static_cast<std::size_t>(w.stage);
        if (placement_[op].value() != d) {
          add(ViolationKind::kStructure, static_cast<int>(d),
              fmt::format("{} runs on device {}, the op is placed on device {}", name(w), d, placement_[op].value()));
          continue;
        }
        const bool split = splits(op);
        int k = 0;
        switch (w.work) {
          case Work::kForward: k = 0; break;
          case Work::kBackward: k = split ? -1 : 1; break;
          case Work::kInputGrad: k = split ? 1 : -1; break;
          case Work::kWeightGrad: k = split ? 2 : -1; break;
        }
        if (k < 0) {
          add(ViolationKind::kStructure, static_cast<int>(d),
              fmt::format("{}: the op's backward is {}", name(w), split ? "split into b and W" : "one B (no W time)"));
          continue;
        }
        if (!std::isfinite(t.start) || !std::isfinite(t.end) || t.end < t.start) {
          add(ViolationKind::kTime, static_cast<int>(d), fmt::format("{} runs from {} to {}", name(w), t.start, t.end));
          continue;
        }
        const Op& o = graph_.op(OpId(static_cast<std::uint32_t>(op)));
        const Phase phase = k == 0 ? Phase::kForward : k == 1 ? Phase::kInputGrad : Phase::kWeightGrad;
        const double need = cost_.op_time(o, phase, device_of(op));
        if (t.end - t.start < need - tol(need))
          add(ViolationKind::kDuration, static_cast<int>(d),
              fmt::format("{} lasts {:g} s, the cost model says {:g} s on device {}", name(w), t.end - t.start, need, d));
        const double act = cost_.op_memory(o).activations;
        const double alloc = k == 0 ? act : 0, free = (k == 2 || (k == 1 && !split)) ? act : 0;
        if (std::abs(t.memory_alloc - alloc) > tol(alloc) || std::abs(t.memory_free - free) > tol(free))
          add(ViolationKind::kMemory, static_cast<int>(d),
              fmt::format("{} allocates {:g} and frees {:g} bytes; the op's activations are {:g}", name(w),
                          t.memory_alloc, t.memory_free, act));
        Ref& r = slot(op, w.micro_batch, k);
        if (r.device != kNone) {
          add(ViolationKind::kDuplicate, static_cast<int>(d), fmt::format("{} runs twice", name(w)));
          continue;
        }
        r = Ref{d, p};
      }
  }

  void check_missing() {
    for (std::size_t op = 0; op < graph_.num_ops(); ++op)
      for (int m = 0; m < M_; ++m)
        for (int k = 0; k < (splits(op) ? 3 : 2); ++k)
          if (slot(op, m, k).device == kNone) {
            const Work w = k == 0 ? Work::kForward : k == 2 ? Work::kWeightGrad : splits(op) ? Work::kInputGrad : Work::kBackward;
            add(ViolationKind::kMissing, static_cast<int>(placement_[op].value()),
                fmt::format("{} never runs", name(WorkItem{w, 0, m, static_cast<int>(op)})));
          }
  }

  void need_after(const Ref& first, const Ref& then, double delay) {
    if (first.device == kNone || then.device == kNone) return;
    const Task &a = at(first), &b = at(then);
    if (b.start < a.end + delay - tol(a.end + delay))
      add(ViolationKind::kPrecedence, static_cast<int>(then.device),
          fmt::format("{} starts at {:g} s, before {} ends at {:g} s{}", name(b.item), b.start, name(a.item), a.end,
                      delay > 0 ? fmt::format(" and its {:g} s transfer", delay) : std::string()));
  }

  void check_precedence() {
    for (std::size_t op = 0; op < graph_.num_ops(); ++op)
      for (int m = 0; m < M_; ++m) {
        need_after(slot(op, m, 0), slot(op, m, 1), 0);
        need_after(slot(op, m, 1), slot(op, m, 2), 0);
      }
    for (EdgeId e : graph_.edges()) {
      const Edge& edge = graph_.edge(e);
      const DeviceId a = placement_[edge.src.value()], b = placement_[edge.dst.value()];
      const double forward = a == b ? 0 : cost_.transfer_time(cluster_, a, b, edge.bytes);
      const double backward = a == b ? 0 : cost_.transfer_time(cluster_, b, a, edge.bytes);
      for (int m = 0; m < M_; ++m) {
        need_after(slot(edge.src.value(), m, 0), slot(edge.dst.value(), m, 0), forward);
        need_after(slot(edge.dst.value(), m, 1), slot(edge.src.value(), m, 1), backward);
      }
    }
  }

  void check_overlap_and_memory() {
    std::vector<double> params(cluster_.num_devices(), 0);
    for (std::size_t op = 0; op < graph_.num_ops(); ++op)
      params[placement_[op].value()] += cost_.op_memory(graph_.op(OpId(static_cast<std::uint32_t>(op)))).parameters;
    for (std::size_t d = 0; d < schedule_.device_tasks.size(); ++d) {
      std::vector<const Task*> tasks;
      for (const Task& t : schedule_.device_tasks[d]) tasks.push_back(&t);
      std::stable_sort(tasks.begin(), tasks.end(), [](const Task* x, const Task* y) { return x->start < y->start; });
      for (std::size_t i = 1; i < tasks.size(); ++i)
        if (tasks[i]->start < tasks[i - 1]->end - tol(tasks[i - 1]->end))
          add(ViolationKind::kOverlap, static_cast<int>(d),
              fmt::format("device {}: {} starts at {:g} s while {} runs until {:g} s", d, name(tasks[i]->item),
                          tasks[i]->start, name(tasks[i - 1]->item), tasks[i - 1]->end));
      // Allocation at a task's start, release at its end; releases first at equal times.
      std::vector<std::pair<double, double>> events;  // (time, +bytes / -bytes)
      for (const Task* t : tasks) {
        events.emplace_back(t->start, t->memory_alloc);
        events.emplace_back(t->end, -t->memory_free);
      }
      std::sort(events.begin(), events.end());
      double live = params[d], peak = params[d];
      for (const auto& [time, delta] : events) {
        live += delta;
        peak = std::max(peak, live);
      }
      const double cap = memory_cap_ ? *memory_cap_ : cluster_.device(DeviceId(static_cast<std::uint32_t>(d))).memory_bytes;
      if (peak > cap + tol(cap))
        add(ViolationKind::kMemory, static_cast<int>(d),
            fmt::format("device {} holds {:g} bytes at its peak (parameters {:g}), above its {:g} bytes", d, peak,
                        params[d], cap));
      if (d < schedule_.param_memory.size() && std::abs(schedule_.param_memory[d] - params[d]) > tol(params[d]))
        add(ViolationKind::kMemory, static_cast<int>(d),
            fmt::format("device {}: the schedule says {:g} bytes of parameters, its ops have {:g}", d,
                        schedule_.param_memory[d], params[d]));
    }
  }

  // One transfer at a time on every directed link.
  void check_links() {
    std::map<std::pair<int, int>, std::vector<const Transfer*>> links;
    for (const Transfer& t : schedule_.transfers) links[{t.src_device, t.dst_device}].push_back(&t);
    for (auto& [link, transfers] : links) {
      std::stable_sort(transfers.begin(), transfers.end(), [](const Transfer* x, const Transfer* y) { return x->start < y->start; });
      for (std::size_t i = 1; i < transfers.size(); ++i)
        if (transfers[i]->start < transfers[i - 1]->end - tol(transfers[i - 1]->end))
          add(ViolationKind::kTransfer, link.first,
              fmt::format("link {} -> {}: the transfer after {} starts at {:g} s while the one after {} runs until {:g} s",
                          link.first, link.second, name(transfers[i]->item), transfers[i]->start,
                          name(transfers[i - 1]->item), transfers[i - 1]->end));
    }
  }

  void check_metrics() {
    Schedule copy = schedule_;
    copy.compute_metrics();
    if (std::abs(copy.metrics.makespan - schedule_.metrics.makespan) > tol(copy.metrics.makespan))
      add(ViolationKind::kMetrics, -1,
          fmt::format("the stored makespan {:g} s differs from the tasks' {:g} s", schedule_.metrics.makespan,
                      copy.metrics.makespan));
  }

  const Graph& graph_;
  const Cluster& cluster_;
  const CostModel& cost_;
  const std::vector<DeviceId>& placement_;
  int M_;
  const Schedule& schedule_;
  std::optional<double> memory_cap_;
  bool serialized_links_ = false;
  std::vector<Ref> slots_;
  VerifyReport report_;
};

}  // namespace

VerifyReport verify_operator_schedule(const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                      const std::vector<DeviceId>& placement, int micro_batches,
                                      const Schedule& schedule, std::optional<double> memory_cap,
                                      bool serialized_links) {
  return OperatorChecker(graph, cluster, cost, placement, micro_batches, schedule, memory_cap, serialized_links).run();
}

OPPLAN_END_NAMESPACE
