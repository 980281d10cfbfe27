// `opplan schedule`: generate a pipeline schedule (GPipe, 1F1B, interleaved, ZB-H1/H2, the
// Zero-Bubble heuristic, DualPipe, DualPipeV, greedy), replay it in the simulator, verify it, and
// show it (text, --json, --svg, --trace); or compare every kind on one spec (--compare).
// The spec comes from a JSON file (docs/pipeline-schedules.md) or from flags.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opplan/gantt.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/simulator.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace opplan::cli {
namespace {

using Json = nlohmann::ordered_json;

struct ScheduleArgs {
  std::string spec_file;
  std::string kind;
  PipelineSpecFlags spec;  // or spec_file
  int max_in_flight = 0;
  std::string orders_file;
  std::string svg_file;
  std::string trace_file;
  bool serialize_links = false;
  bool compare = false;
  bool show_ops = false;
  bool json = false;
};

std::string kind_names() {
  std::string out;
  for (ScheduleKind k : kAllScheduleKinds) out += fmt::format("{}{}", out.empty() ? "" : ", ", to_string(k));
  return out;
}

// The spec a kind runs on (the greedy scheduler takes a file's spec on any placement).
Result<PipelineSpec> spec_for(const ScheduleArgs& args, const std::optional<PipelineSpec>& file, ScheduleKind kind) {
  if (file && kind == ScheduleKind::kGreedy) return *file;
  return pipeline_spec_for(args.spec, file, required_placement(kind), to_string(kind));
}

Result<std::vector<std::string>> read_programs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(StatusCode::kIoError, fmt::format("{}: cannot open the file", path));
  std::vector<std::string> programs;
  std::string line;
  while (std::getline(in, line)) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    programs.push_back(line);
  }
  return programs;
}

Json schedule_json(const PipelineSpec& spec, const Schedule& s, const VerifyReport& report, bool with_ops) {
  Json j = Json::object();
  j["kind"] = s.name;
  j["devices"] = spec.num_devices;
  j["stages"] = spec.num_stages();
  j["routes"] = spec.num_routes();
  j["micro_batches"] = spec.num_micro_batches;
  j["placement"] = to_string(spec.placement);
  j["makespan"] = s.metrics.makespan;
  j["max_span"] = s.metrics.max_span;
  j["max_bubble"] = s.metrics.max_bubble;
  j["utilisation"] = s.metrics.utilisation;
  Json bubble = Json::array(), busy = Json::array(), span = Json::array(), peak = Json::array(), mem = Json::array();
  for (const DeviceMetrics& d : s.metrics.devices) {
    bubble.push_back(d.bubble);
    busy.push_back(d.busy);
    span.push_back(d.span);
    peak.push_back(d.peak_activations);
    mem.push_back(d.peak_memory);
  }
  j["bubble"] = std::move(bubble);
  j["busy"] = std::move(busy);
  j["span"] = std::move(span);
  j["peak_activations"] = std::move(peak);
  j["peak_memory"] = std::move(mem);
  j["verified"] = report.ok();
  Json violations = Json::array();
  for (const Violation& v : report.violations)
    violations.push_back(fmt::format("{}: {}", to_string(v.kind), v.message));
  j["violations"] = std::move(violations);
  if (with_ops) j["ops"] = s.op_strings();
  return j;
}

void print_schedule(const PipelineSpec& spec, const Schedule& s, bool show_ops) {
  const ScheduleMetrics& m = s.metrics;
  std::cout << fmt::format("{}: {} on {} ({} x {}), {}\n", s.name,
                           plural(static_cast<std::size_t>(spec.num_stages()), "stage"),
                           plural(static_cast<std::size_t>(spec.num_devices), "device"), to_string(spec.placement),
                           plural(static_cast<std::size_t>(spec.num_routes()), "route"),
                           plural(static_cast<std::size_t>(spec.num_micro_batches), "micro-batch", "micro-batches"));
  std::cout << fmt::format("makespan {:g}, longest device span {:g}, max bubble {:g} ({:.1f}%), utilisation {:.1f}%\n",
                           m.makespan, m.max_span, m.max_bubble, m.makespan > 0 ? 100 * m.max_bubble / m.makespan : 0.0,
                           100 * m.utilisation);
  std::cout << fmt::format("{:>6}  {:>10}  {:>10}  {:>10}  {:>16}  {:>11}\n", "device", "busy", "bubble", "span",
                           "peak activations", "peak memory");
  for (std::size_t d = 0; d < m.devices.size(); ++d) {
    const DeviceMetrics& dm = m.devices[d];
    std::cout << fmt::format("{:>6}  {:>10g}  {:>10g}  {:>10g}  {:>16}  {:>11g}\n", d, dm.busy, dm.bubble, dm.span,
                             dm.peak_activations, dm.peak_memory);
  }
  if (show_ops) {
    const auto ops = s.op_strings();
    for (std::size_t d = 0; d < ops.size(); ++d) {
      std::string line;
      for (const auto& op : ops[d]) line += (line.empty() ? "" : " ") + op;
      std::cout << fmt::format("ops {}: {}\n", d, line);
    }
  }
}

