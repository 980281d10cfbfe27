// plan_stages(): Alpa's inter-operator dynamic programme (alpa.md §2) over clustered layers.
//
// With B micro-batches a 1F1B pipeline of stages with per-micro-batch latencies t_i takes
// T = sum_i t_i + (B - 1) * max_i t_i. For a fixed bound t_max on every stage latency:
//   F(s, k, d) = min over k <= j < L, submesh shape m with |m| <= d, of
//                best(s, k..j, m) + F(s - 1, j + 1, d - |m|),        F(0, L, 0) = 0,
// where best(s, k..j, m) is the least latency of layers k..j over the logical meshes of m and the
// two shardings per layer (fastest, least memory) that satisfy the 1F1B memory condition for a
// stage with s - 1 stages after it: parameters + min(s, B) * activations <= device memory. Only
// values <= t_max count. The plan for t_max is min_s F(s, 0, D) with all D devices used; its cost
// is that sum plus (B - 1) times the largest stage latency on the path.
// t_max runs over the sorted distinct values of best(); once B * t_max reaches the best T found
// nothing larger can win (T >= B * max t_i), Alpa's early stop. One DP run covers all values
// within t_max_gap above the smallest untried one (it runs at the largest of them): it finds
// every plan whose largest stage is one of them, with a minimal sum and a largest latency at most
// (1 + gap) times that plan's, so T is within a factor (1 + gap) of the optimum.
//
// Recomputation (StageOptions::recompute): a recomputed layer adds its forward seconds to the
// stage latency and keeps only its inputs per micro-batch in flight; during its own backward one
// micro-batch of its full activations is live again, counted once per stage (the largest of the
// stage's recomputed layers). For a span, mesh and sharding, kAuto orders the span's layers by
// bytes saved per micro-batch per second of recomputation (only layers that save memory) and
// recomputes the shortest prefix of that order that fits; kAlways recomputes every layer. The DP
// sees, per (s, span, shape), the fastest fitting option as before.
//
// Gradient buckets (StageOptions::gradient_bucket_bytes > 0): a span's gradient all-reduce runs
// bucket by bucket behind its backward, as in evaluate(); StageDp::span() replaces the layers'
// summed synchronisation by its exposed part, max(sync - backward, min(sync, last bucket)).
#include <opplan/stages.hpp>

#include <algorithm>
#include <optional>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "core/gradient_sync.hpp"
#include "sharding/mesh_costs.hpp"
#include "stages/layer_costs.hpp"

OPPLAN_BEGIN_NAMESPACE

bool StageOptions::IsValid(std::string* error) const {
  std::string problems;
  auto add = [&](std::string problem) {
    if (!problems.empty()) problems += "; ";
    problems += problem;
  };
  if (num_microbatches < 1) add(fmt::format("num_microbatches must be >= 1 (is {})", num_microbatches));
  if (num_layers < 0 || num_layers > 128) add(fmt::format("num_layers must be in [0, 128] (is {})", num_layers));
  if (!(clustering_epsilon >= 0) || std::isinf(clustering_epsilon))
    add(fmt::format("clustering_epsilon must be finite and >= 0 (is {})", clustering_epsilon));
  if (!(gradient_bucket_bytes >= 0) || std::isinf(gradient_bucket_bytes))
    add(fmt::format("gradient_bucket_bytes must be finite and >= 0 (0 = no buckets) (is {})", gradient_bucket_bytes));
  if (!(t_max_gap >= 0) || std::isinf(t_max_gap)) add(fmt::format("t_max_gap must be finite and >= 0 (is {})", t_max_gap));
  if (recompute != Recompute::kNever && recompute != Recompute::kAlways && recompute != Recompute::kAuto)
    add(fmt::format("recompute must be kNever, kAlways or kAuto (is {})", static_cast<int>(recompute)));
  for (const SubmeshShape& s : submesh_shapes)
    if (s.hosts < 1 || s.devices < 1) add(fmt::format("submesh shape ({}, {}) must have positive sides", s.hosts, s.devices));
  std::string sharding_error;
  if (!sharding.IsValid(&sharding_error)) add("sharding: " + sharding_error);
  if (!(time_limit >= 0) || std::isinf(time_limit)) add(fmt::format("time_limit must be finite and >= 0 (is {})", time_limit));
  if (error) *error = problems;
  return problems.empty();
}

