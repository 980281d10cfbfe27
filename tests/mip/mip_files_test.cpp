// MPS / CPLEX-LP files (round trips, errors, glpsol on the written file) and the LP relaxation.
#include <opplan/mip_model.hpp>
#include <opplan/solver.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "knapsack.hpp"

namespace {

using opplan::GlpkSolver;
using opplan::kInf;
using opplan::LinearExpr;
using opplan::LpOptions;
using opplan::MipModel;
using opplan::ObjectiveSense;
using opplan::SolveArguments;
using opplan::SolveResult;
using opplan::StatusCode;
using opplan::Termination;
using opplan::Var;
using opplan::VarType;
using ::testing::HasSubstr;

constexpr double kTol = 1e-6;

// A fresh path in the test's temporary directory (unique per process and call).
std::string temp_path(const std::string& stem) {
  static int counter = 0;
  return ::testing::TempDir() + "opplan_mip_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         stem;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every kind of variable and row, named, with an objective constant.
MipModel sample_model(ObjectiveSense sense) {
  MipModel m("sample");
  const Var a = m.add_continuous(-2.5, 4, "a");
  const Var b = m.add_integer(0, 7, "b");
  const Var c = m.add_binary("c");
  const Var d = m.add_continuous(-kInf, kInf, "d");
  const Var e = m.add_integer(-3, kInf, "e");
  const Var f = m.add_continuous(-kInf, 6, "f");
  const Var g = m.add_continuous(1.5, 1.5, "g");
  m.add_row(a + 2 * LinearExpr(b) + c <= 11, "le");
  m.add_row(LinearExpr(b) - d + e >= -4, "ge");
  m.add_row(a + d + f == 3, "eq");
  m.add_row(-5 <= 3 * LinearExpr(c) - e + 0.5 * LinearExpr(f) + g, "range_low");
  m.add_row(3 * LinearExpr(c) - e + 0.5 * LinearExpr(f) <= 9, "range_up");
  m.add_row(-1 <= a - b, "r5");
  m.add_row(LinearExpr(d) <= 8, "dcap");
  m.add_row(LinearExpr(e) <= 5, "ecap");
  m.set_objective(2 * LinearExpr(a) + 3 * LinearExpr(b) - 4 * LinearExpr(c) + d + 1.25 * LinearExpr(e) -
                      0.5 * LinearExpr(f) + g + 10,
                  sense);
  if (sense == ObjectiveSense::kMinimize) {
    // Keep it bounded below: d >= -10.
    m.add_row(LinearExpr(d) >= -10, "dlow");
  } else {
    m.add_row(LinearExpr(f) >= -20, "flow");
  }
  return m;
}

// Variables of a model by name.
std::map<std::string, std::size_t> by_name(const MipModel& m) {
  std::map<std::string, std::size_t> out;
  for (std::size_t j = 0; j < m.num_variables(); ++j) out[m.name(m.variable(j))] = j;
  return out;
}

void expect_same_model(const MipModel& original, const MipModel& read) {
  ASSERT_EQ(read.num_variables(), original.num_variables());
  ASSERT_EQ(read.num_rows(), original.num_rows());
  EXPECT_EQ(read.num_nonzeros(), original.num_nonzeros());
  EXPECT_EQ(read.sense(), original.sense());
  EXPECT_NEAR(read.objective_constant(), original.objective_constant(), 1e-12);
  const auto names = by_name(read);
  for (std::size_t j = 0; j < original.num_variables(); ++j) {
    const Var v = original.variable(j);
    const std::string& name = original.name(v);
    SCOPED_TRACE("variable " + name);
    ASSERT_EQ(names.count(name), 1u);
    const Var w = read.variable(names.at(name));
    EXPECT_EQ(read.lower(w), original.lower(v));
    EXPECT_EQ(read.upper(w), original.upper(v));
    EXPECT_EQ(read.type(w), original.type(v));
    EXPECT_DOUBLE_EQ(read.objective_coefficients()[w.index()], original.objective_coefficients()[v.index()]);
  }
  // Rows by name, their bounds and their terms (as name -> coefficient).
  std::map<std::string, std::size_t> rows;
  for (std::size_t i = 0; i < read.num_rows(); ++i) rows[read.name(read.row(i))] = i;
  for (std::size_t i = 0; i < original.num_rows(); ++i) {
    const std::string& name = original.name(original.row(i));
    SCOPED_TRACE("row " + name);
    ASSERT_EQ(rows.count(name), 1u);
    const std::size_t k = rows.at(name);
    EXPECT_EQ(read.row_lowers()[k], original.row_lowers()[i]);
    EXPECT_EQ(read.row_uppers()[k], original.row_uppers()[i]);
    std::map<std::string, double> want, got;
    for (std::size_t t = original.row_starts()[i]; t < original.row_starts()[i + 1]; ++t)
      want[original.name(original.variable(original.column_indices()[t]))] += original.coefficients()[t];
    for (std::size_t t = read.row_starts()[k]; t < read.row_starts()[k + 1]; ++t)
      got[read.name(read.variable(read.column_indices()[t]))] += read.coefficients()[t];
    EXPECT_EQ(got, want);
  }
}

void expect_same_optimum(const MipModel& a, const MipModel& b) {
  SolveArguments args;
  args.options.relative_gap = 0;
  const SolveResult ra = GlpkSolver().solve(a, args);
  const SolveResult rb = GlpkSolver().solve(b, args);
  ASSERT_EQ(ra.termination, Termination::kOptimal) << ra.FullReport();
  ASSERT_EQ(rb.termination, Termination::kOptimal) << rb.FullReport();
  EXPECT_NEAR(ra.objective, rb.objective, kTol);
}

// ---- round trips ----------------------------------------------------------------------------

TEST(MpsFiles, MpsRoundTripKeepsEverything) {
  for (auto sense : {ObjectiveSense::kMinimize, ObjectiveSense::kMaximize}) {
    SCOPED_TRACE(sense == ObjectiveSense::kMinimize ? "min" : "max");
    const MipModel m = sample_model(sense);
    ASSERT_TRUE(m.validate().ok()) << m.validate().to_string();
    const std::string path = temp_path("sample.mps");
    const auto w = opplan::write_mps(m, path);
    ASSERT_TRUE(w.ok()) << w.to_string();
    const auto r = opplan::read_mps(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    expect_same_model(m, *r);
    // MPS keeps the column order.
    for (std::size_t j = 0; j < m.num_variables(); ++j)
      EXPECT_EQ(r->name(r->variable(j)), m.name(m.variable(j)));
    expect_same_optimum(m, *r);
    std::remove(path.c_str());
  }
}

TEST(MpsFiles, LpRoundTripKeepsEverything) {
  for (auto sense : {ObjectiveSense::kMinimize, ObjectiveSense::kMaximize}) {
    SCOPED_TRACE(sense == ObjectiveSense::kMinimize ? "min" : "max");
    const MipModel m = sample_model(sense);
    const std::string path = temp_path("sample.lp");
    const auto w = opplan::write_lp(m, path);
    ASSERT_TRUE(w.ok()) << w.to_string();
    const auto r = opplan::read_lp(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    expect_same_model(m, *r);
    expect_same_optimum(m, *r);
    std::remove(path.c_str());
  }
}

TEST(MpsFiles, RandomKnapsacksRoundTripInBothFormats) {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(1, 50);
    MipModel m("knap");
    LinearExpr weight, value;
    int total = 0;
    for (int i = 0; i < 15; ++i) {
      const Var x = m.add_binary("x" + std::to_string(i));
      const int w = d(rng);
      total += w;
      weight.add(x, w);
      value.add(x, d(rng));
    }
    m.add_row(weight <= total / 2, "cap");
    m.maximize(value);
    for (int fmt = 0; fmt < 2; ++fmt) {
      SCOPED_TRACE(fmt == 0 ? "mps" : "lp");
      const std::string path = temp_path(fmt == 0 ? "k.mps" : "k.lp");
      ASSERT_TRUE((fmt == 0 ? opplan::write_mps(m, path) : opplan::write_lp(m, path)).ok());
      const auto r = fmt == 0 ? opplan::read_mps(path) : opplan::read_lp(path);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      expect_same_model(m, *r);
      expect_same_optimum(m, *r);
      std::remove(path.c_str());
    }
  }
}

TEST(MpsFiles, NamesInvalidInTheFormatAreReplaced) {
  MipModel m("names");
  const Var x = m.add_integer(0, 5, "has space");
  const Var y = m.add_integer(0, 5);  // unnamed
  const Var z = m.add_integer(0, 5, std::string(300, 'z'));  // too long for GLPK
  m.add_row(x + y + z <= 7, "row with space");
  m.add_row(LinearExpr(x) - y >= -1);
  m.maximize(x + 2 * LinearExpr(y) + 3 * LinearExpr(z));
  for (int fmt = 0; fmt < 2; ++fmt) {
    SCOPED_TRACE(fmt == 0 ? "mps" : "lp");
    const std::string path = temp_path(fmt == 0 ? "n.mps" : "n.lp");
    const auto w = fmt == 0 ? opplan::write_mps(m, path) : opplan::write_lp(m, path);
    ASSERT_TRUE(w.ok()) << w.to_string();
    const auto r = fmt == 0 ? opplan::read_mps(path) : opplan::read_lp(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string() << "\n" << read_text(path);
    EXPECT_EQ(r->num_variables(), 3u);
    EXPECT_EQ(r->num_rows(), 2u);
    for (std::size_t j = 0; j < r->num_variables(); ++j) EXPECT_FALSE(r->name(r->variable(j)).empty());
    expect_same_optimum(m, *r);
    std::remove(path.c_str());
  }
}

TEST(MpsFiles, RepeatedNamesStillRoundTrip) {
  // Rows named in a loop ("capacity" for every machine) and two variables of one name.
  MipModel m("repeated");
  std::vector<Var> x;
  for (int i = 0; i < 4; ++i) x.push_back(m.add_integer(0, 9, i < 2 ? "x" : "y" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) m.add_row(x[i] + 2 * LinearExpr(x[i + 1]) <= 7 + i, "capacity");
  m.add_row(x[0] + x[1] + x[2] + x[3] >= 3, "capacity");
  m.maximize(3 * LinearExpr(x[0]) + x[1] + 2 * LinearExpr(x[2]) + x[3] - 1);
  for (int fmt = 0; fmt < 2; ++fmt) {
    SCOPED_TRACE(fmt == 0 ? "mps" : "lp");
    const std::string path = temp_path(fmt == 0 ? "rep.mps" : "rep.lp");
    ASSERT_TRUE((fmt == 0 ? opplan::write_mps(m, path) : opplan::write_lp(m, path)).ok());
    const auto r = fmt == 0 ? opplan::read_mps(path) : opplan::read_lp(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string() << "\n" << read_text(path);
    ASSERT_EQ(r->num_variables(), 4u);
    ASSERT_EQ(r->num_rows(), 4u);
    EXPECT_EQ(r->num_nonzeros(), m.num_nonzeros());
    // The first occurrence keeps its name; the names of the file are unique.
    std::map<std::string, int> names;
    for (std::size_t j = 0; j < 4; ++j) ++names[r->name(r->variable(j))];
    EXPECT_EQ(names["x"], 1);
    EXPECT_EQ(names.size(), 4u);
    std::map<std::string, int> rows;
    for (std::size_t i = 0; i < 4; ++i) ++rows[r->name(r->row(i))];
    EXPECT_EQ(rows["capacity"], 1);
    EXPECT_EQ(rows.size(), 4u);
    expect_same_optimum(m, *r);
    std::remove(path.c_str());
  }
}

// ---- errors ---------------------------------------------------------------------------------------

TEST(MpsFiles, WriteToUnwritablePathIsIoError) {
  MipModel m;
  const Var x = m.add_binary("x");
  m.maximize(LinearExpr(x));
  for (int fmt = 0; fmt < 2; ++fmt) {
    const std::string path = fmt == 0 ? "/nonexistent/dir/x.mps" : "/nonexistent/dir/x.lp";
    const auto s = fmt == 0 ? opplan::write_mps(m, path) : opplan::write_lp(m, path);
    EXPECT_EQ(s.code(), StatusCode::kIoError) << s.to_string();
    EXPECT_THAT(s.message(), HasSubstr(path));
  }
}

TEST(MpsFiles, WriteOfAnInvalidModelIsRefused) {
  MipModel m;
  m.add_continuous(2, 1, "crossed");
  const std::string path = temp_path("bad.mps");
  const auto s = opplan::write_mps(m, path);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), HasSubstr("crossed"));
  std::remove(path.c_str());
}

TEST(MpsFiles, ReadMissingFileIsIoError) {
  const std::string path = temp_path("missing.mps");
  const auto r = opplan::read_mps(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  const auto l = opplan::read_lp(path);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kIoError);
}

TEST(MpsFiles, ReadGarbageIsParseErrorNamingTheFile) {
  const std::string path = temp_path("garbage.mps");
  {
    std::ofstream out(path);
    out << "this is not\nan MPS file { at all }\n\x01\x02\n";
  }
  const auto r = opplan::read_mps(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kParseError);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  const auto f = opplan::read_mps(path, /*fixed_format=*/true);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kParseError);
  const auto l = opplan::read_lp(path);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kParseError);
  EXPECT_THAT(l.status().message(), HasSubstr(path));
  // An empty file too.
  const std::string empty = temp_path("empty.mps");
  { std::ofstream out(empty); }
  const auto e = opplan::read_mps(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kParseError);
  std::remove(path.c_str());
  std::remove(empty.c_str());
}

TEST(MpsFiles, ReadsAHandWrittenMpsFile) {
  const std::string path = temp_path("hand.mps");
  {
    std::ofstream out(path);
    out << "NAME hand\n"
           "ROWS\n"
           " N cost\n"
           " L lim1\n"
           " G lim2\n"
           " E myeqn\n"
           "COLUMNS\n"
           " MARKER 'MARKER' 'INTORG'\n"
           " x cost 1 lim1 1\n"
           " x lim2 1\n"
           " MARKER 'MARKER' 'INTEND'\n"
           " y cost 2 lim1 1\n"
           " y myeqn -1\n"
           " z cost -1 myeqn 1\n"
           "RHS\n"
           " RHS lim1 4 lim2 1\n"
           " RHS myeqn 7\n"
           "BOUNDS\n"
           " UP BND x 4\n"
           " LO BND y -1\n"
           " UP BND y 1\n"
           "ENDATA\n";
  }
  const auto r = opplan::read_mps(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const MipModel& m = *r;
  EXPECT_EQ(m.name(), "hand");
  ASSERT_EQ(m.num_variables(), 3u);
  ASSERT_EQ(m.num_rows(), 3u);
  EXPECT_EQ(m.type(m.variable(0)), VarType::kInteger);
  EXPECT_EQ(m.type(m.variable(1)), VarType::kContinuous);
  EXPECT_EQ(m.upper(m.variable(0)), 4);
  EXPECT_EQ(m.lower(m.variable(1)), -1);
  EXPECT_EQ(m.lower(m.variable(2)), 0);
  EXPECT_EQ(m.upper(m.variable(2)), kInf);
  EXPECT_EQ(m.row_uppers()[0], 4);
  EXPECT_EQ(m.row_lowers()[0], -kInf);
  EXPECT_EQ(m.row_lowers()[1], 1);
  EXPECT_EQ(m.row_lowers()[2], 7);
  EXPECT_EQ(m.row_uppers()[2], 7);
  EXPECT_EQ(m.sense(), ObjectiveSense::kMinimize);
  // min x + 2y - z with z = 7 + y: x + y - 7, smallest at x = 1 (lim2), y = -1.
  const SolveResult s = GlpkSolver().solve(m);
  ASSERT_EQ(s.termination, Termination::kOptimal) << s.FullReport();
  EXPECT_NEAR(s.objective, -7, kTol);
  std::remove(path.c_str());
}

TEST(MpsFiles, ReadsObjsenseSections) {
  // Two-line and one-line forms, as CBC and HiGHS write them.
  const std::string body =
      "ROWS\n"
      " N obj\n"
      " L c1\n"
      "COLUMNS\n"
      " x obj 2 c1 1\n"
      " y obj 3 c1 1\n"
      "RHS\n"
      " RHS c1 4\n"
      "BOUNDS\n"
      " UP BND x 3\n"
      " UP BND y 2\n"
      "ENDATA\n";
  const std::pair<std::string, ObjectiveSense> cases[] = {
      {"NAME sense\nOBJSENSE\n    MAX\n", ObjectiveSense::kMaximize},
      {"NAME sense\nOBJSENSE\n    MAXIMIZE\n", ObjectiveSense::kMaximize},
      {"NAME sense\nOBJSENSE MAX\n", ObjectiveSense::kMaximize},
      {"NAME sense\nOBJSENSE\n    MIN\n", ObjectiveSense::kMinimize},
      {"NAME sense\n", ObjectiveSense::kMinimize},
  };
  for (const auto& [head, sense] : cases) {
    SCOPED_TRACE(head);
    const std::string path = temp_path("sense.mps");
    {
      std::ofstream out(path);
      out << head << body;
    }
    const auto r = opplan::read_mps(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->sense(), sense);
    EXPECT_EQ(r->num_variables(), 2u);
    EXPECT_EQ(r->num_rows(), 1u);
    const SolveResult s = GlpkSolver().solve(*r);
    ASSERT_EQ(s.termination, Termination::kOptimal);
    // max 2x + 3y with x + y <= 4, x <= 3, y <= 2: 2*2 + 3*2 = 10; min: 0.
    EXPECT_NEAR(s.objective, sense == ObjectiveSense::kMaximize ? 10 : 0, kTol);
    std::remove(path.c_str());
  }
  // An error after an OBJSENSE section names the file the user gave, at the right line.
  const std::string bad = temp_path("badsense.mps");
  {
    std::ofstream out(bad);
    out << "NAME sense\nOBJSENSE\n    MAX\nROWS\n N obj\n Q c1\nENDATA\n";
  }
  const auto r = opplan::read_mps(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kParseError);
  EXPECT_THAT(r.status().message(), HasSubstr(bad + ":6"));
  EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("opplan-")));
  std::remove(bad.c_str());
}

TEST(MpsFiles, ReadsFixedFormatMps) {
  const std::string path = temp_path("fixed.mps");
  {
    std::ofstream out(path);
    out << "NAME          FIXED\n"
           "ROWS\n"
           " N  COST\n"
           " L  LIM1\n"
           " G  LIM2\n"
           "COLUMNS\n"
           "    MARKER    'MARKER'                 'INTORG'\n"
           "    X1        COST                 1   LIM1                 1\n"
           "    X1        LIM2                 1\n"
           "    MARKER    'MARKER'                 'INTEND'\n"
           "    X2        COST                 2   LIM1                 1\n"
           "RHS\n"
           "    RHS       LIM1               4.5   LIM2               1.5\n"
           "BOUNDS\n"
           " UP BND       X1                   4\n"
           " UP BND       X2                   1\n"
           "ENDATA\n";
  }
  const auto r = opplan::read_mps(path, /*fixed_format=*/true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->num_variables(), 2u);
  EXPECT_EQ(r->type(r->variable(0)), VarType::kInteger);
  EXPECT_EQ(r->upper(r->variable(0)), 4);
  const SolveResult s = GlpkSolver().solve(*r);
  ASSERT_EQ(s.termination, Termination::kOptimal);
  EXPECT_NEAR(s.objective, 2, kTol);  // min x1 + 2 x2 with integer x1 >= 1.5 -> x1 = 2
  std::remove(path.c_str());
}

// ---- glpsol on the written file ------------------------------------------------------------------

bool glpsol_available() { return std::system("glpsol --version > /dev/null 2>&1") == 0; }

// "Objective:  obj = 123 (MINimum)" -> 123.
bool parse_glpsol_objective(const std::string& out, double* value, std::string* sense) {
  const auto pos = out.find("Objective:");
  if (pos == std::string::npos) return false;
  const auto eq = out.find('=', pos);
  if (eq == std::string::npos) return false;
  std::istringstream in(out.substr(eq + 1));
  in >> *value;
  std::string rest;
  in >> rest;
  *sense = rest;
  return !in.fail();
}

TEST(MpsFiles, GlpsolAgreesOnTheWrittenFile) {
  if (!glpsol_available()) GTEST_SKIP() << "glpsol is not installed";
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> d(1, 60);
  MipModel m("glpsol_check");
  LinearExpr weight, cost;
  int total = 0;
  for (int i = 0; i < 14; ++i) {
    const Var x = m.add_binary("x" + std::to_string(i));
    const int w = d(rng);
    total += w;
    weight.add(x, w);
    cost.add(x, d(rng));
  }
  const Var slack = m.add_continuous(0, 10, "slack");
  weight.add(slack, 1);
  m.add_row(weight >= total / 2, "demand");
  m.minimize(cost + 0.25 * LinearExpr(slack) + 3);
  const SolveResult ours = GlpkSolver().solve(m);
  ASSERT_EQ(ours.termination, Termination::kOptimal);

  const std::string mps = temp_path("glpsol.mps");
  const std::string out = temp_path("glpsol.out");
  ASSERT_TRUE(opplan::write_mps(m, mps).ok());
  const std::string cmd = "glpsol --freemps '" + mps + "' -o '" + out + "' > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  double value = 0;
  std::string sense;
  ASSERT_TRUE(parse_glpsol_objective(read_text(out), &value, &sense)) << read_text(out);
  EXPECT_NEAR(value, ours.objective, kTol);
  EXPECT_EQ(sense, "(MINimum)");
  std::remove(mps.c_str());
  std::remove(out.c_str());

  // A maximisation written as LP (the format that carries the sense) agrees too.
  MipModel mx = m;
  mx.set_sense(ObjectiveSense::kMaximize);
  const SolveResult ours_max = GlpkSolver().solve(mx);
  ASSERT_EQ(ours_max.termination, Termination::kOptimal);
  const std::string lp = temp_path("glpsol.lp");
  ASSERT_TRUE(opplan::write_lp(mx, lp).ok());
  const std::string cmd2 = "glpsol --lp '" + lp + "' -o '" + out + "' > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd2.c_str()), 0) << cmd2;
  ASSERT_TRUE(parse_glpsol_objective(read_text(out), &value, &sense)) << read_text(out);
  // GLPK's LP reader has no objective constant (its writer leaves it in a comment).
  EXPECT_NEAR(value + mx.objective_constant(), ours_max.objective, kTol);
  EXPECT_EQ(sense, "(MAXimum)");
  std::remove(lp.c_str());
  std::remove(out.c_str());
}

using opplan_test::Knapsack;
using opplan_test::random_knapsack;

// ---- LP relaxation ----------------------------------------------------------------------------------

// Dantzig's bound: the fractional knapsack optimum, greedy by value/weight.
double fractional_knapsack(const Knapsack& k) {
  std::vector<int> order(k.weight.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return static_cast<double>(k.value[a]) / k.weight[a] > static_cast<double>(k.value[b]) / k.weight[b];
  });
  double room = k.capacity, total = 0;
  for (int i : order) {
    const double take = std::min(1.0, room / k.weight[i]);
    if (take <= 0) break;
    total += take * k.value[i];
    room -= take * k.weight[i];
  }
  return total;
}

