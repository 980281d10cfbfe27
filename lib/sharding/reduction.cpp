// Follow-merging, layer tying, then three steps that lose nothing: folding separable edges into
// nodes, dropping dominated strategies, and grouping strategies an edge cannot tell apart.
// Merging and tying keep the accounting exact (a merged op's cost, memory and the resharding on
// edges inside a node are added to the node, so the ILP objective of a choice equals
// ShardingProblem::cost of its expansion); what they give up is freedom: a follower takes the
// strategy that is cheapest for it given its leader's, and tied ops take the same strategy.
#include "sharding/reduction.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

std::vector<int> Reduction::expand(const std::vector<int>& node_choice) const {
  std::vector<int> choice(group_of_op.size(), 0);
  for (std::size_t op = 0; op < choice.size(); ++op) {
    const int node = node_of_group[static_cast<std::size_t>(group_of_op[op])];
    const ReducedNode& n = nodes[static_cast<std::size_t>(node)];
    const int group_strategy = n.strategy[static_cast<std::size_t>(node_choice[static_cast<std::size_t>(node)])];
    choice[op] = follow[op][static_cast<std::size_t>(group_strategy)];
  }
  return choice;
}

namespace {

bool nearly_equal(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::fabs(a[i] - b[i]) > 1e-12 * std::max({1e-9, std::fabs(a[i]), std::fabs(b[i])})) return false;
  return true;
}

std::string fingerprint(const Op& op) {
  auto phase = [](const PhaseCost& c) { return fmt::format("{},{},{}", c.flops, c.bytes, c.seconds ? *c.seconds : -1.0); };
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}", op.kind, op.dims, fmt::join(op.shape, ","), static_cast<int>(op.dtype),
                     phase(op.forward), phase(op.input_grad), phase(op.weight_grad), op.param_bytes, op.activation_bytes);
}

// At most this many memory rows (see make_memory_rows).
constexpr std::size_t kMaxMemoryRows = 64;

class Reducer {
 public:
  Reducer(const Graph& g, const ShardingProblem& p, const ShardingOptions& o) : g_(g), p_(p), o_(o) {}

  Reduction run() {
    follow_light_ops();
    make_groups();
    make_nodes();
    make_memory_rows();
    add_edges();
    enforce_aliases();
    if (!r_.infeasible.empty()) return std::move(r_);
    fold_edges();
    prune_dominated();
    fold_edges();  // fewer strategies can make more edges separable
    for (ReducedEdge& e : r_.edges) compress(e, r_.size(e.a), r_.size(e.b));
    return std::move(r_);
  }

 private:
  std::size_t k(OpId op) const { return p_.strategies[op.value()].size(); }
  double op_cost(OpId op, int s) const {
    const ShardingStrategy& st = p_.strategies[op.value()][static_cast<std::size_t>(s)];
    return st.compute_seconds + st.communication_seconds;
  }
  double edge_cost(EdgeId e, int ps, int qs) const {
    const std::size_t kd = k(g_.edge(e).dst);
    return p_.resharding[e.value()][static_cast<std::size_t>(ps) * kd + static_cast<std::size_t>(qs)];
  }

