// PipelineSpec: placements, validation, names of placements and schedule kinds.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opplan/pipeline.hpp>
#include <set>
#include <utility>

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr const char* kPlacementNames[] = {"linear", "interleaved", "dualpipe", "v", "custom"};
constexpr const char* kKindNames[] = {"gpipe", "1f1b",     "interleaved", "zb-h1", "zb-h2",
                                      "zb",    "dualpipe", "dualpipev",   "greedy"};

bool finite(double x) { return std::isfinite(x); }

constexpr double kMaxWorkPairs = 1e7;
// Stages of a built-in placement at most: every schedule needs at least one (micro-batch, stage)
// pair per stage, so more could never pass validate(); refused before the routes are allocated.
constexpr double kMaxStages = kMaxWorkPairs;

}  // namespace

const char* to_string(Placement placement) {
  const auto i = static_cast<std::size_t>(placement);
  return i < std::size(kPlacementNames) ? kPlacementNames[i] : "unknown";
}

std::optional<Placement> parse_placement(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kPlacementNames); ++i)
    if (name == kPlacementNames[i]) return static_cast<Placement>(i);
  return std::nullopt;
}

const char* to_string(ScheduleKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kKindNames) ? kKindNames[i] : "unknown";
}

std::optional<ScheduleKind> parse_schedule_kind(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kKindNames); ++i)
    if (name == kKindNames[i]) return static_cast<ScheduleKind>(i);
  // Common spellings.
  if (name == "zb1p" || name == "zbh1") return ScheduleKind::kZBH1;
  if (name == "zb2p" || name == "zbh2") return ScheduleKind::kZBH2;
  if (name == "zero-bubble" || name == "zbpp") return ScheduleKind::kZeroBubble;
  if (name == "interleaved-1f1b") return ScheduleKind::kInterleaved;
  return std::nullopt;
}

Placement required_placement(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kInterleaved: return Placement::kInterleaved;
    case ScheduleKind::kDualPipe: return Placement::kDualPipe;
    case ScheduleKind::kDualPipeV: return Placement::kV;
    default: return Placement::kLinear;
  }
}

bool ScheduleOptions::IsValid(std::string* error) const {
  if (max_in_flight < 0) {
    if (error) *error = fmt::format("max_in_flight must be >= 0 (0 = the kind's default), got {}", max_in_flight);
    return false;
  }
  return true;
}

double PipelineSpec::cap(int device) const {
  if (memory_cap.empty() || device < 0) return std::numeric_limits<double>::infinity();
  if (memory_cap.size() == 1) return memory_cap[0];
  return static_cast<std::size_t>(device) < memory_cap.size() ? memory_cap[static_cast<std::size_t>(device)]
                                                              : std::numeric_limits<double>::infinity();
}

double PipelineSpec::param_memory(int device) const {
  double total = 0;
  for (const auto& route : routes)
    for (std::size_t s = 0; s < route.size() && s < stages.size(); ++s)
      if (route[s] == device) total += stages[s].params;
  return total;
}

std::vector<std::pair<int, int>> PipelineSpec::device_chunks(int device) const {
  std::vector<std::pair<int, int>> out;
  for (std::size_t r = 0; r < routes.size(); ++r)
    for (std::size_t s = 0; s < routes[r].size(); ++s)
      if (routes[r][s] == device) out.emplace_back(static_cast<int>(r), static_cast<int>(s));
  return out;
}