MipModel sensed_knapsack_model(const Knapsack& k, ObjectiveSense sense) {
  MipModel m;
  LinearExpr weight, value;
  for (std::size_t i = 0; i < k.weight.size(); ++i) {
    const Var x = m.add_binary();
    weight.add(x, k.weight[i]);
    value.add(x, k.value[i]);
  }
  if (sense == ObjectiveSense::kMaximize) {
    m.add_row(weight <= k.capacity);
    m.maximize(value);
  } else {
    m.add_row(weight >= k.capacity);  // covering form
    m.minimize(value);
  }
  return m;
}

TEST(LpRelaxation, BoundsTheMipOptimum) {
  for (unsigned seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Knapsack k = random_knapsack(seed, 12);
    for (auto sense : {ObjectiveSense::kMaximize, ObjectiveSense::kMinimize}) {
      const MipModel m = sensed_knapsack_model(k, sense);
      const SolveResult lp = opplan::solve_lp_relaxation(m);
      const SolveResult mip = GlpkSolver().solve(m);
      ASSERT_EQ(lp.termination, Termination::kOptimal) << lp.FullReport();
      ASSERT_EQ(mip.termination, Termination::kOptimal) << mip.FullReport();
      EXPECT_EQ(lp.values.size(), m.num_variables());
      EXPECT_NEAR(lp.best_bound, lp.objective, 0);
      if (sense == ObjectiveSense::kMaximize) {
        EXPECT_GE(lp.objective, mip.objective - kTol);
        EXPECT_NEAR(lp.objective, fractional_knapsack(k), kTol);  // exactly Dantzig's bound
      } else {
        EXPECT_LE(lp.objective, mip.objective + kTol);
      }
      // The relaxation's values satisfy the rows and bounds (not integrality).
      for (double v : lp.values) EXPECT_TRUE(v >= -kTol && v <= 1 + kTol);
      EXPECT_NEAR(m.objective_value(lp.values), lp.objective, kTol);
      LpOptions no_presolve;
      no_presolve.presolve = false;
      EXPECT_NEAR(opplan::solve_lp_relaxation(m, no_presolve).objective, lp.objective, kTol);
    }
  }
}