  // Alpa's rule: a light op follows the producer deepest in the graph (longest path from a
  // source), the one it is most likely to be fused with; its strategy for each of the leader's is
  // the cheapest given the edges from the leader's group.
  void follow_light_ops() {
    const std::size_t n = g_.num_ops();
    r_.group_of_op.resize(n);
    r_.follow.resize(n);
    leader_.resize(n);
    auto order = g_.topological_order();  // the graph was validated when the problem was built
    std::vector<int> depth(n, 0);
    for (OpId v : order.value()) {
      std::vector<EdgeId> in = g_.in_edges(v);
      std::sort(in.begin(), in.end());
      for (EdgeId e : in) depth[v.value()] = std::max(depth[v.value()], depth[g_.edge(e).src.value()] + 1);
      std::vector<int>& follow = r_.follow[v.value()];
      follow.resize(k(v));
      std::iota(follow.begin(), follow.end(), 0);
      leader_[v.value()] = v;
      const auto& kinds = o_.light_kinds;
      if (!o_.merge_light_ops || in.empty() || k(v) <= 1 ||
          std::find(kinds.begin(), kinds.end(), g_.op(v).kind) == kinds.end())
        continue;
      OpId deepest = g_.edge(in.front()).src;
      for (EdgeId e : in)
        if (depth[g_.edge(e).src.value()] > depth[deepest.value()]) deepest = g_.edge(e).src;
      const OpId leader = leader_[deepest.value()];
      const std::size_t kg = r_.follow[deepest.value()].size();
      follow.assign(kg, 0);
      for (std::size_t p = 0; p < kg; ++p) {
        double best = kInf;
        for (std::size_t q = 0; q < k(v); ++q) {
          double c = op_cost(v, static_cast<int>(q));
          for (EdgeId e : in) {
            const OpId src = g_.edge(e).src;
            if (leader_[src.value()] == leader) c += edge_cost(e, r_.follow[src.value()][p], static_cast<int>(q));
          }
          if (c < best) best = c, follow[p] = static_cast<int>(q);  // first of equals: deterministic
        }
      }
      leader_[v.value()] = leader;
      ++r_.followers;
    }
  }

  void make_groups() {
    std::vector<int> group_of_leader(g_.num_ops(), -1);
    for (OpId v : g_.ops()) {
      const OpId leader = leader_[v.value()];
      int& group = group_of_leader[leader.value()];
      if (group < 0) {
        group = static_cast<int>(r_.group_leader.size());
        r_.group_leader.push_back(leader);
        group_cost_.emplace_back(r_.follow[leader.value()].size(), 0.0);
        group_memory_.emplace_back(r_.follow[leader.value()].size(), 0.0);
        group_members_.push_back(0);
      }
      r_.group_of_op[v.value()] = group;
      const auto& follow = r_.follow[v.value()];
      for (std::size_t p = 0; p < follow.size(); ++p) {
        group_cost_[static_cast<std::size_t>(group)][p] += op_cost(v, follow[p]);
        group_memory_[static_cast<std::size_t>(group)][p] += p_.strategies[v.value()][static_cast<std::size_t>(follow[p])].memory_bytes;
      }
      ++group_members_[static_cast<std::size_t>(group)];
    }
  }

  // Layers (ops sharing an Op::layer tag) are identical when their ops match position by position
  // and their edges connect the same positions with the same bytes.
  std::vector<int> layer_classes(std::vector<int>& layer_of, std::vector<int>& position) const {
    std::map<std::string, int> tag_index;
    std::vector<std::vector<OpId>> members;
    layer_of.assign(g_.num_ops(), -1);
    position.assign(g_.num_ops(), -1);
    for (OpId v : g_.ops()) {
      const std::string& tag = g_.op(v).layer;
      if (tag.empty()) continue;
      auto [it, inserted] = tag_index.try_emplace(tag, static_cast<int>(members.size()));
      if (inserted) members.emplace_back();
      layer_of[v.value()] = it->second;
      position[v.value()] = static_cast<int>(members[static_cast<std::size_t>(it->second)].size());
      members[static_cast<std::size_t>(it->second)].push_back(v);
    }
    std::map<std::string, int> class_of_print;
    std::vector<int> classes;
    for (std::size_t l = 0; l < members.size(); ++l) {
      std::string print;
      for (OpId v : members[l]) {
        print += fingerprint(g_.op(v)) + "<";
        std::vector<EdgeId> in = g_.in_edges(v);
        std::sort(in.begin(), in.end());
        for (EdgeId e : in) {
          const OpId src = g_.edge(e).src;
          const bool inside = layer_of[src.value()] == static_cast<int>(l);
          print += fmt::format("{}:{},", inside ? std::to_string(position[src.value()]) : "x", g_.edge(e).bytes);
        }
        print += ";";
      }
      classes.push_back(class_of_print.try_emplace(print, static_cast<int>(l)).first->second);
    }
    return classes;
  }

