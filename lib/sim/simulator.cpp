// The event simulator: per-device programs (and optionally per-link transfer orders) to a timed
// Schedule.
//
// Every device and, with serialized links, every directed link is a resource that runs its tasks
// in the given order. A task starts when its resource is free and its inputs have arrived; its
// times are fixed the moment its inputs are known, so no global event queue is needed: a resource
// runs ahead until its next task waits for an input that is not known yet, and parks itself on
// that input until it is. This is linear in the number of tasks, and it finds deadlocks for free:
// work left while every resource is parked.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <opplan/simulator.hpp>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::SlotRef;
using detail::WorkIndex;

constexpr std::size_t kMaxProblems = 50;

struct Dep {
  std::int32_t task;
  double delay;
};

// The output a piece of work needs from elsewhere: where it comes from and how long it travels.
struct Need {
  std::int32_t producer = -1;  // slot, -1 = none needed
  WorkItem producer_item;
  double delay = 0;
  bool crosses = false;  // producer and consumer on different devices
};

Need need_of(const PipelineSpec& spec, const WorkIndex& index, const std::vector<std::int32_t>& holder,
             const WorkItem& w) {
  Need n;
  const int S = spec.num_stages();
  const auto from = [&](const WorkItem& p, double delay) {
    n.producer_item = p;
    n.producer = holder[index.id(p)];
    n.delay = delay;
    const auto& route = spec.routes[static_cast<std::size_t>(w.route)];
    n.crosses = route[static_cast<std::size_t>(p.stage)] != route[static_cast<std::size_t>(w.stage)];
  };
  switch (w.work) {
    case Work::kForward:
      if (w.stage > 0)
        from({Work::kForward, w.route, w.micro_batch, w.stage - 1}, detail::boundary_delay(spec, w.route, w.stage - 1));
      break;
    case Work::kInputGrad:
    case Work::kBackward:
      if (w.stage == S - 1) {
        from({Work::kForward, w.route, w.micro_batch, w.stage}, 0);
      } else {
        WorkItem g{Work::kInputGrad, w.route, w.micro_batch, w.stage + 1};
        if (holder[index.id(g)] < 0) g.work = Work::kBackward;
        from(g, detail::boundary_delay(spec, w.route, w.stage));
      }
      break;
    case Work::kWeightGrad: from({Work::kInputGrad, w.route, w.micro_batch, w.stage}, 0); break;
  }
  return n;
}

// Where the output of `w` goes when it leaves its device: the consumer's device, or -1.
int output_destination(const PipelineSpec& spec, const WorkItem& w) {
  const auto& route = spec.routes[static_cast<std::size_t>(w.route)];
  int to = -1;
  if (w.work == Work::kForward && w.stage + 1 < spec.num_stages()) to = w.stage + 1;
  if ((w.work == Work::kInputGrad || w.work == Work::kBackward) && w.stage > 0) to = w.stage - 1;
  if (to < 0) return -1;
  const int dst = route[static_cast<std::size_t>(to)];
  return dst == route[static_cast<std::size_t>(w.stage)] ? -1 : dst;
}

std::string join_problems(const char* what, const std::vector<std::string>& problems, bool truncated) {
  std::string message = problems.size() == 1 && !truncated ? problems[0]
                                                           : fmt::format("{} problems in the {}{}:", problems.size(),
                                                                         what, truncated ? " (stopped counting)" : "");
  if (problems.size() > 1 || truncated)
    for (const auto& p : problems) message.append("\n  ").append(p);
  return message;
}

}  // namespace

bool SimulateOptions::IsValid(std::string* error) const {
  (void)error;
  return true;
}

namespace {

Result<Schedule> simulate_impl(const PipelineSpec& spec, const PipelineOrders& orders, const SimulateOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) return Status(StatusCode::kInvalidArgument, fmt::format("simulate options: {}", error));
  if (Status s = spec.validate(); !s.ok()) return s;
  const int P = spec.num_devices;
  if (orders.devices.size() != static_cast<std::size_t>(P))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{} device programs given, the spec has {} devices", orders.devices.size(), P));

