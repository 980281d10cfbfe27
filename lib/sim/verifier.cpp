// The verifier: checks a timed Schedule against its PipelineSpec without trusting how it was made.
// Every check recomputes from the spec (durations, delays, memory) and the tasks' times.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <numeric>
#include <opplan/simulator.hpp>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::SlotRef;
using detail::WorkIndex;

class Checker {
 public:
  Checker(const PipelineSpec& spec, const Schedule& schedule, const VerifyOptions& options)
      : spec_(spec), schedule_(schedule), options_(options), index_(spec), chunks_(detail::chunk_table(spec)) {}

  VerifyReport run() {
    if (!check_shape()) return std::move(report_);
    check_structure();
    check_times();
    check_precedence();
    check_overlap();
    check_memory_and_metrics();
    return std::move(report_);
  }

 private:
  bool full() const { return report_.violations.size() >= options_.max_violations; }
  void add(ViolationKind kind, int device, std::string message) {
    if (full()) {
      report_.truncated = true;
      return;
    }
    report_.violations.push_back({kind, device, std::move(message)});
  }
  double tol(double t) const { return options_.tolerance * std::max(1.0, std::abs(t)); }
  std::string name(const WorkItem& w) const { return detail::describe(spec_, chunks_, w); }
  std::string task_name(const Task& t) const {
    std::string s = detail::label(chunks_, spec_.num_stages(), t.item);
    if (t.overlapped) {
      s += '&';
      s += detail::label(chunks_, spec_.num_stages(), *t.overlapped);
    }
    return s;
  }
  const Task& task(std::int32_t slot) const {
    const SlotRef& s = slots_[static_cast<std::size_t>(slot)];
    return schedule_.device_tasks[static_cast<std::size_t>(s.device)][s.position];
  }

  bool check_shape() {
    if (schedule_.device_tasks.size() != static_cast<std::size_t>(spec_.num_devices)) {
      add(ViolationKind::kStructure, -1,
          fmt::format("the schedule has {} device task lists, the spec has {} devices", schedule_.device_tasks.size(),
                      spec_.num_devices));
      return false;
    }
    return true;
  }

  void check_structure() {
    for (std::size_t d = 0; d < schedule_.device_tasks.size(); ++d) {
      const auto& tasks = schedule_.device_tasks[d];
      for (std::size_t k = 0; k < tasks.size(); ++k) {
        const Task& t = tasks[k];
        if (t.device != static_cast<int>(d))
          add(ViolationKind::kStructure, static_cast<int>(d),
              fmt::format("device {}, position {}: task {} says it runs on device {}", d, k, task_name(t), t.device));
        slots_.push_back(SlotRef{static_cast<int>(d), k, t.item, t.overlapped});
      }
    }
    detail::HolderMap holders = detail::map_holders(spec_, index_, chunks_, slots_, options_.max_violations);
    for (auto& p : holders.problems) add(p.kind, p.device, std::move(p.message));
    if (holders.truncated) report_.truncated = true;
    holder_ = std::move(holders.holder);
  }

  void check_times() {
    for (const SlotRef& s : slots_) {
      const Task& t = schedule_.device_tasks[static_cast<std::size_t>(s.device)][s.position];
      if (!std::isfinite(t.start) || !std::isfinite(t.end)) {
        add(ViolationKind::kTime, s.device,
            fmt::format("{} on device {} has a time that is not finite ({} .. {})", task_name(t), s.device, t.start,
                        t.end));
        continue;
      }
      if (t.end < t.start) {
        add(ViolationKind::kTime, s.device,
            fmt::format("{} on device {} ends at {} before it starts at {}", task_name(t), s.device, t.end, t.start));
        continue;
      }
      if (!options_.check_durations || !index_.contains(t.item) || (t.overlapped && !index_.contains(*t.overlapped)))
        continue;
      const double need = detail::slot_time(spec_, t.item, t.overlapped);
      if (t.end - t.start < need - tol(need))
        add(ViolationKind::kDuration, s.device,
            fmt::format("{} on device {} lasts {} ({} .. {}) but takes {}", task_name(t), s.device, t.end - t.start,
                        t.start, t.end, need));
    }
  }

