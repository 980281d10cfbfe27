// GlpkSolver against brute force on seeded random instances, bad input, options, result fields,
// warm starts and concurrent solves.
#include <opplan/mip_model.hpp>
#include <opplan/solver.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "knapsack.hpp"

namespace {

using opplan::GlpkSolver;
using opplan::kInf;
using opplan::LinearExpr;
using opplan::MipModel;
using opplan::ObjectiveSense;
using opplan::SolveArguments;
using opplan::SolveResult;
using opplan::Termination;
using opplan::Var;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr double kTol = 1e-6;

using opplan_test::Knapsack;
using opplan_test::knapsack_brute_force;
using opplan_test::knapsack_model;
using opplan_test::random_knapsack;

// ---- instances and their brute-force optima ---------------------------------------------------

// min cost s.t. weight >= demand (the covering form of the knapsack, a minimisation).
double min_knapsack_brute_force(const Knapsack& k, int demand) {
  const int n = static_cast<int>(k.weight.size());
  int best = std::numeric_limits<int>::max();
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    int w = 0, v = 0;
    for (int i = 0; i < n; ++i)
      if (mask >> i & 1u) w += k.weight[i], v += k.value[i];
    if (w >= demand) best = std::min(best, v);
  }
  return best;
}

MipModel min_knapsack_model(const Knapsack& k, int demand) {
  MipModel m("cover-knapsack");
  LinearExpr weight, cost;
  for (std::size_t i = 0; i < k.weight.size(); ++i) {
    const Var x = m.add_binary();
    weight.add(x, k.weight[i]);
    cost.add(x, k.value[i]);
  }
  m.add_row(weight >= demand, "demand");
  m.minimize(cost + 7);  // with an objective constant
  return m;
}

void expect_optimal(const SolveResult& r, double expected, const MipModel& m) {
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  ASSERT_TRUE(r.has_solution);
  EXPECT_NEAR(r.objective, expected, kTol) << r.FullReport();
  EXPECT_NEAR(m.objective_value(r.values), r.objective, kTol);
  EXPECT_TRUE(m.check_solution(r.values).ok()) << m.check_solution(r.values).to_string();
  EXPECT_NEAR(r.best_bound, r.objective, kTol);
  EXPECT_NEAR(r.gap, 0, kTol);
}

// ---- brute-force comparisons ----------------------------------------------------------------

TEST(GlpkSolver, KnapsackMaxMatchesBruteForce) {
  GlpkSolver solver;
  for (unsigned seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Knapsack k = random_knapsack(seed, 12);
    const MipModel m = knapsack_model(k);
    const double best = knapsack_brute_force(k);
    for (bool presolve : {true, false}) {
      SolveArguments args;
      args.options.presolve = presolve;
      args.options.relative_gap = 0;
      expect_optimal(solver.solve(m, args), best, m);
    }
  }
}

TEST(GlpkSolver, KnapsackMinMatchesBruteForce) {
  GlpkSolver solver;
  for (unsigned seed = 11; seed <= 18; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Knapsack k = random_knapsack(seed, 12);
    const int demand = k.capacity;  // half of the total weight
    const MipModel m = min_knapsack_model(k, demand);
    const double best = min_knapsack_brute_force(k, demand) + 7;
    for (bool presolve : {true, false}) {
      SolveArguments args;
      args.options.presolve = presolve;
      args.options.relative_gap = 0;
      expect_optimal(solver.solve(m, args), best, m);
    }
  }
}

TEST(GlpkSolver, GeneralIntegerKnapsackMatchesBruteForce) {
  // Integer x_i in [0, 3], two knapsack rows.
  GlpkSolver solver;
  for (unsigned seed = 21; seed <= 24; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(1, 12);
    const int n = 6;
    std::vector<int> a(n), b(n), c(n);
    for (int i = 0; i < n; ++i) a[i] = d(rng), b[i] = d(rng), c[i] = d(rng) - 3;  // some negative values
    const int ca = 25, cb = 20;
    MipModel m;
    LinearExpr ra, rb, obj;
    for (int i = 0; i < n; ++i) {
      const Var x = m.add_integer(0, 3);
      ra.add(x, a[i]);
      rb.add(x, b[i]);
      obj.add(x, c[i]);
    }
    m.add_row(ra <= ca);
    m.add_row(rb <= cb);
    m.maximize(obj);
    double best = -kInf;
    std::vector<int> x(n, 0);
    for (int code = 0; code < 4096; ++code) {
      int t = code, sa = 0, sb = 0, v = 0;
      for (int i = 0; i < n; ++i, t /= 4) x[i] = t % 4, sa += a[i] * x[i], sb += b[i] * x[i], v += c[i] * x[i];
      if (sa <= ca && sb <= cb) best = std::max(best, static_cast<double>(v));
    }
    expect_optimal(solver.solve(m), best, m);
  }
}

