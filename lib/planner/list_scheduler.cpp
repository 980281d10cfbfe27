// A list scheduler over the instance graph with a choice of priority rules, used as extra warm
// starts and, with random tie-breaking, as a cheap improvement step while time remains.
//
// Whenever a device could start something, it starts the instance that can start earliest; among
// those, the rule's order of phases (e.g. b > F > W), then the larger tail (more work still
// depends on it), then the jitter, then the older micro-batch. Forwards start only while the
// device's memory (and the in-flight limit) allow. Decisions are taken in time order over all
// devices, so the orders replay in the simulator to exactly these times.
#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

int random_list_draws(std::size_t instances) {
  if (instances > 20000) return 0;
  const std::size_t draws = 1000000 / std::max<std::size_t>(instances, 1);
  return static_cast<int>(std::clamp<std::size_t>(draws, 10, 200));
}

std::vector<std::vector<int>> list_schedule(const InstanceGraph& g, const ListRule& rule,
                                            std::mt19937* rng) {
  constexpr double kNever = std::numeric_limits<double>::infinity();
  const std::size_t n = g.ops.size();
  const int P = g.num_devices();
  std::vector<int> waiting(n);
  std::vector<double> ready(n, 0);  // when the inputs have arrived (once waiting is 0)
  std::vector<double> jitter(n, 0);
  std::uniform_real_distribution<double> unit(0, 1);
  for (std::size_t i = 0; i < n; ++i) {
    waiting[i] = static_cast<int>(g.pred[i].size());
    if (rng) jitter[i] = unit(*rng);
  }
  std::vector<std::vector<int>> released(static_cast<std::size_t>(P));
  for (std::size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) released[static_cast<std::size_t>(g.ops[i].device)].push_back(static_cast<int>(i));
  std::vector<double> free_at(static_cast<std::size_t>(P), 0), memory(static_cast<std::size_t>(P), 0);
  std::vector<int> in_flight(static_cast<std::size_t>(P), 0);
  std::vector<double> budget(static_cast<std::size_t>(P));
  for (int d = 0; d < P; ++d) budget[static_cast<std::size_t>(d)] = g.cap[static_cast<std::size_t>(d)] - g.params[static_cast<std::size_t>(d)];
  std::vector<std::vector<int>> orders(static_cast<std::size_t>(P));

  const auto rank = [&](int i) {
    switch (g.ops[static_cast<std::size_t>(i)].item.work) {
      case Work::kForward: return rule.rank_forward;
      case Work::kWeightGrad: return rule.rank_weight_grad;
      default: return rule.rank_input_grad;
    }
  };
  const auto fits = [&](int d, int i) {
    const Instance& op = g.ops[static_cast<std::size_t>(i)];
    if (op.alloc <= 0) return true;
    if (rule.max_in_flight > 0 && in_flight[static_cast<std::size_t>(d)] + 1 > rule.max_in_flight) return false;
    const double b = budget[static_cast<std::size_t>(d)];
    return memory[static_cast<std::size_t>(d)] + op.alloc <= b + 1e-9 * std::max(1.0, std::abs(b));
  };
  // True when instance x should go before y (both startable at the same time).
  const auto before = [&](int x, int y) {
    if (rank(x) != rank(y)) return rank(x) < rank(y);
    const double tx = g.tail[static_cast<std::size_t>(x)], ty = g.tail[static_cast<std::size_t>(y)];
    if (rule.prefer_tail && tx != ty) return tx > ty;
    if (jitter[static_cast<std::size_t>(x)] != jitter[static_cast<std::size_t>(y)])
      return jitter[static_cast<std::size_t>(x)] < jitter[static_cast<std::size_t>(y)];
    const WorkItem& a = g.ops[static_cast<std::size_t>(x)].item;
    const WorkItem& b = g.ops[static_cast<std::size_t>(y)].item;
    if (a.micro_batch != b.micro_batch) return a.micro_batch < b.micro_batch;
    return a.stage != b.stage ? a.stage > b.stage : a.route < b.route;
  };

  for (std::size_t placed = 0; placed < n; ++placed) {
    int best_d = -1, best_i = -1;
    std::size_t best_k = 0;
    double best_t = kNever;
    for (int d = 0; d < P; ++d) {
      const auto& cand = released[static_cast<std::size_t>(d)];
      for (std::size_t k = 0; k < cand.size(); ++k) {
        const int i = cand[k];
        if (!fits(d, i)) continue;
        const double t = std::max(free_at[static_cast<std::size_t>(d)], ready[static_cast<std::size_t>(i)]);
        if (t < best_t || (t == best_t && best_d == d && before(i, best_i))) {
          best_t = t;
          best_d = d;
          best_i = i;
          best_k = k;
        }
      }
    }
    if (best_d < 0) return {};  // memory blocks every device: this rule fails here
    auto& cand = released[static_cast<std::size_t>(best_d)];
    cand.erase(cand.begin() + static_cast<std::ptrdiff_t>(best_k));
    const Instance& op = g.ops[static_cast<std::size_t>(best_i)];
    const double end = best_t + op.duration;
    free_at[static_cast<std::size_t>(best_d)] = end;
    memory[static_cast<std::size_t>(best_d)] += op.alloc - op.free;
    if (op.alloc > 0) ++in_flight[static_cast<std::size_t>(best_d)];
    if (op.item.work == Work::kWeightGrad || op.item.work == Work::kBackward) {
      // Only chunks whose forward counted (units without activations never do).
      const int f = g.find(WorkItem{Work::kForward, op.item.route, op.item.micro_batch, op.item.stage});
      if (f >= 0 && g.ops[static_cast<std::size_t>(f)].alloc > 0) --in_flight[static_cast<std::size_t>(best_d)];
    }
    orders[static_cast<std::size_t>(best_d)].push_back(best_i);
    for (const Arc& a : g.succ[static_cast<std::size_t>(best_i)]) {
      const std::size_t j = static_cast<std::size_t>(a.to);
      ready[j] = std::max(ready[j], end + a.delay);
      if (--waiting[j] == 0) released[static_cast<std::size_t>(g.ops[j].device)].push_back(a.to);
    }
  }
  return orders;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
