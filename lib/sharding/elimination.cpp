// Min-sum bucket elimination over the reduced sharding problem, with a memory row relaxed
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
  // constraints_only: edges count 0 where finite (only their alias +infinity entries remain).
  explicit Eliminator(const Reduction& r, bool constraints_only = false) : r_(r), constraints_only_(constraints_only) {
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
        for (std::size_t q = 0; q < kb; ++q) {
          const double c = e.cost[static_cast<std::size_t>(e.row_class[p]) * ncols + static_cast<std::size_t>(e.col_class[q])];
          f.table[p * kb + q] = constraints_only_ && c < kInf ? 0.0 : c * kUs;
        }
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
  bool constraints_only_ = false;
  std::vector<int> var_of_node_, node_of_var_;
  std::vector<std::size_t> size_;
  std::vector<Factor> edge_factors_;
  std::vector<int> order_;
  std::vector<std::size_t> position_;
  std::size_t largest_ = 1;
};

}  // namespace

std::vector<int> least_memory_choice(const Reduction& r) {
  const bool constrained = std::any_of(r.edges.begin(), r.edges.end(), [](const ReducedEdge& e) {
    return std::any_of(e.cost.begin(), e.cost.end(), [](double c) { return !(c < kInf); });
  });
  Eliminator eliminator(r, /*constraints_only=*/true);
  const bool can_eliminate = constrained && eliminator.plan(std::size_t{1} << 24, nullptr);
  // The choice minimising sum_n weight(n, k_n) under the alias constraints (per node without them).
  auto least = [&](const auto& weight) {
    std::vector<int> choice(r.nodes.size(), 0);
    for (std::size_t n = 0; n < r.nodes.size(); ++n)
      for (std::size_t k = 1; k < r.nodes[n].cost.size(); ++k)
        if (weight(n, k) < weight(n, static_cast<std::size_t>(choice[n]))) choice[n] = static_cast<int>(k);
    if (!can_eliminate) return choice;
    std::vector<std::vector<double>> unary(eliminator.num_vars());
    for (std::size_t v = 0; v < unary.size(); ++v) {
      const auto n = static_cast<std::size_t>(eliminator.node_of_var(static_cast<int>(v)));
      for (std::size_t k = 0; k < r.nodes[n].cost.size(); ++k) unary[v].push_back(weight(n, k));
    }
    const std::vector<int> by_var = eliminator.run(unary);
    for (std::size_t v = 0; v < by_var.size(); ++v)
      choice[static_cast<std::size_t>(eliminator.node_of_var(static_cast<int>(v)))] = by_var[v];
    return choice;
  };
  auto peak = [&](const std::vector<int>& choice) {
    double worst = 0;
    for (const MemoryRow& row : r.memory_rows) {
      double bytes = 0;
      for (std::size_t n = 0; n < choice.size(); ++n) bytes += row.coef[n][static_cast<std::size_t>(choice[n])];
      worst = std::max(worst, bytes);
    }
    return worst;
  };
  // Candidates: the least held memory, and the least of each row (ties by held memory); the one
  // with the lowest peak. Exact with one row; with several, the least of the binding row usually.
  std::vector<int> best = least([&](std::size_t n, std::size_t k) { return r.nodes[n].memory[k] * kGb; });
  double best_peak = peak(best);
  for (const MemoryRow& row : r.memory_rows) {
    std::vector<int> candidate =
        least([&](std::size_t n, std::size_t k) { return row.coef[n][k] * kGb + r.nodes[n].memory[k] * kGb * 1e-9; });
    const double candidate_peak = peak(candidate);
    if (candidate_peak < best_peak) best = std::move(candidate), best_peak = candidate_peak;
  }
  return best;
}

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
  const std::size_t num_rows = r.memory_rows.size();
  struct Point {
    std::vector<int> choice;  // per reduced node
    double cost = 0;          // +infinity when an alias constraint is broken
    std::vector<double> row;  // per memory row
    double memory = 0;        // the largest row
  };
  auto evaluate = [&](std::vector<int> choice) {
    Point p;
    p.row.assign(num_rows, 0.0);
    for (std::size_t n = 0; n < r.nodes.size(); ++n) {
      const auto k = static_cast<std::size_t>(choice[n]);
      p.cost += r.nodes[n].cost[k] * kUs;
      for (std::size_t i = 0; i < num_rows; ++i) p.row[i] += r.memory_rows[i].coef[n][k] * kGb;
    }
    for (double m : p.row) p.memory = std::max(p.memory, m);
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
  // lambda: microseconds per GB of memory row `w`.
  auto solve = [&](double lambda, std::size_t w, const Mask& mask) {
    for (std::size_t v = 0; v < num_vars; ++v) {
      const ReducedNode& node = r.nodes[node_of(v)];
      const auto& coef = r.memory_rows[w].coef[node_of(v)];
      unary[v].resize(node.cost.size());
      for (std::size_t k = 0; k < node.cost.size(); ++k)
        unary[v][k] = mask[v][k] ? node.cost[k] * kUs + lambda * coef[k] * kGb : std::numeric_limits<double>::infinity();
    }
    const std::vector<int> by_var = eliminator.run(unary);
    std::vector<int> choice(r.nodes.size(), 0);
    for (std::size_t v = 0; v < by_var.size(); ++v) choice[node_of(v)] = by_var[v];
    ++result.runs;
    return evaluate(std::move(choice));
  };
  const double B = budget * kGb;
  // The same slack as the formulation's check against the minimum memory.
  auto fits_row = [&](const Point& p, std::size_t w) { return std::isinf(budget) || p.row[w] <= B * (1 + 1e-12); };
  auto fits = [&](const Point& p) { return p.cost < kInf && (std::isinf(budget) || p.memory <= B * (1 + 1e-12)); };
  auto closed = [](double upper, double lower) { return upper - lower <= 1e-9 * std::max(1.0, std::fabs(upper)); };
  Point best;
  bool have_best = false;
  auto offer = [&](const Point& p) {
    if (fits(p) && (!have_best || p.cost < best.cost)) best = p, have_best = true;
  };

  // The Lagrangian dual of one branch on one memory row w (the one the unconstrained minimiser
  // exceeds most; dropping the other rows only weakens the bound): L(lambda) = min_x cost(x) +
  // lambda (row_w(x) - B) is a lower bound for every lambda >= 0. Raise lambda (x8) until the
  // minimiser fits row w, then move it to the breakpoint of the lines of the two bracketing
  // minimisers until no new minimiser appears (the dual optimum) or the bound reaches the
  // incumbent. Every minimiser that fits every row is offered.
  struct Dual {
    bool infeasible = false;  // no choice within the budget in this branch
    bool exact = false;       // the unconstrained minimiser fits: it is the branch's optimum
    bool limited = false;     // stopped by the time or run limit
    double lower = -std::numeric_limits<double>::infinity();
    double lambda = 0;
    std::size_t row = 0;      // the memory row relaxed
    Point lo, hi;             // bracketing minimisers at the end (lo does not fit row `row`, hi does)
  };
  auto dual = [&](const Mask& mask, double first_lambda) {
    Dual d;
    // The least of every memory row in the branch decides infeasibility outright.
    for (std::size_t i = 0; i < num_rows && !std::isinf(budget); ++i) {
      const auto& coef = r.memory_rows[i].coef;
      double least = 0;
      for (std::size_t n = 0; n < r.nodes.size(); ++n) least += *std::min_element(coef[n].begin(), coef[n].end());
      for (std::size_t v = 0; v < num_vars; ++v) {
        const auto& c = coef[node_of(v)];
        double all = std::numeric_limits<double>::infinity(), allowed = std::numeric_limits<double>::infinity();
        for (std::size_t k = 0; k < c.size(); ++k) {
          all = std::min(all, c[k]);
          if (mask[v][k]) allowed = std::min(allowed, c[k]);
        }
        least += allowed - all;
      }
      if (least * kGb > B * (1 + 1e-12)) {
        d.infeasible = true;
        return d;
      }
    }
    auto prune = [&] { return have_best && d.lower >= best.cost - 1e-9 * std::max(1.0, std::fabs(best.cost)); };
    d.lo = solve(0, 0, mask);
    d.lower = d.lo.cost;
    if (!(d.lo.cost < kInf)) {  // every choice left breaks an alias constraint
      d.infeasible = true;
      return d;
    }
    if (fits(d.lo)) {
      offer(d.lo);
      d.exact = true;
      return d;
    }
    d.row = static_cast<std::size_t>(std::max_element(d.lo.row.begin(), d.lo.row.end()) - d.lo.row.begin());
    const std::size_t w = d.row;
    bool have_hi = false;
    for (double lambda = std::max(1.0, first_lambda); !have_hi && !prune(); lambda *= 8) {
      if (lambda > 1e18 || elapsed() > time_limit || result.runs >= max_runs) {
        d.limited = true;
        return d;
      }
      Point p = solve(lambda, w, mask);
      d.lower = std::max(d.lower, p.cost + lambda * (p.row[w] - B));
      d.lambda = lambda;
      offer(p);
      if (fits_row(p, w))
        d.hi = std::move(p), have_hi = true;
      else
        d.lo = std::move(p);
    }
    while (have_hi && !prune()) {
      if (elapsed() > time_limit || result.runs >= max_runs) {
        d.limited = true;
        return d;
      }
      const double lambda = std::max(0.0, (d.hi.cost - d.lo.cost) / (d.lo.row[w] - d.hi.row[w]));
      const double line = d.lo.cost + lambda * d.lo.row[w];  // = hi.cost + lambda * hi.row[w]
      Point p = solve(lambda, w, mask);
      d.lower = std::max(d.lower, p.cost + lambda * (p.row[w] - B));
      d.lambda = lambda;
      offer(p);
      if (p.cost + lambda * p.row[w] >= line - 1e-9 * std::max(1.0, std::fabs(line))) {
        d.lower = std::max(d.lower, line - lambda * B);  // lambda maximises L
        break;
      }
      if (fits_row(p, w))
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
  if (top.exact) return finish(top.lo.cost, true, "exact by variable elimination; the memory rows are slack");
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
      const auto& coef = r.memory_rows[d.row].coef[n];
      const double diff = std::fabs(coef[static_cast<std::size_t>(a)] - coef[static_cast<std::size_t>(b)]);
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