  // Which transfer carries the output of a producer (by work id), from the schedule's own list.
  void index_transfers() {
    transfer_of_.assign(index_.size(), -1);
    for (std::size_t i = 0; i < schedule_.transfers.size(); ++i) {
      const Transfer& tr = schedule_.transfers[i];
      const auto where = [&] { return fmt::format("transfer {} ({}->{})", i, tr.src_device, tr.dst_device); };
      if (!index_.contains(tr.item)) {
        add(ViolationKind::kTransfer, tr.src_device,
            fmt::format("{}: its producer does not exist in the spec", where()));
        continue;
      }
      if (transfer_of_[index_.id(tr.item)] >= 0) {
        add(ViolationKind::kTransfer, tr.src_device,
            fmt::format("{}: the output of {} is sent twice", where(), name(tr.item)));
        continue;
      }
      transfer_of_[index_.id(tr.item)] = static_cast<std::int32_t>(i);
      const std::int32_t producer = holder_.empty() ? -1 : holder_[index_.id(tr.item)];
      if (!std::isfinite(tr.start) || !std::isfinite(tr.end) || tr.end < tr.start) {
        add(ViolationKind::kTime, tr.src_device,
            fmt::format("{} of {} has bad times {} .. {}", where(), name(tr.item), tr.start, tr.end));
        continue;
      }
      if (producer >= 0) {
        const Task& p = task(producer);
        if (p.device != tr.src_device)
          add(ViolationKind::kTransfer, tr.src_device,
              fmt::format("{}: {} runs on device {}, not on the sending device", where(), name(tr.item), p.device));
        if (tr.start < p.end - tol(p.end))
          add(ViolationKind::kTransfer, tr.src_device,
              fmt::format("{} of {} starts at {} before its producer ends at {}", where(), name(tr.item), tr.start,
                          p.end));
      }
    }
    if (options_.serialized_links) {
      std::map<std::pair<int, int>, std::vector<std::size_t>> links;
      for (std::size_t i = 0; i < schedule_.transfers.size(); ++i)
        links[{schedule_.transfers[i].src_device, schedule_.transfers[i].dst_device}].push_back(i);
      for (auto& [link, list] : links) {
        std::sort(list.begin(), list.end(), [&](std::size_t a, std::size_t b) {
          return schedule_.transfers[a].start < schedule_.transfers[b].start;
        });
        for (std::size_t k = 1; k < list.size(); ++k) {
          const Transfer& a = schedule_.transfers[list[k - 1]];
          const Transfer& b = schedule_.transfers[list[k]];
          if (b.start < a.end - tol(a.end))
            add(ViolationKind::kTransfer, link.first,
                fmt::format("link {}->{} carries two transfers at once: {}'s output ({} .. {}) and {}'s ({} .. {})",
                            link.first, link.second, name(a.item), a.start, a.end, name(b.item), b.start, b.end));
        }
      }
    }
  }

  void check_precedence() {
    if (holder_.empty()) return;
    index_transfers();
    const int S = spec_.num_stages();
    for (std::size_t k = 0; k < slots_.size(); ++k) {
      const SlotRef& s = slots_[k];
      const Task& t = schedule_.device_tasks[static_cast<std::size_t>(s.device)][s.position];
      if (!std::isfinite(t.start)) continue;
      for (int part = 0; part < (s.overlapped ? 2 : 1); ++part) {
        const WorkItem& w = part == 0 ? s.item : *s.overlapped;
        if (!index_.contains(w)) continue;
        WorkItem from;
        double delay = 0;
        switch (w.work) {
          case Work::kForward:
            if (w.stage == 0) continue;
            from = {Work::kForward, w.route, w.micro_batch, w.stage - 1};
            delay = detail::boundary_delay(spec_, w.route, w.stage - 1);
            break;
          case Work::kInputGrad:
          case Work::kBackward:
            if (w.stage == S - 1) {
              from = {Work::kForward, w.route, w.micro_batch, w.stage};
            } else {
              from = {Work::kInputGrad, w.route, w.micro_batch, w.stage + 1};
              if (holder_[index_.id(from)] < 0) from.work = Work::kBackward;
              delay = detail::boundary_delay(spec_, w.route, w.stage);
            }
            break;
          case Work::kWeightGrad: from = {Work::kInputGrad, w.route, w.micro_batch, w.stage}; break;
        }
        const std::int32_t producer = holder_[index_.id(from)];
        if (producer < 0) continue;  // reported as missing
        const Task& p = task(producer);
        if (!std::isfinite(p.end)) continue;
        if (t.start < p.end - tol(p.end)) {
          add(ViolationKind::kPrecedence, s.device,
              fmt::format("{} starts at {} before {} ends at {}", name(w), t.start, name(from), p.end));
          continue;
        }
        if (delay <= 0) continue;
        const std::int32_t via = transfer_of_[index_.id(from)];
        if (via >= 0) {
          const Transfer& tr = schedule_.transfers[static_cast<std::size_t>(via)];
          if (tr.dst_device != s.device)
            add(ViolationKind::kTransfer, s.device,
                fmt::format("the output of {} is sent to device {}, but {} needs it on device {}", name(from),
                            tr.dst_device, name(w), s.device));
          if (tr.end - tr.start < delay - tol(delay))
            add(ViolationKind::kTransfer, s.device,
                fmt::format("the transfer of {}'s output to device {} lasts {} ({} .. {}) but takes {}", name(from),
                            tr.dst_device, tr.end - tr.start, tr.start, tr.end, delay));
          if (t.start < tr.end - tol(tr.end))
            add(ViolationKind::kTransfer, s.device,
                fmt::format("{} starts at {} before the transfer of {}'s output arrives at {}", name(w), t.start,
                            name(from), tr.end));
        } else if (t.start < p.end + delay - tol(p.end + delay)) {
          add(ViolationKind::kTransfer, s.device,
              fmt::format(
                  "{} starts at {}, before the output of {} (ends at {}) can arrive at {} after the p2p delay {}",
                  name(w), t.start, name(from), p.end, p.end + delay, delay));
        }
      }
    }
  }

