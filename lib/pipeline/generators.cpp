// The fixed-pattern generators (GPipe, 1F1B, interleaved 1F1B, ZB-H1, DualPipe, DualPipeV) and the
// dispatch of generate_orders / build_schedule.
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <exception>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

OrderEntry entry(Work work, int route, int mb, int stage) {
  return OrderEntry{WorkItem{work, route, mb, stage}, std::nullopt};
}

}  // namespace

PipelineOrders gpipe_orders(const PipelineSpec& spec) {
  const int P = spec.num_devices, M = spec.micro_batches_per_route();
  PipelineOrders out;
  out.devices.resize(static_cast<std::size_t>(P));
  for (int s = 0; s < P; ++s) {
    auto& prog = out.devices[static_cast<std::size_t>(s)];
    prog.reserve(2 * static_cast<std::size_t>(M));
    for (int m = 0; m < M; ++m) prog.push_back(entry(Work::kForward, 0, m, s));
    for (int m = 0; m < M; ++m) prog.push_back(entry(Work::kBackward, 0, m, s));
  }
  return out;
}

PipelineOrders one_f_one_b_orders(const PipelineSpec& spec) {
  const int P = spec.num_devices, M = spec.micro_batches_per_route();
  PipelineOrders out;
  out.devices.resize(static_cast<std::size_t>(P));
  for (int s = 0; s < P; ++s) {
    auto& prog = out.devices[static_cast<std::size_t>(s)];
    prog.reserve(2 * static_cast<std::size_t>(M));
    const int warmup = std::min(P - s - 1, M);
    int f = 0, b = 0;
    while (f < warmup) prog.push_back(entry(Work::kForward, 0, f++, s));
    while (f < M) {
      prog.push_back(entry(Work::kForward, 0, f++, s));
      prog.push_back(entry(Work::kBackward, 0, b++, s));
    }
    while (b < M) prog.push_back(entry(Work::kBackward, 0, b++, s));
  }
  return out;
}

// Megatron-LM's interleaved schedule: virtual micro-batches go through the device's chunks in groups
// of P micro-batches; warm-up (P - d - 1) * 2 + (v - 1) * P forwards, then one forward one backward.
Result<PipelineOrders> interleaved_orders(const PipelineSpec& spec) {
  const int P = spec.num_devices, M = spec.micro_batches_per_route(), v = spec.chunks;
  if (v == 1) return one_f_one_b_orders(spec);
  if (M % P != 0)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("interleaved 1F1B needs micro-batches in groups of the device count: {} micro-batches "
                              "is not a multiple of {} devices",
                              M, P));
  PipelineOrders out;
  out.devices.resize(static_cast<std::size_t>(P));
  const int total = M * v;
  const auto mb_of = [&](int k) { return (k / (P * v)) * P + k % P; };
  for (int d = 0; d < P; ++d) {
    auto& prog = out.devices[static_cast<std::size_t>(d)];
    prog.reserve(2 * static_cast<std::size_t>(total));
    const auto fwd = [&](int k) { return entry(Work::kForward, 0, mb_of(k), ((k / P) % v) * P + d); };
    const auto bwd = [&](int k) { return entry(Work::kBackward, 0, mb_of(k), (v - 1 - (k / P) % v) * P + d); };
    const int warmup = M == P ? total : std::min(total, (P - d - 1) * 2 + (v - 1) * P);
    int f = 0, b = 0;
    while (f < warmup) prog.push_back(fwd(f++));
    while (f < total) {
      prog.push_back(fwd(f++));
      prog.push_back(bwd(b++));
    }
    while (b < total) prog.push_back(bwd(b++));
  }
  return out;
}

