// Formulation and VariableGroups: a test-local scheduling formulation built through build(), user
// extensions that change the optimum, and how failures of extensions are reported.
#include <opplan/formulation.hpp>
#include <opplan/mip_model.hpp>
#include <opplan/solver.hpp>

#include <algorithm>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using opplan::Formulation;
using opplan::GlpkSolver;
using opplan::kInf;
using opplan::LinearExpr;
using opplan::MipModel;
using opplan::SolveArguments;
using opplan::SolveResult;
using opplan::Status;
using opplan::StatusCode;
using opplan::Termination;
using opplan::Var;
using opplan::VariableGroups;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kTol = 1e-6;

std::string job_key(int j) { return "job=" + std::to_string(j); }
std::string assign_key(int j, int k) { return "job=" + std::to_string(j) + "/machine=" + std::to_string(k); }

// 6 jobs with release times on 2 machines, minimise the makespan (big-M disjunctions).
class Scheduler : public Formulation {
 public:
  Scheduler(std::vector<int> release, std::vector<int> duration)
      : release_(std::move(release)), duration_(std::move(duration)) {}

  std::string name() const override { return "sched"; }

  Status fail_with;  // returned by build_model when not OK
  bool throw_in_build = false;
  bool throw_int_in_build = false;

 protected:
  Status build_model(MipModel& m, VariableGroups& groups) override {
    if (throw_in_build) throw std::runtime_error("formulation exploded");
    if (throw_int_in_build) throw 7;
    if (!fail_with.ok()) return fail_with;
    const int n = static_cast<int>(release_.size());
    double big_m = *std::max_element(release_.begin(), release_.end());
    for (int d : duration_) big_m += d;
    std::vector<Var> s(n);
    std::vector<std::vector<Var>> a(n, std::vector<Var>(2));
    for (int i = 0; i < n; ++i) {
      s[i] = m.add_continuous(release_[i], kInf, "s" + std::to_string(i));
      groups.add("start", s[i], job_key(i));
      for (int k = 0; k < 2; ++k) {
        a[i][k] = m.add_binary();
        groups.add("assign", a[i][k], assign_key(i, k));
      }
      m.add_row(a[i][0] + a[i][1] == 1);
    }
    const Var makespan = m.add_continuous(0, kInf, "makespan");
    groups.add("makespan", makespan);
    for (int i = 0; i < n; ++i) m.add_row(s[i] + duration_[i] <= LinearExpr(makespan));
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        const Var before = m.add_binary();
        groups.add("order", before);
        for (int k = 0; k < 2; ++k) {
          const LinearExpr apart = big_m * (2 - a[i][k] - a[j][k]);
          m.add_row(s[i] + duration_[i] <= s[j] + big_m * (1 - LinearExpr(before)) + apart);
          m.add_row(s[j] + duration_[j] <= s[i] + big_m * LinearExpr(before) + apart);
        }
      }
    m.minimize(LinearExpr(makespan));
    return Status::Ok();
  }

 private:
  std::vector<int> release_, duration_;
};

struct Instance {
  std::vector<int> release, duration;
};

Instance random_instance(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> r(0, 8), p(1, 9);
  Instance in;
  for (int i = 0; i < 6; ++i) in.release.push_back(r(rng)), in.duration.push_back(p(rng));
  return in;
}

// min over machine assignments `mask` (bit i: job i on machine 1) that `allowed` accepts of
// makespan(mask) + penalty(mask).
double brute_force(const Instance& in, const std::function<bool(unsigned)>& allowed,
                   const std::function<double(unsigned)>& penalty) {
  const int n = static_cast<int>(in.release.size());
  double best = kInf;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (!allowed(mask)) continue;
    double makespan = 0;
    for (unsigned machine = 0; machine < 2; ++machine) {
      std::vector<int> mine;
      for (int i = 0; i < n; ++i)
        if ((mask >> i & 1u) == machine) mine.push_back(i);
      if (mine.empty()) continue;
      double best_end = kInf;
      do {
        double t = 0;
        for (int i : mine) t = std::max<double>(t, in.release[i]) + in.duration[i];
        best_end = std::min(best_end, t);
      } while (std::next_permutation(mine.begin(), mine.end()));
      makespan = std::max(makespan, best_end);
    }
    best = std::min(best, makespan + penalty(mask));
  }
  return best;
}

SolveResult solve(const MipModel& m) {
  SolveArguments args;
  args.options.relative_gap = 0;
  return GlpkSolver().solve(m, args);
}