TEST(GlpkSolver, AssignmentMatchesPermutationBruteForce) {
  GlpkSolver solver;
  const int n = 5;
  for (unsigned seed = 31; seed <= 34; ++seed) {
    for (ObjectiveSense sense : {ObjectiveSense::kMinimize, ObjectiveSense::kMaximize}) {
      SCOPED_TRACE("seed " + std::to_string(seed));
      std::mt19937 rng(seed);
      std::uniform_int_distribution<int> d(1, 50);
      std::vector<std::vector<int>> cost(n, std::vector<int>(n));
      for (auto& row : cost)
        for (int& c : row) c = d(rng);
      MipModel m("assignment");
      std::vector<std::vector<Var>> x(n, std::vector<Var>(n));
      LinearExpr obj;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          x[i][j] = m.add_binary();
          obj.add(x[i][j], cost[i][j]);
        }
      for (int i = 0; i < n; ++i) {
        LinearExpr row, col;
        for (int j = 0; j < n; ++j) row.add(x[i][j], 1), col.add(x[j][i], 1);
        m.add_row(row == 1);
        m.add_row(col == 1);
      }
      m.set_objective(obj, sense);
      std::vector<int> perm(n);
      std::iota(perm.begin(), perm.end(), 0);
      double best = sense == ObjectiveSense::kMinimize ? kInf : -kInf;
      do {
        int c = 0;
        for (int i = 0; i < n; ++i) c += cost[i][perm[i]];
        best = sense == ObjectiveSense::kMinimize ? std::min<double>(best, c) : std::max<double>(best, c);
      } while (std::next_permutation(perm.begin(), perm.end()));
      const SolveResult r = solver.solve(m);
      expect_optimal(r, best, m);
      // The solution is a permutation matrix.
      for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < n; ++j) s += r.value(x[i][j]);
        EXPECT_NEAR(s, 1, kTol);
      }
    }
  }
}

TEST(GlpkSolver, SetCoverMatchesBruteForce) {
  GlpkSolver solver;
  const int sets = 10, elements = 12;
  for (unsigned seed = 41; seed <= 46; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::bernoulli_distribution in(0.3);
    std::uniform_int_distribution<int> cost_d(1, 20), pick(0, sets - 1);
    std::vector<unsigned> covers(sets, 0);  // bit e set when the set covers element e
    std::vector<int> cost(sets);
    for (int s = 0; s < sets; ++s) {
      cost[s] = cost_d(rng);
      for (int e = 0; e < elements; ++e)
        if (in(rng)) covers[s] |= 1u << e;
    }
    for (int e = 0; e < elements; ++e) covers[pick(rng)] |= 1u << e;  // every element coverable
    MipModel m("set-cover");
    std::vector<Var> x;
    LinearExpr obj;
    for (int s = 0; s < sets; ++s) {
      x.push_back(m.add_binary());
      obj.add(x.back(), cost[s]);
    }
    for (int e = 0; e < elements; ++e) {
      LinearExpr row;
      for (int s = 0; s < sets; ++s)
        if (covers[s] >> e & 1u) row.add(x[s], 1);
      m.add_row(row >= 1, "element" + std::to_string(e));
    }
    m.minimize(obj);
    const unsigned all = (1u << elements) - 1;
    int best = std::numeric_limits<int>::max();
    for (unsigned mask = 0; mask < (1u << sets); ++mask) {
      unsigned covered = 0;
      int c = 0;
      for (int s = 0; s < sets; ++s)
        if (mask >> s & 1u) covered |= covers[s], c += cost[s];
      if (covered == all) best = std::min(best, c);
    }
    expect_optimal(solver.solve(m), best, m);
  }
}

// 6 jobs with release times on 2 identical machines, minimise the makespan. Big-M disjunctions
// order the jobs that share a machine.
struct Jobs {
  std::vector<int> release, duration;
};

Jobs random_jobs(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> r(0, 10), p(1, 9);
  Jobs j;
  for (int i = 0; i < 6; ++i) j.release.push_back(r(rng)), j.duration.push_back(p(rng));
  return j;
}

double schedule_brute_force(const Jobs& jobs) {
  const int n = static_cast<int>(jobs.release.size());
  double best = kInf;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    double makespan = 0;
    for (unsigned machine = 0; machine < 2; ++machine) {
      std::vector<int> mine;
      for (int i = 0; i < n; ++i)
        if ((mask >> i & 1u) == machine) mine.push_back(i);
      // Best order of this machine's jobs (each starts at max(release, previous end)).
      double best_end = mine.empty() ? 0 : kInf;
      std::sort(mine.begin(), mine.end());
      if (!mine.empty()) do {
          double t = 0;
          for (int i : mine) t = std::max<double>(t, jobs.release[i]) + jobs.duration[i];
          best_end = std::min(best_end, t);
        } while (std::next_permutation(mine.begin(), mine.end()));
      makespan = std::max(makespan, best_end);
    }
    best = std::min(best, makespan);
  }
  return best;
}

