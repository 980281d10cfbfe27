// The event simulator and the verifier: the independent judge of every schedule opplan returns.
//
// simulate() replays per-device programs: each device runs its entries in order, each entry as
// soon as the device is free and everything it needs has arrived (a forward needs the previous
// stage's forward, a backward the next stage's input gradient or, on the last stage, its own
// forward, a W its b; outputs crossing devices arrive p2p later). The result is a timed Schedule
// with its metrics. Programs that cannot finish are reported as a deadlock naming every blocked op
// and what it waits for.
//
// verify() takes a timed schedule (from simulate(), a planner, or a file) and its spec, and checks
// everything independently of how the schedule was made; it returns every violation by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <opplan/pipeline.hpp>
#include <opplan/schedule.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <string>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

struct SimulateOptions {
  // Transfers on one directed link run one at a time, in the order of the orders' LinkOrder for
  // that link, or else in the order their producers ran. Otherwise a transfer is a pure delay.
  bool serialize_links = false;
  std::string name = "custom";  // Schedule::name of the result

  bool IsValid(std::string* error) const;
};

// Fails with kInvalidArgument (listing every problem, naming the device, position and op) when a
// program names an unknown route, micro-batch or stage, puts work on a device that does not hold
// its stage, runs a piece of work twice, or leaves one out (every micro-batch needs F on every
// stage, and either B or b and W); with kFailedPrecondition when the programs deadlock.
OPPLAN_EXPORT Result<Schedule> simulate(const PipelineSpec& spec, const PipelineOrders& orders,
                                        const SimulateOptions& options = {});

enum class ViolationKind : std::uint8_t {
  kStructure,   // a task names work the spec does not have, or runs it on the wrong device
  kMissing,     // work that never runs
  kDuplicate,   // work that runs twice
  kTime,        // a time that is not finite, or an end before a start
  kDuration,    // a task shorter than its work takes
  kPrecedence,  // work that starts before what it needs has finished (and arrived)
  kTransfer,    // a transfer too short, too early, or overlapping another on a serialized link
  kOverlap,     // two tasks at once on one device stream
  kMemory,      // a device above its memory cap
  kMetrics,     // the schedule's stored metrics disagree with its tasks
};
// "structure", "missing", "duplicate", "time", "duration", "precedence", "transfer", "overlap",
// "memory", "metrics".
OPPLAN_EXPORT const char* to_string(ViolationKind kind);

struct Violation {
  ViolationKind kind = ViolationKind::kStructure;
  int device = -1;      // -1 when not about one device
  std::string message;  // names the ops, devices and times involved
};

struct VerifyOptions {
  double tolerance = 1e-9;  // relative to max(1, |time|)
  bool check_durations = true;
  bool check_metrics = true;
  bool serialized_links = false;  // transfers on one link must not overlap
  std::size_t max_violations = 1000;

  bool IsValid(std::string* error) const;
};

struct VerifyReport {
  std::vector<Violation> violations;
  bool truncated = false;  // more than max_violations were found

  bool ok() const { return violations.empty(); }
  std::size_t count(ViolationKind kind) const;
  // "OK" or one line per violation, "<kind>: <message>".
  std::string to_string() const;
};

// Checks every task against the spec: known work on the right device, each piece of work exactly
// once, finite times, durations at least the spec's, precedence with p2p delays (through the
// schedule's transfers when it lists them), one task at a time per device stream, memory caps, and
// the stored metrics. Invalid options or spec give one kStructure violation saying so.
OPPLAN_EXPORT VerifyReport verify(const PipelineSpec& spec, const Schedule& schedule,
                                  const VerifyOptions& options = {});

OPPLAN_END_NAMESPACE
