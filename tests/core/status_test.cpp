#include <opplan/status.hpp>

#include <gtest/gtest.h>

namespace {

TEST(Status, DefaultIsOk) {
  opplan::Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_EQ(s.with_context("file.json").to_string(), "OK");
}

TEST(Status, CarriesCodeMessageAndContext) {
  opplan::Status s(opplan::StatusCode::kNotFound, "no op named 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "not found: no op named 'x'");
  EXPECT_EQ(s.with_context("g.json").message(), "g.json: no op named 'x'");
  EXPECT_EQ(s.with_context("g.json").code(), opplan::StatusCode::kNotFound);
}

TEST(Result, HoldsValueOrStatus) {
  opplan::Result<int> good(42);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  opplan::Result<int> bad(opplan::Status(opplan::StatusCode::kParseError, "bad"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), opplan::StatusCode::kParseError);
  EXPECT_THROW(bad.value(), std::logic_error);
}

TEST(Result, OkStatusWithoutValueBecomesInternalError) {
  opplan::Result<int> r{opplan::Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), opplan::StatusCode::kInternal);
}

}  // namespace
