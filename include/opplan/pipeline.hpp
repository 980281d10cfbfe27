// Pipeline schedules: a PipelineSpec (stages, their placement on devices, times and memory) and
// the generators of the well-known per-device op orders: GPipe, 1F1B, interleaved 1F1B, ZB-H1,
// ZB-H2, the Zero-Bubble memory-capped heuristic, DualPipe and DualPipeV, plus a greedy list
// scheduler for any placement. Orders become timed Schedules through simulate()
// (simulator.hpp); build_schedule() does both. Definitions: docs/pipeline-schedules.md.
//
// Vocabulary. The model is a chain of `stages`; a micro-batch runs F on stage 0, 1, ..., S-1 and
// then its backward on S-1, ..., 0. A `route` maps every stage to a device; DualPipe has two routes
// (half of the micro-batches enter at device 0, half at device P-1), every other schedule one.
// Micro-batches are numbered per route. A device's `chunks` are the (route, stage) pairs it holds,
// in (route, stage) order; op strings name them a, b, c, ...
//
// Times and memory are in the caller's units (the reference figures use F = b = W = 1 and one unit of
// memory per micro-batch activation of one stage). Nothing here throws for bad data: every problem
// comes back as a Status naming the field, stage, device or op.
#pragma once

#include <cstdint>
#include <opplan/schedule.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

// Times and memory of one stage, per micro-batch.
struct StageSpec {
  double forward = 1;                      // F
  double input_grad = 1;                   // b: gradient with respect to the stage's input
  double weight_grad = 1;                  // W: gradient with respect to the stage's parameters (may be 0)
  std::optional<double> backward;          // full B in one task; default input_grad + weight_grad
  std::optional<double> forward_backward;  // one overlapped F&B chunk; default forward + backward
  double p2p = 0;                          // sending this stage's output to the next stage (and the gradient back),
                                           // when the two are on different devices
  double activation = 1;                   // memory an F allocates, kept until its backward is done
  double input_grad_frees = 0;             // the part of `activation` a split b releases (W releases the rest)
  double params = 0;                       // parameter memory, held by the stage's device all the time

  double backward_time() const { return backward ? *backward : input_grad + weight_grad; }
  double forward_backward_time() const { return forward_backward ? *forward_backward : forward + backward_time(); }

  friend bool operator==(const StageSpec& a, const StageSpec& b) {
    return a.forward == b.forward && a.input_grad == b.input_grad && a.weight_grad == b.weight_grad &&
           a.backward == b.backward && a.forward_backward == b.forward_backward && a.p2p == b.p2p &&
           a.activation == b.activation && a.input_grad_frees == b.input_grad_frees && a.params == b.params;
  }
  friend bool operator!=(const StageSpec& a, const StageSpec& b) { return !(a == b); }
};

// How stages are laid out on devices (P = devices).
enum class Placement : std::uint8_t {
  kLinear,       // S = P stages, stage s on device s (GPipe, 1F1B, ZB)
  kInterleaved,  // S = P*v stages, stage s on device s % P (interleaved 1F1B with v chunks)
  kDualPipe,     // S = P stages, two routes: stage s on device s (route a) and on P-1-s (route b)
  kV,            // S = 2P stages, stage s on device s for s < P, else 2P-1-s (DualPipeV, ZB-V)
  kCustom,       // explicit routes
};
// "linear", "interleaved", "dualpipe", "v", "custom".
OPPLAN_EXPORT const char* to_string(Placement placement);
OPPLAN_EXPORT std::optional<Placement> parse_placement(std::string_view name);

struct PipelineSpec {
  std::string name;
  int num_devices = 0;
  int num_micro_batches = 0;  // in total, split evenly over the routes
  Placement placement = Placement::kLinear;
  int chunks = 1;                        // v, for kInterleaved
  std::vector<StageSpec> stages;         // the model's stages, in forward order
  std::vector<std::vector<int>> routes;  // routes[r][s] = device of stage s on route r
  std::vector<double> memory_cap;        // per device, params + activations; empty = no cap

  int num_stages() const { return static_cast<int>(stages.size()); }
  int num_routes() const { return static_cast<int>(routes.size()); }
  int micro_batches_per_route() const { return routes.empty() ? 0 : num_micro_batches / num_routes(); }
  double cap(int device) const;  // +inf without a cap
  double param_memory(int device) const;

  // The (route, stage) pairs of a device in (route, stage) order; its chunk letters are a, b, ...
  std::vector<std::pair<int, int>> device_chunks(int device) const;
  // Index of (route, stage) among its device's chunks; Schedule::kNoChunk when every device holds
  // exactly one chunk (no letters in op strings).
  int chunk_index(int route, int stage) const;

  // Every problem at once, one per line, naming the field, stage or device: non-positive counts or
  // times, negative memory, routes of the wrong length or naming unknown devices, micro-batches not
  // divisible by the routes, a memory cap below a device's parameters plus one activation.
  Status validate() const;

  friend bool operator==(const PipelineSpec& a, const PipelineSpec& b);
  friend bool operator!=(const PipelineSpec& a, const PipelineSpec& b) { return !(a == b); }
};

// The routes of a built-in placement (kCustom has none).
OPPLAN_EXPORT Result<std::vector<std::vector<int>>> placement_routes(Placement placement, int num_devices,
                                                                     int chunks = 1);

// A spec with `placement` on `num_devices` devices, every stage equal to `stage`, and the same
// memory cap on every device (none when `memory_cap` is +inf or not given). Validated.
OPPLAN_EXPORT Result<PipelineSpec> make_pipeline_spec(Placement placement, int num_devices, int num_micro_batches,
                                                      const StageSpec& stage, int chunks = 1,
                                                      std::optional<double> memory_cap = std::nullopt);

