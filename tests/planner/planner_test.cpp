// The pipeline planner against the known answers of operator-level-mip.md §4 (case 6 above all),
// the baselines it must never lose to, its lower bounds, short time limits and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <opplan/pipeline.hpp>
#include <opplan/planner.hpp>
#include <opplan/simulator.hpp>
#include <optional>
#include <string>

namespace {

using opplan::PipelineSpec;
using opplan::Placement;
using opplan::PlannerOptions;
using opplan::PlanPlacement;
using opplan::PlanResult;
using opplan::ScheduleKind;
using opplan::StageSpec;
using ::testing::HasSubstr;

StageSpec times(double f, double b, double w, double p2p = 0) {
  StageSpec s;
  s.forward = f;
  s.input_grad = b;
  s.weight_grad = w;
  s.p2p = p2p;
  return s;
}

PipelineSpec make(Placement placement, int devices, int micro_batches, const StageSpec& stage,
                  std::optional<double> cap = std::nullopt) {
  auto spec = opplan::make_pipeline_spec(placement, devices, micro_batches, stage, 1, cap);
  EXPECT_TRUE(spec.ok()) << spec.status().to_string();
  return spec.ok() ? *spec : PipelineSpec{};
}

double max_peak_memory(const opplan::Schedule& s) {
  double peak = 0;
  for (const auto& d : s.metrics.devices) peak = std::max(peak, d.peak_memory);
  return peak;
}

// Plans and re-checks the result with the verifier, independently of the planner's own flag.
PlanResult plan_ok(const PipelineSpec& spec, const PlannerOptions& options) {
  auto result = opplan::plan_pipeline(spec, options);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  if (!result.ok()) return {};
  EXPECT_TRUE(result->verified);
  const auto report = opplan::verify(result->spec, result->schedule);
  EXPECT_TRUE(report.ok()) << report.to_string();
  EXPECT_DOUBLE_EQ(result->makespan, result->schedule.metrics.makespan);
  EXPECT_LE(result->lower_bound, result->makespan + 1e-9);
  return *result;
}

// Case 6: DualPipe's placement, PP 8, 10 micro-batches per direction, F = b = W = 1. DualPipe needs
// 66; the optimum is 63 (bubble 3) and the bound proves it.
class Case6 : public ::testing::TestWithParam<double> {};

TEST_P(Case6, HalvesDualPipesBubbleAndProvesIt) {
  const double cap = GetParam();
  const PipelineSpec spec = make(Placement::kDualPipe, 8, 20, times(1, 1, 1), cap);
  PlannerOptions options;
  options.time_limit = 10;
  const PlanResult r = plan_ok(spec, options);
  EXPECT_DOUBLE_EQ(r.makespan, 63);
  EXPECT_DOUBLE_EQ(r.lower_bound, 63);
  EXPECT_DOUBLE_EQ(r.gap, 0);
  EXPECT_EQ(r.termination, opplan::PlanTermination::kOptimal);
  EXPECT_EQ(r.spec.placement, Placement::kDualPipe);
  for (const auto& d : r.schedule.metrics.devices) {
    EXPECT_LE(d.peak_activations, cap);
    EXPECT_DOUBLE_EQ(d.bubble, 3);
  }
  // DualPipe itself was among the warm starts, at 66.
  const auto dp = std::find_if(r.candidates.begin(), r.candidates.end(), [](const auto& c) { return c.name == "dualpipe"; });
  ASSERT_NE(dp, r.candidates.end());
  EXPECT_DOUBLE_EQ(dp->makespan, 66);
}

INSTANTIATE_TEST_SUITE_P(Caps, Case6, ::testing::Values(9.0, 8.0));

TEST(PlannerBounds, HeadsLoadAndTails) {
  // Case 6's middle ranks start at 3 and hold 60 units.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kDualPipe, 8, 20, times(1, 1, 1))), 63);
  // Linear, 4 devices, 8 micro-batches: the last device starts at 3 and holds 24.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 8, times(1, 1, 1))), 27);
  // p2p 0.5 between devices delays the last device's first forward to 3 * 1.5.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 8, times(1, 1, 1, 0.5))), 28.5);
  // One micro-batch: the critical path, 4 F + 4 b + W + 6 transfers of 0.5.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 1, times(1, 1, 1, 0.5))), 12);
  EXPECT_FALSE(opplan::pipeline_lower_bound(PipelineSpec{}).ok());
}

TEST(PlannerBounds, MemoryWall) {
  // 4 devices, F:b:W 1:1.5:0.5, room for 4 activations: device 0 runs F0..F3, then nothing can
  // free memory before W0 ends at 4 + 3 * 1.5 + 1.5 + 0.5 = 10.5; the b and W of micro-batches 0-3
  // (from 8.5) and all of micro-batches 4-7 (F from 10.5) still need 6 + 2 + 12 = 20: 28.5.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 8, times(1, 1.5, 0.5), 4)), 28.5);
  // Without the cap: the last device starts at 3, its F and b take 8 + 12, and after its last b the
  // input gradient still crosses 3 devices (4.5) and ends in a W (0.5): 28.
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 8, times(1, 1.5, 0.5))), 28);
  // At F = b = W = 1 and room for 4, the wall gives 27 again, which ZB-H1 reaches (test below).
  EXPECT_DOUBLE_EQ(*opplan::pipeline_lower_bound(make(Placement::kLinear, 4, 8, times(1, 1, 1), 4)), 27);
}

