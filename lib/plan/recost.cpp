// The re-costing check of a Plan (recost.hpp): what the plan claims, recomputed from the Graph,
// the Cluster and the CostModel alone.
#include "plan/recost.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

OPPLAN_BEGIN_NAMESPACE
namespace plan_detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxReported = 5;  // violations named in the message; the rest are counted

// Durations are sums and differences of times near the makespan: allow rounding, nothing more.
double tolerance(double need, double makespan) { return 1e-9 * std::abs(need) + 1e-12 * std::abs(makespan) + 1e-15; }

// Collects violations; the message names the first few and counts the rest.
class Findings {
 public:
  explicit Findings(std::string what) : what_(std::move(what)) {}
  void add(std::string line) {
    if (count_++ < kMaxReported) lines_ += "\n  " + line;
  }
  Status status() const {
    if (count_ == 0) return Status::Ok();
    return Status(StatusCode::kInternal,
                  fmt::format("re-costing: {} disagrees with the cost model in {} place(s):{}{}", what_, count_, lines_,
                              count_ > kMaxReported ? fmt::format("\n  ... and {} more", count_ - kMaxReported) : ""));
  }

 private:
  std::string what_;
  std::string lines_;
  int count_ = 0;
};

std::string device_text(const Cluster& cluster, int d) {
  return fmt::format("device {} ({})", d, cluster.device(DeviceId(static_cast<std::uint32_t>(d))).name);
}

// ---- operator level --------------------------------------------------------------------------

// Seconds of one piece of work of `op` on `device`: B is the input- and weight-gradient fused.
double work_time(const CostModel& cost, const Op& op, Work work, const Device& device) {
  switch (work) {
    case Work::kForward: return cost.op_time(op, Phase::kForward, device);
    case Work::kInputGrad: return cost.op_time(op, Phase::kInputGrad, device);
    case Work::kWeightGrad: return cost.op_time(op, Phase::kWeightGrad, device);
    case Work::kBackward:
      return cost.op_time(op, Phase::kInputGrad, device) + cost.op_time(op, Phase::kWeightGrad, device);
  }
  return 0;
}

Status recost_operator_level(const Plan& plan, const Graph& graph, const Cluster& cluster, const CostModel& cost,
                             const RecostOptions& options) {
  const Schedule& s = plan.schedule;
  const double makespan = s.metrics.makespan;
  Findings bad("the operator-level plan");
  if (s.device_tasks.size() != cluster.num_devices())
    bad.add(fmt::format("the schedule has {} device rows, the cluster {} devices", s.device_tasks.size(),
                        cluster.num_devices()));
  for (std::size_t d = 0; d < s.device_tasks.size() && d < cluster.num_devices(); ++d) {
    const Device& device = cluster.device(DeviceId(static_cast<std::uint32_t>(d)));
    for (const Task& t : s.device_tasks[d]) {
      const WorkItem& w = t.item;
      if (w.stage < 0 || static_cast<std::size_t>(w.stage) >= graph.num_ops() || t.overlapped) {
        bad.add(fmt::format("{} runs a task that names no op of the graph", device_text(cluster, static_cast<int>(d))));
        continue;
      }
      const Op& op = graph.op(OpId(static_cast<std::uint32_t>(w.stage)));
      const double need = work_time(cost, op, w.work, device);
      if (!(std::abs(t.duration() - need) <= tolerance(need, makespan)))
        bad.add(fmt::format("{} of op '{}' micro-batch {} on {} lasts {:g} s; the cost model says {:g} s there",
                            to_string(w.work), op.name, w.micro_batch, device_text(cluster, static_cast<int>(d)),
                            t.duration(), need));
    }
  }
  // Transfers: a forward output crosses from its producer's device to a consumer's, an input
  // gradient back from the consumer's. Each is one edge's tensor on its link (serialized links: one
  // transfer per unit edge carrying at least one such tensor, so at least the cheapest of them).
  std::map<std::tuple<int, int, std::uint32_t, bool>, std::vector<double>> expected;  // (src, dst, op, forward)
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    if (edge.src.value() >= plan.placement.size() || edge.dst.value() >= plan.placement.size()) continue;
    const DeviceId a = plan.placement[edge.src.value()], b = plan.placement[edge.dst.value()];
    if (a == b) continue;
    expected[{static_cast<int>(a.value()), static_cast<int>(b.value()), edge.src.value(), true}].push_back(
        cost.transfer_time(cluster, a, b, edge.bytes));
    expected[{static_cast<int>(b.value()), static_cast<int>(a.value()), edge.dst.value(), false}].push_back(
        cost.transfer_time(cluster, b, a, edge.bytes));
  }
  for (const Transfer& x : s.transfers) {
    const bool forward = x.item.work == Work::kForward;
    const auto it = expected.find({x.src_device, x.dst_device, static_cast<std::uint32_t>(std::max(x.item.stage, 0)), forward});
    const std::string op_name = x.item.stage >= 0 && static_cast<std::size_t>(x.item.stage) < graph.num_ops()
                                    ? graph.op(OpId(static_cast<std::uint32_t>(x.item.stage))).name
                                    : std::string("?");
    if (it == expected.end()) {
      bad.add(fmt::format("a {} transfer of op '{}' from {} to {} crosses no edge of the graph",
                          forward ? "forward" : "gradient", op_name, device_text(cluster, x.src_device),
                          device_text(cluster, x.dst_device)));
      continue;
    }
    const double least = *std::min_element(it->second.begin(), it->second.end());
    const bool ok = options.serialized_links
                        ? x.end - x.start >= least - tolerance(least, makespan)
                        : std::any_of(it->second.begin(), it->second.end(), [&](double need) {
                            return std::abs((x.end - x.start) - need) <= tolerance(need, makespan);
                          });
    if (!ok)
      bad.add(fmt::format("the {} transfer of op '{}' micro-batch {} from {} to {} lasts {:g} s; the link takes {}{:g} s",
                          forward ? "forward" : "gradient", op_name, x.item.micro_batch,
                          device_text(cluster, x.src_device), device_text(cluster, x.dst_device), x.end - x.start,
                          options.serialized_links ? "at least " : "", least));
  }
  return bad.status();
}

