// TerminalProgress: see terminal_progress.hpp.
#include "terminal_progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>

namespace opplan::cli {
namespace {

std::atomic<bool> g_stop{false};

// The first Ctrl-C or SIGTERM asks the planner to stop; the handler then steps aside for that
// signal so a second one ends the program. (std::atomic<bool> is lock-free: safe in a handler.)
extern "C" void opplan_plan_on_signal(int signal) {
  g_stop.store(true);
  std::signal(signal, SIG_DFL);
}

std::string time_text(double s, bool seconds) {
  if (!std::isfinite(s)) return "-";
  if (!seconds) return fmt::format("{:g}", s);
  if (s >= 1) return fmt::format("{:.4g} s", s);
  return fmt::format("{:.4g} ms", s * 1e3);
}

}  // namespace

TerminalProgress::TerminalProgress(bool show, bool seconds) : show_(show), seconds_(seconds) {
  g_stop.store(false);
  previous_int_ = std::signal(SIGINT, opplan_plan_on_signal);
  previous_term_ = std::signal(SIGTERM, opplan_plan_on_signal);
}

TerminalProgress::~TerminalProgress() {
  std::signal(SIGINT, previous_int_ == SIG_ERR ? SIG_DFL : previous_int_);
  std::signal(SIGTERM, previous_term_ == SIG_ERR ? SIG_DFL : previous_term_);
  if (drawn_) std::fputs("\r\033[K", stderr);
}

bool TerminalProgress::stderr_is_terminal() { return isatty(STDERR_FILENO) != 0; }

bool TerminalProgress::interrupted() const { return g_stop.load(); }

PlanMonitor TerminalProgress::monitor() {
  PlanMonitor m;
  m.stop = &g_stop;
  m.interval = 0.1;
  if (show_)
    m.progress = [this](const PlanProgress& p) {
      if (p.elapsed_seconds < 1) return;  // short plans stay quiet
      const double gap = std::isfinite(p.best) && p.best > 0 && p.bound > 0 ? 100 * (p.best - p.bound) / p.best : NAN;
      std::fputs(fmt::format("\r\033[K[{:6.1f} s] {:<15} best {}  bound {}  gap {}{}", p.elapsed_seconds, p.step,
                             time_text(p.best, seconds_), p.bound > 0 ? time_text(p.bound, seconds_) : std::string("-"),
                             std::isfinite(gap) ? fmt::format("{:.1f}%", gap) : std::string("-"),
                             g_stop.load() ? "  (stopping: Ctrl-C again to quit)" : "  (Ctrl-C: stop with the best so far)")
                     .c_str(),
                 stderr);
      std::fflush(stderr);
      drawn_ = true;
    };
  return m;
}

}  // namespace opplan::cli