namespace {

using namespace stages_detail;
using Clock = std::chrono::steady_clock;
constexpr double kNoPlan = std::numeric_limits<double>::infinity();

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string seconds_text(double s) {
  if (s >= 1) return fmt::format("{:.3g} s", s);
  if (s >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} us", s * 1e6);
}

std::string bytes_text(double b) { return fmt::format("{:.3g} GB", b * 1e-9); }

int default_layers(const Graph& graph) {
  std::set<std::string> tags;
  for (OpId id : graph.ops())
    if (!graph.op(id).layer.empty()) tags.insert(graph.op(id).layer);
  const std::size_t n = tags.empty() ? graph.num_ops() : tags.size();
  return static_cast<int>(std::clamp<std::size_t>(n, 1, 16));
}

// A stage option: the least latency of a span on a submesh shape, and how it was reached.
struct Option {
  double latency = kNoPlan;
  int candidate = -1;
  int variant = 0;
  int recomputed = 0;  // the first `recomputed` layers of recompute_order() are recomputed
};

// A span's cost with some of its layers recomputed.
struct SpanCost {
  double latency = 0, parameters = 0, activations = 0;  // activations: per micro-batch in flight
  double recompute_seconds = 0, peak = 0;                // peak: once per stage
  double memory(int in_flight) const { return parameters + in_flight * activations + peak; }
};

class StageDp {
 public:
  // all_reduce(candidate, axis, bytes): one all-reduce of `bytes` along a mesh axis of the
  // candidate's mesh (used only with buckets, bucket > 0).
  StageDp(const std::vector<Candidate>& candidates, const CostTable& table, int B, double memory, int devices,
          Recompute recompute, double bucket, std::function<double(int, int, double)> all_reduce)
      : B_(B), memory_(memory), D_(devices), L_(static_cast<int>(table.cost.size())), recompute_(recompute),
        table_(table), bucket_(bucket), all_reduce_(std::move(all_reduce)) {
    for (const Candidate& c : candidates)
      if (std::find(shapes_.begin(), shapes_.end(), c.shape) == shapes_.end()) shapes_.push_back(c.shape);
    P_ = static_cast<int>(shapes_.size());
    S_ = std::min(L_, D_);
    // Prefix sums per candidate and variant: a span's totals in O(1).
    const std::size_t C = candidates.size();
    prefix_.assign(C * 2, std::vector<LayerCost>(static_cast<std::size_t>(L_) + 1));
    for (std::size_t c = 0; c < C; ++c)
      for (int v = 0; v < 2; ++v)
        for (int l = 0; l < L_; ++l) {
          const LayerCost& x = table.cost[static_cast<std::size_t>(l)][c][static_cast<std::size_t>(v)];
          LayerCost& p = prefix_[c * 2 + static_cast<std::size_t>(v)][static_cast<std::size_t>(l) + 1];
          const LayerCost& q = prefix_[c * 2 + static_cast<std::size_t>(v)][static_cast<std::size_t>(l)];
          p.latency = q.latency + x.latency, p.parameters = q.parameters + x.parameters, p.activations = q.activations + x.activations;
          p.weight_sync = q.weight_sync + x.weight_sync, p.backward = q.backward + x.backward;
          for (std::size_t a = 0; a < 2; ++a) p.sync_bytes[a] = q.sync_bytes[a] + x.sync_bytes[a];
        }
    best_.assign(static_cast<std::size_t>(S_ + 1) * L_ * L_ * P_, Option{});
    std::vector<SpanCost> with;  // with[k]: the span with the first k layers of the order recomputed
    for (int i = 0; i < L_; ++i)
      for (int j = i; j < L_; ++j)
        for (std::size_t c = 0; c < C; ++c) {
          const int p = shape_index(candidates[c].shape);
          for (int v = 0; v < 2; ++v) {
            const int cc = static_cast<int>(c);
            with.clear();
            int base = 0;  // layers recomputed by with[0]
            if (recompute_ == Recompute::kAlways) {
              base = j - i + 1;
              with.push_back(cost(cc, v, i, j, base));
            } else {
              with.push_back(cost(cc, v, i, j, 0));
              if (recompute_ == Recompute::kAuto)
                for (int l : recompute_order(cc, v, i, j)) with.push_back(extend(with.back(), cc, v, l));
            }
            for (int s = 1; s <= S_; ++s) {
              // Latency grows with k: the first that fits is the fastest.
              for (std::size_t k = 0; k < with.size(); ++k) {
                if (with[k].memory(std::min(s, B_)) > memory_) continue;
                Option& o = best(s, i, j, p);
                if (with[k].latency < o.latency) o = Option{with[k].latency, cc, v, base + static_cast<int>(k)};
                break;
              }
            }
          }
        }
  }

