// Private: what the pipeline generators, the simulator and the verifier share. Dense numbering of
// work items, times and memory effects of work, the dependency rules, op labels, and the generators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <opplan/pipeline.hpp>
#include <opplan/schedule.hpp>
#include <opplan/simulator.hpp>
#include <optional>
#include <string>
#include <vector>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Work items numbered ((route * M + micro_batch) * S + stage) * kNumWorks + work. The spec must be valid.
class WorkIndex {
 public:
  explicit WorkIndex(const PipelineSpec& spec)
      : routes_(spec.num_routes()), mbs_(spec.micro_batches_per_route()), stages_(spec.num_stages()) {}

  bool contains(const WorkItem& w) const {
    const auto k = static_cast<int>(w.work);
    return w.route >= 0 && w.route < routes_ && w.micro_batch >= 0 && w.micro_batch < mbs_ && w.stage >= 0 &&
           w.stage < stages_ && k >= 0 && k < kNumWorks;
  }
  std::size_t id(const WorkItem& w) const {
    const auto z = [](int v) { return static_cast<std::size_t>(v); };
    return ((z(w.route) * z(mbs_) + z(w.micro_batch)) * z(stages_) + z(w.stage)) * kNumWorks + z(static_cast<int>(w.work));
  }
  std::size_t id(Work work, int route, int mb, int stage) const { return id(WorkItem{work, route, mb, stage}); }
  std::size_t size() const {
    const auto z = [](int v) { return static_cast<std::size_t>(v); };
    return z(routes_) * z(mbs_) * z(stages_) * kNumWorks;
  }
  int routes() const { return routes_; }
  int micro_batches() const { return mbs_; }
  int stages() const { return stages_; }

 private:
  int routes_, mbs_, stages_;
};

// chunk_of[route * S + stage], as Schedule::chunk_of expects.
std::vector<int> chunk_table(const PipelineSpec& spec);

double work_time(const StageSpec& stage, Work work);
// A slot's duration: the work's time, or for an overlapped pair the sum of both times scaled by
// the average overlap ratio forward_backward / (forward + backward) of the two stages (so equal
// stages give exactly forward_backward).
double slot_time(const PipelineSpec& spec, const WorkItem& item, const std::optional<WorkItem>& overlapped);
// Activation memory allocated at the start / released at the end of a piece of work.
double memory_alloc(const PipelineSpec& spec, const WorkItem& item);
double memory_free(const PipelineSpec& spec, const WorkItem& item);

// The p2p time between stage s and s+1 when they are on different devices of `route`, else 0.
double boundary_delay(const PipelineSpec& spec, int route, int stage);

// "F3a" with the spec's chunk letters; describe() adds where: "F3a (stage 5, device 2)".
std::string label(const std::vector<int>& chunks, int num_stages, const WorkItem& item);
std::string describe(const PipelineSpec& spec, const std::vector<int>& chunks, const WorkItem& item);

// One problem found in programs or in a schedule's tasks.
struct OrderProblem {
  ViolationKind kind;
  int device;
  std::string message;
};

// Which slot holds every work item: slots are numbered in the order they are given; holder[id] is
// the slot of a work item or -1. Reports unknown work, work on the wrong device, overlapped pairs
// that are not one forward and one backward, duplicates and (when `require_complete`) missing
// work, up to `max_problems`.
struct SlotRef {
  int device;
  std::size_t position;  // in the device's program / task list
  WorkItem item;
  std::optional<WorkItem> overlapped;
};
struct HolderMap {
  std::vector<std::int32_t> holder;  // per work id
  std::vector<OrderProblem> problems;
  bool truncated = false;
};
HolderMap map_holders(const PipelineSpec& spec, const WorkIndex& index, const std::vector<int>& chunks,
                      const std::vector<SlotRef>& slots, std::size_t max_problems);

// ---- generators (lib/pipeline/*.cpp); the spec is valid and has the kind's placement ----
PipelineOrders gpipe_orders(const PipelineSpec& spec);
PipelineOrders one_f_one_b_orders(const PipelineSpec& spec);
Result<PipelineOrders> interleaved_orders(const PipelineSpec& spec);
PipelineOrders zb_h1_orders(const PipelineSpec& spec);
Result<PipelineOrders> dualpipe_orders(const PipelineSpec& spec, bool v_shape);
Result<PipelineOrders> zero_bubble_orders(const PipelineSpec& spec, const ScheduleOptions& options);
// List scheduling, priority b > F > W; at most `max_in_flight` activation chunks per device
// (<= 0: unlimited) and within the spec's memory caps.
Result<PipelineOrders> greedy_orders(const PipelineSpec& spec, int max_in_flight);

}  // namespace detail
OPPLAN_END_NAMESPACE