// ZB-H1: stage s runs the 1F1B warm-up, then defers its first s weight-gradients (F, b pairs), then
// F, b, W; the deferred W run at the end, where 1F1B would wait. Every stage holds at most P
// activations, as 1F1B's first stage does.
PipelineOrders zb_h1_orders(const PipelineSpec& spec) {
  const int P = spec.num_devices, M = spec.micro_batches_per_route();
  PipelineOrders out;
  out.devices.resize(static_cast<std::size_t>(P));
  for (int s = 0; s < P; ++s) {
    auto& prog = out.devices[static_cast<std::size_t>(s)];
    prog.reserve(3 * static_cast<std::size_t>(M));
    int f = 0, b = 0, w = 0;
    const int warmup = std::min(P - s - 1, M);
    while (f < warmup) prog.push_back(entry(Work::kForward, 0, f++, s));
    for (int i = 0; i < s && f < M; ++i) {
      prog.push_back(entry(Work::kForward, 0, f++, s));
      prog.push_back(entry(Work::kInputGrad, 0, b++, s));
    }
    while (f < M) {
      prog.push_back(entry(Work::kForward, 0, f++, s));
      prog.push_back(entry(Work::kInputGrad, 0, b++, s));
      prog.push_back(entry(Work::kWeightGrad, 0, w++, s));
    }
    while (b < M) {
      prog.push_back(entry(Work::kInputGrad, 0, b++, s));
      prog.push_back(entry(Work::kWeightGrad, 0, w++, s));
    }
    while (w < M) prog.push_back(entry(Work::kWeightGrad, 0, w++, s));
  }
  return out;
}

namespace {

// One rank's DualPipe program, built step by step as in DeepSeek's description
// (docs/pipeline-schedules.md): phase 0 is the chunk whose micro-batches enter nearer to this rank.
class DualPipeRank {
 public:
  // phase_chunk[p] = (route, stage) of local phase p.
  DualPipeRank(std::pair<int, int> phase0, std::pair<int, int> phase1) : chunk_{phase0, phase1} {}

  WorkItem forward(int p) { return {Work::kForward, chunk_[p].first, next_f_[p]++, chunk_[p].second}; }
  // A full backward, or with `split` an input-gradient whose weight-gradient joins the FIFO queue.
  WorkItem backward(int p, bool split) {
    WorkItem w{split ? Work::kInputGrad : Work::kBackward, chunk_[p].first, next_b_[p]++, chunk_[p].second};
    if (split) queue_.push_back({Work::kWeightGrad, w.route, w.micro_batch, w.stage});
    return w;
  }
  void F(int p) { push(forward(p)); }
  void B(int p, bool split) { push(backward(p, split)); }
  void W() {
    push(queue_.front());
    queue_.pop_front();
  }
  void FB(int pf, int pb) {
    const WorkItem f = forward(pf);
    const WorkItem b = backward(pb, false);
    program_.push_back(OrderEntry{f, b});
  }
  bool queue_empty() const { return queue_.empty(); }
  std::vector<OrderEntry> take() { return std::move(program_); }

 private:
  void push(const WorkItem& w) { program_.push_back(OrderEntry{w, std::nullopt}); }

  std::pair<int, int> chunk_[2];
  int next_f_[2] = {0, 0};
  int next_b_[2] = {0, 0};
  std::deque<WorkItem> queue_;
  std::vector<OrderEntry> program_;
};

}  // namespace

Result<PipelineOrders> dualpipe_orders(const PipelineSpec& spec, bool v_shape) {
  // DualPipeV on R devices runs DualPipe's programs of ranks 0..R-1 with P = 2R and one route whose
  // stage r and 2R-1-r share a device.
  const int devices = spec.num_devices;
  const int P = v_shape ? 2 * devices : devices;
  const int M = spec.micro_batches_per_route();
  const int N = spec.num_micro_batches;
  if (!v_shape) {
    if (P % 2 != 0)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("DualPipe needs an even number of devices (two stages meet in the middle), got {}", P));
    if (N < 2 * P)
      return Status(
          StatusCode::kInvalidArgument,
          fmt::format("DualPipe needs at least 2P = {} micro-batches ({} per direction), got {}", 2 * P, P, N));
  } else if (N < 2 * devices) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("DualPipeV needs at least 2R = {} micro-batches on R = {} devices, got {}", 2 * devices,
                              devices, N));
  }
  const int H = P / 2;
  PipelineOrders out;
  out.devices.resize(static_cast<std::size_t>(devices));
  for (int r = 0; r < devices; ++r) {
    const int h = std::min(r, P - 1 - r);
    std::pair<int, int> p0, p1;
    if (v_shape) {
      p0 = {0, r};
      p1 = {0, P - 1 - r};
    } else if (r < H) {
      p0 = {0, r};
      p1 = {1, P - 1 - r};
    } else {
      p0 = {1, P - 1 - r};
      p1 = {0, r};
    }
    DualPipeRank k(p0, p1);
    // 1: the nearer direction's warm-up.
    for (int i = 0; i < 2 * (H - h - 1); ++i) k.F(0);
    // 2: both directions' forwards interleaved.
    for (int i = 0; i < h + 1; ++i) {
      k.F(0);
      k.F(1);
    }
    // 3: the farther direction's first backwards, split, their W right away.
    for (int i = 0; i < H - h - 1; ++i) {
      k.B(1, true);
      k.W();
      k.F(1);
    }
    // 4: the main loop of overlapped pairs; the two middle ranks start un-overlapped.
    for (int i = 0; i < M - P + h + 1; ++i) {
      if (i == 0 && (r == H - 1 || r == H)) {
        k.F(0);
        k.B(1, false);
      } else {
        k.FB(0, 1);
      }
      k.FB(1, 0);
    }
    // 5
    for (int i = 0; i < H - h - 1; ++i) {
      k.B(1, false);
      k.FB(1, 0);
    }
    // 6: drain the backwards; the split into b and W turns on half-way so that h + 1 are split.
    bool split = false;
    for (int i = 0; i < h + 1; ++i) {
      if (i == (h + 1) / 2 && h % 2 == 1) split = true;
      k.B(1, split);
      if (i == (h + 1) / 2 && h % 2 == 0) split = true;
      k.B(0, split);
    }
    // 7
    for (int i = 0; i < H - h - 1; ++i) {
      k.W();
      k.B(0, true);
    }
    // 8
    for (int i = 0; i < h + 1; ++i) k.W();
    if (!k.queue_empty())
      return Status(StatusCode::kInternal, fmt::format("DualPipe rank {} left weight-gradients queued", r));
    out.devices[static_cast<std::size_t>(r)] = k.take();
  }
  return out;
}

}  // namespace detail

