// Min-sum bucket elimination over the reduced sharding problem, with the memory row relaxed
// into the objective (Lagrange). See elimination.hpp and docs/sharding.md, "Solving".
//
// The interaction graph has one vertex per node with more than one strategy and one edge per
// ReducedEdge. A greedy order eliminates, at each step, the vertex whose table (its strategies
// times those of its current neighbours) is smallest; eliminating v replaces every factor that
// mentions v by one factor over v's neighbours: for each of their assignments, the minimum over
// v's strategies of v's own cost plus the factors, and the argmin, kept for reading the optimum
// back in reverse order. On the chain-like graphs of transformers (after follow-merging) the
// neighbourhoods stay at two or three nodes, so a whole solve is a few hundred small tables.
#include "sharding/elimination.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {
namespace {

constexpr double kUs = 1e6;   // seconds -> microseconds (the ILP's objective unit)
constexpr double kGb = 1e-9;  // bytes -> GB (the ILP's memory row unit)

struct Factor {
  std::vector<int> scope;            // variables, ascending
  std::vector<std::size_t> stride;   // row-major, last variable fastest
  std::vector<double> table;
};

class Eliminator {
 public:
  explicit Eliminator(const Reduction& r) : r_(r) {
    var_of_node_.assign(r.nodes.size(), -1);
    for (std::size_t n = 0; n < r.nodes.size(); ++n)
      if (r.nodes[n].cost.size() > 1) {
        var_of_node_[n] = static_cast<int>(node_of_var_.size());
        node_of_var_.push_back(static_cast<int>(n));
        size_.push_back(r.nodes[n].cost.size());
      }
  }

  std::size_t num_vars() const { return node_of_var_.size(); }
  int node_of_var(int v) const { return node_of_var_[static_cast<std::size_t>(v)]; }
  std::size_t largest_table() const { return largest_; }

  // The elimination order and the pairwise factors; false (with the reason) when a table would
  // exceed max_table entries.
  bool plan(std::size_t max_table, std::string* why) {
    const std::size_t n = num_vars();
    std::vector<std::set<int>> adj(n);
    for (const ReducedEdge& e : r_.edges) {
      const int a = var_of_node_[static_cast<std::size_t>(e.a)], b = var_of_node_[static_cast<std::size_t>(e.b)];
      if (a < 0 || b < 0 || a == b) continue;  // never made by reduce(); harmless if it were
      adj[static_cast<std::size_t>(a)].insert(b);
      adj[static_cast<std::size_t>(b)].insert(a);
      Factor f;
      const std::size_t ka = size_[static_cast<std::size_t>(a)], kb = size_[static_cast<std::size_t>(b)];
      f.table.resize(ka * kb);
      const auto ncols = static_cast<std::size_t>(e.num_col_classes);
      for (std::size_t p = 0; p < ka; ++p)
        for (std::size_t q = 0; q < kb; ++q)
          f.table[p * kb + q] =
              e.cost[static_cast<std::size_t>(e.row_class[p]) * ncols + static_cast<std::size_t>(e.col_class[q])] * kUs;
      if (a < b) {
        f.scope = {a, b};
        f.stride = {kb, 1};
      } else {  // transpose so that the scope is ascending
        std::vector<double> t(ka * kb);
        for (std::size_t p = 0; p < ka; ++p)
          for (std::size_t q = 0; q < kb; ++q) t[q * ka + p] = f.table[p * kb + q];
        f.table = std::move(t);
        f.scope = {b, a};
        f.stride = {ka, 1};
      }
      edge_factors_.push_back(std::move(f));
    }
    // Greedy min-table order.
    auto score = [&](int v) {
      double s = static_cast<double>(size_[static_cast<std::size_t>(v)]);
      for (int u : adj[static_cast<std::size_t>(v)]) s *= static_cast<double>(size_[static_cast<std::size_t>(u)]);
      return s;
    };
    std::vector<double> scores(n);
    std::set<std::pair<double, int>> queue;
    for (std::size_t v = 0; v < n; ++v) queue.emplace(scores[v] = score(static_cast<int>(v)), static_cast<int>(v));
    order_.clear();
    position_.assign(n, 0);
    while (!queue.empty()) {
      const auto [s, v] = *queue.begin();
      queue.erase(queue.begin());
      if (s > static_cast<double>(max_table)) {
        if (why)
          *why = fmt::format("variable elimination would need a table of {:.3g} entries (limit {}) at node {} with {} "
                             "neighbours",
                             s, max_table, node_of_var(v), adj[static_cast<std::size_t>(v)].size());
        return false;
      }
      largest_ = std::max(largest_, static_cast<std::size_t>(s));
      position_[static_cast<std::size_t>(v)] = order_.size();
      order_.push_back(v);
      const std::vector<int> nb(adj[static_cast<std::size_t>(v)].begin(), adj[static_cast<std::size_t>(v)].end());
      for (int u : nb) {
        auto& au = adj[static_cast<std::size_t>(u)];
        au.erase(v);
        for (int w : nb)
          if (w != u) au.insert(w);
      }
      for (int u : nb) {
        queue.erase({scores[static_cast<std::size_t>(u)], u});
        queue.emplace(scores[static_cast<std::size_t>(u)] = score(u), u);
      }
    }
    return true;
  }