  void make_nodes() {
    std::vector<int> layer_of, position, classes;
    if (o_.tie_repeated_layers) classes = layer_classes(layer_of, position);
    std::map<std::pair<int, int>, std::vector<int>> candidates;  // (layer class, position) -> nodes
    r_.node_of_group.assign(r_.group_leader.size(), -1);
    for (std::size_t gi = 0; gi < r_.group_leader.size(); ++gi) {
      const OpId leader = r_.group_leader[gi];
      int node = -1;
      std::vector<int>* same_place = nullptr;
      if (o_.tie_repeated_layers && layer_of[leader.value()] >= 0) {
        same_place = &candidates[{classes[static_cast<std::size_t>(layer_of[leader.value()])], position[leader.value()]}];
        for (int n : *same_place) {
          const std::size_t first = static_cast<std::size_t>(r_.nodes[static_cast<std::size_t>(n)].groups.front());
          if (group_members_[first] == group_members_[gi] && nearly_equal(group_cost_[first], group_cost_[gi]) &&
              nearly_equal(group_memory_[first], group_memory_[gi])) {
            node = n;
            break;
          }
        }
      }
      if (node < 0) {
        node = static_cast<int>(r_.nodes.size());
        ReducedNode fresh;
        fresh.leader = leader;
        fresh.cost.assign(group_cost_[gi].size(), 0.0);
        fresh.memory.assign(group_cost_[gi].size(), 0.0);
        fresh.strategy.resize(group_cost_[gi].size());
        std::iota(fresh.strategy.begin(), fresh.strategy.end(), 0);
        r_.nodes.push_back(std::move(fresh));
        if (same_place) same_place->push_back(node);
      } else {
        r_.tied += group_members_[gi];
      }
      ReducedNode& target = r_.nodes[static_cast<std::size_t>(node)];
      target.groups.push_back(static_cast<int>(gi));
      for (std::size_t p = 0; p < target.cost.size(); ++p) {
        target.cost[p] += group_cost_[gi][p];
        target.memory[p] += group_memory_[gi][p];
      }
      r_.node_of_group[gi] = node;
    }
  }

  double parameters(OpId op, int s) const { return p_.strategies[op.value()][static_cast<std::size_t>(s)].parameter_bytes; }
  double activations(OpId op, int s) const {
    const ShardingStrategy& st = p_.strategies[op.value()][static_cast<std::size_t>(s)];
    return st.memory_bytes - st.parameter_bytes;
  }

