// The verifier: every generated schedule passes; hand-broken schedules fail with each violation
// named (kind, device, ops and times).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <opplan/pipeline.hpp>
#include <opplan/simulator.hpp>
#include <string>

namespace {

using opplan::PipelineSpec;
using opplan::Placement;
using opplan::Schedule;
using opplan::ScheduleKind;
using opplan::StageSpec;
using opplan::ViolationKind;
using ::testing::HasSubstr;

PipelineSpec spec_of(ScheduleKind kind, int p, int m, double p2p = 0, std::optional<double> cap = std::nullopt,
                     int chunks = 1) {
  StageSpec st;
  st.forward_backward = 2.5;
  st.p2p = p2p;
  auto spec = opplan::make_pipeline_spec(opplan::required_placement(kind), p, m, st, chunks, cap);
  EXPECT_TRUE(spec.ok()) << spec.status().to_string();
  return *spec;
}

Schedule built(ScheduleKind kind, const PipelineSpec& spec, bool serialize = false) {
  opplan::ScheduleOptions o;
  o.serialize_links = serialize;
  auto s = opplan::build_schedule(spec, kind, o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return *s;
}

// The one violation of a kind, failing the test if there is not exactly one of that kind.
std::string only(const opplan::VerifyReport& r, ViolationKind kind) {
  EXPECT_EQ(r.count(kind), 1u) << r.to_string();
  for (const auto& v : r.violations)
    if (v.kind == kind) return v.message;
  return {};
}

TEST(Verifier, EveryGeneratedScheduleIsValid) {
  for (double p2p : {0.0, 0.25}) {
    for (ScheduleKind kind : opplan::kAllScheduleKinds) {
      const int chunks = kind == ScheduleKind::kInterleaved ? 2 : 1;
      const auto spec = spec_of(kind, 4, 8, p2p, std::nullopt, chunks);
      for (bool serialize : {false, true}) {
        const Schedule s = built(kind, spec, serialize);
        opplan::VerifyOptions o;
        o.serialized_links = serialize;
        const auto r = opplan::verify(spec, s, o);
        EXPECT_TRUE(r.ok()) << opplan::to_string(kind) << " p2p " << p2p << "\n" << r.to_string();
        if (p2p > 0) EXPECT_FALSE(s.transfers.empty());
      }
    }
  }
}

TEST(Verifier, EarlyStartIsAPrecedenceViolation) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 4, 8);
  Schedule s = built(ScheduleKind::k1F1B, spec);
  // Stage 2's first forward (1..2 would be stage 1's) moved to time 0.5.
  auto& t = s.device_tasks[2][0];
  const double d = t.end - t.start;
  t.start = 0.5;
  t.end = 0.5 + d;
  s.compute_metrics();
  const auto r = opplan::verify(spec, s);
  EXPECT_THAT(only(r, ViolationKind::kPrecedence),
              HasSubstr("F0 (stage 2, device 2) starts at 0.5 before F0 (stage 1, device 1) ends at 2"));
  EXPECT_EQ(r.violations[0].device, 2);
  EXPECT_THAT(r.to_string(), HasSubstr("precedence: "));
}

TEST(Verifier, TwoTasksAtOnceIsAnOverlap) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 2, 2);
  Schedule s = built(ScheduleKind::k1F1B, spec);
  // Device 0: F0 0..1, F1 1..2: slide F1 back by half a unit.
  s.device_tasks[0][1].start -= 0.5;
  s.device_tasks[0][1].end -= 0.5;
  s.compute_metrics();
  const auto r = opplan::verify(spec, s);
  EXPECT_THAT(only(r, ViolationKind::kOverlap),
              HasSubstr("device 0 runs F0 (0 .. 1) and F1 (0.5 .. 1.5) at the same time"));
  // On another stream the same times are fine.
  s.device_tasks[0][1].stream = 1;
  EXPECT_EQ(opplan::verify(spec, s).count(ViolationKind::kOverlap), 0u);
}

TEST(Verifier, ATaskShorterThanItsWorkIsADurationViolation) {
  const auto spec = spec_of(ScheduleKind::kDualPipe, 4, 8);
  Schedule s = built(ScheduleKind::kDualPipe, spec);
  // Find an overlapped slot and make it shorter than F&B = 2.5.
  for (auto& t : s.device_tasks[1])
    if (t.overlapped) {
      t.end = t.start + 2;
      break;
    }
  s.compute_metrics();
  const auto r = opplan::verify(spec, s);
  EXPECT_THAT(only(r, ViolationKind::kDuration), HasSubstr("lasts 2"));
  EXPECT_THAT(only(r, ViolationKind::kDuration), HasSubstr("but takes 2.5"));
  EXPECT_THAT(only(r, ViolationKind::kDuration), HasSubstr("&B"));
}

TEST(Verifier, MissingDuplicateAndMisplacedWork) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 2, 2);
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    s.device_tasks[1].pop_back();  // B1 of stage 1
    s.compute_metrics();
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kMissing), HasSubstr("the backward of F1 (stage 1, device 1) never runs"));
  }
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    s.device_tasks[0].push_back(s.device_tasks[0][0]);
    s.device_tasks[0].back().start = 100;
    s.device_tasks[0].back().end = 101;
    s.compute_metrics();
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kDuplicate),
                HasSubstr("F0 (stage 0, device 0) runs twice: device 0, position 0 and device 0, position 4"));
  }
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    auto moved = s.device_tasks[1][0];
    moved.device = 0;
    s.device_tasks[0].push_back(moved);
    s.device_tasks[1].erase(s.device_tasks[1].begin());
    s.compute_metrics();
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kStructure), HasSubstr("F0 (stage 1, device 1) belongs on device 1"));
  }
}

