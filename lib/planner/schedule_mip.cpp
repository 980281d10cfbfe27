// The scheduling MIP on a fixed placement (the lower level of the bi-level framework), built as a
// Formulation so that user extensions see its variables:
//
//   start    s_i in [head_i, UB - p_i - tail_i]           one per operator instance
//   makespan C >= s_i + p_i                               for the instances without successors
//   order    y_ik binary, 1 iff i runs before k           one per unordered pair of free instances
//            on one device that no dependency orders already
//   s_k >= s_b + p_b + delay                              data dependencies (p2p delays included)
//   s_k >= s_i + p_i - M (1 - y_ik),  s_i >= s_k + p_k - M y_ik          one device, one at a time
//   params_d + a_k + sum_{i before k} (a_i - f_i) <= cap_d               at every allocating start
//
// M and UB are the incumbent's makespan: every schedule worth finding ends by then, so the rows
// are valid and the incumbent itself is a feasible warm start. Pairs with a non-free instance keep
// the incumbent's order (plain rows, no binary): that is how a window of the large-neighbourhood
// search is expressed, and with every instance free it is the whole problem.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opplan/formulation.hpp>
#include <opplan/solver.hpp>

#include "planner/planner_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

double earliest_starts(const InstanceGraph& g, const std::vector<std::vector<int>>& orders, std::vector<double>& start) {
  const std::size_t n = g.ops.size();
  start.assign(n, 0);
  std::vector<int> waiting(n);
  for (std::size_t i = 0; i < n; ++i) waiting[i] = static_cast<int>(g.pred[i].size());
  std::vector<std::size_t> next(orders.size(), 0);
  std::vector<double> free_at(orders.size(), 0);
  std::size_t placed = 0;
  double makespan = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t d = 0; d < orders.size(); ++d)
      while (next[d] < orders[d].size()) {
        const int i = orders[d][next[d]];
        if (waiting[static_cast<std::size_t>(i)] > 0) break;
        double t = free_at[d];
        for (const Arc& a : g.pred[static_cast<std::size_t>(i)])
          t = std::max(t, start[static_cast<std::size_t>(a.to)] + g.ops[static_cast<std::size_t>(a.to)].duration + a.delay);
        start[static_cast<std::size_t>(i)] = t;
        free_at[d] = t + g.ops[static_cast<std::size_t>(i)].duration;
        makespan = std::max(makespan, free_at[d]);
        for (const Arc& a : g.succ[static_cast<std::size_t>(i)]) --waiting[static_cast<std::size_t>(a.to)];
        ++next[d];
        ++placed;
        progress = true;
      }
  }
  return placed == n ? makespan : -1;
}

namespace {

class ScheduleFormulation : public Formulation {
 public:
  // symmetry_breaking: keep micro-batches of one chunk and work in number order when the
  // incumbent does (fewer binaries; not for bounds, see lp_relaxation_bound()).
  ScheduleFormulation(const InstanceGraph& g, const std::vector<std::vector<int>>& orders,
                      const std::vector<double>& start, double upper, const std::vector<char>& free_op,
                      PlanObjective objective, bool symmetry_breaking = true)
      : g_(g), orders_(orders), start_(start), upper_(upper), free_(free_op), objective_(objective),
        symmetry_breaking_(symmetry_breaking) {}

  std::string name() const override { return "pipeline-schedule"; }

  // The warm start: the incumbent's times and orders, in the model's variable order.
  std::vector<double> warm_start() const { return warm_; }
  const std::vector<Var>& start_vars() const { return s_; }
  Var peak_var() const { return peak_; }