  // kAuto: the span's layers that save memory when recomputed, most bytes saved per second of
  // forward first (ties: smaller activations first, then layer order). kAlways: every layer.
  std::vector<int> recompute_order(int c, int v, int i, int j) const {
    std::vector<int> order;
    for (int l = i; l <= j; ++l)
      if (recompute_ == Recompute::kAlways || layer(c, v, l).activations > layer(c, v, l).inputs) order.push_back(l);
    if (recompute_ == Recompute::kAlways) return order;
    auto saved = [&](int l) { return layer(c, v, l).activations - layer(c, v, l).inputs; };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      // saved(a) / forward(a) > saved(b) / forward(b), without dividing by zero.
      const double lhs = saved(a) * layer(c, v, b).forward, rhs = saved(b) * layer(c, v, a).forward;
      if (lhs != rhs) return lhs > rhs;
      return layer(c, v, a).activations < layer(c, v, b).activations;
    });
    return order;
  }

  // The span without recomputation, or with the first k layers of recompute_order() recomputed.
  SpanCost cost(int c, int v, int i, int j, int k) const {
    const LayerCost x = span(c, v, i, j);
    SpanCost out{x.latency, x.parameters, x.activations, 0, 0};
    if (k == 0) return out;
    const std::vector<int> order = recompute_order(c, v, i, j);
    for (int t = 0; t < k && t < static_cast<int>(order.size()); ++t) out = extend(out, c, v, order[static_cast<std::size_t>(t)]);
    return out;
  }

  LayerCost span(int c, int v, int i, int j) const {
    const auto& p = prefix_[static_cast<std::size_t>(c) * 2 + static_cast<std::size_t>(v)];
    const LayerCost& a = p[static_cast<std::size_t>(j) + 1];
    const LayerCost& b = p[static_cast<std::size_t>(i)];
    LayerCost out;
    out.latency = a.latency - b.latency, out.parameters = a.parameters - b.parameters, out.activations = a.activations - b.activations;
    if (bucket_ > 0) {
      // The stage's gradients are all-reduced bucket by bucket while its last backward runs: only
      // what the backward cannot hide is exposed, and at least the last bucket, which starts once
      // the backward is done (evaluate()'s rule for data parallelism). The layers' plans charged
      // the whole all-reduce at 1 / B per micro-batch; the span is charged its exposed part so.
      // Never more than the layers charged, and a longer span never gets faster: a layer's latency
      // includes its backward, the most it can hide.
      const double sync = a.weight_sync - b.weight_sync, window = a.backward - b.backward;
      double last = 0;
      for (int axis = 0; axis < 2; ++axis) {
        const double bytes = a.sync_bytes[static_cast<std::size_t>(axis)] - b.sync_bytes[static_cast<std::size_t>(axis)];
        if (bytes >= 1) last += all_reduce_(c, axis, std::min(bucket_, bytes));  // >= 1: not a rounding residue
      }
      const double exposed = detail::exposed_gradient_sync(sync, window, last);
      if (sync > 0) out.latency -= (sync - std::max(0.0, exposed)) / B_;
    }
    return out;
  }

  std::vector<double> t_max_values() const {
    std::vector<double> out;
    for (const Option& o : best_)
      if (o.latency < kNoPlan) out.push_back(o.latency);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  struct Pick {
    int s, k, j, p;
  };
  // The least sum of latencies with every stage <= t_max, and its stages (first to last).
  double solve(double t_max, std::vector<Pick>& path) const {
    const std::size_t n = static_cast<std::size_t>(S_ + 1) * (L_ + 1) * (D_ + 1);
    std::vector<double> F(n, kNoPlan);
    std::vector<int> from_j(n, -1), from_p(n, -1);
    auto at = [&](int s, int k, int d) { return (static_cast<std::size_t>(s) * (L_ + 1) + k) * (D_ + 1) + d; };
    F[at(0, L_, 0)] = 0;
    for (int s = 1; s <= S_; ++s)
      for (int k = L_ - s; k >= 0; --k)
        for (int p = 0; p < P_; ++p) {
          const int size = shapes_[static_cast<std::size_t>(p)].size();
          // Leave at least one layer for each of the s - 1 later stages.
          for (int j = k; j <= L_ - s; ++j) {
            const double t = best(s, k, j, p).latency;
            if (t > t_max) break;  // latency only grows with the span
            for (int d = size; d <= D_; ++d) {
              const double rest = F[at(s - 1, j + 1, d - size)];
              if (rest == kNoPlan) continue;
              const std::size_t here = at(s, k, d);
              if (t + rest < F[here]) F[here] = t + rest, from_j[here] = j, from_p[here] = p;
            }
          }
        }
    double total = kNoPlan;
    int stages = 0;
    for (int s = 1; s <= S_; ++s)
      if (F[at(s, 0, D_)] < total) total = F[at(s, 0, D_)], stages = s;
    path.clear();
    if (total == kNoPlan) return total;
    for (int s = stages, k = 0, d = D_; s > 0; --s) {
      const std::size_t here = at(s, k, d);
      path.push_back({s, k, from_j[here], from_p[here]});
      d -= shapes_[static_cast<std::size_t>(from_p[here])].size();
      k = from_j[here] + 1;
    }
    return total;
  }

  const Option& best(int s, int i, int j, int p) const {
    return best_[((static_cast<std::size_t>(s) * L_ + i) * L_ + j) * P_ + p];
  }

 private:
  Option& best(int s, int i, int j, int p) { return best_[((static_cast<std::size_t>(s) * L_ + i) * L_ + j) * P_ + p]; }
  int shape_index(const SubmeshShape& shape) const {
    return static_cast<int>(std::find(shapes_.begin(), shapes_.end(), shape) - shapes_.begin());
  }

  const LayerCost& layer(int c, int v, int l) const {
    return table_.cost[static_cast<std::size_t>(l)][static_cast<std::size_t>(c)][static_cast<std::size_t>(v)];
  }
  SpanCost extend(SpanCost x, int c, int v, int l) const {
    const LayerCost& y = layer(c, v, l);
    x.latency += y.forward;
    x.recompute_seconds += y.forward;
    x.activations += y.inputs - y.activations;
    x.peak = std::max(x.peak, y.activations);
    return x;
  }

  int B_;
  double memory_;
  int D_, L_, P_ = 0, S_ = 0;
  Recompute recompute_;
  const CostTable& table_;
  double bucket_;
  std::function<double(int, int, double)> all_reduce_;
  std::vector<SubmeshShape> shapes_;
  std::vector<std::vector<LayerCost>> prefix_;
  std::vector<Option> best_;
};