MipModel schedule_model(const Jobs& jobs, std::vector<Var>* starts = nullptr) {
  const int n = static_cast<int>(jobs.release.size());
  double big_m = 0;
  for (int i = 0; i < n; ++i) big_m += jobs.duration[i];
  big_m += *std::max_element(jobs.release.begin(), jobs.release.end());
  MipModel m("schedule");
  std::vector<Var> s(n);
  std::vector<std::vector<Var>> a(n, std::vector<Var>(2));
  for (int i = 0; i < n; ++i) {
    s[i] = m.add_continuous(jobs.release[i], kInf, "s" + std::to_string(i));
    a[i][0] = m.add_binary();
    a[i][1] = m.add_binary();
    m.add_row(a[i][0] + a[i][1] == 1);
  }
  const Var makespan = m.add_continuous(0, kInf, "makespan");
  for (int i = 0; i < n; ++i) m.add_row(s[i] + jobs.duration[i] <= LinearExpr(makespan));
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const Var before = m.add_binary();  // 1: i before j
      for (int k = 0; k < 2; ++k) {
        const LinearExpr apart = big_m * (2 - a[i][k] - a[j][k]);  // 0 when both on machine k
        m.add_row(s[i] + jobs.duration[i] <= s[j] + big_m * (1 - LinearExpr(before)) + apart);
        m.add_row(s[j] + jobs.duration[j] <= s[i] + big_m * LinearExpr(before) + apart);
      }
    }
  m.minimize(LinearExpr(makespan));
  if (starts) *starts = s;
  return m;
}

TEST(GlpkSolver, ScheduleBigMMatchesBruteForce) {
  GlpkSolver solver;
  for (unsigned seed = 51; seed <= 53; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Jobs jobs = random_jobs(seed);
    const MipModel m = schedule_model(jobs);
    const double best = schedule_brute_force(jobs);
    SolveArguments args;
    args.options.relative_gap = 0;
    expect_optimal(solver.solve(m, args), best, m);
  }
}

TEST(GlpkSolver, FacilityLocationWithContinuousFlowsMatchesBruteForce) {
  // Binary open_f, continuous x_cf in [0, 1]: each customer served once from an open facility.
  GlpkSolver solver;
  const int facilities = 4, customers = 6;
  for (unsigned seed = 61; seed <= 64; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> open_d(5, 30), serve_d(1, 15);
    std::vector<int> open_cost(facilities);
    std::vector<std::vector<int>> serve(customers, std::vector<int>(facilities));
    for (int& c : open_cost) c = open_d(rng);
    for (auto& row : serve)
      for (int& c : row) c = serve_d(rng);
    MipModel m("facility");
    std::vector<Var> open;
    LinearExpr obj;
    for (int f = 0; f < facilities; ++f) {
      open.push_back(m.add_binary());
      obj.add(open.back(), open_cost[f]);
    }
    for (int c = 0; c < customers; ++c) {
      LinearExpr once;
      for (int f = 0; f < facilities; ++f) {
        const Var x = m.add_continuous(0, 1);
        obj.add(x, serve[c][f] + 0.5);  // fractional costs for the continuous part
        once.add(x, 1);
        m.add_row(LinearExpr(x) <= LinearExpr(open[f]));
      }
      m.add_row(once == 1);
    }
    m.minimize(obj);
    double best = kInf;
    for (unsigned mask = 1; mask < (1u << facilities); ++mask) {
      double total = 0;
      for (int f = 0; f < facilities; ++f)
        if (mask >> f & 1u) total += open_cost[f];
      for (int c = 0; c < customers; ++c) {
        double cheapest = kInf;
        for (int f = 0; f < facilities; ++f)
          if (mask >> f & 1u) cheapest = std::min(cheapest, serve[c][f] + 0.5);
        total += cheapest;
      }
      best = std::min(best, total);
    }
    for (bool presolve : {true, false}) {
      SolveArguments args;
      args.options.presolve = presolve;
      expect_optimal(solver.solve(m, args), best, m);
    }
  }
}

TEST(GlpkSolver, NegativeAndFreeIntegerVariables) {
  // min |x - 3.4| + |y + 2.6| over integers via x free, y in [-5, 5], t >= +-(...).
  MipModel m;
  const Var x = m.add_integer(-kInf, kInf, "x");
  const Var y = m.add_integer(-5, 5, "y");
  const Var t = m.add_continuous(0, kInf);
  const Var u = m.add_continuous(0, kInf);
  m.add_row(LinearExpr(t) >= x - 3.4);
  m.add_row(LinearExpr(t) >= 3.4 - LinearExpr(x));
  m.add_row(LinearExpr(u) >= y + 2.6);
  m.add_row(LinearExpr(u) >= -2.6 - LinearExpr(y));
  m.minimize(t + u);
  for (bool presolve : {true, false}) {
    SolveArguments args;
    args.options.presolve = presolve;
    const auto r = GlpkSolver().solve(m, args);
    expect_optimal(r, 0.4 + 0.4, m);
    EXPECT_EQ(r.value(x), 3);
    EXPECT_EQ(r.value(y), -3);
  }
}

TEST(GlpkSolver, ModelWithoutRows) {
  MipModel m;
  const Var x = m.add_integer(0, 5);
  const Var y = m.add_continuous(-1, 2.5);
  m.maximize(2 * LinearExpr(x) + y + 1);
  for (bool presolve : {true, false}) {
    SolveArguments args;
    args.options.presolve = presolve;
    const auto r = GlpkSolver().solve(m, args);
    expect_optimal(r, 13.5, m);
    EXPECT_EQ(r.value(x), 5);
    EXPECT_NEAR(r.value(y), 2.5, kTol);
  }
}

