// SVG Gantt charts and Chrome traces of a Schedule.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <opplan/gantt.hpp>

#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

// Colour per kind of work; chunks after the first get a lighter shade of the same hue (DualPipe's
// figure tells its two directions apart the same way).
struct Shade {
  const char* dark;
  const char* light;
};
constexpr Shade kColours[kNumWorks] = {
    {"#3b6fb6", "#8fb4e3"},  // F
    {"#3d9a57", "#93d3a2"},  // b
    {"#e08a1e", "#f5c27f"},  // W
    {"#8e5aa8", "#c9a6dc"},  // B
};

const char* colour(const Schedule& s, const WorkItem& w) {
  const Shade& shade = kColours[static_cast<int>(w.work) % kNumWorks];
  const long long key = static_cast<long long>(w.route) * s.num_stages + w.stage;
  int chunk = 0;
  if (key >= 0 && key < static_cast<long long>(s.chunk_of.size()) && w.stage < s.num_stages)
    chunk = std::max(0, s.chunk_of[static_cast<std::size_t>(key)]);
  return chunk % 2 == 0 ? shade.dark : shade.light;
}

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The micro-batch and chunk letters of a label ("F3a" -> "3a").
std::string cell_text(const Schedule& s, const WorkItem& w) { return s.label(w).substr(1); }

double nice_step(double span, double pixels_per_unit) {
  const double min_units = 60 / std::max(pixels_per_unit, 1e-12);
  double step = std::pow(10.0, std::floor(std::log10(std::max(min_units, 1e-12))));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (step * m >= min_units) return step * m;
  (void)span;
  return step * 10;
}

std::string number(double v) { return fmt::format("{:.2f}", v); }

}  // namespace

bool GanttOptions::IsValid(std::string* error) const {
  const auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  if (!std::isfinite(pixels_per_unit) || pixels_per_unit < 0) return fail("pixels_per_unit must be finite and >= 0");
  if (!std::isfinite(target_width) || target_width < 100) return fail("target_width must be at least 100");
  if (row_height < 8 || row_height > 400) return fail("row_height must be between 8 and 400");
  return true;
}

bool TraceOptions::IsValid(std::string* error) const {
  if (!std::isfinite(microseconds_per_unit) || microseconds_per_unit <= 0) {
    if (error) *error = "microseconds_per_unit must be positive";
    return false;
  }
  return true;
}

