#include "mip/glpk_env.hpp"

#include <cstring>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

std::mutex& global_glpk_mutex() {
  static std::mutex m;
  return m;
}

// Frees this thread's GLPK environment when the thread ends.
struct ThreadEnvironment {
  ~ThreadEnvironment() {
    if (glpk_has_tls()) {
      glp_free_env();
    } else {
      std::lock_guard lock(global_glpk_mutex());
      glp_free_env();
    }
  }
};

void register_thread_cleanup() {
  thread_local ThreadEnvironment env;
  (void)env;
}

thread_local GlpkSession* t_innermost_session = nullptr;

}  // namespace

bool glpk_has_tls() {
  static const bool has = glp_config("TLS") != nullptr;
  return has;
}

GlpkSession::GlpkSession() : outer_(t_innermost_session) {
  if (!glpk_has_tls() && !outer_) lock_.emplace(global_glpk_mutex());  // a nested session's thread holds it
  register_thread_cleanup();
  t_innermost_session = this;
  glp_term_hook(&GlpkSession::on_output, this);
}

GlpkSession::~GlpkSession() {
  t_innermost_session = outer_;
  if (env_lost_) return;
  if (outer_) {
    glp_term_hook(&GlpkSession::on_output, outer_);
    if (outer_->guarding_) glp_error_hook(&GlpkSession::on_error, outer_);
    else glp_error_hook(nullptr, nullptr);
  } else {
    glp_term_hook(nullptr, nullptr);
    glp_error_hook(nullptr, nullptr);
  }
}

int GlpkSession::on_output(void* info, const char* text) {
  static_cast<GlpkSession*>(info)->log_ += text;
  return 1;  // handled: GLPK prints nothing itself
}

void GlpkSession::on_error(void* info) {
  auto* self = static_cast<GlpkSession*>(info);
  std::longjmp(self->jump_, 1);
}

void GlpkSession::recover() {
  // GLPK's state is undefined after an error: drop the whole environment of this thread.
  env_lost_ = true;
  glp_free_env();
}

std::string GlpkSession::log_tail(std::size_t max_lines) const {
  std::size_t pos = log_.size();
  if (pos > 0 && log_[pos - 1] == '\n') --pos;
  for (std::size_t lines = 0; pos > 0; --pos) {
    if (log_[pos - 1] == '\n' && ++lines == max_lines) break;
  }
  std::string tail = log_.substr(pos);
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