  // The live points (ShardingProblem::peak_memory) as rows over node strategies. The point at
  // op t is implied by a later t' when, for every choice, what is saved between them plus t''s
  // output gradient is at least t's output gradient; with per-op least and largest figures,
  // M(t) = max over later t' of (least activations in (t, t'] + least output of t') is computed
  // backwards, and t is kept when its largest output exceeds it. The last op is always kept, so
  // ops without output shapes leave one row: parameters plus all saved activations.
  void make_memory_rows() {
    const std::size_t n = g_.num_ops();
    std::vector<OpId> order = p_.order;
    if (order.empty())
      for (OpId v : g_.ops()) order.push_back(v);
    std::vector<double> least_a(n, kInf), least_o(n, kInf), most_o(n, 0.0);
    for (OpId v : g_.ops())
      for (std::size_t s = 0; s < k(v); ++s) {
        const double o = p_.strategies[v.value()][s].output_bytes;
        least_a[v.value()] = std::min(least_a[v.value()], activations(v, static_cast<int>(s)));
        least_o[v.value()] = std::min(least_o[v.value()], o);
        most_o[v.value()] = std::max(most_o[v.value()], o);
      }
    std::vector<char> keep(n, 0);
    double later = -kInf;
    for (std::size_t i = n; i-- > 0;) {
      const std::size_t t = order[i].value();
      keep[i] = i + 1 == n || most_o[t] > later;
      later = least_a[t] + std::max(least_o[t], later);
    }
    // Parameters of every node, then the saved activations accumulated in order.
    std::vector<std::vector<double>> held(r_.nodes.size());
    for (std::size_t m = 0; m < r_.nodes.size(); ++m) held[m].assign(r_.nodes[m].cost.size(), 0.0);
    for (OpId v : g_.ops()) {
      auto& h = held[static_cast<std::size_t>(node_of(v))];
      const auto& f = r_.follow[v.value()];
      for (std::size_t q = 0; q < f.size(); ++q) h[q] += parameters(v, f[q]);
    }
    // Too many rows (a pathological graph: every row is nodes x strategies wide) are merged, in
    // order, into kMaxMemoryRows groups: a group's row holds what is saved up to its last point
    // plus every member's output gradient, so it implies each member's (conservative, never a
    // plan over the budget).
    std::vector<std::size_t> points;
    for (std::size_t i = 0; i < n; ++i)
      if (keep[i]) points.push_back(i);
    const std::size_t groups = std::min(points.size(), kMaxMemoryRows);
    std::size_t next = 0;  // the next point to place
    std::vector<std::vector<double>> outputs(r_.nodes.size());
    for (std::size_t m = 0; m < r_.nodes.size(); ++m) outputs[m].assign(r_.nodes[m].cost.size(), 0.0);
    for (std::size_t i = 0, g = 0; i < n; ++i) {
      const OpId t = order[i];
      const auto node = static_cast<std::size_t>(node_of(t));
      const auto& f = r_.follow[t.value()];
      for (std::size_t q = 0; q < f.size(); ++q) held[node][q] += activations(t, f[q]);
      if (next >= points.size() || points[next] != i) continue;
      ++next;
      for (std::size_t q = 0; q < f.size(); ++q)
        outputs[node][q] += p_.strategies[t.value()][static_cast<std::size_t>(f[q])].output_bytes;
      // Group g ends at point number (g + 1) * |points| / groups.
      if (next < (g + 1) * points.size() / groups) continue;
      MemoryRow row{t, held};
      for (std::size_t m = 0; m < outputs.size(); ++m)
        for (std::size_t q = 0; q < outputs[m].size(); ++q) {
          row.coef[m][q] += outputs[m][q];
          outputs[m][q] = 0;
        }
      r_.memory_rows.push_back(std::move(row));
      ++g;
    }
    if (n == 0) r_.memory_rows.push_back(MemoryRow{OpId(), held});
  }

  int node_of(OpId op) const {
    return r_.node_of_group[static_cast<std::size_t>(r_.group_of_op[op.value()])];
  }