// Gives every stage real devices: multi-host submeshes whole nodes, the others packed into the
// remaining nodes largest first (power-of-two sizes dividing the node always pack exactly).
Status assign_devices(const Cluster& cluster, int hosts, int per_host, std::vector<Stage>& stages,
                      const std::vector<Candidate>& candidates, const std::vector<int>& stage_candidate) {
  std::vector<std::size_t> order(stages.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return stages[a].submesh.size() > stages[b].submesh.size(); });
  std::vector<int> used(static_cast<std::size_t>(hosts), 0);
  for (std::size_t i : order) {
    Stage& stage = stages[i];
    const Mesh& logical = candidates[static_cast<std::size_t>(stage_candidate[i])].mesh;
    std::vector<DeviceId> devices;
    if (stage.submesh.hosts > 1 || stage.submesh.devices == per_host) {
      int taken = 0;
      for (int h = 0; h < hosts && taken < stage.submesh.hosts; ++h) {
        if (used[static_cast<std::size_t>(h)] != 0) continue;
        const auto node = cluster.node_devices(h);
        devices.insert(devices.end(), node.begin(), node.end());
        used[static_cast<std::size_t>(h)] = per_host;
        ++taken;
      }
      if (taken < stage.submesh.hosts) return Status(StatusCode::kInternal, "stage submeshes do not tile the cluster");
    } else {
      bool placed = false;
      for (int h = 0; h < hosts && !placed; ++h) {
        int& u = used[static_cast<std::size_t>(h)];
        if (per_host - u < stage.submesh.devices) continue;
        const auto node = cluster.node_devices(h);
        devices.assign(node.begin() + u, node.begin() + u + stage.submesh.devices);
        u += stage.submesh.devices;
        placed = true;
      }
      if (!placed) return Status(StatusCode::kInternal, "stage submeshes do not tile the cluster");
    }
    stage.mesh.rows = logical.rows;
    stage.mesh.cols = logical.cols;
    stage.mesh.name = fmt::format("stage{}", i);
    stage.mesh.devices = std::move(devices);
  }
  return Status();
}

}  // namespace

