// Coarsening for the operator-level planner: co-location groups, then safe edge contractions,
// lightest first (operator_internal.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <tuple>

#include "planner/operator_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

// Units as a quotient graph: a representative per unit, with the sets of neighbouring units.
class Quotient {
 public:
  explicit Quotient(std::size_t n) : parent_(n), succ_(n), pred_(n), weight_(n, 0), memory_(n, 0) {
    std::iota(parent_.begin(), parent_.end(), 0);
    count_ = n;
  }
  int find(int x) {
    while (parent_[static_cast<std::size_t>(x)] != x) {
      parent_[static_cast<std::size_t>(x)] = parent_[static_cast<std::size_t>(parent_[static_cast<std::size_t>(x)])];
      x = parent_[static_cast<std::size_t>(x)];
    }
    return x;
  }
  std::size_t count() const { return count_; }
  double& weight(int rep) { return weight_[static_cast<std::size_t>(rep)]; }
  double& memory(int rep) { return memory_[static_cast<std::size_t>(rep)]; }
  const std::set<int>& succ(int rep) const { return succ_[static_cast<std::size_t>(rep)]; }
  const std::set<int>& pred(int rep) const { return pred_[static_cast<std::size_t>(rep)]; }

  void add_edge(int a, int b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    succ_[static_cast<std::size_t>(a)].insert(b);
    pred_[static_cast<std::size_t>(b)].insert(a);
  }
  // Merges b into a (both representatives); returns the new representative.
  int merge(int a, int b) {
    if (a == b) return a;
    // Keep the unit with more neighbours as the representative: fewer set moves.
    if (succ_[static_cast<std::size_t>(a)].size() + pred_[static_cast<std::size_t>(a)].size() <
        succ_[static_cast<std::size_t>(b)].size() + pred_[static_cast<std::size_t>(b)].size())
      std::swap(a, b);
    parent_[static_cast<std::size_t>(b)] = a;
    weight_[static_cast<std::size_t>(a)] += weight_[static_cast<std::size_t>(b)];
    memory_[static_cast<std::size_t>(a)] += memory_[static_cast<std::size_t>(b)];
    for (int s : succ_[static_cast<std::size_t>(b)]) {
      pred_[static_cast<std::size_t>(s)].erase(b);
      if (s != a) {
        pred_[static_cast<std::size_t>(s)].insert(a);
        succ_[static_cast<std::size_t>(a)].insert(s);
      }
    }
    for (int p : pred_[static_cast<std::size_t>(b)]) {
      succ_[static_cast<std::size_t>(p)].erase(b);
      if (p != a) {
        succ_[static_cast<std::size_t>(p)].insert(a);
        pred_[static_cast<std::size_t>(a)].insert(p);
      }
    }
    succ_[static_cast<std::size_t>(a)].erase(a);
    pred_[static_cast<std::size_t>(a)].erase(a);
    succ_[static_cast<std::size_t>(a)].erase(b);
    pred_[static_cast<std::size_t>(a)].erase(b);
    succ_[static_cast<std::size_t>(b)].clear();
    pred_[static_cast<std::size_t>(b)].clear();
    --count_;
    return a;
  }

 private:
  std::vector<int> parent_;
  std::vector<std::set<int>> succ_, pred_;
  std::vector<double> weight_, memory_;
  std::size_t count_ = 0;
};

}  // namespace

