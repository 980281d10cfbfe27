#include <opplan/mip_model.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

std::uint32_t next_model_id() {
  static std::atomic<std::uint32_t> counter{0};
  std::uint32_t id = ++counter;
  if (id == 0) id = ++counter;  // 0 marks an invalid handle; skip it on wrap-around
  return id;
}

constexpr std::size_t kMaxBuildErrorsKept = 20;
constexpr std::size_t kMaxProblemsReported = 50;

}  // namespace

const char* to_string(VarType type) {
  switch (type) {
    case VarType::kContinuous: return "continuous";
    case VarType::kInteger: return "integer";
    case VarType::kBinary: return "binary";
  }
  return "unknown";
}

MipModel::MipModel(std::string name) : name_(std::move(name)), id_(next_model_id()) {}

void MipModel::reserve(std::size_t num_vars, std::size_t num_rows, std::size_t num_nonzeros) {
  var_lower_.reserve(num_vars);
  var_upper_.reserve(num_vars);
  var_type_.reserve(num_vars);
  var_name_.reserve(num_vars);
  obj_.reserve(num_vars);
  row_lower_.reserve(num_rows);
  row_upper_.reserve(num_rows);
  row_name_.reserve(num_rows);
  row_start_.reserve(num_rows + 1);
  col_index_.reserve(num_nonzeros);
  coef_.reserve(num_nonzeros);
}

Var MipModel::add_variable(double lower, double upper, VarType type, std::string name) {
  const auto index = static_cast<std::uint32_t>(var_lower_.size());
  var_lower_.push_back(lower);
  var_upper_.push_back(upper);
  var_type_.push_back(type);
  var_name_.push_back(std::move(name));
  obj_.push_back(0.0);
  return Var(id_, index);
}

std::uint32_t MipModel::check(Var v, const char* what) const {
  if (v.model_id() != id_ || v.index() >= var_lower_.size())
    throw std::out_of_range(fmt::format("opplan::MipModel::{}: variable {} does not belong to model '{}'", what,
                                        v.index(), name_));
  return v.index();
}

std::uint32_t MipModel::check(Row r, const char* what) const {
  if (r.model_id() != id_ || r.index() >= row_lower_.size())
    throw std::out_of_range(
        fmt::format("opplan::MipModel::{}: row {} does not belong to model '{}'", what, r.index(), name_));
  return r.index();
}

Var MipModel::variable(std::size_t index) const {
  if (index >= var_lower_.size())
    throw std::out_of_range(fmt::format("opplan::MipModel::variable: index {} >= {} variables", index, var_lower_.size()));
  return Var(id_, static_cast<std::uint32_t>(index));
}

Row MipModel::row(std::size_t index) const {
  if (index >= row_lower_.size())
    throw std::out_of_range(fmt::format("opplan::MipModel::row: index {} >= {} rows", index, row_lower_.size()));
  return Row(id_, static_cast<std::uint32_t>(index));
}

double MipModel::lower(Var v) const { return var_lower_[check(v, "lower")]; }
double MipModel::upper(Var v) const { return var_upper_[check(v, "upper")]; }
VarType MipModel::type(Var v) const { return var_type_[check(v, "type")]; }
const std::string& MipModel::name(Var v) const { return var_name_[check(v, "name")]; }
const std::string& MipModel::name(Row r) const { return row_name_[check(r, "name")]; }
double MipModel::row_lower(Row r) const { return row_lower_[check(r, "row_lower")]; }
double MipModel::row_upper(Row r) const { return row_upper_[check(r, "row_upper")]; }

void MipModel::set_bounds(Var v, double lower, double upper) {
  const auto i = check(v, "set_bounds");
  var_lower_[i] = lower;
  var_upper_[i] = upper;
}

void MipModel::set_type(Var v, VarType type) { var_type_[check(v, "set_type")] = type; }

