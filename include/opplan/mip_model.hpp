// MipModel: a solver-neutral mixed-integer linear program.
//
//   min / max  c'x + c0
//   s.t.       row_lower <= A x <= row_upper
//              var_lower <= x <= var_upper,  x_j integer for integer and binary variables
//
// Variables are referred to by Var handles, which remember the model they belong to: using a Var
// of another model is reported by validate() (and so by every solve) instead of corrupting the
// model. Infinite bounds (+-infinity) mean "no bound".
//
// Building is designed for large models (10^6 nonzeros and more): the constraint matrix is stored
// row-wise in three flat arrays, so adding a row appends to them and allocates nothing per row. Use
// the pointer overload of add_row() or reuse one LinearExpr (clear() keeps its capacity) in hot
// loops; the operator syntax (x + 2 * y <= 4) is for readability elsewhere.
//
// A MipModel is a value type; const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

inline constexpr double kInf = std::numeric_limits<double>::infinity();

enum class VarType : std::uint8_t { kContinuous, kInteger, kBinary };
OPPLAN_EXPORT const char* to_string(VarType type);

// Handle of a variable: its index in the model plus the model's identity.
class Var {
 public:
  constexpr Var() = default;  // invalid
  constexpr std::uint32_t index() const { return index_; }
  constexpr std::uint32_t model_id() const { return model_id_; }
  constexpr bool valid() const { return model_id_ != 0; }
  friend constexpr bool operator==(Var a, Var b) { return a.index_ == b.index_ && a.model_id_ == b.model_id_; }
  friend constexpr bool operator!=(Var a, Var b) { return !(a == b); }

 private:
  friend class MipModel;
  constexpr Var(std::uint32_t model_id, std::uint32_t index) : index_(index), model_id_(model_id) {}
  std::uint32_t index_ = 0;
  std::uint32_t model_id_ = 0;
};

// Handle of a row (constraint), in the same spirit.
class Row {
 public:
  constexpr Row() = default;
  constexpr std::uint32_t index() const { return index_; }
  constexpr std::uint32_t model_id() const { return model_id_; }
  constexpr bool valid() const { return model_id_ != 0; }

 private:
  friend class MipModel;
  constexpr Row(std::uint32_t model_id, std::uint32_t index) : index_(index), model_id_(model_id) {}
  std::uint32_t index_ = 0;
  std::uint32_t model_id_ = 0;
};

struct Term {
  Var var;
  double coef = 0;
};

// sum of coef * var, plus a constant. Duplicate variables are allowed and summed when the row is
// added to a model.
class LinearExpr {
 public:
  LinearExpr() = default;
  LinearExpr(double constant) : constant_(constant) {}  // NOLINT: implicit, so `x + 1` works
  LinearExpr(Var var) : terms_{{var, 1.0}} {}           // NOLINT
  LinearExpr(std::initializer_list<Term> terms, double constant = 0) : terms_(terms), constant_(constant) {}

  LinearExpr& add(Var var, double coef) {
    terms_.push_back({var, coef});
    return *this;
  }
  LinearExpr& operator+=(const LinearExpr& other);
  LinearExpr& operator-=(const LinearExpr& other);
  LinearExpr& operator*=(double factor);
  // Empties the expression but keeps its memory, for reuse in loops.
  void clear() {
    terms_.clear();
    constant_ = 0;
  }

  const std::vector<Term>& terms() const { return terms_; }
  double constant() const { return constant_; }
  void set_constant(double c) { constant_ = c; }

 private:
  std::vector<Term> terms_;
  double constant_ = 0;
};

OPPLAN_EXPORT LinearExpr operator+(LinearExpr a, const LinearExpr& b);
OPPLAN_EXPORT LinearExpr operator-(LinearExpr a, const LinearExpr& b);
OPPLAN_EXPORT LinearExpr operator-(LinearExpr a);
OPPLAN_EXPORT LinearExpr operator*(LinearExpr a, double factor);
OPPLAN_EXPORT LinearExpr operator*(double factor, LinearExpr a);

// lower <= expr <= upper, the result of `expr <= 4`, `2 <= expr`, `expr == 1`. The constant of the
// expression is moved into the bounds when the row is added.
struct BoundedExpr {
  LinearExpr expr;
  double lower = -kInf;
  double upper = kInf;
};

OPPLAN_EXPORT BoundedExpr operator<=(LinearExpr expr, double upper);
OPPLAN_EXPORT BoundedExpr operator>=(LinearExpr expr, double lower);
OPPLAN_EXPORT BoundedExpr operator==(LinearExpr expr, double value);
OPPLAN_EXPORT BoundedExpr operator<=(double lower, LinearExpr expr);
OPPLAN_EXPORT BoundedExpr operator>=(double upper, LinearExpr expr);
// expr_a <= expr_b, >= and == move everything to the left: expr_a - expr_b <= 0 (>= 0, == 0).
OPPLAN_EXPORT BoundedExpr operator<=(LinearExpr a, const LinearExpr& b);
OPPLAN_EXPORT BoundedExpr operator>=(LinearExpr a, const LinearExpr& b);
OPPLAN_EXPORT BoundedExpr operator==(LinearExpr a, const LinearExpr& b);

enum class ObjectiveSense : std::uint8_t { kMinimize, kMaximize };

