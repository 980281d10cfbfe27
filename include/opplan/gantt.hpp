// Pictures of a Schedule: an SVG Gantt chart and a Chrome trace (Perfetto / chrome://tracing).
//
// The SVG has one row per device (and one per link that carries transfers, when asked), cells
// coloured by kind of work, the op label (micro-batch and chunk letter) inside each cell that is
// wide enough, overlapped F&B cells drawn split (forward colour on top, backward below) as in
// DualPipe's figure, a legend, a time axis and a tooltip per cell.
#pragma once

#include <opplan/schedule.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
#include <string>

OPPLAN_BEGIN_NAMESPACE

struct GanttOptions {
  std::string title;           // empty: the schedule's name and makespan
  double pixels_per_unit = 0;  // 0: fit the makespan into about `target_width` pixels
  double target_width = 1200;
  int row_height = 28;
  bool show_labels = true;
  bool show_links = true;  // rows for links that carry transfers

  bool IsValid(std::string* error) const;
};

// Invalid options are replaced by the defaults (the SVG is always well-formed).
OPPLAN_EXPORT std::string schedule_to_svg(const Schedule& schedule, const GanttOptions& options = {});
OPPLAN_EXPORT Status write_schedule_svg(const Schedule& schedule, const std::string& path,
                                        const GanttOptions& options = {});

struct TraceOptions {
  double microseconds_per_unit = 1000;  // the trace's time unit is 1 µs; 1 schedule unit = 1 ms
  bool IsValid(std::string* error) const;
};

// {"traceEvents": [...]}: one complete ("X") event per task and transfer, a thread per device and
// per link, names and args (phase, micro-batch, stage, route) for Perfetto's tooltips.
OPPLAN_EXPORT std::string schedule_to_chrome_trace(const Schedule& schedule, const TraceOptions& options = {});
OPPLAN_EXPORT Status write_schedule_chrome_trace(const Schedule& schedule, const std::string& path,
                                                 const TraceOptions& options = {});

OPPLAN_END_NAMESPACE
