// What the generators, the simulator and the verifier share (pipeline_internal.hpp).
#include <fmt/format.h>

#include <algorithm>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

std::vector<int> chunk_table(const PipelineSpec& spec) {
  const int S = spec.num_stages();
  std::vector<int> table(static_cast<std::size_t>(spec.num_routes()) * static_cast<std::size_t>(S), Schedule::kNoChunk);
  std::vector<int> next(static_cast<std::size_t>(std::max(spec.num_devices, 0)), 0);
  bool several = false;
  for (int r = 0; r < spec.num_routes(); ++r)
    for (int s = 0; s < S; ++s) {
      const int d = spec.routes[static_cast<std::size_t>(r)][static_cast<std::size_t>(s)];
      if (d < 0 || d >= spec.num_devices) continue;
      const int chunk = next[static_cast<std::size_t>(d)]++;
      several = several || chunk > 0;
      table[static_cast<std::size_t>(r) * static_cast<std::size_t>(S) + static_cast<std::size_t>(s)] = chunk;
    }
  if (!several) std::fill(table.begin(), table.end(), Schedule::kNoChunk);
  return table;
}

double work_time(const StageSpec& stage, Work work) {
  switch (work) {
    case Work::kForward: return stage.forward;
    case Work::kInputGrad: return stage.input_grad;
    case Work::kWeightGrad: return stage.weight_grad;
    case Work::kBackward: return stage.backward_time();
  }
  return 0;
}

double slot_time(const PipelineSpec& spec, const WorkItem& item, const std::optional<WorkItem>& overlapped) {
  const StageSpec& a = spec.stages[static_cast<std::size_t>(item.stage)];
  if (!overlapped) return work_time(a, item.work);
  const StageSpec& b = spec.stages[static_cast<std::size_t>(overlapped->stage)];
  const auto ratio = [](const StageSpec& s) { return s.forward_backward_time() / (s.forward + s.backward_time()); };
  const double sum = work_time(a, item.work) + work_time(b, overlapped->work);
  if (a == b) return sum == a.forward + a.backward_time() ? a.forward_backward_time() : sum * ratio(a);
  return sum * 0.5 * (ratio(a) + ratio(b));
}

double memory_alloc(const PipelineSpec& spec, const WorkItem& item) {
  return item.work == Work::kForward ? spec.stages[static_cast<std::size_t>(item.stage)].activation : 0;
}

double memory_free(const PipelineSpec& spec, const WorkItem& item) {
  const StageSpec& s = spec.stages[static_cast<std::size_t>(item.stage)];
  switch (item.work) {
    case Work::kForward: return 0;
    case Work::kInputGrad: return s.input_grad_frees;
    case Work::kWeightGrad: return s.activation - s.input_grad_frees;
    case Work::kBackward: return s.activation;
  }
  return 0;
}

double boundary_delay(const PipelineSpec& spec, int route, int stage) {
  const auto& r = spec.routes[static_cast<std::size_t>(route)];
  if (stage < 0 || stage + 1 >= static_cast<int>(r.size())) return 0;
  if (r[static_cast<std::size_t>(stage)] == r[static_cast<std::size_t>(stage) + 1]) return 0;
  return spec.stages[static_cast<std::size_t>(stage)].p2p;
}

std::string label(const std::vector<int>& chunks, int num_stages, const WorkItem& item) {
  Schedule s;
  s.num_stages = num_stages;
  s.chunk_of = chunks;  // copying a small table is fine for error messages; hot paths use Schedule::label
  return s.label(item);
}

std::string describe(const PipelineSpec& spec, const std::vector<int>& chunks, const WorkItem& item) {
  std::string out = label(chunks, spec.num_stages(), item);
  if (item.route >= 0 && item.route < spec.num_routes() && item.stage >= 0 && item.stage < spec.num_stages()) {
    const int d = spec.routes[static_cast<std::size_t>(item.route)][static_cast<std::size_t>(item.stage)];
    out += spec.num_routes() > 1 ? fmt::format(" (route {}, stage {}, device {})", item.route, item.stage, d)
                                 : fmt::format(" (stage {}, device {})", item.stage, d);
  }
  return out;
}

