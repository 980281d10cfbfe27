// evaluation_to_json(): an Evaluation as one JSON object (docs/file-formats.md, "Evaluation").
#include <opplan/evaluate.hpp>

#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

void write_memory(detail::JsonWriter& w, const MemoryBreakdown& m) {
  w.field("weights", m.weights).field("gradients", m.gradients).field("optimizer", m.optimizer);
  w.field("activations", m.activations).field("buffers", m.buffers).field("reserve", m.reserve);
  w.field("total", m.total());
}

void write_config(detail::JsonWriter& w, const ParallelConfig& c) {
  w.key("config").begin_object(detail::JsonWriter::Layout::kOneLine);
  w.field("dp", c.dp).field("tp", c.tp).field("pp", c.pp).field("vpp", c.vpp).field("ep", c.ep).field("cp", c.cp);
  w.field("zero", c.zero).key("sequence_parallel").boolean(c.sequence_parallel);
  w.field("micro_batch_size", c.micro_batch_size).field("global_batch", c.effective_global_batch());
  w.field("recompute", to_string(c.recompute)).field("schedule", to_string(c.schedule));
  w.end_object();
}

}  // namespace

std::string evaluation_to_json(const Evaluation& e, int indent) {
  using Layout = detail::JsonWriter::Layout;
  detail::JsonWriter w(indent);
  w.begin_object();
  w.field("format", "opplan.evaluation").field("version", 1).field("description", e.config.ToString());
  write_config(w, e.config);
  w.field("devices", e.num_devices).field("micro_batches", e.num_micro_batches);
  w.field("iteration_seconds", e.iteration_seconds).field("samples_per_second", e.samples_per_second);
  w.field("tokens_per_second", e.tokens_per_second).field("mfu", e.mfu).field("hfu", e.hfu);
  w.field("model_tflops_per_device", e.model_tflops_per_device());
  w.field("hardware_tflops_per_device", e.hardware_tflops_per_device());
  w.key("memory_bytes").begin_object(Layout::kOneLine);
  write_memory(w, e.peak_memory);
  double capacity = 0;
  for (const StageEvaluation& s : e.stages)
    if (s.memory.total() == e.peak_memory.total()) capacity = s.capacity;
  w.field("capacity", capacity).end_object();
  w.key("fits").boolean(e.fits);
  if (!e.fits) w.field("memory_problem", e.memory_problem);
  const TimeBreakdown& b = e.breakdown;
  w.key("breakdown").begin_object(Layout::kOneLine);
  w.field("compute", b.compute).field("communication", b.communication()).field("tp", b.tp_comm);
  w.field("cp", b.cp_comm).field("ep", b.ep_comm).field("dp", b.dp_comm).field("bubble", b.bubble);
  w.field("recompute", b.recompute).field("optimizer", b.optimizer).end_object();
  w.key("stages").begin_array();
  for (const StageEvaluation& s : e.stages) {
    w.begin_object(Layout::kOneLine);
    w.field("rank", s.rank).field("layers", s.layers).field("forward", s.forward).field("backward", s.backward);
    w.field("finish", s.finish).field("dp_seconds", s.dp_seconds).field("dp_exposed", s.dp_exposed);
    w.field("micro_batches_in_flight", s.peak_micro_batches).field("memory_total", s.memory.total());
    w.field("capacity", s.capacity).key("fits").boolean(s.fits());
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.finish();
}

OPPLAN_END_NAMESPACE