Result<Coarsening> coarsen(const Graph& graph, const std::vector<OpId>& topo, const std::vector<double>& weight,
                           const std::vector<double>& memory, double memory_limit, std::size_t max_units) {
  const std::size_t n = graph.num_ops();
  Quotient q(n);
  for (std::size_t i = 0; i < n; ++i) {
    q.weight(static_cast<int>(i)) = weight[i];
    q.memory(static_cast<int>(i)) = memory[i];
  }

  // Co-location groups first: their ops must share a device, so they are one unit -- unless a
  // path leaves the group and comes back (tied input and output embeddings), which one unit could
  // not run; such a group stays apart and is tied at placement instead (Coarsening::tie).
  std::map<std::string, std::vector<int>> groups;
  for (OpId id : graph.ops())
    if (!graph.op(id).group.empty()) groups[graph.op(id).group].push_back(static_cast<int>(id.value()));
  std::vector<std::string> tied_groups;
  {
    std::vector<char> in_group(n, 0), seen(n, 0);
    for (const auto& [name, members] : groups) {
      for (int v : members) in_group[static_cast<std::size_t>(v)] = 1;
      // Search from the group's ops through ops outside it; reaching the group again is a cycle.
      std::fill(seen.begin(), seen.end(), 0);
      std::vector<int> stack;
      for (int v : members)
        for (OpId s : graph.successors(OpId(static_cast<std::uint32_t>(v))))
          if (!in_group[s.value()] && !seen[s.value()]) {
            seen[s.value()] = 1;
            stack.push_back(static_cast<int>(s.value()));
          }
      bool cyclic = false;
      while (!stack.empty() && !cyclic) {
        const int u = stack.back();
        stack.pop_back();
        for (OpId s : graph.successors(OpId(static_cast<std::uint32_t>(u)))) {
          if (in_group[s.value()]) {
            cyclic = true;
            break;
          }
          if (!seen[s.value()]) {
            seen[s.value()] = 1;
            stack.push_back(static_cast<int>(s.value()));
          }
        }
      }
      for (int v : members) in_group[static_cast<std::size_t>(v)] = 0;
      if (cyclic) {
        tied_groups.push_back(name);
        continue;
      }
      for (std::size_t k = 1; k < members.size(); ++k) q.merge(q.find(members.front()), q.find(members[k]));
    }
  }
  for (EdgeId e : graph.edges())
    q.add_edge(static_cast<int>(graph.edge(e).src.value()), static_cast<int>(graph.edge(e).dst.value()));

  // Merged groups are acyclic one by one; check that they are together as well.
  {
    std::vector<int> reps;
    for (std::size_t i = 0; i < n; ++i)
      if (q.find(static_cast<int>(i)) == static_cast<int>(i)) reps.push_back(static_cast<int>(i));
    std::map<int, int> indegree;
    for (int r : reps) indegree[r] = static_cast<int>(q.pred(r).size());
    std::vector<int> ready;
    for (int r : reps)
      if (indegree[r] == 0) ready.push_back(r);
    std::size_t seen = 0;
    while (!ready.empty()) {
      const int r = ready.back();
      ready.pop_back();
      ++seen;
      for (int s : q.succ(r))
        if (--indegree[s] == 0) ready.push_back(s);
    }
    if (seen != reps.size()) {
      std::string names;
      for (const auto& [name, members] : groups)
        if (indegree[q.find(members.front())] > 0) names += (names.empty() ? "'" : ", '") + name + "'";
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("co-location groups {}: paths run from one group to another and back, so they "
                                "cannot all run as units",
                                names));
    }
  }

  // Safe contractions, lightest pair first. Entries are re-checked when popped (lazy deletion).
  using Entry = std::tuple<double, int, int>;  // combined weight, producer, consumer
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  const auto push_edges = [&](int rep) {
    for (int s : q.succ(rep)) heap.emplace(q.weight(rep) + q.weight(s), rep, s);
    for (int p : q.pred(rep)) heap.emplace(q.weight(p) + q.weight(rep), p, rep);
  };
  for (std::size_t i = 0; i < n; ++i)
    if (q.find(static_cast<int>(i)) == static_cast<int>(i)) push_edges(static_cast<int>(i));
  while (q.count() > std::max<std::size_t>(max_units, 1) && !heap.empty()) {
    const auto [w, a, b] = heap.top();
    heap.pop();
    if (q.find(a) != a || q.find(b) != b || !q.succ(a).count(b)) continue;
    if (w != q.weight(a) + q.weight(b)) continue;  // a newer entry exists
    if (q.pred(b).size() != 1 && q.succ(a).size() != 1) continue;  // another path a -> ... -> b may exist
    if (q.memory(a) + q.memory(b) > memory_limit) continue;        // the unit would fit on no device
    push_edges(q.merge(a, b));
  }

  // Units in a topological order of the unit graph; ties by the earliest op in `topo`.
  std::vector<std::size_t> position(n);
  for (std::size_t k = 0; k < topo.size(); ++k) position[topo[k].value()] = k;
  std::map<int, std::size_t> first;  // representative -> earliest position
  std::map<int, std::vector<OpId>> members;
  for (OpId id : topo) {
    const int r = q.find(static_cast<int>(id.value()));
    first.emplace(r, position[id.value()]);
    members[r].push_back(id);
  }
  std::map<int, int> indegree;
  for (const auto& [r, k] : first) indegree[r] = static_cast<int>(q.pred(r).size());
  std::priority_queue<std::pair<std::size_t, int>, std::vector<std::pair<std::size_t, int>>, std::greater<>> ready;
  for (const auto& [r, k] : first)
    if (indegree[r] == 0) ready.emplace(k, r);
  Coarsening out;
  out.unit_of.assign(n, -1);
  while (!ready.empty()) {
    const int r = ready.top().second;
    ready.pop();
    const int u = static_cast<int>(out.units.size());
    for (OpId id : members[r]) out.unit_of[id.value()] = u;
    out.units.push_back(std::move(members[r]));
    for (int s : q.succ(r))
      if (--indegree[s] == 0) ready.emplace(first[s], s);
  }
  if (out.units.size() != first.size())
    return Status(StatusCode::kInternal, "coarsening produced a cyclic unit graph");
  out.tie.assign(out.units.size(), -1);
  for (std::size_t t = 0; t < tied_groups.size(); ++t)
    for (int v : groups[tied_groups[t]]) out.tie[static_cast<std::size_t>(out.unit_of[static_cast<std::size_t>(v)])] = static_cast<int>(t);
  out.tied_groups = std::move(tied_groups);
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