  void check_overlap() {
    for (std::size_t d = 0; d < schedule_.device_tasks.size(); ++d) {
      const auto& tasks = schedule_.device_tasks[d];
      std::vector<std::size_t> order(tasks.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (tasks[a].stream != tasks[b].stream) return tasks[a].stream < tasks[b].stream;
        return tasks[a].start < tasks[b].start;
      });
      for (std::size_t k = 1; k < order.size(); ++k) {
        const Task& a = tasks[order[k - 1]];
        const Task& b = tasks[order[k]];
        if (a.stream != b.stream || !std::isfinite(a.end) || !std::isfinite(b.start)) continue;
        if (b.start < a.end - tol(a.end))
          add(ViolationKind::kOverlap, static_cast<int>(d),
              fmt::format("device {}{} runs {} ({} .. {}) and {} ({} .. {}) at the same time", d,
                          a.stream != 0 ? fmt::format(" stream {}", a.stream) : std::string(), task_name(a), a.start,
                          a.end, task_name(b), b.start, b.end));
      }
    }
  }

  // Memory from the spec: allocations at starts, releases at ends (releases first at equal times).
  void check_memory_and_metrics() {
    Schedule recomputed;
    recomputed.num_devices = spec_.num_devices;
    recomputed.device_tasks.resize(schedule_.device_tasks.size());
    recomputed.param_memory.resize(schedule_.device_tasks.size());
    bool items_known = true;
    for (std::size_t d = 0; d < schedule_.device_tasks.size(); ++d) {
      recomputed.param_memory[d] = spec_.param_memory(static_cast<int>(d));
      for (const Task& t : schedule_.device_tasks[d]) {
        if (!index_.contains(t.item) || (t.overlapped && !index_.contains(*t.overlapped)) || !std::isfinite(t.start) ||
            !std::isfinite(t.end)) {
          items_known = false;
          continue;
        }
        Task c = t;
        c.memory_alloc =
            detail::memory_alloc(spec_, t.item) + (t.overlapped ? detail::memory_alloc(spec_, *t.overlapped) : 0);
        c.memory_free =
            detail::memory_free(spec_, t.item) + (t.overlapped ? detail::memory_free(spec_, *t.overlapped) : 0);
        if (options_.check_metrics && (std::abs(c.memory_alloc - t.memory_alloc) > tol(c.memory_alloc) ||
                                       std::abs(c.memory_free - t.memory_free) > tol(c.memory_free)))
          add(ViolationKind::kMetrics, static_cast<int>(d),
              fmt::format("{} on device {} says it allocates {} and frees {}; the spec says {} and {}", task_name(t), d,
                          t.memory_alloc, t.memory_free, c.memory_alloc, c.memory_free));
        recomputed.device_tasks[d].push_back(c);
      }
    }
    recomputed.compute_metrics();
    for (std::size_t d = 0; d < recomputed.metrics.devices.size(); ++d) {
      const DeviceMetrics& m = recomputed.metrics.devices[d];
      const double cap = spec_.cap(static_cast<int>(d));
      if (m.peak_memory > cap + tol(cap)) {
        // Find the moment of the peak for the message.
        add(ViolationKind::kMemory, static_cast<int>(d),
            fmt::format(
                "device {} needs {} (parameters {} + activations {}, {} chunk(s) at most) at its peak, above its "
                "memory cap {}",
                d, m.peak_memory, m.param_memory, m.peak_activation_memory, m.peak_activations, cap));
      }
    }
    if (!options_.check_metrics || !items_known) return;
    const ScheduleMetrics& have = schedule_.metrics;
    const ScheduleMetrics& want = recomputed.metrics;
    const auto differs = [&](double a, double b) { return std::abs(a - b) > tol(b); };
    if (differs(have.makespan, want.makespan))
      add(ViolationKind::kMetrics, -1,
          fmt::format("the stored makespan {} differs from the tasks' {}", have.makespan, want.makespan));
    if (have.devices.size() != want.devices.size()) {
      add(ViolationKind::kMetrics, -1,
          fmt::format("the stored metrics cover {} devices, the schedule has {}", have.devices.size(),
                      want.devices.size()));
      return;
    }
    for (std::size_t d = 0; d < want.devices.size(); ++d) {
      const DeviceMetrics& h = have.devices[d];
      const DeviceMetrics& w = want.devices[d];
      const auto check = [&](const char* what, double a, double b) {
        if (differs(a, b))
          add(ViolationKind::kMetrics, static_cast<int>(d),
              fmt::format("device {}: the stored {} {} differs from the tasks' {}", d, what, a, b));
      };
      check("busy time", h.busy, w.busy);
      check("bubble", h.bubble, w.bubble);
      check("peak activations", h.peak_activations, w.peak_activations);
      check("peak memory", h.peak_memory, w.peak_memory);
    }
  }

  const PipelineSpec& spec_;
  const Schedule& schedule_;
  const VerifyOptions& options_;
  const WorkIndex index_;
  const std::vector<int> chunks_;
  std::vector<SlotRef> slots_;
  std::vector<std::int32_t> holder_;
  std::vector<std::int32_t> transfer_of_;
  VerifyReport report_;
};