TEST(GlpkSolver, PureLpThroughTheMipSolver) {
  MipModel m;
  const Var p = m.add_continuous(0, 4);
  const Var q = m.add_continuous(0, kInf);
  m.add_row(p + 2 * LinearExpr(q) <= 7);
  m.add_row(3 * LinearExpr(p) - q >= 1);
  m.maximize(p + q);
  for (bool presolve : {true, false}) {
    SolveArguments args;
    args.options.presolve = presolve;
    const auto r = GlpkSolver().solve(m, args);
    expect_optimal(r, 5.5, m);  // p = 4, q = 1.5
    EXPECT_NEAR(r.value(q), 1.5, kTol);
  }
}

TEST(GlpkSolver, RowWhoseTermsCancelIsStillARow) {
  // x - x >= 1 has no terms left after merging but is infeasible; x - x <= 1 is always true.
  MipModel bad;
  const Var x = bad.add_integer(0, 3);
  bad.add_row(LinearExpr(x) - x >= 1);
  bad.maximize(LinearExpr(x));
  MipModel good;
  const Var y = good.add_integer(0, 3);
  good.add_row(LinearExpr(y) - y <= 1);
  good.maximize(LinearExpr(y));
  for (bool presolve : {true, false}) {
    SolveArguments args;
    args.options.presolve = presolve;
    EXPECT_EQ(GlpkSolver().solve(bad, args).termination, Termination::kInfeasible);
    expect_optimal(GlpkSolver().solve(good, args), 3, good);
  }
}

TEST(GlpkSolver, EverySearchOptionFindsTheSameOptimum) {
  using O = GlpkSolver::Options;
  const Knapsack k = random_knapsack(91, 12);
  const MipModel knap = knapsack_model(k);
  const double knap_best = knapsack_brute_force(k);
  const Jobs jobs = random_jobs(92);
  const MipModel sched = schedule_model(jobs);
  const double sched_best = schedule_brute_force(jobs);
  std::vector<O> variants;
  for (auto b : {O::Branching::kFirstFractional, O::Branching::kLastFractional, O::Branching::kMostFractional,
                 O::Branching::kDriebeckTomlin})
    for (auto t : {O::Backtracking::kDepthFirst, O::Backtracking::kBreadthFirst, O::Backtracking::kBestLocalBound,
                   O::Backtracking::kBestProjection}) {
      O o;
      o.branching = b;
      o.backtracking = t;
      variants.push_back(o);
    }
  O all;
  all.gomory_cuts = all.mir_cuts = all.cover_cuts = all.clique_cuts = true;
  all.feasibility_pump = all.proximity_search = true;
  variants.push_back(all);
  O unscaled;
  unscaled.scale = false;
  variants.push_back(unscaled);
  for (std::size_t v = 0; v < variants.size(); ++v) {
    SCOPED_TRACE("variant " + std::to_string(v));
    GlpkSolver solver(variants[v]);
    EXPECT_EQ(solver.options().branching, variants[v].branching);
    for (bool presolve : {true, false}) {
      SolveArguments args;
      args.options.presolve = presolve;
      args.options.relative_gap = 0;
      args.options.time_limit = 20;  // a safety net, never reached
      expect_optimal(solver.solve(knap, args), knap_best, knap);
      expect_optimal(solver.solve(sched, args), sched_best, sched);
    }
  }
}

// ---- bad input and special outcomes ---------------------------------------------------------

TEST(GlpkSolver, EmptyModelIsInvalidInput) {
  const auto r = GlpkSolver().solve(MipModel());
  EXPECT_EQ(r.termination, Termination::kInvalidInput);
  EXPECT_FALSE(r.has_solution);
  EXPECT_THAT(r.message, HasSubstr("no variables"));
  EXPECT_EQ(r.solver_name, "glpk");
}

TEST(GlpkSolver, InfeasibleWithAndWithoutPresolve) {
  // LP-infeasible.
  MipModel lp_infeasible;
  const Var x = lp_infeasible.add_integer(0, 10);
  const Var y = lp_infeasible.add_integer(0, 10);
  lp_infeasible.add_row(x + y >= 3);
  lp_infeasible.add_row(x + y <= 2);
  lp_infeasible.minimize(x + y);
  // LP-feasible but integer-infeasible: 2 x + 2 y = 3.
  MipModel int_infeasible;
  const Var a = int_infeasible.add_integer(0, 10);
  const Var b = int_infeasible.add_integer(0, 10);
  int_infeasible.add_row(2 * LinearExpr(a) + 2 * LinearExpr(b) == 3);
  int_infeasible.maximize(a + b);
  for (const MipModel* m : {&lp_infeasible, &int_infeasible}) {
    for (bool presolve : {true, false}) {
      SCOPED_TRACE(presolve ? "presolve" : "no presolve");
      SolveArguments args;
      args.options.presolve = presolve;
      const auto r = GlpkSolver().solve(*m, args);
      EXPECT_EQ(r.termination, Termination::kInfeasible) << r.FullReport();
      EXPECT_FALSE(r.has_solution);
      EXPECT_FALSE(r.message.empty());
      EXPECT_THROW(r.value(a), std::out_of_range);
    }
  }
}

