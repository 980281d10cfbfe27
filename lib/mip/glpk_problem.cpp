#include "mip/glpk_problem.hpp"

#include <cctype>
#include <climits>
#include <cmath>
#include <string>
#include <string_view>
#include <unordered_set>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

// GLPK aborts on names longer than 255 characters or with control characters: such names are
// left out (GLPK and the file writers then use generated names).
bool glpk_name_ok(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (unsigned char c : name)
    if (!std::isprint(c)) return false;
  return true;
}

}  // namespace

int glpk_bound_type(double lower, double upper) {
  const bool has_lo = std::isfinite(lower), has_up = std::isfinite(upper);
  if (has_lo && has_up) return lower == upper ? GLP_FX : GLP_DB;
  if (has_lo) return GLP_LO;
  if (has_up) return GLP_UP;
  return GLP_FR;
}

GlpkProblem::GlpkProblem(GlpkSession& session) : session_(session) {
  glp_prob* p = nullptr;
  if (session_.guarded([&] { p = glp_create_prob(); })) prob_ = p;
}

GlpkProblem::~GlpkProblem() {
  if (prob_ && !session_.env_lost()) glp_delete_prob(prob_);
}

bool GlpkProblem::load(const MipModel& model, bool relax) {
  if (!prob_) return false;
  const int n = static_cast<int>(model.num_variables());
  const int m = static_cast<int>(model.num_rows());
  if (model.num_variables() > INT_MAX / 2 || model.num_rows() > INT_MAX / 2 || model.num_nonzeros() > INT_MAX / 2)
    return false;

  // Merge duplicate columns of each row into 1-based triplets, outside the guarded region.
  std::vector<int> ia(1), ja(1);
  std::vector<double> ar(1);
  ia.reserve(model.num_nonzeros() + 1);
  ja.reserve(model.num_nonzeros() + 1);
  ar.reserve(model.num_nonzeros() + 1);
  std::vector<std::size_t> slot(model.num_variables(), 0);  // position in ar + 1 for the current row
  const auto& starts = model.row_starts();
  const auto& cols = model.column_indices();
  const auto& coefs = model.coefficients();
  for (int i = 0; i < m; ++i) {
    const std::size_t row_begin = ar.size();
    for (std::size_t k = starts[i]; k < starts[i + 1]; ++k) {
      const std::uint32_t j = cols[k];
      if (slot[j] > row_begin) {
        ar[slot[j] - 1] += coefs[k];
      } else {
        ia.push_back(i + 1);
        ja.push_back(static_cast<int>(j) + 1);
        ar.push_back(coefs[k]);
        slot[j] = ar.size();
      }
    }
  }
  // Drop terms that are (or summed to) zero.
  std::size_t w = 1;
  for (std::size_t r = 1; r < ar.size(); ++r) {
    if (ar[r] == 0.0) continue;
    ia[w] = ia[r];
    ja[w] = ja[r];
    ar[w] = ar[r];
    ++w;
  }
  ia.resize(w);
  ja.resize(w);
  ar.resize(w);

  // A repeated name is kept only where it first occurs: files name columns and rows, and a file with
  // two columns (or rows) of one name is read back as something else or not at all.
  std::vector<const char*> var_names(model.num_variables(), nullptr), row_names(model.num_rows(), nullptr);
  std::unordered_set<std::string_view> seen;
  for (int j = 0; j < n; ++j)
    if (const auto& s = model.name(model.variable(j)); glpk_name_ok(s) && seen.insert(s).second) var_names[j] = s.c_str();
  seen.clear();
  for (int i = 0; i < m; ++i)
    if (const auto& s = model.name(model.row(i)); glpk_name_ok(s) && seen.insert(s).second) row_names[i] = s.c_str();

  glp_prob* P = prob_;
  const std::string& pname = model.name();
  const bool name_ok = glpk_name_ok(pname);
  return session_.guarded([&] {
    if (name_ok) glp_set_prob_name(P, pname.c_str());
    glp_set_obj_dir(P, model.sense() == ObjectiveSense::kMinimize ? GLP_MIN : GLP_MAX);
    glp_set_obj_coef(P, 0, model.objective_constant());
    if (n > 0) glp_add_cols(P, n);
    if (m > 0) glp_add_rows(P, m);
    const auto& lo = model.var_lowers();
    const auto& up = model.var_uppers();
    const auto& types = model.var_types();
    const auto& obj = model.objective_coefficients();
    for (int j = 0; j < n; ++j) {
      const int type = glpk_bound_type(lo[j], up[j]);
      glp_set_col_bnds(P, j + 1, type, std::isfinite(lo[j]) ? lo[j] : 0.0, std::isfinite(up[j]) ? up[j] : 0.0);
      if (!relax && types[j] != VarType::kContinuous) glp_set_col_kind(P, j + 1, GLP_IV);
      glp_set_obj_coef(P, j + 1, obj[j]);
      if (var_names[j]) glp_set_col_name(P, j + 1, var_names[j]);
    }
    const auto& rlo = model.row_lowers();
    const auto& rup = model.row_uppers();
    for (int i = 0; i < m; ++i) {
      const int type = glpk_bound_type(rlo[i], rup[i]);
      glp_set_row_bnds(P, i + 1, type, std::isfinite(rlo[i]) ? rlo[i] : 0.0, std::isfinite(rup[i]) ? rup[i] : 0.0);
      if (row_names[i]) glp_set_row_name(P, i + 1, row_names[i]);
    }
    if (ar.size() > 1) glp_load_matrix(P, static_cast<int>(ar.size() - 1), ia.data(), ja.data(), ar.data());
  });
}