  void add_edges() {
    std::map<std::pair<int, int>, std::size_t> index;
    for (EdgeId e : g_.edges()) {
      const OpId u = g_.edge(e).src, v = g_.edge(e).dst;
      const int nu = node_of(u), nv = node_of(v);
      const auto& fu = r_.follow[u.value()];
      const auto& fv = r_.follow[v.value()];
      if (nu == nv) {  // both ends take the node's strategy
        auto& cost = r_.nodes[static_cast<std::size_t>(nu)].cost;
        for (std::size_t p = 0; p < cost.size(); ++p) cost[p] += edge_cost(e, fu[p], fv[p]);
        continue;
      }
      const int a = std::min(nu, nv), b = std::max(nu, nv);
      auto [it, inserted] = index.try_emplace({a, b}, r_.edges.size());
      const std::size_t ka = r_.size(a), kb = r_.size(b);
      if (inserted) {
        ReducedEdge fresh;
        fresh.a = a;
        fresh.b = b;
        fresh.cost.assign(ka * kb, 0.0);
        r_.edges.push_back(std::move(fresh));
      }
      auto& m = r_.edges[it->second].cost;
      for (std::size_t p = 0; p < fu.size(); ++p)
        for (std::size_t q = 0; q < fv.size(); ++q) {
          const double c = edge_cost(e, fu[p], fv[q]);
          if (nu == a) m[p * kb + q] += c;
          else m[q * kb + p] += c;
        }
    }
    // Alias constraints: a pair of strategies that lays the tied weight out differently costs
    // +infinity (no ILP variable); inside one node, the strategy is forbidden.
    forbidden_.resize(r_.nodes.size());
    for (std::size_t m = 0; m < r_.nodes.size(); ++m) forbidden_[m].assign(r_.nodes[m].cost.size(), 0);
    for (const ShardingAlias& alias : p_.aliases) {
      const int no = node_of(alias.owner), nu = node_of(alias.user);
      const auto& fo = r_.follow[alias.owner.value()];
      const auto& fu = r_.follow[alias.user.value()];
      const std::size_t ku = k(alias.user);
      auto allowed = [&](std::size_t p, std::size_t q) {
        return alias.allowed[static_cast<std::size_t>(fo[p]) * ku + static_cast<std::size_t>(fu[q])] != 0;
      };
      if (no == nu) {
        for (std::size_t p = 0; p < fo.size(); ++p)
          if (!allowed(p, p)) forbidden_[static_cast<std::size_t>(no)][p] = 1;
        continue;
      }
      const int a = std::min(no, nu), b = std::max(no, nu);
      auto [it, inserted] = index.try_emplace({a, b}, r_.edges.size());
      const std::size_t kb = r_.size(b);
      if (inserted) {
        ReducedEdge fresh;
        fresh.a = a;
        fresh.b = b;
        fresh.cost.assign(r_.size(a) * kb, 0.0);
        r_.edges.push_back(std::move(fresh));
      }
      auto& m = r_.edges[it->second].cost;
      for (std::size_t p = 0; p < fo.size(); ++p)
        for (std::size_t q = 0; q < fu.size(); ++q)
          if (!allowed(p, q)) (no == a ? m[p * kb + q] : m[q * kb + p]) = kInf;
    }
  }

  // Drops forbidden strategies, then every strategy that some edge leaves without a finite
  // partner (arc consistency), until nothing changes: what is left of a node with one strategy
  // agrees with all its neighbours, and no row of an edge is all +infinity.
  void enforce_aliases() {
    const std::size_t n = r_.nodes.size();
    std::vector<std::vector<char>> alive(n);
    for (std::size_t m = 0; m < n; ++m) {
      alive[m].resize(r_.nodes[m].cost.size());
      for (std::size_t q = 0; q < alive[m].size(); ++q) alive[m][q] = !forbidden_[m][q];
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (const ReducedEdge& e : r_.edges) {
        auto& aa = alive[static_cast<std::size_t>(e.a)];
        auto& ab = alive[static_cast<std::size_t>(e.b)];
        const std::size_t ka = aa.size(), kb = ab.size();
        for (std::size_t p = 0; p < ka; ++p) {
          if (!aa[p]) continue;
          bool supported = false;
          for (std::size_t q = 0; q < kb && !supported; ++q) supported = ab[q] && e.cost[p * kb + q] < kInf;
          if (!supported) aa[p] = 0, changed = true;
        }
        for (std::size_t q = 0; q < kb; ++q) {
          if (!ab[q]) continue;
          bool supported = false;
          for (std::size_t p = 0; p < ka && !supported; ++p) supported = aa[p] && e.cost[p * kb + q] < kInf;
          if (!supported) ab[q] = 0, changed = true;
        }
      }
    }
    std::vector<std::vector<int>> kept(n);
    for (std::size_t m = 0; m < n; ++m) {
      for (std::size_t q = 0; q < alive[m].size(); ++q)
        if (alive[m][q]) kept[m].push_back(static_cast<int>(q));
      if (kept[m].empty() && r_.infeasible.empty())
        r_.infeasible = fmt::format(
            "the alias constraints (params_from) leave op '{}' no strategy: no layout of a tied weight is available "
            "to its owner and every op that reads it",
            g_.op(r_.nodes[m].leader).name);
    }
    if (r_.infeasible.empty()) r_.aliased += keep_only(kept);
  }

