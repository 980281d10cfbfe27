// MipModel and LinearExpr: building rows with the operator syntax and the fast path, evaluation,
// solution checks and validation messages.
#include <opplan/mip_model.hpp>
#include <opplan/solver.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::BoundedExpr;
using opplan::kInf;
using opplan::LinearExpr;
using opplan::MipModel;
using opplan::ObjectiveSense;
using opplan::Row;
using opplan::StatusCode;
using opplan::Termination;
using opplan::Var;
using opplan::VarType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The terms of row i as (column, coefficient) pairs, in CSR order.
std::vector<std::pair<std::uint32_t, double>> row_terms(const MipModel& m, std::size_t i) {
  std::vector<std::pair<std::uint32_t, double>> out;
  for (std::size_t k = m.row_starts()[i]; k < m.row_starts()[i + 1]; ++k)
    out.emplace_back(m.column_indices()[k], m.coefficients()[k]);
  return out;
}

using P = std::pair<std::uint32_t, double>;

// ---- LinearExpr ---------------------------------------------------------------------------

TEST(LinearExpr, ArithmeticKeepsTermsAndConstant) {
  MipModel m;
  const Var x = m.add_continuous(0, 10, "x");
  const Var y = m.add_continuous(0, 10, "y");
  LinearExpr e = 2 * LinearExpr(x) + y * 3.0 - 4.0;
  ASSERT_EQ(e.terms().size(), 2u);
  EXPECT_EQ(e.terms()[0].var, x);
  EXPECT_DOUBLE_EQ(e.terms()[0].coef, 2.0);
  EXPECT_EQ(e.terms()[1].var, y);
  EXPECT_DOUBLE_EQ(e.terms()[1].coef, 3.0);
  EXPECT_DOUBLE_EQ(e.constant(), -4.0);

  LinearExpr n = -e;
  EXPECT_DOUBLE_EQ(n.terms()[0].coef, -2.0);
  EXPECT_DOUBLE_EQ(n.terms()[1].coef, -3.0);
  EXPECT_DOUBLE_EQ(n.constant(), 4.0);

  LinearExpr d = e - LinearExpr({{x, 1.0}}, 1.0);
  ASSERT_EQ(d.terms().size(), 3u);
  EXPECT_EQ(d.terms()[2].var, x);
  EXPECT_DOUBLE_EQ(d.terms()[2].coef, -1.0);
  EXPECT_DOUBLE_EQ(d.constant(), -5.0);

  d *= 0.5;
  EXPECT_DOUBLE_EQ(d.terms()[0].coef, 1.0);
  EXPECT_DOUBLE_EQ(d.terms()[2].coef, -0.5);
  EXPECT_DOUBLE_EQ(d.constant(), -2.5);

  LinearExpr a;
  a.add(x, 7).add(y, -1);
  a += 3.0;
  EXPECT_EQ(a.terms().size(), 2u);
  EXPECT_DOUBLE_EQ(a.constant(), 3.0);
  a.set_constant(-1);
  EXPECT_DOUBLE_EQ(a.constant(), -1.0);
}

TEST(LinearExpr, ClearKeepsCapacity) {
  MipModel m;
  const Var x = m.add_binary();
  LinearExpr e;
  for (int i = 0; i < 100; ++i) e.add(x, i);
  e.set_constant(5);
  const auto* before = e.terms().data();
  e.clear();
  EXPECT_TRUE(e.terms().empty());
  EXPECT_EQ(e.constant(), 0.0);
  EXPECT_GE(e.terms().capacity(), 100u);
  e.add(x, 1);
  EXPECT_EQ(e.terms().data(), before);  // no reallocation
}