 protected:
  Status build_model(MipModel& model, VariableGroups& vars) override {
    const std::size_t n = g_.ops.size();
    const int P = g_.num_devices();
    const auto label = [&](int i) {
      const WorkItem& w = g_.ops[static_cast<std::size_t>(i)].item;
      return fmt::format("{}{}.r{}.s{}", work_letter(w.work), w.micro_batch, w.route, w.stage);
    };
    const auto set_warm = [&](Var v, double value) {
      if (warm_.size() <= v.index()) warm_.resize(v.index() + 1, 0);
      warm_[v.index()] = value;
    };
    s_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Instance& op = g_.ops[i];
      const double hi = std::max(g_.head[i], upper_ - op.duration - g_.tail[i]);
      s_[i] = model.add_continuous(g_.head[i], hi);
      vars.add("start", s_[i], label(static_cast<int>(i)));
      set_warm(s_[i], std::clamp(start_[i], g_.head[i], hi));
    }
    const Var cmax = model.add_continuous(0, upper_, "makespan");
    vars.add("makespan", cmax);
    set_warm(cmax, upper_);
    for (std::size_t i = 0; i < n; ++i) {
      for (const Arc& a : g_.succ[i])
        model.add_row(LinearExpr(s_[static_cast<std::size_t>(a.to)]) - LinearExpr(s_[i]) >= g_.ops[i].duration + a.delay);
      if (g_.succ[i].empty()) model.add_row(LinearExpr(cmax) - LinearExpr(s_[i]) >= g_.ops[i].duration);
    }

    // Which free instances already precede which (data dependencies): no binary for those pairs.
    // A depth-first search per free instance, cut at instances the window cannot reach in time.
    double window_end = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (free_[i]) window_end = std::max(window_end, start_[i] + g_.ops[i].duration);
    std::vector<std::vector<char>> reach(n);
    std::vector<int> stack;
    for (std::size_t i = 0; i < n; ++i) {
      if (!free_[i]) continue;
      reach[i].assign(n, 0);
      stack.assign(1, static_cast<int>(i));
      while (!stack.empty()) {
        const int u = stack.back();
        stack.pop_back();
        for (const Arc& a : g_.succ[static_cast<std::size_t>(u)]) {
          auto& r = reach[i][static_cast<std::size_t>(a.to)];
          if (r || start_[static_cast<std::size_t>(a.to)] > window_end) continue;
          r = 1;
          stack.push_back(a.to);
        }
      }
    }
    M_ = upper_;
    // before[(i,k)] as a constant (1 / 0) or an expression in y, kept per device for the memory rows.
    for (int d = 0; d < P; ++d) {
      const auto& ops = orders_[static_cast<std::size_t>(d)];
      const std::size_t m = ops.size();
      const auto s_of = [&](int i) { return s_[static_cast<std::size_t>(i)]; };
      const auto p_of = [&](int i) { return g_.ops[static_cast<std::size_t>(i)].duration; };
      // Non-free instances keep their order: consecutive ones in a chain of rows.
      int last_fixed = -1;
      std::vector<std::size_t> free_pos;  // positions of the free instances, in incumbent order
      for (std::size_t p = 0; p < m; ++p) {
        const int i = ops[p];
        if (free_[static_cast<std::size_t>(i)]) {
          free_pos.push_back(p);
          continue;
        }
        if (last_fixed >= 0) model.add_row(LinearExpr(s_of(i)) - LinearExpr(s_of(last_fixed)) >= p_of(last_fixed));
        last_fixed = i;
      }
      // A free instance against every non-free one: the incumbent's order (the window's edges).
      for (std::size_t fp : free_pos) {
        const int k = ops[fp];
        for (std::size_t p = 0; p < m; ++p) {
          const int i = ops[p];
          if (free_[static_cast<std::size_t>(i)]) continue;
          if (p < fp)
            model.add_row(LinearExpr(s_of(k)) - LinearExpr(s_of(i)) >= p_of(i));
          else
            model.add_row(LinearExpr(s_of(i)) - LinearExpr(s_of(k)) >= p_of(k));
        }
      }
      // Free pairs: a binary unless a dependency or the symmetry rule orders them.
      const std::size_t f = free_pos.size();
      Pairs pairs{f, std::vector<Var>(f * f), std::vector<signed char>(f * f, 0)};
      for (std::size_t a = 0; a < f; ++a)
        for (std::size_t b = a + 1; b < f; ++b) {
          const int i = ops[free_pos[a]], k = ops[free_pos[b]];  // i before k in the incumbent
          if (reach[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] ||
              reach[static_cast<std::size_t>(k)][static_cast<std::size_t>(i)]) {
            pairs.fixed[a * f + b] = reach[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] ? 1 : -1;
            continue;
          }
          const WorkItem& wa = g_.ops[static_cast<std::size_t>(i)].item;
          const WorkItem& wb = g_.ops[static_cast<std::size_t>(k)].item;
          // Micro-batches of one chunk and work are interchangeable: keep them in number order when
          // the incumbent does (symmetry breaking), which saves the binary.
          if (symmetry_breaking_ && wa.work == wb.work && wa.route == wb.route && wa.stage == wb.stage &&
              wa.micro_batch < wb.micro_batch) {
            pairs.fixed[a * f + b] = 1;
            model.add_row(LinearExpr(s_of(k)) - LinearExpr(s_of(i)) >= p_of(i));
            continue;
          }
          const Var v = model.add_binary();
          vars.add("order", v, label(i) + "<" + label(k));
          set_warm(v, 1);
          pairs.y[a * f + b] = v;
          // s_k - s_i - M y >= p_i - M ;  s_i - s_k + M y >= p_k
          model.add_row(LinearExpr{{s_of(k), 1}, {s_of(i), -1}, {v, -M_}} >= p_of(i) - M_);
          model.add_row(LinearExpr{{s_of(i), 1}, {s_of(k), -1}, {v, M_}} >= p_of(k));
        }
      add_memory_rows(model, vars, d, ops, free_pos, pairs);
      add_idle_terms(model, vars, d, ops);
    }
    if (objective_ == PlanObjective::kMemoryBalance && peak_.valid()) {
      double smallest = kInf;
      for (const Instance& op : g_.ops)
        if (op.alloc > 0) smallest = std::min(smallest, op.alloc);
      // Lexicographic: one unit of the smallest activation outweighs the whole horizon.
      model.minimize(LinearExpr(peak_) * ((upper_ + 1) / smallest) + LinearExpr(cmax));
    } else if (objective_ == PlanObjective::kTotalIdle && !spans_.terms().empty()) {
      model.minimize(spans_ * static_cast<double>(P + 1) + LinearExpr(cmax) * 1e-3);
    } else {
      model.minimize(LinearExpr(cmax));
    }
    warm_.resize(model.num_variables(), 0);
    return Status::Ok();
  }