class OPPLAN_EXPORT MipModel {
 public:
  explicit MipModel(std::string name = "model");
  // Copies keep the identity: handles of the original are valid in a copy (a formulation can be
  // copied and extended). Handles of an unrelated model are not.
  MipModel(const MipModel& other) = default;
  MipModel& operator=(const MipModel& other) = default;
  MipModel(MipModel&& other) noexcept = default;
  MipModel& operator=(MipModel&& other) noexcept = default;
  ~MipModel() = default;

  const std::string& name() const { return name_; }
  std::uint32_t id() const { return id_; }

  // ---- variables ---------------------------------------------------------------------------
  Var add_variable(double lower, double upper, VarType type, std::string name = {});
  Var add_continuous(double lower, double upper, std::string name = {}) {
    return add_variable(lower, upper, VarType::kContinuous, std::move(name));
  }
  Var add_integer(double lower, double upper, std::string name = {}) {
    return add_variable(lower, upper, VarType::kInteger, std::move(name));
  }
  Var add_binary(std::string name = {}) { return add_variable(0, 1, VarType::kBinary, std::move(name)); }
  void reserve(std::size_t num_vars, std::size_t num_rows, std::size_t num_nonzeros);

  std::size_t num_variables() const { return var_lower_.size(); }
  Var variable(std::size_t index) const;  // throws std::out_of_range
  double lower(Var v) const;
  double upper(Var v) const;
  VarType type(Var v) const;
  const std::string& name(Var v) const;  // empty when not named
  void set_bounds(Var v, double lower, double upper);
  void set_type(Var v, VarType type);
  bool is_integer(Var v) const { return type(v) != VarType::kContinuous; }

  // ---- rows --------------------------------------------------------------------------------
  Row add_row(const BoundedExpr& constraint, std::string name = {});
  // The fast path: n terms given as parallel arrays.
  Row add_row(double lower, double upper, const Var* vars, const double* coefs, std::size_t n, std::string name = {});
  std::size_t num_rows() const { return row_lower_.size(); }
  std::size_t num_nonzeros() const { return col_index_.size(); }
  double row_lower(Row r) const;
  double row_upper(Row r) const;
  const std::string& name(Row r) const;
  Row row(std::size_t index) const;  // throws std::out_of_range
  // Row i's terms as column indices and coefficients (CSR): entries row_start(i) .. row_start(i+1)-1.
  const std::vector<std::size_t>& row_starts() const { return row_start_; }
  const std::vector<std::uint32_t>& column_indices() const { return col_index_; }
  const std::vector<double>& coefficients() const { return coef_; }
  const std::vector<double>& row_lowers() const { return row_lower_; }
  const std::vector<double>& row_uppers() const { return row_upper_; }
  const std::vector<double>& var_lowers() const { return var_lower_; }
  const std::vector<double>& var_uppers() const { return var_upper_; }
  const std::vector<VarType>& var_types() const { return var_type_; }

  // ---- objective ---------------------------------------------------------------------------
  void set_objective(const LinearExpr& objective, ObjectiveSense sense = ObjectiveSense::kMinimize);
  void minimize(const LinearExpr& objective) { set_objective(objective, ObjectiveSense::kMinimize); }
  void maximize(const LinearExpr& objective) { set_objective(objective, ObjectiveSense::kMaximize); }
  // Adds to the current objective (how a user callback adds its own term to a formulation's).
  void add_to_objective(const LinearExpr& term);
  void set_objective_coefficient(Var v, double coef);
  ObjectiveSense sense() const { return sense_; }
  void set_sense(ObjectiveSense sense) { sense_ = sense; }
  const std::vector<double>& objective_coefficients() const { return obj_; }
  double objective_constant() const { return obj_constant_; }

  // ---- evaluation --------------------------------------------------------------------------
  // The objective value of a full assignment (one value per variable).
  double objective_value(const std::vector<double>& values) const;
  // OK when `values` (one per variable) satisfies bounds, integrality and every row within
  // `tolerance` (absolute, scaled by max(1, |bound|)); otherwise names the first violations.
  Status check_solution(const std::vector<double>& values, double tolerance = 1e-6) const;

  // Every problem at once: NaN / infinite coefficients, NaN bounds, lower > upper, lower = +inf or
  // upper = -inf, fractional bounds on integer variables, binaries with bounds outside [0, 1],
  // terms using a variable of another model (found when the row was added), NaN / infinite
  // objective. Names the variable or row (by name, else by index).
  Status validate() const;

  // A readable one-line size summary: "model: 12 variables (4 integer), 7 rows, 30 nonzeros".
  std::string summary() const;

 private:
  std::uint32_t check(Var v, const char* what) const;
  std::uint32_t check(Row r, const char* what) const;
  void append_term(Var var, double coef, std::size_t row_index);

  std::string name_;
  std::uint32_t id_;
  std::vector<double> var_lower_, var_upper_;
  std::vector<VarType> var_type_;
  std::vector<std::string> var_name_;
  std::vector<double> row_lower_, row_upper_;
  std::vector<std::string> row_name_;
  std::vector<std::size_t> row_start_{0};
  std::vector<std::uint32_t> col_index_;
  std::vector<double> coef_;
  std::vector<double> obj_;
  double obj_constant_ = 0;
  ObjectiveSense sense_ = ObjectiveSense::kMinimize;
  std::vector<std::string> build_errors_;  // foreign or invalid variables met while adding rows
  std::size_t num_build_errors_ = 0;
};

OPPLAN_END_NAMESPACE