TEST(LinearExpr, ComparisonOperatorsGiveBounds) {
  MipModel m;
  const Var x = m.add_continuous(0, 1);
  const Var y = m.add_continuous(0, 1);
  const BoundedExpr le = x + y <= 4;
  EXPECT_EQ(le.lower, -kInf);
  EXPECT_EQ(le.upper, 4);
  const BoundedExpr ge = x + y >= 2;
  EXPECT_EQ(ge.lower, 2);
  EXPECT_EQ(ge.upper, kInf);
  const BoundedExpr eq = x + y == 3;
  EXPECT_EQ(eq.lower, 3);
  EXPECT_EQ(eq.upper, 3);
  const BoundedExpr lhs = 1 <= LinearExpr(x);
  EXPECT_EQ(lhs.lower, 1);
  EXPECT_EQ(lhs.upper, kInf);
  const BoundedExpr rhs = 5 >= LinearExpr(x);
  EXPECT_EQ(rhs.lower, -kInf);
  EXPECT_EQ(rhs.upper, 5);
  // a <= b moves everything to the left.
  const BoundedExpr ab = x + 1 <= 2 * LinearExpr(y) + 5;
  EXPECT_EQ(ab.lower, -kInf);
  EXPECT_EQ(ab.upper, 0);
  EXPECT_DOUBLE_EQ(ab.expr.constant(), -4.0);
  ASSERT_EQ(ab.expr.terms().size(), 2u);
  EXPECT_EQ(ab.expr.terms()[1].var, y);
  EXPECT_DOUBLE_EQ(ab.expr.terms()[1].coef, -2.0);
  const BoundedExpr ba = LinearExpr(x) >= LinearExpr(y);
  EXPECT_EQ(ba.lower, 0);
  EXPECT_EQ(ba.upper, kInf);
  EXPECT_DOUBLE_EQ(ba.expr.terms()[1].coef, -1.0);
}

// ---- MipModel rows ------------------------------------------------------------------------

TEST(MipModel, OperatorRowsBecomeCsrWithConstantsInBounds) {
  MipModel m("ops");
  const Var x = m.add_continuous(0, 10, "x");
  const Var y = m.add_integer(-3, 3, "y");
  const Var z = m.add_binary("z");
  const Row r0 = m.add_row(x + 2 * LinearExpr(y) <= 4, "r0");
  const Row r1 = m.add_row(LinearExpr(x) + 3 <= 10);                  // x <= 7
  const Row r2 = m.add_row(2 <= x - y, "r2");                         // 2 <= x - y
  const Row r3 = m.add_row(x + y + z == 3);                           // = 3
  const Row r4 = m.add_row(x + 1 <= LinearExpr(y) + 5);               // x - y <= 4
  const Row r5 = m.add_row(LinearExpr(z) - 1 >= 2 * LinearExpr(x));   // z - 2x >= 1
  const Row r6 = m.add_row(8 >= 4 * LinearExpr(z) + 2);               // 4z <= 6
  ASSERT_EQ(m.num_rows(), 7u);
  EXPECT_EQ(m.num_nonzeros(), 2u + 1 + 2 + 3 + 2 + 2 + 1);
  EXPECT_EQ(r3.index(), 3u);
  EXPECT_EQ(r3.model_id(), m.id());
  EXPECT_THAT(row_terms(m, 0), ElementsAre(P{0, 1.0}, P{1, 2.0}));
  EXPECT_EQ(m.row_lower(r0), -kInf);
  EXPECT_EQ(m.row_upper(r0), 4);
  EXPECT_EQ(m.name(r0), "r0");
  EXPECT_EQ(m.name(r1), "");
  EXPECT_THAT(row_terms(m, 1), ElementsAre(P{0, 1.0}));
  EXPECT_EQ(m.row_lower(r1), -kInf);
  EXPECT_EQ(m.row_upper(r1), 7);
  EXPECT_THAT(row_terms(m, 2), ElementsAre(P{0, 1.0}, P{1, -1.0}));
  EXPECT_EQ(m.row_lower(r2), 2);
  EXPECT_EQ(m.row_upper(r2), kInf);
  EXPECT_THAT(row_terms(m, 3), ElementsAre(P{0, 1.0}, P{1, 1.0}, P{2, 1.0}));
  EXPECT_EQ(m.row_lower(r3), 3);
  EXPECT_EQ(m.row_upper(r3), 3);
  EXPECT_THAT(row_terms(m, 4), ElementsAre(P{0, 1.0}, P{1, -1.0}));
  EXPECT_EQ(m.row_lower(r4), -kInf);
  EXPECT_EQ(m.row_upper(r4), 4);
  EXPECT_THAT(row_terms(m, 5), ElementsAre(P{2, 1.0}, P{0, -2.0}));
  EXPECT_EQ(m.row_lower(r5), 1);
  EXPECT_EQ(m.row_upper(r5), kInf);
  EXPECT_THAT(row_terms(m, 6), ElementsAre(P{2, 4.0}));
  EXPECT_EQ(m.row_lower(r6), -kInf);
  EXPECT_EQ(m.row_upper(r6), 6);
  EXPECT_EQ(m.row_starts().size(), 8u);
  EXPECT_EQ(m.row_starts().front(), 0u);
  EXPECT_EQ(m.row_starts().back(), m.num_nonzeros());
  EXPECT_THAT(m.row_lowers(), ElementsAre(-kInf, -kInf, 2, 3, -kInf, 1, -kInf));
  EXPECT_TRUE(m.validate().ok()) << m.validate().to_string();
}