TEST(Formulation, BuildsAndPublishesGroups) {
  const Instance in = random_instance(3);
  Scheduler f(in.release, in.duration);
  EXPECT_EQ(f.num_extensions(), 0u);
  const auto built = f.build();
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  const MipModel& m = *built;
  EXPECT_EQ(m.name(), "sched");
  EXPECT_EQ(m.num_variables(), 6u + 12 + 1 + 15);
  const VariableGroups& g = f.variables();
  EXPECT_THAT(g.group_names(), ElementsAre("assign", "makespan", "order", "start"));
  ASSERT_EQ(g.get("start").size(), 6u);
  EXPECT_EQ(g.get("assign").size(), 12u);
  EXPECT_EQ(g.get("makespan").size(), 1u);
  EXPECT_EQ(g.get("order").size(), 15u);
  EXPECT_TRUE(g.get("nothing").empty());
  for (int i = 0; i < 6; ++i) {
    const auto s = g.find("start", job_key(i));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(*s, g.get("start")[i]);
    EXPECT_EQ(m.name(*s), "s" + std::to_string(i));
    EXPECT_EQ(m.lower(*s), in.release[i]);
    EXPECT_EQ(s->model_id(), m.id());
  }
  EXPECT_EQ(*g.find("assign", assign_key(4, 1)), g.get("assign")[9]);
  EXPECT_FALSE(g.find("assign", "job=9/machine=0").has_value());
  EXPECT_FALSE(g.find("nothing", "job=0").has_value());
  EXPECT_FALSE(g.find("makespan", "").has_value());  // published without a key

  const SolveResult r = solve(m);
  ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
  const double expected = brute_force(in, [](unsigned) { return true; }, [](unsigned) { return 0.0; });
  EXPECT_NEAR(r.objective, expected, kTol);
  EXPECT_NEAR(r.value(g.get("makespan").front()), expected, kTol);
  for (int i = 0; i < 6; ++i) EXPECT_GE(r.value(g.get("start")[i]), in.release[i] - kTol);
}

TEST(Formulation, ExtensionsChangeTheOptimumAsExpected) {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Instance in = random_instance(seed);
    Scheduler f(in.release, in.duration);
    // Jobs 1 and 2 share a machine.
    f.add_extension([](MipModel& m, const VariableGroups& g) {
      const auto a1 = g.find("assign", assign_key(1, 0));
      const auto a2 = g.find("assign", assign_key(2, 0));
      if (!a1 || !a2) return Status(StatusCode::kNotFound, "assign variables missing");
      m.add_row(LinearExpr(*a1) - LinearExpr(*a2) == 0, "together");  // (no expr == expr operator)
      return Status::Ok();
    });
    // Job 0 on machine 1 costs 3 extra, and 0.5 per unit of makespan more.
    f.add_extension([](MipModel& m, const VariableGroups& g) {
      m.add_to_objective(3 * LinearExpr(*g.find("assign", assign_key(0, 1))));
      m.add_to_objective(0.5 * LinearExpr(g.get("makespan").front()) + 1);
      return Status::Ok();
    });
    EXPECT_EQ(f.num_extensions(), 2u);
    const auto built = f.build();
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    EXPECT_EQ(built->num_rows(), 6u + 6 + 60 + 1);
    const SolveResult r = solve(*built);
    ASSERT_EQ(r.termination, Termination::kOptimal) << r.FullReport();
    // objective = 1.5 * makespan + 3 [job 0 on machine 1] + 1
    const double expected =
        brute_force(
            in, [](unsigned mask) { return (mask >> 1 & 1u) == (mask >> 2 & 1u); },
            [&](unsigned mask) { return (mask & 1u) ? 3.0 / 1.5 : 0.0; }) *
            1.5 +
        1;
    EXPECT_NEAR(r.objective, expected, kTol);
    const VariableGroups& g = f.variables();
    EXPECT_NEAR(r.value(*g.find("assign", assign_key(1, 0))), r.value(*g.find("assign", assign_key(2, 0))), kTol);
    // Without extensions the optimum is never worse in makespan terms.
    Scheduler plain(in.release, in.duration);
    const SolveResult p = solve(*plain.build());
    EXPECT_LE(p.objective, r.value(g.get("makespan").front()) + kTol);
  }
}

TEST(Formulation, ExtensionAddingVariablesRunsInOrder) {
  const Instance in = random_instance(9);
  Scheduler f(in.release, in.duration);
  std::vector<int> order;
  f.add_extension([&](MipModel& m, const VariableGroups&) {
    order.push_back(0);
    m.add_continuous(0, 1, "extra0");
    return Status::Ok();
  });
  f.add_extension([&](MipModel& m, const VariableGroups&) {
    order.push_back(1);
    EXPECT_EQ(m.name(m.variable(m.num_variables() - 1)), "extra0");  // sees the first extension's work
    m.add_continuous(0, 1, "extra1");
    return Status::Ok();
  });
  const auto built = f.build();
  ASSERT_TRUE(built.ok());
  EXPECT_THAT(order, ElementsAre(0, 1));
  EXPECT_EQ(built->name(built->variable(built->num_variables() - 1)), "extra1");
  // A second build starts from scratch: fresh model, fresh groups, the extensions run again.
  const std::uint32_t first_id = built->id();
  const auto again = f.build();
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id(), first_id);
  EXPECT_EQ(again->num_variables(), built->num_variables());
  EXPECT_EQ(f.variables().get("start").size(), 6u);
  EXPECT_EQ(f.variables().get("start").front().model_id(), again->id());
  EXPECT_THAT(order, ElementsAre(0, 1, 0, 1));
}