HolderMap map_holders(const PipelineSpec& spec, const WorkIndex& index, const std::vector<int>& chunks,
                      const std::vector<SlotRef>& slots, std::size_t max_problems) {
  HolderMap out;
  out.holder.assign(index.size(), -1);
  const auto add = [&](ViolationKind kind, int device, std::string message) {
    if (out.problems.size() >= max_problems) {
      out.truncated = true;
      return;
    }
    out.problems.push_back({kind, device, std::move(message)});
  };
  const auto where = [](const SlotRef& slot) {
    return fmt::format("device {}, position {}", slot.device, slot.position);
  };
  const auto item_text = [&](const WorkItem& w) {
    return fmt::format("{}{} (route {}, micro-batch {}, stage {})", work_letter(w.work), w.micro_batch, w.route,
                       w.micro_batch, w.stage);
  };
  for (std::size_t k = 0; k < slots.size(); ++k) {
    const SlotRef& slot = slots[k];
    if (slot.overlapped) {
      const bool pair_ok = (slot.item.work == Work::kForward &&
                            (slot.overlapped->work == Work::kBackward || slot.overlapped->work == Work::kInputGrad));
      if (!pair_ok)
        add(ViolationKind::kStructure, slot.device,
            fmt::format("{}: an overlapped slot pairs a forward with a backward (B or b), got {}&{}", where(slot),
                        work_letter(slot.item.work), work_letter(slot.overlapped->work)));
    }
    for (int part = 0; part < (slot.overlapped ? 2 : 1); ++part) {
      const WorkItem& w = part == 0 ? slot.item : *slot.overlapped;
      if (!index.contains(w)) {
        std::string why;
        if (w.route < 0 || w.route >= index.routes())
          why = fmt::format("route {} does not exist ({} route{})", w.route, index.routes(),
                            index.routes() == 1 ? "" : "s");
        else if (w.micro_batch < 0 || w.micro_batch >= index.micro_batches())
          why =
              fmt::format("micro-batch {} does not exist (0..{} per route)", w.micro_batch, index.micro_batches() - 1);
        else if (w.stage < 0 || w.stage >= index.stages())
          why = fmt::format("stage {} does not exist (0..{})", w.stage, index.stages() - 1);
        else
          why = "unknown kind of work";
        add(ViolationKind::kStructure, slot.device, fmt::format("{}: {}: {}", where(slot), item_text(w), why));
        continue;
      }
      const int home = spec.routes[static_cast<std::size_t>(w.route)][static_cast<std::size_t>(w.stage)];
      if (home != slot.device) {
        add(ViolationKind::kStructure, slot.device,
            fmt::format("{}: {} belongs on device {}", where(slot), describe(spec, chunks, w), home));
        continue;
      }
      std::int32_t& h = out.holder[index.id(w)];
      if (h >= 0) {
        const SlotRef& first = slots[static_cast<std::size_t>(h)];
        add(ViolationKind::kDuplicate, slot.device,
            fmt::format("{} runs twice: {} and {}", describe(spec, chunks, w), where(first), where(slot)));
        continue;
      }
      h = static_cast<std::int32_t>(k);
    }
  }
  // Completeness: F everywhere, and the backward either as B or as b and W.
  for (int r = 0; r < index.routes(); ++r)
    for (int m = 0; m < index.micro_batches(); ++m)
      for (int s = 0; s < index.stages(); ++s) {
        if (out.problems.size() >= max_problems) {
          out.truncated = true;
          return out;
        }
        const int device = spec.routes[static_cast<std::size_t>(r)][static_cast<std::size_t>(s)];
        const auto has = [&](Work w) { return out.holder[index.id(w, r, m, s)] >= 0; };
        const auto name = [&](Work w) { return describe(spec, chunks, WorkItem{w, r, m, s}); };
        if (!has(Work::kForward))
          add(ViolationKind::kMissing, device, fmt::format("{} never runs", name(Work::kForward)));
        const bool B = has(Work::kBackward), b = has(Work::kInputGrad), W = has(Work::kWeightGrad);
        if (B && (b || W))
          add(ViolationKind::kDuplicate, device,
              fmt::format("{} and {} both run: the backward runs either whole (B) or split (b then W)",
                          name(Work::kBackward), name(b ? Work::kInputGrad : Work::kWeightGrad)));
        else if (!B && !b && !W)
          add(ViolationKind::kMissing, device,
              fmt::format("the backward of {} never runs (neither B nor b and W)", name(Work::kForward)));
        else if (!B && b && !W)
          add(ViolationKind::kMissing, device,
              fmt::format("{} never runs ({} does)", name(Work::kWeightGrad),
                          label(chunks, index.stages(), WorkItem{Work::kInputGrad, r, m, s})));
        else if (!B && !b && W)
          add(ViolationKind::kMissing, device,
              fmt::format("{} never runs ({} does)", name(Work::kInputGrad),
                          label(chunks, index.stages(), WorkItem{Work::kWeightGrad, r, m, s})));
      }
  return out;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