TEST(MipModel, DuplicateTermsAreKeptInCsrAndSummedBySolver) {
  MipModel m;
  const Var x = m.add_integer(0, 10, "x");
  const Var y = m.add_integer(0, 10, "y");
  // x + x - 0.5 x = 1.5 x <= 3 -> x <= 2; y - y + ... : the y terms cancel (a zero after merging).
  m.add_row(x + x - 0.5 * LinearExpr(x) + y - y <= 3, "dup");
  m.add_row(LinearExpr(y) + y <= 9, "ydup");  // 2y <= 9 -> y <= 4
  EXPECT_THAT(row_terms(m, 0), ElementsAre(P{0, 1.0}, P{0, 1.0}, P{0, -0.5}, P{1, 1.0}, P{1, -1.0}));
  m.maximize(x + 10 * LinearExpr(y));
  EXPECT_DOUBLE_EQ(m.objective_value({2, 4}), 42);
  EXPECT_TRUE(m.check_solution({2, 4}).ok());
  EXPECT_FALSE(m.check_solution({3, 4}).ok());  // activity 4.5 > 3
  EXPECT_FALSE(m.check_solution({2, 5}).ok());  // 10 > 9

  opplan::GlpkSolver solver;
  for (bool presolve : {true, false}) {
    opplan::SolveArguments args;
    args.options.presolve = presolve;
    const auto r = solver.solve(m, args);
    ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
    EXPECT_NEAR(r.objective, 42, 1e-9);
    EXPECT_NEAR(r.value(x), 2, 1e-9);
    EXPECT_NEAR(r.value(y), 4, 1e-9);
  }
}

TEST(MipModel, PointerAddRowAfterReserve) {
  MipModel m("fast");
  m.reserve(4, 2, 8);
  std::vector<Var> v;
  for (int j = 0; j < 4; ++j) v.push_back(m.add_continuous(0, kInf));
  const double c0[] = {1, 2, 3, 4};
  const Row r0 = m.add_row(-kInf, 10, v.data(), c0, 4, "sum");
  const Var two[] = {v[3], v[1]};
  const double c1[] = {-1, 5};
  const Row r1 = m.add_row(-2, 2, two, c1, 2);
  EXPECT_EQ(r0.index(), 0u);
  EXPECT_EQ(r1.index(), 1u);
  EXPECT_THAT(row_terms(m, 0), ElementsAre(P{0, 1.0}, P{1, 2.0}, P{2, 3.0}, P{3, 4.0}));
  EXPECT_THAT(row_terms(m, 1), ElementsAre(P{3, -1.0}, P{1, 5.0}));
  EXPECT_EQ(m.row_lower(r1), -2);
  EXPECT_EQ(m.row_upper(r1), 2);
  EXPECT_EQ(m.name(r0), "sum");
  EXPECT_EQ(m.row(1).index(), 1u);
  EXPECT_THROW(m.row(2), std::out_of_range);
  EXPECT_THROW(m.variable(4), std::out_of_range);
  EXPECT_EQ(m.variable(2), v[2]);
  // A zero-length row is legal.
  m.add_row(-1, 1, nullptr, nullptr, 0, "empty");
  EXPECT_EQ(m.num_rows(), 3u);
  EXPECT_EQ(m.row_starts()[3], m.row_starts()[2]);
  EXPECT_TRUE(m.validate().ok()) << m.validate().to_string();
}

