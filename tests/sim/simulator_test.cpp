// The event simulator: exact times of small hand-written programs, p2p delays, serialized links,
// memory, and the errors for broken programs (structure, deadlocks naming the blocked ops).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opplan/pipeline.hpp>
#include <opplan/simulator.hpp>
#include <string>
#include <vector>

namespace {

using opplan::PipelineSpec;
using opplan::Placement;
using opplan::Schedule;
using opplan::StageSpec;
using opplan::Task;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

PipelineSpec linear(int p, int m, double f = 1, double b = 1, double w = 1, double p2p = 0) {
  StageSpec st;
  st.forward = f;
  st.input_grad = b;
  st.weight_grad = w;
  st.p2p = p2p;
  auto spec = opplan::make_pipeline_spec(Placement::kLinear, p, m, st);
  EXPECT_TRUE(spec.ok());
  return *spec;
}

opplan::Result<Schedule> run(const PipelineSpec& spec, const std::vector<std::string>& programs,
                             const opplan::SimulateOptions& options = {}) {
  auto orders = opplan::parse_orders(spec, programs);
  if (!orders.ok()) return orders.status();
  return opplan::simulate(spec, *orders, options);
}

std::vector<std::pair<double, double>> times(const std::vector<Task>& tasks) {
  std::vector<std::pair<double, double>> out;
  for (const Task& t : tasks) out.emplace_back(t.start, t.end);
  return out;
}

TEST(Simulator, TwoStagesOneFOneBExactTimes) {
  // F = 1, B = b + W = 2.
  auto s = run(linear(2, 2), {"F0 F1 B0 B1", "F0 B0 F1 B1"});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_THAT(times(s->device_tasks[1]),
              ElementsAre(std::pair{1.0, 2.0}, std::pair{2.0, 4.0}, std::pair{4.0, 5.0}, std::pair{5.0, 7.0}));
  EXPECT_THAT(times(s->device_tasks[0]),
              ElementsAre(std::pair{0.0, 1.0}, std::pair{1.0, 2.0}, std::pair{4.0, 6.0}, std::pair{7.0, 9.0}));
  EXPECT_DOUBLE_EQ(s->metrics.makespan, 9);
  EXPECT_DOUBLE_EQ(s->metrics.devices[0].busy, 6);
  EXPECT_DOUBLE_EQ(s->metrics.devices[0].bubble, 3);
  EXPECT_DOUBLE_EQ(s->metrics.devices[1].span, 6);
  EXPECT_EQ(s->metrics.devices[0].peak_activations, 2);
  EXPECT_EQ(s->metrics.devices[1].peak_activations, 1);
  EXPECT_NEAR(s->metrics.utilisation, 12.0 / 18.0, 1e-12);
  EXPECT_EQ(s->name, "custom");
}

TEST(Simulator, SplitBackwardAndWeightGradient) {
  // The W of stage 1 can wait: stage 0's b only needs stage 1's b.
  auto s = run(linear(2, 1, 1, 1, 5), {"F0 b0 W0", "F0 b0 W0"});
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->device_tasks[0][1].start, 3);  // after stage 1's b0 (2..3), not its W0
  EXPECT_DOUBLE_EQ(s->metrics.makespan, 9);
}

TEST(Simulator, P2pDelaysCrossingOutputsAndRecordsTransfers) {
  auto s = run(linear(2, 1, 1, 1, 1, 0.5), {"F0 B0", "F0 B0"});
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->device_tasks[1][0].start, 1.5);  // F0 arrives after 0.5
  EXPECT_DOUBLE_EQ(s->device_tasks[0][1].start, 5);    // the gradient too (B on stage 1 ends at 4.5)
  ASSERT_EQ(s->transfers.size(), 2u);
  EXPECT_EQ(s->transfers[0].src_device, 0);
  EXPECT_EQ(s->transfers[0].dst_device, 1);
  EXPECT_DOUBLE_EQ(s->transfers[0].start, 1);
  EXPECT_DOUBLE_EQ(s->transfers[0].end, 1.5);
  EXPECT_EQ(s->transfers[1].src_device, 1);
  EXPECT_EQ(s->transfers[1].item.work, opplan::Work::kBackward);
}