std::string StagePlan::BriefReport() const {
  return fmt::format("{} stages, {} micro-batches: {} per iteration (largest stage {} per micro-batch), planned in {}",
                     stages.size(), num_microbatches, seconds_text(iteration_seconds), seconds_text(max_stage_seconds),
                     seconds_text(planning_seconds));
}

int StagePlan::num_recomputed_layers() const {
  int n = 0;
  for (const Stage& s : stages) n += static_cast<int>(s.recomputed_layers.size());
  return n;
}

std::string StagePlan::FullReport() const {
  std::string out = BriefReport() + "\n";
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    out += fmt::format(
        "stage {}: layers {}-{} ({} ops), submesh ({}, {}), logical mesh {}x{} on devices {}..{}, {} per micro-batch{}, "
        "memory {} = {} + {} x {}",
        i, s.first_layer, s.last_layer, s.ops.size(), s.submesh.hosts, s.submesh.devices, s.mesh.rows, s.mesh.cols,
        s.mesh.devices.empty() ? 0u : s.mesh.devices.front().value(), s.mesh.devices.empty() ? 0u : s.mesh.devices.back().value(),
        seconds_text(s.latency), s.least_memory_sharding ? " (least-memory sharding)" : "", bytes_text(s.memory_bytes),
        bytes_text(s.parameter_bytes), s.microbatches_in_flight, bytes_text(s.activation_bytes));
    if (!s.recomputed_layers.empty())
      out += fmt::format(" + {} recompute peak; recomputes layers {} (+{})", bytes_text(s.recompute_peak_bytes),
                         fmt::join(s.recomputed_layers, ","), seconds_text(s.recompute_seconds));
    out += "\n";
  }
  return out;
}

namespace {

// Alpa's DP costs each submesh shape once, on the first nodes' devices, as if every device were
// alike. On a cluster of mixed devices that times a stage placed on the slow ones at the speed of
// the fast ones (4 A100 + 4 V100 planned as fast as 8 A100). Cost every candidate on the slowest
// figures of the cluster instead: a plan is never reported faster than its devices allow (stages
// that land on the faster devices are over-estimated). Returns nullopt for a uniform cluster.
std::optional<Cluster> slowest_view(const Cluster& cluster) {
  const Device& first = cluster.device(DeviceId(0));
  bool mixed = false;
  Device slow = first;
  const DType formats[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8};
  double peak[4], tf32 = first.peak_for(DType::kF32, true);
  for (int f = 0; f < 4; ++f) peak[f] = first.peak_for(formats[f]);
  for (DeviceId id : cluster.devices()) {
    const Device& d = cluster.device(id);
    mixed = mixed || d.peak_flops != first.peak_flops || d.peaks != first.peaks ||
            d.memory_bandwidth != first.memory_bandwidth || d.model != first.model;
    slow.peak_flops = std::min(slow.peak_flops, d.peak_flops);
    slow.memory_bandwidth = std::min(slow.memory_bandwidth, d.memory_bandwidth);
    slow.memory_bytes = std::min(slow.memory_bytes, d.memory_bytes);
    for (int f = 0; f < 4; ++f) peak[f] = std::min(peak[f], d.peak_for(formats[f]));
    tf32 = std::min(tf32, d.peak_for(DType::kF32, true));
  }
  if (!mixed) return std::nullopt;
  slow.peaks = DTypePeaks{peak[0], tf32, peak[1], peak[2], peak[3]};
  Cluster view = cluster;
  for (DeviceId id : view.devices()) {
    Device& d = view.mutable_device(id);
    d.model = slow.model + " (slowest figures)";
    d.peak_flops = slow.peak_flops, d.peaks = slow.peaks;
    d.memory_bandwidth = slow.memory_bandwidth, d.memory_bytes = slow.memory_bytes;
  }
  return view;
}

}  // namespace