TEST(MipModel, VariablesAndTypes) {
  MipModel m;
  const Var a = m.add_continuous(-1.5, 2.5, "a");
  const Var b = m.add_integer(-kInf, 7, "b");
  const Var c = m.add_binary("c");
  const Var d = m.add_variable(0, 3, VarType::kInteger);
  EXPECT_EQ(m.num_variables(), 4u);
  EXPECT_EQ(m.lower(a), -1.5);
  EXPECT_EQ(m.upper(a), 2.5);
  EXPECT_EQ(m.lower(b), -kInf);
  EXPECT_EQ(m.type(c), VarType::kBinary);
  EXPECT_EQ(m.lower(c), 0);
  EXPECT_EQ(m.upper(c), 1);
  EXPECT_TRUE(m.is_integer(b));
  EXPECT_TRUE(m.is_integer(c));
  EXPECT_FALSE(m.is_integer(a));
  EXPECT_EQ(m.name(d), "");
  EXPECT_EQ(d.index(), 3u);
  EXPECT_TRUE(d.valid());
  EXPECT_FALSE(Var().valid());
  m.set_bounds(d, 1, 2);
  m.set_type(a, VarType::kInteger);
  EXPECT_EQ(m.lower(d), 1);
  EXPECT_EQ(m.upper(d), 2);
  EXPECT_EQ(m.type(a), VarType::kInteger);
  EXPECT_STREQ(opplan::to_string(VarType::kContinuous), "continuous");
  EXPECT_STREQ(opplan::to_string(VarType::kInteger), "integer");
  EXPECT_STREQ(opplan::to_string(VarType::kBinary), "binary");
  // a now has fractional bounds as an integer variable
  const auto s = m.validate();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("'a'"));
  EXPECT_THAT(s.message(), HasSubstr("fractional bounds"));
}

TEST(MipModel, ObjectiveValueAndSense) {
  MipModel m;
  const Var x = m.add_continuous(0, 10, "x");
  const Var y = m.add_integer(0, 10, "y");
  m.minimize(3 * LinearExpr(x) - y + 2.5);
  EXPECT_EQ(m.sense(), ObjectiveSense::kMinimize);
  EXPECT_DOUBLE_EQ(m.objective_constant(), 2.5);
  EXPECT_THAT(m.objective_coefficients(), ElementsAre(3.0, -1.0));
  EXPECT_DOUBLE_EQ(m.objective_value({1, 4}), 3 - 4 + 2.5);
  m.add_to_objective(LinearExpr(x) + 1);
  EXPECT_THAT(m.objective_coefficients(), ElementsAre(4.0, -1.0));
  EXPECT_DOUBLE_EQ(m.objective_constant(), 3.5);
  m.set_objective_coefficient(y, 7);
  EXPECT_DOUBLE_EQ(m.objective_value({1, 2}), 4 + 14 + 3.5);
  // set_objective replaces everything, including the constant.
  m.maximize(LinearExpr(y) * 2);
  EXPECT_EQ(m.sense(), ObjectiveSense::kMaximize);
  EXPECT_THAT(m.objective_coefficients(), ElementsAre(0.0, 2.0));
  EXPECT_DOUBLE_EQ(m.objective_constant(), 0);
  m.set_sense(ObjectiveSense::kMinimize);
  EXPECT_EQ(m.sense(), ObjectiveSense::kMinimize);
  EXPECT_THROW(m.objective_value({1}), std::invalid_argument);
}

