// A list scheduler over the instance graph with a choice of priority rules, used as extra warm
// starts and, with random tie-breaking, as a cheap improvement step while time remains.
//
// Whenever a device could start something, it starts the instance that can start earliest; among
// those, the rule's order of phases (e.g. b > F > W), then the larger tail (more work still
// depends on it), then the jitter, then the older micro-batch. Forwards start only while the
// device's memory (and the in-flight limit) allow. Decisions are taken in time order over all
// devices, so the orders replay in the simulator to exactly these times.
//
// Then improve_orders(): a local search over per-device orders (of a list schedule or any other
// incumbent), moving instances along its critical paths.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

int random_list_draws(std::size_t instances) {
  if (instances > 20000) return 0;
  const std::size_t draws = 1000000 / std::max<std::size_t>(instances, 1);
  return static_cast<int>(std::clamp<std::size_t>(draws, 10, 200));
}

std::int64_t order_search_evaluations(std::size_t instances) {
  // About 3 * 10^8 instance visits in all (a replay costs about the instance count): a few seconds
  // up to ~1,500 instances, about 15 s at 3,000 (DualPipe's PP-16 sweep plans still improved from
  // 2 to 3 * 10^8). Small instances stop at 200,000 replays (a few seconds at 400).
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(instances, 1));
  return std::clamp<std::int64_t>(300'000'000 / n, 2'000, 200'000);
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

namespace {

// Per-device memory of fixed orders: every allocating instance fits under the cap at its start
// (the device runs one instance at a time, so what is live then is the prefix sum of its order).
bool orders_fit_memory(const InstanceGraph& g, const std::vector<int>& order, int device) {
  const double budget = g.cap[static_cast<std::size_t>(device)] - g.params[static_cast<std::size_t>(device)];
  if (!std::isfinite(budget)) return true;
  const double eps = 1e-9 * std::max(1.0, std::abs(budget));
  double live = 0;
  for (int i : order) {
    const Instance& op = g.ops[static_cast<std::size_t>(i)];
    if (op.alloc > 0 && live + op.alloc > budget + eps) return false;
    live += op.alloc - op.free;
  }
  return true;
}

// The makespan of orders and, as the tie-break that lets the search cross plateaus of equal
// makespan, the sum of every device's last end (shorter device spans leave more room to the
// critical one). Infinite when the orders deadlock.
struct OrderScore {
  double makespan = std::numeric_limits<double>::infinity();
  double spans = std::numeric_limits<double>::infinity();
};

OrderScore score_orders(const InstanceGraph& g, const std::vector<std::vector<int>>& orders, std::vector<double>& start) {
  OrderScore s;
  const double makespan = earliest_starts(g, orders, start);
  if (makespan < 0) return s;
  s.makespan = makespan;
  s.spans = 0;
  for (const auto& order : orders)
    if (!order.empty()) {
      const int last = order.back();
      s.spans += start[static_cast<std::size_t>(last)] + g.ops[static_cast<std::size_t>(last)].duration;
    }
  return s;
}

}  // namespace

