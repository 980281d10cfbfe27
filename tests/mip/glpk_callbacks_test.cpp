// GlpkSolver callbacks: incumbents, progress, lazy rows, suggested solutions, termination and
// exceptions thrown by the callback.
#include <opplan/mip_model.hpp>
#include <opplan/solver.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "knapsack.hpp"

namespace {

using opplan::BoundedExpr;
using opplan::CallbackData;
using opplan::CallbackEvent;
using opplan::CallbackResult;
using opplan::GlpkSolver;
using opplan::kInf;
using opplan::LinearExpr;
using opplan::MipModel;
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

bool satisfies_conflicts(const Knapsack& k, const std::vector<double>& values) {
  for (auto [a, b] : k.conflicts)
    if (values[a] + values[b] > 1 + kTol) return false;
  return true;
}

// A strongly correlated knapsack that takes GLPK many nodes.
MipModel hard_knapsack(int n, opplan::ObjectiveSense sense = opplan::ObjectiveSense::kMaximize) {
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
  if (sense == opplan::ObjectiveSense::kMaximize) {
    m.add_row(weight <= std::floor(total / 2) + 0.5);
  } else {
    m.add_row(weight >= std::floor(total / 2) + 0.5);
  }
  m.set_objective(value, sense);
  return m;
}

// ---- incumbents and progress ------------------------------------------------------------------

void check_incumbents(const MipModel& m, bool maximize) {
  std::vector<double> objectives;
  std::vector<std::string> problems;
  SolveArguments args;
  args.options.relative_gap = 0;
  args.registration.incumbent = true;
  args.callback = [&](const CallbackData& d) {
    if (d.event != CallbackEvent::kIncumbent) {
      problems.push_back(std::string("unexpected event ") + opplan::to_string(d.event));
      return CallbackResult{};
    }
    if (d.solution.size() != m.num_variables()) problems.push_back("solution of wrong size");
    else {
      if (auto s = m.check_solution(d.solution); !s.ok()) problems.push_back(s.to_string());
      if (std::abs(m.objective_value(d.solution) - d.best_objective) > kTol)
        problems.push_back("best_objective " + std::to_string(d.best_objective) + " is not the solution's " +
                           std::to_string(m.objective_value(d.solution)));
    }
    objectives.push_back(d.best_objective);
    return CallbackResult{};
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  EXPECT_FALSE(r.presolve_used);
  EXPECT_TRUE(problems.empty()) << problems.front();
  ASSERT_FALSE(objectives.empty());
  for (std::size_t i = 1; i < objectives.size(); ++i) {
    if (maximize) {
      EXPECT_GT(objectives[i], objectives[i - 1]) << "incumbent " << i;
    } else {
      EXPECT_LT(objectives[i], objectives[i - 1]) << "incumbent " << i;
    }
  }
  // The solution returned is the last one the callback was told about.
  EXPECT_NEAR(objectives.back(), r.objective, kTol) << r.FullReport();
}

TEST(GlpkCallbacks, IncumbentsImproveStrictlyWhenMaximising) { check_incumbents(hard_knapsack(20), true); }

TEST(GlpkCallbacks, IncumbentsImproveStrictlyWhenMinimising) {
  check_incumbents(hard_knapsack(20, opplan::ObjectiveSense::kMinimize), false);
}

TEST(GlpkCallbacks, IncumbentsOfRandomKnapsacksEndAtTheOptimum) {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Knapsack k = random_knapsack(seed, 14);
    std::vector<Var> x;
    check_incumbents(knapsack_model(k, &x), true);
  }
}

TEST(GlpkCallbacks, ProgressBoundNeverPassesTheIncumbent) {
  for (auto sense : {opplan::ObjectiveSense::kMinimize, opplan::ObjectiveSense::kMaximize}) {
    const bool minimize = sense == opplan::ObjectiveSense::kMinimize;
    SCOPED_TRACE(minimize ? "min" : "max");
    const MipModel m = hard_knapsack(20, sense);
    int calls = 0, with_both = 0;
    std::int64_t last_nodes = 0;
    std::vector<std::string> problems;
    SolveArguments args;
    args.options.relative_gap = 0;
    args.registration.progress = true;
    args.callback = [&](const CallbackData& d) {
      ++calls;
      if (d.event != CallbackEvent::kProgress) problems.push_back("wrong event");
      if (!d.solution.empty()) problems.push_back("progress carries a solution");
      if (d.nodes < last_nodes) problems.push_back("node count went down");
      last_nodes = d.nodes;
      if (std::isfinite(d.best_objective) && std::isfinite(d.best_bound)) {
        ++with_both;
        const bool ok = minimize ? d.best_bound <= d.best_objective + kTol : d.best_bound >= d.best_objective - kTol;
        if (!ok)
          problems.push_back("bound " + std::to_string(d.best_bound) + " vs incumbent " +
                             std::to_string(d.best_objective) + " at node " + std::to_string(d.nodes));
        if (d.gap < 0 || !std::isfinite(d.gap)) problems.push_back("gap " + std::to_string(d.gap));
      } else if (!std::isfinite(d.best_objective)) {
        if (d.best_objective != (minimize ? kInf : -kInf)) problems.push_back("no incumbent has the wrong sign");
        if (std::isfinite(d.gap)) problems.push_back("finite gap without an incumbent");
      }
      return CallbackResult{};
    };
    const SolveResult r = GlpkSolver().solve(m, args);
    ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
    EXPECT_TRUE(problems.empty()) << problems.size() << " problems, first: " << problems.front();
    EXPECT_GT(calls, 0);
    EXPECT_GT(with_both, 0);
    EXPECT_LE(last_nodes, r.nodes);
    // Progress alone does not need original columns: presolve stays on.
    EXPECT_TRUE(r.presolve_used);
  }
}

// ---- lazy rows ------------------------------------------------------------------------------

struct LazyStats {
  int calls = 0;
  int rows_added = 0;
  std::vector<std::string> problems;
};

SolveArguments conflict_lazy_rows(const Knapsack& k, const std::vector<Var>& x, const MipModel& m, LazyStats& stats,
                                  bool also_incumbent) {
  SolveArguments args;
  args.options.relative_gap = 0;
  args.registration.lazy_rows = true;
  args.registration.incumbent = also_incumbent;
  args.callback = [&k, &x, &m, &stats](const CallbackData& d) {
    CallbackResult result;
    if (d.solution.size() != m.num_variables()) {
      stats.problems.push_back("solution of wrong size");
      return result;
    }
    if (d.event == CallbackEvent::kIncumbent) {
      if (!satisfies_conflicts(k, d.solution)) stats.problems.push_back("an incumbent violates a lazy row");
      return result;
    }
    ++stats.calls;
    for (auto [a, b] : k.conflicts)
      if (d.solution[a] + d.solution[b] > 1 + kTol) result.lazy_rows.push_back(x[a] + x[b] <= 1);
    stats.rows_added += static_cast<int>(result.lazy_rows.size());
    return result;
  };
  return args;
}

TEST(GlpkCallbacks, LazyConflictRowsMatchBruteForce) {
  // 10 to 14 items with 10 to 26 conflicts: dense enough that GLPK's own rounding heuristic, which
  // sees only the lazy rows added so far, would pack conflicting items.
  int total_rows = 0;
  for (unsigned seed = 280; seed <= 400; ++seed) {
    const int n = 10 + static_cast<int>(seed % 10);
    if (n > 14) continue;
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Knapsack k = random_knapsack(seed, n, n + static_cast<int>(seed % 13));
    std::vector<Var> x;
    const MipModel m = knapsack_model(k, &x);
    const double best = knapsack_brute_force(k);
    for (bool also_incumbent : {false, true}) {
      LazyStats stats;
      const SolveResult r = GlpkSolver().solve(m, conflict_lazy_rows(k, x, m, stats, also_incumbent));
      ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
      EXPECT_NEAR(r.objective, best, kTol) << r.FullReport();
      EXPECT_TRUE(satisfies_conflicts(k, r.values));
      EXPECT_TRUE(m.check_solution(r.values).ok());
      EXPECT_FALSE(r.presolve_used);
      EXPECT_TRUE(stats.problems.empty()) << stats.problems.front();
      EXPECT_GT(stats.calls, 0);
      total_rows += stats.rows_added;
    }
    // The same model with every conflict row up front agrees.
    std::vector<Var> y;
    const MipModel full = knapsack_model(k, &y, true);
    const SolveResult f = GlpkSolver().solve(full);
    ASSERT_EQ(f.termination, Termination::kOptimal);
    EXPECT_NEAR(f.objective, best, kTol);
  }
  EXPECT_GT(total_rows, 0) << "the lazy rows were never needed: the test proves nothing";
}

// Symmetric TSP on 7 cities: degree rows up front, subtour elimination rows lazily.
TEST(GlpkCallbacks, LazySubtourEliminationMatchesBruteForce) {
  const int n = 7;
  for (unsigned seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> coord(0, 100);
    std::vector<double> px(n), py(n);
    for (int i = 0; i < n; ++i) px[i] = coord(rng), py[i] = coord(rng);
    auto dist = [&](int i, int j) { return std::round(std::hypot(px[i] - px[j], py[i] - py[j])); };
    MipModel m("tsp");
    std::vector<std::vector<Var>> e(n, std::vector<Var>(n));
    LinearExpr obj;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        e[i][j] = e[j][i] = m.add_binary();
        obj.add(e[i][j], dist(i, j));
      }
    for (int i = 0; i < n; ++i) {
      LinearExpr degree;
      for (int j = 0; j < n; ++j)
        if (j != i) degree.add(e[i][j], 1);
      m.add_row(degree == 2);
    }
    m.minimize(obj);

    int lazy_rows = 0;
    bool incumbent_with_subtour = false;
    // Components of the support graph (edges with value > 0.5 for integers, > eps otherwise).
    auto components = [&](const std::vector<double>& v, double threshold) {
      std::vector<int> comp(n, -1);
      int count = 0;
      for (int s = 0; s < n; ++s) {
        if (comp[s] >= 0) continue;
        std::vector<int> stack{s};
        comp[s] = count;
        while (!stack.empty()) {
          const int i = stack.back();
          stack.pop_back();
          for (int j = 0; j < n; ++j)
            if (j != i && comp[j] < 0 && v[e[i][j].index()] > threshold) comp[j] = count, stack.push_back(j);
        }
        ++count;
      }
      return std::make_pair(count, comp);
    };
    SolveArguments args;
    args.registration.lazy_rows = true;
    args.registration.incumbent = true;
    args.callback = [&](const CallbackData& d) {
      CallbackResult result;
      if (d.event == CallbackEvent::kIncumbent) {
        if (components(d.solution, 0.5).first > 1) incumbent_with_subtour = true;
        return result;
      }
      const auto [count, comp] = components(d.solution, 1e-6);
      if (count == 1) return result;
      for (int c = 0; c < count; ++c) {
        LinearExpr inside;
        int size = 0;
        for (int i = 0; i < n; ++i) {
          if (comp[i] != c) continue;
          ++size;
          for (int j = i + 1; j < n; ++j)
            if (comp[j] == c) inside.add(e[i][j], 1);
        }
        result.lazy_rows.push_back(inside <= size - 1);
      }
      lazy_rows += static_cast<int>(result.lazy_rows.size());
      return result;
    };
    const SolveResult r = GlpkSolver().solve(m, args);
    ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();

    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = kInf;
    do {
      if (perm[0] != 0) break;
      double len = 0;
      for (int i = 0; i < n; ++i) len += dist(perm[i], perm[(i + 1) % n]);
      best = std::min(best, len);
    } while (std::next_permutation(perm.begin(), perm.end()));
    EXPECT_NEAR(r.objective, best, kTol) << r.FullReport();
    EXPECT_EQ(components(r.values, 0.5).first, 1) << "the returned tour has subtours";
    EXPECT_FALSE(incumbent_with_subtour);
    EXPECT_GE(lazy_rows, 0);
  }
}