 private:
  // Among the free instances of one device: pair (a, b), a < b in incumbent order, is ordered by
  // the binary y (1 = a first) when valid, else fixed (+1 a first, -1 b first).
  struct Pairs {
    std::size_t f;
    std::vector<Var> y;
    std::vector<signed char> fixed;
  };

  void add_memory_rows(MipModel& model, VariableGroups& vars, int d, const std::vector<int>& ops,
                       const std::vector<std::size_t>& free_pos, const Pairs& pairs) {
    const double cap = g_.cap[static_cast<std::size_t>(d)] - g_.params[static_cast<std::size_t>(d)];
    const bool balance = objective_ == PlanObjective::kMemoryBalance;
    if (!std::isfinite(cap) && !balance) return;
    if (balance && !peak_.valid()) {
      peak_ = model.add_continuous(0, kInf, "peak_memory");
      vars.add("peak_memory", peak_);
    }
    const std::size_t m = ops.size(), f = free_pos.size();
    std::vector<int> free_index(m, -1);
    for (std::size_t a = 0; a < f; ++a) free_index[free_pos[a]] = static_cast<int>(a);
    double live = 0;  // the incumbent's memory before position q (for rows that are constants)
    for (std::size_t q = 0; q < m; ++q) {
      const Instance& opk = g_.ops[static_cast<std::size_t>(ops[q])];
      const double before_q = live;
      live += opk.alloc - opk.free;
      if (opk.alloc <= 0) continue;
      const int b = free_index[q];
      if (b < 0) {
        // The order around a non-free instance is the incumbent's: its memory is a constant.
        if (balance) model.set_bounds(peak_, std::max(model.lower(peak_), before_q + opk.alloc + g_.params[static_cast<std::size_t>(d)]), kInf);
        continue;
      }
      LinearExpr expr;
      double constant = opk.alloc;
      for (std::size_t p = 0; p < m; ++p) {
        if (p == q) continue;
        const Instance& opi = g_.ops[static_cast<std::size_t>(ops[p])];
        const double delta = opi.alloc - opi.free;
        if (delta == 0) continue;
        const int a = free_index[p];
        if (a < 0) {
          if (p < q) constant += delta;
          continue;
        }
        const std::size_t lo = static_cast<std::size_t>(std::min(a, b)), hi = static_cast<std::size_t>(std::max(a, b));
        const Var v = pairs.y[lo * f + hi];
        const bool p_is_lo = static_cast<int>(lo) == a;
        if (!v.valid()) {
          if ((pairs.fixed[lo * f + hi] > 0) == p_is_lo) constant += delta;
          continue;
        }
        // v = 1 iff the lower (earlier in the incumbent) of the two runs first.
        if (p_is_lo) {
          expr.add(v, delta);
        } else {
          constant += delta;
          expr.add(v, -delta);
        }
      }
      if (std::isfinite(cap)) model.add_row(expr <= cap - constant);
      if (balance) model.add_row(LinearExpr(expr) - LinearExpr(peak_) <= -constant - g_.params[static_cast<std::size_t>(d)]);
    }
  }

