// evaluate(): one configuration's iteration time and memory (evaluate.hpp, docs/evaluate.md).
//
// Steps: check the configuration against the graph and cluster; cost every layer on the devices
// and groups of the pipeline rank that holds it (layer_profile.cpp); build the pipeline of
// virtual stages and let the schedule generator and the event simulator time it; add the
// data-parallel reduction (overlapped with the last backward where the framework overlaps it)
// and the optimizer step; add up each rank's memory with the schedule's micro-batches in flight.
#include <opplan/evaluate.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "configs/evaluate_internal.hpp"
#include "core/gradient_sync.hpp"

OPPLAN_BEGIN_NAMESPACE

using configs_detail::GraphLayout;
using configs_detail::RankContext;
using configs_detail::UnitCost;

bool EvaluateOptions::IsValid(std::string* error) const {
  std::string problem;
  if (!(reserve_bytes >= 0) || std::isinf(reserve_bytes))
    problem = fmt::format("reserve_bytes must be finite and >= 0 (is {})", reserve_bytes);
  else if (!(fragmentation >= 0 && fragmentation < 1))
    problem = fmt::format("fragmentation must be in [0, 1) (is {})", fragmentation);
  else if (!(bucket_bytes > 0) || std::isinf(bucket_bytes))
    problem = fmt::format("bucket_bytes must be finite and > 0 (is {})", bucket_bytes);
  if (error) *error = problem;
  return problem.empty();
}

double Evaluation::model_tflops_per_device() const {
  return iteration_seconds > 0 && num_devices > 0 ? model_flops / iteration_seconds / num_devices / 1e12 : 0;
}
double Evaluation::hardware_tflops_per_device() const {
  return iteration_seconds > 0 && num_devices > 0 ? hardware_flops / iteration_seconds / num_devices / 1e12 : 0;
}