std::vector<std::vector<int>> improve_orders(const InstanceGraph& g, std::vector<std::vector<int>> orders,
                                             std::int64_t evaluations, std::mt19937& rng, double target,
                                             const std::function<bool()>& stop) {
  const std::size_t n = g.ops.size();
  std::vector<double> start;
  OrderScore current = score_orders(g, orders, start);
  if (!std::isfinite(current.makespan)) return {};
  const auto eps = [](double x) { return 1e-9 * std::max(1.0, std::abs(x)); };
  std::vector<std::vector<int>> best = orders;
  double best_makespan = current.makespan;
  bool improved = false;
  // After this many moves without a strict improvement, restart from the best orders with a kick
  // of this many random adjacent swaps (iterated local search; 5,000 and 12 did best among the
  // settings tried on DualPipe's PP-8 sweep cases, though not by much).
  constexpr long kStall = 5000;
  constexpr int kKick = 12;
  // Position of every instance in its device's order.
  std::vector<std::size_t> pos(n, 0);
  const auto index = [&](int d) {
    const auto& order = orders[static_cast<std::size_t>(d)];
    for (std::size_t k = 0; k < order.size(); ++k) pos[static_cast<std::size_t>(order[k])] = k;
  };
  const auto index_all = [&] {
    for (int d = 0; d < g.num_devices(); ++d) index(d);
  };
  index_all();
  const auto end_of = [&](int i) { return start[static_cast<std::size_t>(i)] + g.ops[static_cast<std::size_t>(i)].duration; };
  std::vector<double> trial_start;
  std::vector<std::pair<int, std::size_t>> critical;  // (device, position) of critical instances whose device
                                                      // predecessor ends exactly at their start
  // Moves the instance at `from` to `to` on device d; false, and d's order unchanged, when memory
  // forbids it. `saved` keeps d's order before the move, to undo it.
  std::vector<int> saved;
  const auto move = [&](int d, std::size_t from, std::size_t to) {
    auto& order = orders[static_cast<std::size_t>(d)];
    saved = order;
    const int moved = order[from];
    order.erase(order.begin() + static_cast<std::ptrdiff_t>(from));
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(to), moved);
    if (orders_fit_memory(g, order, d)) return true;
    order = saved;
    return false;
  };
  long stall = 0;
  for (std::int64_t it = 0; it < evaluations; ++it) {
    if (best_makespan <= target + eps(target)) break;
    if ((it & 255) == 0 && stop && stop()) break;
    // Stuck on a plateau for long: restart from the best orders with a few random adjacent swaps.
    if (stall >= kStall) {
      stall = 0;
      orders = best;
      for (int kick = 0; kick < kKick; ++kick) {
        const int d = static_cast<int>(rng() % static_cast<unsigned>(g.num_devices()));
        const auto& order = orders[static_cast<std::size_t>(d)];
        if (order.size() < 2) continue;
        const std::size_t from = 1 + rng() % (order.size() - 1);
        if (!move(d, from, from - 1)) continue;
        if (!std::isfinite(score_orders(g, orders, trial_start).makespan)) orders[static_cast<std::size_t>(d)] = saved;
      }
      current = score_orders(g, orders, start);
      index_all();
      ++it;
      continue;
    }
    // A critical path of the current orders, walked back from an instance that ends last: at each
    // step a tight predecessor (on the device, or a data dependency), drawn at random when several.
    critical.clear();
    {
      int i = -1;
      for (std::size_t k = 0; k < n; ++k)
        if (end_of(static_cast<int>(k)) >= current.makespan - eps(current.makespan) &&
            (i < 0 || rng() % 2 == 0))
          i = static_cast<int>(k);
      while (i >= 0) {
        const Instance& op = g.ops[static_cast<std::size_t>(i)];
        const double s = start[static_cast<std::size_t>(i)];
        std::vector<int> tight;
        const std::size_t p = pos[static_cast<std::size_t>(i)];
        const auto& order = orders[static_cast<std::size_t>(op.device)];
        if (p > 0 && std::abs(end_of(order[p - 1]) - s) <= eps(s)) {
          critical.push_back({op.device, p});
          tight.push_back(order[p - 1]);
        }
        for (const Arc& a : g.pred[static_cast<std::size_t>(i)])
          if (std::abs(end_of(a.to) + a.delay - s) <= eps(s)) tight.push_back(a.to);
        i = tight.empty() ? -1 : tight[rng() % tight.size()];
      }
    }
    // The move: an instance of the critical path jumps ahead of its device predecessor (one or a
    // few places), or the predecessor jumps behind it, or, off the path, a random adjacent pair
    // swaps (a kick across plateaus).
    int d = 0;
    std::size_t from = 0, to = 0;
    if (!critical.empty() && rng() % 8 != 0) {
      const auto [cd, p] = critical[rng() % critical.size()];
      d = cd;
      const std::size_t jump = 1 + (rng() % 4 == 0 ? rng() % 3 : 0);
      const std::size_t size = orders[static_cast<std::size_t>(d)].size();
      if (rng() % 2 == 0) {
        from = p;
        to = p >= jump ? p - jump : 0;
      } else {
        from = p - 1;
        to = std::min(size - 1, p - 1 + jump);
      }
    } else {
      d = static_cast<int>(rng() % static_cast<unsigned>(g.num_devices()));
      const auto& order = orders[static_cast<std::size_t>(d)];
      if (order.size() < 2) continue;
      from = 1 + rng() % (order.size() - 1);
      to = from - 1;
    }
    if (from == to || !move(d, from, to)) {
      ++stall;
      continue;
    }
    const OrderScore trial = score_orders(g, orders, trial_start);
    const bool strictly = trial.makespan < current.makespan - eps(current.makespan) ||
                          (trial.makespan <= current.makespan + eps(current.makespan) &&
                           trial.spans < current.spans - eps(current.spans));
    const bool accept = strictly || (trial.makespan <= current.makespan + eps(current.makespan) &&
                                     trial.spans <= current.spans + eps(current.spans));
    if (!accept) {
      orders[static_cast<std::size_t>(d)] = saved;
      ++stall;
      continue;
    }
    stall = strictly ? 0 : stall + 1;
    current = trial;
    std::swap(start, trial_start);
    index(d);
    if (current.makespan < best_makespan - eps(best_makespan)) {
      best_makespan = current.makespan;
      best = orders;
      improved = true;
    }
  }
  if (!improved) return {};
  return best;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
