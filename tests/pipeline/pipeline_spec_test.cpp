// PipelineSpec: placements, validation messages, and the JSON format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <opplan/pipeline.hpp>
#include <string>

namespace {

using opplan::PipelineSpec;
using opplan::Placement;
using opplan::StageSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Placement, RoutesOfEachBuiltInPlacement) {
  auto linear = opplan::placement_routes(Placement::kLinear, 3);
  ASSERT_TRUE(linear.ok());
  EXPECT_THAT(*linear, ElementsAre(ElementsAre(0, 1, 2)));
  auto inter = opplan::placement_routes(Placement::kInterleaved, 3, 2);
  EXPECT_THAT(*inter, ElementsAre(ElementsAre(0, 1, 2, 0, 1, 2)));
  auto dual = opplan::placement_routes(Placement::kDualPipe, 4);
  EXPECT_THAT(*dual, ElementsAre(ElementsAre(0, 1, 2, 3), ElementsAre(3, 2, 1, 0)));
  auto v = opplan::placement_routes(Placement::kV, 3);
  EXPECT_THAT(*v, ElementsAre(ElementsAre(0, 1, 2, 2, 1, 0)));
  EXPECT_FALSE(opplan::placement_routes(Placement::kCustom, 3).ok());
  EXPECT_FALSE(opplan::placement_routes(Placement::kLinear, 0).ok());
}

TEST(Placement, NamesRoundTrip) {
  for (Placement p :
       {Placement::kLinear, Placement::kInterleaved, Placement::kDualPipe, Placement::kV, Placement::kCustom})
    EXPECT_EQ(opplan::parse_placement(opplan::to_string(p)), p);
  EXPECT_FALSE(opplan::parse_placement("zigzag").has_value());
}

TEST(PipelineSpec, ChunksAndLettersFollowRouteThenStageOrder) {
  auto spec = opplan::make_pipeline_spec(Placement::kDualPipe, 8, 20, StageSpec{});
  ASSERT_TRUE(spec.ok());
  // Rank 6 holds stage 6 of direction a and stage 1 of direction b.
  EXPECT_THAT(spec->device_chunks(6), ElementsAre(std::pair{0, 6}, std::pair{1, 1}));
  EXPECT_EQ(spec->chunk_index(0, 6), 0);
  EXPECT_EQ(spec->chunk_index(1, 1), 1);
  auto linear = opplan::make_pipeline_spec(Placement::kLinear, 4, 8, StageSpec{});
  EXPECT_EQ(linear->chunk_index(0, 2), opplan::Schedule::kNoChunk);  // one chunk per device: no letters
}

TEST(PipelineSpec, DefaultTimesOfFullAndOverlappedBackward) {
  StageSpec s;
  s.forward = 1;
  s.input_grad = 1.5;
  s.weight_grad = 0.5;
  EXPECT_DOUBLE_EQ(s.backward_time(), 2);
  EXPECT_DOUBLE_EQ(s.forward_backward_time(), 3);
  s.backward = 2.5;
  s.forward_backward = 2.8;
  EXPECT_DOUBLE_EQ(s.backward_time(), 2.5);
  EXPECT_DOUBLE_EQ(s.forward_backward_time(), 2.8);
}

TEST(PipelineSpec, MemoryAndParameters) {
  StageSpec st;
  st.params = 3;
  auto dual = opplan::make_pipeline_spec(Placement::kDualPipe, 4, 8, st, 1, 10.0);
  ASSERT_TRUE(dual.ok());
  EXPECT_DOUBLE_EQ(dual->param_memory(1), 6);  // two copies of a stage: 2x parameters
  EXPECT_DOUBLE_EQ(dual->cap(3), 10);
  auto none = opplan::make_pipeline_spec(Placement::kLinear, 4, 8, st);
  EXPECT_TRUE(std::isinf(none->cap(0)));
  EXPECT_DOUBLE_EQ(none->param_memory(1), 3);
}

TEST(PipelineSpec, ValidateListsEveryProblem) {
  PipelineSpec spec;
  spec.num_devices = 2;
  spec.num_micro_batches = 3;
  spec.placement = Placement::kCustom;
  spec.stages.resize(2);
  spec.stages[1].input_grad_frees = 2;  // more than the activation (1)
  spec.stages[0].p2p = -1;
  spec.routes = {{0, 1}, {1, 5}};
  spec.memory_cap = {1, 2, 3};
  const auto s = spec.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("stages[0].p2p: must be finite and >= 0, got -1"));
  EXPECT_THAT(s.message(), HasSubstr("stages[1].input_grad_frees"));
  EXPECT_THAT(s.message(), HasSubstr("routes[1][1]: device 5 does not exist"));
  EXPECT_THAT(s.message(), HasSubstr("micro_batches: 3 cannot be split evenly over 2 routes"));
  EXPECT_THAT(s.message(), HasSubstr("memory_cap: give one value or one per device"));
  auto huge = opplan::make_pipeline_spec(Placement::kLinear, 64, 1 << 20, StageSpec{});
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("micro_batches x stages = 1048576 x 64 is above the limit"));
  PipelineSpec empty;
  EXPECT_THAT(empty.validate().message(), HasSubstr("devices: must be at least 1, got 0"));
  EXPECT_THAT(empty.validate().message(), HasSubstr("stages: a pipeline needs at least one stage"));
}

// ---- JSON ---------------------------------------------------------------------------------------