  // The choice (per variable) minimising sum_v unary[v][choice_v] + the edge factors.
  std::vector<int> run(const std::vector<std::vector<double>>& unary) {
    const std::size_t n = num_vars();
    std::vector<Factor> made;  // factors generated by this run
    made.reserve(n);
    // Bucket of a factor: its variable eliminated first. Ids >= edge_factors_.size() are `made`.
    std::vector<std::vector<std::size_t>> bucket(n);
    auto place = [&](std::size_t id, const std::vector<int>& scope) {
      int first = scope[0];
      for (int u : scope)
        if (position_[static_cast<std::size_t>(u)] < position_[static_cast<std::size_t>(first)]) first = u;
      bucket[static_cast<std::size_t>(first)].push_back(id);
    };
    for (std::size_t i = 0; i < edge_factors_.size(); ++i) place(i, edge_factors_[i].scope);
    auto factor = [&](std::size_t id) -> const Factor& {
      return id < edge_factors_.size() ? edge_factors_[id] : made[id - edge_factors_.size()];
    };
    std::vector<std::vector<int>> arg_scope(n);
    std::vector<std::vector<std::size_t>> arg_stride(n);
    std::vector<std::vector<std::uint32_t>> argmin(n);

    for (int v : order_) {
      const auto vi = static_cast<std::size_t>(v);
      const std::vector<std::size_t>& ids = bucket[vi];
      std::vector<int> scope;
      for (std::size_t id : ids)
        for (int u : factor(id).scope)
          if (u != v) scope.push_back(u);
      std::sort(scope.begin(), scope.end());
      scope.erase(std::unique(scope.begin(), scope.end()), scope.end());
      const std::size_t dims = scope.size();
      std::vector<std::size_t> stride(dims);
      std::size_t total = 1;
      for (std::size_t d = dims; d-- > 0;) {
        stride[d] = total;
        total *= size_[static_cast<std::size_t>(scope[d])];
      }
      // Per bucket factor: its stride for each scope variable (0 when absent) and for v.
      const std::size_t nf = ids.size();
      std::vector<std::size_t> sv(nf, 0), su(nf * dims, 0);
      std::vector<const double*> data(nf);
      for (std::size_t f = 0; f < nf; ++f) {
        const Factor& fac = factor(ids[f]);
        data[f] = fac.table.data();
        for (std::size_t j = 0; j < fac.scope.size(); ++j) {
          if (fac.scope[j] == v) {
            sv[f] = fac.stride[j];
            continue;
          }
          const auto d = static_cast<std::size_t>(std::lower_bound(scope.begin(), scope.end(), fac.scope[j]) - scope.begin());
          su[f * dims + d] = fac.stride[j];
        }
      }
      const std::vector<double>& own = unary[vi];
      const std::size_t k = own.size();
      Factor out;
      out.scope = scope;
      out.stride = stride;
      out.table.resize(total);
      std::vector<std::uint32_t>& arg = argmin[vi];
      arg.resize(total);
      std::vector<std::size_t> index(dims, 0), offset(nf, 0);
      for (std::size_t t = 0; t < total; ++t) {
        double best = std::numeric_limits<double>::infinity();
        std::uint32_t best_k = 0;
        for (std::size_t x = 0; x < k; ++x) {
          double value = own[x];
          for (std::size_t f = 0; f < nf; ++f) value += data[f][offset[f] + x * sv[f]];
          if (value < best) best = value, best_k = static_cast<std::uint32_t>(x);
        }
        out.table[t] = best;
        arg[t] = best_k;
        for (std::size_t d = dims; d-- > 0;) {  // odometer, last dimension fastest
          const std::size_t limit = size_[static_cast<std::size_t>(scope[d])];
          for (std::size_t f = 0; f < nf; ++f) offset[f] += su[f * dims + d];
          if (++index[d] < limit) break;
          for (std::size_t f = 0; f < nf; ++f) offset[f] -= su[f * dims + d] * limit;
          index[d] = 0;
        }
      }
      arg_scope[vi] = scope;
      arg_stride[vi] = stride;
      if (!scope.empty()) {
        made.push_back(std::move(out));
        place(edge_factors_.size() + made.size() - 1, scope);
      }
    }
    std::vector<int> choice(n, 0);
    for (std::size_t i = order_.size(); i-- > 0;) {
      const auto v = static_cast<std::size_t>(order_[i]);
      std::size_t t = 0;
      for (std::size_t d = 0; d < arg_scope[v].size(); ++d)
        t += static_cast<std::size_t>(choice[static_cast<std::size_t>(arg_scope[v][d])]) * arg_stride[v][d];
      choice[v] = static_cast<int>(argmin[v][t]);
    }
    return choice;
  }

