// Formulation: turns a planning problem into a MipModel and a solution back into a result.
//
// A formulation publishes its variables under group names ("start", "makespan", "x", ...) with a
// key per variable ("op=fc1/mb=3/phase=F"), so that user extensions can find them. An extension is
// a callback run after the formulation has built its model; it may add variables, rows and
// objective terms (this is how a custom objective or constraint is written):
//
//   formulation.add_extension([](MipModel& model, const VariableGroups& vars) {
//     model.add_to_objective(0.1 * LinearExpr(vars.get("makespan").front()));
//   });
//
// Extensions are owned by the formulation (copied std::function) and run on the thread that calls
// build(), in the order they were added.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/mip_model.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

class OPPLAN_EXPORT VariableGroups {
 public:
  void add(const std::string& group, Var var, std::string key = {});
  // The variables of a group in insertion order; empty for an unknown group.
  const std::vector<Var>& get(std::string_view group) const;
  std::optional<Var> find(std::string_view group, std::string_view key) const;
  std::vector<std::string> group_names() const;
  void clear() { groups_.clear(); }

 private:
  struct Group {
    std::vector<Var> vars;
    std::map<std::string, Var, std::less<>> by_key;
  };
  std::map<std::string, Group, std::less<>> groups_;
};

using ModelExtension = std::function<Status(MipModel& model, const VariableGroups& variables)>;

class OPPLAN_EXPORT Formulation {
 public:
  virtual ~Formulation();

  virtual std::string name() const = 0;

  // Builds a fresh model: the formulation's own part, then every extension. The first failure
  // (from the formulation or an extension, including an exception it throws) is returned, naming
  // the extension by its position.
  Result<MipModel> build();

  void add_extension(ModelExtension extension);
  std::size_t num_extensions() const { return extensions_.size(); }

  // The variables published by the last build().
  const VariableGroups& variables() const { return variables_; }

 protected:
  // Adds the formulation's variables, rows and objective to `model` and publishes its variables.
  virtual Status build_model(MipModel& model, VariableGroups& variables) = 0;

 private:
  std::vector<ModelExtension> extensions_;
  VariableGroups variables_;
};

OPPLAN_END_NAMESPACE