int PipelineSpec::chunk_index(int route, int stage) const {
  if (route < 0 || route >= num_routes() || stage < 0 || stage >= num_stages() ||
      static_cast<std::size_t>(stage) >= routes[static_cast<std::size_t>(route)].size())
    return Schedule::kNoChunk;
  // Letters only when some device holds several chunks.
  std::vector<int> per_device(static_cast<std::size_t>(std::max(num_devices, 0)), 0);
  bool several = false;
  for (const auto& r : routes)
    for (int d : r)
      if (d >= 0 && d < num_devices && ++per_device[static_cast<std::size_t>(d)] > 1) several = true;
  if (!several) return Schedule::kNoChunk;
  const int device = routes[static_cast<std::size_t>(route)][static_cast<std::size_t>(stage)];
  int index = 0;
  for (int r = 0; r < num_routes(); ++r)
    for (std::size_t s = 0; s < routes[static_cast<std::size_t>(r)].size(); ++s) {
      if (r == route && static_cast<int>(s) == stage) return index;
      if (routes[static_cast<std::size_t>(r)][s] == device) ++index;
    }
  return Schedule::kNoChunk;
}

Status PipelineSpec::validate() const {
  std::vector<std::string> problems;
  const auto add = [&](std::string message) { problems.push_back(std::move(message)); };
  if (num_devices < 1) add(fmt::format("devices: must be at least 1, got {}", num_devices));
  if (num_micro_batches < 1) add(fmt::format("micro_batches: must be at least 1, got {}", num_micro_batches));
  if (placement == Placement::kInterleaved && chunks < 1)
    add(fmt::format("chunks: must be at least 1, got {}", chunks));
  if (stages.empty()) add("stages: a pipeline needs at least one stage");
  // Runs of equal stages are checked once and named as a range ("stages[0..7]"), so a spec made
  // from one bad stage gets one message per mistake, not one per stage.
  for (std::size_t s = 0, run_end = 0; s < stages.size(); s = run_end) {
    const StageSpec& st = stages[s];
    run_end = s + 1;
    while (run_end < stages.size() && stages[run_end] == st) ++run_end;
    const std::string at = run_end - s > 1 ? fmt::format("{}..{}", s, run_end - 1) : std::to_string(s);
    const auto positive = [&](const char* field, double v) {
      if (!finite(v) || v <= 0) add(fmt::format("stages[{}].{}: must be a positive time, got {}", at, field, v));
    };
    const auto non_negative = [&](const char* field, double v) {
      if (!finite(v) || v < 0) add(fmt::format("stages[{}].{}: must be finite and >= 0, got {}", at, field, v));
    };
    positive("forward", st.forward);
    positive("input_grad", st.input_grad);
    non_negative("weight_grad", st.weight_grad);
    if (st.backward) positive("backward", *st.backward);
    if (st.forward_backward) positive("forward_backward", *st.forward_backward);
    non_negative("p2p", st.p2p);
    non_negative("activation", st.activation);
    non_negative("params", st.params);
    if (!finite(st.input_grad_frees) || st.input_grad_frees < 0 || st.input_grad_frees > st.activation)
      add(fmt::format("stages[{}].input_grad_frees: must be between 0 and the activation ({}), got {}", at,
                      st.activation, st.input_grad_frees));
  }
  if (routes.empty() && !stages.empty()) add("routes: at least one route is needed");
  for (std::size_t r = 0; r < routes.size(); ++r) {
    if (routes[r].size() != stages.size())
      add(fmt::format("routes[{}]: has {} devices, one per stage is needed ({} stages)", r, routes[r].size(),
                      stages.size()));
    for (std::size_t s = 0; s < routes[r].size(); ++s)
      if (routes[r][s] < 0 || routes[r][s] >= num_devices)
        add(fmt::format("routes[{}][{}]: device {} does not exist (devices 0..{})", r, s, routes[r][s],
                        num_devices - 1));
  }
  // Simulation keeps a few words per piece of work; beyond this a run would exhaust memory.
  if (num_micro_batches >= 1 && static_cast<double>(num_micro_batches) * static_cast<double>(stages.size()) > kMaxWorkPairs)
    add(fmt::format("micro_batches x stages = {} x {} is above the limit of {} (micro-batch, stage) pairs",
                    num_micro_batches, stages.size(), kMaxWorkPairs));
  // Times and memory must stay finite when summed over a whole iteration: the serial schedule runs
  // every piece of work one after another, and a device may hold every micro-batch's activation.
  // Beyond that the simulator's clock overflows to infinity; that is the input's fault, named here.
  if (problems.empty()) {
    const double mb = static_cast<double>(num_micro_batches);
    double serial = 0;
    for (const StageSpec& st : stages)
      serial += mb * (st.forward + st.input_grad + st.weight_grad + st.backward.value_or(0) +
                      st.forward_backward.value_or(0) + 2 * st.p2p);
    if (!finite(serial)) {
      std::size_t worst = 0;
      const char* field = "forward";
      double largest = -1;
      for (std::size_t s = 0; s < stages.size(); ++s) {
        const StageSpec& st = stages[s];
        for (const auto& [name, v] : {std::pair{"forward", st.forward}, std::pair{"input_grad", st.input_grad},
                                      std::pair{"weight_grad", st.weight_grad},
                                      std::pair{"backward", st.backward.value_or(0)},
                                      std::pair{"forward_backward", st.forward_backward.value_or(0)},
                                      std::pair{"p2p", st.p2p}})
          if (v > largest) largest = v, worst = s, field = name;
      }
      add(fmt::format("stages[{}].{}: {} is too large: the times of {} micro-batch(es) over {} stage(s) add up beyond "
                      "the largest number a double holds ({:g}); use smaller time units",
                      worst, field, largest, num_micro_batches, stages.size(), std::numeric_limits<double>::max()));
    }
    for (std::size_t s = 0; s < stages.size(); ++s) {
      const StageSpec& st = stages[s];
      if (!finite(st.params + mb * st.activation)) {
        add(fmt::format("stages[{}].activation: {} x {} micro-batch(es) plus params {} overflows a double; use "
                        "smaller memory units",
                        s, st.activation, num_micro_batches, st.params));
        break;
      }
    }
  }
  if (!routes.empty() && num_micro_batches >= 1 && num_micro_batches % num_routes() != 0)
    add(fmt::format("micro_batches: {} cannot be split evenly over {} routes", num_micro_batches, num_routes()));
  if (!memory_cap.empty() && memory_cap.size() != 1 &&
      memory_cap.size() != static_cast<std::size_t>(std::max(num_devices, 0)))
    add(fmt::format("memory_cap: give one value or one per device ({}), got {}", num_devices, memory_cap.size()));
  for (std::size_t d = 0; d < memory_cap.size(); ++d)
    if (std::isnan(memory_cap[d]) || memory_cap[d] <= 0)
      add(fmt::format("memory_cap[{}]: must be positive, got {}", d, memory_cap[d]));
  if (problems.empty() && !memory_cap.empty()) {
    // A device must hold its parameters and at least one activation of each of its stages.
    for (int d = 0; d < num_devices; ++d) {
      double largest = 0;
      int largest_stage = -1;
      for (const auto& [r, s] : device_chunks(d))
        if (stages[static_cast<std::size_t>(s)].activation > largest || largest_stage < 0) {
          largest = stages[static_cast<std::size_t>(s)].activation;
          largest_stage = s;
        }
      const double need = param_memory(d) + largest;
      if (largest_stage >= 0 && cap(d) < need)
        add(
            fmt::format("memory_cap: device {} has cap {} but needs {} for its parameters ({}) and one micro-batch "
                        "activation of stage {} ({})",
                        d, cap(d), need, param_memory(d), largest_stage, largest));
    }
  }
  if (problems.empty()) return Status::Ok();
  std::string message =
      problems.size() == 1 ? problems[0] : fmt::format("{} problems in the pipeline spec:", problems.size());
  if (problems.size() > 1)
    for (const std::string& p : problems) message.append("\n  ").append(p);
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

bool operator==(const PipelineSpec& a, const PipelineSpec& b) {
  return a.name == b.name && a.num_devices == b.num_devices && a.num_micro_batches == b.num_micro_batches &&
         a.placement == b.placement && a.chunks == b.chunks && a.stages == b.stages && a.routes == b.routes &&
         a.memory_cap == b.memory_cap;
}

Result<std::vector<std::vector<int>>> placement_routes(Placement placement, int num_devices, int chunks) {
  if (num_devices < 1)
    return Status(StatusCode::kInvalidArgument, fmt::format("devices: must be at least 1, got {}", num_devices));
  const int p = num_devices;
  if (placement == Placement::kInterleaved && chunks < 1)
    return Status(StatusCode::kInvalidArgument, fmt::format("chunks: must be at least 1, got {}", chunks));
  const double stage_count = placement == Placement::kInterleaved ? static_cast<double>(p) * chunks
                             : placement == Placement::kV         ? 2.0 * p
                                                                  : static_cast<double>(p);
  if (stage_count > kMaxStages)
    return Status(StatusCode::kInvalidArgument,
                  placement == Placement::kInterleaved
                      ? fmt::format("devices x chunks = {} x {} = {:.0f} stages is above the limit of {:.0f} stages",
                                    p, chunks, stage_count, kMaxStages)
                      : fmt::format("devices: {} gives {:.0f} stages on the '{}' placement, above the limit of {:.0f} "
                                    "stages",
                                    p, stage_count, to_string(placement), kMaxStages));
  std::vector<std::vector<int>> routes;
  switch (placement) {
    case Placement::kLinear: {
      std::vector<int> r(static_cast<std::size_t>(p));
      for (int s = 0; s < p; ++s) r[static_cast<std::size_t>(s)] = s;
      routes.push_back(std::move(r));
      break;
    }
    case Placement::kInterleaved: {
      if (chunks < 1)
        return Status(StatusCode::kInvalidArgument, fmt::format("chunks: must be at least 1, got {}", chunks));
      std::vector<int> r(static_cast<std::size_t>(p) * static_cast<std::size_t>(chunks));
      for (std::size_t s = 0; s < r.size(); ++s) r[s] = static_cast<int>(s % static_cast<std::size_t>(p));
      routes.push_back(std::move(r));
      break;
    }
    case Placement::kDualPipe: {
      std::vector<int> a(static_cast<std::size_t>(p)), b(static_cast<std::size_t>(p));
      for (int s = 0; s < p; ++s) {
        a[static_cast<std::size_t>(s)] = s;
        b[static_cast<std::size_t>(s)] = p - 1 - s;
      }
      routes.push_back(std::move(a));
      routes.push_back(std::move(b));
      break;
    }
    case Placement::kV: {
      std::vector<int> r(2 * static_cast<std::size_t>(p));
      for (int s = 0; s < 2 * p; ++s) r[static_cast<std::size_t>(s)] = s < p ? s : 2 * p - 1 - s;
      routes.push_back(std::move(r));
      break;
    }
    case Placement::kCustom:
      return Status(StatusCode::kInvalidArgument, "placement: 'custom' has no built-in routes; give them explicitly");
  }
  return routes;
}

Result<PipelineSpec> make_pipeline_spec(Placement placement, int num_devices, int num_micro_batches,
                                        const StageSpec& stage, int chunks, std::optional<double> memory_cap) {
  auto routes = placement_routes(placement, num_devices, chunks);
  if (!routes.ok()) return routes.status();
  PipelineSpec spec;
  spec.num_devices = num_devices;
  spec.num_micro_batches = num_micro_batches;
  spec.placement = placement;
  spec.chunks = placement == Placement::kInterleaved ? chunks : 1;
  spec.routes = std::move(*routes);
  spec.stages.assign(spec.routes.front().size(), stage);
  if (memory_cap && !std::isinf(*memory_cap)) spec.memory_cap = {*memory_cap};
  if (Status s = spec.validate(); !s.ok()) return s;
  return spec;
}

std::size_t PipelineOrders::num_entries() const {
  std::size_t n = 0;
  for (const auto& d : devices) n += d.size();
  return n;
}

OPPLAN_END_NAMESPACE