std::string schedule_to_svg(const Schedule& schedule, const GanttOptions& given) {
  GanttOptions options = given;
  if (!options.IsValid(nullptr)) options = GanttOptions{};
  const ScheduleMetrics& m = schedule.metrics;
  double t0 = std::numeric_limits<double>::infinity(), t1 = 0;
  for (const auto& tasks : schedule.device_tasks)
    for (const Task& t : tasks) {
      t0 = std::min(t0, t.start);
      t1 = std::max(t1, t.end);
    }
  for (const Transfer& t : schedule.transfers) t1 = std::max(t1, t.end);
  if (!std::isfinite(t0)) t0 = 0;
  const double span = std::max(t1 - t0, 1e-9);
  const double scale =
      options.pixels_per_unit > 0 ? options.pixels_per_unit : std::max(options.target_width / span, 1e-6);

  // Rows: devices, then links with transfers.
  std::map<std::pair<int, int>, int> link_row;
  if (options.show_links)
    for (const Transfer& t : schedule.transfers) link_row.emplace(std::make_pair(t.src_device, t.dst_device), 0);
  const int devices = static_cast<int>(schedule.device_tasks.size());
  int next_row = devices;
  for (auto& [link, row] : link_row) row = next_row++;
  const double left = 90, top = 58, row_h = options.row_height, gap = 4;
  const double width = left + span * scale + 30;
  const double height = top + next_row * (row_h + gap) + 40;
  const auto x_of = [&](double t) { return left + (t - t0) * scale; };
  const auto y_of = [&](int row) { return top + row * (row_h + gap); };

  std::string out;
  out.reserve(256 + schedule.num_tasks() * 200);
  out += fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="Helvetica, Arial, sans-serif">)",
      number(width), number(height), number(width), number(height));
  out += '\n';
  out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="white"/>)", number(width), number(height));
  out += '\n';
  const std::string title = options.title.empty()
                                ? fmt::format("{}: makespan {:g}, max bubble {:g}, utilisation {:.1f}%",
                                              schedule.name.empty() ? "schedule" : schedule.name, m.makespan,
                                              m.max_bubble, 100 * m.utilisation)
                                : options.title;
  out += fmt::format(R"(<text x="10" y="20" font-size="15" font-weight="bold">{}</text>)", escape_xml(title));
  out += '\n';
  // Legend.
  {
    double x = 10;
    const std::pair<const char*, int> items[] = {
        {"F forward", 0}, {"b input-grad", 1}, {"W weight-grad", 2}, {"B backward", 3}};
    for (const auto& [text, k] : items) {
      out += fmt::format(
          R"(<rect x="{}" y="30" width="14" height="14" fill="{}"/><text x="{}" y="41" font-size="11">{}</text>)",
          number(x), kColours[k].dark, number(x + 18), text);
      out += '\n';
      x += 110;
    }
    out += fmt::format(
        R"(<rect x="{}" y="30" width="14" height="7" fill="{}"/><rect x="{}" y="37" width="14" height="7" fill="{}"/>)",
        number(x), kColours[0].dark, number(x), kColours[3].dark);
    out += fmt::format(R"(<text x="{}" y="41" font-size="11">F&amp;B overlapped (lighter: second chunk)</text>)",
                       number(x + 18));
    out += '\n';
  }
  // Row labels and backgrounds.
  for (int d = 0; d < devices; ++d) {
    out += fmt::format(R"(<text x="8" y="{}" font-size="12">device {}</text>)", number(y_of(d) + row_h / 2 + 4), d);
    out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#f2f2f2"/>)", number(left), number(y_of(d)),
                       number(span * scale), number(row_h));
    out += '\n';
  }
  for (const auto& [link, row] : link_row) {
    out += fmt::format(R"(<text x="8" y="{}" font-size="11">link {}&#8594;{}</text>)",
                       number(y_of(row) + row_h / 2 + 4), link.first, link.second);
    out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#f7f7f7"/>)", number(left),
                       number(y_of(row)), number(span * scale), number(row_h));
    out += '\n';
  }
  // Cells.
  const double font = std::min(11.0, row_h * 0.42);
  const auto fits = [&](double w, const std::string& text) {
    return options.show_labels && w >= text.size() * font * 0.62 + 2;
  };
  for (int d = 0; d < devices; ++d) {
    const double y = y_of(d);
    for (const Task& t : schedule.device_tasks[static_cast<std::size_t>(d)]) {
      const double x = x_of(t.start), w = std::max((t.end - t.start) * scale, 0.5);
      const std::string tip = fmt::format("{} on device {}: {:g} .. {:g}", schedule.label(t), d, t.start, t.end);
      out.append("<g><title>").append(escape_xml(tip)).append("</title>");
      if (t.overlapped) {
        out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>)", number(x), number(y), number(w),
                           number(row_h / 2), colour(schedule, t.item));
        out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>)", number(x),
                           number(y + row_h / 2), number(w), number(row_h / 2), colour(schedule, *t.overlapped));
        out +=
            fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#222" stroke-width="1.2"/>)",
                        number(x), number(y), number(w), number(row_h));
        const std::string a = cell_text(schedule, t.item), b = cell_text(schedule, *t.overlapped);
        if (fits(w, a) && fits(w, b)) {
          out += fmt::format(R"(<text x="{}" y="{}" font-size="{}" text-anchor="middle" fill="white">{}</text>)",
                             number(x + w / 2), number(y + row_h / 4 + font * 0.35), number(font * 0.9), escape_xml(a));
          out += fmt::format(R"(<text x="{}" y="{}" font-size="{}" text-anchor="middle" fill="white">{}</text>)",
                             number(x + w / 2), number(y + 3 * row_h / 4 + font * 0.35), number(font * 0.9),
                             escape_xml(b));
        }
      } else {
        out +=
            fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="white" stroke-width="0.5"/>)",
                        number(x), number(y), number(w), number(row_h), colour(schedule, t.item));
        const std::string a = cell_text(schedule, t.item);
        if (fits(w, a))
          out += fmt::format(R"(<text x="{}" y="{}" font-size="{}" text-anchor="middle" fill="white">{}</text>)",
                             number(x + w / 2), number(y + row_h / 2 + font * 0.35), number(font), escape_xml(a));
      }
      out += "</g>\n";
    }
  }
  for (const Transfer& t : schedule.transfers) {
    const auto it = link_row.find({t.src_device, t.dst_device});
    if (it == link_row.end()) continue;
    const double x = x_of(t.start), w = std::max((t.end - t.start) * scale, 0.5), y = y_of(it->second);
    const std::string tip = fmt::format("output of {} from device {} to {}: {:g} .. {:g}", schedule.label(t.item),
                                        t.src_device, t.dst_device, t.start, t.end);
    out += fmt::format(
        R"(<g><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="{}" opacity="0.6"/></g>)",
        escape_xml(tip), number(x), number(y + row_h / 4), number(w), number(row_h / 2), colour(schedule, t.item));
    out += '\n';
  }
  // Time axis.
  const double axis_y = y_of(next_row) + 4;
  out += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#444"/>)", number(left), number(axis_y),
                     number(x_of(t0 + span)), number(axis_y));
  out += '\n';
  const double step = nice_step(span, scale);
  for (double t = 0; t <= span + 1e-9; t += step) {
    out += fmt::format(
        R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#444"/><text x="{0}" y="{3}" font-size="10" text-anchor="middle">{4:g}</text>)",
        number(x_of(t0 + t)), number(axis_y), number(axis_y + 5), number(axis_y + 17), t0 + t);
    out += '\n';
  }
  out += "</svg>\n";
  return out;
}

