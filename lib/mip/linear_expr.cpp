#include <opplan/mip_model.hpp>

OPPLAN_BEGIN_NAMESPACE

LinearExpr& LinearExpr::operator+=(const LinearExpr& other) {
  terms_.insert(terms_.end(), other.terms_.begin(), other.terms_.end());
  constant_ += other.constant_;
  return *this;
}

LinearExpr& LinearExpr::operator-=(const LinearExpr& other) {
  terms_.reserve(terms_.size() + other.terms_.size());
  for (const Term& t : other.terms_) terms_.push_back({t.var, -t.coef});
  constant_ -= other.constant_;
  return *this;
}

LinearExpr& LinearExpr::operator*=(double factor) {
  for (Term& t : terms_) t.coef *= factor;
  constant_ *= factor;
  return *this;
}

LinearExpr operator+(LinearExpr a, const LinearExpr& b) { return a += b; }
LinearExpr operator-(LinearExpr a, const LinearExpr& b) { return a -= b; }
LinearExpr operator-(LinearExpr a) { return a *= -1.0; }
LinearExpr operator*(LinearExpr a, double factor) { return a *= factor; }
LinearExpr operator*(double factor, LinearExpr a) { return a *= factor; }

BoundedExpr operator<=(LinearExpr expr, double upper) { return {std::move(expr), -kInf, upper}; }
BoundedExpr operator>=(LinearExpr expr, double lower) { return {std::move(expr), lower, kInf}; }
BoundedExpr operator==(LinearExpr expr, double value) { return {std::move(expr), value, value}; }
BoundedExpr operator<=(double lower, LinearExpr expr) { return {std::move(expr), lower, kInf}; }
BoundedExpr operator>=(double upper, LinearExpr expr) { return {std::move(expr), -kInf, upper}; }
BoundedExpr operator<=(LinearExpr a, const LinearExpr& b) { return {a -= b, -kInf, 0.0}; }
BoundedExpr operator>=(LinearExpr a, const LinearExpr& b) { return {a -= b, 0.0, kInf}; }
BoundedExpr operator==(LinearExpr a, const LinearExpr& b) { return {a -= b, 0.0, 0.0}; }

OPPLAN_END_NAMESPACE