  void add_idle_terms(MipModel& model, VariableGroups& vars, int d, const std::vector<int>& ops) {
    if (objective_ != PlanObjective::kTotalIdle || ops.empty()) return;
    const Var first = model.add_continuous(0, upper_, fmt::format("first_start.d{}", d));
    const Var last = model.add_continuous(0, upper_, fmt::format("last_end.d{}", d));
    vars.add("first_start", first);
    vars.add("last_end", last);
    double lo = kInf, hi = 0;
    for (int i : ops) {
      model.add_row(LinearExpr(s_[static_cast<std::size_t>(i)]) - LinearExpr(first) >= 0);
      model.add_row(LinearExpr(last) - LinearExpr(s_[static_cast<std::size_t>(i)]) >= g_.ops[static_cast<std::size_t>(i)].duration);
      lo = std::min(lo, start_[static_cast<std::size_t>(i)]);
      hi = std::max(hi, start_[static_cast<std::size_t>(i)] + g_.ops[static_cast<std::size_t>(i)].duration);
    }
    if (warm_.size() < model.num_variables()) warm_.resize(model.num_variables(), 0);
    warm_[first.index()] = lo;
    warm_[last.index()] = hi;
    spans_ += LinearExpr(last) - LinearExpr(first);
  }

  const InstanceGraph& g_;
  const std::vector<std::vector<int>>& orders_;
  const std::vector<double>& start_;
  double upper_;
  double M_ = 0;
  const std::vector<char>& free_;
  PlanObjective objective_;
  bool symmetry_breaking_ = true;
  std::vector<Var> s_;
  Var peak_;
  LinearExpr spans_;
  std::vector<double> warm_;
};

}  // namespace

Status write_schedule_mip(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders,
                          PlanObjective objective, const std::string& path) {
  std::vector<double> start;
  const double upper = earliest_starts(graph, orders, start);
  if (upper < 0) return Status(StatusCode::kInternal, "the schedule's orders deadlock");
  const std::vector<char> all(graph.ops.size(), 1);
  ScheduleFormulation formulation(graph, orders, start, upper, all, objective);
  auto model = formulation.build();
  if (!model.ok()) return model.status();
  return write_mps(*model, path);
}