MipModel GlpkProblem::to_model(const std::string& name) const {
  glp_prob* P = prob_;
  const char* pname = glp_get_prob_name(P);
  MipModel model(pname && *pname ? std::string(pname) : name);
  const int n = glp_get_num_cols(P);
  const int m = glp_get_num_rows(P);
  model.reserve(static_cast<std::size_t>(n), static_cast<std::size_t>(m), static_cast<std::size_t>(glp_get_num_nz(P)));
  auto bounds = [](int type, double lb, double ub) -> std::pair<double, double> {
    switch (type) {
      case GLP_FR: return {-kInf, kInf};
      case GLP_LO: return {lb, kInf};
      case GLP_UP: return {-kInf, ub};
      default: return {lb, ub};
    }
  };
  std::vector<Var> vars;
  vars.reserve(static_cast<std::size_t>(n));
  for (int j = 1; j <= n; ++j) {
    auto [lo, up] = bounds(glp_get_col_type(P, j), glp_get_col_lb(P, j), glp_get_col_ub(P, j));
    VarType type = VarType::kContinuous;
    if (glp_get_col_kind(P, j) == GLP_BV) type = VarType::kBinary;
    else if (glp_get_col_kind(P, j) == GLP_IV) type = VarType::kInteger;
    const char* cname = glp_get_col_name(P, j);
    vars.push_back(model.add_variable(lo, up, type, cname ? cname : ""));
    model.set_objective_coefficient(vars.back(), glp_get_obj_coef(P, j));
  }
  LinearExpr constant(glp_get_obj_coef(P, 0));
  model.add_to_objective(constant);
  model.set_sense(glp_get_obj_dir(P) == GLP_MAX ? ObjectiveSense::kMaximize : ObjectiveSense::kMinimize);
  std::vector<int> ind(static_cast<std::size_t>(n) + 1);
  std::vector<double> val(static_cast<std::size_t>(n) + 1);
  std::vector<Var> row_vars;
  std::vector<double> row_coefs;
  for (int i = 1; i <= m; ++i) {
    const int len = glp_get_mat_row(P, i, ind.data(), val.data());
    row_vars.clear();
    row_coefs.clear();
    for (int k = 1; k <= len; ++k) {
      row_vars.push_back(vars[static_cast<std::size_t>(ind[k] - 1)]);
      row_coefs.push_back(val[k]);
    }
    auto [lo, up] = bounds(glp_get_row_type(P, i), glp_get_row_lb(P, i), glp_get_row_ub(P, i));
    const char* rname = glp_get_row_name(P, i);
    model.add_row(lo, up, row_vars.data(), row_coefs.data(), row_vars.size(), rname ? rname : "");
  }
  return model;
}

void glpk_add_row(glp_prob* prob, double lower, double upper, const std::vector<int>& columns,
                  const std::vector<double>& values) {
  const int i = glp_add_rows(prob, 1);
  glp_set_row_bnds(prob, i, glpk_bound_type(lower, upper), std::isfinite(lower) ? lower : 0.0,
                   std::isfinite(upper) ? upper : 0.0);
  glp_set_mat_row(prob, i, static_cast<int>(columns.size()) - 1, columns.data(), values.data());
}

}  // namespace detail
OPPLAN_END_NAMESPACE
