// The planners: plan(), plan_pipeline(), plan_operators(), shard(), plan_stages(), with their
// options and results.
//
// Every planner runs with the GIL released. Progress callbacks, score functions and Python cost
// models take the GIL for each call. Ctrl-C: while a planner runs on the main thread (and Python's
// SIGINT handler is the default one) a C handler replaces Python's and sets the search's stop flag,
// so the planner returns its best plan so far (termination "stopped"); a KeyboardInterrupt raised
// by a callback does the same. Any other exception raised by a callback stops the search and is
// raised once the planner has returned.
#include <csignal>
#include <cmath>

#include "bindings.hpp"

namespace opplan::python {
namespace {

// A stop request that Python code may set from any thread (e.g. a GUI button or a timer).
struct StopFlag {
  std::atomic<bool> flag{false};
};

std::atomic<std::atomic<bool>*> g_sigint_stop{nullptr};
std::atomic<bool> g_sigint_seen{false};
extern "C" void on_sigint(int) {
  if (std::atomic<bool>* stop = g_sigint_stop.load()) stop->store(true);
  g_sigint_seen.store(true);
}

// Routes SIGINT to `stop` while a planner runs on the main thread; restores Python's handler after.
class SigintGuard {
 public:
  explicit SigintGuard(std::atomic<bool>* stop) {
    py::module_ threading = py::module_::import("threading");
    py::module_ signal = py::module_::import("signal");
    const bool main_thread = threading.attr("current_thread")().is(threading.attr("main_thread")());
    if (!main_thread || !signal.attr("getsignal")(SIGINT).is(signal.attr("default_int_handler"))) return;
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    previous_stop_ = g_sigint_stop.exchange(stop);
    seen_before_ = g_sigint_seen.exchange(false);
    if (sigaction(SIGINT, &action, &old_) == 0) installed_ = true;
  }
  ~SigintGuard() {
    if (!installed_) return;
    sigaction(SIGINT, &old_, nullptr);
    g_sigint_stop.store(previous_stop_);
    g_sigint_seen.store(seen_before_);
  }
  bool interrupted() const { return installed_ && g_sigint_seen.load(); }

 private:
  bool installed_ = false;
  bool seen_before_ = false;
  std::atomic<bool>* previous_stop_ = nullptr;
  struct sigaction old_ {};
};

// The Python side of one planner call: its callbacks, stop flag and the first error they raised.
class Monitored {
 public:
  Monitored(py::object progress, StopFlag* stop, double interval, const CostModel* model)
      : progress_(std::move(progress)), interval_(interval), model_(model) {
    if (interval < 0 || !std::isfinite(interval)) throw py::value_error("progress_interval must be finite and >= 0");
    if (!progress_.is_none() && !PyCallable_Check(progress_.ptr()))
      throw py::type_error("progress must be callable (it receives an opplan.PlanProgress)");
    stop_ = stop ? &stop->flag : &own_stop_;
  }

  PlanMonitor monitor() {
    PlanMonitor m;
    m.stop = stop_;
    m.interval = interval_;
    m.progress = [this](const PlanProgress& p) { report(p); };  // captures no Python object
    return m;
  }

  std::function<double(const Schedule&)> score(const py::object& fn) {
    if (fn.is_none()) return nullptr;
    if (!PyCallable_Check(fn.ptr())) throw py::type_error("score must be callable (Schedule -> float)");
    score_ = fn;
    return [this](const Schedule& s) { return call_score(s); };
  }

  // Runs the planner with the GIL released, then raises what a callback raised, KeyboardInterrupt
  // when Ctrl-C came before any plan, or the planner's error.
  template <typename T, typename F>
  T run(F&& planner) {
    std::optional<Result<T>> result;
    bool interrupted = false;
    {
      SigintGuard guard(stop_);
      const auto* slot = dynamic_cast<const PythonErrorSlot*>(model_);
      if (slot) {
        slot->rethrow_if_failed();
        slot->set_stop(stop_);
      }
      {
        py::gil_scoped_release release;
        result.emplace(planner());
      }
      if (slot) slot->set_stop(nullptr);
      interrupted = guard.interrupted() || interrupted_;
      if (slot) slot->rethrow_if_failed();
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (!result->ok()) {
      if (interrupted) {
        PyErr_SetString(PyExc_KeyboardInterrupt, "planning stopped by Ctrl-C before any plan was found");
        throw py::error_already_set();
      }
      raise_status(result->status());
    }
    return std::move(*result).value();
  }

 private:
  void report(const PlanProgress& p) {
    if (error_ || interrupted_) return;
    py::gil_scoped_acquire gil;
    try {
      // A copy: the callback may keep the report.
      if (!progress_.is_none()) progress_(py::cast(p, py::return_value_policy::copy));
      // Python-level signal handlers (a user's own SIGINT handler, SIGTERM, ...) run here, on the
      // main thread; a KeyboardInterrupt they raise stops the search.
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_KeyboardInterrupt)) {
        interrupted_ = true;
      } else {
        error_ = std::current_exception();
      }
      stop_->store(true);
    } catch (...) {
      error_ = std::current_exception();
      stop_->store(true);
    }
  }

  double call_score(const Schedule& s) {
    if (error_) return std::numeric_limits<double>::infinity();
    py::gil_scoped_acquire gil;
    try {
      return score_(py::cast(s, py::return_value_policy::copy)).cast<double>();  // the function may keep it
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_KeyboardInterrupt)) {
        interrupted_ = true;
      } else {
        error_ = std::current_exception();
      }
    } catch (...) {
      error_ = std::current_exception();
    }
    stop_->store(true);
    return std::numeric_limits<double>::infinity();
  }

  py::object progress_;
  py::object score_ = py::none();
  double interval_;
  const CostModel* model_;
  std::atomic<bool> own_stop_{false};
  std::atomic<bool>* stop_;
  bool interrupted_ = false;
  std::exception_ptr error_;
};

