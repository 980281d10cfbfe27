// SVG Gantt charts and Chrome traces: structure and content, not looks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <opplan/gantt.hpp>
#include <opplan/pipeline.hpp>
#include <sstream>
#include <string>

namespace {

using opplan::Placement;
using opplan::Schedule;
using opplan::ScheduleKind;
using opplan::StageSpec;
using ::testing::HasSubstr;
using ::testing::Not;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}

Schedule dualpipe(double p2p = 0) {
  StageSpec st;
  st.forward_backward = 3;
  st.p2p = p2p;
  auto spec = opplan::make_pipeline_spec(Placement::kDualPipe, 4, 8, st);
  EXPECT_TRUE(spec.ok());
  auto s = opplan::build_schedule(*spec, ScheduleKind::kDualPipe);
  EXPECT_TRUE(s.ok());
  return *s;
}

TEST(Gantt, OneRowPerDeviceOneGroupPerTaskAndSplitOverlappedCells) {
  const Schedule s = dualpipe();
  const std::string svg = opplan::schedule_to_svg(s);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  for (int d = 0; d < 4; ++d) EXPECT_EQ(count(svg, ">device " + std::to_string(d) + "</text>"), 1u);
  EXPECT_EQ(count(svg, "<g><title>"), s.num_tasks());
  std::size_t overlapped = 0;
  for (const auto& tasks : s.device_tasks)
    for (const auto& t : tasks) overlapped += t.overlapped.has_value();
  ASSERT_GT(overlapped, 0u);
  // Overlapped cells have a black frame around their two halves.
  EXPECT_EQ(count(svg, R"(stroke="#222")"), overlapped);
  // Tooltips carry the op string and times; cells carry micro-batch and chunk letter.
  EXPECT_THAT(svg, HasSubstr("<title>F0a on device 0: 0 .. 1</title>"));
  EXPECT_THAT(svg, HasSubstr(">0a</text>"));
  EXPECT_THAT(svg, HasSubstr("dualpipe: makespan"));
  EXPECT_THAT(svg, Not(HasSubstr("link ")));  // no transfers, no link rows
}

TEST(Gantt, LinkRowsAndEscapedTitles) {
  const Schedule s = dualpipe(0.5);
  opplan::GanttOptions o;
  o.title = "F&B <test>";
  o.show_labels = false;
  const std::string svg = opplan::schedule_to_svg(s, o);
  EXPECT_THAT(svg, HasSubstr("F&amp;B &lt;test&gt;"));
  EXPECT_THAT(svg, HasSubstr(">link 0&#8594;1</text>"));
  EXPECT_THAT(svg, Not(HasSubstr(">0a</text>")));
  EXPECT_EQ(count(svg, "<g><title>"), s.num_tasks() + s.transfers.size());
}

TEST(Gantt, InvalidOptionsFallBackToDefaults) {
  opplan::GanttOptions o;
  o.row_height = 0;
  std::string error;
  EXPECT_FALSE(o.IsValid(&error));
  EXPECT_THAT(error, HasSubstr("row_height"));
  EXPECT_EQ(opplan::schedule_to_svg(dualpipe(), o), opplan::schedule_to_svg(dualpipe()));
}

TEST(ChromeTrace, OneCompleteEventPerTaskAndTransferWithNamedThreads) {
  const Schedule s = dualpipe(0.5);
  const std::string trace = opplan::schedule_to_chrome_trace(s);
  EXPECT_EQ(trace.rfind("{", 0), 0u);
  EXPECT_THAT(trace, HasSubstr(R"("traceEvents")"));
  EXPECT_EQ(count(trace, R"("ph":"X")"), s.num_tasks() + s.transfers.size());
  EXPECT_THAT(trace, HasSubstr(R"("args":{"name":"device 3"})"));
  EXPECT_THAT(trace, HasSubstr(R"("args":{"name":"link 1->0"})"));
  // F7a&B3b-style names with their second op in args; 1 unit = 1000 µs by default.
  EXPECT_THAT(trace, HasSubstr(R"("name":"F0a","cat":"forward","ph":"X","pid":0,"tid":0,"ts":0,"dur":1000)"));
  EXPECT_THAT(trace, HasSubstr(R"("cat":"overlapped")"));
  EXPECT_THAT(trace, HasSubstr(R"("overlapped":"B0)"));
  opplan::TraceOptions us;
  us.microseconds_per_unit = 1;
  EXPECT_THAT(opplan::schedule_to_chrome_trace(s, us), HasSubstr(R"("ts":0,"dur":1,)"));
}

TEST(ChromeTrace, WritesFiles) {
  const Schedule s = dualpipe();
  const std::string dir = ::testing::TempDir();
  ASSERT_TRUE(opplan::write_schedule_chrome_trace(s, dir + "/opplan_trace.json").ok());
  ASSERT_TRUE(opplan::write_schedule_svg(s, dir + "/opplan_gantt.svg").ok());
  std::ifstream in(dir + "/opplan_gantt.svg");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), opplan::schedule_to_svg(s));
  EXPECT_FALSE(opplan::write_schedule_svg(s, "/nonexistent/dir/x.svg").ok());
  std::remove((dir + "/opplan_trace.json").c_str());
  std::remove((dir + "/opplan_gantt.svg").c_str());
}

TEST(ScheduleJson, SummaryHasMetricsAndOps) {
  const Schedule s = dualpipe();
  const std::string json = opplan::schedule_to_json(s, false, -1);
  EXPECT_THAT(json, HasSubstr(R"("name":"dualpipe")"));
  EXPECT_THAT(json, HasSubstr(R"("makespan":)"));
  EXPECT_THAT(json, HasSubstr(R"("peak_activations":[5,5,5,5])"));
  EXPECT_THAT(json, HasSubstr(R"("ops":[["F0a","F1a")"));
  EXPECT_THAT(json, Not(HasSubstr(R"("tasks")")));
  EXPECT_THAT(opplan::schedule_to_json(s, true, -1),
              HasSubstr(R"({"device":0,"stream":0,"op":"F0a","start":0,"end":1})"));
}

}  // namespace