Result<StagePlan> plan_stages(const Graph& graph, const Cluster& cluster, const CostModel& cost_model,
                              const StageOptions& options) {
  const auto start = Clock::now();
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "StageOptions: " + error);
  if (Status s = cluster.validate(); !s.ok()) return s;
  const int hosts = cluster.num_nodes();
  const int per_host = static_cast<int>(cluster.node_devices(0).size());
  for (int h = 0; h < hosts; ++h)
    if (static_cast<int>(cluster.node_devices(h).size()) != per_host || per_host == 0)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("plan_stages needs nodes with equal device counts: node 0 has {}, node {} has {}", per_host,
                                h, cluster.node_devices(h).size()));
  double memory = kInf;
  for (DeviceId d : cluster.devices()) memory = std::min(memory, cluster.device(d).memory_bytes);

  const int num_layers = options.num_layers > 0 ? options.num_layers : default_layers(graph);
  auto layers = cluster_layers(graph, num_layers, options.clustering_epsilon);
  if (!layers.ok()) return layers.status();
  const auto candidates = make_candidates(cluster, hosts, per_host, options.submesh_shapes, options.all_logical_meshes);
  if (candidates.empty())
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("none of the submesh shapes is one of Alpa's for {} nodes of {} devices", hosts, per_host));
  const auto costing_start = Clock::now();
  // The stop request or the time limit, checked between intra-op plans and DP runs.
  const auto stopped = [&] { return options.stop != nullptr && options.stop->load(std::memory_order_relaxed); };
  const auto halt = [&] { return stopped() || (options.time_limit > 0 && since(start) >= options.time_limit); };
  const auto halted = [&] {
    return Status(StatusCode::kFailedPrecondition,
                  stopped() ? fmt::format("stage planning stopped at the caller's request after {:.3f} s", since(start))
                            : fmt::format("stage planning reached its time limit of {:g} s before finding a plan",
                                          options.time_limit));
  };
  const std::optional<Cluster> slow = slowest_view(cluster);
  const Cluster& costed = slow ? *slow : cluster;
  auto table = cost_layers(graph, *layers, costed, cost_model, candidates, options.sharding,
                           1.0 / options.num_microbatches, options.gradient_bucket_bytes, halt);
  if (!table.ok()) return halt() ? halted() : table.status();

  StagePlan plan;
  plan.layers = std::move(*layers);
  plan.num_microbatches = options.num_microbatches;
  plan.device_memory = memory;
  plan.costing_seconds = since(costing_start);
  plan.num_shard_calls = table->shard_calls;
  const int D = hosts * per_host, B = options.num_microbatches;
  // The collectives of the gradient buckets, on the candidates' meshes as the layers were costed.
  std::vector<std::unique_ptr<detail::MeshCosts>> mesh_costs;
  for (const Candidate& c : candidates) mesh_costs.push_back(std::make_unique<detail::MeshCosts>(costed, c.mesh, cost_model));
  const auto all_reduce = [&mesh_costs](int c, int axis, double bytes) {
    return mesh_costs[static_cast<std::size_t>(c)]->collective(Collective::kAllReduce, axis, bytes);
  };
  const StageDp dp(candidates, *table, B, memory, D, options.recompute, options.gradient_bucket_bytes, all_reduce);

  double best_total = kNoPlan;
  std::vector<StageDp::Pick> best_path, path;
  const std::vector<double> values = dp.t_max_values();
  for (std::size_t i = 0; i < values.size();) {
    if (B * values[i] >= best_total) break;  // every plan left has T >= B * t_max
    if (halt()) return halted();
    // One DP run covers every candidate within the gap of the smallest untried one: a plan whose
    // largest stage is any of them is feasible at the largest, which exceeds it by at most the gap.
    std::size_t j = i;
    while (j + 1 < values.size() && values[j + 1] <= values[i] * (1 + options.t_max_gap)) ++j;
    const double t_max = values[j];
    i = j + 1;
    ++plan.num_t_max_tried;
    const double sum = dp.solve(t_max, path);
    if (sum == kNoPlan) continue;
    double largest = 0;
    for (const auto& pick : path) largest = std::max(largest, dp.best(pick.s, pick.k, pick.j, pick.p).latency);
    const double total = sum + (B - 1) * largest;
    if (total < best_total) best_total = total, best_path = path;
  }
  if (best_path.empty()) {
    // A lower bound to report: every layer with its leanest sharding on its leanest mesh, one
    // micro-batch in flight (a recomputed layer: its inputs), spread evenly over all devices; a
    // layer alone needs its full activations at least during its own backward.
    double total = 0, worst = 0;
    for (const auto& row : table->cost) {
      double least = kInf, least_per_device = kInf;
      for (std::size_t c = 0; c < row.size(); ++c)
        for (const LayerCost& x : row[c]) {
          const double kept = options.recompute == Recompute::kNever ? x.activations : std::min(x.activations, x.inputs);
          least = std::min(least, (x.parameters + kept) * candidates[c].shape.size());
          least_per_device = std::min(least_per_device, x.parameters + x.activations);
        }
      total += least;
      worst = std::max(worst, least_per_device);
    }
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("no stage plan fits the device memory of {} bytes: with one micro-batch in flight and the "
                              "leanest shardings the model needs at least {} bytes per device spread over all {} devices, "
                              "and its most demanding layer needs {} bytes per device",
                              memory, std::ceil(total / D), D, std::ceil(worst)));
  }

  std::vector<int> stage_candidate;
  for (const auto& pick : best_path) {
    const Option& o = dp.best(pick.s, pick.k, pick.j, pick.p);
    Stage stage;
    stage.first_layer = pick.k;
    stage.last_layer = pick.j;
    for (int l = pick.k; l <= pick.j; ++l)
      stage.ops.insert(stage.ops.end(), plan.layers[static_cast<std::size_t>(l)].begin(), plan.layers[static_cast<std::size_t>(l)].end());
    stage.submesh = candidates[static_cast<std::size_t>(o.candidate)].shape;
    stage.least_memory_sharding = o.variant == kLeastMemory;
    const SpanCost x = dp.cost(o.candidate, o.variant, pick.k, pick.j, o.recomputed);
    if (o.recomputed > 0) {
      const std::vector<int> order = dp.recompute_order(o.candidate, o.variant, pick.k, pick.j);
      stage.recomputed_layers.assign(order.begin(), order.begin() + o.recomputed);
      std::sort(stage.recomputed_layers.begin(), stage.recomputed_layers.end());
    }
    stage.latency = x.latency;
    stage.recompute_seconds = x.recompute_seconds;
    stage.recompute_peak_bytes = x.peak;
    stage.parameter_bytes = x.parameters;
    stage.activation_bytes = x.activations;
    stage.microbatches_in_flight = std::min(pick.s, B);
    stage.memory_bytes = x.memory(stage.microbatches_in_flight);
    plan.max_stage_seconds = std::max(plan.max_stage_seconds, x.latency);
    plan.iteration_seconds += x.latency;
    plan.stages.push_back(std::move(stage));
    stage_candidate.push_back(o.candidate);
  }
  plan.iteration_seconds += (B - 1) * plan.max_stage_seconds;
  if (Status s = assign_devices(cluster, hosts, per_host, plan.stages, candidates, stage_candidate); !s.ok()) return s;
  plan.planning_seconds = since(start);
  return plan;
}

OPPLAN_END_NAMESPACE