// A small transportation LP (2 plants, 3 markets) with an objective constant.
MipModel transportation() {
  MipModel m("transport");
  const double supply[2] = {3.5, 6};
  const double demand[3] = {3.25, 3, 2.75};
  const double cost[2][3] = {{2.5, 1.7, 1.8}, {2.5, 1.8, 1.4}};
  Var x[2][3];
  LinearExpr obj(5);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      x[i][j] = m.add_integer(0, kInf);  // integrality is dropped by the relaxation
      obj.add(x[i][j], cost[i][j]);
    }
  for (int i = 0; i < 2; ++i) m.add_row(x[i][0] + x[i][1] + x[i][2] <= supply[i]);
  for (int j = 0; j < 3; ++j) m.add_row(x[0][j] + x[1][j] >= demand[j]);
  m.minimize(obj);
  return m;
}

TEST(LpRelaxation, InteriorPointAgreesWithSimplex) {
  const MipModel m = transportation();
  const SolveResult simplex = opplan::solve_lp_relaxation(m);
  LpOptions ipt;
  ipt.interior_point = true;
  const SolveResult interior = opplan::solve_lp_relaxation(m, ipt);
  ASSERT_EQ(simplex.termination, Termination::kOptimal) << simplex.FullReport();
  ASSERT_EQ(interior.termination, Termination::kOptimal) << interior.FullReport();
  EXPECT_EQ(simplex.solver_name, "glpk-simplex");
  EXPECT_EQ(interior.solver_name, "glpk-interior");
  // By hand: plant 1 serves market 2 (1.7 < 1.8), plant 2 serves market 3 (1.4 < 1.8), market 1
  // costs 2.5 from either: 3.25 * 2.5 + 3 * 1.7 + 2.75 * 1.4 + 5 = 22.075.
  EXPECT_NEAR(simplex.objective, 22.075, kTol);
  EXPECT_NEAR(interior.objective, simplex.objective, kTol);
  EXPECT_NEAR(m.objective_value(interior.values), interior.objective, 1e-5);
}