namespace {

Status invalid(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

// Devices alike for costing: same model name and figures.
bool same_kind(const Device& a, const Device& b) {
  return a.model == b.model && a.peak_flops == b.peak_flops && a.peaks == b.peaks &&
         a.memory_bandwidth == b.memory_bandwidth;
}

}  // namespace

namespace configs_detail {

PipelineShape pipeline_shape(const ParallelConfig& c) {
  PipelineShape p;
  p.stages = c.pp * c.vpp;
  switch (c.schedule) {
    case PipelineSchedule::kGPipe: p.kind = ScheduleKind::kGPipe; break;
    case PipelineSchedule::k1F1B: p.kind = ScheduleKind::k1F1B; break;
    case PipelineSchedule::kInterleaved:
      if (c.vpp > 1) p.placement = Placement::kInterleaved, p.kind = ScheduleKind::kInterleaved;
      break;
    case PipelineSchedule::kZBH1: p.kind = ScheduleKind::kZBH1, p.split_w = true; break;
    case PipelineSchedule::kZBV: p.placement = Placement::kV, p.kind = ScheduleKind::kGreedy, p.split_w = true; break;
    case PipelineSchedule::kDualPipe: p.placement = Placement::kDualPipe, p.kind = ScheduleKind::kDualPipe, p.split_w = true; break;
    case PipelineSchedule::kDualPipeV: p.placement = Placement::kV, p.kind = ScheduleKind::kDualPipeV, p.split_w = true; break;
  }
  return p;
}

RankContext rank_context(const Cluster& cluster, const ParallelConfig& config, int p) {
  RankContext r;
  const std::int64_t block = std::int64_t{config.tp} * config.cp * config.dp;  // devices per rank
  const std::int64_t base = p * block;
  for (std::int64_t i = 0; i < block; ++i) {
    const Device& d = cluster.device(DeviceId(static_cast<std::uint32_t>(base + i)));
    if (std::none_of(r.device_kinds.begin(), r.device_kinds.end(), [&](const Device* k) { return same_kind(*k, d); }))
      r.device_kinds.push_back(&d);
  }
  for (int t = 0; t < config.tp; ++t) r.tp_group.push_back(DeviceId(static_cast<std::uint32_t>(base + t)));
  for (int c = 0; c < config.cp; ++c) r.cp_group.push_back(DeviceId(static_cast<std::uint32_t>(base + c * config.tp)));
  for (int e = 0; e < config.ep; ++e)
    r.ep_group.push_back(DeviceId(static_cast<std::uint32_t>(base + std::int64_t{e} * config.tp * config.cp)));
  return r;
}

Result<OpAssignment> assign_ops(const Graph& graph, const GraphLayout& layout, const ParallelConfig& config) {
  const PipelineShape shape = pipeline_shape(config);
  auto routes = placement_routes(shape.placement, config.pp, config.vpp);
  if (!routes.ok()) return routes.status();
  const int S = shape.stages, L = static_cast<int>(layout.layers.size());
  std::vector<int> per_stage = config.layers_per_stage;
  if (per_stage.empty()) per_stage.assign(static_cast<std::size_t>(S), S > 0 && L % S == 0 ? L / S : 0);
  if (static_cast<int>(per_stage.size()) != S || std::accumulate(per_stage.begin(), per_stage.end(), 0) != L)
    return Status(StatusCode::kInvalidArgument, "parallel configuration: the layers do not split over the stages");
  OpAssignment a;
  a.rank.assign(graph.num_ops(), 0);
  a.sharding.assign(graph.num_ops(), "replicated");
  const auto& route = routes->front();
  int layer = 0;
  for (int s = 0; s < S; ++s)
    for (int n = 0; n < per_stage[static_cast<std::size_t>(s)]; ++n, ++layer)
      for (OpId id : layout.layers[static_cast<std::size_t>(layer)]) a.rank[id.value()] = route[static_cast<std::size_t>(s)];
  for (OpId id : layout.pre) a.rank[id.value()] = route.front();
  for (OpId id : layout.post) a.rank[id.value()] = route.back();
  for (OpId id : graph.ops()) {
    const OpRole& r = layout.roles[id.value()];
    std::string& text = a.sharding[id.value()];
    if (r.expert && config.ep > 1) text = fmt::format("expert EP {}", config.ep);
    else if (config.tp > 1 && r.tp == TpRole::kColumn) text = fmt::format("column TP {}", config.tp);
    else if (config.tp > 1 && r.tp == TpRole::kRow) text = fmt::format("row TP {}", config.tp);
    else if (config.tp > 1 && r.tp == TpRole::kVocab) text = fmt::format("vocab TP {}", config.tp);
    else if (config.tp > 1 && r.tp == TpRole::kSplit) text = fmt::format("split TP {}", config.tp);
    else if (config.tp > 1 && config.sequence_parallel) text = fmt::format("sequence TP {}", config.tp);
  }
  return a;
}

}  // namespace configs_detail

namespace {

std::string gb(double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); }

}  // namespace

Result<Evaluation> evaluate(const Graph& graph, const Cluster& cluster, const ParallelConfig& config,
                            const CostModel& cm, const EvaluateOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) return invalid("evaluate options: " + error);
  if (Status s = config.validate(); !s.ok()) return s;
  if (Status s = graph.validate(); !s.ok()) return s;
  if (Status s = cluster.validate(); !s.ok()) return s;
  auto layout = configs_detail::layout_graph(graph, config.tp);
  if (!layout.ok()) return layout.status();
  return configs_detail::evaluate_prepared(graph, *layout, cluster, config, cm, options);
}