constexpr const char* kViolationNames[] = {"structure",  "missing",  "duplicate", "time",   "duration",
                                           "precedence", "transfer", "overlap",   "memory", "metrics"};

}  // namespace

const char* to_string(ViolationKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kViolationNames) ? kViolationNames[i] : "unknown";
}

bool VerifyOptions::IsValid(std::string* error) const {
  if (!std::isfinite(tolerance) || tolerance < 0) {
    if (error) *error = fmt::format("tolerance must be finite and >= 0, got {}", tolerance);
    return false;
  }
  if (max_violations < 1) {
    if (error) *error = "max_violations must be at least 1";
    return false;
  }
  return true;
}

std::size_t VerifyReport::count(ViolationKind kind) const {
  return static_cast<std::size_t>(
      std::count_if(violations.begin(), violations.end(), [&](const Violation& v) { return v.kind == kind; }));
}

std::string VerifyReport::to_string() const {
  if (violations.empty()) return "OK";
  std::string out;
  for (const Violation& v : violations) {
    if (!out.empty()) out += '\n';
    out += opplan::to_string(v.kind);
    out += ": ";
    out += v.message;
  }
  if (truncated) out += "\n(stopped counting)";
  return out;
}

VerifyReport verify(const PipelineSpec& spec, const Schedule& schedule, const VerifyOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) {
    VerifyReport r;
    r.violations.push_back({ViolationKind::kStructure, -1, fmt::format("verify options: {}", error)});
    return r;
  }
  if (Status s = spec.validate(); !s.ok()) {
    VerifyReport r;
    r.violations.push_back({ViolationKind::kStructure, -1, fmt::format("the spec is not valid: {}", s.message())});
    return r;
  }
  try {
    return Checker(spec, schedule, options).run();
  } catch (const std::exception& e) {  // only resource exhaustion can get here
    VerifyReport r;
    r.violations.push_back({ViolationKind::kStructure, -1, fmt::format("verifying failed: {}", e.what())});
    return r;
  }
}

OPPLAN_END_NAMESPACE