TEST(GlpkSolver, UnboundedWithAndWithoutPresolve) {
  MipModel m;
  const Var x = m.add_integer(0, kInf);
  const Var y = m.add_integer(0, kInf);
  m.add_row(LinearExpr(x) - y <= 1);
  m.maximize(x + y);
  MipModel down;  // minimisation, free variable
  const Var z = down.add_continuous(-kInf, kInf);
  const Var w = down.add_integer(0, 3);
  down.add_row(z + w <= 4);
  down.minimize(LinearExpr(z));
  for (const MipModel* model : {&m, &down}) {
    for (bool presolve : {true, false}) {
      SCOPED_TRACE(presolve ? "presolve" : "no presolve");
      SolveArguments args;
      args.options.presolve = presolve;
      const auto r = GlpkSolver().solve(*model, args);
      EXPECT_EQ(r.termination, Termination::kUnbounded) << r.FullReport();
      EXPECT_FALSE(r.has_solution);
    }
  }
}

TEST(GlpkSolver, InvalidOptionsNameTheField) {
  const Knapsack k = random_knapsack(3, 8);
  const MipModel m = knapsack_model(k);
  struct Case {
    const char* field;
    void (*apply)(opplan::SolverOptions&);
  };
  const Case cases[] = {
      {"time_limit", [](opplan::SolverOptions& o) { o.time_limit = -1; }},
      {"time_limit", [](opplan::SolverOptions& o) { o.time_limit = std::numeric_limits<double>::quiet_NaN(); }},
      {"relative_gap", [](opplan::SolverOptions& o) { o.relative_gap = std::numeric_limits<double>::quiet_NaN(); }},
      {"relative_gap", [](opplan::SolverOptions& o) { o.relative_gap = -0.1; }},
      {"relative_gap", [](opplan::SolverOptions& o) { o.relative_gap = kInf; }},
      {"log_level", [](opplan::SolverOptions& o) { o.log_level = 7; }},
      {"log_level", [](opplan::SolverOptions& o) { o.log_level = -1; }},
      {"node_limit", [](opplan::SolverOptions& o) { o.node_limit = -2; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    SolveArguments args;
    c.apply(args.options);
    std::string why;
    EXPECT_FALSE(args.options.IsValid(&why));
    EXPECT_THAT(why, HasSubstr(c.field));
    EXPECT_FALSE(args.options.IsValid(nullptr));
    const auto r = GlpkSolver().solve(m, args);
    EXPECT_EQ(r.termination, Termination::kInvalidInput);
    EXPECT_THAT(r.message, HasSubstr(c.field));
    EXPECT_FALSE(r.has_solution);
  }
  EXPECT_TRUE(opplan::SolverOptions().IsValid(nullptr));
  opplan::SolverOptions edge;
  edge.time_limit = 0;
  edge.relative_gap = 0;
  edge.log_level = 3;
  edge.node_limit = 0;
  EXPECT_TRUE(edge.IsValid(nullptr));
}

TEST(GlpkSolver, TimeLimitZeroWithoutWarmStart) {
  const Knapsack k = random_knapsack(5, 12);
  const MipModel m = knapsack_model(k);
  SolveArguments args;
  args.options.time_limit = 0;
  const auto r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kNoSolutionFound) << r.FullReport();
  EXPECT_FALSE(r.has_solution);
  EXPECT_THAT(r.message, HasSubstr("time limit"));
}

TEST(GlpkSolver, TimeLimitZeroReturnsTheWarmStart) {
  const Knapsack k = random_knapsack(5, 12);
  const MipModel m = knapsack_model(k);
  SolveArguments args;
  args.options.time_limit = 0;
  args.warm_start.assign(m.num_variables(), 0.0);
  ASSERT_LE(k.weight[0], k.capacity);
  args.warm_start[0] = 1;  // item 0 alone fits
  const auto r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kFeasible) << r.FullReport();
  ASSERT_TRUE(r.has_solution);
  EXPECT_EQ(r.values, args.warm_start);
  EXPECT_DOUBLE_EQ(r.objective, k.value[0]);
  EXPECT_THAT(r.message, HasSubstr("warm start"));
}

// A knapsack GLPK cannot close at the root: strongly correlated weights and values.
MipModel hard_knapsack(int n = 40) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> w(1000, 2000);
  MipModel m("hard");
  LinearExpr weight, value;
  double total = 0;
  for (int i = 0; i < n; ++i) {
    const Var x = m.add_binary();
    const int wi = w(rng);
    total += wi;
    weight.add(x, wi);
    value.add(x, wi + 100.5);
  }
  m.add_row(weight <= std::floor(total / 2) + 0.5);
  m.maximize(value);
  return m;
}

