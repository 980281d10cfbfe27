// The large-neighbourhood search over windows of the incumbent (planner_internal.hpp), shared by
// plan_pipeline() and plan_operators().
#include <algorithm>
#include <cmath>
#include <random>

#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

std::pair<double, double> plan_score(const Schedule& s, PlanObjective objective) {
  double peak = 0, idle = 0;
  for (const DeviceMetrics& d : s.metrics.devices) {
    peak = std::max(peak, d.peak_memory);
    idle += d.span - d.busy;
  }
  switch (objective) {
    case PlanObjective::kTotalIdle: return {idle, s.metrics.makespan};
    case PlanObjective::kMemoryBalance: return {peak, s.metrics.makespan};
    default: return {s.metrics.makespan, peak};
  }
}

bool better_score(const std::pair<double, double>& a, const std::pair<double, double>& b) {
  const auto lt = [](double x, double y) { return std::isfinite(y) ? x < y - 1e-9 * std::max(1.0, std::abs(y)) : x < y; };
  if (lt(a.first, b.first)) return true;
  if (lt(b.first, a.first)) return false;
  return lt(a.second, b.second);
}

WindowSearchOutcome window_search(const InstanceGraph& graph, PlanObjective objective, std::size_t window_instances,
                                  std::int64_t node_limit, int seed, const WindowSearchHooks& hooks,
                                  std::size_t max_windows, std::size_t max_fruitless) {
  WindowSearchOutcome out;
  const std::size_t n = graph.ops.size();
  // Each window's MIP keeps a start variable and the order rows of every instance (the rest fixed to
  // the incumbent's order), so its size and GLPK's memory grow with the whole instance: ~5 KB per
  // instance. Beyond this size the windows are skipped (the heuristics' plan stands).
  if (n > kMaxWindowSearchInstances) return out;
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  const std::size_t w = std::min(window_instances, n);
  const std::size_t windows_per_pass = std::max<std::size_t>(1, 2 * n / std::max<std::size_t>(w, 1));
  if (max_windows == 0) max_windows = 4 * windows_per_pass;
  if (max_fruitless == 0) max_fruitless = 2 * windows_per_pass;
  std::size_t fruitless = 0;
  for (std::size_t window = 0;
       !out.cut && !out.stopped && !hooks.at_bound() && fruitless < max_fruitless && window < max_windows && w < n;
       ++window) {
    if (hooks.stop_requested && hooks.stop_requested()) {
      out.stopped = true;
      break;
    }
    if (hooks.remaining() <= 0) {
      out.cut = true;
      break;
    }
    if (hooks.before_window) hooks.before_window();
    // Instances by incumbent start time.
    std::vector<double> start(n, 0);
    for (const auto& tasks : hooks.schedule().device_tasks)
      for (const Task& t : tasks) {
        const int id = graph.find(t.item);
        if (id >= 0) start[static_cast<std::size_t>(id)] = t.start;
      }
    std::vector<int> by_start(n);
    for (std::size_t i = 0; i < n; ++i) by_start[i] = static_cast<int>(i);
    std::stable_sort(by_start.begin(), by_start.end(),
                     [&](int a, int b) { return start[static_cast<std::size_t>(a)] < start[static_cast<std::size_t>(b)]; });
    const std::size_t first = std::uniform_int_distribution<std::size_t>(0, n - w)(rng);
    std::vector<char> free_op(n, 0);
    for (std::size_t k = first; k < first + w; ++k) free_op[static_cast<std::size_t>(by_start[k])] = 1;
    const auto solved = solve_schedule_mip(graph, hooks.orders(), hooks.schedule(), free_op, objective,
                                           std::max(0.0, hooks.remaining()), node_limit, hooks.interrupt);
    ++out.solves;
    if (solved.time_limited) out.cut = true;
    if (solved.interrupted) out.stopped = true;
    if (!solved.orders.empty() && hooks.try_orders(solved.orders, "lns")) {
      ++out.improvements;
      fruitless = 0;
    } else {
      // Windows that did not improve are not listed among the candidates (there may be many).
      if (!solved.orders.empty()) hooks.forget_last();
      ++fruitless;
    }
  }
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