TEST(LpRelaxation, InfeasibleAndUnboundedAreClassified) {
  MipModel infeasible;
  const Var x = infeasible.add_continuous(0, 10);
  const Var y = infeasible.add_continuous(0, 10);
  infeasible.add_row(x + y >= 30);
  infeasible.minimize(x + y);
  MipModel unbounded;
  const Var u = unbounded.add_continuous(0, kInf);
  const Var v = unbounded.add_integer(0, kInf);
  unbounded.add_row(LinearExpr(u) - v <= 2);
  unbounded.maximize(u + v);
  for (bool presolve : {true, false}) {
    SCOPED_TRACE(presolve ? "presolve" : "no presolve");
    LpOptions o;
    o.presolve = presolve;
    const SolveResult a = opplan::solve_lp_relaxation(infeasible, o);
    EXPECT_EQ(a.termination, Termination::kInfeasible) << a.FullReport();
    EXPECT_FALSE(a.has_solution);
    const SolveResult b = opplan::solve_lp_relaxation(unbounded, o);
    EXPECT_EQ(b.termination, Termination::kUnbounded) << b.FullReport();
    EXPECT_FALSE(b.has_solution);
  }
  // The interior point method itself cannot tell the two apart.
  LpOptions ipt;
  ipt.interior_point = true;
  const SolveResult c = opplan::solve_lp_relaxation(infeasible, ipt);
  EXPECT_EQ(c.termination, Termination::kInfeasible) << c.FullReport();
  EXPECT_FALSE(c.has_solution);
  const SolveResult d = opplan::solve_lp_relaxation(unbounded, ipt);
  EXPECT_EQ(d.termination, Termination::kUnbounded) << d.FullReport();
  EXPECT_FALSE(d.has_solution);
}

TEST(LpRelaxation, BadInput) {
  EXPECT_EQ(opplan::solve_lp_relaxation(MipModel()).termination, Termination::kInvalidInput);
  MipModel bad;
  bad.add_continuous(1, 0, "crossed");
  const SolveResult r = opplan::solve_lp_relaxation(bad);
  EXPECT_EQ(r.termination, Termination::kInvalidInput);
  EXPECT_THAT(r.message, HasSubstr("crossed"));
  LpOptions negative;
  negative.time_limit = -1;
  const SolveResult n = opplan::solve_lp_relaxation(transportation(), negative);
  EXPECT_EQ(n.termination, Termination::kInvalidInput);
  EXPECT_THAT(n.message, HasSubstr("time_limit"));
  LpOptions zero;
  zero.time_limit = 0;
  const SolveResult z = opplan::solve_lp_relaxation(transportation(), zero);
  EXPECT_EQ(z.termination, Termination::kNoSolutionFound);
  EXPECT_FALSE(z.has_solution);
}

}  // namespace