TEST(GlpkSolver, NodeLimitStopsBeforeOptimality) {
  const MipModel m = hard_knapsack();
  // Sanity: without a limit it needs more than one node.
  {
    SolveArguments args;
    args.options.relative_gap = 0;
    args.options.time_limit = 10;
    const auto r = GlpkSolver().solve(m, args);
    ASSERT_THAT(r.termination, AnyOf(Termination::kOptimal, Termination::kFeasible)) << r.FullReport();
    ASSERT_GT(r.nodes, 3) << r.FullReport();
  }
  for (std::int64_t limit : {0, 1}) {
    for (bool presolve : {true, false}) {
      SCOPED_TRACE("node limit " + std::to_string(limit));
      SolveArguments args;
      args.options.node_limit = limit;
      args.options.presolve = presolve;
      args.options.relative_gap = 0;
      const auto r = GlpkSolver().solve(m, args);
      EXPECT_THAT(r.termination, AnyOf(Termination::kFeasible, Termination::kNoSolutionFound)) << r.FullReport();
      EXPECT_EQ(r.has_solution, r.termination == Termination::kFeasible);
      EXPECT_THAT(r.message, HasSubstr("node limit"));
      if (r.has_solution) {
        EXPECT_TRUE(m.check_solution(r.values).ok());
        EXPECT_GE(r.best_bound, r.objective - kTol);  // maximisation: bound above
      }
    }
  }
}

// 2 * (x_1 + ... + x_n) = n with n odd: infeasible, but branch-and-bound needs exponentially many
// nodes to prove it.
MipModel jeroslow(int n) {
  MipModel m("jeroslow");
  LinearExpr row;
  for (int i = 0; i < n; ++i) row.add(m.add_binary(), 2);
  m.add_row(row == n);
  m.maximize(LinearExpr(m.variable(0)));
  return m;
}

TEST(GlpkSolver, TimeLimitOnHardInstanceReturnsNoSolution) {
  const MipModel m = jeroslow(61);
  SolveArguments args;
  args.options.time_limit = 0.3;
  args.options.presolve = false;
  const auto r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kNoSolutionFound) << r.FullReport();
  EXPECT_FALSE(r.has_solution);
  EXPECT_THAT(r.message, HasSubstr("time limit"));
}

TEST(GlpkSolver, InterruptSetBeforeSolve) {
  const MipModel m = knapsack_model(random_knapsack(9, 10));
  std::atomic<bool> stop{true};
  SolveArguments args;
  args.interrupt = &stop;
  const auto r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kStoppedByUser) << r.FullReport();
  EXPECT_FALSE(r.has_solution);
  EXPECT_THAT(r.message, HasSubstr("interrupt"));
  // With a feasible warm start, that is the answer.
  args.warm_start.assign(m.num_variables(), 0.0);
  const auto warm = GlpkSolver().solve(m, args);
  EXPECT_EQ(warm.termination, Termination::kStoppedByUser);
  ASSERT_TRUE(warm.has_solution);
  EXPECT_EQ(warm.values, args.warm_start);
  EXPECT_EQ(warm.objective, 0);
  args.warm_start.clear();
  // Cleared, the same flag lets the solve run.
  stop = false;
  const auto ok = GlpkSolver().solve(m, args);
  EXPECT_EQ(ok.termination, Termination::kOptimal);
}

