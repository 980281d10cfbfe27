// Schedule: labels, metrics and the JSON summary.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opplan/schedule.hpp>

#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr const char* kWorkNames[kNumWorks] = {"forward", "input_grad", "weight_grad", "backward"};
constexpr char kWorkLetters[kNumWorks] = {'F', 'b', 'W', 'B'};

bool adds_activation(const WorkItem& w) { return w.work == Work::kForward; }
bool frees_activation(const WorkItem& w) { return w.work == Work::kBackward || w.work == Work::kWeightGrad; }

struct MemoryPeaks {
  int chunks = 0;
  double memory = 0;
};

// Allocation at a task's start, release at its end; at equal times releases come first (a device
// that finishes a backward and starts a forward at the same instant never holds both).
MemoryPeaks memory_peaks(const std::vector<Task>& tasks) {
  MemoryPeaks peaks;
  bool sequential = true;
  for (std::size_t i = 1; i < tasks.size() && sequential; ++i) sequential = tasks[i - 1].end <= tasks[i].start;
  if (sequential) {
    int chunks = 0;
    double memory = 0;
    for (const Task& t : tasks) {
      chunks += adds_activation(t.item) + (t.overlapped && adds_activation(*t.overlapped));
      memory += t.memory_alloc;
      peaks.chunks = std::max(peaks.chunks, chunks);
      peaks.memory = std::max(peaks.memory, memory);
      chunks -= frees_activation(t.item) + (t.overlapped && frees_activation(*t.overlapped));
      memory -= t.memory_free;
    }
    return peaks;
  }
  struct Event {
    double time;
    int order;  // 0 = release, 1 = allocation
    int chunks;
    double memory;
  };
  std::vector<Event> events;
  events.reserve(2 * tasks.size());
  for (const Task& t : tasks) {
    const int add = adds_activation(t.item) + (t.overlapped && adds_activation(*t.overlapped));
    const int sub = frees_activation(t.item) + (t.overlapped && frees_activation(*t.overlapped));
    events.push_back({t.start, 1, add, t.memory_alloc});
    events.push_back({t.end, 0, -sub, -t.memory_free});
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.time != b.time ? a.time < b.time : a.order < b.order; });
  int chunks = 0;
  double memory = 0;
  for (const Event& e : events) {
    chunks += e.chunks;
    memory += e.memory;
    peaks.chunks = std::max(peaks.chunks, chunks);
    peaks.memory = std::max(peaks.memory, memory);
  }
  return peaks;
}

}  // namespace

const char* to_string(Work work) {
  const auto i = static_cast<int>(work);
  return i >= 0 && i < kNumWorks ? kWorkNames[i] : "unknown";
}

std::optional<Work> parse_work(std::string_view name) {
  for (int i = 0; i < kNumWorks; ++i)
    if (name == kWorkNames[i]) return static_cast<Work>(i);
  return std::nullopt;
}

char work_letter(Work work) {
  const auto i = static_cast<int>(work);
  return i >= 0 && i < kNumWorks ? kWorkLetters[i] : '?';
}

std::string Schedule::label(const WorkItem& item) const {
  std::string out;
  out += work_letter(item.work);
  out += std::to_string(item.micro_batch);
  const long long key = static_cast<long long>(item.route) * num_stages + item.stage;
  if (item.route >= 0 && item.stage >= 0 && item.stage < num_stages && key < static_cast<long long>(chunk_of.size())) {
    const int chunk = chunk_of[static_cast<std::size_t>(key)];
    if (chunk != kNoChunk) {
      // a .. z, then aa, ab, ... for devices with more than 26 chunks.
      std::string letters;
      int c = chunk;
      do {
        letters.insert(letters.begin(), static_cast<char>('a' + c % 26));
        c = c / 26 - 1;
      } while (c >= 0);
      out += letters;
    }
  }
  return out;
}

std::string Schedule::label(const Task& task) const {
  std::string out = label(task.item);
  if (task.overlapped) {
    out += '&';
    out += label(*task.overlapped);
  }
  return out;
}

std::vector<std::vector<std::string>> Schedule::op_strings() const {
  std::vector<std::vector<std::string>> out(device_tasks.size());
  for (std::size_t d = 0; d < device_tasks.size(); ++d) {
    out[d].reserve(device_tasks[d].size());
    for (const Task& t : device_tasks[d]) out[d].push_back(label(t));
  }
  return out;
}