// ---- stage pipelines -------------------------------------------------------------------------

// The least a stage can take for one micro-batch per piece of work: its ops' time on the slowest
// device of its mesh (per op: the slowest for that op's dtype and shape), divided evenly over the
// mesh. Sharding cannot split work better than evenly, and a shard waits for the slowest device.
struct StageFloor {
  double phase[kNumPhases] = {0, 0, 0};
  double work(Work w) const {
    switch (w) {
      case Work::kForward: return phase[0];
      case Work::kInputGrad: return phase[1];
      case Work::kWeightGrad: return phase[2];
      case Work::kBackward: return phase[1] + phase[2];
    }
    return 0;
  }
};

StageFloor stage_floor(const Graph& graph, const Cluster& cluster, const CostModel& cost, const Stage& stage) {
  StageFloor floor;
  const double n = static_cast<double>(std::max<std::size_t>(stage.mesh.devices.size(), 1));
  for (OpId id : stage.ops) {
    const Op& op = graph.op(id);
    for (int p = 0; p < kNumPhases; ++p) {
      double slowest = 0;
      for (DeviceId d : stage.mesh.devices) slowest = std::max(slowest, cost.op_time(op, kAllPhases[p], cluster.device(d)));
      floor.phase[p] += slowest / n;
    }
  }
  return floor;
}