TEST(Simulator, SerializedLinksQueueTransfers) {
  // Two forwards of 1 on stage 0, p2p 3: in parallel the second arrives at 5; serialized at 7.
  const auto spec = linear(2, 2, 1, 1, 1, 3);
  const std::vector<std::string> programs = {"F0 F1 B0 B1", "F0 F1 B0 B1"};
  auto parallel = run(spec, programs);
  ASSERT_TRUE(parallel.ok());
  EXPECT_DOUBLE_EQ(parallel->device_tasks[1][1].start, 5);
  opplan::SimulateOptions serial;
  serial.serialize_links = true;
  auto queued = run(spec, programs, serial);
  ASSERT_TRUE(queued.ok());
  EXPECT_DOUBLE_EQ(queued->device_tasks[1][1].start, 7);
  opplan::VerifyOptions vo;
  vo.serialized_links = true;
  EXPECT_TRUE(opplan::verify(spec, *queued, vo).ok()) << opplan::verify(spec, *queued, vo).to_string();

  // An explicit link order that sends F1 first.
  auto orders = opplan::parse_orders(spec, programs);
  ASSERT_TRUE(orders.ok());
  orders->links.push_back({0, 1, {{opplan::Work::kForward, 0, 1, 0}, {opplan::Work::kForward, 0, 0, 0}}});
  auto reordered = opplan::simulate(spec, *orders, serial);
  ASSERT_TRUE(reordered.ok()) << reordered.status().to_string();
  EXPECT_DOUBLE_EQ(reordered->device_tasks[1][0].start, 8);  // F0 waits for F1's transfer (2..5), then 5..8
  // A link order that leaves one out is an error naming it.
  orders->links.back().producers.pop_back();
  auto missing = opplan::simulate(spec, *orders, serial);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("link 0->1: the output of F0"));
}

TEST(Simulator, MemoryCountsFromStartToEndAndPartialFreesOfB) {
  StageSpec st;
  st.activation = 2;
  st.input_grad_frees = 1.5;
  st.params = 10;
  auto spec = opplan::make_pipeline_spec(Placement::kLinear, 1, 3, st);
  ASSERT_TRUE(spec.ok());
  auto s = run(*spec, {"F0 F1 b0 F2 W0 b1 b2 W1 W2"});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const auto& m = s->metrics.devices[0];
  // F0 F1 -> 4; b0 frees 1.5 -> 2.5; F2 -> 4.5; W0 frees 0.5 -> 4 ...
  EXPECT_DOUBLE_EQ(m.peak_activation_memory, 4.5);
  EXPECT_EQ(m.peak_activations, 3);  // chunks are freed by W, not b
  EXPECT_DOUBLE_EQ(m.param_memory, 10);
  EXPECT_DOUBLE_EQ(m.peak_memory, 14.5);
}

TEST(Simulator, OverlappedSlotsHoldBothActivations) {
  auto spec = opplan::make_pipeline_spec(Placement::kDualPipe, 2, 4, StageSpec{});
  ASSERT_TRUE(spec.ok());
  auto orders = opplan::generate_orders(*spec, opplan::ScheduleKind::kDualPipe);
  ASSERT_TRUE(orders.ok());
  auto s = opplan::simulate(*spec, *orders);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->metrics.devices[0].peak_activations, 3);  // PP + 1
  EXPECT_TRUE(opplan::verify(*spec, *s).ok());
}

TEST(Simulator, DeadlockNamesEveryBlockedOp) {
  // Device 0 wants its backward before its forward has even run.
  auto s = run(linear(2, 2), {"B0 F0 F1 B1", "F0 B0 F1 B1"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), opplan::StatusCode::kFailedPrecondition);
  const std::string& m = s.status().message();
  EXPECT_THAT(m, HasSubstr("deadlock: 0 of 8 ops ran"));
  EXPECT_THAT(m, HasSubstr("device 0 is blocked at position 0 (B0), waiting for B0, which device 1 runs at position 1, "
                           "after its blocked F0"));
  EXPECT_THAT(m, HasSubstr("device 1 is blocked at position 0 (F0), waiting for F0, which device 0 runs at position 1, "
                           "after its blocked B0"));
}