 private:
  const Reduction& r_;
  std::vector<int> var_of_node_, node_of_var_;
  std::vector<std::size_t> size_;
  std::vector<Factor> edge_factors_;
  std::vector<int> order_;
  std::vector<std::size_t> position_;
  std::size_t largest_ = 1;
};

}  // namespace

EliminationResult solve_by_elimination(const Reduction& r, double budget, double time_limit, std::size_t max_table,
                                       int max_runs) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  EliminationResult result;
  Eliminator eliminator(r);
  if (!eliminator.plan(max_table, &result.message)) return result;
  result.largest_table = eliminator.largest_table();
  const std::size_t num_vars = eliminator.num_vars();
  auto node_of = [&](std::size_t v) { return static_cast<std::size_t>(eliminator.node_of_var(static_cast<int>(v))); };

  // Everything below in microseconds and GB, as the ILP; converted back at the end.
  struct Point {
    std::vector<int> choice;  // per reduced node
    double cost = 0, memory = 0;
  };
  auto evaluate = [&](std::vector<int> choice) {
    Point p;
    for (std::size_t n = 0; n < r.nodes.size(); ++n) {
      const auto k = static_cast<std::size_t>(choice[n]);
      p.cost += r.nodes[n].cost[k] * kUs;
      p.memory += r.nodes[n].memory[k] * kGb;
    }
    for (const ReducedEdge& e : r.edges) {
      const auto c = static_cast<std::size_t>(e.row_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(e.a)])]);
      const auto d = static_cast<std::size_t>(e.col_class[static_cast<std::size_t>(choice[static_cast<std::size_t>(e.b)])]);
      p.cost += e.cost[c * static_cast<std::size_t>(e.num_col_classes) + d] * kUs;
    }
    p.choice = std::move(choice);
    return p;
  };
  // allowed[v][k]: strategy k of variable v is allowed in the current branch.
  using Mask = std::vector<std::vector<char>>;
  Mask root(num_vars);
  for (std::size_t v = 0; v < num_vars; ++v) root[v].assign(r.nodes[node_of(v)].cost.size(), 1);
  std::vector<std::vector<double>> unary(num_vars);
  auto solve = [&](double lambda, const Mask& mask) {  // lambda: microseconds per GB
    for (std::size_t v = 0; v < num_vars; ++v) {
      const ReducedNode& node = r.nodes[node_of(v)];
      unary[v].resize(node.cost.size());
      for (std::size_t k = 0; k < node.cost.size(); ++k)
        unary[v][k] = mask[v][k] ? node.cost[k] * kUs + lambda * node.memory[k] * kGb : std::numeric_limits<double>::infinity();
    }
    const std::vector<int> by_var = eliminator.run(unary);
    std::vector<int> choice(r.nodes.size(), 0);
    for (std::size_t v = 0; v < by_var.size(); ++v) choice[node_of(v)] = by_var[v];
    ++result.runs;
    return evaluate(std::move(choice));
  };
  const double B = budget * kGb;
  // The same slack as the formulation's check against the minimum memory.
  auto fits = [&](const Point& p) { return std::isinf(budget) || p.memory <= B * (1 + 1e-12); };
  auto closed = [](double upper, double lower) { return upper - lower <= 1e-9 * std::max(1.0, std::fabs(upper)); };
  Point best;
  bool have_best = false;
  auto offer = [&](const Point& p) {
    if (fits(p) && (!have_best || p.cost < best.cost)) best = p, have_best = true;
  };

  // The Lagrangian dual of one branch: L(lambda) = min_x cost(x) + lambda (memory(x) - B) is a
  // lower bound for every lambda >= 0. Raise lambda (x8) until the minimiser fits, then move it to
  // the breakpoint of the lines of the two bracketing minimisers until no new minimiser appears
  // (the dual optimum) or the bound reaches the incumbent. Every minimiser that fits is offered.
  struct Dual {
    bool infeasible = false;  // no choice within the budget in this branch
    bool exact = false;       // the unconstrained minimiser fits: it is the branch's optimum
    bool limited = false;     // stopped by the time or run limit
    double lower = -std::numeric_limits<double>::infinity();
    double lambda = 0;
    Point lo, hi;             // bracketing minimisers at the end (lo does not fit, hi does)
  };
  auto dual = [&](const Mask& mask, double first_lambda) {
    Dual d;
    // The least memory of the branch decides feasibility outright.
    double least = 0;
    for (std::size_t n = 0; n < r.nodes.size(); ++n) {
      const auto& memory = r.nodes[n].memory;
      double m = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < memory.size(); ++k) m = std::min(m, memory[k]);
      least += m;
    }
    for (std::size_t v = 0; v < num_vars; ++v) {
      const auto& memory = r.nodes[node_of(v)].memory;
      double all = std::numeric_limits<double>::infinity(), allowed = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < memory.size(); ++k) {
        all = std::min(all, memory[k]);
        if (mask[v][k]) allowed = std::min(allowed, memory[k]);
      }
      least += allowed - all;
    }
    if (!std::isinf(budget) && least * kGb > B * (1 + 1e-12)) {
      d.infeasible = true;
      return d;
    }
    auto prune = [&] { return have_best && d.lower >= best.cost - 1e-9 * std::max(1.0, std::fabs(best.cost)); };
    d.lo = solve(0, mask);
    d.lower = d.lo.cost;
    if (fits(d.lo)) {
      offer(d.lo);
      d.exact = true;
      return d;
    }
    bool have_hi = false;
    for (double lambda = std::max(1.0, first_lambda); !have_hi && !prune(); lambda *= 8) {
      if (lambda > 1e18 || elapsed() > time_limit || result.runs >= max_runs) {
        d.limited = true;
        return d;
      }
      Point p = solve(lambda, mask);
      d.lower = std::max(d.lower, p.cost + lambda * (p.memory - B));
      d.lambda = lambda;
      offer(p);
      if (fits(p))
        d.hi = std::move(p), have_hi = true;
      else
        d.lo = std::move(p);
    }
    while (have_hi && !prune()) {
      if (elapsed() > time_limit || result.runs >= max_runs) {
        d.limited = true;
        return d;
      }
      const double lambda = std::max(0.0, (d.hi.cost - d.lo.cost) / (d.lo.memory - d.hi.memory));
      const double line = d.lo.cost + lambda * d.lo.memory;  // = hi.cost + lambda * hi.memory
      Point p = solve(lambda, mask);
      d.lower = std::max(d.lower, p.cost + lambda * (p.memory - B));
      d.lambda = lambda;
      offer(p);
      if (p.cost + lambda * p.memory >= line - 1e-9 * std::max(1.0, std::fabs(line))) {
        d.lower = std::max(d.lower, line - lambda * B);  // lambda maximises L
        break;
      }
      if (fits(p))
        d.hi = std::move(p);
      else
        d.lo = std::move(p);
    }
    return d;
  };
  auto finish = [&](double lower, bool proved, std::string message) {
    result.has_solution = true;
    result.proved_optimal = proved;
    result.choice = best.choice;
    result.cost = best.cost / kUs;
    result.memory = best.memory / kGb;
    result.lower_bound = std::min(lower, best.cost) / kUs;
    result.message = std::move(message);
    return result;
  };

  const Dual top = dual(root, 1);
  result.lambda = top.lambda;
  if (top.exact) return finish(top.lo.cost, true, "exact by variable elimination; the memory row is slack");
  if (!have_best) {
    result.message = top.infeasible ? "no choice within the budget" : "no choice within the budget found by Lagrangian relaxation";
    return result;
  }
  if (closed(best.cost, top.lower) || top.limited)
    return finish(top.lower, closed(best.cost, top.lower),
                  closed(best.cost, top.lower)
                      ? fmt::format("exact by variable elimination with the memory row relaxed (lambda {:.4g} us/GB, {} "
                                    "eliminations)",
                                    top.lambda, result.runs)
                      : fmt::format("variable elimination with the memory row relaxed leaves a gap of {:.3g} us (limit "
                                    "reached after {} eliminations)",
                                    best.cost - top.lower, result.runs));
  // Branch-and-bound on the Lagrangian bound: a variable where the two bracketing minimisers
  // differ either takes the cheaper (memory-hungrier) one's strategy or never does. Depth first,
  // within max_runs eliminations; a branch whose bound reaches the incumbent, or that cannot fit,
  // is closed; one whose unconstrained minimiser fits is solved.
  const double root_gap = best.cost - top.lower;
  struct Branch {
    Mask mask;
    Dual parent;
  };
  std::vector<Branch> stack;
  auto split = [&](const Mask& mask, const Dual& d) {
    // The differing variable with the largest memory difference between the two strategies.
    std::size_t pick = num_vars;
    double widest = -1;
    for (std::size_t v = 0; v < num_vars; ++v) {
      const std::size_t n = node_of(v);
      const int a = d.lo.choice[n], b = d.hi.choice[n];
      if (a == b) continue;
      const double diff = std::fabs(r.nodes[n].memory[static_cast<std::size_t>(a)] - r.nodes[n].memory[static_cast<std::size_t>(b)]);
      if (diff > widest) widest = diff, pick = v;
    }
    if (pick == num_vars) return false;
    const auto k = static_cast<std::size_t>(d.lo.choice[node_of(pick)]);
    Branch fix{mask, d}, forbid{mask, d};
    for (std::size_t j = 0; j < fix.mask[pick].size(); ++j) fix.mask[pick][j] = j == k;
    forbid.mask[pick][k] = 0;
    stack.push_back(std::move(fix));
    stack.push_back(std::move(forbid));  // explored first: towards less memory
    return true;
  };
  bool complete = split(root, top);
  std::size_t branches = 0;
  while (complete && !stack.empty()) {
    Branch branch = std::move(stack.back());
    stack.pop_back();
    if (branch.parent.lower >= best.cost - 1e-9 * std::max(1.0, std::fabs(best.cost))) continue;
    ++branches;
    const Dual d = dual(branch.mask, branch.parent.lambda / 8);
    if (d.limited) {
      complete = false;
      break;
    }
    if (d.infeasible || d.exact) continue;
    if (d.lower >= best.cost - 1e-9 * std::max(1.0, std::fabs(best.cost))) continue;
    if (!split(branch.mask, d)) {
      complete = false;  // the bracketing minimisers agree everywhere: cannot branch (never expected)
      break;
    }
  }
  if (complete)
    return finish(best.cost, true,
                  fmt::format("exact by variable elimination with the memory row relaxed and branching on the "
                              "Lagrangian bound (root gap {:.3g} us, {} branches, {} eliminations)",
                              root_gap, branches, result.runs));
  return finish(top.lower, false,
                fmt::format("variable elimination with the memory row relaxed leaves a gap of {:.3g} us ({} branches "
                            "and {} eliminations within the limit)",
                            best.cost - top.lower, branches, result.runs));
}

}  // namespace detail
OPPLAN_END_NAMESPACE