namespace configs_detail {

Result<Evaluation> evaluate_prepared(const Graph& graph, const GraphLayout& layout, const Cluster& cluster,
                                     const ParallelConfig& config, const CostModel& cm, const EvaluateOptions& options) {
  if (Status s = config.validate(); !s.ok()) return s;
  const std::int64_t devices = config.num_devices();
  if (devices != static_cast<std::int64_t>(cluster.num_devices()))
    return invalid(fmt::format("parallel configuration: dp x tp x pp x cp = {} x {} x {} x {} = {} devices, but cluster "
                               "'{}' has {}",
                               config.dp, config.tp, config.pp, config.cp, devices, cluster.name(),
                               cluster.num_devices()));
  const std::int64_t seq = graph.sequence_length();
  if (config.cp > 1 && (seq <= 0 || seq % config.cp != 0))
    return invalid(seq <= 0 ? fmt::format("parallel configuration: cp {} needs a graph with a sequence length", config.cp)
                            : fmt::format("parallel configuration: cp {} does not divide the sequence length {}",
                                          config.cp, seq));

  // Expert parallelism needs experts to split: every expert op's leading dimension.
  if (config.ep > 1) {
    bool any = false;
    for (OpId id : graph.ops()) {
      if (!layout.roles[id.value()].expert) continue;
      any = true;
      const Op& op = graph.op(id);
      if (!op.shape.empty() && op.shape[0] % config.ep != 0)
        return invalid(fmt::format("parallel configuration: ep {} does not divide the {} experts of op '{}'", config.ep,
                                   op.shape[0], op.name));
    }
    if (!any) return invalid(fmt::format("parallel configuration: ep {} but the graph has no expert ops", config.ep));
  }

  // Virtual stages and their layers.
  const PipelineShape shape = pipeline_shape(config);
  const int S = shape.stages;
  const int L = static_cast<int>(layout.layers.size());
  std::vector<int> per_stage = config.layers_per_stage;
  if (per_stage.empty()) {
    if (L == 0 && S > 1)
      return invalid(fmt::format("parallel configuration: pp x vpp = {} stages need a graph with layer tags", S));
    if (L % S != 0)
      return invalid(fmt::format("parallel configuration: pp x vpp = {} x {} = {} does not divide the {} layers; give "
                                 "layers_per_stage",
                                 config.pp, config.vpp, S, L));
    per_stage.assign(static_cast<std::size_t>(S), L / S);
  } else if (std::accumulate(per_stage.begin(), per_stage.end(), 0) != L) {
    return invalid(fmt::format("parallel configuration: layers_per_stage adds up to {}, the graph has {} layers",
                               std::accumulate(per_stage.begin(), per_stage.end(), 0), L));
  }
  const double samples = graph.samples() > 0 ? static_cast<double>(graph.samples()) : 1.0;
  const double scale = config.micro_batch_size / samples;
  const std::int64_t N = config.num_micro_batches();

  // Pipeline spec: one device per pipeline rank; each virtual stage on its placement's device.
  auto routes = placement_routes(shape.placement, config.pp, config.vpp);
  if (!routes.ok()) return routes.status();
  const std::int64_t block = std::int64_t{config.tp} * config.cp * config.dp;  // devices per rank
  std::vector<RankContext> ranks;
  for (int p = 0; p < config.pp; ++p) ranks.push_back(rank_context(cluster, config, p));
  // The device of each stage (on route 0, and DualPipe's route 1).
  std::vector<std::vector<int>> stage_devices(static_cast<std::size_t>(S));
  for (const auto& route : *routes)
    for (int s = 0; s < S; ++s) stage_devices[static_cast<std::size_t>(s)].push_back(route[static_cast<std::size_t>(s)]);

  // Cost every stage on each device that holds it (the slower one sets its times).
  std::vector<UnitCost> stage_cost(static_cast<std::size_t>(S));
  std::vector<std::vector<std::pair<int, UnitCost>>> rank_stages(static_cast<std::size_t>(config.pp));
  int next_layer = 0;
  std::vector<std::pair<int, int>> stage_layers(static_cast<std::size_t>(S));
  for (int s = 0; s < S; ++s) {
    stage_layers[static_cast<std::size_t>(s)] = {next_layer, next_layer + per_stage[static_cast<std::size_t>(s)]};
    next_layer += per_stage[static_cast<std::size_t>(s)];
  }
  for (int s = 0; s < S; ++s) {
    UnitCost worst;
    bool first = true;
    for (int dev : stage_devices[static_cast<std::size_t>(s)]) {
      const RankContext& rank = ranks[static_cast<std::size_t>(dev)];
      UnitCost u;
      if (s == 0) u += cost_unit(graph, layout, layout.pre, false, config, scale, cluster, cm, rank);
      for (int l = stage_layers[static_cast<std::size_t>(s)].first; l < stage_layers[static_cast<std::size_t>(s)].second; ++l)
        u += cost_unit(graph, layout, layout.layers[static_cast<std::size_t>(l)], true, config, scale, cluster, cm, rank);
      if (s == S - 1) u += cost_unit(graph, layout, layout.post, false, config, scale, cluster, cm, rank);
      rank_stages[static_cast<std::size_t>(dev)].emplace_back(s, u);
      if (first) worst = u, first = false;
      else worst.take_slower_times(u);
    }
    stage_cost[static_cast<std::size_t>(s)] = worst;
  }

  // ZeRO-3 gathers every stage's weights per micro-batch in the forward and again in the backward,
  // and reduce-scatters its gradients in the backward; prefetching overlaps them with compute.
  auto dp_group_of = [&](int p) {
    std::vector<DeviceId> g;
    g.reserve(static_cast<std::size_t>(config.dp));
    const std::int64_t base = p * block;
    for (int d = 0; d < config.dp; ++d)
      g.push_back(DeviceId(static_cast<std::uint32_t>(base + std::int64_t{d} * config.tp * config.cp)));
    return g;
  };
  auto coll = [&](Collective c, const std::vector<DeviceId>& g, double bytes) {
    return g.size() > 1 ? cm.collective_time(cluster, c, g, bytes) : 0.0;
  };
  std::vector<std::vector<DeviceId>> dp_groups;
  for (int p = 0; p < config.pp; ++p) dp_groups.push_back(dp_group_of(p));

  Evaluation ev;
  ev.config = config;
  ev.num_devices = devices;
  ev.num_micro_batches = N;
  ev.tokens_per_sample = seq > 0 ? seq : 1;
  PipelineSpec& spec = ev.pipeline;
  spec.name = config.ToString();
  spec.num_devices = config.pp;
  spec.num_micro_batches = static_cast<int>(std::min<std::int64_t>(N, 1 << 30));
  spec.placement = shape.placement;
  spec.chunks = shape.placement == Placement::kInterleaved ? config.vpp : 1;
  spec.routes = *routes;
  std::vector<double> zero3_extra(static_cast<std::size_t>(S), 0);
  for (int s = 0; s < S; ++s) {
    const UnitCost& u = stage_cost[static_cast<std::size_t>(s)];
    StageSpec st;
    const bool tp_exposed = !config.overlap_tp_comm;
    st.forward = u.forward + (tp_exposed ? u.tp_forward : 0) + u.cp_forward + u.ep_forward;
    st.input_grad = u.input_grad + u.recompute + (tp_exposed ? u.tp_backward : 0) + u.cp_backward + u.ep_backward;
    st.weight_grad = u.weight_grad;
    if (config.zero == 3 && config.dp > 1) {
      const auto& g = dp_groups[static_cast<std::size_t>(stage_devices[static_cast<std::size_t>(s)].front())];
      const double gather = coll(Collective::kAllGather, g, u.weight_bytes);
      const double reduce = coll(Collective::kReduceScatter, g, u.params.gradients);
      const int layers = std::max(1, per_stage[static_cast<std::size_t>(s)]);
      if (config.overlap_param_gather) {
        // Prefetch hides a gather behind the previous layer; the first layer's is exposed.
        const double f = std::max(st.forward, gather) + gather / layers;
        const double b = std::max(st.input_grad + st.weight_grad, gather + reduce) + gather / layers;
        zero3_extra[static_cast<std::size_t>(s)] = (f - st.forward) + (b - st.input_grad - st.weight_grad);
        st.forward = f;
        st.input_grad = b - st.weight_grad;
      } else {
        zero3_extra[static_cast<std::size_t>(s)] = 2 * gather + reduce;
        st.forward += gather, st.input_grad += gather + reduce;
      }
    }
    if (!shape.split_w) st.backward = st.input_grad + st.weight_grad;
    st.activation = u.activations;
    // Megatron's scatter-gather sends one TP slice per device across stages.
    const double boundary = layout.boundary_bytes * scale / config.cp / config.tp;
    if (s + 1 < S) {
      const int a = stage_devices[static_cast<std::size_t>(s)].front(), b = stage_devices[static_cast<std::size_t>(s + 1)].front();
      st.p2p = a == b ? 0 : cm.transfer_time(cluster, DeviceId(static_cast<std::uint32_t>(a * block)),
                                             DeviceId(static_cast<std::uint32_t>(b * block)), boundary);
    }
    // The simulator rejects zero-time stages (a stage without layers); keep them a tick long.
    st.forward = std::max(st.forward, 1e-9), st.input_grad = std::max(st.input_grad, 1e-9);
    if (st.backward) st.backward = std::max(*st.backward, 1e-9);
    st.activation = std::max(st.activation, 0.0);
    spec.stages.push_back(st);
  }
  if (Status s = spec.validate(); !s.ok()) return invalid("parallel configuration: the pipeline is not valid: " + s.message());
  ScheduleOptions schedule_options;
  if (shape.kind == ScheduleKind::kGreedy) schedule_options.max_in_flight = 2 * config.pp;  // ZB-V: 1F1B's memory
  auto schedule = build_schedule(spec, shape.kind, schedule_options);
  if (!schedule.ok())
    return invalid(fmt::format("parallel configuration: schedule {} cannot run this pipeline ({} micro-batches on {} "
                               "stages): {}",
                               to_string(config.schedule), N, config.pp, schedule.status().message()));

  // Per pipeline rank: finish, data-parallel reduction, optimizer step, memory.
  double model_flops_mb = 0, recompute_flops_mb = 0;
  for (int s = 0; s < S; ++s) {
    model_flops_mb += stage_cost[static_cast<std::size_t>(s)].flops;
    recompute_flops_mb += stage_cost[static_cast<std::size_t>(s)].recompute_flops;
  }
  ev.model_flops = model_flops_mb * static_cast<double>(N) * config.dp;
  ev.hardware_flops = (model_flops_mb + recompute_flops_mb) * static_cast<double>(N) * config.dp;
  for (DeviceId id : cluster.devices()) ev.peak_flops += cluster.device(id).peak_for(layout.dtype);

  const auto& metrics = schedule->metrics;
  double worst_overflow = 0;
  double iteration = 0;
  int critical = 0;
  std::vector<double> rank_end(static_cast<std::size_t>(config.pp));
  ev.stages.resize(static_cast<std::size_t>(config.pp));
  for (int p = 0; p < config.pp; ++p) {
    StageEvaluation& se = ev.stages[static_cast<std::size_t>(p)];
    const auto& dm = metrics.devices[static_cast<std::size_t>(p)];
    se.rank = p;
    se.first_device = p * block;
    se.finish = dm.last_end;
    se.busy = dm.busy;
    se.peak_micro_batches = dm.peak_activations;
    UnitCost all;
    double window = 0;
    for (const auto& [s, u] : rank_stages[static_cast<std::size_t>(p)]) {
      all += u;
      se.layers += per_stage[static_cast<std::size_t>(s)];
      const StageSpec& st = spec.stages[static_cast<std::size_t>(s)];
      se.forward += st.forward;
      se.backward += st.backward_time();
      window += st.backward_time();
    }
    // Data parallelism.
    const auto& group = dp_groups[static_cast<std::size_t>(p)];
    double reduce = 0, gather = 0;
    if (config.dp > 1 && config.zero < 3) {
      if (config.zero == 0) reduce = coll(Collective::kAllReduce, group, all.params.gradients);
      else reduce = coll(Collective::kReduceScatter, group, all.params.gradients),
           gather = coll(Collective::kAllGather, group, all.params.weights);
    }
    const double bucket = std::min(options.bucket_bytes, all.params.gradients);
    const double last_bucket =
        config.dp > 1 && config.zero < 3 ? coll(config.zero == 0 ? Collective::kAllReduce : Collective::kReduceScatter, group, bucket) : 0;
    double exposed = config.overlap_grad_reduce ? detail::exposed_gradient_sync(reduce, window, last_bucket) : reduce;
    if (gather > 0) exposed += config.overlap_param_gather ? std::min(gather, coll(Collective::kAllGather, group, bucket)) : gather;
    se.dp_seconds = reduce + gather;
    se.dp_exposed = exposed;
    // The optimizer step: elementwise over the rank's share of the parameters (ZeRO >= 1 shards it),
    // reading and writing weights, gradients and the optimizer state once.
    const double shard = config.zero >= 1 ? config.dp : 1;
    Op step;
    step.name = "optimizer_step";
    step.kind = "elementwise";
    const double state = (all.params.weights + all.params.gradients + all.params.optimizer) / shard;
    step.forward.bytes = 2 * state;
    step.forward.flops = 5 * all.params.weights / std::max(1, size_in_bytes(layout.dtype)) / shard;
    double step_seconds = 0;
    for (const Device* d : ranks[static_cast<std::size_t>(p)].device_kinds)
      step_seconds = std::max(step_seconds, cm.op_time(step, Phase::kForward, *d));
    const double end = se.finish + exposed + step_seconds;
    rank_end[static_cast<std::size_t>(p)] = end;
    if (end > iteration) iteration = end, critical = p;

    // Memory per device.
    MemoryBreakdown& m = se.memory;
    // ZeRO shards a tensor over the ranks that hold a copy of it: all DP ranks for dense
    // parameters, the DP / EP ranks holding the same experts for expert parameters.
    const auto sharded = [&](double total, double expert, bool on) {
      if (!on) return total;
      return (total - expert) / config.dp + expert / std::max(1, config.dp / config.ep);
    };
    m.weights = sharded(all.params.weights, all.expert_params.weights, config.zero >= 3);
    m.gradients = sharded(all.params.gradients, all.expert_params.gradients, config.zero >= 2);
    m.optimizer = sharded(all.params.optimizer, all.expert_params.optimizer, config.zero >= 1);
    m.activations = dm.peak_activation_memory;
    if (config.recompute == ActivationRecompute::kFull) m.activations += all.largest_layer;  // one layer rebuilt
    m.buffers = all.largest_tensor;
    if (config.zero >= 3 && config.dp > 1) {
      double layer_weights = 0;  // the largest layer's gathered weights, twice (in use and prefetched)
      for (const auto& [s, u] : rank_stages[static_cast<std::size_t>(p)])
        layer_weights = std::max(layer_weights, u.weight_bytes / std::max(1, per_stage[static_cast<std::size_t>(s)]));
      m.buffers += 2 * layer_weights;
    } else if (config.dp > 1) {
      m.buffers += bucket;  // the bucket in flight
    }
    m.reserve = options.reserve_bytes + options.fragmentation * (m.total() - m.reserve);
    se.capacity = 0;
    for (std::int64_t i = 0; i < block; ++i) {
      const Device& d = cluster.device(DeviceId(static_cast<std::uint32_t>(se.first_device + i)));
      if (se.capacity == 0 || d.memory_bytes < se.capacity) se.capacity = d.memory_bytes, se.tightest_device = d.name;
    }
    // Name the device that overflows most (not merely the first rank over its capacity).
    const double over = m.total() - se.capacity;
    if (!se.fits() && (ev.fits || over > worst_overflow)) {
      ev.fits = false;
      worst_overflow = over;
      ev.memory_problem = fmt::format("device '{}' (pipeline rank {}) needs {} but has {}: {} over; {} is the largest part "
                                      "({})",
                                      se.tightest_device, p, gb(m.total()), gb(se.capacity), gb(m.total() - se.capacity),
                                      m.largest(), m.ToString());
    }
    if (m.total() > ev.peak_memory.total()) ev.peak_memory = m;
  }

  ev.iteration_seconds = iteration;
  const double batch = static_cast<double>(config.effective_global_batch());
  ev.samples_per_second = iteration > 0 ? batch / iteration : 0;
  ev.tokens_per_second = ev.samples_per_second * static_cast<double>(ev.tokens_per_sample);
  ev.mfu = iteration > 0 && ev.peak_flops > 0 ? ev.model_flops / iteration / ev.peak_flops : 0;
  ev.hfu = iteration > 0 && ev.peak_flops > 0 ? ev.hardware_flops / iteration / ev.peak_flops : 0;

  // Where the critical rank's time goes.
  TimeBreakdown& b = ev.breakdown;
  // Micro-batches through each (stage, route) the rank holds: DualPipe splits them over two routes.
  const double n = static_cast<double>(N) / static_cast<double>(routes->size());
  UnitCost crit;
  for (const auto& [s, u] : rank_stages[static_cast<std::size_t>(critical)]) crit += u;
  b.compute = n * (crit.forward + crit.input_grad + crit.weight_grad);
  b.recompute = n * crit.recompute;
  b.tp_comm = config.overlap_tp_comm ? 0 : n * (crit.tp_forward + crit.tp_backward);
  b.cp_comm = n * (crit.cp_forward + crit.cp_backward);
  b.ep_comm = n * (crit.ep_forward + crit.ep_backward);
  double z3 = 0;
  for (const auto& [s, u] : rank_stages[static_cast<std::size_t>(critical)]) z3 += zero3_extra[static_cast<std::size_t>(s)];
  const StageEvaluation& cs = ev.stages[static_cast<std::size_t>(critical)];
  b.dp_comm = cs.dp_exposed + n * z3;
  b.optimizer = rank_end[static_cast<std::size_t>(critical)] - cs.finish - cs.dp_exposed;
  b.bubble = std::max(0.0, cs.finish - cs.busy);
  ev.schedule = std::move(*schedule);
  if (!options.keep_schedule)
    for (auto& tasks : ev.schedule.device_tasks) tasks.clear(), tasks.shrink_to_fit();
  return ev;
}

}  // namespace configs_detail

