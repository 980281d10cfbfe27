// Random 0/1 knapsacks and their brute-force optima, shared by the MIP tests.
#pragma once

#include <opplan/mip_model.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace opplan_test {

struct Knapsack {
  std::vector<int> weight, value;
  int capacity = 0;
  std::vector<std::pair<int, int>> conflicts;  // pairs that may not both be packed
};

// n items (weights 3..30, values 1..40, capacity half the total weight) and `num_conflicts`
// distinct conflicting pairs.
inline Knapsack random_knapsack(unsigned seed, int n, int num_conflicts = 0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> w(3, 30), v(1, 40), item(0, n - 1);
  Knapsack k;
  for (int i = 0; i < n; ++i) {
    k.weight.push_back(w(rng));
    k.value.push_back(v(rng));
  }
  k.capacity = std::accumulate(k.weight.begin(), k.weight.end(), 0) / 2;
  while (static_cast<int>(k.conflicts.size()) < num_conflicts) {
    int a = item(rng), b = item(rng);
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    if (std::find(k.conflicts.begin(), k.conflicts.end(), std::make_pair(a, b)) == k.conflicts.end())
      k.conflicts.emplace_back(a, b);
  }
  return k;
}

// Max value within the capacity, respecting every conflict.
inline double knapsack_brute_force(const Knapsack& k) {
  const int n = static_cast<int>(k.weight.size());
  int best = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    bool ok = true;
    for (auto [a, b] : k.conflicts)
      if ((mask >> a & 1u) && (mask >> b & 1u)) ok = false;
    if (!ok) continue;
    int w = 0, v = 0;
    for (int i = 0; i < n; ++i)
      if (mask >> i & 1u) w += k.weight[i], v += k.value[i];
    if (w <= k.capacity) best = std::max(best, v);
  }
  return best;
}

// Maximise value subject to the capacity row ("capacity"); the conflict rows only when
// `with_conflicts` (tests that add them lazily leave them out). Variables are named x0, x1, ...
inline opplan::MipModel knapsack_model(const Knapsack& k, std::vector<opplan::Var>* vars = nullptr,
                                       bool with_conflicts = false) {
  opplan::MipModel m("knapsack");
  std::vector<opplan::Var> x;
  opplan::LinearExpr weight, value;
  for (std::size_t i = 0; i < k.weight.size(); ++i) {
    x.push_back(m.add_binary("x" + std::to_string(i)));
    weight.add(x.back(), k.weight[i]);
    value.add(x.back(), k.value[i]);
  }
  m.add_row(weight <= k.capacity, "capacity");
  if (with_conflicts)
    for (auto [a, b] : k.conflicts) m.add_row(opplan::LinearExpr(x[a]) + opplan::LinearExpr(x[b]) <= 1);
  m.maximize(value);
  if (vars) *vars = x;
  return m;
}

}  // namespace opplan_test