TEST(Formulation, FailingExtensionIsNamedByPosition) {
  const Instance in = random_instance(4);
  Scheduler f(in.release, in.duration);
  bool third_ran = false;
  f.add_extension([](MipModel&, const VariableGroups&) { return Status::Ok(); });
  f.add_extension([](MipModel&, const VariableGroups&) {
    return Status(StatusCode::kFailedPrecondition, "needs a GPU count");
  });
  f.add_extension([&](MipModel&, const VariableGroups&) {
    third_ran = true;
    return Status::Ok();
  });
  const auto built = f.build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(built.status().message(), HasSubstr("extension #1"));
  EXPECT_THAT(built.status().message(), HasSubstr("needs a GPU count"));
  EXPECT_THAT(built.status().message(), HasSubstr("sched"));
  EXPECT_FALSE(third_ran);
  EXPECT_THROW(built.value(), std::logic_error);
}

TEST(Formulation, ThrowingExtensionIsReported) {
  const Instance in = random_instance(4);
  {
    Scheduler f(in.release, in.duration);
    f.add_extension([](MipModel&, const VariableGroups& g) -> Status {
      (void)g.get("start").at(99);  // std::out_of_range
      return Status::Ok();
    });
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("extension #0"));
    EXPECT_THAT(built.status().message(), HasSubstr("threw"));
  }
  {
    Scheduler f(in.release, in.duration);
    f.add_extension([](MipModel&, const VariableGroups&) { return Status::Ok(); });
    f.add_extension([](MipModel&, const VariableGroups&) -> Status { throw std::runtime_error("custom boom"); });
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("extension #1 threw: custom boom"));
  }
  {
    Scheduler f(in.release, in.duration);
    f.add_extension([](MipModel&, const VariableGroups&) -> Status { throw 5; });
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("extension #0"));
    EXPECT_THAT(built.status().message(), HasSubstr("non-standard exception"));
  }
  {
    Scheduler f(in.release, in.duration);
    f.add_extension(opplan::ModelExtension());  // empty
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("extension #0 is empty"));
  }
}

TEST(Formulation, ExtensionUsingAForeignVariableFailsValidation) {
  const Instance in = random_instance(5);
  Scheduler f(in.release, in.duration);
  MipModel other;
  const Var foreign = other.add_binary();
  f.add_extension([&](MipModel& m, const VariableGroups& g) {
    m.add_row(LinearExpr(g.get("makespan").front()) + foreign <= 100, "bad_ext_row");
    return Status::Ok();
  });
  const auto built = f.build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(built.status().message(), HasSubstr("sched"));
  EXPECT_THAT(built.status().message(), HasSubstr("bad_ext_row"));
  EXPECT_THAT(built.status().message(), HasSubstr("another model"));
}

TEST(Formulation, FailingFormulationIsReported) {
  const Instance in = random_instance(6);
  {
    Scheduler f(in.release, in.duration);
    f.fail_with = Status(StatusCode::kInvalidArgument, "no machines");
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(built.status().message(), HasSubstr("formulation 'sched'"));
    EXPECT_THAT(built.status().message(), HasSubstr("no machines"));
  }
  {
    Scheduler f(in.release, in.duration);
    f.throw_in_build = true;
    const auto built = f.build();
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("formulation exploded"));
  }
  {
    Scheduler f(in.release, in.duration);
    f.throw_int_in_build = true;
    opplan::Result<MipModel> built = Status(StatusCode::kInternal, "not run");
    EXPECT_NO_THROW(built = f.build());
    ASSERT_FALSE(built.ok());
    EXPECT_THAT(built.status().message(), HasSubstr("sched"));
  }
}

TEST(Formulation, VariableGroupsDirectly) {
  MipModel m;
  VariableGroups g;
  EXPECT_TRUE(g.group_names().empty());
  const Var a = m.add_binary();
  const Var b = m.add_binary();
  const Var c = m.add_binary();
  g.add("x", a, "first");
  g.add("x", b);
  g.add("x", c, "first");  // the key now points at c; both stay in the list
  g.add("y", a, "k");
  EXPECT_THAT(g.get("x"), ElementsAre(a, b, c));
  EXPECT_EQ(*g.find("x", "first"), c);
  EXPECT_EQ(*g.find("y", "k"), a);
  EXPECT_FALSE(g.find("y", "first").has_value());
  EXPECT_THAT(g.group_names(), ElementsAre("x", "y"));
  const std::string key = "k";
  EXPECT_EQ(*g.find(std::string_view("y"), key), a);
  g.clear();
  EXPECT_TRUE(g.get("x").empty());
  EXPECT_TRUE(g.group_names().empty());
}

}  // namespace
