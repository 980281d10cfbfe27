// search_parallel_configs(): enumerate, bound, evaluate best-first (config_search.hpp,
// docs/config-search.md). Every figure a candidate is judged by comes from evaluate_prepared()
// (the evaluator) and the bounds from the evaluator's own per-layer costs (cost_unit()).
#include <opplan/config_search.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "configs/evaluate_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

bool ConfigSearchOptions::IsValid(std::string* error) const {
  std::string e;
  if (global_batch < 0) e = fmt::format("global_batch must be >= 0 (0 = from micro_batches), got {}", global_batch);
  else if (micro_batches < 1) e = fmt::format("micro_batches must be >= 1, got {}", micro_batches);
  else if (max_tp < 0) e = fmt::format("max_tp must be >= 0 (0 = the devices of a node), got {}", max_tp);
  else if (max_cp < 1) e = fmt::format("max_cp must be >= 1, got {}", max_cp);
  else if (max_micro_batch_size < 1) e = fmt::format("max_micro_batch_size must be >= 1, got {}", max_micro_batch_size);
  else if (max_vpp < 1) e = fmt::format("max_vpp must be >= 1, got {}", max_vpp);
  else if (max_zero < 0 || max_zero > 3) e = fmt::format("max_zero must be in 0..3, got {}", max_zero);
  else if (memory_cap && !(*memory_cap > 0 && std::isfinite(*memory_cap)))
    e = fmt::format("memory_cap must be finite and > 0, got {}", *memory_cap);
  else if (threads < 0) e = fmt::format("threads must be >= 0 (0 = the machine's cores), got {}", threads);
  else if (keep < 1) e = fmt::format("keep must be >= 1, got {}", keep);
  else if (!(time_limit > 0)) e = fmt::format("time_limit must be > 0 seconds, got {}", time_limit);
  else if (std::string ev; !evaluate.IsValid(&ev)) e = "evaluate." + ev;
  if (error) *error = e;
  return e.empty();
}

namespace configs_detail {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Status invalid(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }

std::vector<int> divisors(std::int64_t n, std::int64_t most) {
  std::vector<int> out;
  for (std::int64_t d = 1; d <= std::min(n, most); ++d)
    if (n % d == 0) out.push_back(static_cast<int>(d));
  return out;
}

// What a layer's cost depends on besides the layer: the settings cost_unit() reads.
struct CostKey {
  int tp, cp, ep, mbs;
  bool sp;
  ActivationRecompute recompute;
  bool operator<(const CostKey& o) const {
    return std::tie(tp, cp, ep, mbs, sp, recompute) < std::tie(o.tp, o.cp, o.ep, o.mbs, o.sp, o.recompute);
  }
};

// The per-layer figures the bounds need, from cost_unit() on pipeline rank 0's groups.
struct LayerFigures {
  double time = 0;     // F + b + W + recomputation + exposed TP / CP / EP communication
  double forward = 0;  // F with its exposed communication
  double params = 0;   // weights + gradients + optimizer state, before ZeRO (per device)
  double weights = 0, gradients = 0, optimizer = 0;
  double activations = 0;  // one micro-batch, with the recomputation policy
  double buffers = 0;      // the largest tensor
};

struct KeyCosts {
  std::vector<LayerFigures> layers;  // by layer index
  LayerFigures pre, post;
  std::map<int, std::vector<int>> balanced;  // stages -> layers per stage
};

LayerFigures figures(const UnitCost& u, bool tp_exposed) {
  LayerFigures f;
  f.forward = u.forward + (tp_exposed ? u.tp_forward : 0) + u.cp_forward + u.ep_forward;
  f.time = f.forward + u.input_grad + u.weight_grad + u.recompute + (tp_exposed ? u.tp_backward : 0) + u.cp_backward +
           u.ep_backward;
  f.weights = u.params.weights, f.gradients = u.params.gradients, f.optimizer = u.params.optimizer;
  f.params = u.params.total();
  f.activations = u.activations;
  f.buffers = u.largest_tensor;
  return f;
}

// A layer's shape for costing: identical signatures cost the same under every setting.
std::string layer_signature(const Graph& graph, const GraphLayout& layout, const std::vector<OpId>& ops) {
  std::unordered_map<std::uint32_t, int> position;
  for (std::size_t i = 0; i < ops.size(); ++i) position[ops[i].value()] = static_cast<int>(i);
  std::string sig;
  for (OpId id : ops) {
    const Op& op = graph.op(id);
    const OpRole& r = layout.roles[id.value()];
    sig += fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{};", op.kind, fmt::join(op.shape, "x"), op.dims,
                       static_cast<int>(op.dtype), op.forward.flops, op.forward.bytes, op.input_grad.flops,
                       op.input_grad.bytes, op.weight_grad.flops, op.weight_grad.bytes, op.param_bytes,
                       op.activation_bytes, op.params_from.size(), static_cast<int>(r.tp), r.expert, r.core,
                       op.forward.seconds.value_or(-1));
    for (EdgeId e : graph.in_edges(id)) {
      const Edge& edge = graph.edge(e);
      const auto it = position.find(edge.src.value());
      sig += fmt::format("<{}:{}:{}", it == position.end() ? -1 : it->second,
                         static_cast<int>(layout.roles[edge.src.value()].tp), edge.bytes);
    }
  }
  return sig;
}