TEST(PipelineJson, ReadsTheDocumentedExample) {
  const char* text = R"({
    "format": "opplan.pipeline", "version": 1, "name": "dualpipe-8x20",
    "devices": 8, "micro_batches": 20, "placement": "dualpipe",
    "stage": {"forward": 1, "input_grad": 1, "weight_grad": 1, "forward_backward": 3, "activation": 1},
    "memory_cap": 9
  })";
  auto spec = opplan::parse_pipeline_spec_json(text);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec->name, "dualpipe-8x20");
  EXPECT_EQ(spec->num_devices, 8);
  EXPECT_EQ(spec->num_routes(), 2);
  EXPECT_EQ(spec->num_stages(), 8);
  EXPECT_DOUBLE_EQ(spec->stages[5].forward_backward_time(), 3);
  EXPECT_DOUBLE_EQ(spec->cap(7), 9);
  auto s = opplan::build_schedule(*spec, opplan::ScheduleKind::kDualPipe);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->metrics.makespan, 66);
}

TEST(PipelineJson, PerStageOverridesAndCustomRoutes) {
  const char* text = R"({
    "format": "opplan.pipeline", "version": 1, "devices": 2, "micro_batches": 4,
    "placement": "custom", "routes": [[0, 0, 1]],
    "stage": {"forward": 2},
    "stages": [{}, {"forward": 3, "p2p": 0.5}, {"params": 4}],
    "memory_cap": [10, 12]
  })";
  auto spec = opplan::parse_pipeline_spec_json(text);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec->placement, Placement::kCustom);
  EXPECT_DOUBLE_EQ(spec->stages[0].forward, 2);
  EXPECT_DOUBLE_EQ(spec->stages[1].forward, 3);
  EXPECT_DOUBLE_EQ(spec->stages[1].p2p, 0.5);
  EXPECT_DOUBLE_EQ(spec->stages[2].forward, 2);
  EXPECT_DOUBLE_EQ(spec->param_memory(1), 4);
  EXPECT_DOUBLE_EQ(spec->cap(1), 12);
}

TEST(PipelineJson, WriteThenReadGivesAnEqualSpec) {
  StageSpec st;
  st.forward = 1.25;
  st.forward_backward = 2.5;
  st.p2p = 0.1;
  auto a = opplan::make_pipeline_spec(Placement::kInterleaved, 4, 8, st, 3, 7.5);
  ASSERT_TRUE(a.ok());
  a->name = "round trip";
  a->stages[5].weight_grad = 0;  // non-uniform stages are written one by one
  auto back = opplan::parse_pipeline_spec_json(opplan::pipeline_spec_to_json(*a));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, *a);
  // Compact and file forms too.
  auto compact = opplan::parse_pipeline_spec_json(opplan::pipeline_spec_to_json(*a, -1));
  ASSERT_TRUE(compact.ok());
  EXPECT_EQ(*compact, *a);
  const std::string path = ::testing::TempDir() + "/opplan_pipeline_spec.json";
  ASSERT_TRUE(opplan::write_pipeline_spec_json(*a, path).ok());
  auto file = opplan::read_pipeline_spec_json(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*file, *a);
  std::remove(path.c_str());
}

TEST(PipelineJson, ErrorsNameThePath) {
  const auto error = [](const std::string& text) {
    auto s = opplan::parse_pipeline_spec_json(text, "spec.json");
    EXPECT_FALSE(s.ok());
    return s.ok() ? std::string() : s.status().message();
  };
  const std::string head = R"("format": "opplan.pipeline", "version": 1, )";
  EXPECT_THAT(error("{" + head + R"("micro_batches": 4})"), HasSubstr("missing required field 'devices'"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "placement": "zigzag"})"),
              HasSubstr("/placement: unknown placement 'zigzag'"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "stage": {"forward": "fast"}})"),
              HasSubstr("/stage/forward"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "stages": [{}]})"),
              HasSubstr("/stages: has 1 stages, the placement has 2"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "routes": [[1, 0]], "placement": "linear"})"),
              HasSubstr("differ from the routes of the 'linear' placement"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "stage": {"forward": 0}})"),
              HasSubstr("spec.json: stages[0..1].forward: must be a positive time, got 0"));
  EXPECT_THAT(error("{" + head + R"("devices": 2, "micro_batches": 4, "stage": {"forwrd": 1}})"), HasSubstr("forwrd"));
  EXPECT_THAT(error(R"({"format": "opplan.graph", "version": 1})"), HasSubstr("opplan.pipeline"));
  EXPECT_THAT(error("{" + head + R"("devices": 2,)"), HasSubstr("spec.json:1:"));
  EXPECT_EQ(opplan::read_pipeline_spec_json("/nonexistent/dir/spec.json").status().code(),
            opplan::StatusCode::kIoError);
}

// Issue 16: times that overflow a double over an iteration are bad input naming the field, and
// built-in placements refuse stage counts no spec could hold before allocating their routes.
TEST(PipelineSpec, OverflowingTimesAndHugeStageCountsAreRefused) {
  StageSpec st;
  st.forward = 1e308;
  auto spec = opplan::make_pipeline_spec(Placement::kLinear, 4, 8, st);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), opplan::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("stages[0].forward: 1e+308 is too large"));
  st.forward = 1;
  st.activation = 1e307;
  st.params = 1e308;
  auto memory = opplan::make_pipeline_spec(Placement::kLinear, 4, 100, st);
  ASSERT_FALSE(memory.ok());
  EXPECT_THAT(memory.status().message(), HasSubstr("stages[0].activation"));
  auto routes = opplan::placement_routes(Placement::kInterleaved, 4, 100000000);
  ASSERT_FALSE(routes.ok());
  EXPECT_THAT(routes.status().message(), HasSubstr("limit of 10000000 stages"));
  auto linear = opplan::placement_routes(Placement::kLinear, 2147483647);
  ASSERT_FALSE(linear.ok());
  EXPECT_THAT(linear.status().message(), HasSubstr("devices: 2147483647"));
}

}  // namespace