void MipModel::append_term(Var var, double coef, std::size_t row_index) {
  if (var.model_id() != id_ || var.index() >= var_lower_.size()) {
    // Not thrown: a model assembled by user callbacks reports every such mistake at validate().
    if (build_errors_.size() < kMaxBuildErrorsKept) {
      const std::string& row_name = row_name_.size() > row_index ? row_name_[row_index] : std::string();
      build_errors_.push_back(fmt::format(
          "row {}{}: uses variable {} of {} (the term was dropped)", row_index,
          row_name.empty() ? "" : " '" + row_name + "'", var.index(),
          !var.valid() ? std::string("no model (an uninitialised Var)")
                       : var.model_id() == id_ ? "this model, which has fewer variables"
                                               : fmt::format("another model (id {}, this is {})", var.model_id(), id_)));
    }
    ++num_build_errors_;
    return;
  }
  col_index_.push_back(var.index());
  coef_.push_back(coef);
}

Row MipModel::add_row(double lower, double upper, const Var* vars, const double* coefs, std::size_t n,
                      std::string name) {
  const auto index = static_cast<std::uint32_t>(row_lower_.size());
  row_name_.push_back(std::move(name));
  for (std::size_t k = 0; k < n; ++k) append_term(vars[k], coefs[k], index);
  row_lower_.push_back(lower);
  row_upper_.push_back(upper);
  row_start_.push_back(col_index_.size());
  return Row(id_, index);
}

Row MipModel::add_row(const BoundedExpr& constraint, std::string name) {
  const auto index = static_cast<std::uint32_t>(row_lower_.size());
  row_name_.push_back(std::move(name));
  for (const Term& t : constraint.expr.terms()) append_term(t.var, t.coef, index);
  const double c = constraint.expr.constant();
  row_lower_.push_back(constraint.lower - c);  // -inf - c stays -inf
  row_upper_.push_back(constraint.upper - c);
  row_start_.push_back(col_index_.size());
  return Row(id_, index);
}

void MipModel::set_objective(const LinearExpr& objective, ObjectiveSense sense) {
  std::fill(obj_.begin(), obj_.end(), 0.0);
  obj_constant_ = 0;
  sense_ = sense;
  add_to_objective(objective);
}

void MipModel::add_to_objective(const LinearExpr& term) {
  for (const Term& t : term.terms()) obj_[check(t.var, "add_to_objective")] += t.coef;
  obj_constant_ += term.constant();
}

void MipModel::set_objective_coefficient(Var v, double coef) { obj_[check(v, "set_objective_coefficient")] = coef; }

double MipModel::objective_value(const std::vector<double>& values) const {
  if (values.size() != var_lower_.size())
    throw std::invalid_argument(fmt::format("opplan::MipModel::objective_value: {} values for {} variables",
                                            values.size(), var_lower_.size()));
  double z = obj_constant_;
  for (std::size_t j = 0; j < values.size(); ++j) z += obj_[j] * values[j];
  return z;
}

