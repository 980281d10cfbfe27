// ShardingSpec text form and arithmetic, and make_mesh.
#include <opplan/sharding.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sharding_test_util.hpp"

namespace opplan {
namespace {

using ::testing::HasSubstr;

TEST(ShardingSpecTest, ParsesAndPrintsAlpaNotation) {
  for (const char* text : {"S0R", "RS01", "S0S1", "S1S0", "S01R", "RR", "R", "RS1R", ""}) {
    auto spec = parse_sharding_spec(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.status().to_string();
    EXPECT_EQ(spec->to_string(), text);
  }
  auto spec = parse_sharding_spec("S01 R S1");  // whitespace between dims is allowed
  ASSERT_FALSE(spec.ok());  // S01 and S1 both use axis 1
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);

  auto spaced = parse_sharding_spec("S0 R");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->dims(), (std::vector<DimSharding>{DimSharding::kAxis0, DimSharding::kReplicated}));
  EXPECT_EQ(spaced->rank(), 2);
}

TEST(ShardingSpecTest, RejectsUnknownTokensAndReusedAxes) {
  auto s2 = parse_sharding_spec("S2R");
  ASSERT_FALSE(s2.ok());
  EXPECT_EQ(s2.status().code(), StatusCode::kParseError);
  EXPECT_THAT(s2.status().message(), HasSubstr("position 0"));
  auto x = parse_sharding_spec("RX");
  ASSERT_FALSE(x.ok());
  EXPECT_THAT(x.status().message(), HasSubstr("'X' at position 1"));
  auto twice = parse_sharding_spec("S0S0");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ShardingSpec({DimSharding::kBothAxes, DimSharding::kAxis0}).is_valid());
}

TEST(ShardingSpecTest, TilesAndAxes) {
  const auto spec = [](const char* t) { return parse_sharding_spec(t).value(); };
  EXPECT_EQ(spec("S0R").num_tiles(2, 4), 2);
  EXPECT_EQ(spec("RS1").num_tiles(2, 4), 4);
  EXPECT_EQ(spec("RS01").num_tiles(2, 4), 8);
  EXPECT_EQ(spec("S1S0").num_tiles(2, 4), 8);
  EXPECT_EQ(spec("RR").num_tiles(2, 4), 1);
  EXPECT_TRUE(spec("RR").is_replicated());
  EXPECT_FALSE(spec("RS0").is_replicated());
  EXPECT_EQ(spec("S1S0").dim_of_axis(0), 1);
  EXPECT_EQ(spec("S1S0").dim_of_axis(1), 0);
  EXPECT_EQ(spec("RS01").dim_of_axis(0), 1);
  EXPECT_EQ(spec("RS01").dim_of_axis(1), 1);
  EXPECT_EQ(spec("S0R").dim_of_axis(1), -1);
  EXPECT_EQ(ShardingSpec::replicated(3).to_string(), "RRR");
  EXPECT_THROW(spec("S0R").dim(2), std::out_of_range);
}

TEST(MakeMeshTest, TakesTheFirstDevicesRowMajor) {
  const Cluster c = sharding_test::two_level_cluster(2, 4);
  auto mesh = make_mesh(c, 2, 2);
  ASSERT_TRUE(mesh.ok());
  EXPECT_EQ(mesh->name, "2x2");
  EXPECT_EQ(mesh->at(1, 0), DeviceId(2));
  EXPECT_EQ(mesh->axis_group(0, 0, 1), (std::vector<DeviceId>{DeviceId(1), DeviceId(3)}));
}

TEST(MakeMeshTest, RejectsShapesThatDoNotDivideTheDevices) {
  const Cluster c = Cluster::dgx_a100(1);
  auto bad = make_mesh(c, 3, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("3x3"));
  EXPECT_THAT(bad.status().message(), HasSubstr("8 devices"));
  EXPECT_FALSE(make_mesh(c, 3, 1).ok());   // 3 does not divide 8
  EXPECT_FALSE(make_mesh(c, 0, 4).ok());
  EXPECT_FALSE(make_mesh(c, 4, 4).ok());   // more than there are
  EXPECT_TRUE(make_mesh(c, 1, 4).ok());
}

}  // namespace
}  // namespace opplan