Status recost_stages(const Plan& plan, const Graph& graph, const Cluster& cluster, const CostModel& cost) {
  Findings bad(fmt::format("the {} plan", to_string(plan.strategy)));
  if (!plan.stages) return Status(StatusCode::kInternal, "re-costing: a stage plan without its stages");
  const std::vector<Stage>& stages = plan.stages->stages;
  const Schedule& s = plan.schedule;
  const double makespan = s.metrics.makespan;
  const int S = static_cast<int>(stages.size());
  if (static_cast<int>(s.device_tasks.size()) != S)
    bad.add(fmt::format("the schedule has {} rows, the plan {} stages", s.device_tasks.size(), S));
  std::vector<StageFloor> floors;
  for (const Stage& stage : stages) floors.push_back(stage_floor(graph, cluster, cost, stage));
  const auto mesh_text = [&](int st) {
    const Mesh& m = stages[static_cast<std::size_t>(st)].mesh;
    std::string names;
    for (std::size_t k = 0; k < m.devices.size() && k < 8; ++k) names += (k ? "," : "") + cluster.device(m.devices[k]).name;
    if (m.devices.size() > 8) names += ",...";
    return fmt::format("stage {} on {} device(s) ({})", st, m.devices.size(), names);
  };
  for (int row = 0; row < S && row < static_cast<int>(s.device_tasks.size()); ++row) {
    double busy = 0;
    for (const Task& t : s.device_tasks[static_cast<std::size_t>(row)]) {
      busy += t.duration();
      if (t.item.stage != row) {
        bad.add(fmt::format("row {} runs work of stage {}", row, t.item.stage));
        continue;
      }
      // An overlapped F&B slot runs both pieces at once: at least the longer of the two.
      double need = floors[static_cast<std::size_t>(row)].work(t.item.work);
      if (t.overlapped) need = std::max(need, floors[static_cast<std::size_t>(row)].work(t.overlapped->work));
      if (!(t.duration() >= need - tolerance(need, makespan)))
        bad.add(fmt::format("{} of micro-batch {} of {} lasts {:g} s; its ops need at least {:g} s on the slowest device "
                            "of its mesh",
                            to_string(t.item.work), t.item.micro_batch, mesh_text(row), t.duration(), need));
    }
    if (!(plan.iteration_seconds >= busy - tolerance(busy, makespan)))
      bad.add(fmt::format("the iteration of {:g} s is shorter than {}'s {:g} s of work", plan.iteration_seconds,
                          mesh_text(row), busy));
  }
  // Tensors crossing from stage s to s + 1 (forward) and their gradients back: every device of the
  // smaller mesh sends its shard, over at best the fastest link between the two meshes.
  std::vector<int> stage_of(graph.num_ops(), -1);
  for (int st = 0; st < S; ++st)
    for (OpId id : stages[static_cast<std::size_t>(st)].ops)
      if (id.value() < stage_of.size()) stage_of[id.value()] = st;
  std::vector<double> crossing(static_cast<std::size_t>(std::max(S, 1)), 0);
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    const int a = stage_of[edge.src.value()], b = stage_of[edge.dst.value()];
    if (a >= 0 && b > a) crossing[static_cast<std::size_t>(a)] += edge.bytes;
  }
  for (const Transfer& x : s.transfers) {
    const bool forward = x.item.work == Work::kForward;
    const int boundary = forward ? x.item.stage : x.item.stage - 1;
    if (boundary < 0 || boundary + 1 >= S) {
      bad.add(fmt::format("a transfer of stage {} crosses no stage boundary", x.item.stage));
      continue;
    }
    const Mesh& from = stages[static_cast<std::size_t>(boundary)].mesh;
    const Mesh& to = stages[static_cast<std::size_t>(boundary + 1)].mesh;
    const double shards = static_cast<double>(std::max<std::size_t>(std::min(from.devices.size(), to.devices.size()), 1));
    const double bytes = crossing[static_cast<std::size_t>(boundary)] / shards;
    double least = kInf;
    for (DeviceId a : from.devices)
      for (DeviceId b : to.devices)
        least = std::min(least, forward ? cost.transfer_time(cluster, a, b, bytes) : cost.transfer_time(cluster, b, a, bytes));
    if (!(x.end - x.start >= least - tolerance(least, makespan)))
      bad.add(fmt::format("the {} transfer of micro-batch {} between stages {} and {} lasts {:g} s; {:g} bytes need at "
                          "least {:g} s on the fastest link between the meshes",
                          forward ? "forward" : "gradient", x.item.micro_batch, boundary, boundary + 1, x.end - x.start,
                          bytes, least));
  }
  return bad.status();
}

// ---- parallel configurations -----------------------------------------------------------------

Status recost_parallel_config(const Plan& plan, const Graph& graph, const Cluster& cluster, const CostModel& cost,
                              const RecostOptions& options) {
  if (!plan.configs) return Status(StatusCode::kInternal, "re-costing: a parallel-config plan without its search");
  const ParallelConfig& config = plan.configs->best.config;
  EvaluateOptions eo = options.evaluate;
  eo.keep_schedule = false;  // only the figures are compared
  auto again = evaluate(graph, cluster, config, cost, eo);
  if (!again.ok())
    return Status(StatusCode::kInternal,
                  fmt::format("re-costing: evaluate() refuses the parallel-config plan's configuration: {}",
                              again.status().message()));
  // The same evaluator on the same input must give the same figure, bit for bit: anything else
  // means the plan carries a time evaluate() did not produce.
  if (again->iteration_seconds != plan.iteration_seconds || again->iteration_seconds != plan.configs->best.iteration_seconds)
    return Status(StatusCode::kInternal,
                  fmt::format("re-costing: the parallel-config plan claims an iteration of {:.17g} s (its evaluation "
                              "{:.17g} s); evaluate() of its configuration gives {:.17g} s",
                              plan.iteration_seconds, plan.configs->best.iteration_seconds, again->iteration_seconds));
  return Status::Ok();
}

}  // namespace

Status recost_plan(const Plan& plan, const Graph& graph, const Cluster& cluster, const CostModel& cost,
                   const RecostOptions& options) {
  switch (plan.strategy) {
    case PlanStrategy::kOperatorLevel: return recost_operator_level(plan, graph, cluster, cost, options);
    case PlanStrategy::kHierarchical:
    case PlanStrategy::kPipelineOnly: return recost_stages(plan, graph, cluster, cost);
    case PlanStrategy::kParallelConfig: return recost_parallel_config(plan, graph, cluster, cost, options);
    case PlanStrategy::kAuto: break;
  }
  return Status(StatusCode::kInternal, "re-costing: a plan must name the strategy that produced it, not 'auto'");
}

}  // namespace plan_detail
OPPLAN_END_NAMESPACE
