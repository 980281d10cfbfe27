// The Zero-Bubble memory-capped heuristic (Qi et al., ICLR 2024, "automatic scheduling", §3.1 and
// the authors' published heuristic), written from its description:
//
//  * Micro-batch 0: every stage runs F0; then, walking back from the last stage, each stage adds
//    warm-up forwards while memory allows and while the first backward has not reached it yet;
//    warm-up counts are made strictly decreasing along the pipeline; then b0 runs on every stage,
//    last stage first.
//  * Micro-batch i > 0: each stage decides whether to run its next F (a stage two forwards ahead of
//    the next one may skip it to let the backward through, when skipping costs no more bubble than
//    the worst stage already has); an F runs only if all later stages run theirs. Before an F or a b
//    that has to wait for its input, pending weight-gradients fill the wait; W are also forced
//    whenever memory would exceed the cap. The first stage drains its W before its last b's.
//  * At the end every stage runs its remaining W.
//
// Three flags change the decisions (allow a bubble before the first b, prioritise b, fill with W
// greedily); the heuristic tries all 8 combinations and keeps the one with the shortest longest
// stage span (end of last W - start of first F), the metric of the paper's tables.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "pipeline/pipeline_internal.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

constexpr int kF = 0, kB = 1, kW = 2;

struct Flags {
  bool allow_bubble_before_first_b;
  bool prioritize_b;
  bool greedy_w_fill;
};

class ZeroBubbleHeuristic {
 public:
  ZeroBubbleHeuristic(const PipelineSpec& spec, Flags flags)
      : P_(spec.num_devices), M_(spec.micro_batches_per_route()), flags_(flags) {
    const auto n = static_cast<std::size_t>(P_);
    cost_.resize(n);
    mem_.resize(n);
    cap_.resize(n);
    delay_.resize(n);
    for (int j = 0; j < P_; ++j) {
      const StageSpec& s = spec.stages[static_cast<std::size_t>(j)];
      const auto u = static_cast<std::size_t>(j);
      cost_[u] = {s.forward, s.input_grad, s.weight_grad};
      mem_[u] = {s.activation, -s.input_grad_frees, -(s.activation - s.input_grad_frees)};
      cap_[u] = spec.cap(j) - spec.param_memory(j);
      delay_[u] = boundary_delay(spec, 0, j);  // between j and j + 1
    }
    count_.assign(n, {0, 0, 0});
    end_.assign(n, 0);
    used_.assign(n, 0);
    bubble_.assign(n, 0);
    done_f_.assign(n * static_cast<std::size_t>(M_), 0);
    done_b_.assign(n * static_cast<std::size_t>(M_), 0);
    start_f0_.assign(n, 0);
    programs_.resize(n);
  }

  // False when a stage cannot make room for its next op; failed_stage() says which.
  bool run() {
    for (int i = 0; i < M_; ++i) {
      if (i == 0) {
        if (!first_micro_batch()) return false;
        continue;
      }
      if (!steady_micro_batch(i)) return false;
    }
    for (int j = 0; j < P_; ++j)
      while (count(j, kW) < M_) put(j, kW);
    return true;
  }

  int failed_stage() const { return failed_stage_; }

  // Longest stage span: end of the last W minus start of the first F.
  double longest_span() const {
    double best = 0;
    for (int j = 0; j < P_; ++j)
      best = std::max(best, end_[static_cast<std::size_t>(j)] - start_f0_[static_cast<std::size_t>(j)]);
    return best;
  }

  PipelineOrders take_orders() {
    PipelineOrders out;
    out.devices = std::move(programs_);
    return out;
  }

