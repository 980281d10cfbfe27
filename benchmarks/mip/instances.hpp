// Seeded MIP instances shared by the MIP benchmarks: hard enough that GLPK's branch-and-cut, not
// process start-up or file parsing, dominates the solve time.
#pragma once

#include <opplan/opplan.hpp>

#include <random>
#include <string>
#include <vector>

namespace opplan_bench {

struct Instance {
  std::string name;
  opplan::MipModel model;
};

// Multi-dimensional 0/1 knapsack: n items, m capacity rows at half the total weight. Written as
// minimising the negated value, so that the MPS file means the same to glpsol (which reads no
// objective sense) as to opplan.
inline Instance multi_knapsack(int n, int m, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> weight(10, 100);
  opplan::MipModel model("mkp");
  std::vector<opplan::Var> x;
  for (int i = 0; i < n; ++i) x.push_back(model.add_binary("x" + std::to_string(i)));
  for (int r = 0; r < m; ++r) {
    opplan::LinearExpr row;
    double total = 0;
    for (int i = 0; i < n; ++i) {
      const double w = weight(rng);
      row.add(x[i], w);
      total += w;
    }
    model.add_row(row <= std::floor(total / 2), "cap" + std::to_string(r));
  }
  opplan::LinearExpr value;  // negated item values
  for (int i = 0; i < n; ++i) value.add(x[i], -(weight(rng) + 20));
  model.minimize(value);
  return {"mkp-" + std::to_string(n) + "x" + std::to_string(m) + "-s" + std::to_string(seed), std::move(model)};
}

// Weighted set cover: `elements` elements, `sets` random sets of 3..8 elements, minimise cost.
inline Instance set_cover(int elements, int sets, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> size(3, 8), element(0, elements - 1), cost(5, 40);
  opplan::MipModel model("cover");
  std::vector<std::vector<opplan::Var>> covering(static_cast<std::size_t>(elements));
  opplan::LinearExpr objective;
  for (int s = 0; s < sets; ++s) {
    const opplan::Var v = model.add_binary("s" + std::to_string(s));
    objective.add(v, cost(rng));
    for (int k = size(rng); k > 0; --k) covering[static_cast<std::size_t>(element(rng))].push_back(v);
  }
  for (int e = 0; e < elements; ++e) {
    // Guarantee feasibility: each element is in at least one set.
    if (covering[static_cast<std::size_t>(e)].empty()) covering[static_cast<std::size_t>(e)].push_back(model.variable(static_cast<std::size_t>(e % sets)));
    opplan::LinearExpr row;
    for (opplan::Var v : covering[static_cast<std::size_t>(e)]) row.add(v, 1.0);
    model.add_row(row >= 1, "e" + std::to_string(e));
  }
  model.minimize(objective);
  return {"cover-" + std::to_string(elements) + "x" + std::to_string(sets) + "-s" + std::to_string(seed),
          std::move(model)};
}

// Jobs on identical machines with big-M disjunctions, minimise the makespan: the shape of the
// scheduling MIPs opplan builds. Durations are drawn from [min_duration, max_duration].
inline Instance machine_scheduling(int jobs, int machines, unsigned seed, int min_duration = 2, int max_duration = 20) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> duration(min_duration, max_duration);
  std::vector<double> p;
  double horizon = 0;
  for (int j = 0; j < jobs; ++j) {
    p.push_back(duration(rng));
    horizon += p.back();
  }
  opplan::MipModel model("sched");
  const opplan::Var cmax = model.add_continuous(0, horizon, "cmax");
  std::vector<opplan::Var> start;
  std::vector<std::vector<opplan::Var>> on(static_cast<std::size_t>(jobs));
  for (int j = 0; j < jobs; ++j) {
    start.push_back(model.add_continuous(0, horizon, "s" + std::to_string(j)));
    opplan::LinearExpr one;
    for (int k = 0; k < machines; ++k) {
      on[j].push_back(model.add_binary("x" + std::to_string(j) + "_" + std::to_string(k)));
      one.add(on[j].back(), 1.0);
    }
    model.add_row(one == 1);
    model.add_row(opplan::LinearExpr(start[j]) + p[j] <= opplan::LinearExpr(cmax));
  }
  for (int a = 0; a < jobs; ++a) {
    for (int b = a + 1; b < jobs; ++b) {
      const opplan::Var before = model.add_binary("y" + std::to_string(a) + "_" + std::to_string(b));
      for (int k = 0; k < machines; ++k) {
        // On the same machine, a before b or b before a (M = horizon).
        const double M = horizon;
        opplan::LinearExpr same = M * (opplan::LinearExpr(on[a][k]) + opplan::LinearExpr(on[b][k]));
        // s_a + p_a <= s_b + M (1 - y) + (2M - M x_ak - M x_bk), and the mirror for b before a.
        model.add_row(opplan::LinearExpr(start[a]) + p[a] - start[b] - M * (1.0 - opplan::LinearExpr(before)) +
                          (same - 2 * M) <=
                      0);
        model.add_row(opplan::LinearExpr(start[b]) + p[b] - start[a] - M * opplan::LinearExpr(before) + (same - 2 * M) <= 0);
      }
    }
  }
  model.minimize(opplan::LinearExpr(cmax));
  std::string name = "sched-" + std::to_string(jobs) + "j" + std::to_string(machines) + "m-s" + std::to_string(seed);
  if (min_duration != 2 || max_duration != 20) name += "-p" + std::to_string(min_duration) + "_" + std::to_string(max_duration);
  return {std::move(name), std::move(model)};
}

}  // namespace opplan_bench
