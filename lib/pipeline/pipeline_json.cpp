// PipelineSpec files (docs/pipeline-schedules.md):
// {"format": "opplan.pipeline", "version": 1, "name", "devices", "micro_batches", "placement",
//  "chunks", "routes", "stage", "stages", "memory_cap"}.
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <opplan/pipeline.hpp>

#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::Json;
using detail::JsonObject;
using detail::JsonPath;
using detail::JsonWriter;

constexpr std::string_view kFormat = "opplan.pipeline";

constexpr std::string_view kRootFields[] = {"format", "version", "name",  "devices", "micro_batches", "placement",
                                            "chunks", "routes",  "stage", "stages",  "memory_cap"};
enum RootField : std::size_t {
  kRootFormat, kRootVersion, kRootName, kRootDevices, kRootMicroBatches, kRootPlacement, kRootChunks, kRootRoutes,
  kRootStage, kRootStages, kRootMemoryCap
};

constexpr std::string_view kStageFields[] = {"forward",    "input_grad",       "weight_grad",
                                             "backward",   "forward_backward", "p2p",
                                             "activation", "input_grad_frees", "params"};
enum StageField : std::size_t {
  kForward, kInputGrad, kWeightGrad, kBackward, kForwardBackward, kP2p, kActivation, kInputGradFrees, kParams
};

constexpr int kMaxCount = 1 << 20;

// Reads the fields present in `value` over `stage` (the defaults).
void read_stage(detail::JsonReader& reader, Json& value, const JsonPath& path, StageSpec& stage) {
  JsonObject o(reader, value, path, kStageFields);
  const auto set = [&](std::size_t field, double& target) {
    if (auto v = o.optional_number(field)) target = *v;
  };
  set(kForward, stage.forward);
  set(kInputGrad, stage.input_grad);
  set(kWeightGrad, stage.weight_grad);
  if (auto v = o.optional_number(kBackward)) stage.backward = *v;
  if (auto v = o.optional_number(kForwardBackward)) stage.forward_backward = *v;
  set(kP2p, stage.p2p);
  set(kActivation, stage.activation);
  set(kInputGradFrees, stage.input_grad_frees);
  set(kParams, stage.params);
}

Result<PipelineSpec> read_spec(std::string_view text, std::string_view source) {
  detail::JsonReader reader(source);
  auto doc = detail::parse_json(reader, text);
  if (!doc) return reader.status();
  {
    detail::JsonReader header(source);
    if (!detail::check_header(header, *doc, kFormat, kPipelineFormatVersion, "pipeline")) return header.status();
  }
  const JsonPath root_path;
  JsonObject root(reader, *doc, root_path, kRootFields);
  PipelineSpec spec;
  spec.name = root.string(kRootName);
  const auto devices = root.integer(kRootDevices, 1, kMaxCount);
  if (!root.find(kRootDevices)) root.require(kRootDevices);
  const auto micro_batches = root.integer(kRootMicroBatches, 1, 1 << 30);
  if (!root.find(kRootMicroBatches)) root.require(kRootMicroBatches);
  spec.num_devices = static_cast<int>(devices.value_or(0));
  spec.num_micro_batches = static_cast<int>(micro_batches.value_or(0));
  const std::string placement = root.string(kRootPlacement, root.find(kRootRoutes) ? "custom" : "linear");
  if (auto p = parse_placement(placement)) {
    spec.placement = *p;
  } else {
    reader.add(StatusCode::kInvalidArgument, root.field_path(kRootPlacement),
               fmt::format("unknown placement '{}' (known: linear, interleaved, dualpipe, v, custom)", placement));
  }
  if (auto chunks = root.integer(kRootChunks, 1, kMaxCount)) spec.chunks = static_cast<int>(*chunks);

  // Routes: explicit, or those of the placement.
  if (Json::array_t* routes = root.array(kRootRoutes, spec.placement == Placement::kCustom)) {
    const JsonPath routes_path = root.field_path(kRootRoutes);
    for (std::size_t r = 0; r < routes->size(); ++r) {
      const JsonPath route_path(routes_path, r);
      std::vector<int> route;
      if (Json::array_t* list = reader.array((*routes)[r], route_path))
        for (std::size_t s = 0; s < list->size(); ++s)
          route.push_back(
              static_cast<int>(reader.integer((*list)[s], JsonPath(route_path, s), 0, kMaxCount).value_or(0)));
      spec.routes.push_back(std::move(route));
    }
  }
  if (reader.has_problems()) return reader.status();
  if (spec.placement != Placement::kCustom) {
    auto derived = placement_routes(spec.placement, spec.num_devices, spec.chunks);
    if (!derived.ok()) {
      reader.add(StatusCode::kInvalidArgument, root.field_path(kRootPlacement), derived.status().message());
      return reader.status();
    }
    if (!spec.routes.empty() && spec.routes != *derived) {
      reader.add(
          StatusCode::kInvalidArgument, root.field_path(kRootRoutes),
          fmt::format("differ from the routes of the '{}' placement (use \"placement\": \"custom\" for your own)",
                      to_string(spec.placement)));
      return reader.status();
    }
    spec.routes = std::move(*derived);
  }
  if (spec.routes.empty()) {
    reader.add(StatusCode::kInvalidArgument, root.field_path(kRootRoutes), "at least one route is needed");
    return reader.status();
  }
  const std::size_t num_stages = spec.routes.front().size();

  // Stages: the common "stage" object, overridden per stage by "stages".
  StageSpec common;
  if (Json* stage = root.find(kRootStage)) read_stage(reader, *stage, root.field_path(kRootStage), common);
  spec.stages.assign(num_stages, common);
  if (Json::array_t* stages = root.array(kRootStages, false)) {
    const JsonPath stages_path = root.field_path(kRootStages);
    if (stages->size() != num_stages)
      reader.add(StatusCode::kInvalidArgument, stages_path,
                 fmt::format("has {} stages, the placement has {}", stages->size(), num_stages));
    for (std::size_t s = 0; s < stages->size() && s < num_stages; ++s)
      read_stage(reader, (*stages)[s], JsonPath(stages_path, s), spec.stages[s]);
  }

  if (Json* cap = root.find(kRootMemoryCap)) {
    const JsonPath cap_path = root.field_path(kRootMemoryCap);
    if (cap->is_array()) {
      for (std::size_t d = 0; d < cap->size(); ++d)
        spec.memory_cap.push_back(reader.number((*cap)[d], JsonPath(cap_path, d)).value_or(0));
    } else if (auto v = reader.number(*cap, cap_path)) {
      spec.memory_cap.push_back(*v);
    }
  }
  if (reader.has_problems()) return reader.status();
  if (Status s = spec.validate(); !s.ok()) return s.with_context(source);
  return spec;
}

