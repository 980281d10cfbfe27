// Alpa's layer clustering (alpa.md §2): the ops, in topological order, cut into L contiguous
// layers. Two min-max dynamic programmes over cut positions:
//  1. minimise the largest input traffic of a layer (bytes of edges entering it from earlier
//     ops), subject to every layer's FLOPs <= (total / L) * (1 + epsilon): cheap boundaries;
//  2. among clusterings whose every input traffic is within that optimum, minimise the largest
//     layer FLOPs: balanced layers (Alpa breaks ties by FLOPs variance; the largest layer is what
//     a pipeline stage waits for, so it is the tie-break used here).
// Cuts are taken at every position of graphs of up to kMaxCuts ops. Larger graphs are cut only at
// kMaxCuts candidate positions (the position with the least crossing traffic in each of kMaxCuts
// equal windows of the order), so time and memory stay bounded whatever the op count: the
// traffic table has at most kMaxCuts x (span of a layer) entries, and the DP is
// O(L * kMaxCuts * span). A segment's traffic is summed per window from the in-edges of the
// window's ops sorted by source position (a binary search per window), so no table grows with N^2.
#include <opplan/stages.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr double kNone = std::numeric_limits<double>::infinity();
// Candidate cut positions at most (graphs with more ops are cut at this many chosen positions).
constexpr int kMaxCuts = 2048;
// The DP's tables hold (layers + 1) x (cuts + 1) cells; num_layers beyond what fits is refused.
constexpr std::size_t kMaxDpCells = std::size_t{1} << 24;

double op_flops(const Op& op) { return op.forward.flops + op.input_grad.flops + op.weight_grad.flops; }

// Min-max partition of positions [0, n) into `layers` segments. cost(k, r) is the cost of the
// segment of positions k..r-1, kNone when not allowed. Returns the cut positions (layers + 1 of
// them, 0 first, n last), or an empty vector when no partition is allowed.
template <typename Cost>
std::vector<int> min_max_partition(int n, int layers, const Cost& cost) {
  std::vector<std::vector<double>> best(static_cast<std::size_t>(layers) + 1, std::vector<double>(n + 1, kNone));
  std::vector<std::vector<int>> from(static_cast<std::size_t>(layers) + 1, std::vector<int>(n + 1, -1));
  best[0][0] = 0;
  for (int q = 1; q <= layers; ++q) {
    for (int r = q; r <= n - (layers - q); ++r) {
      for (int k = r - 1; k >= q - 1; --k) {
        if (best[q - 1][k] == kNone) continue;
        const double c = cost(k, r);
        if (c == kNone) break;  // costs only grow as the segment extends backwards
        const double value = std::max(best[q - 1][k], c);
        if (value < best[q][r]) best[q][r] = value, from[q][r] = k;
      }
    }
  }
  if (best[layers][n] == kNone) return {};
  std::vector<int> cuts(static_cast<std::size_t>(layers) + 1);
  cuts[layers] = n;
  for (int q = layers; q > 0; --q) cuts[q - 1] = from[q][cuts[q]];
  return cuts;
}

}  // namespace