// Nothing registered, only the flag: the search still polls it (GLPK's callback is registered for
// it, however little else listens). Jeroslow's instance would run for hours; a broken interrupt
// ends at the time limit instead, with another message.
TEST(GlpkSolver, InterruptDuringTheSearchWithoutCallbacks) {
  const MipModel m = jeroslow(61);
  std::atomic<bool> stop{false};
  SolveArguments args;
  args.options.time_limit = 300;  // a backstop only
  args.options.presolve = false;
  args.interrupt = &stop;
  ASSERT_FALSE(args.registration.any());
  std::thread interrupter([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  const auto r = GlpkSolver().solve(m, args);
  interrupter.join();
  EXPECT_EQ(r.termination, Termination::kStoppedByUser) << r.FullReport();
  EXPECT_EQ(r.message, "interrupted") << "stopped by the flag during the search, not before it";
  EXPECT_GT(r.nodes, 0);
  EXPECT_FALSE(r.has_solution);
  // The bound of the open nodes when it stopped: the LP relaxation's optimum, 1 (x_0 = 1 fits).
  EXPECT_NEAR(r.best_bound, 1, kTol);
}

TEST(GlpkSolver, ResultFieldsAndReports) {
  const Knapsack k = random_knapsack(4, 12);
  const MipModel m = knapsack_model(k);
  const double best = knapsack_brute_force(k);
  SolveArguments args;
  args.options.log_level = 2;
  args.options.presolve = false;
  testing::internal::CaptureStdout();
  const auto r = GlpkSolver().solve(m, args);
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed, "");
  expect_optimal(r, best, m);
  EXPECT_EQ(r.best_bound, r.objective);
  EXPECT_EQ(r.gap, 0);
  EXPECT_EQ(r.solver_name, "glpk");
  EXPECT_FALSE(r.presolve_used);
  EXPECT_FALSE(r.warm_start_used);
  EXPECT_GE(r.nodes, 1);
  EXPECT_GE(r.seconds, r.presolve_seconds);
  EXPECT_GE(r.presolve_seconds, 0);
  EXPECT_TRUE(r.IsSolutionUsable());
  EXPECT_FALSE(r.log.empty());
  EXPECT_THAT(r.log, HasSubstr("mip ="));  // GLPK's progress lines
  const std::string objective = std::to_string(static_cast<long long>(best));
  EXPECT_THAT(r.BriefReport(), HasSubstr("optimal: objective " + objective + " (bound " + objective + ", gap 0%)"));
  EXPECT_THAT(r.FullReport(), HasSubstr("termination:   optimal"));
  EXPECT_THAT(r.FullReport(), HasSubstr("objective:     " + objective));
  EXPECT_THAT(r.FullReport(), HasSubstr("solver:        glpk"));
  EXPECT_THAT(r.FullReport(), HasSubstr("log (end):"));
  EXPECT_THROW(r.value(Var()), std::out_of_range) << "an invalid handle has no value";

  // With presolve and log level 3 (everything): still nothing on stdout.
  args.options.presolve = true;
  args.options.log_level = 3;
  testing::internal::CaptureStdout();
  const auto r3 = GlpkSolver().solve(m, args);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  expect_optimal(r3, best, m);
  EXPECT_TRUE(r3.presolve_used);
  EXPECT_FALSE(r3.log.empty());

  // Log level 0: GLPK prints nothing at all.
  args.options.log_level = 0;
  testing::internal::CaptureStdout();
  const auto r0 = GlpkSolver().solve(m, args);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  expect_optimal(r0, best, m);
  EXPECT_EQ(r0.log, "");
}

TEST(GlpkSolver, ReportsOfFailedSolves) {
  SolveResult r;
  r.termination = Termination::kInfeasible;
  r.message = "the LP relaxation is infeasible";
  r.nodes = 0;
  EXPECT_THAT(r.BriefReport(), HasSubstr("infeasible"));
  EXPECT_THAT(r.FullReport(), HasSubstr("message:       the LP relaxation is infeasible"));
  EXPECT_THAT(r.FullReport(), HasSubstr("solution:      none"));
  EXPECT_STREQ(opplan::to_string(Termination::kNoSolutionFound), "no solution found");
  EXPECT_STREQ(opplan::to_string(Termination::kStoppedByUser), "stopped by user");
  EXPECT_STREQ(opplan::to_string(opplan::CallbackEvent::kLazyRows), "lazy rows");
}

TEST(GlpkSolver, RelativeGapStopsEarlyButReportsHonestly) {
  const MipModel m = hard_knapsack(30);
  SolveArguments exact;
  exact.options.relative_gap = 0;
  const auto best = GlpkSolver().solve(m, exact);
  ASSERT_EQ(best.termination, Termination::kOptimal) << best.FullReport();
  SolveArguments loose;
  loose.options.relative_gap = 0.05;
  const auto r = GlpkSolver().solve(m, loose);
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  EXPECT_LE(r.objective, best.objective + kTol);
  EXPECT_GE(r.objective, best.objective * (1 - 0.05) - kTol);
  EXPECT_GE(r.best_bound, best.objective - kTol);  // a valid upper bound
  EXPECT_LE(r.gap, 0.05 + kTol);
  EXPECT_TRUE(m.check_solution(r.values).ok());
  // It did stop early (opplan tests the gap itself, from the callback), and said why.
  EXPECT_LT(r.nodes, best.nodes);
  EXPECT_THAT(r.message, HasSubstr("relative gap"));
}

// ---- warm start -------------------------------------------------------------------------------

TEST(GlpkWarmStart, FeasibleWarmStartWithNodeLimitZeroIsNoWorse) {
  const MipModel m = hard_knapsack();
  // A greedy feasible solution.
  std::vector<double> warm(m.num_variables(), 0.0);
  double weight = 0;
  const auto& starts = m.row_starts();
  for (std::size_t k = starts[0]; k < starts[1]; ++k) {
    const double w = m.coefficients()[k];
    if (weight + w <= m.row_uppers()[0]) weight += w, warm[m.column_indices()[k]] = 1;
  }
  ASSERT_TRUE(m.check_solution(warm).ok());
  const double warm_objective = m.objective_value(warm);
  for (std::int64_t limit : {0, 1}) {
    SCOPED_TRACE(limit);
    SolveArguments args;
    args.warm_start = warm;
    args.options.node_limit = limit;
    const auto r = GlpkSolver().solve(m, args);
    EXPECT_EQ(r.termination, Termination::kFeasible) << r.FullReport();
    ASSERT_TRUE(r.has_solution);
    EXPECT_TRUE(r.warm_start_used);
    EXPECT_GE(r.objective, warm_objective - kTol);
    EXPECT_TRUE(m.check_solution(r.values).ok());
    EXPECT_NEAR(m.objective_value(r.values), r.objective, kTol);
  }
  // A tiny time limit as well.
  SolveArguments args;
  args.warm_start = warm;
  args.options.time_limit = 1e-9;
  const auto r = GlpkSolver().solve(m, args);
  EXPECT_THAT(r.termination, AnyOf(Termination::kFeasible, Termination::kOptimal)) << r.FullReport();
  ASSERT_TRUE(r.has_solution);
  EXPECT_GE(r.objective, warm_objective - kTol);
  EXPECT_TRUE(m.check_solution(r.values).ok());
}

TEST(GlpkWarmStart, OptimalWarmStartIsKept) {
  const Knapsack k = random_knapsack(77, 12);
  const MipModel m = knapsack_model(k);
  const auto first = GlpkSolver().solve(m);
  ASSERT_EQ(first.termination, Termination::kOptimal);
  SolveArguments args;
  args.warm_start = first.values;
  args.options.relative_gap = 0;
  const auto r = GlpkSolver().solve(m, args);
  expect_optimal(r, knapsack_brute_force(k), m);
  EXPECT_TRUE(r.warm_start_used);
  EXPECT_FALSE(r.presolve_used);  // the warm start needs the original columns
}

TEST(GlpkWarmStart, InfeasibleWarmStartIsIgnored) {
  const Knapsack k = random_knapsack(78, 12);
  const MipModel m = knapsack_model(k);
  SolveArguments args;
  args.warm_start.assign(m.num_variables(), 1.0);  // everything: over capacity
  const auto r = GlpkSolver().solve(m, args);
  expect_optimal(r, knapsack_brute_force(k), m);
  EXPECT_FALSE(r.warm_start_used);
  EXPECT_THAT(r.message, HasSubstr("warm start ignored"));
  EXPECT_THAT(r.message, HasSubstr("capacity"));  // names the violated row
  // Fractional values for binaries are infeasible as well.
  args.warm_start.assign(m.num_variables(), 0.5);
  const auto r2 = GlpkSolver().solve(m, args);
  expect_optimal(r2, knapsack_brute_force(k), m);
  EXPECT_THAT(r2.message, HasSubstr("warm start ignored"));
  // With a time limit of 0 an ignored warm start leaves no solution.
  args.options.time_limit = 0;
  args.warm_start.assign(m.num_variables(), 1.0);
  const auto r3 = GlpkSolver().solve(m, args);
  EXPECT_EQ(r3.termination, Termination::kNoSolutionFound);
  EXPECT_FALSE(r3.has_solution);
  EXPECT_THAT(r3.message, HasSubstr("warm start ignored"));
}

TEST(GlpkWarmStart, WrongSizeIsIgnoredWithAMessage) {
  const Knapsack k = random_knapsack(79, 12);
  const MipModel m = knapsack_model(k);
  SolveArguments args;
  args.warm_start = {0.0, 0.0, 0.0};
  const auto r = GlpkSolver().solve(m, args);
  expect_optimal(r, knapsack_brute_force(k), m);
  EXPECT_FALSE(r.warm_start_used);
  EXPECT_THAT(r.message, HasSubstr("warm start ignored"));
  EXPECT_THAT(r.message, HasSubstr("3 values"));
}

// ---- threads ----------------------------------------------------------------------------------

TEST(GlpkConcurrency, GlpkIsThreadSafeOnThisBuild) { EXPECT_TRUE(GlpkSolver::thread_safe()); }

TEST(GlpkConcurrency, FilesAndRelaxationsOnFourThreads) {
  constexpr int kThreads = 4, kPerThread = 15;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread && failures[t].empty(); ++i) {
        const Knapsack k = random_knapsack(5000 + t * 100 + i, 12);
        MipModel m = knapsack_model(k);
        if (i % 2) m.set_sense(ObjectiveSense::kMinimize);  // min: 0 (nothing packed)
        const std::string path = ::testing::TempDir() + "opplan_conc_" + std::to_string(::getpid()) + "_" +
                                 std::to_string(t) + "_" +
                                 std::to_string(i) + (i % 3 ? ".mps" : ".lp");
        const auto w = i % 3 ? opplan::write_mps(m, path) : opplan::write_lp(m, path);
        const auto r = i % 3 ? opplan::read_mps(path) : opplan::read_lp(path);
        std::remove(path.c_str());
        if (!w.ok() || !r.ok()) {
          failures[t] = "file: " + w.to_string() + " / " + r.status().to_string();
          break;
        }
        const auto solved = GlpkSolver().solve(*r);
        const double expected = i % 2 ? 0 : knapsack_brute_force(k);
        if (solved.termination != Termination::kOptimal || std::abs(solved.objective - expected) > kTol)
          failures[t] = "solve of the read model: " + solved.BriefReport();
        const auto lp = opplan::solve_lp_relaxation(m);
        if (lp.termination != Termination::kOptimal ||
            (i % 2 ? lp.objective > expected + kTol : lp.objective < expected - kTol))
          failures[t] = "relaxation: " + lp.BriefReport();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST(GlpkConcurrency, FourThreadsSolveDistinctKnapsacks) {
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<Knapsack> instances;
  std::vector<double> expected;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    instances.push_back(random_knapsack(1000 + i, 12));
    expected.push_back(knapsack_brute_force(instances.back()));
  }
  std::vector<int> correct(kThreads, 0);
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      GlpkSolver solver;
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        const MipModel m = knapsack_model(instances[id]);
        SolveArguments args;
        args.options.presolve = (i % 2) == 0;
        args.options.log_level = 2;  // exercises the per-thread log capture
        const auto r = solver.solve(m, args);
        if (r.termination == Termination::kOptimal && std::abs(r.objective - expected[id]) < kTol &&
            m.check_solution(r.values).ok() && !r.log.empty())
          ++correct[t];
        else if (failures[t].empty())
          failures[t] = "instance " + std::to_string(id) + ": " + r.BriefReport() + " expected " +
                        std::to_string(expected[id]);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(correct[t], kPerThread) << failures[t];
}

}  // namespace