TEST(GlpkCallbacks, LazyRowWithForeignVariableIsAnError) {
  const Knapsack k = random_knapsack(3, 10);
  std::vector<Var> x;
  const MipModel m = knapsack_model(k, &x);
  MipModel other;
  const Var foreign = other.add_binary();
  SolveArguments args;
  args.registration.lazy_rows = true;
  args.callback = [&](const CallbackData&) {
    CallbackResult r;
    r.lazy_rows.push_back(x[0] + foreign <= 1);
    return r;
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kError) << r.FullReport();
  EXPECT_THAT(r.message, HasSubstr("lazy row #0"));
  EXPECT_THAT(r.message, HasSubstr("another model"));

  // Bad bounds and coefficients are errors too; an uninitialised Var as well.
  const std::vector<std::pair<std::string, BoundedExpr>> bad = {
      {"admit no value", BoundedExpr{LinearExpr(x[0]), 2, 1}},
      {"admit no value", BoundedExpr{LinearExpr(x[0]), std::nan(""), 1}},
      {"coefficient", x[0] + std::nan("") * LinearExpr(x[1]) <= 1},
      {"coefficient", x[0] + kInf * LinearExpr(x[1]) <= 1},
      {"another model", x[0] + Var() <= 1},
  };
  for (const auto& [expected, row] : bad) {
    SCOPED_TRACE(expected);
    SolveArguments a;
    a.registration.lazy_rows = true;
    a.callback = [&, row = row](const CallbackData&) {
      CallbackResult cr;
      cr.lazy_rows.push_back(x[2] + x[3] <= 1);  // a good row first
      cr.lazy_rows.push_back(row);
      return cr;
    };
    const SolveResult res = GlpkSolver().solve(m, a);
    EXPECT_EQ(res.termination, Termination::kError) << res.FullReport();
    EXPECT_THAT(res.message, HasSubstr("lazy row #1"));
    EXPECT_THAT(res.message, HasSubstr(expected));
  }
  // The thread's GLPK still works.
  const SolveResult again = GlpkSolver().solve(m);
  EXPECT_EQ(again.termination, Termination::kOptimal);
  EXPECT_NEAR(again.objective, knapsack_brute_force(k), kTol);
}