// Zero-Bubble's case (§4.7, p = 4, m = 8, 1F1B memory): 27, which is also the bound.
TEST(Planner, ReachesTheBoundUnderOneFOneBMemory) {
  const PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1), 4);
  PlannerOptions options;
  options.time_limit = 2;
  const PlanResult r = plan_ok(spec, options);
  EXPECT_DOUBLE_EQ(r.makespan, 27);
  EXPECT_EQ(r.termination, opplan::PlanTermination::kOptimal);
  EXPECT_LE(max_peak_memory(r.schedule), 4);
}

// The sweep in small: never worse than a baseline under that baseline's own peak memory.
struct SweepCase {
  int micro_batches;
  double f, b, w, p2p;
};

class NeverWorseThanBaselines : public ::testing::TestWithParam<SweepCase> {};

TEST_P(NeverWorseThanBaselines, UnderEachBaselinesOwnPeak) {
  const SweepCase c = GetParam();
  const StageSpec stage = times(c.f, c.b, c.w, c.p2p);
  for (ScheduleKind kind : {ScheduleKind::k1F1B, ScheduleKind::kZBH1, ScheduleKind::kDualPipe}) {
    const PipelineSpec free_spec = make(opplan::required_placement(kind), 4, c.micro_batches, stage);
    auto baseline = opplan::build_schedule(free_spec, kind);
    ASSERT_TRUE(baseline.ok()) << baseline.status().to_string();
    const double cap = max_peak_memory(*baseline);
    PipelineSpec spec = free_spec;
    spec.memory_cap = {cap};
    PlannerOptions options;
    options.time_limit = 0.15;
    const PlanResult r = plan_ok(spec, options);
    SCOPED_TRACE(opplan::to_string(kind));
    EXPECT_LE(r.makespan, baseline->metrics.makespan + 1e-9);
    EXPECT_LE(max_peak_memory(r.schedule), cap + 1e-9);
    EXPECT_EQ(r.spec.placement, free_spec.placement);
  }
}

INSTANTIATE_TEST_SUITE_P(Pp4, NeverWorseThanBaselines,
                         ::testing::Values(SweepCase{8, 1, 1, 1, 0}, SweepCase{8, 1, 1, 1, 0.1},
                                           SweepCase{8, 2, 1, 1, 0}, SweepCase{8, 2, 1, 1, 0.2},
                                           SweepCase{12, 1, 1, 1, 0}, SweepCase{12, 1, 1, 1, 0.1},
                                           SweepCase{12, 2, 1, 1, 0}, SweepCase{12, 2, 1, 1, 0.2}));

// Deterministic by default: the random phase is a count of draws and the MIP a node limit per solve,
// so the same spec and options give the same plan, task for task, whatever the machine's load (the
// generous time limit is only a safety cap and must not be what ended the search).
TEST(PlannerDeterminism, SameInputSamePlan) {
  PipelineSpec spec = make(Placement::kLinear, 4, 8, times(2, 1, 1, 0.2), 4);  // a sweep case, 1F1B's peak
  PlannerOptions options;
  options.time_limit = 120;
  const PlanResult a = plan_ok(spec, options);
  const PlanResult b = plan_ok(spec, options);
  ASSERT_NE(a.termination, opplan::PlanTermination::kTimeLimit) << a.message;
  ASSERT_NE(b.termination, opplan::PlanTermination::kTimeLimit) << b.message;
  EXPECT_GT(a.mip_solves, 0);  // the MIP phase ran, not only the heuristics
  EXPECT_DOUBLE_EQ(a.makespan, b.makespan);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.mip_solves, b.mip_solves);
  EXPECT_EQ(a.mip_improvements, b.mip_improvements);
  EXPECT_EQ(a.message, b.message);
  ASSERT_EQ(a.schedule.device_tasks.size(), b.schedule.device_tasks.size());
  for (std::size_t d = 0; d < a.schedule.device_tasks.size(); ++d)
    EXPECT_TRUE(a.schedule.device_tasks[d] == b.schedule.device_tasks[d]) << "device " << d;
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  for (std::size_t i = 0; i < a.candidates.size(); ++i) {
    EXPECT_EQ(a.candidates[i].name, b.candidates[i].name);
    EXPECT_DOUBLE_EQ(a.candidates[i].makespan, b.candidates[i].makespan);
  }
}