void write_stage(JsonWriter& w, const StageSpec& s) {
  w.begin_object(JsonWriter::Layout::kOneLine);
  w.field("forward", s.forward).field("input_grad", s.input_grad).field("weight_grad", s.weight_grad);
  if (s.backward) w.field("backward", *s.backward);
  if (s.forward_backward) w.field("forward_backward", *s.forward_backward);
  if (s.p2p != 0) w.field("p2p", s.p2p);
  w.field("activation", s.activation);
  if (s.input_grad_frees != 0) w.field("input_grad_frees", s.input_grad_frees);
  if (s.params != 0) w.field("params", s.params);
  w.end_object();
}

}  // namespace

Result<PipelineSpec> parse_pipeline_spec_json(std::string_view text, std::string_view source) {
  return detail::parse_guarded<PipelineSpec>(source, "pipeline spec", [&] { return read_spec(text, source); });
}

Result<PipelineSpec> read_pipeline_spec_json(const std::string& path) {
  return detail::read_json_file<PipelineSpec>(path, parse_pipeline_spec_json);
}

std::string pipeline_spec_to_json(const PipelineSpec& spec, int indent) {
  JsonWriter w(indent);
  w.begin_object();
  w.field("format", kFormat).field("version", kPipelineFormatVersion);
  if (!spec.name.empty()) w.field("name", spec.name);
  w.field("devices", spec.num_devices).field("micro_batches", spec.num_micro_batches);
  w.field("placement", to_string(spec.placement));
  if (spec.placement == Placement::kInterleaved) w.field("chunks", spec.chunks);
  if (spec.placement == Placement::kCustom) {
    w.key("routes").begin_array();
    for (const auto& route : spec.routes) {
      w.begin_array(JsonWriter::Layout::kWrapped);
      for (int d : route) w.value(d);
      w.end_array();
    }
    w.end_array();
  }
  const bool uniform =
      !spec.stages.empty() &&
      std::all_of(spec.stages.begin(), spec.stages.end(), [&](const StageSpec& s) { return s == spec.stages.front(); });
  if (uniform) {
    w.key("stage");
    write_stage(w, spec.stages.front());
  } else {
    w.key("stages").begin_array();
    for (const StageSpec& s : spec.stages) write_stage(w, s);
    w.end_array();
  }
  if (spec.memory_cap.size() == 1) {
    w.field("memory_cap", spec.memory_cap.front());
  } else if (!spec.memory_cap.empty()) {
    w.key("memory_cap").begin_array(JsonWriter::Layout::kWrapped);
    for (double c : spec.memory_cap) w.value(c);
    w.end_array();
  }
  w.end_object();
  return w.finish();
}

Status write_pipeline_spec_json(const PipelineSpec& spec, const std::string& path, int indent) {
  return detail::write_text_file(path, pipeline_spec_to_json(spec, indent));
}

OPPLAN_END_NAMESPACE