// Layers per stage that minimise the slowest stage (the first carries `pre`, the last `post`):
// the classic linear partition, by binary search on the answer with a greedy fill, then the
// remaining stages filled so that every stage has at least one layer when there are enough.
std::vector<int> balanced_cut(const KeyCosts& k, int stages) {
  const int L = static_cast<int>(k.layers.size());
  std::vector<double> t(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) t[static_cast<std::size_t>(l)] = k.layers[static_cast<std::size_t>(l)].time;
  // Greedy: can the layers be cut into <= stages with no stage above `cap`? Fills front to back.
  auto cut = [&](double cap, std::vector<int>* out) {
    std::vector<int> per;
    double load = k.pre.time;
    int count = 0;
    for (int l = 0; l < L; ++l) {
      const double w = t[static_cast<std::size_t>(l)] + (l == L - 1 ? k.post.time : 0);
      if (count > 0 && load + w > cap) {
        per.push_back(count);
        load = 0, count = 0;
      }
      load += w, ++count;
      if (load > cap) return false;
    }
    per.push_back(count);
    if (static_cast<int>(per.size()) > stages) return false;
    if (out) *out = per;
    return true;
  };
  double lo = 0, hi = k.pre.time + k.post.time;
  for (double x : t) lo = std::max(lo, x), hi += x;
  lo = std::max(lo, hi / stages);
  for (int it = 0; it < 60 && hi - lo > 1e-12 * hi; ++it) {
    const double mid = (lo + hi) / 2;
    if (cut(mid, nullptr)) hi = mid;
    else lo = mid;
  }
  std::vector<int> per;
  cut(hi, &per);
  // Fewer stages than asked: split the largest stages (by layers) until there are enough.
  while (static_cast<int>(per.size()) < stages) {
    auto most = std::max_element(per.begin(), per.end());
    if (*most <= 1) {
      per.push_back(0);
      continue;
    }
    const int half = *most / 2;
    *most -= half;
    per.insert(most + 1, half);
  }
  return per;
}

// One point of the space, before evaluation.
struct Candidate {
  ParallelConfig config;
  const KeyCosts* costs = nullptr;
  double time_bound = 0;
  double memory_bound = 0;  // the fullest device, bytes
  double capacity = 0;      // that device's memory
  std::size_t index = 0;    // enumeration order (ties)
};

struct Space {
  const Graph& graph;
  const Cluster& cluster;
  const CostModel& cm;
  const ConfigSearchOptions& o;
  std::map<int, GraphLayout> layouts;  // by TP
  std::map<int, std::vector<int>> layer_class;  // by TP: each layer's class (same signature, same costs)
  std::map<CostKey, KeyCosts> costs;
  std::int64_t costings = 0;
  int layers = 0;
  std::int64_t experts = 0;  // gcd of the experts of every expert op; 0 = none
  std::vector<double> memory;  // each device's capacity (with the cap)
  // Co-location groups (Op::group) as the positions of their ops: -1 = before the first layer,
  // `layers` = after the last, else the layer index. A candidate must keep each on one rank.
  std::vector<std::vector<int>> groups;
};

// The pipeline rank of each position (see Space::groups) under a cut, on route 0.
bool keeps_groups(const Space& sp, const std::vector<int>& cut, const std::vector<int>& route) {
  if (sp.groups.empty() || cut.size() < 2) return true;
  std::vector<int> stage_of(static_cast<std::size_t>(sp.layers), 0);
  int l = 0;
  for (std::size_t s = 0; s < cut.size(); ++s)
    for (int n = 0; n < cut[s]; ++n) stage_of[static_cast<std::size_t>(l++)] = static_cast<int>(s);
  auto rank = [&](int pos) {
    const int stage = pos < 0 ? 0 : pos >= sp.layers ? static_cast<int>(cut.size()) - 1 : stage_of[static_cast<std::size_t>(pos)];
    return route[static_cast<std::size_t>(stage)];
  };
  for (const auto& g : sp.groups)
    for (int pos : g)
      if (rank(pos) != rank(g.front())) return false;
  return true;
}

