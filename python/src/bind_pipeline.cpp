// Schedule and its pictures; pipeline specs, the expert schedules, simulate() and verify(); the
// torch.distributed.pipelining export.
#include <sstream>

#include "bindings.hpp"

namespace opplan::python {

void bind_schedule(py::module_& m) {
  def_enum<Work>(m, "Work", "A piece of work of one micro-batch: forward, input_grad, weight_grad, backward (= both).",
                 [](const std::string& s) { return parse_work(s); })
      .value("FORWARD", Work::kForward)
      .value("INPUT_GRAD", Work::kInputGrad)
      .value("WEIGHT_GRAD", Work::kWeightGrad)
      .value("BACKWARD", Work::kBackward)
      .def_property_readonly("letter", [](Work w) { return std::string(1, work_letter(w)); });

  py::class_<WorkItem> item(m, "WorkItem", "`work` of micro-batch `micro_batch` on unit `stage` (an op id for operator-level plans).");
  def_kwargs_init<WorkItem>(item);
  item.def_readwrite("work", &WorkItem::work)
      .def_readwrite("route", &WorkItem::route)
      .def_readwrite("micro_batch", &WorkItem::micro_batch)
      .def_readwrite("stage", &WorkItem::stage)
      .def(py::self == py::self);

  py::class_<Task> task(m, "Task", "One timed task on one device (memory allocated at start, freed at end).");
  def_kwargs_init<Task>(task);
  task.def_readwrite("device", &Task::device)
      .def_readwrite("stream", &Task::stream)
      .def_readwrite("start", &Task::start)
      .def_readwrite("end", &Task::end)
      .def_readwrite("item", &Task::item)
      .def_readwrite("overlapped", &Task::overlapped)
      .def_readwrite("memory_alloc", &Task::memory_alloc)
      .def_readwrite("memory_free", &Task::memory_free)
      .def_property_readonly("duration", &Task::duration)
      .def(py::self == py::self);

  py::class_<Transfer> transfer(m, "Transfer", "The output of `item` sent from src_device to dst_device.");
  def_kwargs_init<Transfer>(transfer);
  transfer.def_readwrite("src_device", &Transfer::src_device)
      .def_readwrite("dst_device", &Transfer::dst_device)
      .def_readwrite("start", &Transfer::start)
      .def_readwrite("end", &Transfer::end)
      .def_readwrite("item", &Transfer::item);

  py::class_<DeviceMetrics>(m, "DeviceMetrics")
      .def_readonly("busy", &DeviceMetrics::busy)
      .def_readonly("bubble", &DeviceMetrics::bubble)
      .def_readonly("first_start", &DeviceMetrics::first_start)
      .def_readonly("last_end", &DeviceMetrics::last_end)
      .def_readonly("span", &DeviceMetrics::span)
      .def_readonly("peak_activations", &DeviceMetrics::peak_activations)
      .def_readonly("peak_activation_memory", &DeviceMetrics::peak_activation_memory)
      .def_readonly("param_memory", &DeviceMetrics::param_memory)
      .def_readonly("peak_memory", &DeviceMetrics::peak_memory)
      .def_readonly("num_tasks", &DeviceMetrics::num_tasks);

  py::class_<ScheduleMetrics>(m, "ScheduleMetrics")
      .def_readonly("makespan", &ScheduleMetrics::makespan)
      .def_readonly("max_span", &ScheduleMetrics::max_span)
      .def_readonly("max_bubble", &ScheduleMetrics::max_bubble)
      .def_readonly("total_busy", &ScheduleMetrics::total_busy)
      .def_readonly("utilisation", &ScheduleMetrics::utilisation)
      .def_readonly("devices", &ScheduleMetrics::devices);

  py::class_<GanttOptions> gantt(m, "GanttOptions", "Options of the SVG Gantt chart.");
  def_kwargs_init<GanttOptions>(gantt);
  gantt.def_readwrite("title", &GanttOptions::title)
      .def_readwrite("pixels_per_unit", &GanttOptions::pixels_per_unit)
      .def_readwrite("target_width", &GanttOptions::target_width)
      .def_readwrite("row_height", &GanttOptions::row_height)
      .def_readwrite("show_labels", &GanttOptions::show_labels)
      .def_readwrite("show_links", &GanttOptions::show_links);

  py::class_<TraceOptions> trace(m, "TraceOptions", "Options of the Chrome trace.");
  def_kwargs_init<TraceOptions>(trace);
  trace.def_readwrite("microseconds_per_unit", &TraceOptions::microseconds_per_unit);

  py::class_<Schedule>(m, "Schedule",
                       "What runs where and when: per device a list of timed tasks, per link the transfers, and the "
                       "metrics. A plain value: copy and edit freely (fields are returned as copies; assign them "
                       "back).")
      .def(py::init<>())
      .def_readwrite("name", &Schedule::name)
      .def_readwrite("num_devices", &Schedule::num_devices)
      .def_readwrite("device_tasks", &Schedule::device_tasks)
      .def_readwrite("transfers", &Schedule::transfers)
      .def_readwrite("param_memory", &Schedule::param_memory)
      .def_readwrite("memory_cap", &Schedule::memory_cap)
      .def_readwrite("metrics", &Schedule::metrics)
      .def_readwrite("num_stages", &Schedule::num_stages)
      .def_readwrite("chunk_of", &Schedule::chunk_of)
      .def_property_readonly("makespan", [](const Schedule& s) { return s.metrics.makespan; })
      .def("label", py::overload_cast<const Task&>(&Schedule::label, py::const_), py::arg("task"))
      .def("label", py::overload_cast<const WorkItem&>(&Schedule::label, py::const_), py::arg("item"))
      .def("op_strings", &Schedule::op_strings, "Per device, the labels of its tasks in order.")
      .def("num_tasks", &Schedule::num_tasks)
      .def("compute_metrics", &Schedule::compute_metrics)
      .def(
          "to_json", [](const Schedule& s, bool tasks, int indent) { return schedule_to_json(s, tasks, indent); },
          py::arg("include_tasks") = false, py::arg("indent") = 2)
      .def(
          "to_svg",
          [](const Schedule& s, std::optional<GanttOptions> o) { return schedule_to_svg(s, o.value_or(GanttOptions{})); },
          py::arg("options") = py::none(), "An SVG Gantt chart.")
      .def(
          "write_svg",
          [](const Schedule& s, const std::string& path, std::optional<GanttOptions> o) {
            check(write_schedule_svg(s, path, o.value_or(GanttOptions{})));
          },
          py::arg("path"), py::arg("options") = py::none())
      .def(
          "to_chrome_trace",
          [](const Schedule& s, std::optional<TraceOptions> o) {
            return schedule_to_chrome_trace(s, o.value_or(TraceOptions{}));
          },
          py::arg("options") = py::none(), "A Chrome trace (Perfetto, chrome://tracing) as JSON text.")
      .def(
          "write_chrome_trace",
          [](const Schedule& s, const std::string& path, std::optional<TraceOptions> o) {
            check(write_schedule_chrome_trace(s, path, o.value_or(TraceOptions{})));
          },
          py::arg("path"), py::arg("options") = py::none())
      .def("__repr__", [](const Schedule& s) {
        std::ostringstream out;
        out << "<opplan.Schedule '" << s.name << "': " << s.num_devices << " devices, " << s.num_tasks()
            << " tasks, makespan " << s.metrics.makespan << ">";
        return out.str();
      });
}

void bind_pipeline(py::module_& m) {
  py::class_<StageSpec> stage(m, "StageSpec", "Times and memory of one pipeline stage per micro-batch.");
  def_kwargs_init<StageSpec>(stage);
  stage.def_readwrite("forward", &StageSpec::forward)
      .def_readwrite("input_grad", &StageSpec::input_grad)
      .def_readwrite("weight_grad", &StageSpec::weight_grad)
      .def_readwrite("backward", &StageSpec::backward)
      .def_readwrite("forward_backward", &StageSpec::forward_backward)
      .def_readwrite("p2p", &StageSpec::p2p)
      .def_readwrite("activation", &StageSpec::activation)
      .def_readwrite("input_grad_frees", &StageSpec::input_grad_frees)
      .def_readwrite("params", &StageSpec::params)
      .def(py::self == py::self);

  def_enum<Placement>(m, "Placement", "How pipeline stages are laid out on devices.",
                      [](const std::string& s) { return parse_placement(s); })
      .value("LINEAR", Placement::kLinear)
      .value("INTERLEAVED", Placement::kInterleaved)
      .value("DUALPIPE", Placement::kDualPipe)
      .value("V", Placement::kV)
      .value("CUSTOM", Placement::kCustom);

  py::class_<PipelineSpec> spec(m, "PipelineSpec", "Stages, their placement on devices (routes), times and memory caps.");
  def_kwargs_init<PipelineSpec>(spec);
  spec.def_readwrite("name", &PipelineSpec::name)
      .def_readwrite("num_devices", &PipelineSpec::num_devices)
      .def_readwrite("num_micro_batches", &PipelineSpec::num_micro_batches)
      .def_readwrite("placement", &PipelineSpec::placement)
      .def_readwrite("chunks", &PipelineSpec::chunks)
      .def_readwrite("stages", &PipelineSpec::stages)
      .def_readwrite("routes", &PipelineSpec::routes)
      .def_readwrite("memory_cap", &PipelineSpec::memory_cap)
      .def_property_readonly("num_stages", &PipelineSpec::num_stages)
      .def_property_readonly("num_routes", &PipelineSpec::num_routes)
      .def("cap", &PipelineSpec::cap, py::arg("device"))
      .def("param_memory", &PipelineSpec::param_memory, py::arg("device"))
      .def("device_chunks", &PipelineSpec::device_chunks, py::arg("device"))
      .def("chunk_index", &PipelineSpec::chunk_index, py::arg("route"), py::arg("stage"))
      .def(
          "validate", [](const PipelineSpec& s) { check(s.validate()); },
          "Raises opplan.InvalidArgumentError listing every problem.")
      .def(
          "to_json", [](const PipelineSpec& s, int indent) { return pipeline_spec_to_json(s, indent); },
          py::arg("indent") = 2)
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) {
            return unwrap(parse_pipeline_spec_json(text, source));
          },
          py::arg("text"), py::arg("source") = "<string>")
      .def(py::self == py::self);

  m.def(
      "placement_routes",
      [](Placement p, int devices, int chunks) { return unwrap(placement_routes(p, devices, chunks)); },
      py::arg("placement"), py::arg("num_devices"), py::arg("chunks") = 1);
  m.def(
      "make_pipeline_spec",
      [](Placement p, int devices, int micro_batches, const StageSpec& stage, int chunks,
         std::optional<double> cap) { return unwrap(make_pipeline_spec(p, devices, micro_batches, stage, chunks, cap)); },
      py::arg("placement"), py::arg("num_devices"), py::arg("num_micro_batches"), py::arg("stage") = StageSpec{},
      py::arg("chunks") = 1, py::arg("memory_cap") = py::none(),
      "A validated spec with every stage equal to `stage` and the same memory cap on every device.");
  m.def(
      "read_pipeline_spec_json", [](const std::string& path) { return unwrap(read_pipeline_spec_json(path)); },
      py::arg("path"));
  m.def(
      "write_pipeline_spec_json",
      [](const PipelineSpec& s, const std::string& path, int indent) { check(write_pipeline_spec_json(s, path, indent)); },
      py::arg("spec"), py::arg("path"), py::arg("indent") = 2);

  def_enum<ScheduleKind>(m, "ScheduleKind", "The expert pipeline schedules.",
                         [](const std::string& s) { return parse_schedule_kind(s); })
      .value("GPIPE", ScheduleKind::kGPipe)
      .value("ONE_F_ONE_B", ScheduleKind::k1F1B)
      .value("INTERLEAVED", ScheduleKind::kInterleaved)
      .value("ZB_H1", ScheduleKind::kZBH1)
      .value("ZB_H2", ScheduleKind::kZBH2)
      .value("ZERO_BUBBLE", ScheduleKind::kZeroBubble)
      .value("DUALPIPE", ScheduleKind::kDualPipe)
      .value("DUALPIPEV", ScheduleKind::kDualPipeV)
      .value("GREEDY", ScheduleKind::kGreedy);
  m.def("schedule_kinds", [] { return std::vector<ScheduleKind>(std::begin(kAllScheduleKinds), std::end(kAllScheduleKinds)); });
  m.def("required_placement", &required_placement, py::arg("kind"));

  py::class_<ScheduleOptions> sopts(m, "ScheduleOptions", "Options of the schedule generators.");
  def_kwargs_init<ScheduleOptions>(sopts);
  sopts.def_readwrite("zb_search_flags", &ScheduleOptions::zb_search_flags)
      .def_readwrite("max_in_flight", &ScheduleOptions::max_in_flight)
      .def_readwrite("serialize_links", &ScheduleOptions::serialize_links);

  py::class_<OrderEntry> entry(m, "OrderEntry", "One entry of a device's program (two pieces of work when overlapped).");
  def_kwargs_init<OrderEntry>(entry);
  entry.def_readwrite("item", &OrderEntry::item).def_readwrite("overlapped", &OrderEntry::overlapped);
  py::class_<LinkOrder> link_order(m, "LinkOrder");
  def_kwargs_init<LinkOrder>(link_order);
  link_order.def_readwrite("src_device", &LinkOrder::src_device)
      .def_readwrite("dst_device", &LinkOrder::dst_device)
      .def_readwrite("producers", &LinkOrder::producers);
  py::class_<PipelineOrders> orders(m, "PipelineOrders", "Per-device programs (and optional link orders).");
  def_kwargs_init<PipelineOrders>(orders);
  orders.def_readwrite("devices", &PipelineOrders::devices)
      .def_readwrite("links", &PipelineOrders::links)
      .def("num_entries", &PipelineOrders::num_entries);

  auto options_or = [](const std::optional<ScheduleOptions>& o) { return o.value_or(ScheduleOptions{}); };
  m.def(
      "generate_orders",
      [options_or](const PipelineSpec& s, ScheduleKind k, std::optional<ScheduleOptions> o) {
        return unwrap(generate_orders(s, k, options_or(o)));
      },
      py::arg("spec"), py::arg("kind"), py::arg("options") = py::none());
  m.def(
      "build_schedule",
      [options_or](const PipelineSpec& s, ScheduleKind k, std::optional<ScheduleOptions> o) {
        Result<Schedule> r = [&] {
          py::gil_scoped_release release;
          return build_schedule(s, k, options_or(o));
        }();
        return unwrap(std::move(r));
      },
      py::arg("spec"), py::arg("kind"), py::arg("options") = py::none(),
      "The timed schedule of `kind` for `spec` (e.g. build_schedule(spec, \"1f1b\")).");
  m.def("op_string", &op_string, py::arg("spec"), py::arg("entry"));
  m.def("format_orders", &format_orders, py::arg("spec"), py::arg("orders"));
  m.def(
      "parse_orders",
      [](const PipelineSpec& s, const std::vector<std::string>& programs) { return unwrap(parse_orders(s, programs)); },
      py::arg("spec"), py::arg("programs"));

  py::class_<SimulateOptions> simopts(m, "SimulateOptions");
  def_kwargs_init<SimulateOptions>(simopts);
  simopts.def_readwrite("serialize_links", &SimulateOptions::serialize_links).def_readwrite("name", &SimulateOptions::name);
  m.def(
      "simulate",
      [](const PipelineSpec& s, const PipelineOrders& o, std::optional<SimulateOptions> opt) {
        return unwrap(simulate(s, o, opt.value_or(SimulateOptions{})));
      },
      py::arg("spec"), py::arg("orders"), py::arg("options") = py::none(),
      "Replays per-device programs into a timed Schedule (an error names a deadlock's blocked ops).");

  def_enum<ViolationKind>(m, "ViolationKind", "What verify() found wrong.", [](const std::string& s) -> std::optional<ViolationKind> {
    for (int k = 0; k <= static_cast<int>(ViolationKind::kMetrics); ++k)
      if (s == to_string(static_cast<ViolationKind>(k))) return static_cast<ViolationKind>(k);
    return std::nullopt;
  })
      .value("STRUCTURE", ViolationKind::kStructure)
      .value("MISSING", ViolationKind::kMissing)
      .value("DUPLICATE", ViolationKind::kDuplicate)
      .value("TIME", ViolationKind::kTime)
      .value("DURATION", ViolationKind::kDuration)
      .value("PRECEDENCE", ViolationKind::kPrecedence)
      .value("TRANSFER", ViolationKind::kTransfer)
      .value("OVERLAP", ViolationKind::kOverlap)
      .value("MEMORY", ViolationKind::kMemory)
      .value("METRICS", ViolationKind::kMetrics);
  py::class_<Violation>(m, "Violation")
      .def_readonly("kind", &Violation::kind)
      .def_readonly("device", &Violation::device)
      .def_readonly("message", &Violation::message);
  py::class_<VerifyOptions> vopts(m, "VerifyOptions");
  def_kwargs_init<VerifyOptions>(vopts);
  vopts.def_readwrite("tolerance", &VerifyOptions::tolerance)
      .def_readwrite("check_durations", &VerifyOptions::check_durations)
      .def_readwrite("check_metrics", &VerifyOptions::check_metrics)
      .def_readwrite("serialized_links", &VerifyOptions::serialized_links)
      .def_readwrite("max_violations", &VerifyOptions::max_violations);
  py::class_<VerifyReport>(m, "VerifyReport", "Every violation verify() found; ok is True when there is none.")
      .def_readonly("violations", &VerifyReport::violations)
      .def_readonly("truncated", &VerifyReport::truncated)
      .def_property_readonly("ok", &VerifyReport::ok)
      .def("__bool__", &VerifyReport::ok)
      .def("count", &VerifyReport::count, py::arg("kind"))
      .def("__str__", &VerifyReport::to_string);
  m.def(
      "verify",
      [](const PipelineSpec& s, const Schedule& sch, std::optional<VerifyOptions> o) {
        return verify(s, sch, o.value_or(VerifyOptions{}));
      },
      py::arg("spec"), py::arg("schedule"), py::arg("options") = py::none(),
      "Checks a timed schedule against its spec, independently of how it was made.");

  // ---- torch.distributed.pipelining ----
  py::class_<PyTorchExportOptions> popts(m, "PyTorchExportOptions");
  def_kwargs_init<PyTorchExportOptions>(popts);
  popts.def_readwrite("allow_bidirectional", &PyTorchExportOptions::allow_bidirectional);
  py::class_<PyTorchPipelineExport>(m, "PyTorchPipelineExport",
                                    "A pipeline schedule as torch.distributed.pipelining sees it: stage -> rank and, per "
                                    "rank, the actions (\"0F1\", \"1I0\", \"1W0\", \"2B3\").")
      .def_readonly("schedule", &PyTorchPipelineExport::schedule)
      .def_readonly("num_ranks", &PyTorchPipelineExport::num_ranks)
      .def_readonly("num_stages", &PyTorchPipelineExport::num_stages)
      .def_readonly("num_microbatches", &PyTorchPipelineExport::num_microbatches)
      .def_readonly("style", &PyTorchPipelineExport::style)
      .def_readonly("bidirectional", &PyTorchPipelineExport::bidirectional)
      .def_readonly("num_routes", &PyTorchPipelineExport::num_routes)
      .def_readonly("stage_to_rank", &PyTorchPipelineExport::stage_to_rank)
      .def_readonly("actions", &PyTorchPipelineExport::actions)
      .def(
          "to_json", [](const PyTorchPipelineExport& p, int indent) { return pytorch_pipeline_to_json(p, indent); },
          py::arg("indent") = 2);
  m.def(
      "export_pytorch_pipeline",
      [](const PipelineSpec& s, const Schedule& sch, std::optional<PyTorchExportOptions> o) {
        return unwrap(export_pytorch_pipeline(s, sch, o.value_or(PyTorchExportOptions{})));
      },
      py::arg("spec"), py::arg("schedule"), py::arg("options") = py::none());
}

}  // namespace opplan::python