Result<std::vector<std::vector<OpId>>> cluster_layers(const Graph& graph, int num_layers, double epsilon) {
  if (num_layers < 1) return Status(StatusCode::kInvalidArgument, fmt::format("num_layers must be >= 1, got {}", num_layers));
  if (!(epsilon >= 0) || std::isinf(epsilon))
    return Status(StatusCode::kInvalidArgument, fmt::format("clustering epsilon must be finite and >= 0, got {}", epsilon));
  if (Status s = graph.validate(); !s.ok()) return s;
  auto order = graph.topological_order();
  if (!order.ok()) return order.status();
  const int n = static_cast<int>(order->size());
  if (n == 0) return Status(StatusCode::kInvalidArgument, "the graph has no ops to cluster");
  const int layers = std::min(num_layers, n);
  const auto op_at = [&](int i) { return (*order)[static_cast<std::size_t>(i)]; };
  // One layer, or one op per layer: nothing to choose.
  if (layers == 1 || layers == n) {
    std::vector<std::vector<OpId>> out(static_cast<std::size_t>(layers));
    for (int i = 0; i < n; ++i) out[layers == 1 ? 0 : static_cast<std::size_t>(i)].push_back(op_at(i));
    return out;
  }

  std::vector<int> position(graph.num_ops());
  for (int i = 0; i < n; ++i) position[op_at(i).value()] = i;

  // Candidate cuts: every position, or on large graphs the least-traffic position of each window.
  std::vector<int> cut_at;  // positions, 0 first, n last, increasing
  if (n <= kMaxCuts) {
    cut_at.resize(static_cast<std::size_t>(n) + 1);
    for (int i = 0; i <= n; ++i) cut_at[static_cast<std::size_t>(i)] = i;
  } else {
    // crossing[k] = bytes of the edges from positions < k to positions >= k.
    std::vector<double> crossing(static_cast<std::size_t>(n) + 1, 0);
    for (EdgeId e : graph.edges()) {
      const Edge& edge = graph.edge(e);
      crossing[static_cast<std::size_t>(position[edge.src.value()]) + 1] += edge.bytes;
      crossing[static_cast<std::size_t>(position[edge.dst.value()]) + 1] -= edge.bytes;
    }
    for (int k = 1; k <= n; ++k) crossing[static_cast<std::size_t>(k)] += crossing[static_cast<std::size_t>(k) - 1];
    cut_at.push_back(0);
    for (int w = 0; w < kMaxCuts - 1; ++w) {
      const int lo = std::max(1, static_cast<int>(static_cast<std::int64_t>(n) * w / (kMaxCuts - 1)));
      const int hi = static_cast<int>(static_cast<std::int64_t>(n) * (w + 1) / (kMaxCuts - 1));  // exclusive
      int pick = -1;
      for (int k = std::max(lo, cut_at.back() + 1); k < std::min(hi, n); ++k)
        if (pick < 0 || crossing[static_cast<std::size_t>(k)] < crossing[static_cast<std::size_t>(pick)]) pick = k;
      if (pick > 0) cut_at.push_back(pick);
    }
    cut_at.push_back(n);
  }
  const int m = static_cast<int>(cut_at.size()) - 1;  // segments between candidate cuts
  if (layers > m || (static_cast<std::size_t>(layers) + 1) * (static_cast<std::size_t>(m) + 1) > kMaxDpCells)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("num_layers {} is too many for a graph of {} ops: layer clustering cuts large graphs at "
                              "{} candidate positions at most and keeps its tables within {} cells; ask for at most {} "
                              "layers (or one per op)",
                              num_layers, n, m, kMaxDpCells, std::min<std::size_t>(m, kMaxDpCells / (m + 1) - 1)));

  std::vector<double> prefix_flops(static_cast<std::size_t>(n) + 1, 0);
  double heaviest_block = 0;
  for (int i = 0; i < n; ++i)
    prefix_flops[static_cast<std::size_t>(i) + 1] = prefix_flops[static_cast<std::size_t>(i)] + op_flops(graph.op(op_at(i)));
  for (int j = 0; j < m; ++j)
    heaviest_block = std::max(heaviest_block, prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(j) + 1])] -
                                                  prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(j)])]);
  const double total = prefix_flops.back();
  // The cap must admit at least one partition into `layers` segments of whole blocks, else the
  // clustering has no solution: a single block heavier than total / layers needs more, and so do
  // uneven blocks (three equal ones in two layers need 2/3 of the total in one). The least feasible
  // cap is found by bisection on a greedy packing, which is exact for "at most `layers` segments"
  // (and there are at least `layers` blocks, so a partition into fewer can always be split).
  const auto packs = [&](double c) {
    int segments = 1;
    double load = 0;
    for (int j = 0; j < m; ++j) {
      const double b = prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(j) + 1])] -
                       prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(j)])];
      if (b > c) return false;
      if (load + b > c) {
        ++segments;
        load = b;
      } else {
        load += b;
      }
    }
    return segments <= layers;
  };
  double feasible = total, infeasible = std::max(heaviest_block, total / layers) * (1 - 1e-12);
  if (packs(infeasible)) feasible = infeasible;
  for (int it = 0; it < 64 && feasible - infeasible > 1e-9 * feasible; ++it) {
    const double mid = 0.5 * (feasible + infeasible);
    (packs(mid) ? feasible : infeasible) = mid;
  }
  const double cap = std::max(total / layers * (1 + epsilon), feasible) * (1 + 1e-12);
  // FLOPs of the candidate segments k..r-1 (indices into cut_at).
  auto flops = [&](int k, int r) {
    return prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(r)])] -
           prefix_flops[static_cast<std::size_t>(cut_at[static_cast<std::size_t>(k)])];
  };

  // Per block j (positions cut_at[j]..cut_at[j+1]-1): the in-edges of its ops as (source position,
  // bytes) sorted by position, with prefix sums of the bytes.
  std::vector<std::vector<std::pair<int, double>>> block_in(static_cast<std::size_t>(m));
  {
    int j = 0;
    for (int i = 0; i < n; ++i) {
      while (cut_at[static_cast<std::size_t>(j) + 1] <= i) ++j;
      auto& row = block_in[static_cast<std::size_t>(j)];
      for (EdgeId e : graph.in_edges(op_at(i))) row.emplace_back(position[graph.edge(e).src.value()], graph.edge(e).bytes);
    }
    for (auto& row : block_in) {
      std::sort(row.begin(), row.end());
      for (std::size_t x = 1; x < row.size(); ++x) row[x].second += row[x - 1].second;
    }
  }
  // Bytes entering block j from positions < p.
  auto from_before = [&](int j, int p) {
    const auto& row = block_in[static_cast<std::size_t>(j)];
    const auto it = std::lower_bound(row.begin(), row.end(), p, [](const auto& x, int v) { return x.first < v; });
    return it == row.begin() ? 0.0 : std::prev(it)->second;
  };

  // input[k][r - k - 1] = bytes entering candidate segment k..r-1 from positions before it, for
  // spans within the cap; computed per start k by extending the segment forwards.
  std::vector<std::vector<double>> input(static_cast<std::size_t>(m));
  for (int k = 0; k < m; ++k) {
    double bytes = 0;
    const int p = cut_at[static_cast<std::size_t>(k)];
    for (int r = k + 1; r <= m; ++r) {
      if (r > k + 1 && flops(k, r) > cap) break;
      bytes += from_before(r - 1, p);
      input[static_cast<std::size_t>(k)].push_back(bytes);
    }
  }
  auto traffic = [&](int k, int r) {
    const auto& row = input[static_cast<std::size_t>(k)];
    const std::size_t i = static_cast<std::size_t>(r - k - 1);
    return i < row.size() ? row[i] : kNone;
  };
  std::vector<int> cuts = min_max_partition(m, layers, traffic);
  if (cuts.empty()) return Status(StatusCode::kInternal, "layer clustering found no partition");
  double worst = 0;
  for (int q = 0; q < layers; ++q) worst = std::max(worst, traffic(cuts[static_cast<std::size_t>(q)], cuts[static_cast<std::size_t>(q) + 1]));
  const double limit = worst * (1 + 1e-9);
  std::vector<int> balanced = min_max_partition(m, layers, [&](int k, int r) {
    const double t = traffic(k, r);
    if (t == kNone) return kNone;
    // Beyond the traffic limit this start is not allowed, but a longer segment may be again (its
    // traffic differs), so return a large finite value rather than stopping the scan.
    return t > limit ? std::numeric_limits<double>::max() : flops(k, r);
  });
  if (!balanced.empty()) cuts = balanced;

  std::vector<std::vector<OpId>> out(static_cast<std::size_t>(layers));
  for (int q = 0; q < layers; ++q)
    for (int i = cut_at[static_cast<std::size_t>(cuts[static_cast<std::size_t>(q)])];
         i < cut_at[static_cast<std::size_t>(cuts[static_cast<std::size_t>(q) + 1])]; ++i)
      out[static_cast<std::size_t>(q)].push_back(op_at(i));
  return out;
}

OPPLAN_END_NAMESPACE