  // An edge whose cost is f(p) + g(q) needs no product variables: f and g go to the nodes. This
  // covers edges to a node with one strategy and edges that cost nothing.
  void fold_edges() {
    std::vector<ReducedEdge> kept;
    for (ReducedEdge& e : r_.edges) {
      const std::size_t ka = r_.size(e.a), kb = r_.size(e.b);
      const auto& m = e.cost;
      double scale = 0;
      for (double c : m) scale = std::max(scale, std::fabs(c));
      // An alias's +infinity entries are a constraint between the two ends: never folded.
      bool separable = scale < kInf;
      for (std::size_t p = 0; p < ka && separable; ++p)
        for (std::size_t q = 0; q < kb && separable; ++q)
          separable = std::fabs(m[p * kb + q] - (m[p * kb] + m[q] - m[0])) <= 1e-12 * scale;
      if (!separable) {
        kept.push_back(std::move(e));
        continue;
      }
      auto& ca = r_.nodes[static_cast<std::size_t>(e.a)].cost;
      auto& cb = r_.nodes[static_cast<std::size_t>(e.b)].cost;
      for (std::size_t p = 0; p < ka; ++p) ca[p] += m[p * kb];
      for (std::size_t q = 0; q < kb; ++q) cb[q] += m[q] - m[0];
    }
    r_.edges = std::move(kept);
  }

  // Strategy p of a node is dominated by p' when p' costs no more, needs no more memory and no
  // more resharding on any incident edge for any strategy of the other end: a solution using p
  // stays feasible and no worse with p' instead, so p is dropped (exact). Of equal strategies the
  // first is kept. Typical victims: strategies that differ only where no cost can tell them apart.
  void prune_dominated() {
    const std::size_t n = r_.nodes.size();
    std::vector<std::vector<std::pair<std::size_t, bool>>> incident(n);  // (edge, node is its `a`)
    for (std::size_t k = 0; k < r_.edges.size(); ++k) {
      incident[static_cast<std::size_t>(r_.edges[k].a)].emplace_back(k, true);
      incident[static_cast<std::size_t>(r_.edges[k].b)].emplace_back(k, false);
    }
    std::vector<std::vector<int>> alive(n);
    for (std::size_t v = 0; v < n; ++v) {
      const ReducedNode& node = r_.nodes[v];
      const std::size_t kv = node.cost.size();
      std::vector<bool> keep(kv, true);
      auto no_worse = [&](std::size_t better, std::size_t worse) {
        if (node.cost[better] > node.cost[worse] || node.memory[better] > node.memory[worse]) return false;
        for (const MemoryRow& row : r_.memory_rows)
          if (row.coef[v][better] > row.coef[v][worse]) return false;
        for (const auto& [k, is_a] : incident[v]) {
          const ReducedEdge& e = r_.edges[k];
          const std::size_t kb = r_.size(e.b), ka = r_.size(e.a);
          if (is_a) {
            for (std::size_t q = 0; q < kb; ++q)
              if (e.cost[better * kb + q] > e.cost[worse * kb + q]) return false;
          } else {
            for (std::size_t p = 0; p < ka; ++p)
              if (e.cost[p * kb + better] > e.cost[p * kb + worse]) return false;
          }
        }
        return true;
      };
      for (std::size_t p = 0; p < kv; ++p)
        for (std::size_t b = 0; b < kv && keep[p]; ++b)
          if (b != p && keep[b] && no_worse(b, p) && (b < p || !no_worse(p, b))) keep[p] = false;
      for (std::size_t p = 0; p < kv; ++p)
        if (keep[p]) alive[v].push_back(static_cast<int>(p));
    }
    r_.pruned += keep_only(alive);
  }

