// Private: safe use of GLPK from C++.
//
// - GLPK reports misuse and internal failures by calling its error hook and then aborting the
//   process. GlpkSession installs a hook that longjmps back to glpk_guarded(); the thread's GLPK
//   environment is then freed (every glp_prob of the thread is gone) and the caller gets false.
//   Arguments are validated before every call, so this is the last line of defence only.
// - Everything GLPK prints goes to the session's captured log (glp_term_hook), never to stdout.
// - With a thread-local GLPK (Debian builds it so), separate threads use separate environments and
//   each thread frees its own environment when it ends. Without TLS, all GLPK use is serialised.
#pragma once

#include <csetjmp>
#include <mutex>
#include <optional>
#include <string>

#include <glpk.h>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

bool glpk_has_tls();

// Held for the duration of one use of GLPK: the lock (when GLPK has no TLS), the log capture and
// the error hook. Not copyable. Sessions of one thread nest (a solve run by a solver callback): the
// inner one hands the hooks back to the outer one when it ends.
class GlpkSession {
 public:
  GlpkSession();
  ~GlpkSession();
  GlpkSession(const GlpkSession&) = delete;
  GlpkSession& operator=(const GlpkSession&) = delete;

  const std::string& log() const { return log_; }
  // The last few lines of the log, for error messages.
  std::string log_tail(std::size_t max_lines = 8) const;
  // True once a fatal GLPK error was trapped: every glp_prob of this thread is invalid.
  bool env_lost() const { return env_lost_; }

  // Runs f(); returns false when GLPK raised a fatal error inside it. f must keep no objects with
  // non-trivial destructors alive across GLPK calls (a longjmp skips them).
  template <typename F>
  bool guarded(F&& f) {
    if (env_lost_) return false;
    glp_error_hook(&GlpkSession::on_error, this);
    guarding_ = true;
    if (setjmp(jump_) == 0) {
      f();
      guarding_ = false;
      glp_error_hook(nullptr, nullptr);
      return true;
    }
    guarding_ = false;
    recover();
    return false;
  }

 private:
  static int on_output(void* info, const char* text);
  static void on_error(void* info);
  void recover();

  std::optional<std::unique_lock<std::mutex>> lock_;
  std::string log_;
  std::jmp_buf jump_;
  bool env_lost_ = false;
  bool guarding_ = false;         // inside guarded(): the error hook is this session's
  GlpkSession* outer_ = nullptr;  // the session this one is nested in, on this thread
};

}  // namespace detail
OPPLAN_END_NAMESPACE
