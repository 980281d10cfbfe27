// A researcher's custom objective: extend a formulation through its published variables.
//
// The formulation places jobs on two machines to minimise the makespan. Its own build publishes
// the variables "assign" (keyed "job/machine") and "makespan". An extension, written without
// touching the formulation, adds a rule ("jobs 0 and 1 share a machine") and a small penalty on
// the load of machine 1 to the objective. The solve is the library's GLPK backend.
#include <opplan/opplan.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

class TwoMachineMakespan : public opplan::Formulation {
 public:
  explicit TwoMachineMakespan(std::vector<double> durations) : durations_(std::move(durations)) {}
  std::string name() const override { return "two-machine-makespan"; }

 protected:
  opplan::Status build_model(opplan::MipModel& model, opplan::VariableGroups& vars) override {
    double total = 0;
    for (double d : durations_) total += d;
    const opplan::Var makespan = model.add_continuous(0, total, "makespan");
    vars.add("makespan", makespan);
    opplan::LinearExpr load[2];
    for (std::size_t j = 0; j < durations_.size(); ++j) {
      opplan::LinearExpr once;
      for (int m = 0; m < 2; ++m) {
        const std::string key = std::to_string(j) + "/" + std::to_string(m);
        const opplan::Var x = model.add_binary("x" + key);
        vars.add("assign", x, key);
        once.add(x, 1.0);
        load[m].add(x, durations_[j]);
      }
      model.add_row(once == 1, "job" + std::to_string(j));
    }
    for (int m = 0; m < 2; ++m) model.add_row(load[m] <= opplan::LinearExpr(makespan), "load" + std::to_string(m));
    model.minimize(opplan::LinearExpr(makespan));
    return opplan::Status::Ok();
  }

 private:
  std::vector<double> durations_;
};

}  // namespace

int main() {
  const std::vector<double> durations = {4, 3, 3, 2, 2};  // total 14: the best split is 7 / 7
  TwoMachineMakespan formulation(durations);

  // The custom part. It sees only the model and the published variables.
  formulation.add_extension([&](opplan::MipModel& model, const opplan::VariableGroups& vars) {
    for (int m = 0; m < 2; ++m) {
      auto a = vars.find("assign", "0/" + std::to_string(m));
      auto b = vars.find("assign", "1/" + std::to_string(m));
      if (!a || !b) return opplan::Status(opplan::StatusCode::kNotFound, "assign variables of jobs 0 and 1");
      model.add_row(opplan::LinearExpr(*a) == opplan::LinearExpr(*b), "jobs 0 and 1 together");
    }
    opplan::LinearExpr machine1;
    for (std::size_t j = 0; j < durations.size(); ++j)
      machine1.add(*vars.find("assign", std::to_string(j) + "/1"), 0.01 * durations[j]);
    model.add_to_objective(machine1);
    return opplan::Status::Ok();
  });

  auto model = formulation.build();
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  opplan::GlpkSolver solver;
  const opplan::SolveResult result = solver.solve(*model);
  std::printf("%s\n", result.BriefReport().c_str());
  if (!result.has_solution) return 1;
  const double makespan = result.value(formulation.variables().get("makespan").front());
  std::printf("makespan %.0f; machine of each job:", makespan);
  for (std::size_t j = 0; j < durations.size(); ++j)
    std::printf(" %d", result.value(*formulation.variables().find("assign", std::to_string(j) + "/1")) > 0.5 ? 1 : 0);
  std::printf("\n");
  return 0;
}
