// Bindings: the training vocabulary, ParallelConfig, evaluate() and the framework parsers
// (training.hpp, parallel_config.hpp, evaluate.hpp).
#include <opplan/evaluate.hpp>
#include <opplan/models.hpp>
#include <opplan/parallel_config.hpp>
#include <opplan/training.hpp>

#include "bindings.hpp"

namespace opplan::python {

void bind_training(py::module_& m) {
  def_enum<Optimizer>(m, "Optimizer", "Training memory per parameter (training.hpp).", parse_optimizer)
      .value("ADAM", Optimizer::kAdam)
      .value("SGD", Optimizer::kSgd)
      .value("SGD_MOMENTUM", Optimizer::kSgdMomentum)
      .value("CUSTOM", Optimizer::kCustom);
  def_enum<ActivationRecompute>(m, "ActivationRecompute", "Activation recomputation policy.",
                                parse_activation_recompute)
      .value("NONE", ActivationRecompute::kNone)
      .value("SELECTIVE", ActivationRecompute::kSelective)
      .value("FULL", ActivationRecompute::kFull);
  def_enum<PipelineSchedule>(m, "PipelineSchedule", "The schedule of a ParallelConfig's pipeline.",
                             parse_pipeline_schedule)
      .value("GPIPE", PipelineSchedule::kGPipe)
      .value("ONE_F_ONE_B", PipelineSchedule::k1F1B)
      .value("INTERLEAVED", PipelineSchedule::kInterleaved)
      .value("ZB_H1", PipelineSchedule::kZBH1)
      .value("ZBV", PipelineSchedule::kZBV)
      .value("DUALPIPE", PipelineSchedule::kDualPipe)
      .value("DUALPIPEV", PipelineSchedule::kDualPipeV);

  py::class_<MemoryBreakdown> memory(m, "MemoryBreakdown", "Memory of one device, bytes, by what fills it.");
  def_kwargs_init<MemoryBreakdown>(memory);
  memory.def_readwrite("weights", &MemoryBreakdown::weights)
      .def_readwrite("gradients", &MemoryBreakdown::gradients)
      .def_readwrite("optimizer", &MemoryBreakdown::optimizer)
      .def_readwrite("activations", &MemoryBreakdown::activations)
      .def_readwrite("buffers", &MemoryBreakdown::buffers)
      .def_readwrite("reserve", &MemoryBreakdown::reserve)
      .def_property_readonly("total", &MemoryBreakdown::total)
      .def("largest", &MemoryBreakdown::largest)
      .def("__str__", &MemoryBreakdown::ToString);
}

void bind_evaluate(py::module_& m) {
  py::class_<ParallelConfig> config(m, "ParallelConfig",
                                    "DP (+ZeRO) x TP (+SP) x PP (+VPP, schedule) x EP x CP, batch and recomputation.");
  def_kwargs_init<ParallelConfig>(config);
  config.def_readwrite("dp", &ParallelConfig::dp)
      .def_readwrite("tp", &ParallelConfig::tp)
      .def_readwrite("pp", &ParallelConfig::pp)
      .def_readwrite("vpp", &ParallelConfig::vpp)
      .def_readwrite("ep", &ParallelConfig::ep)
      .def_readwrite("cp", &ParallelConfig::cp)
      .def_readwrite("zero", &ParallelConfig::zero)
      .def_readwrite("sequence_parallel", &ParallelConfig::sequence_parallel)
      .def_readwrite("micro_batch_size", &ParallelConfig::micro_batch_size)
      .def_readwrite("global_batch", &ParallelConfig::global_batch)
      .def_readwrite("recompute", &ParallelConfig::recompute)
      .def_readwrite("flash_attention", &ParallelConfig::flash_attention)
      .def_readwrite("schedule", &ParallelConfig::schedule)
      .def_readwrite("layers_per_stage", &ParallelConfig::layers_per_stage)
      .def_readwrite("overlap_grad_reduce", &ParallelConfig::overlap_grad_reduce)
      .def_readwrite("overlap_param_gather", &ParallelConfig::overlap_param_gather)
      .def_readwrite("overlap_tp_comm", &ParallelConfig::overlap_tp_comm)
      .def_property_readonly("num_devices", &ParallelConfig::num_devices)
      .def_property_readonly("num_micro_batches", &ParallelConfig::num_micro_batches)
      .def("validate", [](const ParallelConfig& c) { check(c.validate()); }, "Raises opplan.Error naming every problem.")
      .def("__str__", &ParallelConfig::ToString);

  py::class_<EvaluateOptions> eopts(m, "EvaluateOptions", "Options of evaluate() (evaluate.hpp).");
  def_kwargs_init<EvaluateOptions>(eopts);
  eopts.def_readwrite("reserve_bytes", &EvaluateOptions::reserve_bytes)
      .def_readwrite("fragmentation", &EvaluateOptions::fragmentation)
      .def_readwrite("bucket_bytes", &EvaluateOptions::bucket_bytes)
      .def_readwrite("keep_schedule", &EvaluateOptions::keep_schedule);

  py::class_<TimeBreakdown>(m, "TimeBreakdown", "Seconds of one iteration on the rank that finishes last.")
      .def_readonly("compute", &TimeBreakdown::compute)
      .def_readonly("recompute", &TimeBreakdown::recompute)
      .def_readonly("tp_comm", &TimeBreakdown::tp_comm)
      .def_readonly("cp_comm", &TimeBreakdown::cp_comm)
      .def_readonly("ep_comm", &TimeBreakdown::ep_comm)
      .def_readonly("dp_comm", &TimeBreakdown::dp_comm)
      .def_readonly("bubble", &TimeBreakdown::bubble)
      .def_readonly("optimizer", &TimeBreakdown::optimizer)
      .def_property_readonly("communication", &TimeBreakdown::communication);

  py::class_<StageEvaluation>(m, "StageEvaluation", "One pipeline rank of an Evaluation.")
      .def_readonly("rank", &StageEvaluation::rank)
      .def_readonly("layers", &StageEvaluation::layers)
      .def_readonly("forward", &StageEvaluation::forward)
      .def_readonly("backward", &StageEvaluation::backward)
      .def_readonly("finish", &StageEvaluation::finish)
      .def_readonly("dp_seconds", &StageEvaluation::dp_seconds)
      .def_readonly("dp_exposed", &StageEvaluation::dp_exposed)
      .def_readonly("peak_micro_batches", &StageEvaluation::peak_micro_batches)
      .def_readonly("memory", &StageEvaluation::memory)
      .def_readonly("capacity", &StageEvaluation::capacity)
      .def_readonly("tightest_device", &StageEvaluation::tightest_device)
      .def_property_readonly("fits", &StageEvaluation::fits);

  py::class_<Evaluation>(m, "Evaluation", "The predicted time and memory of one ParallelConfig.")
      .def_readonly("config", &Evaluation::config)
      .def_readonly("num_devices", &Evaluation::num_devices)
      .def_readonly("num_micro_batches", &Evaluation::num_micro_batches)
      .def_readonly("iteration_seconds", &Evaluation::iteration_seconds)
      .def_readonly("samples_per_second", &Evaluation::samples_per_second)
      .def_readonly("tokens_per_second", &Evaluation::tokens_per_second)
      .def_readonly("model_flops", &Evaluation::model_flops)
      .def_readonly("hardware_flops", &Evaluation::hardware_flops)
      .def_readonly("mfu", &Evaluation::mfu)
      .def_readonly("hfu", &Evaluation::hfu)
      .def_readonly("breakdown", &Evaluation::breakdown)
      .def_readonly("stages", &Evaluation::stages)
      .def_readonly("peak_memory", &Evaluation::peak_memory)
      .def_readonly("fits", &Evaluation::fits)
      .def_readonly("memory_problem", &Evaluation::memory_problem)
      .def_readonly("pipeline", &Evaluation::pipeline)
      .def_readonly("schedule", &Evaluation::schedule)
      .def("brief_report", &Evaluation::BriefReport)
      .def("full_report", &Evaluation::FullReport)
      .def("to_json", [](const Evaluation& e, int indent) { return evaluation_to_json(e, indent); },
           py::arg("indent") = 2)
      .def("__str__", &Evaluation::BriefReport);

  m.def(
      "evaluate",
      [](const Graph& graph, const Cluster& cluster, const ParallelConfig& config, const CostModel* cost_model,
         std::optional<EvaluateOptions> options) {
        const AnalyticCostModel fallback;
        const CostModel& cm = cost_model ? *cost_model : fallback;
        Result<Evaluation> result = with_cost_model(cost_model, nullptr, [&] {
          py::gil_scoped_release release;
          return evaluate(graph, cluster, config, cm, options.value_or(EvaluateOptions{}));
        });
        return unwrap(std::move(result));
      },
      py::arg("graph"), py::arg("cluster"), py::arg("config"), py::arg("cost_model") = nullptr,
      py::arg("options") = py::none(),
      "The iteration time, throughput, MFU and per-device memory of a ParallelConfig (evaluate.hpp). Raises "
      "opplan.InvalidArgumentError naming what does not match; a configuration that does not fit is reported "
      "(fits, memory_problem), not raised.");

  py::class_<MegatronLine>(m, "MegatronLine", "A Megatron-LM argument line's configuration and model.")
      .def_readonly("config", &MegatronLine::config)
      .def_readonly("model_spec", &MegatronLine::model_spec)
      .def_readonly("world_size", &MegatronLine::world_size);
  m.def(
      "parse_megatron_args", [](const std::string& line) { return unwrap(parse_megatron_args(line)); },
      py::arg("line"), "Reads a Megatron-LM argument line (parallel_config.hpp lists the flags).");
  m.def(
      "model_from_spec", [](const std::string& spec) { return unwrap(model_from_spec(spec)); }, py::arg("spec"),
      "A zoo model of any size: 'gpt:hidden=12288,layers=96,heads=96,seq=2048' (models.hpp lists the keys).");
}

}  // namespace opplan::python