LpBoundOutcome lp_relaxation_bound(const InstanceGraph& graph, const std::vector<std::vector<int>>& orders,
                                   double seconds, std::size_t max_pairs) {
  LpBoundOutcome out;
  std::size_t pairs = 0;
  for (const auto& order : orders) pairs += order.size() * (order.size() - (order.empty() ? 0 : 1)) / 2;
  if (pairs > max_pairs) {
    out.message = fmt::format("LP relaxation skipped: {} same-device pairs (limit {})", pairs, max_pairs);
    return out;
  }
  std::vector<double> start;
  const double upper = earliest_starts(graph, orders, start);
  if (upper < 0) {
    out.message = "LP relaxation skipped: the orders deadlock";
    return out;
  }
  const std::vector<char> all(graph.ops.size(), 1);
  ScheduleFormulation formulation(graph, orders, start, upper, all, PlanObjective::kMakespan,
                                  /*symmetry_breaking=*/false);
  auto model = formulation.build();
  if (!model.ok()) {
    out.message = "LP relaxation: " + model.status().message();
    return out;
  }
  out.variables = model->num_variables();
  out.rows = model->num_rows();
  LpOptions lp;
  lp.time_limit = std::max(0.0, seconds);
  const SolveResult result = solve_lp_relaxation(*model, lp);
  if (result.termination != Termination::kOptimal || !result.has_solution) {
    out.message = fmt::format("LP relaxation not solved ({}): no bound from it", result.BriefReport());
    return out;
  }
  out.ok = true;
  out.value = result.objective;
  out.message = fmt::format("LP relaxation {:g} ({} variables, {} rows, {:.3f} s)", out.value, out.variables, out.rows,
                            result.seconds);
  return out;
}

MipOutcome solve_schedule_mip(const InstanceGraph& graph,
                              const std::vector<std::vector<int>>& incumbent_orders, const Schedule& incumbent,
                              const std::vector<char>& free_op, PlanObjective objective, double seconds,
                              std::int64_t node_limit, const std::atomic<bool>* interrupt) {
  MipOutcome out;
  std::vector<double> start;
  const double upper = earliest_starts(graph, incumbent_orders, start);
  if (upper < 0) {
    out.message = "the incumbent's orders deadlock";
    return out;
  }
  ScheduleFormulation formulation(graph, incumbent_orders, start, upper, free_op, objective);
  auto model = formulation.build();
  if (!model.ok()) {
    out.message = model.status().message();
    return out;
  }
  std::vector<double> warm = formulation.warm_start();
  // The peak-memory variable of the balance objective starts at the incumbent's value.
  if (const Var peak = formulation.peak_var(); peak.valid()) {
    double best = 0;
    for (std::size_t d = 0; d < incumbent.metrics.devices.size(); ++d)
      best = std::max(best, incumbent.metrics.devices[d].peak_memory);
    warm[peak.index()] = best;
  }
  SolveArguments args;
  args.options.time_limit = std::max(0.0, seconds);
  args.options.node_limit = node_limit;
  args.options.log_level = 0;
  args.warm_start = std::move(warm);
  args.interrupt = interrupt;
  GlpkSolver solver;
  const SolveResult result = solver.solve(*model, args);
  out.message = result.BriefReport();
  out.time_limited = result.message.find("time limit") != std::string::npos;
  out.interrupted = result.termination == Termination::kStoppedByUser;
  if (!result.has_solution) return out;
  out.objective = result.objective;
  out.best_bound = result.best_bound;
  out.proved_optimal = result.termination == Termination::kOptimal &&
                       std::all_of(free_op.begin(), free_op.end(), [](char c) { return c != 0; });
  const auto& s = formulation.start_vars();
  out.orders = incumbent_orders;
  for (auto& order : out.orders)
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return result.values[s[static_cast<std::size_t>(a)].index()] < result.values[s[static_cast<std::size_t>(b)].index()];
    });
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