int run_compare(const ScheduleArgs& args, const std::optional<PipelineSpec>& file) {
  Json rows = Json::array();
  std::string text = fmt::format("{:<12} {:>7} {:>6} {:>10} {:>10} {:>10} {:>9} {:>9}  {}\n", "kind", "devices",
                                 "stages", "makespan", "max span", "max bubble", "peak act", "peak mem", "status");
  ScheduleOptions options;
  options.max_in_flight = args.max_in_flight;
  options.serialize_links = args.serialize_links;
  int ok = 0;
  for (ScheduleKind kind : kAllScheduleKinds) {
    Json row = Json::object();
    row["kind"] = to_string(kind);
    auto spec = spec_for(args, file, kind);
    Result<Schedule> schedule = spec.ok() ? build_schedule(*spec, kind, options) : Result<Schedule>(spec.status());
    if (!schedule.ok()) {
      row["error"] = schedule.status().message();
      std::string first_line = schedule.status().message().substr(0, schedule.status().message().find('\n'));
      text += fmt::format("{:<12} {:>7} {:>6} {:>10} {:>10} {:>10} {:>9} {:>9}  {}\n", to_string(kind), "-", "-", "-",
                          "-", "-", "-", "-", first_line);
      rows.push_back(std::move(row));
      continue;
    }
    ++ok;
    VerifyOptions vo;
    vo.serialized_links = args.serialize_links;
    const VerifyReport report = verify(*spec, *schedule, vo);
    const ScheduleMetrics& m = schedule->metrics;
    int peak_act = 0;
    double peak_mem = 0;
    for (const DeviceMetrics& d : m.devices) {
      peak_act = std::max(peak_act, d.peak_activations);
      peak_mem = std::max(peak_mem, d.peak_memory);
    }
    row["devices"] = spec->num_devices;
    row["stages"] = spec->num_stages();
    row["makespan"] = m.makespan;
    row["max_span"] = m.max_span;
    row["max_bubble"] = m.max_bubble;
    row["peak_activations"] = peak_act;
    row["peak_memory"] = peak_mem;
    row["verified"] = report.ok();
    std::string status = "ok";
    if (!report.ok()) {
      Json v = Json::array();
      for (const Violation& x : report.violations) v.push_back(fmt::format("{}: {}", to_string(x.kind), x.message));
      row["violations"] = std::move(v);
      status =
          report.count(ViolationKind::kMemory) > 0 ? "over the memory cap" : "INVALID: " + report.violations[0].message;
    }
    text +=
        fmt::format("{:<12} {:>7} {:>6} {:>10g} {:>10g} {:>10g} {:>9} {:>9g}  {}\n", to_string(kind), spec->num_devices,
                    spec->num_stages(), m.makespan, m.max_span, m.max_bubble, peak_act, peak_mem, status);
    rows.push_back(std::move(row));
  }
  if (ok == 0) {
    // Nothing could be built: the spec itself is wrong; say why once.
    auto spec = spec_for(args, file, ScheduleKind::kGreedy);
    return report_error(
        spec.ok() ? Status(StatusCode::kInvalidArgument, "no schedule kind fits this spec") : spec.status(),
        args.spec_file);
  }
  if (args.json)
    std::cout << Json{{"compare", std::move(rows)}}.dump(2) << "\n";
  else
    std::cout << text;
  return kExitOk;
}