// ---- suggested solutions ----------------------------------------------------------------------

TEST(GlpkCallbacks, FeasibleSuggestionIsAccepted) {
  const MipModel m = hard_knapsack(30);
  SolveArguments exact;
  exact.options.relative_gap = 0;
  const SolveResult opt = GlpkSolver().solve(m, exact);
  ASSERT_EQ(opt.termination, Termination::kOptimal);

  int heuristic_calls = 0;
  std::vector<double> incumbents;
  SolveArguments args;
  args.options.node_limit = 2;
  args.registration.heuristic = true;
  args.registration.incumbent = true;
  args.callback = [&](const CallbackData& d) {
    CallbackResult r;
    if (d.event == CallbackEvent::kIncumbent) {
      incumbents.push_back(d.best_objective);
    } else if (d.event == CallbackEvent::kHeuristic) {
      EXPECT_EQ(d.solution.size(), m.num_variables());
      if (heuristic_calls++ == 0) r.suggested_solutions.push_back(opt.values);
    }
    return r;
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  ASSERT_GT(heuristic_calls, 0) << r.FullReport();
  ASSERT_TRUE(r.has_solution) << r.FullReport();
  EXPECT_THAT(r.termination, AnyOf(Termination::kFeasible, Termination::kOptimal)) << r.FullReport();
  EXPECT_NEAR(r.objective, opt.objective, kTol) << r.FullReport();
  EXPECT_TRUE(m.check_solution(r.values).ok());
  EXPECT_THAT(r.message, ::testing::Not(HasSubstr("infeasible")));
  // The incumbent callback was told about the accepted suggestion.
  ASSERT_FALSE(incumbents.empty());
  EXPECT_NEAR(incumbents.back(), opt.objective, kTol);
}

TEST(GlpkCallbacks, InfeasibleSuggestionsAreIgnoredAndCounted) {
  const MipModel m = hard_knapsack(20);
  SolveArguments exact;
  exact.options.relative_gap = 0;
  const SolveResult opt = GlpkSolver().solve(m, exact);
  ASSERT_EQ(opt.termination, Termination::kOptimal);

  int calls = 0;
  SolveArguments args;
  args.options.relative_gap = 0;
  args.registration.heuristic = true;
  args.callback = [&](const CallbackData&) {
    CallbackResult r;
    if (calls++ == 0) {
      std::vector<double> all(m.num_variables(), 1.0);  // far over capacity, with a huge objective
      r.suggested_solutions.push_back(all);
      r.suggested_solutions.push_back({1.0, 0.0});  // wrong size
      std::vector<double> frac(m.num_variables(), 0.0);
      frac[0] = 0.5;  // not integral
      r.suggested_solutions.push_back(frac);
    }
    return r;
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  ASSERT_GT(calls, 0);
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  EXPECT_NEAR(r.objective, opt.objective, kTol);
  EXPECT_TRUE(m.check_solution(r.values).ok());
  EXPECT_THAT(r.message, HasSubstr("3 suggested solution(s) were infeasible and ignored"));
}

// ---- stopping -----------------------------------------------------------------------------------

TEST(GlpkCallbacks, TerminateAtFirstIncumbentKeepsIt) {
  const MipModel m = hard_knapsack(20);
  std::vector<double> first;
  double first_objective = 0;
  SolveArguments args;
  args.registration.incumbent = true;
  args.callback = [&](const CallbackData& d) {
    CallbackResult r;
    if (first.empty()) first = d.solution, first_objective = d.best_objective;
    r.terminate = true;
    return r;
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kStoppedByUser) << r.FullReport();
  ASSERT_TRUE(r.has_solution);
  ASSERT_FALSE(first.empty());
  EXPECT_NEAR(r.objective, first_objective, kTol);
  EXPECT_EQ(r.values, first);
  EXPECT_THAT(r.message, HasSubstr("callback"));
  EXPECT_GE(r.best_bound, r.objective - kTol);
}

TEST(GlpkCallbacks, TerminateBeforeAnySolution) {
  const MipModel m = hard_knapsack(20);
  SolveArguments args;
  args.registration.progress = true;
  args.callback = [](const CallbackData& d) {
    CallbackResult r;
    r.terminate = !std::isfinite(d.best_objective);
    return r;
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kStoppedByUser) << r.FullReport();
  EXPECT_FALSE(r.has_solution);
}

TEST(GlpkCallbacks, InterruptFlagSetDuringTheSearch) {
  const MipModel m = hard_knapsack(20);
  std::atomic<bool> stop{false};
  int calls_after_stop = 0;
  SolveArguments args;
  args.interrupt = &stop;
  args.registration.progress = true;
  args.callback = [&](const CallbackData& d) {
    if (stop) ++calls_after_stop;
    if (d.nodes >= 3) stop = true;
    return CallbackResult{};
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kStoppedByUser) << r.FullReport();
  EXPECT_THAT(r.message, HasSubstr("interrupted"));
  EXPECT_EQ(calls_after_stop, 0);
  if (r.has_solution) {
    EXPECT_TRUE(m.check_solution(r.values).ok());
  }
}

// ---- exceptions ---------------------------------------------------------------------------------

TEST(GlpkCallbacks, ExceptionFromTheCallbackIsRethrown) {
  const MipModel m = hard_knapsack(20);
  struct Case {
    const char* name;
    opplan::CallbackRegistration registration;
  };
  opplan::CallbackRegistration inc, prog, lazy, heur;
  inc.incumbent = true;
  prog.progress = true;
  lazy.lazy_rows = true;
  heur.heuristic = true;
  for (const Case& c : {Case{"incumbent", inc}, Case{"progress", prog}, Case{"lazy", lazy}, Case{"heuristic", heur}}) {
    SCOPED_TRACE(c.name);
    int calls = 0;
    SolveArguments args;
    args.registration = c.registration;
    args.callback = [&](const CallbackData&) -> CallbackResult {
      ++calls;
      throw std::runtime_error(std::string("boom from ") + c.name);
    };
    try {
      (void)GlpkSolver().solve(m, args);
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("boom from ") + c.name);
    }
    EXPECT_EQ(calls, 1) << "the search went on after the exception";
    // GLPK's state on this thread is intact.
    SolveArguments plain;
    plain.options.relative_gap = 0;
    const SolveResult r = GlpkSolver().solve(hard_knapsack(16), plain);
    EXPECT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  }
  // EXPECT_THROW form, and a non-standard exception type.
  SolveArguments args;
  args.registration.progress = true;
  args.callback = [](const CallbackData&) -> CallbackResult { throw std::runtime_error("exact message"); };
  EXPECT_THROW(
      {
        try {
          (void)GlpkSolver().solve(m, args);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "exact message");
          throw;
        }
      },
      std::runtime_error);
  args.callback = [](const CallbackData&) -> CallbackResult { throw 42; };
  EXPECT_THROW((void)GlpkSolver().solve(m, args), int);
  std::vector<Var> x;
  const Knapsack k = random_knapsack(5, 12);
  const SolveResult after = GlpkSolver().solve(knapsack_model(k, &x));
  EXPECT_EQ(after.termination, Termination::kOptimal);
  EXPECT_NEAR(after.objective, knapsack_brute_force(k), kTol);
}