std::string Evaluation::BriefReport() const {
  return fmt::format("{}: {:.3f} s per iteration, {:.1f} samples/s, {:.0f} tokens/s, MFU {:.1f} %, {:.0f} model TFLOP/s "
                     "per device; memory {} per device{}",
                     config.ToString(), iteration_seconds, samples_per_second, tokens_per_second, 100 * mfu,
                     model_tflops_per_device(), gb(peak_memory.total()),
                     fits ? " (fits)" : fmt::format(" (does not fit: {})", memory_problem));
}

std::string Evaluation::FullReport() const {
  const TimeBreakdown& b = breakdown;
  std::string s = BriefReport();
  s += fmt::format("\n{} devices, {} micro-batches per replica; hardware FLOPs {:.1f} TFLOP/s per device (HFU {:.1f} %)",
                   num_devices, num_micro_batches, hardware_tflops_per_device(), 100 * hfu);
  s += fmt::format("\ntime: compute {:.3f} s, recompute {:.3f} s, TP {:.3f} s, CP {:.3f} s, EP {:.3f} s, DP {:.3f} s, "
                   "bubble {:.3f} s, optimizer {:.3f} s",
                   b.compute, b.recompute, b.tp_comm, b.cp_comm, b.ep_comm, b.dp_comm, b.bubble, b.optimizer);
  s += fmt::format("\nmemory of the fullest device: {}", peak_memory.ToString());
  for (const StageEvaluation& st : stages)
    s += fmt::format("\n  rank {:>3}: {} layers, F {:.2f} ms, B {:.2f} ms per micro-batch, finishes {:.3f} s, DP {:.3f} s "
                     "({:.3f} exposed), {} micro-batches in flight, {} of {}{}",
                     st.rank, st.layers, 1e3 * st.forward, 1e3 * st.backward, st.finish, st.dp_seconds, st.dp_exposed,
                     st.peak_micro_batches, gb(st.memory.total()), gb(st.capacity), st.fits() ? "" : " (over)");
  return s;
}

OPPLAN_END_NAMESPACE