// Another seed draws other random list schedules and windows, so the plan may change, but the
// baselines stay among the warm starts: never worse than any of them, under the same cap.
TEST(PlannerDeterminism, AnotherSeedNeverWorseThanTheBaselines) {
  PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1.5, 0.5), 4);
  for (int seed : {0, 1}) {
    SCOPED_TRACE(seed);
    PlannerOptions options;
    options.time_limit = 60;
    options.seed = seed;
    const PlanResult r = plan_ok(spec, options);
    EXPECT_LE(max_peak_memory(r.schedule), 4 + 1e-9);
    int baselines = 0;
    for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B, ScheduleKind::kZBH1, ScheduleKind::kZBH2}) {
      const auto c = std::find_if(r.candidates.begin(), r.candidates.end(),
                                  [&](const auto& x) { return x.name == opplan::to_string(kind); });
      if (c == r.candidates.end() || !c->verified) continue;
      ++baselines;
      EXPECT_LE(r.makespan, c->makespan + 1e-9) << c->name;
    }
    EXPECT_GT(baselines, 0);
    auto one_f_one_b = opplan::build_schedule(spec, ScheduleKind::k1F1B);
    ASSERT_TRUE(one_f_one_b.ok());
    EXPECT_LE(r.makespan, one_f_one_b->metrics.makespan + 1e-9);
    // And the same seed again gives the same plan.
    const PlanResult again = plan_ok(spec, options);
    EXPECT_DOUBLE_EQ(again.makespan, r.makespan);
    EXPECT_EQ(again.source, r.source);
  }
}

// When the safety cap, not the deterministic budget, ends the search, the result says so.
TEST(PlannerDeterminism, TimeLimitCutIsReported) {
  const PipelineSpec spec = make(Placement::kLinear, 4, 12, times(2, 1, 1, 0.2), 4);
  PlannerOptions options;
  options.time_limit = 0.05;  // the whole-instance MIP alone needs far longer
  const PlanResult r = plan_ok(spec, options);
  ASSERT_EQ(r.termination, opplan::PlanTermination::kTimeLimit) << r.message;
  EXPECT_THAT(r.message, HasSubstr("time limit of 0.05 s cut the search"));
}

// From the serial schedule alone (baselines off) the MIP itself must find the optimum of a small
// instance: 2 devices, 4 micro-batches; the second device starts at 1 and holds 4 * 3, so 13.
TEST(Planner, MipAloneFindsTheOptimumOfASmallInstance) {
  const PipelineSpec spec = make(Placement::kLinear, 2, 4, times(1, 1, 1));
  PlannerOptions options;
  options.time_limit = 5;
  options.use_baselines = false;
  const PlanResult r = plan_ok(spec, options);
  EXPECT_DOUBLE_EQ(r.lower_bound, 13);
  EXPECT_DOUBLE_EQ(r.makespan, 13);
  EXPECT_TRUE(r.source == "mip" || r.source == "lns") << r.source;
  EXPECT_GT(r.mip_improvements, 0);
  ASSERT_EQ(r.candidates.front().name, "serial");
  EXPECT_GT(r.candidates.front().makespan, 13);
}

// Windows only (no whole-instance MIP): the large-neighbourhood search improves on the serial start.
TEST(Planner, WindowSearchImprovesTheSerialStart) {
  const PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1), 4);
  PlannerOptions options;
  options.time_limit = 1;
  options.use_baselines = false;
  options.max_mip_instances = 0;
  const PlanResult r = plan_ok(spec, options);
  ASSERT_EQ(r.candidates.front().name, "serial");
  EXPECT_LT(r.makespan, r.candidates.front().makespan);
  EXPECT_EQ(r.source, "lns");
  EXPECT_LE(max_peak_memory(r.schedule), 4);
}

// The MIP's memory rows: from the serial start under a cap of 2 activations, whatever it returns
// improves on serial and passes the verifier's memory check (plan_ok).
TEST(Planner, MipRespectsTheMemoryCap) {
  const PipelineSpec spec = make(Placement::kLinear, 2, 4, times(1, 1, 1), 2);
  PlannerOptions options;
  options.time_limit = 2;
  options.use_baselines = false;
  const PlanResult r = plan_ok(spec, options);
  EXPECT_LE(max_peak_memory(r.schedule), 2);
  EXPECT_LT(r.makespan, r.candidates.front().makespan);
}