TEST(MipModel, CheckSolutionNamesViolations) {
  MipModel m("chk");
  const Var x = m.add_integer(0, 5, "x");
  const Var y = m.add_continuous(0, 1, "y");
  m.add_row(x + y <= 3, "cap");
  m.add_row(LinearExpr(x) - y >= 0);  // unnamed: row #1
  EXPECT_TRUE(m.check_solution({3, 0}).ok());
  EXPECT_TRUE(m.check_solution({2, 1 + 1e-9}).ok());  // within tolerance

  auto s = m.check_solution({3, 0.5});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("row 'cap'"));
  EXPECT_THAT(s.message(), HasSubstr("3.5"));
  EXPECT_THAT(s.message(), HasSubstr("1 constraint"));

  s = m.check_solution({1.5, 0});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("variable 'x'"));
  EXPECT_THAT(s.message(), HasSubstr("not integral"));

  s = m.check_solution({0, 2});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("variable 'y'"));
  EXPECT_THAT(s.message(), HasSubstr("outside its bounds"));
  EXPECT_THAT(s.message(), HasSubstr("row #1"));  // x - y = -2 < 0
  EXPECT_THAT(s.message(), HasSubstr("2 constraints"));

  s = m.check_solution({kNaN, 0});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("variable 'x'"));

  s = m.check_solution({1});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("1 values"));
  EXPECT_THAT(s.message(), HasSubstr("2 variables"));

  // A looser tolerance accepts a small violation.
  EXPECT_FALSE(m.check_solution({3, 0.01}).ok());
  EXPECT_TRUE(m.check_solution({3, 0.01}, 0.01).ok());
}

// ---- validate ------------------------------------------------------------------------------

struct BadCase {
  const char* what;
  std::string expected;  // substring of the message
};

opplan::Status solve_status_of(const MipModel& m, Termination* termination, std::string* message) {
  opplan::GlpkSolver solver;
  const auto r = solver.solve(m);
  *termination = r.termination;
  *message = r.message;
  return m.validate();
}

void expect_invalid(const MipModel& m, const std::vector<std::string>& substrings) {
  Termination t = Termination::kOptimal;
  std::string message;
  const auto s = solve_status_of(m, &t, &message);
  ASSERT_FALSE(s.ok()) << "validate() accepted the model";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  for (const auto& sub : substrings) EXPECT_THAT(s.message(), HasSubstr(sub));
  EXPECT_EQ(t, Termination::kInvalidInput) << message;
  for (const auto& sub : substrings) EXPECT_THAT(message, HasSubstr(sub));
}

TEST(MipModel, ValidateNaNCoefficient) {
  MipModel m;
  const Var x = m.add_continuous(0, 1, "x");
  m.add_row(kNaN * LinearExpr(x) <= 1, "nanrow");
  expect_invalid(m, {"row 'nanrow'", "variable 'x'", "nan"});
}

TEST(MipModel, ValidateInfiniteCoefficient) {
  MipModel m;
  const Var x = m.add_continuous(0, 1, "x");
  const Var y = m.add_continuous(0, 1);
  m.add_row(LinearExpr(x) + kInf * LinearExpr(y) <= 1, "infrow");
  expect_invalid(m, {"row 'infrow'", "variable #1", "inf"});
}

TEST(MipModel, ValidateNaNObjectiveAndConstant) {
  MipModel m;
  const Var x = m.add_continuous(0, 1, "x");
  m.minimize(kNaN * LinearExpr(x) + kInf);
  expect_invalid(m, {"variable 'x'", "objective coefficient", "objective constant"});
}

TEST(MipModel, ValidateNaNBound) {
  MipModel m;
  m.add_continuous(kNaN, 1, "nanvar");
  expect_invalid(m, {"variable 'nanvar'", "NaN"});
  MipModel m2;
  const Var x = m2.add_continuous(0, 1, "x");
  m2.add_row(LinearExpr(x) <= kNaN, "nanbound");
  expect_invalid(m2, {"row 'nanbound'", "NaN"});
}

