// Alpa's layer clustering (alpa.md §2): the ops, in topological order, cut into L contiguous
// layers. Two min-max dynamic programmes over cut positions:
//  1. minimise the largest input traffic of a layer (bytes of edges entering it from earlier
//     ops), subject to every layer's FLOPs <= (total / L) * (1 + epsilon): cheap boundaries;
//  2. among clusterings whose every input traffic is within that optimum, minimise the largest
//     layer FLOPs: balanced layers (Alpa breaks ties by FLOPs variance; the largest layer is what
//     a pipeline stage waits for, so it is the tie-break used here).
// O(L * N^2) with N ops; the span of a layer is bounded by the FLOPs cap, which keeps it fast.
#include <opplan/stages.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr double kNone = std::numeric_limits<double>::infinity();

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

  std::vector<int> position(graph.num_ops());
  for (int i = 0; i < n; ++i) position[(*order)[static_cast<std::size_t>(i)].value()] = i;
  std::vector<double> prefix_flops(static_cast<std::size_t>(n) + 1, 0);
  double heaviest = 0;
  for (int i = 0; i < n; ++i) {
    const double f = op_flops(graph.op((*order)[static_cast<std::size_t>(i)]));
    prefix_flops[static_cast<std::size_t>(i) + 1] = prefix_flops[static_cast<std::size_t>(i)] + f;
    heaviest = std::max(heaviest, f);
  }
  const double total = prefix_flops.back();
  // A single op heavier than the cap would make every clustering infeasible: the cap grows to it.
  const double cap = std::max(total / layers * (1 + epsilon), heaviest) * (1 + 1e-12);
  auto flops = [&](int k, int r) { return prefix_flops[static_cast<std::size_t>(r)] - prefix_flops[static_cast<std::size_t>(k)]; };

  // input[k][r - k - 1] = bytes entering positions k..r-1 from positions < k, for spans within
  // the cap; computed per start k by extending the segment forwards.
  std::vector<std::vector<double>> input(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    double bytes = 0;
    for (int r = k + 1; r <= n; ++r) {
      if (r > k + 1 && flops(k, r) > cap) break;
      const OpId op = (*order)[static_cast<std::size_t>(r - 1)];
      for (EdgeId e : graph.in_edges(op))
        if (position[graph.edge(e).src.value()] < k) bytes += graph.edge(e).bytes;
      input[static_cast<std::size_t>(k)].push_back(bytes);
    }
  }
  auto traffic = [&](int k, int r) {
    const auto& row = input[static_cast<std::size_t>(k)];
    const std::size_t i = static_cast<std::size_t>(r - k - 1);
    return i < row.size() ? row[i] : kNone;
  };
  std::vector<int> cuts = min_max_partition(n, layers, traffic);
  if (cuts.empty()) return Status(StatusCode::kInternal, "layer clustering found no partition");
  double worst = 0;
  for (int q = 0; q < layers; ++q) worst = std::max(worst, traffic(cuts[static_cast<std::size_t>(q)], cuts[static_cast<std::size_t>(q) + 1]));
  const double limit = worst * (1 + 1e-9);
  std::vector<int> balanced = min_max_partition(n, layers, [&](int k, int r) {
    const double t = traffic(k, r);
    if (t == kNone) return kNone;
    // Beyond the traffic limit this start is not allowed, but a longer segment may be again (its
    // traffic differs), so return a large finite value rather than stopping the scan.
    return t > limit ? std::numeric_limits<double>::max() : flops(k, r);
  });
  if (!balanced.empty()) cuts = balanced;

  std::vector<std::vector<OpId>> out(static_cast<std::size_t>(layers));
  for (int q = 0; q < layers; ++q)
    for (int i = cuts[static_cast<std::size_t>(q)]; i < cuts[static_cast<std::size_t>(q) + 1]; ++i)
      out[static_cast<std::size_t>(q)].push_back((*order)[static_cast<std::size_t>(i)]);
  return out;
}

OPPLAN_END_NAMESPACE