KeyCosts& key_costs(Space& sp, const CostKey& key, int dp) {
  auto it = sp.costs.find(key);
  if (it != sp.costs.end()) return it->second;
  const GraphLayout& layout = sp.layouts.at(key.tp);
  ParallelConfig c;
  c.tp = key.tp, c.cp = key.cp, c.ep = key.ep, c.dp = dp, c.micro_batch_size = key.mbs;
  c.sequence_parallel = key.sp, c.recompute = key.recompute, c.flash_attention = sp.o.flash_attention;
  c.overlap_tp_comm = sp.o.overlap_tp_comm;
  const RankContext rank = rank_context(sp.cluster, c, 0);
  const double samples = sp.graph.samples() > 0 ? static_cast<double>(sp.graph.samples()) : 1.0;
  const double scale = key.mbs / samples;
  const bool exposed = !sp.o.overlap_tp_comm;
  KeyCosts k;
  auto classes = sp.layer_class.find(key.tp);
  if (classes == sp.layer_class.end()) {
    std::unordered_map<std::string, int> seen;
    std::vector<int> ids;
    for (const auto& layer : layout.layers)
      ids.push_back(seen.try_emplace(layer_signature(sp.graph, layout, layer), static_cast<int>(seen.size())).first->second);
    classes = sp.layer_class.emplace(key.tp, std::move(ids)).first;
  }
  std::vector<std::optional<LayerFigures>> by_class(layout.layers.size());
  for (std::size_t l = 0; l < layout.layers.size(); ++l) {
    auto& f = by_class[static_cast<std::size_t>(classes->second[l])];
    if (!f) {
      f = figures(cost_unit(sp.graph, layout, layout.layers[l], true, c, scale, sp.cluster, sp.cm, rank), exposed);
      ++sp.costings;
    }
    k.layers.push_back(*f);
  }
  k.pre = figures(cost_unit(sp.graph, layout, layout.pre, false, c, scale, sp.cluster, sp.cm, rank), exposed);
  k.post = figures(cost_unit(sp.graph, layout, layout.post, false, c, scale, sp.cluster, sp.cm, rank), exposed);
  sp.costings += 2;
  return sp.costs.emplace(key, std::move(k)).first->second;
}

// The bounds of one candidate on its stages: time (the busiest rank's work after its first input
// can arrive) and memory (per rank: parameters under ZeRO, one micro-batch of its largest stage's
// activations, its largest tensor, the reserve).
void bound(const Space& sp, Candidate& cand, const std::vector<std::vector<int>>& routes,
           const std::vector<double>& rank_capacity) {
  const ParallelConfig& c = cand.config;
  const KeyCosts& k = *cand.costs;
  const int S = static_cast<int>(c.layers_per_stage.size());
  std::vector<LayerFigures> st(static_cast<std::size_t>(S));
  int l = 0;
  for (int s = 0; s < S; ++s) {
    LayerFigures& f = st[static_cast<std::size_t>(s)];
    auto add = [&f](const LayerFigures& x) {
      f.time += x.time, f.forward += x.forward, f.weights += x.weights, f.gradients += x.gradients;
      f.optimizer += x.optimizer, f.activations += x.activations, f.buffers = std::max(f.buffers, x.buffers);
    };
    if (s == 0) add(k.pre);
    for (int n = 0; n < c.layers_per_stage[static_cast<std::size_t>(s)]; ++n) add(k.layers[static_cast<std::size_t>(l++)]);
    if (s == S - 1) add(k.post);
  }
  const double per_route = static_cast<double>(c.num_micro_batches()) / static_cast<double>(routes.size());
  std::vector<double> work(static_cast<std::size_t>(c.pp), 0), start(static_cast<std::size_t>(c.pp), 1e300);
  std::vector<LayerFigures> held(static_cast<std::size_t>(c.pp));
  std::vector<double> act(static_cast<std::size_t>(c.pp), 0);
  for (const auto& route : routes) {
    double arrive = 0;
    for (int s = 0; s < S; ++s) {
      const auto d = static_cast<std::size_t>(route[static_cast<std::size_t>(s)]);
      const LayerFigures& f = st[static_cast<std::size_t>(s)];
      work[d] += per_route * f.time;
      start[d] = std::min(start[d], arrive);
      arrive += f.forward;
      held[d].weights += f.weights, held[d].gradients += f.gradients, held[d].optimizer += f.optimizer;
      held[d].buffers = std::max(held[d].buffers, f.buffers);
      act[d] = std::max(act[d], f.activations);
    }
  }
  const double dp = c.dp;
  cand.time_bound = 0, cand.memory_bound = 0, cand.capacity = 0;
  double worst_over = -1e300;
  for (int p = 0; p < c.pp; ++p) {
    const auto d = static_cast<std::size_t>(p);
    cand.time_bound = std::max(cand.time_bound, start[d] + work[d]);
    const LayerFigures& h = held[d];
    const double parts = h.weights / (c.zero >= 3 ? dp : 1) + h.gradients / (c.zero >= 2 ? dp : 1) +
                         h.optimizer / (c.zero >= 1 ? dp : 1) + act[d] + h.buffers;
    const double total = sp.o.evaluate.reserve_bytes + (1 + sp.o.evaluate.fragmentation) * parts;
    const double capacity = rank_capacity[d];
    if (total - capacity > worst_over) worst_over = total - capacity, cand.memory_bound = total, cand.capacity = capacity;
  }
}