TEST(Simulator, DeadlockInTheMiddleOfARun) {
  // Stage 1 runs F1 before B0, but stage 0 sends F1 only after B0: a cycle after two ops.
  auto s = run(linear(2, 2), {"F0 B0 F1 B1", "F0 F1 B0 B1"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("deadlock: 2 of 8 ops ran"));
  EXPECT_THAT(s.status().message(), HasSubstr("device 1 is blocked at position 1 (F1)"));
  EXPECT_THAT(s.status().message(), HasSubstr("device 0 is blocked at position 1 (B0)"));
}

TEST(Simulator, ABackwardOverlappedWithItsOwnForwardWaitsForItself) {
  auto spec = opplan::make_pipeline_spec(Placement::kLinear, 1, 1, StageSpec{});
  auto s = run(*spec, {"F0&B0"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("waiting for itself"));
}

TEST(Simulator, StructuralErrorsNameDevicePositionAndOp) {
  const auto spec = linear(2, 2);
  auto missing_w = run(spec, {"F0 F1 b0 B1", "F0 B0 F1 B1"});
  ASSERT_FALSE(missing_w.ok());
  EXPECT_EQ(missing_w.status().code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing_w.status().message(), HasSubstr("W0 (stage 0, device 0) never runs (b0 does)"));

  auto twice = run(spec, {"F0 F1 B0 B1 F1", "F0 B0 F1 B1"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(),
              HasSubstr("F1 (stage 0, device 0) runs twice: device 0, position 1 and device 0, position 4"));

  auto no_backward = run(spec, {"F0 F1 B0", "F0 B0 F1 B1"});
  ASSERT_FALSE(no_backward.ok());
  EXPECT_THAT(no_backward.status().message(), HasSubstr("the backward of F1 (stage 0, device 0) never runs"));

  auto both = run(spec, {"F0 F1 B0 B1 b1", "F0 B0 F1 B1"});
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("both run"));

  auto unknown = run(spec, {"F0 F1 F7 B0 B1", "F0 B0 F1 B1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("device 0, position 2: F7 (route 0, micro-batch 7, stage 0): micro-batch 7 does not exist"));

  // Work on the wrong device, built directly (op strings always pick the device's own chunks).
  opplan::PipelineOrders orders;
  orders.devices = {{{{opplan::Work::kForward, 0, 0, 1}, std::nullopt}}, {}};
  auto wrong = opplan::simulate(spec, orders);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("device 0, position 0: F0 (stage 1, device 1) belongs on device 1"));

  auto pair = run(opplan::make_pipeline_spec(Placement::kDualPipe, 2, 4, StageSpec{}).value(), {"W0a&F0b", "F0a B0a"});
  ASSERT_FALSE(pair.ok());
  EXPECT_THAT(pair.status().message(), HasSubstr("an overlapped slot pairs a forward with a backward"));

  auto count = opplan::simulate(spec, opplan::PipelineOrders{});
  ASSERT_FALSE(count.ok());
  EXPECT_THAT(count.status().message(), HasSubstr("0 device programs given, the spec has 2 devices"));
}

TEST(OpStrings, ParseErrorsNameDeviceOpAndToken) {
  auto dual = opplan::make_pipeline_spec(Placement::kDualPipe, 2, 4, StageSpec{}).value();
  auto no_letter = opplan::parse_orders(dual, {"F0", ""});
  ASSERT_FALSE(no_letter.ok());
  EXPECT_THAT(no_letter.status().message(),
              HasSubstr("device 0, op 0 'F0': device 0 holds 2 chunks: name one with a letter (a..b)"));
  auto bad_chunk = opplan::parse_orders(dual, {"F0c", ""});
  EXPECT_THAT(bad_chunk.status().message(), HasSubstr("device 0 has no chunk 'c'"));
  auto bad_kind = opplan::parse_orders(dual, {"X0a", ""});
  EXPECT_THAT(bad_kind.status().message(), HasSubstr("unknown kind 'X'"));
  auto no_number = opplan::parse_orders(dual, {"Fa", ""});
  EXPECT_THAT(no_number.status().message(), HasSubstr("a micro-batch number must follow"));
  auto three = opplan::parse_orders(dual, {"F0a&B0b&W0a", ""});
  EXPECT_THAT(three.status().message(), HasSubstr("at most two ops"));
  auto programs = opplan::parse_orders(dual, {"F0a"});
  EXPECT_THAT(programs.status().message(), HasSubstr("1 device programs given, the spec has 2 devices"));
}

TEST(OpStrings, FormatAndParseRoundTrip) {
  auto spec = opplan::make_pipeline_spec(Placement::kDualPipe, 8, 20, StageSpec{}).value();
  auto orders = opplan::generate_orders(spec, opplan::ScheduleKind::kDualPipe);
  ASSERT_TRUE(orders.ok());
  const auto text = opplan::format_orders(spec, *orders);
  auto back = opplan::parse_orders(spec, text);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->devices, orders->devices);
  EXPECT_EQ(opplan::op_string(spec, orders->devices[0][17]), "F7a&B3b");
}

TEST(Simulator, InvalidSpecIsRejectedBeforeRunning) {
  PipelineSpec spec;  // no devices, no stages
  auto s = opplan::simulate(spec, opplan::PipelineOrders{});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("devices: must be at least 1"));
}

}  // namespace