const CostModel* cost_model_of(const py::object& model, std::unique_ptr<CostModel>& fallback) {
  if (model.is_none()) {
    fallback = std::make_unique<AnalyticCostModel>();
    return fallback.get();
  }
  return model.cast<const CostModel*>();
}

// Sets the fields named in `kwargs` on a copy of `options` (plan(graph, cluster, micro_batches=4)).
template <typename T>
T with_fields(std::optional<T> options, const py::kwargs& kwargs) {
  T value = options.value_or(T{});
  if (kwargs.size() == 0) return value;
  py::object self = py::cast(&value, py::return_value_policy::reference);
  for (auto item : kwargs) {
    const std::string key = py::str(item.first);
    if (!py::hasattr(py::type::of(self), key.c_str()) || key.rfind("_", 0) == 0)
      throw py::type_error("unexpected keyword argument '" + key + "' (not a field of " +
                           std::string(py::str(py::type::of(self).attr("__name__"))) + ")");
    py::setattr(self, key.c_str(), item.second);
  }
  return value;
}

template <typename T>
void check_valid(const T& options) {
  std::string error;
  if (!options.IsValid(&error)) {
    raise_status(Status(StatusCode::kInvalidArgument, error));
  }
}

}  // namespace

void bind_planning(py::module_& m) {
  // ---- shared vocabulary ----
  def_enum<PlanObjective>(m, "PlanObjective", "What \"best\" means (memory caps are always hard constraints).",
                          [](const std::string& s) { return parse_plan_objective(s); })
      .value("MAKESPAN", PlanObjective::kMakespan)
      .value("UTILISATION", PlanObjective::kUtilisation)
      .value("TOTAL_IDLE", PlanObjective::kTotalIdle)
      .value("MEMORY_BALANCE", PlanObjective::kMemoryBalance);
  def_enum<PlanPlacement>(m, "PlanPlacement", "Where the pipeline planner puts stages.",
                          [](const std::string& s) { return parse_plan_placement(s); })
      .value("GIVEN", PlanPlacement::kGiven)
      .value("DUALPIPE", PlanPlacement::kDualPipe)
      .value("DUALPIPEV", PlanPlacement::kDualPipeV)
      .value("ONE_F_ONE_B", PlanPlacement::k1F1B)
      .value("FREE", PlanPlacement::kFree);
  def_enum<PlanTermination>(m, "PlanTermination", "How a planner's search ended.",
                            [](const std::string& s) -> std::optional<PlanTermination> {
                              for (int k = 0; k <= static_cast<int>(PlanTermination::kStopped); ++k)
                                if (s == to_string(static_cast<PlanTermination>(k)))
                                  return static_cast<PlanTermination>(k);
                              return std::nullopt;
                            })
      .value("OPTIMAL", PlanTermination::kOptimal)
      .value("TIME_LIMIT", PlanTermination::kTimeLimit)
      .value("NO_IMPROVEMENT", PlanTermination::kNoImprovement)
      .value("STOPPED", PlanTermination::kStopped);
  def_enum<PlanStrategy>(m, "PlanStrategy", "Which planner plan() runs.",
                         [](const std::string& s) { return parse_plan_strategy(s); })
      .value("AUTO", PlanStrategy::kAuto)
      .value("OPERATOR_LEVEL", PlanStrategy::kOperatorLevel)
      .value("HIERARCHICAL", PlanStrategy::kHierarchical)
      .value("PIPELINE_ONLY", PlanStrategy::kPipelineOnly)
      .value("PARALLEL_CONFIG", PlanStrategy::kParallelConfig);

  py::class_<PlanProgress>(m, "PlanProgress", "A progress report: the step, elapsed seconds, best and bound so far.")
      .def_property_readonly("step", [](const PlanProgress& p) { return std::string(p.step ? p.step : ""); })
      .def_readonly("elapsed_seconds", &PlanProgress::elapsed_seconds)
      .def_readonly("best", &PlanProgress::best, "Best makespan so far (inf: none yet).")
      .def_readonly("bound", &PlanProgress::bound, "Best lower bound so far (0: none yet).")
      .def_readonly("improved", &PlanProgress::improved)
      .def("__repr__", [](const PlanProgress& p) {
        return "PlanProgress(step='" + std::string(p.step ? p.step : "") + "', elapsed=" +
               std::to_string(p.elapsed_seconds) + ", best=" + std::to_string(p.best) + ", bound=" +
               std::to_string(p.bound) + ")";
      });

  py::class_<StopFlag>(m, "StopFlag",
                       "Asks a running planner to stop: set() it from any thread; the planner returns the best plan "
                       "so far (termination STOPPED). Pass it as plan(..., stop=flag). The planner also sets it "
                       "itself when Ctrl-C or a callback's exception stops the search.")
      .def(py::init<>())
      .def("set", [](StopFlag& s) { s.flag.store(true); })
      .def("clear", [](StopFlag& s) { s.flag.store(false); })
      .def("is_set", [](const StopFlag& s) { return s.flag.load(); });

  // ---- pipeline planner ----
  py::class_<PlannerOptions> popts(m, "PlannerOptions", "Options of plan_pipeline() (see planner.hpp).");
  def_kwargs_init<PlannerOptions>(popts);
  popts.def_readwrite("time_limit", &PlannerOptions::time_limit)
      .def_readwrite("objective", &PlannerOptions::objective)
      .def_readwrite("placement", &PlannerOptions::placement)
      .def_readwrite("memory_cap", &PlannerOptions::memory_cap)
      .def_readwrite("use_mip", &PlannerOptions::use_mip)
      .def_readwrite("use_baselines", &PlannerOptions::use_baselines)
      .def_readwrite("max_mip_instances", &PlannerOptions::max_mip_instances)
      .def_readwrite("window_instances", &PlannerOptions::window_instances)
      .def_readwrite("mip_node_limit", &PlannerOptions::mip_node_limit)
      .def_readwrite("window_node_limit", &PlannerOptions::window_node_limit)
      .def_readwrite("seed", &PlannerOptions::seed)
      .def_readwrite("lp_bound", &PlannerOptions::lp_bound);

  py::class_<PlanCandidate>(m, "PlanCandidate", "One schedule the pipeline planner considered.")
      .def_readonly("name", &PlanCandidate::name)
      .def_readonly("makespan", &PlanCandidate::makespan)
      .def_readonly("peak_activations", &PlanCandidate::peak_activations)
      .def_readonly("verified", &PlanCandidate::verified)
      .def_readonly("note", &PlanCandidate::note);

  py::class_<PlanResult>(m, "PlanResult", "The pipeline planner's verified schedule, bound and search record.")
      .def_readonly("spec", &PlanResult::spec)
      .def_readonly("schedule", &PlanResult::schedule)
      .def_readonly("makespan", &PlanResult::makespan)
      .def_readonly("lower_bound", &PlanResult::lower_bound)
      .def_readonly("gap", &PlanResult::gap)
      .def_readonly("solve_seconds", &PlanResult::solve_seconds)
      .def_readonly("verified", &PlanResult::verified)
      .def_readonly("source", &PlanResult::source)
      .def_readonly("termination", &PlanResult::termination)
      .def_readonly("message", &PlanResult::message)
      .def_readonly("candidates", &PlanResult::candidates)
      .def_readonly("lp_bound", &PlanResult::lp_bound)
      .def_readonly("lp_message", &PlanResult::lp_message)
      .def_readonly("mip_solves", &PlanResult::mip_solves)
      .def_readonly("mip_improvements", &PlanResult::mip_improvements)
      .def("brief_report", &PlanResult::BriefReport)
      .def("__str__", &PlanResult::BriefReport);

  m.def(
      "plan_pipeline",
      [](const PipelineSpec& spec, std::optional<PlannerOptions> options, py::object progress, StopFlag* stop,
         double progress_interval, const py::kwargs& fields) {
        PlannerOptions o = with_fields(std::move(options), fields);
        Monitored mon(std::move(progress), stop, progress_interval, nullptr);
        o.monitor = mon.monitor();
        return mon.run<PlanResult>([&] { return plan_pipeline(spec, o); });
      },
      py::arg("spec"), py::arg("options") = py::none(), py::kw_only(), py::arg("progress") = py::none(),
      py::arg("stop") = nullptr, py::arg("progress_interval") = 0.2,
      "Orders and times every F / b / W of every micro-batch of a PipelineSpec within the memory caps; returns the "
      "best verified schedule (PlanResult). Fields of PlannerOptions may be given as keywords.");
  m.def(
      "pipeline_lower_bound", [](const PipelineSpec& spec) { return unwrap(pipeline_lower_bound(spec)); },
      py::arg("spec"));

  // ---- operator-level planner ----
  py::class_<OperatorPlanOptions> oopts(m, "OperatorPlanOptions", "Options of plan_operators() (operator_planner.hpp).");
  def_kwargs_init<OperatorPlanOptions>(oopts);
  oopts.def_readwrite("micro_batches", &OperatorPlanOptions::micro_batches)
      .def_readwrite("time_limit", &OperatorPlanOptions::time_limit)
      .def_readwrite("objective", &OperatorPlanOptions::objective)
      .def_readwrite("relative_gap", &OperatorPlanOptions::relative_gap)
      .def_readwrite("memory_cap", &OperatorPlanOptions::memory_cap)
      .def_readwrite("max_units", &OperatorPlanOptions::max_units)
      .def_readwrite("placement_moves", &OperatorPlanOptions::placement_moves)
      .def_readwrite("serialize_links", &OperatorPlanOptions::serialize_links)
      .def_readwrite("use_mip", &OperatorPlanOptions::use_mip)
      .def_readwrite("mip_windows", &OperatorPlanOptions::mip_windows)
      .def_readwrite("window_instances", &OperatorPlanOptions::window_instances)
      .def_readwrite("window_node_limit", &OperatorPlanOptions::window_node_limit)
      .def_readwrite("seed", &OperatorPlanOptions::seed)
      .def_readwrite("mps_file", &OperatorPlanOptions::mps_file);

  py::class_<StagePipelineBaseline>(m, "StagePipelineBaseline")
      .def_readonly("source", &StagePipelineBaseline::source)
      .def_readonly("makespan", &StagePipelineBaseline::makespan)
      .def_readonly("stages", &StagePipelineBaseline::stages);

  py::class_<OperatorPlan>(m, "OperatorPlan", "The operator-level plan: units, placement, verified schedule, bounds.")
      .def_readonly("units", &OperatorPlan::units)
      .def_readonly("unit_of", &OperatorPlan::unit_of)
      .def_readonly("placement", &OperatorPlan::placement)
      .def_readonly("schedule", &OperatorPlan::schedule)
      .def_readonly("makespan", &OperatorPlan::makespan)
      .def_readonly("lower_bound", &OperatorPlan::lower_bound)
      .def_readonly("placement_lower_bound", &OperatorPlan::placement_lower_bound)
      .def_readonly("gap", &OperatorPlan::gap)
      .def_readonly("solve_seconds", &OperatorPlan::solve_seconds)
      .def_readonly("verified", &OperatorPlan::verified)
      .def_readonly("source", &OperatorPlan::source)
      .def_readonly("placement_source", &OperatorPlan::placement_source)
      .def_readonly("termination", &OperatorPlan::termination)
      .def_readonly("message", &OperatorPlan::message)
      .def_readonly("stage_baseline", &OperatorPlan::stage_baseline)
      .def_readonly("placement_moves_tried", &OperatorPlan::placement_moves_tried)
      .def_readonly("placement_moves_accepted", &OperatorPlan::placement_moves_accepted)
      .def_readonly("mip_solves", &OperatorPlan::mip_solves)
      .def_readonly("mip_improvements", &OperatorPlan::mip_improvements)
      .def("brief_report", &OperatorPlan::BriefReport)
      .def("__str__", &OperatorPlan::BriefReport);

  m.def(
      "plan_operators",
      [](const Graph& graph, const Cluster& cluster, std::optional<OperatorPlanOptions> options, py::object cost_model,
         py::object progress, StopFlag* stop, py::object score, double progress_interval, const py::kwargs& fields) {
        OperatorPlanOptions o = with_fields(std::move(options), fields);
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        Monitored mon(std::move(progress), stop, progress_interval, cost);
        o.monitor = mon.monitor();
        o.score = mon.score(score);
        const Graph g = graph;
        const Cluster c = cluster;
        return mon.run<OperatorPlan>([&] { return plan_operators(g, c, *cost, o); });
      },
      py::arg("graph"), py::arg("cluster"), py::arg("options") = py::none(), py::kw_only(),
      py::arg("cost_model") = py::none(), py::arg("progress") = py::none(), py::arg("stop") = nullptr,
      py::arg("score") = py::none(), py::arg("progress_interval") = 0.2,
      "The operator-level planner: places every op on a device and schedules every F / b / W of every micro-batch.");
  m.def(
      "verify_operator_schedule",
      [](const Graph& graph, const Cluster& cluster, const std::vector<DeviceId>& placement, int micro_batches,
         const Schedule& schedule, py::object cost_model, std::optional<double> memory_cap, bool serialized_links) {
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        return with_cost_model(cost, nullptr, [&] {
          return verify_operator_schedule(graph, cluster, *cost, placement, micro_batches, schedule, memory_cap,
                                          serialized_links);
        });
      },
      py::arg("graph"), py::arg("cluster"), py::arg("placement"), py::arg("micro_batches"), py::arg("schedule"),
      py::kw_only(), py::arg("cost_model") = py::none(), py::arg("memory_cap") = py::none(),
      py::arg("serialized_links") = false);

  // ---- sharding ----
  def_enum<Termination>(m, "Termination", "How a MIP solve ended.", [](const std::string& s) -> std::optional<Termination> {
    for (int k = 0; k <= static_cast<int>(Termination::kError); ++k)
      if (s == to_string(static_cast<Termination>(k))) return static_cast<Termination>(k);
    return std::nullopt;
  })
      .value("OPTIMAL", Termination::kOptimal)
      .value("FEASIBLE", Termination::kFeasible)
      .value("NO_SOLUTION_FOUND", Termination::kNoSolutionFound)
      .value("INFEASIBLE", Termination::kInfeasible)
      .value("UNBOUNDED", Termination::kUnbounded)
      .value("STOPPED_BY_USER", Termination::kStoppedByUser)
      .value("INVALID_INPUT", Termination::kInvalidInput)
      .value("ERROR", Termination::kError);

  py::class_<ShardingSpec>(m, "ShardingSpec", "The layout of one tensor on a mesh: \"S0R\", \"RS01\", ...")
      .def(py::init([](const std::string& text) { return unwrap(parse_sharding_spec(text)); }), py::arg("text") = "")
      .def_property_readonly("rank", &ShardingSpec::rank)
      .def("is_replicated", &ShardingSpec::is_replicated)
      .def("num_tiles", &ShardingSpec::num_tiles, py::arg("rows"), py::arg("cols"))
      .def("__str__", &ShardingSpec::to_string)
      .def("__repr__", [](const ShardingSpec& s) { return "ShardingSpec('" + s.to_string() + "')"; })
      .def(py::self == py::self);

  py::class_<ShardingStrategy>(m, "ShardingStrategy", "One way to run an op on the mesh, with its costs.")
      .def_readonly("name", &ShardingStrategy::name)
      .def_readonly("output", &ShardingStrategy::output)
      .def_readonly("operands", &ShardingStrategy::operands)
      .def_readonly("num_shards", &ShardingStrategy::num_shards)
      .def_readonly("compute_seconds", &ShardingStrategy::compute_seconds)
      .def_readonly("communication_seconds", &ShardingStrategy::communication_seconds)
      .def_readonly("weight_sync_seconds", &ShardingStrategy::weight_sync_seconds)
      .def_readonly("weight_sync_bytes", &ShardingStrategy::weight_sync_bytes,
                    "Parameter-gradient bytes all-reduced along mesh axis 0 and axis 1.")
      .def_readonly("memory_bytes", &ShardingStrategy::memory_bytes)
      .def_readonly("parameter_bytes", &ShardingStrategy::parameter_bytes)
      .def_readonly("output_bytes", &ShardingStrategy::output_bytes);

  py::class_<ShardingOptions> sopts(m, "ShardingOptions", "Options of shard() (sharding.hpp).");
  def_kwargs_init<ShardingOptions>(sopts);
  sopts.def_readwrite("memory_budget", &ShardingOptions::memory_budget, "Bytes per device; 0 = the device memory; inf = no limit.")
      .def_readwrite("merge_light_ops", &ShardingOptions::merge_light_ops)
      .def_readwrite("light_kinds", &ShardingOptions::light_kinds)
      .def_readwrite("tie_repeated_layers", &ShardingOptions::tie_repeated_layers)
      .def_readwrite("exact_elimination", &ShardingOptions::exact_elimination)
      .def_readwrite("solve_lp_first", &ShardingOptions::solve_lp_first)
      .def_readwrite("integrality_tolerance", &ShardingOptions::integrality_tolerance)
      .def_readwrite("time_limit", &ShardingOptions::time_limit)
      .def_readwrite("relative_gap", &ShardingOptions::relative_gap)
      .def_readwrite("mps_file", &ShardingOptions::mps_file)
      .def_readwrite("weight_sync_scale", &ShardingOptions::weight_sync_scale)
      .def_readwrite("gradient_bucket_bytes", &ShardingOptions::gradient_bucket_bytes,
                     "Gradients all-reduced in buckets of this many bytes; 0 = each op's alone.");

  py::class_<OpSharding>(m, "OpSharding", "The sharding of one op in a plan.")
      .def_readonly("name", &OpSharding::name)
      .def_readonly("strategy", &OpSharding::strategy)
      .def_readonly("chosen", &OpSharding::chosen)
      .def_readonly("leader", &OpSharding::leader);

  py::class_<ShardingPlan>(m, "ShardingPlan", "Every op's sharding strategy on the mesh and the step's cost.")
      .def_readonly("ops", &ShardingPlan::ops)
      .def_readonly("termination", &ShardingPlan::termination)
      .def_readonly("message", &ShardingPlan::message)
      .def_readonly("objective", &ShardingPlan::objective)
      .def_readonly("compute_seconds", &ShardingPlan::compute_seconds)
      .def_readonly("communication_seconds", &ShardingPlan::communication_seconds)
      .def_readonly("weight_sync_seconds", &ShardingPlan::weight_sync_seconds)
      .def_readonly("resharding_seconds", &ShardingPlan::resharding_seconds)
      .def_readonly("best_bound", &ShardingPlan::best_bound)
      .def_readonly("memory_bytes", &ShardingPlan::memory_bytes)
      .def_readonly("peak_at", &ShardingPlan::peak_at)
      .def_readonly("memory_budget", &ShardingPlan::memory_budget)
      .def_readonly("method", &ShardingPlan::method)
      .def_readonly("build_seconds", &ShardingPlan::build_seconds)
      .def_readonly("solve_seconds", &ShardingPlan::solve_seconds)
      .def("brief_report", &ShardingPlan::BriefReport)
      .def("full_report", &ShardingPlan::FullReport)
      .def("__str__", &ShardingPlan::BriefReport);

  m.def(
      "shard",
      [](const Graph& graph, const Cluster& cluster, const Mesh& mesh, py::object cost_model,
         std::optional<ShardingOptions> options, const py::kwargs& fields) {
        ShardingOptions o = with_fields(std::move(options), fields);
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        const Graph g = graph;
        const Cluster c = cluster;
        Result<ShardingPlan> r = with_cost_model(cost, nullptr, [&] {
          py::gil_scoped_release release;
          return shard(g, c, mesh, *cost, o);
        });
        return unwrap(std::move(r));
      },
      py::arg("graph"), py::arg("cluster"), py::arg("mesh"), py::arg("cost_model") = py::none(),
      py::arg("options") = py::none(),
      "Alpa's intra-operator sharding of every op on a mesh (make_mesh(cluster, rows, cols)). Fields of "
      "ShardingOptions may be given as keywords.");

  // ---- stages ----
  py::class_<SubmeshShape> submesh(m, "SubmeshShape", "`hosts` nodes of `devices` devices each.");
  def_kwargs_init<SubmeshShape>(submesh);
  submesh.def_readwrite("hosts", &SubmeshShape::hosts)
      .def_readwrite("devices", &SubmeshShape::devices)
      .def("size", &SubmeshShape::size)
      .def(py::self == py::self);

  def_enum<Recompute>(m, "Recompute", "Activation recomputation policy of plan_stages().",
                      [](const std::string& s) -> std::optional<Recompute> {
                        if (s == "never") return Recompute::kNever;
                        if (s == "always") return Recompute::kAlways;
                        if (s == "auto") return Recompute::kAuto;
                        return std::nullopt;
                      })
      .value("NEVER", Recompute::kNever)
      .value("ALWAYS", Recompute::kAlways)
      .value("AUTO", Recompute::kAuto);

  py::class_<StageOptions> stopts(m, "StageOptions", "Options of plan_stages() (stages.hpp).");
  def_kwargs_init<StageOptions>(stopts);
  stopts.def_readwrite("num_microbatches", &StageOptions::num_microbatches)
      .def_readwrite("num_layers", &StageOptions::num_layers)
      .def_readwrite("clustering_epsilon", &StageOptions::clustering_epsilon)
      .def_readwrite("submesh_shapes", &StageOptions::submesh_shapes)
      .def_readwrite("all_logical_meshes", &StageOptions::all_logical_meshes)
      .def_readwrite("t_max_gap", &StageOptions::t_max_gap)
      .def_readwrite("recompute", &StageOptions::recompute)
      .def_readwrite("gradient_bucket_bytes", &StageOptions::gradient_bucket_bytes,
                     "A stage's gradients all-reduced in buckets behind its backward; 0 = each op's alone, exposed.")
      .def_readwrite("sharding", &StageOptions::sharding);

  py::class_<Stage>(m, "Stage", "One pipeline stage: its layers, ops, submesh, logical mesh, latency and memory.")
      .def_readonly("first_layer", &Stage::first_layer)
      .def_readonly("last_layer", &Stage::last_layer)
      .def_readonly("ops", &Stage::ops)
      .def_readonly("submesh", &Stage::submesh)
      .def_readonly("mesh", &Stage::mesh)
      .def_readonly("least_memory_sharding", &Stage::least_memory_sharding)
      .def_readonly("latency", &Stage::latency)
      .def_readonly("parameter_bytes", &Stage::parameter_bytes)
      .def_readonly("activation_bytes", &Stage::activation_bytes)
      .def_readonly("microbatches_in_flight", &Stage::microbatches_in_flight)
      .def_readonly("memory_bytes", &Stage::memory_bytes)
      .def_readonly("recomputed_layers", &Stage::recomputed_layers)
      .def_readonly("recompute_seconds", &Stage::recompute_seconds)
      .def_readonly("recompute_peak_bytes", &Stage::recompute_peak_bytes);

  py::class_<StagePlan>(m, "StagePlan", "Stages with submeshes and logical meshes (Alpa's inter-operator pass).")
      .def_readonly("layers", &StagePlan::layers)
      .def_readonly("stages", &StagePlan::stages)
      .def_readonly("num_microbatches", &StagePlan::num_microbatches)
      .def_readonly("iteration_seconds", &StagePlan::iteration_seconds)
      .def_readonly("max_stage_seconds", &StagePlan::max_stage_seconds)
      .def_readonly("device_memory", &StagePlan::device_memory)
      .def_readonly("planning_seconds", &StagePlan::planning_seconds)
      .def_readonly("costing_seconds", &StagePlan::costing_seconds)
      .def_readonly("num_shard_calls", &StagePlan::num_shard_calls)
      .def_readonly("num_t_max_tried", &StagePlan::num_t_max_tried)
      .def("num_recomputed_layers", &StagePlan::num_recomputed_layers)
      .def("brief_report", &StagePlan::BriefReport)
      .def("full_report", &StagePlan::FullReport)
      .def("__str__", &StagePlan::BriefReport);

  m.def(
      "cluster_layers",
      [](const Graph& graph, int num_layers, double epsilon) { return unwrap(cluster_layers(graph, num_layers, epsilon)); },
      py::arg("graph"), py::arg("num_layers"), py::arg("epsilon") = 0.5);
  m.def(
      "plan_stages",
      [](const Graph& graph, const Cluster& cluster, py::object cost_model, std::optional<StageOptions> options,
         const py::kwargs& fields) {
        StageOptions o = with_fields(std::move(options), fields);
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        const Graph g = graph;
        const Cluster c = cluster;
        Result<StagePlan> r = with_cost_model(cost, nullptr, [&] {
          py::gil_scoped_release release;
          return plan_stages(g, c, *cost, o);
        });
        return unwrap(std::move(r));
      },
      py::arg("graph"), py::arg("cluster"), py::arg("cost_model") = py::none(), py::arg("options") = py::none(),
      "Alpa's stage / submesh dynamic programme. Fields of StageOptions may be given as keywords.");

  // ---- search_parallel_configs() ----
  py::class_<ConfigSearchOptions> copts(m, "ConfigSearchOptions", "Options of search_parallel_configs() (config_search.hpp).");
  def_kwargs_init<ConfigSearchOptions>(copts);
  copts.def_readwrite("global_batch", &ConfigSearchOptions::global_batch, "Samples per iteration; 0 = micro_batches x the graph's samples.")
      .def_readwrite("micro_batches", &ConfigSearchOptions::micro_batches)
      .def_readwrite("max_tp", &ConfigSearchOptions::max_tp, "0 = the devices of the largest node.")
      .def_readwrite("max_cp", &ConfigSearchOptions::max_cp)
      .def_readwrite("max_micro_batch_size", &ConfigSearchOptions::max_micro_batch_size)
      .def_readwrite("schedules", &ConfigSearchOptions::schedules, "Empty = every schedule.")
      .def_readwrite("max_vpp", &ConfigSearchOptions::max_vpp)
      .def_readwrite("max_zero", &ConfigSearchOptions::max_zero)
      .def_readwrite("recompute", &ConfigSearchOptions::recompute, "Empty = none, selective, full.")
      .def_readwrite("flash_attention", &ConfigSearchOptions::flash_attention)
      .def_readwrite("overlap_tp_comm", &ConfigSearchOptions::overlap_tp_comm)
      .def_readwrite("overlap_grad_reduce", &ConfigSearchOptions::overlap_grad_reduce)
      .def_readwrite("overlap_param_gather", &ConfigSearchOptions::overlap_param_gather)
      .def_readwrite("memory_cap", &ConfigSearchOptions::memory_cap)
      .def_readwrite("threads", &ConfigSearchOptions::threads, "0 = the machine's cores; the result does not depend on it.")
      .def_readwrite("keep", &ConfigSearchOptions::keep)
      .def_readwrite("time_limit", &ConfigSearchOptions::time_limit)
      .def_readwrite("references", &ConfigSearchOptions::references)
      .def_readwrite("evaluate", &ConfigSearchOptions::evaluate)
      .def(
          "validate", [](const ConfigSearchOptions& o) { check_valid(o); },
          "Raises opplan.InvalidArgumentError naming the field when a value is out of range.");
  py::class_<ConfigCandidate>(m, "ConfigCandidate", "One configuration the search evaluated, with why it lost.")
      .def_readonly("config", &ConfigCandidate::config)
      .def_readonly("iteration_seconds", &ConfigCandidate::iteration_seconds)
      .def_readonly("lower_bound", &ConfigCandidate::lower_bound)
      .def_readonly("memory_bytes", &ConfigCandidate::memory_bytes)
      .def_readonly("capacity_bytes", &ConfigCandidate::capacity_bytes)
      .def_readonly("fits", &ConfigCandidate::fits)
      .def_readonly("breakdown", &ConfigCandidate::breakdown)
      .def_readonly("memory_problem", &ConfigCandidate::memory_problem)
      .def_readonly("verdict", &ConfigCandidate::verdict);
  py::class_<ConfigSearchResult>(m, "ConfigSearchResult", "The chosen configuration, its runners-up and the search's counts.")
      .def_readonly("best", &ConfigSearchResult::best)
      .def_readonly("ranked", &ConfigSearchResult::ranked)
      .def_readonly("too_big", &ConfigSearchResult::too_big)
      .def_readonly("references", &ConfigSearchResult::references)
      .def_readonly("data_parallel", &ConfigSearchResult::data_parallel)
      .def_readonly("global_batch", &ConfigSearchResult::global_batch)
      .def_readonly("lower_bound", &ConfigSearchResult::lower_bound)
      .def_readonly("enumerated", &ConfigSearchResult::enumerated)
      .def_readonly("pruned_memory", &ConfigSearchResult::pruned_memory)
      .def_readonly("pruned_bound", &ConfigSearchResult::pruned_bound)
      .def_readonly("evaluated", &ConfigSearchResult::evaluated)
      .def_readonly("failed", &ConfigSearchResult::failed)
      .def_readonly("complete", &ConfigSearchResult::complete)
      .def_readonly("seconds", &ConfigSearchResult::seconds)
      .def("brief_report", &ConfigSearchResult::BriefReport)
      .def("comparison_report", &ConfigSearchResult::ComparisonReport)
      .def("full_report", &ConfigSearchResult::FullReport)
      .def("__str__", &ConfigSearchResult::BriefReport);
  m.def(
      "search_parallel_configs",
      [](const Graph& graph, const Cluster& cluster, py::object cost_model, std::optional<ConfigSearchOptions> options,
         const py::kwargs& fields) {
        ConfigSearchOptions o = with_fields(std::move(options), fields);
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        const Graph g = graph;
        const Cluster c = cluster;
        Result<ConfigSearchResult> r = with_cost_model(cost, nullptr, [&] {
          py::gil_scoped_release release;
          return search_parallel_configs(g, c, *cost, o);
        });
        return unwrap(std::move(r));
      },
      py::arg("graph"), py::arg("cluster"), py::arg("cost_model") = py::none(), py::arg("options") = py::none(),
      "The fastest ParallelConfig that fits (DP + ZeRO, TP + SP, CP, EP, PP + VPP and schedule, micro-batch, "
      "recomputation), every candidate judged by evaluate(). Fields of ConfigSearchOptions may be given as keywords "
      "(global_batch=64).");
  m.def(
      "megatron_command",
      [](const ParallelConfig& c, int num_layers) {
        const MegatronCommand m = megatron_command(c, num_layers);
        return py::make_tuple(m.args, m.notes);
      },
      py::arg("config"), py::arg("num_layers") = 0,
      "A ParallelConfig as Megatron-LM flags: (args, notes on what the line cannot express).");
  m.def("deepspeed_config_json", &deepspeed_config_json, py::arg("config"), py::arg("dtype") = DType::kBF16,
        py::arg("indent") = 2, "The data-parallel side of a ParallelConfig as a DeepSpeed JSON config.");

  // ---- plan() ----
  py::class_<PlanOptions> options(m, "PlanOptions",
                                  "Options of plan(). The cost model, progress callback, stop flag and score function "
                                  "are arguments of plan() itself.");
  def_kwargs_init<PlanOptions>(options);
  options.def_readwrite("strategy", &PlanOptions::strategy)
      .def_readwrite("micro_batches", &PlanOptions::micro_batches)
      .def_readwrite("objective", &PlanOptions::objective)
      .def_readwrite("time_limit", &PlanOptions::time_limit, "Seconds: a safety cap (the search is bounded by counts).")
      .def_readwrite("relative_gap", &PlanOptions::relative_gap)
      .def_readwrite("memory_cap", &PlanOptions::memory_cap, "Bytes per device; None = each device's memory.")
      .def_readwrite("seed", &PlanOptions::seed)
      .def_readwrite("global_batch", &PlanOptions::global_batch,
                     "parallel-config: samples per iteration; 0 = micro_batches x the graph's samples.")
      .def_readwrite("threads", &PlanOptions::threads, "parallel-config: search threads; 0 = the machine's cores.")
      .def_readwrite("parallel_config", &PlanOptions::parallel_config, "Knobs of the parallel-config search.")
      .def_readwrite("operator_level", &PlanOptions::operator_level)
      .def(
          "validate", [](const PlanOptions& o) { check_valid(o); },
          "Raises opplan.InvalidArgumentError naming the field when a value is out of range.");

  py::class_<PlanStep>(m, "PlanStep", "One step of plan() and the seconds it took.")
      .def_readonly("name", &PlanStep::name)
      .def_readonly("seconds", &PlanStep::seconds)
      .def_readonly("outcome", &PlanStep::outcome);

  py::class_<PlanSummary>(m, "PlanSummary", "How plan() went: strategy, iteration time, bound, termination, steps.")
      .def_readonly("strategy", &PlanSummary::strategy)
      .def_readonly("graph", &PlanSummary::graph)
      .def_readonly("cluster", &PlanSummary::cluster)
      .def_readonly("devices", &PlanSummary::devices)
      .def_readonly("micro_batches", &PlanSummary::micro_batches)
      .def_readonly("iteration_seconds", &PlanSummary::iteration_seconds)
      .def_readonly("lower_bound", &PlanSummary::lower_bound)
      .def_readonly("gap", &PlanSummary::gap)
      .def_readonly("verified", &PlanSummary::verified)
      .def_readonly("termination", &PlanSummary::termination)
      .def_readonly("message", &PlanSummary::message)
      .def_readonly("steps", &PlanSummary::steps)
      .def_readonly("total_seconds", &PlanSummary::total_seconds)
      .def_readonly("device_lines", &PlanSummary::device_lines)
      .def("brief_report", &PlanSummary::BriefReport)
      .def("full_report", &PlanSummary::FullReport)
      .def("__str__", &PlanSummary::BriefReport);

  py::class_<Plan>(m, "Plan",
                   "A verified plan: per-op placement and sharding, the stages (hierarchical plans), the schedule, "
                   "the iteration time and its lower bound, and the summary.")
      .def_readonly("strategy", &Plan::strategy)
      .def_readonly("placement", &Plan::placement)
      .def_readonly("sharding", &Plan::sharding)
      .def_readonly("stages", &Plan::stages)
      .def_readonly("schedule", &Plan::schedule)
      .def_readonly("iteration_seconds", &Plan::iteration_seconds)
      .def_readonly("lower_bound", &Plan::lower_bound)
      .def_readonly("gap", &Plan::gap)
      .def_readonly("verified", &Plan::verified)
      .def_readonly("summary", &Plan::summary)
      .def_property_readonly(
          "parallel_config",
          [](const Plan& p) -> std::optional<ParallelConfig> {
            if (!p.configs) return std::nullopt;
            return p.configs->best.config;
          },
          "parallel-config plans: the chosen ParallelConfig (None otherwise).")
      .def_property_readonly(
          "evaluation",
          [](const Plan& p) -> std::optional<Evaluation> {
            if (!p.configs) return std::nullopt;
            return p.configs->best;
          },
          "parallel-config plans: evaluate() of the chosen configuration (None otherwise).")
      .def_property_readonly(
          "search_report",
          [](const Plan& p) -> std::optional<std::string> {
            if (!p.configs) return std::nullopt;
            return p.configs->FullReport();
          },
          "parallel-config plans: the search's report with the runners-up and plain DP (None otherwise).")
      .def_property_readonly("termination", [](const Plan& p) { return p.summary.termination; })
      .def("brief_report", [](const Plan& p) { return p.summary.BriefReport(); })
      .def("full_report", [](const Plan& p) { return p.summary.FullReport(); })
      .def("__str__", [](const Plan& p) { return p.summary.BriefReport(); })
      .def("__repr__", [](const Plan& p) { return "<opplan.Plan: " + p.summary.BriefReport() + ">"; });

  m.def(
      "plan",
      [](const Graph& graph, const Cluster& cluster, std::optional<PlanOptions> options, py::object cost_model,
         py::object progress, StopFlag* stop, py::object score, double progress_interval, const py::kwargs& fields) {
        PlanOptions o = with_fields(std::move(options), fields);
        std::unique_ptr<CostModel> fallback;
        const CostModel* cost = cost_model_of(cost_model, fallback);
        o.cost_model = cost;
        Monitored mon(std::move(progress), stop, progress_interval, cost);
        o.monitor = mon.monitor();
        o.score = mon.score(score);
        const Graph g = graph;  // a Python thread may change the caller's objects while this one plans
        const Cluster c = cluster;
        return mon.run<Plan>([&] { return plan(g, c, o); });
      },
      py::arg("graph"), py::arg("cluster"), py::arg("options") = py::none(), py::kw_only(),
      py::arg("cost_model") = py::none(), py::arg("progress") = py::none(), py::arg("stop") = nullptr,
      py::arg("score") = py::none(), py::arg("progress_interval") = 0.2,
      R"doc(Plans one training iteration of `graph` on `cluster` and returns a verified Plan.

options: a PlanOptions; its fields may also be given as keywords (micro_batches=4, strategy="hierarchical").
cost_model: a CostModel (a Python subclass works); default AnalyticCostModel().
progress: called with a PlanProgress on the planning thread, at most every progress_interval seconds
  (improvements always); raising KeyboardInterrupt in it stops the search like Ctrl-C does.
stop: a StopFlag another thread may set to stop the search.
score: Schedule -> float, a custom objective for the operator-level strategy (smaller is better).

The GIL is released while planning. Ctrl-C (or KeyboardInterrupt from a callback) stops the search and
returns the best plan found so far (plan.termination == PlanTermination.STOPPED); KeyboardInterrupt is
raised only when no plan was found yet. Another exception raised by a callback or a cost model stops the
search and is raised here. A graph, cluster or options the library rejects raise opplan.Error.)doc");
}

}  // namespace opplan::python