// Every candidate of the space with its bounds, in enumeration order.
Result<std::vector<Candidate>> enumerate(Space& sp, std::int64_t G, std::int64_t* pruned_memory,
                                         std::vector<Candidate>* smallest) {
  const ConfigSearchOptions& o = sp.o;
  const std::int64_t D = static_cast<std::int64_t>(sp.cluster.num_devices());
  int node = 1;
  {
    std::map<int, int> per_node;
    for (DeviceId id : sp.cluster.devices()) node = std::max(node, ++per_node[sp.cluster.device(id).node]);
  }
  const int max_tp = o.max_tp > 0 ? o.max_tp : node;
  const std::int64_t seq = sp.graph.sequence_length();
  const int L = sp.layers;
  std::vector<PipelineSchedule> schedules = o.schedules;
  if (schedules.empty())
    schedules = {PipelineSchedule::k1F1B, PipelineSchedule::kInterleaved, PipelineSchedule::kZBH1,
                 PipelineSchedule::kZBV, PipelineSchedule::kDualPipe, PipelineSchedule::kDualPipeV};
  std::vector<ActivationRecompute> policies = o.recompute;
  if (policies.empty())
    policies = {ActivationRecompute::kNone, ActivationRecompute::kSelective, ActivationRecompute::kFull};
  std::map<std::tuple<int, int, int>, std::vector<std::vector<int>>> routes_cache;
  auto routes_of = [&](Placement pl, int pp, int vpp) -> const std::vector<std::vector<int>>& {
    auto key = std::make_tuple(static_cast<int>(pl), pp, vpp);
    auto it = routes_cache.find(key);
    if (it == routes_cache.end()) {
      auto r = placement_routes(pl, pp, vpp);
      it = routes_cache.emplace(key, r.ok() ? *r : std::vector<std::vector<int>>{}).first;
    }
    return it->second;
  };

  std::vector<Candidate> out;
  double least_memory = 1e300;
  for (int tp : divisors(D, max_tp)) {
    if (sp.layouts.find(tp) == sp.layouts.end()) {
      auto layout = layout_graph(sp.graph, tp);
      if (!layout.ok()) continue;  // TP does not divide some op
      sp.layouts.emplace(tp, std::move(*layout));
    }
    for (int cp : divisors(D / tp, o.max_cp)) {
      if (cp > 1 && (seq <= 0 || seq % cp != 0)) continue;
      for (int pp : divisors(D / tp / cp, std::max(1, L))) {
        const std::int64_t dp64 = D / tp / cp / pp;
        if (G % dp64 != 0) continue;
        const int dp = static_cast<int>(dp64);
        const std::int64_t block = std::int64_t{tp} * cp * dp;
        std::vector<double> rank_capacity(static_cast<std::size_t>(pp), 1e300);
        for (std::int64_t i = 0; i < D; ++i)
          rank_capacity[static_cast<std::size_t>(i / block)] =
              std::min(rank_capacity[static_cast<std::size_t>(i / block)], sp.memory[static_cast<std::size_t>(i)]);
        std::vector<int> eps{1};
        if (sp.experts > 0) eps = divisors(sp.experts, dp);
        for (int ep : eps) {
          if (dp % ep != 0 || (sp.experts > 0 && sp.experts % ep != 0)) continue;
          for (int mbs : divisors(G / dp, o.max_micro_batch_size)) {
            const std::int64_t N = G / dp / mbs;
            for (bool seqp : {false, true}) {
              if (seqp && tp == 1) continue;
              for (ActivationRecompute rc : policies) {
                KeyCosts& k = key_costs(sp, CostKey{tp, cp, ep, mbs, seqp, rc}, dp);
                // (schedule, vpp) pairs for this pipeline.
                std::vector<std::pair<PipelineSchedule, int>> shapes;
                if (pp == 1) {
                  shapes.emplace_back(PipelineSchedule::k1F1B, 1);
                } else {
                  for (PipelineSchedule s : schedules) switch (s) {
                      case PipelineSchedule::kInterleaved:
                        if (N % pp == 0)
                          for (int v = 2; v <= o.max_vpp && pp * v <= L; ++v) shapes.emplace_back(s, v);
                        break;
                      case PipelineSchedule::kZBV:
                        if (2 * pp <= L) shapes.emplace_back(s, 2);
                        break;
                      case PipelineSchedule::kDualPipeV:  // the generator needs 2 micro-batches per device
                        if (2 * pp <= L && N >= 2 * pp) shapes.emplace_back(s, 2);
                        break;
                      case PipelineSchedule::kDualPipe:  // ... and DualPipe 2 per direction
                        if (pp % 2 == 0 && N % 2 == 0 && N >= 2 * pp) shapes.emplace_back(s, 1);
                        break;
                      default: shapes.emplace_back(s, 1);
                    }
                }
                for (const auto& [schedule, vpp] : shapes) {
                  const int S = pp * vpp;
                  std::vector<std::vector<int>> cuts;
                  if (L == 0) cuts.push_back({0});
                  if (L > 0 && L % S == 0) cuts.push_back(std::vector<int>(static_cast<std::size_t>(S), L / S));
                  if (L > 0 && S > 1) {
                    auto b = k.balanced.find(S);
                    if (b == k.balanced.end())
                      b = k.balanced.emplace(S, balanced_cut(k, S)).first;
                    if (cuts.empty() || b->second != cuts.front()) cuts.push_back(b->second);
                  }
                  ParallelConfig c;
                  c.dp = dp, c.tp = tp, c.pp = pp, c.vpp = vpp, c.ep = ep, c.cp = cp;
                  c.sequence_parallel = seqp, c.micro_batch_size = mbs, c.global_batch = G, c.recompute = rc;
                  c.flash_attention = o.flash_attention, c.schedule = schedule, c.overlap_tp_comm = o.overlap_tp_comm;
                  c.overlap_grad_reduce = o.overlap_grad_reduce, c.overlap_param_gather = o.overlap_param_gather;
                  const auto shape = pipeline_shape(c);
                  const auto& routes = routes_of(shape.placement, pp, vpp);
                  if (routes.empty()) continue;
                  for (const auto& cut : cuts) {
                    if (!keeps_groups(sp, cut, routes.front())) continue;
                    for (int zero = 0; zero <= (dp > 1 ? o.max_zero : 0); ++zero) {
                      Candidate cand;
                      cand.config = c;
                      cand.config.zero = zero;
                      cand.costs = &k;
                      cand.config.layers_per_stage = cut;
                      bound(sp, cand, routes, rank_capacity);
                      if (L == 0) cand.config.layers_per_stage.clear();
                      cand.index = out.size() + static_cast<std::size_t>(*pruned_memory);
                      if (cand.memory_bound > cand.capacity) {
                        ++*pruned_memory;
                        if (cand.memory_bound - cand.capacity < least_memory) {
                          least_memory = cand.memory_bound - cand.capacity;
                          smallest->assign(1, cand);
                        }
                        continue;
                      }
                      out.push_back(std::move(cand));
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return out;
}

bool same_structure(const ParallelConfig& a, const ParallelConfig& b) {
  return std::tie(a.dp, a.tp, a.pp, a.vpp, a.cp, a.ep, a.schedule) == std::tie(b.dp, b.tp, b.pp, b.vpp, b.cp, b.ep, b.schedule);
}

ConfigCandidate candidate_of(const Evaluation& ev, double lower_bound) {
  ConfigCandidate c;
  c.config = ev.config;
  c.iteration_seconds = ev.iteration_seconds;
  c.lower_bound = lower_bound;
  c.memory_bytes = ev.peak_memory.total();
  c.capacity_bytes = 0;
  for (const StageEvaluation& st : ev.stages)
    if (st.memory.total() == c.memory_bytes) c.capacity_bytes = st.capacity;
  c.fits = ev.fits;
  c.breakdown = ev.breakdown;
  c.memory_problem = ev.memory_problem;
  return c;
}

// Why `c` lost to `best`: the time it is slower by and the part of the time that grew most.
std::string verdict(const ConfigCandidate& c, const ConfigCandidate& best) {
  if (!c.fits) return "does not fit: " + c.memory_problem;
  const double slower = best.iteration_seconds > 0 ? c.iteration_seconds / best.iteration_seconds - 1 : 0;
  const TimeBreakdown &a = c.breakdown, &b = best.breakdown;
  const std::pair<const char*, double> parts[] = {
      {"more compute", a.compute - b.compute},     {"more recomputation", a.recompute - b.recompute},
      {"more TP communication", a.tp_comm - b.tp_comm}, {"more CP communication", a.cp_comm - b.cp_comm},
      {"more EP all-to-all", a.ep_comm - b.ep_comm},  {"more exposed DP communication", a.dp_comm - b.dp_comm},
      {"more bubble", a.bubble - b.bubble},        {"a longer optimizer step", a.optimizer - b.optimizer}};
  const auto* most = std::max_element(std::begin(parts), std::end(parts),
                                      [](const auto& x, const auto& y) { return x.second < y.second; });
  if (slower <= 0) return slower == 0 ? "as fast" : fmt::format("{:.1f} % faster", -100 * slower);
  if (most->second <= 0) return fmt::format("{:.1f} % slower", 100 * slower);
  return fmt::format("{:.1f} % slower: {} (+{:.3g} s)", 100 * slower, most->first, most->second);
}

}  // namespace
}  // namespace configs_detail

Result<ConfigSearchResult> search_parallel_configs(const Graph& graph, const Cluster& input_cluster,
                                                   const CostModel& cm, const ConfigSearchOptions& options) {
  using namespace configs_detail;
  const auto t0 = Clock::now();
  std::string error;
  if (!options.IsValid(&error)) return invalid("ConfigSearchOptions: " + error);
  if (Status s = graph.validate(); !s.ok()) return s;
  if (Status s = input_cluster.validate(); !s.ok()) return s;
  if (graph.num_ops() == 0) return invalid(fmt::format("graph '{}' has no ops to plan", graph.name()));
  const std::int64_t samples = std::max<std::int64_t>(1, graph.samples());
  const std::int64_t G = options.global_batch > 0 ? options.global_batch : samples * options.micro_batches;
  Cluster cluster = input_cluster;
  if (options.memory_cap)
    for (DeviceId d : cluster.devices())
      cluster.mutable_device(d).memory_bytes = std::min(cluster.device(d).memory_bytes, *options.memory_cap);

  Space sp{graph, cluster, cm, options, {}, {}, {}, 0, 0, 0, {}};
  for (DeviceId d : cluster.devices()) sp.memory.push_back(cluster.device(d).memory_bytes);
  {
    auto layout = layout_graph(graph, 1);
    if (!layout.ok()) return layout.status();
    sp.layers = static_cast<int>(layout->layers.size());
    for (OpId id : graph.ops())
      if (layout->roles[id.value()].expert && !graph.op(id).shape.empty())
        sp.experts = std::gcd(sp.experts, graph.op(id).shape[0]);
    std::map<std::string, std::vector<int>> groups;
    for (OpId id : layout->pre)
      if (!graph.op(id).group.empty()) groups[graph.op(id).group].push_back(-1);
    for (std::size_t l = 0; l < layout->layers.size(); ++l)
      for (OpId id : layout->layers[l])
        if (!graph.op(id).group.empty()) groups[graph.op(id).group].push_back(static_cast<int>(l));
    for (OpId id : layout->post)
      if (!graph.op(id).group.empty()) groups[graph.op(id).group].push_back(sp.layers);
    for (auto& [name, positions] : groups)
      if (positions.size() > 1) sp.groups.push_back(std::move(positions));
    sp.layouts.emplace(1, std::move(*layout));
  }
  for (const ParallelConfig& r : options.references)
    if (r.effective_global_batch() != G)
      return invalid(fmt::format("ConfigSearchOptions.references: '{}' has a global batch of {}, the search {}",
                                 r.ToString(), r.effective_global_batch(), G));

  ConfigSearchResult res;
  res.global_batch = G;
  std::vector<Candidate> smallest;
  auto cands = enumerate(sp, G, &res.pruned_memory, &smallest);
  if (!cands.ok()) return cands.status();
  std::vector<Candidate>& all = *cands;
  res.enumerated = static_cast<std::int64_t>(all.size()) + res.pruned_memory;
  if (res.enumerated == 0) {
    const std::int64_t D = static_cast<std::int64_t>(cluster.num_devices());
    return invalid(fmt::format("no parallel configuration of {} devices divides the global batch of {} samples: data "
                               "parallelism needs the batch to be a multiple of devices / (TP x CP x PP), and TP, CP "
                               "and PP are at most {} (a node), {} and {} layers here; raise the global batch",
                               D, G, options.max_tp > 0 ? options.max_tp : 8, options.max_cp, sp.layers));
  }
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.time_bound != b.time_bound ? a.time_bound < b.time_bound : a.index < b.index;
  });

  res.lower_bound = all.empty() ? 0 : all.front().time_bound;
  EvaluateOptions quick = options.evaluate;
  quick.keep_schedule = false;
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(hw);
  constexpr std::size_t kRound = 64;  // fixed: the result must not depend on the thread count
  std::vector<ConfigCandidate> fitting, too_big;
  auto cutoff = [&] {
    return static_cast<int>(fitting.size()) >= options.keep ? fitting[static_cast<std::size_t>(options.keep - 1)].iteration_seconds
                                                            : std::numeric_limits<double>::infinity();
  };
  double reported_best = std::numeric_limits<double>::infinity(), reported_at = 0;
  // What no sharding can reduce: one copy of the training state against all the memory. Above it
  // no candidate fits, and the search goes straight to saying so (a 70B MoE with Adam on 64 V100
  // once evaluated candidates for a minute to find none).
  const KeyCosts& whole = key_costs(sp, CostKey{1, 1, 1, 1, false, ActivationRecompute::kNone}, 1);
  double state = whole.pre.params + whole.post.params, memory = 0;
  for (const auto& l : whole.layers) state += l.params;
  for (double m : sp.memory) memory += m;
  std::size_t next = state > memory ? all.size() : 0;
  while (next < all.size()) {
    if (all[next].time_bound >= cutoff()) break;
    if (options.monitor.stop_requested() || since(t0) > options.time_limit) {
      res.complete = false;
      break;
    }
    const std::size_t end = std::min(all.size(), next + kRound);
    std::vector<std::optional<ConfigCandidate>> out(end - next);
    auto work = [&](int t) {
      for (std::size_t i = next + static_cast<std::size_t>(t); i < end; i += static_cast<std::size_t>(threads)) {
        const Candidate& c = all[i];
        auto ev = evaluate_prepared(graph, sp.layouts.at(c.config.tp), cluster, c.config, cm, quick);
        if (ev.ok()) out[i - next] = candidate_of(*ev, c.time_bound);
      }
    };
    if (threads == 1) {
      work(0);
    } else {
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
      for (auto& th : pool) th.join();
    }
    for (auto& c : out) {
      if (!c) {
        ++res.failed;
        continue;
      }
      ++res.evaluated;
      // One entry per structure (the same devices and pipeline, other settings): the runners-up
      // show different ways to use the cluster, not the same one with another ZeRO stage.
      auto& list = c->fits ? fitting : too_big;
      const auto same = std::find_if(list.begin(), list.end(), [&](const ConfigCandidate& x) { return same_structure(x.config, c->config); });
      if (same != list.end()) {
        if (same->iteration_seconds <= c->iteration_seconds) continue;
        list.erase(same);
      }
      const auto at = std::upper_bound(list.begin(), list.end(), c->iteration_seconds,
                                       [](double t, const ConfigCandidate& x) { return t < x.iteration_seconds; });
      list.insert(at, std::move(*c));
      if (fitting.size() > static_cast<std::size_t>(options.keep)) fitting.pop_back();
      if (too_big.size() > 3) too_big.pop_back();
    }
    // Progress after the round, on the calling thread: improvements always, else at the interval.
    if (options.monitor.progress) {
      const double best = fitting.empty() ? std::numeric_limits<double>::infinity() : fitting.front().iteration_seconds;
      const bool improved = best < reported_best;
      if (improved || since(t0) - reported_at >= options.monitor.interval) {
        PlanProgress p;
        p.step = "parallel-config search";
        p.elapsed_seconds = since(t0);
        p.best = best;
        p.bound = res.lower_bound;
        p.improved = improved;
        options.monitor.progress(p);
        reported_best = std::min(reported_best, best), reported_at = p.elapsed_seconds;
      }
    }
    next = end;
  }
  res.pruned_bound = static_cast<std::int64_t>(all.size() - next);
  res.layer_costings = sp.costings;

  if (fitting.empty()) {
    if (!res.complete)
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("the configuration search stopped ({}) after {} of {} candidates before it found one "
                                "that fits; raise the time limit",
                                options.monitor.stop_requested() ? "stop requested" : "time limit", res.evaluated,
                                res.enumerated));
    // Name the configuration that needs the least memory, with its real figures when it was
    // only bounded.
    std::optional<ConfigCandidate> least;
    for (const auto& c : too_big)
      if (!least || c.memory_bytes - c.capacity_bytes < least->memory_bytes - least->capacity_bytes) least = c;
    if (!smallest.empty()) {
      auto ev = evaluate_prepared(graph, sp.layouts.at(smallest[0].config.tp), cluster, smallest[0].config, cm, quick);
      if (ev.ok()) {
        ConfigCandidate c = candidate_of(*ev, smallest[0].time_bound);
        if (!least || c.memory_bytes - c.capacity_bytes < least->memory_bytes - least->capacity_bytes) least = c;
      }
    }
    const std::string totals = fmt::format(
        "; the weights, gradients and optimizer state alone take {:.3g} TB ({}), the {} devices have {:.4g} GB in all",
        state / 1e12, state > memory ? "more than the cluster holds: use a lighter optimizer or more devices" : "less than the cluster holds",
        cluster.num_devices(), memory / 1e9);
    return Status(StatusCode::kFailedPrecondition,
                  least ? fmt::format("no parallel configuration of '{}' fits on '{}' ({} candidates): the one that needs "
                                      "the least memory, {}, {}{}",
                                      graph.name(), cluster.name(), res.enumerated, least->config.ToString(),
                                      least->memory_problem, totals)
                        : fmt::format("no parallel configuration of '{}' on '{}' could be evaluated ({} candidates)",
                                      graph.name(), cluster.name(), res.enumerated));
  }

  EvaluateOptions full = options.evaluate;
  auto best = evaluate_prepared(graph, sp.layouts.at(fitting.front().config.tp), cluster, fitting.front().config, cm, full);
  if (!best.ok()) return best.status();
  res.best = std::move(*best);
  const ConfigCandidate& top = fitting.front();
  for (auto& c : fitting) c.verdict = &c == &fitting.front() ? "chosen" : verdict(c, top);
  for (auto& c : too_big) c.verdict = verdict(c, top);
  res.ranked = std::move(fitting);
  res.too_big = std::move(too_big);

  auto judge = [&](const ParallelConfig& c) -> std::optional<ConfigCandidate> {
    auto layout = sp.layouts.find(c.tp);
    std::optional<GraphLayout> own;
    if (layout == sp.layouts.end()) {
      auto l = layout_graph(graph, c.tp);
      if (!l.ok()) {
        ConfigCandidate x;
        x.config = c;
        x.verdict = "cannot run: " + l.status().message();
        return x;
      }
      own = std::move(*l);
    }
    auto ev = evaluate_prepared(graph, own ? *own : layout->second, cluster, c, cm, quick);
    if (!ev.ok()) {
      ConfigCandidate x;
      x.config = c;
      x.verdict = "cannot run: " + ev.status().message();
      return x;
    }
    ConfigCandidate x = candidate_of(*ev, 0);
    x.verdict = verdict(x, res.ranked.front());
    return x;
  };
  for (const ParallelConfig& r : options.references)
    if (auto x = judge(r)) res.references.push_back(std::move(*x));
  // Plain data parallelism over every device: its fastest micro-batch size that fits.
  const std::int64_t D = static_cast<std::int64_t>(cluster.num_devices());
  if (G % D == 0) {
    for (int mbs : divisors(G / D, options.max_micro_batch_size)) {
      ParallelConfig c;
      c.dp = static_cast<int>(D), c.micro_batch_size = mbs, c.global_batch = G;
      c.flash_attention = options.flash_attention, c.overlap_tp_comm = options.overlap_tp_comm;
      c.overlap_grad_reduce = options.overlap_grad_reduce, c.overlap_param_gather = options.overlap_param_gather;
      auto x = judge(c);
      if (!x || x->verdict.rfind("cannot run", 0) == 0) continue;
      if (!res.data_parallel || (x->fits && !res.data_parallel->fits) ||
          (x->fits == res.data_parallel->fits && x->iteration_seconds < res.data_parallel->iteration_seconds))
        res.data_parallel = std::move(*x);
    }
  }
  res.seconds = since(t0);
  return res;
}

OPPLAN_END_NAMESPACE
