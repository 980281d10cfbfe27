// Schedule: what runs where and when during one training iteration.
//
// Per device, a list of timed tasks; per directed link, a list of timed transfers; and the metrics
// every planner reports (makespan, busy time, bubble, span, peak memory per device). A task runs one
// piece of work of one micro-batch (a forward F, an input-gradient b, a weight-gradient W or a full
// backward B = b + W) of one unit of the model: a pipeline stage for the pipeline schedules
// (pipeline.hpp), an op of the Graph for operator-level plans. A task may carry a second piece of
// work run in the same slot (DualPipe's overlapped "F&B" chunk).
//
// Schedules are produced by simulate() (simulator.hpp) from per-device orders, and checked by
// verify(). They are plain values: copy, compare and edit them freely (e.g. to break one on purpose).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <opplan/version.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

// The kinds of work of one micro-batch on one unit. kBackward is the input- and weight-gradient
// fused in one task.
enum class Work : std::uint8_t { kForward = 0, kInputGrad = 1, kWeightGrad = 2, kBackward = 3 };
inline constexpr int kNumWorks = 4;

// "forward", "input_grad", "weight_grad", "backward".
OPPLAN_EXPORT const char* to_string(Work work);
OPPLAN_EXPORT std::optional<Work> parse_work(std::string_view name);
// The letter of the op-string notation: 'F', 'b', 'W', 'B'.
OPPLAN_EXPORT char work_letter(Work work);

// One piece of work: `work` of micro-batch `micro_batch` on unit `stage`. For pipeline schedules
// `stage` is the stage index and `route` the direction the micro-batch travels (DualPipe has two;
// micro-batches are numbered per route). For operator-level plans `stage` is the OpId value and
// `route` is 0.
struct WorkItem {
  Work work = Work::kForward;
  int route = 0;
  int micro_batch = 0;
  int stage = 0;

  friend bool operator==(const WorkItem& a, const WorkItem& b) {
    return a.work == b.work && a.route == b.route && a.micro_batch == b.micro_batch && a.stage == b.stage;
  }
  friend bool operator!=(const WorkItem& a, const WorkItem& b) { return !(a == b); }
};

// One task on one device. Memory (in the units of the producer's spec) is allocated when the task
// starts and released when it ends, so an overlapped F&B holds both activations during its slot.
struct Task {
  int device = 0;
  int stream = 0;  // devices with several streams run one task at a time per stream
  double start = 0;
  double end = 0;
  WorkItem item;
  std::optional<WorkItem> overlapped;  // a second piece of work in the same slot (F&B)
  double memory_alloc = 0;             // allocated at `start` (activations of a forward)
  double memory_free = 0;              // released at `end` (activations consumed by a backward / W)

  double duration() const { return end - start; }
  friend bool operator==(const Task& a, const Task& b) {
    return a.device == b.device && a.stream == b.stream && a.start == b.start && a.end == b.end && a.item == b.item &&
           a.overlapped == b.overlapped && a.memory_alloc == b.memory_alloc && a.memory_free == b.memory_free;
  }
  friend bool operator!=(const Task& a, const Task& b) { return !(a == b); }
};

// The output of `item` (a forward's activation or a backward's input gradient) sent from
// src_device to dst_device.
struct Transfer {
  int src_device = 0;
  int dst_device = 0;
  double start = 0;
  double end = 0;
  WorkItem item;  // the producer

  friend bool operator==(const Transfer& a, const Transfer& b) {
    return a.src_device == b.src_device && a.dst_device == b.dst_device && a.start == b.start && a.end == b.end &&
           a.item == b.item;
  }
  friend bool operator!=(const Transfer& a, const Transfer& b) { return !(a == b); }
};

struct DeviceMetrics {
  double busy = 0;         // sum of task durations
  double bubble = 0;       // makespan - busy
  double first_start = 0;  // 0 for a device without tasks
  double last_end = 0;
  double span = 0;                    // last_end - first_start
  int peak_activations = 0;           // most activation chunks alive at once (an F adds one; a B or a W frees it)
  double peak_activation_memory = 0;  // most activation memory alive at once (spec units)
  double param_memory = 0;            // static
  double peak_memory = 0;             // param_memory + peak_activation_memory
  std::size_t num_tasks = 0;
};

struct ScheduleMetrics {
  double makespan = 0;  // last end - first start over all devices (the first start is 0 when simulated)
  double max_span = 0;  // the longest device span (Zero-Bubble's metric)
  double max_bubble = 0;
  double total_busy = 0;
  double utilisation = 0;  // total_busy / (devices * makespan); 0 for an empty schedule
  std::vector<DeviceMetrics> devices;
};

class OPPLAN_EXPORT Schedule {
 public:
  static constexpr int kNoChunk = -1;

  std::string name;  // what produced it, e.g. "dualpipe", "1f1b", "custom"
  int num_devices = 0;
  std::vector<std::vector<Task>> device_tasks;  // per device, in start order
  std::vector<Transfer> transfers;              // grouped by (src, dst) link, in start order
  std::vector<double> param_memory;             // per device (empty = none)
  std::vector<double> memory_cap;               // per device; +inf = no cap (empty = no caps)
  ScheduleMetrics metrics;

  // Labels in the op-string notation ("F3a", "b0", "F7a&B3b"). The letter after the micro-batch
  // names which of its device's chunks (route, stage pairs) the work belongs to; it is left out
  // when every device holds one chunk. chunk_of[route * num_stages + stage] is that chunk index
  // (kNoChunk for none); empty means no letters.
  int num_stages = 0;
  std::vector<int> chunk_of;

  std::string label(const WorkItem& item) const;
  std::string label(const Task& task) const;
  // Per device, the labels of its tasks in order.
  std::vector<std::vector<std::string>> op_strings() const;
  std::size_t num_tasks() const;

  // Recomputes `metrics` from the tasks, param_memory and the tasks' memory deltas.
  void compute_metrics();
};

// One JSON object: name, devices, metrics (makespan, max_span, bubble, busy, span,
// peak_activations, peak_memory per device), ops (per device the labels) and, when
// `include_tasks`, every task with its times. indent < 0 writes one line.
OPPLAN_EXPORT std::string schedule_to_json(const Schedule& schedule, bool include_tasks = false, int indent = 2);

OPPLAN_END_NAMESPACE