  const WorkIndex index(spec);
  const std::vector<int> chunks = detail::chunk_table(spec);
  const auto name = [&](const WorkItem& w) { return detail::describe(spec, chunks, w); };

  // ---- structure: every piece of work exactly once, on its device ----
  std::vector<SlotRef> slots;
  slots.reserve(orders.num_entries());
  std::vector<std::int32_t> first_slot(static_cast<std::size_t>(P) + 1, 0);
  for (int d = 0; d < P; ++d) {
    first_slot[static_cast<std::size_t>(d)] = static_cast<std::int32_t>(slots.size());
    const auto& program = orders.devices[static_cast<std::size_t>(d)];
    for (std::size_t k = 0; k < program.size(); ++k)
      slots.push_back(SlotRef{d, k, program[k].item, program[k].overlapped});
  }
  first_slot[static_cast<std::size_t>(P)] = static_cast<std::int32_t>(slots.size());
  detail::HolderMap holders = detail::map_holders(spec, index, chunks, slots, kMaxProblems);
  if (!holders.problems.empty()) {
    std::vector<std::string> lines;
    for (const auto& p : holders.problems) lines.push_back(p.message);
    return Status(StatusCode::kInvalidArgument, join_problems("device programs", lines, holders.truncated));
  }
  const std::vector<std::int32_t>& holder = holders.holder;
  const auto n_slots = static_cast<std::int32_t>(slots.size());

  // ---- tasks and their inputs ----
  // Resources: devices 0..P-1, then links (serialized only). Tasks: slots, then transfers.
  std::vector<std::int32_t> dep_begin;
  std::vector<Dep> deps;
  dep_begin.reserve(slots.size() + 1);
  deps.reserve(2 * slots.size());
  std::vector<double> duration(slots.size());
  std::vector<std::vector<std::int32_t>> resource_tasks(static_cast<std::size_t>(P));
  for (int d = 0; d < P; ++d) {
    auto& list = resource_tasks[static_cast<std::size_t>(d)];
    list.resize(static_cast<std::size_t>(first_slot[static_cast<std::size_t>(d) + 1] -
                                         first_slot[static_cast<std::size_t>(d)]));
    for (std::size_t k = 0; k < list.size(); ++k)
      list[k] = first_slot[static_cast<std::size_t>(d)] + static_cast<std::int32_t>(k);
  }