// A callback that runs a solve of its own (a sub-MIP heuristic) on the same thread.
TEST(GlpkCallbacks, SolveInsideACallbackKeepsTheOuterSolveIntact) {
  const MipModel outer = hard_knapsack(20);
  SolveArguments exact;
  exact.options.relative_gap = 0;
  const SolveResult expected_outer = GlpkSolver().solve(outer, exact);
  const SolveResult expected_inner = GlpkSolver().solve(hard_knapsack(10), exact);
  ASSERT_EQ(expected_outer.termination, Termination::kOptimal);
  ASSERT_EQ(expected_inner.termination, Termination::kOptimal);

  int inner_solves = 0;
  std::vector<std::string> problems;
  SolveArguments args;
  args.options.relative_gap = 0;
  args.options.log_level = 2;
  args.registration.heuristic = true;
  args.callback = [&](const CallbackData&) {
    if (inner_solves < 3) {
      ++inner_solves;
      SolveArguments inner_args = exact;
      inner_args.options.log_level = 2;
      const SolveResult inner = GlpkSolver().solve(hard_knapsack(10), inner_args);
      if (inner.termination != Termination::kOptimal || std::abs(inner.objective - expected_inner.objective) > kTol)
        problems.push_back("inner: " + inner.BriefReport());
      if (inner.log.find("mip =") == std::string::npos) problems.push_back("inner log not captured");
    }
    return CallbackResult{};
  };
  testing::internal::CaptureStdout();
  const SolveResult r = GlpkSolver().solve(outer, args);
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed, "") << "the outer solve printed after an inner solve ended";
  EXPECT_EQ(inner_solves, 3);
  EXPECT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  EXPECT_NEAR(r.objective, expected_outer.objective, kTol);
  // The outer log has the outer search's end (its last progress line: "tree is empty").
  EXPECT_THAT(r.log, HasSubstr("tree is empty"));
}