// ---- JSON (docs/pipeline-schedules.md) ------------------------------------------------------------
inline constexpr int kPipelineFormatVersion = 1;
OPPLAN_EXPORT Result<PipelineSpec> parse_pipeline_spec_json(std::string_view text,
                                                            std::string_view source = "<string>");
OPPLAN_EXPORT Result<PipelineSpec> read_pipeline_spec_json(const std::string& path);
OPPLAN_EXPORT std::string pipeline_spec_to_json(const PipelineSpec& spec, int indent = 2);
OPPLAN_EXPORT Status write_pipeline_spec_json(const PipelineSpec& spec, const std::string& path, int indent = 2);

// ---- schedule kinds -----------------------------------------------------------------------------
enum class ScheduleKind : std::uint8_t {
  kGPipe,        // all forwards, then all backwards
  k1F1B,         // warm-up forwards, then one forward one backward
  kInterleaved,  // Megatron's interleaved 1F1B over v chunks per device
  kZBH1,         // Zero Bubble H1: 1F1B memory, W deferred to fill the drain
  kZBH2,         // Zero Bubble H2: up to 2P-1 activations in flight, greedy b > F > W
  kZeroBubble,   // Zero Bubble's memory-capped heuristic (best of its 8 flag combinations)
  kDualPipe,     // DeepSeek's bidirectional DualPipe
  kDualPipeV,    // DualPipe cut in half: V placement, P devices, 2P stages
  kGreedy,       // list scheduler on any placement: b > F > W, within the memory cap
};
inline constexpr ScheduleKind kAllScheduleKinds[] = {
    ScheduleKind::kGPipe,    ScheduleKind::k1F1B,      ScheduleKind::kInterleaved,
    ScheduleKind::kZBH1,     ScheduleKind::kZBH2,      ScheduleKind::kZeroBubble,
    ScheduleKind::kDualPipe, ScheduleKind::kDualPipeV, ScheduleKind::kGreedy};
// "gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2", "zb", "dualpipe", "dualpipev", "greedy".
OPPLAN_EXPORT const char* to_string(ScheduleKind kind);
OPPLAN_EXPORT std::optional<ScheduleKind> parse_schedule_kind(std::string_view name);
// The placement a kind's generator needs (kGreedy takes any; it returns kLinear).
OPPLAN_EXPORT Placement required_placement(ScheduleKind kind);

struct ScheduleOptions {
  // kZeroBubble: try all 8 combinations of the heuristic's flags and keep the shortest (true), or
  // only the first that fits in memory (false).
  bool zb_search_flags = true;
  // kGreedy and kZBH2: at most this many activation chunks alive per device (an F adds one, a B or
  // a W frees it); 0 = unlimited for kGreedy, 2P-1 for kZBH2. The spec's memory caps apply as well.
  int max_in_flight = 0;
  // Transfers on one directed link run one at a time (in the order their producers ran) instead
  // of all at once.
  bool serialize_links = false;

  bool IsValid(std::string* error) const;
};

// ---- per-device orders --------------------------------------------------------------------------
// One entry of a device's program: a piece of work, or two run as one overlapped slot.
struct OrderEntry {
  WorkItem item;
  std::optional<WorkItem> overlapped;

  friend bool operator==(const OrderEntry& a, const OrderEntry& b) {
    return a.item == b.item && a.overlapped == b.overlapped;
  }
  friend bool operator!=(const OrderEntry& a, const OrderEntry& b) { return !(a == b); }
};

// The order in which one directed link sends outputs, named by their producers.
struct LinkOrder {
  int src_device = 0;
  int dst_device = 0;
  std::vector<WorkItem> producers;
};

struct PipelineOrders {
  std::vector<std::vector<OrderEntry>> devices;  // one program per device
  std::vector<LinkOrder> links;                  // optional; used when links are serialized
  std::size_t num_entries() const;
};

// The per-device programs of `kind` for `spec`. Fails, naming the rule, when the spec does not fit
// the kind: a placement other than required_placement(kind) (kGreedy takes any), an odd device
// count or fewer than 2P micro-batches for DualPipe, fewer than 2P for DualPipeV (P devices),
// micro-batches not a multiple of P for interleaved, a memory cap the heuristic cannot fit in.
OPPLAN_EXPORT Result<PipelineOrders> generate_orders(const PipelineSpec& spec, ScheduleKind kind,
                                                     const ScheduleOptions& options = {});

// generate_orders + simulate: the timed schedule of `kind`, named after it.
OPPLAN_EXPORT Result<Schedule> build_schedule(const PipelineSpec& spec, ScheduleKind kind,
                                              const ScheduleOptions& options = {});

// ---- op strings -----------------------------------------------------------------------------------
// "F3a", "b0b", "W6a", "B3b", "F7a&B3b" (letters only when a device holds several chunks).
OPPLAN_EXPORT std::string op_string(const PipelineSpec& spec, const OrderEntry& entry);
// Per device, the programs as space-separated op strings.
OPPLAN_EXPORT std::vector<std::string> format_orders(const PipelineSpec& spec, const PipelineOrders& orders);
// The inverse: one whitespace-separated program per device. The letter picks the device's chunk
// (it may be left out on a device with one chunk). Errors name the device and the token.
OPPLAN_EXPORT Result<PipelineOrders> parse_orders(const PipelineSpec& spec, const std::vector<std::string>& programs);

OPPLAN_END_NAMESPACE