  // With serialized links every crossing output with a positive delay is a transfer task.
  struct TransferTask {
    std::int32_t producer;
    WorkItem item;
    int src, dst;
    double time;
  };
  std::vector<TransferTask> transfer_tasks;
  std::vector<std::int32_t> transfer_of;  // per work id of a producer, its transfer task, or -1
  std::map<std::pair<int, int>, int> link_resource;
  if (options.serialize_links) {
    transfer_of.assign(index.size(), -1);
    for (std::int32_t k = 0; k < n_slots; ++k) {
      const SlotRef& s = slots[static_cast<std::size_t>(k)];
      for (int part = 0; part < (s.overlapped ? 2 : 1); ++part) {
        const WorkItem& w = part == 0 ? s.item : *s.overlapped;
        const int dst = output_destination(spec, w);
        if (dst < 0) continue;
        const int to = w.work == Work::kForward ? w.stage : w.stage - 1;  // boundary index
        const double t = spec.stages[static_cast<std::size_t>(to)].p2p;
        if (t <= 0) continue;
        transfer_of[index.id(w)] = n_slots + static_cast<std::int32_t>(transfer_tasks.size());
        transfer_tasks.push_back({k, w, s.device, dst, t});
        link_resource.emplace(std::make_pair(s.device, dst), 0);
      }
    }
    int next = P;
    for (auto& [link, res] : link_resource) res = next++;
    resource_tasks.resize(static_cast<std::size_t>(next));
    // Default order: as the producers ran on their device (slot order, forward output first).
    for (std::size_t t = 0; t < transfer_tasks.size(); ++t) {
      const TransferTask& tt = transfer_tasks[t];
      resource_tasks[static_cast<std::size_t>(link_resource[{tt.src, tt.dst}])].push_back(n_slots +
                                                                                          static_cast<std::int32_t>(t));
    }
    // Explicit link orders replace the default for their link.
    std::vector<std::string> problems;
    for (const LinkOrder& lo : orders.links) {
      const auto it = link_resource.find({lo.src_device, lo.dst_device});
      if (it == link_resource.end()) {
        problems.push_back(
            fmt::format("link {}->{}: no output crosses it (or its p2p time is 0)", lo.src_device, lo.dst_device));
        continue;
      }
      auto& list = resource_tasks[static_cast<std::size_t>(it->second)];
      std::vector<std::int32_t> ordered;
      std::vector<char> seen(transfer_tasks.size(), 0);
      for (const WorkItem& w : lo.producers) {
        const std::int32_t t = index.contains(w) ? transfer_of[index.id(w)] : -1;
        const TransferTask* tt = t >= 0 ? &transfer_tasks[static_cast<std::size_t>(t - n_slots)] : nullptr;
        if (!tt || tt->src != lo.src_device || tt->dst != lo.dst_device) {
          problems.push_back(fmt::format("link {}->{}: {} sends nothing over this link", lo.src_device, lo.dst_device,
                                         index.contains(w) ? name(w) : std::string("an unknown op")));
          continue;
        }
        if (seen[static_cast<std::size_t>(t - n_slots)]++) {
          problems.push_back(fmt::format("link {}->{}: {} is listed twice", lo.src_device, lo.dst_device, name(w)));
          continue;
        }
        ordered.push_back(t);
      }
      for (std::int32_t t : list)
        if (!seen[static_cast<std::size_t>(t - n_slots)])
          problems.push_back(fmt::format("link {}->{}: the output of {} is not in the link's order", lo.src_device,
                                         lo.dst_device,
                                         name(transfer_tasks[static_cast<std::size_t>(t - n_slots)].item)));
      list = std::move(ordered);
    }
    if (!problems.empty()) return Status(StatusCode::kInvalidArgument, join_problems("link orders", problems, false));
  }