TEST(Verifier, TransferDelaysAreChecked) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 2, 1, 0.5);
  {
    // Without the transfer list: the consumer must start p2p after its producer ends.
    Schedule s = built(ScheduleKind::k1F1B, spec);
    s.transfers.clear();
    s.device_tasks[1][0].start -= 0.25;
    s.device_tasks[1][0].end -= 0.25;
    s.compute_metrics();
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(
        only(r, ViolationKind::kTransfer),
        HasSubstr("F0 (stage 1, device 1) starts at 1.25, before the output of F0 (stage 0, device 0) (ends at 1) can "
                  "arrive at 1.5 after the p2p delay 0.5"));
  }
  {
    // With it: a transfer shorter than p2p.
    Schedule s = built(ScheduleKind::k1F1B, spec);
    ASSERT_EQ(s.transfers.size(), 2u);
    s.transfers[0].end = s.transfers[0].start + 0.1;
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kTransfer),
                HasSubstr("the transfer of F0 (stage 0, device 0)'s output to device 1 lasts 0.1"));
  }
  {
    // Two transfers at once on a serialized link.
    const auto two = spec_of(ScheduleKind::k1F1B, 2, 2, 3);
    Schedule s = built(ScheduleKind::k1F1B, two);  // parallel transfers: 1..4 and 2..5
    opplan::VerifyOptions o;
    o.serialized_links = true;
    const auto r = opplan::verify(two, s, o);
    EXPECT_THAT(only(r, ViolationKind::kTransfer), HasSubstr("link 0->1 carries two transfers at once"));
  }
}

TEST(Verifier, MemoryCapNamesTheDeviceAndItsPeak) {
  // 1F1B's first stage holds P = 8 activations; give every device room for 5.
  auto spec = spec_of(ScheduleKind::k1F1B, 8, 20, 0, 5.0);
  const Schedule s = built(ScheduleKind::k1F1B, spec);
  const auto r = opplan::verify(spec, s);
  EXPECT_EQ(r.count(ViolationKind::kMemory), 3u);  // devices 0, 1, 2 hold 8, 7, 6
  EXPECT_THAT(
      r.violations[0].message,
      HasSubstr(
          "device 0 needs 8 (parameters 0 + activations 8, 8 chunk(s) at most) at its peak, above its memory cap 5"));
  EXPECT_EQ(r.violations[0].device, 0);
  EXPECT_THAT(r.violations[2].message, HasSubstr("device 2 needs 6"));
}

TEST(Verifier, BadTimesAndStaleMetrics) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 2, 2);
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    s.device_tasks[1][3].end = std::numeric_limits<double>::quiet_NaN();
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kTime), HasSubstr("B1 on device 1 has a time that is not finite"));
  }
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    std::swap(s.device_tasks[0][3].start, s.device_tasks[0][3].end);
    const auto r = opplan::verify(spec, s);
    EXPECT_THAT(only(r, ViolationKind::kTime), HasSubstr("B1 on device 0 ends at"));
  }
  {
    Schedule s = built(ScheduleKind::k1F1B, spec);
    s.metrics.makespan = 3;
    s.metrics.devices[1].peak_activations = 7;
    const auto r = opplan::verify(spec, s);
    EXPECT_EQ(r.count(ViolationKind::kMetrics), 2u);
    EXPECT_THAT(r.to_string(), HasSubstr("the stored makespan 3 differs from the tasks' 9"));
    EXPECT_THAT(r.to_string(), HasSubstr("device 1: the stored peak activations 7 differs from the tasks' 1"));
    opplan::VerifyOptions o;
    o.check_metrics = false;
    EXPECT_TRUE(opplan::verify(spec, s, o).ok());
  }
}

TEST(Verifier, ReportsEveryViolationUpToTheLimit) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 4, 16);
  Schedule s = built(ScheduleKind::k1F1B, spec);
  for (auto& tasks : s.device_tasks)
    for (auto& t : tasks) t.end = t.start + 0.1;  // every task too short
  s.compute_metrics();
  const auto all = opplan::verify(spec, s);
  EXPECT_EQ(all.count(ViolationKind::kDuration), 4u * 16 * 2);
  opplan::VerifyOptions o;
  o.max_violations = 10;
  const auto some = opplan::verify(spec, s, o);
  EXPECT_EQ(some.violations.size(), 10u);
  EXPECT_TRUE(some.truncated);
  EXPECT_THAT(some.to_string(), HasSubstr("(stopped counting)"));
}

TEST(Verifier, InvalidInputsGiveOneStructureViolation) {
  const auto spec = spec_of(ScheduleKind::k1F1B, 2, 2);
  const Schedule s = built(ScheduleKind::k1F1B, spec);
  opplan::VerifyOptions o;
  o.tolerance = -1;
  const auto r = opplan::verify(spec, s, o);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_THAT(r.violations[0].message, HasSubstr("tolerance"));
  EXPECT_THAT(opplan::verify(PipelineSpec{}, s).to_string(), HasSubstr("structure: the spec is not valid"));
  Schedule fewer = s;
  fewer.device_tasks.pop_back();
  EXPECT_THAT(opplan::verify(spec, fewer).to_string(), HasSubstr("1 device task lists, the spec has 2 devices"));
}

}  // namespace