namespace {

std::string var_label(const std::vector<std::string>& names, std::size_t j) {
  return names[j].empty() ? fmt::format("variable #{}", j) : fmt::format("variable '{}' (#{})", names[j], j);
}
std::string row_label(const std::vector<std::string>& names, std::size_t i) {
  return names[i].empty() ? fmt::format("row #{}", i) : fmt::format("row '{}' (#{})", names[i], i);
}
bool tolerably_le(double a, double b, double tol) { return a <= b + tol * std::max(1.0, std::abs(b)); }

Status problems_status(const std::vector<std::string>& problems, std::size_t total) {
  if (problems.empty()) return Status::Ok();
  std::string message = total == 1 ? "1 problem" : fmt::format("{} problems", total);
  if (total > problems.size()) message += fmt::format(" (first {} shown)", problems.size());
  for (const auto& p : problems) message += "\n  " + p;
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

}  // namespace

Status MipModel::check_solution(const std::vector<double>& values, double tolerance) const {
  if (values.size() != var_lower_.size())
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("the solution has {} values but the model has {} variables", values.size(),
                              var_lower_.size()));
  std::vector<std::string> problems;
  std::size_t total = 0;
  auto add = [&](std::string p) {
    if (problems.size() < 10) problems.push_back(std::move(p));
    ++total;
  };
  for (std::size_t j = 0; j < values.size(); ++j) {
    const double x = values[j];
    if (!std::isfinite(x)) add(fmt::format("{} is {}", var_label(var_name_, j), x));
    else if (!tolerably_le(var_lower_[j], x, tolerance) || !tolerably_le(x, var_upper_[j], tolerance))
      add(fmt::format("{} = {} is outside its bounds [{}, {}]", var_label(var_name_, j), x, var_lower_[j],
                      var_upper_[j]));
    else if (var_type_[j] != VarType::kContinuous && std::abs(x - std::round(x)) > tolerance)
      add(fmt::format("{} = {} is not integral", var_label(var_name_, j), x));
  }
  for (std::size_t i = 0; i < row_lower_.size(); ++i) {
    double activity = 0;
    for (std::size_t k = row_start_[i]; k < row_start_[i + 1]; ++k) activity += coef_[k] * values[col_index_[k]];
    if (!tolerably_le(row_lower_[i], activity, tolerance) || !tolerably_le(activity, row_upper_[i], tolerance))
      add(fmt::format("{}: activity {} is outside [{}, {}]", row_label(row_name_, i), activity, row_lower_[i],
                      row_upper_[i]));
  }
  if (problems.empty()) return Status::Ok();
  std::string message = fmt::format("the solution violates {} constraint{}", total, total == 1 ? "" : "s");
  for (const auto& p : problems) message += "\n  " + p;
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Status MipModel::validate() const {
  std::vector<std::string> problems;
  std::size_t total = 0;
  auto add = [&](std::string p) {
    if (problems.size() < kMaxProblemsReported) problems.push_back(std::move(p));
    ++total;
  };
  for (const auto& e : build_errors_) add(e);
  total += num_build_errors_ - build_errors_.size();
  for (std::size_t j = 0; j < var_lower_.size(); ++j) {
    const double lo = var_lower_[j], up = var_upper_[j];
    const auto who = [&] { return var_label(var_name_, j); };
    if (std::isnan(lo) || std::isnan(up)) add(fmt::format("{}: a bound is NaN", who()));
    else if (lo > up) add(fmt::format("{}: lower bound {} is above upper bound {}", who(), lo, up));
    else if (lo == kInf || up == -kInf) add(fmt::format("{}: bounds [{}, {}] admit no value", who(), lo, up));
    else if (var_type_[j] != VarType::kContinuous &&
             ((std::isfinite(lo) && lo != std::floor(lo)) || (std::isfinite(up) && up != std::floor(up))))
      add(fmt::format("{}: {} variable has fractional bounds [{}, {}]", who(), to_string(var_type_[j]), lo, up));
    else if (var_type_[j] == VarType::kBinary && (lo < 0 || up > 1))
      add(fmt::format("{}: binary variable has bounds [{}, {}] outside [0, 1]", who(), lo, up));
    if (!std::isfinite(obj_[j])) add(fmt::format("{}: objective coefficient is {}", who(), obj_[j]));
  }
  if (!std::isfinite(obj_constant_)) add(fmt::format("objective constant is {}", obj_constant_));
  for (std::size_t i = 0; i < row_lower_.size(); ++i) {
    const double lo = row_lower_[i], up = row_upper_[i];
    if (std::isnan(lo) || std::isnan(up)) add(fmt::format("{}: a bound is NaN", row_label(row_name_, i)));
    else if (lo > up) add(fmt::format("{}: lower bound {} is above upper bound {}", row_label(row_name_, i), lo, up));
    else if (lo == kInf || up == -kInf)
      add(fmt::format("{}: bounds [{}, {}] admit no value", row_label(row_name_, i), lo, up));
    for (std::size_t k = row_start_[i]; k < row_start_[i + 1]; ++k)
      if (!std::isfinite(coef_[k]))
        add(fmt::format("{}: coefficient of {} is {}", row_label(row_name_, i), var_label(var_name_, col_index_[k]),
                        coef_[k]));
  }
  return problems_status(problems, total);
}

std::string MipModel::summary() const {
  std::size_t integers = 0;
  for (VarType t : var_type_) integers += t != VarType::kContinuous;
  return fmt::format("{}: {} variables ({} integer), {} rows, {} nonzeros", name_, var_lower_.size(), integers,
                     row_lower_.size(), col_index_.size());
}

OPPLAN_END_NAMESPACE
