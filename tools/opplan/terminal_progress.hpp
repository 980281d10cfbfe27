// Long plans on a terminal: a progress line on stderr (step, elapsed, best, bound, gap) once a plan
// has run for a second, and Ctrl-C (SIGINT) or SIGTERM (what job schedulers send) as a stop request:
// the planner returns its best plan so far, which the command prints; a second signal of the same
// kind ends the program as usual. Private to tools/opplan.
#pragma once

#include <opplan/progress.hpp>

namespace opplan::cli {

class TerminalProgress {
 public:
  // `show` = draw the progress line (the caller passes false for --json or when stderr is not a
  // terminal); Ctrl-C is caught either way while the object lives.
  // `seconds`: the plan's times are seconds (graph mode); else the spec's own units.
  explicit TerminalProgress(bool show, bool seconds = true);
  ~TerminalProgress();  // clears the line and restores the previous SIGINT and SIGTERM handlers
  TerminalProgress(const TerminalProgress&) = delete;
  TerminalProgress& operator=(const TerminalProgress&) = delete;

  // The monitor to put into the planner's options; valid while this object lives.
  PlanMonitor monitor();
  bool interrupted() const;

  // Whether stderr is a terminal.
  static bool stderr_is_terminal();

 private:
  bool show_;
  bool seconds_;
  bool drawn_ = false;
  void (*previous_int_)(int) = nullptr;
  void (*previous_term_)(int) = nullptr;
};

}  // namespace opplan::cli