Status write_schedule_svg(const Schedule& schedule, const std::string& path, const GanttOptions& options) {
  return detail::write_text_file(path, schedule_to_svg(schedule, options));
}

std::string schedule_to_chrome_trace(const Schedule& schedule, const TraceOptions& given) {
  TraceOptions options = given;
  if (!options.IsValid(nullptr)) options = TraceOptions{};
  using detail::JsonWriter;
  using Layout = JsonWriter::Layout;
  const double us = options.microseconds_per_unit;
  std::map<std::pair<int, int>, int> link_tid;
  for (const Transfer& t : schedule.transfers) link_tid.emplace(std::make_pair(t.src_device, t.dst_device), 0);
  int next = 0;
  for (auto& [link, tid] : link_tid) tid = next++;

  JsonWriter w(-1);
  w.begin_object();
  w.field("displayTimeUnit", "ms");
  w.key("traceEvents").begin_array();
  const auto meta = [&](const char* what, int pid, int tid, const std::string& name) {
    w.begin_object(Layout::kOneLine);
    w.field("name", what).field("ph", "M").field("pid", pid).field("tid", tid);
    w.key("args").begin_object(Layout::kOneLine).field("name", name).end_object();
    w.end_object();
  };
  meta("process_name", 0, 0, schedule.name.empty() ? "devices" : fmt::format("devices ({})", schedule.name));
  for (std::size_t d = 0; d < schedule.device_tasks.size(); ++d)
    meta("thread_name", 0, static_cast<int>(d), fmt::format("device {}", d));
  if (!link_tid.empty()) meta("process_name", 1, 0, "links");
  for (const auto& [link, tid] : link_tid)
    meta("thread_name", 1, tid, fmt::format("link {}->{}", link.first, link.second));
  const auto item_args = [&](const WorkItem& item) {
    w.field("work", to_string(item.work)).field("micro_batch", item.micro_batch).field("stage", item.stage);
    w.field("route", item.route);
  };
  for (std::size_t d = 0; d < schedule.device_tasks.size(); ++d)
    for (const Task& t : schedule.device_tasks[d]) {
      w.begin_object(Layout::kOneLine);
      w.field("name", schedule.label(t)).field("cat", t.overlapped ? "overlapped" : to_string(t.item.work));
      w.field("ph", "X").field("pid", 0).field("tid", static_cast<int>(d));
      w.field("ts", t.start * us).field("dur", (t.end - t.start) * us);
      w.key("args").begin_object(Layout::kOneLine);
      item_args(t.item);
      if (t.overlapped) w.field("overlapped", schedule.label(*t.overlapped));
      if (t.stream != 0) w.field("stream", t.stream);
      w.end_object();
      w.end_object();
    }
  for (const Transfer& t : schedule.transfers) {
    w.begin_object(Layout::kOneLine);
    w.field("name", fmt::format("send {}", schedule.label(t.item))).field("cat", "transfer");
    w.field("ph", "X").field("pid", 1).field("tid", link_tid[{t.src_device, t.dst_device}]);
    w.field("ts", t.start * us).field("dur", (t.end - t.start) * us);
    w.key("args").begin_object(Layout::kOneLine);
    item_args(t.item);
    w.field("src", t.src_device).field("dst", t.dst_device);
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.finish();
}

Status write_schedule_chrome_trace(const Schedule& schedule, const std::string& path, const TraceOptions& options) {
  return detail::write_text_file(path, schedule_to_chrome_trace(schedule, options));
}

OPPLAN_END_NAMESPACE