 private:
  int& count(int j, int k) { return count_[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)]; }
  double cost(int j, int k) const { return cost_[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)]; }
  double mem(int j, int k) const { return mem_[static_cast<std::size_t>(j)][static_cast<std::size_t>(k)]; }
  double& end(int j) { return end_[static_cast<std::size_t>(j)]; }
  double& used(int j) { return used_[static_cast<std::size_t>(j)]; }
  double cap(int j) const { return cap_[static_cast<std::size_t>(j)]; }
  double delay(int j) const { return delay_[static_cast<std::size_t>(j)]; }
  double f_end(int j, int m) const {
    return done_f_[static_cast<std::size_t>(j) * static_cast<std::size_t>(M_) + static_cast<std::size_t>(m)];
  }
  double b_end(int j, int m) const {
    return done_b_[static_cast<std::size_t>(j) * static_cast<std::size_t>(M_) + static_cast<std::size_t>(m)];
  }
  bool pending_w(int j) { return count(j, kW) < count(j, kB); }
  double max_bubble() const { return *std::max_element(bubble_.begin(), bubble_.end()); }
  bool fits(int j, double extra) const {
    return used_[static_cast<std::size_t>(j)] + extra <= cap(j) + 1e-9 * std::max(1.0, std::abs(cap(j)));
  }

  // Appends the next op of kind k to stage j at the earliest time its input allows.
  void put(int j, int k) {
    const int m = count(j, k);
    const double no_wait = end(j) + cost(j, k);
    double finish = no_wait;
    if (k == kF && j > 0) finish = std::max(finish, f_end(j - 1, m) + delay(j - 1) + cost(j, k));
    if (k == kB && j + 1 < P_) finish = std::max(finish, b_end(j + 1, m) + delay(j) + cost(j, k));
    if (count(j, kF) > 0) bubble_[static_cast<std::size_t>(j)] += finish - no_wait;
    if (k == kF && m == 0) start_f0_[static_cast<std::size_t>(j)] = finish - cost(j, k);
    end(j) = finish;
    used(j) += mem(j, k);
    const std::size_t slot = static_cast<std::size_t>(j) * static_cast<std::size_t>(M_) + static_cast<std::size_t>(m);
    if (k == kF) done_f_[slot] = finish;
    if (k == kB) done_b_[slot] = finish;
    ++count(j, k);
    static constexpr Work kWork[] = {Work::kForward, Work::kInputGrad, Work::kWeightGrad};
    programs_[static_cast<std::size_t>(j)].push_back(OrderEntry{WorkItem{kWork[k], 0, m, j}, std::nullopt});
  }

  // Runs W until the next op of kind k fits in memory; false when no W is left to free it.
  bool make_room(int j, int k) {
    while (!fits(j, mem(j, k))) {
      if (!pending_w(j)) {
        failed_stage_ = j;
        return false;
      }
      put(j, kW);
    }
    return true;
  }

  // Before an op whose input arrives at `arrival`: fill the wait with pending W.
  void fill_wait(int j, double arrival) {
    while (pending_w(j) && end(j) + cost(j, kW) <= arrival) put(j, kW);
    if (pending_w(j) && end(j) < arrival) {
      // A W that overruns the arrival: take it when waiting would add more bubble than the worst
      // stage already has, or always with the greedy flag.
      if (arrival - end(j) <= max_bubble() - bubble_[static_cast<std::size_t>(j)]) {
        if (flags_.greedy_w_fill) put(j, kW);
      } else {
        put(j, kW);
      }
    }
  }

  bool first_micro_batch() {
    for (int j = 0; j < P_; ++j) put(j, kF);
    std::vector<int> extra(static_cast<std::size_t>(P_), 0);
    double b_done = 0;  // when b0 finishes on the stage after j
    for (int j = P_ - 1; j >= 0; --j) {
      if (j == P_ - 1) {
        b_done = f_end(j, 0) + cost(j, kB);
        continue;
      }
      double used_j = used(j), t = end(j);
      int& n = extra[static_cast<std::size_t>(j)];
      while (count(j, kF) + n < M_ && used_j + mem(j, kF) <= cap(j) + 1e-9 * std::max(1.0, std::abs(cap(j)))) {
        if (flags_.allow_bubble_before_first_b ? t + cost(j, kF) > b_done + delay(j) : t >= b_done + delay(j)) break;
        used_j += mem(j, kF);
        t += cost(j, kF);
        ++n;
      }
      b_done = std::max(t, b_done + delay(j)) + cost(j, kB);
    }
    for (int j = 1; j < P_; ++j) {
      int& n = extra[static_cast<std::size_t>(j)];
      while (n > 0 && n >= extra[static_cast<std::size_t>(j) - 1] && count(j, kF) + n < M_) --n;
    }
    for (int j = 0; j < P_; ++j)
      for (int n = 0; n < extra[static_cast<std::size_t>(j)]; ++n) put(j, kF);
    for (int j = P_ - 1; j >= 0; --j) put(j, kB);
    return true;
  }

  bool steady_micro_batch(int i) {
    std::vector<int> run_f(static_cast<std::size_t>(P_), 0);
    for (int j = 0; j < P_; ++j) {
      if (count(j, kF) >= M_) continue;
      if (flags_.prioritize_b && j + 1 < P_ && count(j, kF) >= count(j + 1, kF) + 2) {
        // The next stage's next F and b, and the gradient's way back.
        const double next_fb = end(j + 1) + cost(j + 1, kF) + cost(j + 1, kB) + delay(j);
        if (end(j) >= next_fb) continue;
        double w_cost = 0, with_w = used(j) + mem(j, kF);
        for (int n = 0; with_w > cap(j) && count(j, kW) + n < count(j, kB); ++n) {
          w_cost += cost(j, kW);
          with_w += mem(j, kW);
        }
        if (end(j) + cost(j, kF) + w_cost <= next_fb) {
          run_f[static_cast<std::size_t>(j)] = 1;
          continue;
        }
        if (next_fb - end(j) <= max_bubble() - bubble_[static_cast<std::size_t>(j)]) continue;
      }
      run_f[static_cast<std::size_t>(j)] = 1;
    }
    for (int j = P_ - 2; j >= 0; --j)
      run_f[static_cast<std::size_t>(j)] =
          std::min(run_f[static_cast<std::size_t>(j)], run_f[static_cast<std::size_t>(j) + 1]);
    for (int j = 0; j < P_; ++j) {
      if (!run_f[static_cast<std::size_t>(j)]) continue;
      if (!make_room(j, kF)) return false;
      if (j > 0) fill_wait(j, f_end(j - 1, count(j, kF)) + delay(j - 1));
      put(j, kF);
    }
    for (int j = P_ - 1; j >= 0; --j) {
      if (count(j, kB) != i) {  // every stage has run b0..b(i-1); a broken invariant is a bug
        failed_stage_ = j;
        return false;
      }
      if (!make_room(j, kB)) return false;
      if (j + 1 < P_) fill_wait(j, b_end(j + 1, i) + delay(j));
      if (j == 0 && count(j, kF) == M_)
        while (pending_w(j)) put(j, kW);
      put(j, kB);
    }
    return true;
  }

  int P_, M_;
  Flags flags_;
  std::vector<std::array<double, 3>> cost_, mem_;
  std::vector<double> cap_, delay_;
  std::vector<std::array<int, 3>> count_;
  std::vector<double> end_, used_, bubble_, done_f_, done_b_, start_f0_;
  std::vector<std::vector<OrderEntry>> programs_;
  int failed_stage_ = -1;
};

}  // namespace

Result<PipelineOrders> zero_bubble_orders(const PipelineSpec& spec, const ScheduleOptions& options) {
  std::optional<PipelineOrders> best;
  double best_span = std::numeric_limits<double>::infinity();
  int failed_stage = -1;
  for (const bool allow : {true, false})
    for (const bool prioritize : {true, false})
      for (const bool greedy : {true, false}) {
        if (best && !options.zb_search_flags) break;
        ZeroBubbleHeuristic h(spec, Flags{allow, prioritize, greedy});
        if (!h.run()) {
          failed_stage = h.failed_stage();
          continue;
        }
        const double span = h.longest_span();
        if (span < best_span) {
          best_span = span;
          best = h.take_orders();
        }
      }
  if (!best)
    return Status(
        StatusCode::kInvalidArgument,
        fmt::format("the Zero-Bubble heuristic cannot fit device {}'s memory cap {} (parameters {}, "
                    "activation {} per micro-batch): raise the cap",
                    failed_stage, spec.cap(std::max(failed_stage, 0)), spec.param_memory(std::max(failed_stage, 0)),
                    spec.stages[static_cast<std::size_t>(std::max(failed_stage, 0))].activation));
  return std::move(*best);
}

}  // namespace detail
OPPLAN_END_NAMESPACE