int run_schedule(const ScheduleArgs& args) {
  std::optional<PipelineSpec> file;
  if (!args.spec_file.empty()) {
    auto spec = read_pipeline_spec_json(args.spec_file);
    if (!spec.ok()) return report_error(spec.status(), args.spec_file);
    file = std::move(*spec);
  }
  if (args.compare) return run_compare(args, file);

  const auto kind = parse_schedule_kind(args.kind);  // checked by the option's validator
  if (!kind) return report_error(fmt::format("unknown schedule kind '{}' (known: {})", args.kind, kind_names()));
  auto spec = spec_for(args, file, *kind);
  if (!spec.ok()) return report_error(spec.status(), args.spec_file);

  ScheduleOptions options;
  options.max_in_flight = args.max_in_flight;
  options.serialize_links = args.serialize_links;
  Result<Schedule> schedule = Status(StatusCode::kInternal, "not built");
  if (!args.orders_file.empty()) {
    auto programs = read_programs(args.orders_file);
    if (!programs.ok()) return report_error(programs.status(), args.orders_file);
    auto orders = parse_orders(*spec, *programs);
    if (!orders.ok()) return report_error(orders.status(), args.orders_file);
    SimulateOptions sim;
    sim.serialize_links = args.serialize_links;
    sim.name = "custom";
    schedule = simulate(*spec, *orders, sim);
    if (!schedule.ok()) return report_error(schedule.status(), args.orders_file);
  } else {
    schedule = build_schedule(*spec, *kind, options);
    if (!schedule.ok()) return report_error(schedule.status(), args.spec_file);
  }

  VerifyOptions vo;
  vo.serialized_links = args.serialize_links;
  const VerifyReport report = verify(*spec, *schedule, vo);
  if (!report.ok()) {
    std::string message = fmt::format("the {} schedule breaks the spec ({}):", schedule->name,
                                      plural(report.violations.size(), "violation"));
    for (const Violation& v : report.violations) message += fmt::format("\n  {}: {}", to_string(v.kind), v.message);
    return report_error(message);
  }
  if (!args.svg_file.empty())
    if (Status s = write_schedule_svg(*schedule, args.svg_file); !s.ok()) return report_error(s, args.svg_file);
  if (!args.trace_file.empty())
    if (Status s = write_schedule_chrome_trace(*schedule, args.trace_file); !s.ok())
      return report_error(s, args.trace_file);

  if (args.json)
    std::cout << schedule_json(*spec, *schedule, report, true).dump(2) << "\n";
  else
    print_schedule(*spec, *schedule, args.show_ops);
  return kExitOk;
}

}  // namespace

Command add_schedule_command(CLI::App& parent) {
  auto args = std::make_shared<ScheduleArgs>();
  CLI::App* app = parent.add_subcommand(
      "schedule", "Generate, simulate, verify and draw a pipeline schedule (docs/pipeline-schedules.md)");
  app->add_option("SPEC", args->spec_file, "PipelineSpec JSON file; or give the spec with --pp, --microbatches, ...");
  auto* kind = app->add_option("--kind", args->kind, "Schedule: " + kind_names())->check([](const std::string& v) {
    return parse_schedule_kind(v) ? std::string() : fmt::format("unknown kind '{}' (known: {})", v, kind_names());
  });
  auto* compare = app->add_flag("--compare", args->compare, "Print a table of every schedule kind for the spec");
  kind->excludes(compare);
  auto* pp = app->add_option("--pp", args->spec.pp, "Devices (pipeline ranks); dualpipev puts 2 stages on each")
                 ->check(int_at_least(1));
  auto* mb =
      app->add_option("--microbatches", args->spec.micro_batches, "Micro-batches in total")->check(int_at_least(1));
  std::vector<CLI::Option*> spec_flags = {
      pp,
      mb,
      app->add_option("--f", args->spec.f, "Forward time per stage (default 1)"),
      app->add_option("--b", args->spec.b, "Input-gradient time b per stage (default 1); full backward B = b + W"),
      app->add_option("--w", args->spec.w, "Weight-gradient time W per stage (default 1)"),
      app->add_option("--fb", args->spec.fb, "Overlapped F&B time (DualPipe; default F + B)"),
      app->add_option("--p2p", args->spec.p2p, "Transfer time between stages on different devices (default 0)"),
      app->add_option("--mem-cap", args->spec.mem_cap,
                      "Per-device cap in micro-batch activations (an F adds 1, B or W frees it)"),
      app->add_option("--chunks", args->spec.chunks, "Chunks per device for interleaved 1F1B (default 2)")
          ->check(int_at_least(1))};
  app->add_option("--max-in-flight", args->max_in_flight,
                  "greedy / zb-h2: activations in flight per device (0 = default)")
      ->check(int_at_least(0));
  auto* orders = app->add_option("--orders", args->orders_file,
                                 "Replay hand-written programs instead (the spec's placement is --kind's): one line "
                                 "of op strings per device (F3a, b0, W2b, F7a&B3b)");
  orders->excludes(compare);
  auto* svg = app->add_option("--svg", args->svg_file, "Write an SVG Gantt chart");
  auto* trace = app->add_option("--trace", args->trace_file, "Write a Chrome trace / Perfetto JSON file");
  app->add_flag("--serialize-links", args->serialize_links, "Transfers on one link run one at a time");
  app->add_flag("--ops", args->show_ops, "Also print every device's op strings");
  app->add_flag("--json", args->json, "Print one JSON object (makespan, bubble, peak_activations, ops, ...)");
  svg->excludes(compare);
  trace->excludes(compare);
  app->callback([args, app, spec_flags, kind, compare] {
    if (args->spec_file.empty() && (args->spec.pp == 0 || args->spec.micro_batches == 0))
      throw CLI::RequiredError("a SPEC file or --pp and --microbatches");
    if (!args->spec_file.empty())
      for (CLI::Option* o : spec_flags)
        if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), "SPEC");
    if (kind->count() == 0 && compare->count() == 0) throw CLI::RequiredError("--kind (or --compare)");
    (void)app;
  });
  return {app, [args] { return run_schedule(*args); }};
}

}  // namespace opplan::cli