  // Keeps strategies alive[node] (ascending node-local indices) of every node, in the nodes, the
  // edges and the memory rows; returns how many were dropped.
  std::size_t keep_only(const std::vector<std::vector<int>>& alive) {
    const std::size_t n = r_.nodes.size();
    std::size_t dropped = 0;
    for (ReducedEdge& e : r_.edges) {
      const auto& ra = alive[static_cast<std::size_t>(e.a)];
      const auto& rb = alive[static_cast<std::size_t>(e.b)];
      const std::size_t kb = r_.size(e.b);
      std::vector<double> cost;
      cost.reserve(ra.size() * rb.size());
      for (int p : ra)
        for (int q : rb) cost.push_back(e.cost[static_cast<std::size_t>(p) * kb + static_cast<std::size_t>(q)]);
      e.cost = std::move(cost);
    }
    for (std::size_t v = 0; v < n; ++v) {
      ReducedNode& node = r_.nodes[v];
      std::vector<double> cost, memory;
      std::vector<int> strategy;
      for (int p : alive[v]) {
        cost.push_back(node.cost[static_cast<std::size_t>(p)]);
        memory.push_back(node.memory[static_cast<std::size_t>(p)]);
        strategy.push_back(node.strategy[static_cast<std::size_t>(p)]);
      }
      dropped += node.cost.size() - cost.size();
      node.cost = std::move(cost);
      node.memory = std::move(memory);
      node.strategy = std::move(strategy);
      for (MemoryRow& row : r_.memory_rows) {
        std::vector<double> coef;
        for (int p : alive[v]) coef.push_back(row.coef[v][static_cast<std::size_t>(p)]);
        row.coef[v] = std::move(coef);
      }
    }
    return dropped;
  }

  // Identical rows (columns) of the cost matrix form one class each; the matrix shrinks to the
  // distinct ones. Exact comparison: only truly interchangeable strategies are merged.
  static void compress(ReducedEdge& e, std::size_t ka, std::size_t kb) {
    std::map<std::vector<double>, int> rows, cols;
    std::vector<std::vector<double>> row_of(ka), col_of(kb);
    for (std::size_t p = 0; p < ka; ++p) row_of[p].assign(e.cost.begin() + static_cast<std::ptrdiff_t>(p * kb),
                                                         e.cost.begin() + static_cast<std::ptrdiff_t>((p + 1) * kb));
    for (std::size_t q = 0; q < kb; ++q)
      for (std::size_t p = 0; p < ka; ++p) col_of[q].push_back(e.cost[p * kb + q]);
    for (std::size_t p = 0; p < ka; ++p)
      e.row_class.push_back(rows.try_emplace(row_of[p], static_cast<int>(rows.size())).first->second);
    for (std::size_t q = 0; q < kb; ++q)
      e.col_class.push_back(cols.try_emplace(col_of[q], static_cast<int>(cols.size())).first->second);
    e.num_row_classes = static_cast<int>(rows.size());
    e.num_col_classes = static_cast<int>(cols.size());
    std::vector<double> small(rows.size() * cols.size());
    for (std::size_t p = 0; p < ka; ++p)
      for (std::size_t q = 0; q < kb; ++q)
        small[static_cast<std::size_t>(e.row_class[p]) * cols.size() + static_cast<std::size_t>(e.col_class[q])] =
            e.cost[p * kb + q];
    e.cost = std::move(small);
  }

  const Graph& g_;
  const ShardingProblem& p_;
  const ShardingOptions& o_;
  Reduction r_;
  std::vector<OpId> leader_;
  std::vector<std::vector<double>> group_cost_, group_memory_;
  std::vector<std::size_t> group_members_;
  std::vector<std::vector<char>> forbidden_;  // per node strategy: breaks an alias inside the node
};

}  // namespace

Reduction reduce(const Graph& graph, const ShardingProblem& problem, const ShardingOptions& options) {
  return Reducer(graph, problem, options).run();
}

}  // namespace detail
OPPLAN_END_NAMESPACE