std::size_t Schedule::num_tasks() const {
  std::size_t n = 0;
  for (const auto& tasks : device_tasks) n += tasks.size();
  return n;
}

void Schedule::compute_metrics() {
  ScheduleMetrics m;
  const std::size_t n = std::max<std::size_t>(static_cast<std::size_t>(std::max(num_devices, 0)), device_tasks.size());
  m.devices.resize(n);
  double first = std::numeric_limits<double>::infinity();
  double last = -std::numeric_limits<double>::infinity();
  for (std::size_t d = 0; d < device_tasks.size(); ++d) {
    const auto& tasks = device_tasks[d];
    DeviceMetrics& dm = m.devices[d];
    dm.num_tasks = tasks.size();
    if (!tasks.empty()) {
      dm.first_start = std::numeric_limits<double>::infinity();
      dm.last_end = -std::numeric_limits<double>::infinity();
    }
    for (const Task& t : tasks) {
      dm.busy += t.end - t.start;
      dm.first_start = std::min(dm.first_start, t.start);
      dm.last_end = std::max(dm.last_end, t.end);
    }
    dm.span = tasks.empty() ? 0 : dm.last_end - dm.first_start;
    const MemoryPeaks peaks = memory_peaks(tasks);
    dm.peak_activations = peaks.chunks;
    dm.peak_activation_memory = peaks.memory;
    if (!tasks.empty()) {
      first = std::min(first, dm.first_start);
      last = std::max(last, dm.last_end);
    }
  }
  for (std::size_t d = 0; d < n; ++d) {
    DeviceMetrics& dm = m.devices[d];
    dm.param_memory = d < param_memory.size() ? param_memory[d] : 0;
    dm.peak_memory = dm.param_memory + dm.peak_activation_memory;
  }
  m.makespan = last >= first ? last - first : 0;
  for (DeviceMetrics& dm : m.devices) {
    dm.bubble = m.makespan - dm.busy;
    m.max_bubble = std::max(m.max_bubble, dm.bubble);
    m.max_span = std::max(m.max_span, dm.span);
    m.total_busy += dm.busy;
  }
  m.utilisation = (n > 0 && m.makespan > 0) ? m.total_busy / (static_cast<double>(n) * m.makespan) : 0;
  metrics = std::move(m);
}

std::string schedule_to_json(const Schedule& schedule, bool include_tasks, int indent) {
  using detail::JsonWriter;
  using Layout = JsonWriter::Layout;
  const ScheduleMetrics& m = schedule.metrics;
  JsonWriter w(indent);
  w.begin_object();
  w.field("name", schedule.name).field("devices", schedule.num_devices);
  w.field("makespan", m.makespan).field("max_span", m.max_span).field("max_bubble", m.max_bubble);
  w.field("utilisation", m.utilisation);
  const auto per_device = [&](std::string_view key, auto get) {
    w.key(key).begin_array(Layout::kWrapped);
    for (const DeviceMetrics& d : m.devices) w.value(get(d));
    w.end_array();
  };
  per_device("bubble", [](const DeviceMetrics& d) { return d.bubble; });
  per_device("busy", [](const DeviceMetrics& d) { return d.busy; });
  per_device("span", [](const DeviceMetrics& d) { return d.span; });
  per_device("peak_activations", [](const DeviceMetrics& d) { return d.peak_activations; });
  per_device("peak_activation_memory", [](const DeviceMetrics& d) { return d.peak_activation_memory; });
  per_device("peak_memory", [](const DeviceMetrics& d) { return d.peak_memory; });
  w.key("ops").begin_array();
  for (const auto& device : schedule.op_strings()) {
    w.begin_array(Layout::kWrapped);
    for (const std::string& op : device) w.value(op);
    w.end_array();
  }
  w.end_array();
  if (include_tasks) {
    w.key("tasks").begin_array();
    for (const auto& tasks : schedule.device_tasks)
      for (const Task& t : tasks) {
        w.begin_object(Layout::kOneLine);
        w.field("device", t.device).field("stream", t.stream).field("op", schedule.label(t));
        w.field("start", t.start).field("end", t.end);
        w.end_object();
      }
    w.end_array();
    w.key("transfers").begin_array();
    for (const Transfer& t : schedule.transfers) {
      w.begin_object(Layout::kOneLine);
      w.field("src", t.src_device).field("dst", t.dst_device).field("op", schedule.label(t.item));
      w.field("start", t.start).field("end", t.end);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
  return w.finish();
}

OPPLAN_END_NAMESPACE