TEST(GlpkCallbacks, EventsWithoutACallbackAreInvalidInput) {
  const MipModel m = hard_knapsack(10);
  for (int which = 0; which < 4; ++which) {
    SolveArguments args;
    args.registration.incumbent = which == 0;
    args.registration.progress = which == 1;
    args.registration.lazy_rows = which == 2;
    args.registration.heuristic = which == 3;
    const SolveResult r = GlpkSolver().solve(m, args);
    EXPECT_EQ(r.termination, Termination::kInvalidInput);
    EXPECT_THAT(r.message, HasSubstr("no callback"));
  }
  // A callback without registered events is never called.
  int calls = 0;
  SolveArguments args;
  args.callback = [&](const CallbackData&) {
    ++calls;
    return CallbackResult{};
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  EXPECT_EQ(r.termination, Termination::kOptimal);
  EXPECT_EQ(calls, 0);
}

TEST(GlpkCallbacks, EventsCarryTheirData) {
  const MipModel m = hard_knapsack(20);
  int counts[4] = {0, 0, 0, 0};
  std::vector<std::string> problems;
  SolveArguments args;
  args.registration = {true, true, true, true};
  args.callback = [&](const CallbackData& d) {
    ++counts[static_cast<int>(d.event)];
    const bool wants_solution = d.event != CallbackEvent::kProgress;
    if (wants_solution != (d.solution.size() == m.num_variables()))
      problems.push_back(std::string(opplan::to_string(d.event)) + ": solution size " +
                         std::to_string(d.solution.size()));
    if (d.seconds < 0) problems.push_back("negative time");
    return CallbackResult{};
  };
  const SolveResult r = GlpkSolver().solve(m, args);
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_GT(counts[static_cast<int>(CallbackEvent::kIncumbent)], 0);
  EXPECT_GT(counts[static_cast<int>(CallbackEvent::kProgress)], 0);
  EXPECT_GT(counts[static_cast<int>(CallbackEvent::kLazyRows)], 0);
  EXPECT_GT(counts[static_cast<int>(CallbackEvent::kHeuristic)], 0);
  EXPECT_FALSE(r.presolve_used);
}

}  // namespace
