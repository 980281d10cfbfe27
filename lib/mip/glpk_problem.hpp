// Private: converting between MipModel and GLPK's glp_prob.
#pragma once

#include <vector>

#include <glpk.h>

#include <opplan/mip_model.hpp>

#include "mip/glpk_env.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Owns a glp_prob unless the session lost its environment (then GLPK already freed it).
class GlpkProblem {
 public:
  explicit GlpkProblem(GlpkSession& session);
  ~GlpkProblem();
  GlpkProblem(const GlpkProblem&) = delete;
  GlpkProblem& operator=(const GlpkProblem&) = delete;

  glp_prob* get() const { return prob_; }

  // Loads a validated model. Duplicate terms of a row are summed and zero terms dropped (GLPK
  // rejects duplicates). `relax` drops integrality. False when GLPK failed (see session log).
  bool load(const MipModel& model, bool relax = false);

  // Reads GLPK's problem back into a MipModel (after glp_read_mps / glp_read_lp).
  MipModel to_model(const std::string& name) const;

 private:
  GlpkSession& session_;
  glp_prob* prob_ = nullptr;
};

// GLPK's bound type for [lower, upper] (either may be infinite).
int glpk_bound_type(double lower, double upper);

// Appends one row (lower <= terms <= upper) to a problem; used for lazy rows. `columns` and
// `values` are 1-based (entry 0 unused) with no duplicate columns.
void glpk_add_row(glp_prob* prob, double lower, double upper, const std::vector<int>& columns,
                  const std::vector<double>& values);

}  // namespace detail
OPPLAN_END_NAMESPACE