TEST(Planner, TotalIdleObjectiveLeavesNoIdleInsideSpans) {
  // Without a cap ZB-H2-like orders keep every device busy from its first to its last op.
  const PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1));
  PlannerOptions options;
  options.objective = opplan::PlanObjective::kTotalIdle;
  options.time_limit = 0.5;
  const PlanResult r = plan_ok(spec, options);
  double idle = 0;
  for (const auto& d : r.schedule.metrics.devices) idle += d.span - d.busy;
  EXPECT_NEAR(idle, 0, 1e-9);
}

TEST(Planner, AFewMillisecondsStillGiveAVerifiedPlan) {
  const PipelineSpec spec = make(Placement::kLinear, 8, 24, times(2, 1, 1, 0.1), 8);
  PlannerOptions options;
  options.time_limit = 0.003;
  const PlanResult r = plan_ok(spec, options);
  EXPECT_GT(r.makespan, 0);
  EXPECT_LE(max_peak_memory(r.schedule), 8);
}

TEST(Planner, FreePlacementPicksDualPipeForCase6) {
  const PipelineSpec spec = make(Placement::kLinear, 8, 20, times(1, 1, 1), 9);
  PlannerOptions options;
  options.placement = PlanPlacement::kFree;
  const PlanResult r = plan_ok(spec, options);
  // Linear cannot beat its bound of 67; DualPipe's placement reaches 63.
  EXPECT_EQ(r.spec.placement, Placement::kDualPipe);
  EXPECT_DOUBLE_EQ(r.makespan, 63);
}

TEST(Planner, MemoryBalanceObjectiveMinimisesThePeak) {
  const PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1));
  PlannerOptions options;
  options.objective = opplan::PlanObjective::kMemoryBalance;
  options.time_limit = 0.2;
  const PlanResult r = plan_ok(spec, options);
  // One activation per device is the least any schedule needs (the serial one achieves it).
  EXPECT_DOUBLE_EQ(max_peak_memory(r.schedule), 1);
}

TEST(PlannerBadInput, MemoryCapNoScheduleMeetsNamesDeviceAndShortfall) {
  StageSpec stage = times(1, 1, 1);
  stage.params = 2;  // DualPipe holds two stages per device: 4 of parameters, plus one activation
  PipelineSpec spec = make(Placement::kDualPipe, 4, 8, stage);
  PlannerOptions options;
  options.memory_cap = 4.5;
  auto r = opplan::plan_pipeline(spec, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("device 0"));
  EXPECT_THAT(r.status().message(), HasSubstr("needs 5"));
  EXPECT_THAT(r.status().message(), HasSubstr("short by 0.5"));
}

TEST(PlannerBadInput, VPlacementNeedsBothChunksAlive) {
  // On the V placement a micro-batch's first-stage activation is still alive when it comes back.
  auto r = opplan::plan_pipeline(make(Placement::kV, 4, 8, times(1, 1, 1), 1.5), PlannerOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("device 0: one micro-batch needs 2"));
  EXPECT_THAT(r.status().message(), HasSubstr("short by 0.5"));
}

TEST(PlannerBadInput, NonPositiveTimeLimit) {
  const PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1));
  for (double t : {0.0, -1.0}) {
    PlannerOptions options;
    options.time_limit = t;
    auto r = opplan::plan_pipeline(spec, options);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("time_limit"));
  }
}

TEST(PlannerBadInput, ZeroTimeOps) {
  PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1));
  spec.stages[2].forward = 0;
  auto r = opplan::plan_pipeline(spec, PlannerOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("stages[2].forward"));
}

TEST(PlannerBadInput, PlacementNeedsEqualStages) {
  PipelineSpec spec = make(Placement::kLinear, 4, 8, times(1, 1, 1));
  spec.stages[1].forward = 2;
  PlannerOptions options;
  options.placement = PlanPlacement::kDualPipe;
  auto r = opplan::plan_pipeline(spec, options);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("must all be equal"));
}

TEST(PlannerOptionsTest, NamesRoundTrip) {
  for (auto p : {PlanPlacement::kGiven, PlanPlacement::kDualPipe, PlanPlacement::kDualPipeV, PlanPlacement::k1F1B,
                 PlanPlacement::kFree})
    EXPECT_EQ(opplan::parse_plan_placement(opplan::to_string(p)), p);
  EXPECT_FALSE(opplan::parse_plan_placement("ring").has_value());
  EXPECT_EQ(opplan::parse_plan_objective("total-idle"), opplan::PlanObjective::kTotalIdle);
  std::string error;
  PlannerOptions o;
  o.window_instances = 1;
  EXPECT_FALSE(o.IsValid(&error));
  EXPECT_THAT(error, HasSubstr("window_instances"));
}

}  // namespace