namespace {

Result<PipelineOrders> generate_orders_impl(const PipelineSpec& spec, ScheduleKind kind,
                                            const ScheduleOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, fmt::format("schedule options: {}", error));
  if (Status s = spec.validate(); !s.ok()) return s;
  const Placement need = required_placement(kind);
  if (kind != ScheduleKind::kGreedy && spec.placement != need)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("schedule '{}' needs the '{}' placement, the spec has '{}'", to_string(kind),
                              to_string(need), to_string(spec.placement)));
  // A built-in placement must have its own routes (a hand-edited spec could say "linear" and differ).
  if (spec.placement != Placement::kCustom) {
    auto expected = placement_routes(spec.placement, spec.num_devices, spec.chunks);
    if (!expected.ok()) return expected.status();
    if (*expected != spec.routes)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("the spec's routes are not those of its '{}' placement", to_string(spec.placement)));
  }
  switch (kind) {
    case ScheduleKind::kGPipe: return detail::gpipe_orders(spec);
    case ScheduleKind::k1F1B: return detail::one_f_one_b_orders(spec);
    case ScheduleKind::kInterleaved: return detail::interleaved_orders(spec);
    case ScheduleKind::kZBH1: return detail::zb_h1_orders(spec);
    case ScheduleKind::kZBH2:
      return detail::greedy_orders(spec, options.max_in_flight > 0 ? options.max_in_flight : 2 * spec.num_devices - 1);
    case ScheduleKind::kZeroBubble: return detail::zero_bubble_orders(spec, options);
    case ScheduleKind::kDualPipe: return detail::dualpipe_orders(spec, false);
    case ScheduleKind::kDualPipeV: return detail::dualpipe_orders(spec, true);
    case ScheduleKind::kGreedy: return detail::greedy_orders(spec, options.max_in_flight);
  }
  return Status(StatusCode::kInvalidArgument, "unknown schedule kind");
}

}  // namespace

Result<PipelineOrders> generate_orders(const PipelineSpec& spec, ScheduleKind kind, const ScheduleOptions& options) {
  try {
    return generate_orders_impl(spec, kind, options);
  } catch (const std::exception& e) {  // only resource exhaustion can get here: bad input is a Status
    return Status(StatusCode::kInternal, fmt::format("generating the {} orders failed: {}", to_string(kind), e.what()));
  }
}

Result<Schedule> build_schedule(const PipelineSpec& spec, ScheduleKind kind, const ScheduleOptions& options) {
  auto orders = generate_orders(spec, kind, options);
  if (!orders.ok()) return orders.status();
  SimulateOptions sim;
  sim.serialize_links = options.serialize_links;
  sim.name = to_string(kind);
  return simulate(spec, *orders, sim);
}

OPPLAN_END_NAMESPACE
