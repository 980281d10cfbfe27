#include <opplan/formulation.hpp>

#include <exception>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

void VariableGroups::add(const std::string& group, Var var, std::string key) {
  auto& g = groups_[group];
  g.vars.push_back(var);
  if (!key.empty()) g.by_key.insert_or_assign(std::move(key), var);
}

const std::vector<Var>& VariableGroups::get(std::string_view group) const {
  static const std::vector<Var> kEmpty;
  auto it = groups_.find(group);
  return it == groups_.end() ? kEmpty : it->second.vars;
}

std::optional<Var> VariableGroups::find(std::string_view group, std::string_view key) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  auto k = it->second.by_key.find(key);
  if (k == it->second.by_key.end()) return std::nullopt;
  return k->second;
}

std::vector<std::string> VariableGroups::group_names() const {
  std::vector<std::string> names;
  for (const auto& [name, group] : groups_) names.push_back(name);
  return names;
}

Formulation::~Formulation() = default;

void Formulation::add_extension(ModelExtension extension) { extensions_.push_back(std::move(extension)); }

Result<MipModel> Formulation::build() {
  MipModel model(name());
  variables_.clear();
  try {
    if (Status s = build_model(model, variables_); !s.ok()) return s.with_context(fmt::format("formulation '{}'", name()));
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, fmt::format("formulation '{}' threw: {}", name(), e.what()));
  } catch (...) {
    return Status(StatusCode::kInternal, fmt::format("formulation '{}' threw a non-standard exception", name()));
  }
  for (std::size_t i = 0; i < extensions_.size(); ++i) {
    const std::string who = fmt::format("formulation '{}': extension #{}", name(), i);
    if (!extensions_[i]) return Status(StatusCode::kInvalidArgument, who + " is empty");
    try {
      if (Status s = extensions_[i](model, variables_); !s.ok()) return s.with_context(who);
    } catch (const std::exception& e) {
      return Status(StatusCode::kInvalidArgument, fmt::format("{} threw: {}", who, e.what()));
    } catch (...) {
      return Status(StatusCode::kInvalidArgument, who + " threw a non-standard exception");
    }
  }
  if (Status s = model.validate(); !s.ok()) return s.with_context(fmt::format("formulation '{}'", name()));
  return model;
}

OPPLAN_END_NAMESPACE