TEST(MipModel, ValidateCrossedBounds) {
  MipModel m;
  m.add_continuous(3, 1, "crossed");
  expect_invalid(m, {"variable 'crossed'", "lower bound 3 is above upper bound 1"});
  MipModel m2;
  const Var x = m2.add_continuous(0, 1, "x");
  const Var vars[] = {x};
  const double coefs[] = {1};
  m2.add_row(5, 2, vars, coefs, 1, "crossedrow");
  expect_invalid(m2, {"row 'crossedrow'", "lower bound 5 is above upper bound 2"});
  MipModel m3;
  m3.add_continuous(kInf, kInf, "plusinf");
  expect_invalid(m3, {"variable 'plusinf'", "admit no value"});
  MipModel m4;
  const Var y = m4.add_continuous(0, 1, "y");
  m4.add_row(LinearExpr(y) <= -kInf, "minusinf");
  expect_invalid(m4, {"row 'minusinf'", "admit no value"});
}

TEST(MipModel, ValidateIntegerAndBinaryBounds) {
  MipModel m;
  m.add_integer(0.5, 3, "frac");
  expect_invalid(m, {"variable 'frac'", "integer variable has fractional bounds"});
  MipModel m2;
  m2.add_integer(0, 2.25);
  expect_invalid(m2, {"variable #0", "fractional"});
  MipModel m3;
  m3.add_variable(0, 2, VarType::kBinary, "bin2");
  expect_invalid(m3, {"variable 'bin2'", "outside [0, 1]"});
  MipModel m4;
  m4.add_variable(-1, 1, VarType::kBinary, "binm1");
  expect_invalid(m4, {"variable 'binm1'", "outside [0, 1]"});
  // A binary fixed to 1 and an integer with infinite bounds are fine.
  MipModel ok;
  ok.add_variable(1, 1, VarType::kBinary);
  ok.add_integer(-kInf, kInf);
  EXPECT_TRUE(ok.validate().ok()) << ok.validate().to_string();
}

TEST(MipModel, RowWithVariableOfAnotherModelIsReportedNotApplied) {
  MipModel a("a");
  MipModel b("b");
  const Var ax = a.add_binary("ax");
  const Var bx = b.add_binary("bx");
  ASSERT_NE(a.id(), b.id());
  a.add_row(ax + bx <= 1, "mixed");  // does not throw
  EXPECT_THAT(row_terms(a, 0), ElementsAre(P{0, 1.0}));  // the foreign term was dropped
  a.maximize(LinearExpr(ax));
  expect_invalid(a, {"row 0 'mixed'", "another model"});
  // Accessors throw for a foreign handle.
  EXPECT_THROW(a.lower(bx), std::out_of_range);
  EXPECT_THROW(a.name(b.add_row(LinearExpr(bx) <= 1)), std::out_of_range);
  EXPECT_THROW(a.add_to_objective(LinearExpr(bx)), std::out_of_range);
  EXPECT_THROW(a.set_bounds(bx, 0, 1), std::out_of_range);
}

TEST(MipModel, UninitialisedVarIsReported) {
  MipModel m;
  const Var x = m.add_binary("x");
  Var nothing;
  m.add_row(x + nothing <= 1, "uninit");
  expect_invalid(m, {"row 0 'uninit'", "uninitialised"});
}

TEST(MipModel, ManyProblemsAreCountedAndCapped) {
  MipModel m;
  for (int j = 0; j < 60; ++j) m.add_continuous(1, 0);
  const auto s = m.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("60 problems"));
  EXPECT_THAT(s.message(), HasSubstr("first 50 shown"));
  EXPECT_THAT(s.message(), HasSubstr("variable #49"));
  EXPECT_THAT(s.message(), Not(HasSubstr("variable #50")));

  // More foreign terms than the kept error messages are still counted.
  MipModel a;
  MipModel b;
  const Var ax = a.add_binary();
  const Var bx = b.add_binary();
  for (int i = 0; i < 30; ++i) a.add_row(ax + bx <= 1);
  const auto s2 = a.validate();
  ASSERT_FALSE(s2.ok());
  EXPECT_THAT(s2.message(), HasSubstr("30 problems"));
}