  const std::size_t n_tasks = slots.size() + transfer_tasks.size();
  duration.resize(n_tasks);
  std::vector<std::int32_t> task_resource(n_tasks);
  for (std::size_t r = 0; r < resource_tasks.size(); ++r)
    for (std::int32_t t : resource_tasks[r]) task_resource[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(r);
  for (std::int32_t k = 0; k < n_slots; ++k) {
    const SlotRef& s = slots[static_cast<std::size_t>(k)];
    dep_begin.push_back(static_cast<std::int32_t>(deps.size()));
    duration[static_cast<std::size_t>(k)] = detail::slot_time(spec, s.item, s.overlapped);
    for (int part = 0; part < (s.overlapped ? 2 : 1); ++part) {
      const WorkItem& w = part == 0 ? s.item : *s.overlapped;
      const Need n = need_of(spec, index, holder, w);
      if (n.producer < 0) continue;
      const std::int32_t via =
          options.serialize_links && n.crosses && n.delay > 0 ? transfer_of[index.id(n.producer_item)] : -1;
      if (via >= 0)
        deps.push_back({via, 0});
      else
        deps.push_back({n.producer, n.delay});
    }
  }
  for (std::size_t t = 0; t < transfer_tasks.size(); ++t) {
    dep_begin.push_back(static_cast<std::int32_t>(deps.size()));
    duration[slots.size() + t] = transfer_tasks[t].time;
    deps.push_back({transfer_tasks[t].producer, 0});
  }
  dep_begin.push_back(static_cast<std::int32_t>(deps.size()));

  // ---- run ----
  const std::size_t n_resources = resource_tasks.size();
  std::vector<double> start(n_tasks, 0), finish(n_tasks, 0);
  std::vector<char> done(n_tasks, 0);
  std::vector<std::size_t> head(n_resources, 0);
  std::vector<double> free_at(n_resources, 0);
  std::vector<std::int32_t> first_waiter(n_tasks, -1), next_waiter(n_resources, -1);
  std::vector<std::int32_t> waiting_for(n_resources, -1);
  std::vector<std::int32_t> stack;
  stack.reserve(n_resources);
  for (std::size_t r = n_resources; r-- > 0;) stack.push_back(static_cast<std::int32_t>(r));
  std::size_t finished = 0;
  while (!stack.empty()) {
    const auto r = static_cast<std::size_t>(stack.back());
    stack.pop_back();
    waiting_for[r] = -1;
    auto& list = resource_tasks[r];
    while (head[r] < list.size()) {
      const std::int32_t t = list[head[r]];
      double begin = free_at[r];
      std::int32_t missing = -1;
      for (std::int32_t i = dep_begin[static_cast<std::size_t>(t)]; i < dep_begin[static_cast<std::size_t>(t) + 1];
           ++i) {
        const Dep& dep = deps[static_cast<std::size_t>(i)];
        if (!done[static_cast<std::size_t>(dep.task)]) {
          missing = dep.task;
          break;
        }
        begin = std::max(begin, finish[static_cast<std::size_t>(dep.task)] + dep.delay);
      }
      if (missing >= 0) {
        waiting_for[r] = missing;
        next_waiter[r] = first_waiter[static_cast<std::size_t>(missing)];
        first_waiter[static_cast<std::size_t>(missing)] = static_cast<std::int32_t>(r);
        break;
      }
      start[static_cast<std::size_t>(t)] = begin;
      finish[static_cast<std::size_t>(t)] = free_at[r] = begin + duration[static_cast<std::size_t>(t)];
      done[static_cast<std::size_t>(t)] = 1;
      ++finished;
      ++head[r];
      for (std::int32_t w = first_waiter[static_cast<std::size_t>(t)]; w >= 0;) {
        const std::int32_t next = next_waiter[static_cast<std::size_t>(w)];
        stack.push_back(w);
        w = next;
      }
      first_waiter[static_cast<std::size_t>(t)] = -1;
    }
  }

  const auto task_text = [&](std::int32_t t) {
    if (t < n_slots) {
      const SlotRef& s = slots[static_cast<std::size_t>(t)];
      std::string text = detail::label(chunks, spec.num_stages(), s.item);
      if (s.overlapped) {
        text += '&';
        text += detail::label(chunks, spec.num_stages(), *s.overlapped);
      }
      return text;
    }
    const TransferTask& tt = transfer_tasks[static_cast<std::size_t>(t - n_slots)];
    return fmt::format("the transfer of {}'s output", detail::label(chunks, spec.num_stages(), tt.item));
  };
  const auto resource_text = [&](std::size_t r) {
    if (r < static_cast<std::size_t>(P)) return fmt::format("device {}", r);
    for (const auto& [link, res] : link_resource)
      if (static_cast<std::size_t>(res) == r) return fmt::format("link {}->{}", link.first, link.second);
    return std::string("a link");
  };
  if (finished < n_tasks) {
    std::vector<std::string> lines;
    for (std::size_t r = 0; r < n_resources && lines.size() < kMaxProblems; ++r) {
      if (head[r] >= resource_tasks[r].size()) continue;
      const std::int32_t t = resource_tasks[r][head[r]];
      const std::int32_t w = waiting_for[r];
      std::string line =
          fmt::format("{} is blocked at position {} ({}), waiting for ", resource_text(r), head[r], task_text(t));
      if (w == t) {
        line += "itself (a backward overlapped with the forward it needs)";
      } else if (w >= 0) {
        const std::size_t wr = static_cast<std::size_t>(task_resource[static_cast<std::size_t>(w)]);
        const auto& wl = resource_tasks[wr];
        const auto pos = static_cast<std::size_t>(std::find(wl.begin(), wl.end(), w) - wl.begin());
        if (pos == head[wr])
          line += fmt::format("{}, the next op of {}, itself blocked", task_text(w), resource_text(wr));
        else
          line += fmt::format("{}, which {} runs at position {}, after its blocked {}", task_text(w), resource_text(wr),
                              pos, task_text(wl[head[wr]]));
      } else {
        line += "an input that never comes";
      }
      lines.push_back(std::move(line));
    }
    std::string message = fmt::format("deadlock: {} of {} ops ran, then no device could continue:", finished, n_tasks);
    for (const auto& l : lines) message.append("\n  ").append(l);
    return Status(StatusCode::kFailedPrecondition, std::move(message));
  }

  // ---- the schedule ----
  Schedule schedule;
  schedule.name = options.name;
  schedule.num_devices = P;
  schedule.num_stages = spec.num_stages();
  schedule.chunk_of = chunks;
  schedule.device_tasks.resize(static_cast<std::size_t>(P));
  schedule.param_memory.resize(static_cast<std::size_t>(P));
  for (int d = 0; d < P; ++d) {
    schedule.param_memory[static_cast<std::size_t>(d)] = spec.param_memory(d);
    if (!spec.memory_cap.empty()) schedule.memory_cap.push_back(spec.cap(d));
    auto& tasks = schedule.device_tasks[static_cast<std::size_t>(d)];
    tasks.reserve(static_cast<std::size_t>(first_slot[static_cast<std::size_t>(d) + 1] -
                                           first_slot[static_cast<std::size_t>(d)]));
    for (std::int32_t k = first_slot[static_cast<std::size_t>(d)]; k < first_slot[static_cast<std::size_t>(d) + 1];
         ++k) {
      const SlotRef& s = slots[static_cast<std::size_t>(k)];
      Task task;
      task.device = d;
      task.start = start[static_cast<std::size_t>(k)];
      task.end = finish[static_cast<std::size_t>(k)];
      task.item = s.item;
      task.overlapped = s.overlapped;
      task.memory_alloc =
          detail::memory_alloc(spec, s.item) + (s.overlapped ? detail::memory_alloc(spec, *s.overlapped) : 0);
      task.memory_free =
          detail::memory_free(spec, s.item) + (s.overlapped ? detail::memory_free(spec, *s.overlapped) : 0);
      tasks.push_back(task);
    }
  }
  if (options.serialize_links) {
    for (std::size_t t = 0; t < transfer_tasks.size(); ++t) {
      const TransferTask& tt = transfer_tasks[t];
      schedule.transfers.push_back({tt.src, tt.dst, start[slots.size() + t], finish[slots.size() + t], tt.item});
    }
  } else {
    for (std::int32_t k = 0; k < n_slots; ++k) {
      const SlotRef& s = slots[static_cast<std::size_t>(k)];
      for (int part = 0; part < (s.overlapped ? 2 : 1); ++part) {
        const WorkItem& w = part == 0 ? s.item : *s.overlapped;
        const int dst = output_destination(spec, w);
        if (dst < 0) continue;
        const int boundary = w.work == Work::kForward ? w.stage : w.stage - 1;
        const double t = spec.stages[static_cast<std::size_t>(boundary)].p2p;
        if (t <= 0) continue;
        schedule.transfers.push_back(
            {s.device, dst, finish[static_cast<std::size_t>(k)], finish[static_cast<std::size_t>(k)] + t, w});
      }
    }
  }
  std::stable_sort(schedule.transfers.begin(), schedule.transfers.end(), [](const Transfer& a, const Transfer& b) {
    if (a.src_device != b.src_device) return a.src_device < b.src_device;
    if (a.dst_device != b.dst_device) return a.dst_device < b.dst_device;
    return a.start < b.start;
  });
  schedule.compute_metrics();
  return schedule;
}

}  // namespace

Result<Schedule> simulate(const PipelineSpec& spec, const PipelineOrders& orders, const SimulateOptions& options) {
  try {
    return simulate_impl(spec, orders, options);
  } catch (const std::exception& e) {  // only resource exhaustion can get here: bad input is a Status
    return Status(StatusCode::kInternal, fmt::format("simulating failed: {}", e.what()));
  }
}

OPPLAN_END_NAMESPACE
