// Progress reports and stop requests shared by the long-running planners (plan_pipeline(),
// plan_operators(), plan()).
//
// Ownership and threads: the callback is copied into the options and called on the thread that
// runs the planner, synchronously (keep it short; the planner waits); it may be called often, at
// most once per `PlanMonitor::interval` seconds except for improvements, which are always
// reported. An exception it throws ends the planning with that exception rethrown to the caller
// after the planner has cleaned up. The stop flag is owned by the caller, must outlive the call,
// and may be set from any thread or from a signal handler (std::atomic<bool> is lock-free on every
// platform opplan supports); the planner then stops at its next check -- within one list schedule
// or MIP node -- and returns the best verified plan so far with termination "stopped".
#pragma once

#include <atomic>
#include <functional>
#include <limits>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

struct PlanProgress {
  const char* step = "";       // what runs now: "warm starts", "placement", "list schedules", "mip", ...
  double elapsed_seconds = 0;  // since the planner started
  double best = std::numeric_limits<double>::infinity();  // best makespan so far (+inf: none yet)
  double bound = 0;            // best lower bound so far (0: none yet)
  bool improved = false;       // this report is about a better plan
};

struct PlanMonitor {
  std::function<void(const PlanProgress&)> progress;  // empty = no reports
  double interval = 0.2;                              // seconds between routine reports, >= 0
  const std::atomic<bool>* stop = nullptr;            // nullptr = never asked to stop

  bool stop_requested() const { return stop != nullptr && stop->load(std::memory_order_relaxed); }
};

OPPLAN_END_NAMESPACE