TEST(MipModel, CopiesKeepHandlesValid) {
  MipModel m("orig");
  const Var x = m.add_integer(0, 4, "x");
  m.add_row(LinearExpr(x) <= 3, "cap");
  m.maximize(LinearExpr(x));
  MipModel copy = m;
  EXPECT_EQ(copy.id(), m.id());
  EXPECT_EQ(copy.name(x), "x");
  const Var y = copy.add_integer(0, 4, "y");  // only in the copy
  copy.add_row(x + y <= 5, "both");
  copy.add_to_objective(2 * LinearExpr(y));
  EXPECT_TRUE(copy.validate().ok()) << copy.validate().to_string();
  EXPECT_EQ(m.num_variables(), 1u);
  EXPECT_EQ(m.num_rows(), 1u);

  opplan::GlpkSolver solver;
  const auto r1 = solver.solve(m);
  ASSERT_EQ(r1.termination, Termination::kOptimal) << r1.FullReport();
  EXPECT_NEAR(r1.objective, 3, 1e-9);
  const auto r2 = solver.solve(copy);
  ASSERT_EQ(r2.termination, Termination::kOptimal) << r2.FullReport();
  EXPECT_NEAR(r2.objective, 1 + 2 * 4, 1e-9);  // x = 1, y = 4
  EXPECT_NEAR(r2.value(x), 1, 1e-9);
  EXPECT_NEAR(r2.value(y), 4, 1e-9);

  // The copy's extra variable is not part of the original.
  m.add_row(LinearExpr(y) <= 1, "late");
  const auto s = m.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("fewer variables"));

  // Moved-to and assigned models keep the identity too.
  MipModel moved = std::move(copy);
  EXPECT_EQ(moved.name(y), "y");
  MipModel assigned("other");
  assigned = moved;
  EXPECT_EQ(assigned.id(), m.id());
  EXPECT_EQ(assigned.upper(y), 4);
  // A new model never shares an id.
  MipModel fresh;
  EXPECT_NE(fresh.id(), m.id());
  EXPECT_THROW(fresh.lower(x), std::out_of_range);
}

TEST(MipModel, Summary) {
  MipModel m("sched");
  const Var a = m.add_binary();
  const Var b = m.add_integer(0, 3);
  const Var c = m.add_continuous(0, 1);
  m.add_row(a + b + c <= 2);
  m.add_row(LinearExpr(a) - c >= 0);
  EXPECT_EQ(m.summary(), "sched: 3 variables (2 integer), 2 rows, 5 nonzeros");
  EXPECT_EQ(MipModel().summary(), "model: 0 variables (0 integer), 0 rows, 0 nonzeros");
  EXPECT_EQ(MipModel().name(), "model");
}

}  // namespace

namespace {

TEST(LinearExpr, EqualityBetweenTwoExpressionsIsOneRowWithZeroBounds) {
  opplan::MipModel m("eq");
  const opplan::Var x = m.add_continuous(0, 10, "x");
  const opplan::Var y = m.add_continuous(0, 10, "y");
  const opplan::Row r = m.add_row(2.0 * opplan::LinearExpr(x) + 1.0 == opplan::LinearExpr(y) + 4.0);
  EXPECT_EQ(m.row_lower(r), 3.0);  // 2x - y + (1 - 4) == 0  ->  2x - y == 3
  EXPECT_EQ(m.row_upper(r), 3.0);
  ASSERT_EQ(m.num_nonzeros(), 2u);
  EXPECT_EQ(m.coefficients()[0], 2.0);
  EXPECT_EQ(m.coefficients()[1], -1.0);
}

}  // namespace
