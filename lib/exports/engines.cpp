// Megatron-LM and DeepSpeed exports of a stage plan (plan_stages()).
//
// Both engines split a transformer at whole decoder layers, put the embedding on the first and the
// output layer / loss on the last pipeline stage, and run every stage on the same number of
// devices with one tensor-parallel and one data-parallel size. derive_parallel_layout() checks a
// plan against exactly those rules and reads the sizes off it; the two writers only spell them.
//
// Flag names are Megatron-LM's (megatron/training/arguments.py): --tensor-model-parallel-size,
// --pipeline-model-parallel-size, --num-layers, --micro-batch-size, --global-batch-size,
// --num-layers-per-virtual-pipeline-stage, --decoder-first-pipeline-num-layers /
// --decoder-last-pipeline-num-layers (the remaining layers split evenly over the middle stages)
// and the experimental --pipeline-model-parallel-layout ("E" embedding, "t" decoder layer, "L"
// loss, stages separated by "|", "t*3" repeats, commas cosmetic). DeepSpeed's names are its config
// keys (train_micro_batch_size_per_gpu, gradient_accumulation_steps, train_batch_size) and the
// arguments of deepspeed.pipe.PipelineModule(num_stages, partition_method) and
// PipeModelDataParallelTopology(num_pp, num_mp, num_dp).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <opplan/exports.hpp>
#include <string>
#include <vector>

OPPLAN_BEGIN_NAMESPACE

namespace {

using Json = nlohmann::ordered_json;

Status precondition(std::string message) { return Status(StatusCode::kFailedPrecondition, std::move(message)); }

Json layout_json(const ParallelLayout& l) {
  Json j;
  j["world_size"] = l.world_size;
  j["pipeline_parallel"] = l.pipeline_parallel;
  j["tensor_parallel"] = l.tensor_parallel;
  j["data_parallel"] = l.data_parallel;
  j["num_layers"] = l.num_layers;
  j["num_microbatches"] = l.num_microbatches;
  if (l.micro_batch_size > 0) {
    j["micro_batch_size"] = l.micro_batch_size;
    j["global_batch_size"] = l.global_batch_size;
  }
  j["virtual_stages"] = l.virtual_stages;
  j["uniform"] = l.uniform();
  Json stages = Json::array();
  for (const EngineStage& s : l.stages)
    stages.push_back({{"index", s.index},
                      {"num_layers", s.num_layers},
                      {"first_layer", s.first_layer},
                      {"last_layer", s.last_layer},
                      {"embedding", s.embedding},
                      {"head", s.head},
                      {"devices", s.devices},
                      {"logical_mesh", {s.mesh_rows, s.mesh_cols}}});
  j["stages"] = std::move(stages);
  j["moved"] = l.moved;
  return j;
}

}  // namespace

bool ParallelLayout::uniform() const {
  return std::all_of(stages.begin(), stages.end(),
                     [&](const EngineStage& s) { return s.num_layers == stages.front().num_layers; });
}

Result<ParallelLayout> derive_parallel_layout(const Graph& graph, const StagePlan& plan,
                                              const EngineExportOptions& options) {
  if (options.micro_batch_size < 0)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("micro_batch_size must be >= 0 (0 = unknown), got {}", options.micro_batch_size));
  if (options.virtual_stages < 1)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("virtual_stages must be >= 1, got {}", options.virtual_stages));
  if (options.tensor_parallel_axis != 0 && options.tensor_parallel_axis != 1)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("tensor_parallel_axis must be 0 or 1, got {}", options.tensor_parallel_axis));
  if (!(options.max_moved_fraction >= 0 && options.max_moved_fraction <= 0.5))
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("max_moved_fraction must be in [0, 0.5], got {}", options.max_moved_fraction));
  if (plan.stages.empty()) return Status(StatusCode::kInvalidArgument, "the stage plan has no stages");
  if (plan.num_microbatches < 1)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("the stage plan has {} micro-batches", plan.num_microbatches));

  ParallelLayout layout;
  layout.pipeline_parallel = static_cast<int>(plan.stages.size());
  layout.num_microbatches = plan.num_microbatches;
  layout.micro_batch_size = options.micro_batch_size;
  layout.virtual_stages = options.virtual_stages;

  // One device group shape for all stages.
  const Stage& first = plan.stages.front();
  for (std::size_t i = 0; i < plan.stages.size(); ++i) {
    const Stage& s = plan.stages[i];
    if (s.mesh.rows * s.mesh.cols != static_cast<int>(s.mesh.devices.size()) || s.mesh.devices.empty())
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("stage {}: its {}x{} logical mesh has {} devices", i, s.mesh.rows, s.mesh.cols,
                                s.mesh.devices.size()));
    if (s.mesh.rows != first.mesh.rows || s.mesh.cols != first.mesh.cols)
      return precondition(fmt::format(
          "stage {} runs on a {}x{} logical mesh ({} devices) but stage 0 on {}x{} ({} devices): Megatron-LM and "
          "DeepSpeed use one tensor-parallel and one data-parallel size for every pipeline stage",
          i, s.mesh.rows, s.mesh.cols, s.mesh.devices.size(), first.mesh.rows, first.mesh.cols,
          first.mesh.devices.size()));
  }
  layout.tensor_parallel = options.tensor_parallel_axis == 1 ? first.mesh.cols : first.mesh.rows;
  layout.data_parallel = options.tensor_parallel_axis == 1 ? first.mesh.rows : first.mesh.cols;
  layout.world_size = layout.pipeline_parallel * layout.tensor_parallel * layout.data_parallel;

  // Decoder layers: the Op::layer tags in order of first appearance. Alpa's clustering cuts at the
  // narrowest tensor, which on a transformer is a layer boundary or the residual stream after the
  // attention block, so a plan may cut inside a layer. A layer goes to the stage that holds most of
  // its work (F + b + W FLOPs): the cut is rounded to the nearest layer boundary, what that moves is
  // reported, and a layer with more than max_moved_fraction of its work elsewhere is an error.
  struct LayerInfo {
    std::string tag;
    std::vector<double> work;  // per stage
    std::vector<std::string> ops_on;  // per stage: the first op of the layer there
    double total = 0;
    int stage = -1;
  };
  std::vector<LayerInfo> layers;
  std::map<std::string, std::size_t> index_of;
  const std::size_t num_stages = plan.stages.size();
  for (std::size_t i = 0; i < num_stages; ++i) {
    const Stage& s = plan.stages[i];
    EngineStage es;
    es.index = static_cast<int>(i);
    es.devices = static_cast<int>(s.mesh.devices.size());
    es.mesh_rows = s.mesh.rows;
    es.mesh_cols = s.mesh.cols;
    layout.stages.push_back(std::move(es));
    for (OpId id : s.ops) {
      if (id.value() >= graph.num_ops())
        return Status(StatusCode::kInvalidArgument,
                      fmt::format("stage {} names op {} but graph '{}' has {} ops: the plan is not of this graph", i,
                                  id.value(), graph.name(), graph.num_ops()));
      const Op& op = graph.op(id);
      if (op.layer.empty()) continue;
      auto [it, inserted] = index_of.emplace(op.layer, layers.size());
      if (inserted) {
        LayerInfo info;
        info.tag = op.layer;
        info.work.assign(num_stages, 0.0);
        info.ops_on.assign(num_stages, std::string());
        layers.push_back(std::move(info));
      }
      LayerInfo& layer = layers[it->second];
      // Ops without FLOPs still count a little, so that a layer of zero-FLOP ops has a majority.
      const double work = op.forward.flops + op.input_grad.flops + op.weight_grad.flops + 1.0;
      layer.work[i] += work;
      layer.total += work;
      if (layer.ops_on[i].empty()) layer.ops_on[i] = op.name;
    }
  }
  if (layers.empty())
    return precondition(fmt::format("graph '{}' has no layer tags (Op::layer): the engines count decoder layers",
                                    graph.name()));
  int previous_stage = 0;
  for (LayerInfo& layer : layers) {
    layer.stage = static_cast<int>(std::max_element(layer.work.begin(), layer.work.end()) - layer.work.begin());
    const double moved = 1.0 - layer.work[static_cast<std::size_t>(layer.stage)] / layer.total;
    if (moved > options.max_moved_fraction) {
      std::string where;
      for (std::size_t i = 0; i < num_stages; ++i)
        if (layer.work[i] > 0)
          where += fmt::format("{}stage {} ({:.1f}%, from op '{}')", where.empty() ? "" : ", ", i,
                               100 * layer.work[i] / layer.total, layer.ops_on[i]);
      return precondition(fmt::format(
          "decoder layer '{}' is split between stages: {}; Megatron-LM and DeepSpeed cut the model at whole layers "
          "(at most {:.1f}% of a layer's work may move to the stage holding most of it)",
          layer.tag, where, 100 * options.max_moved_fraction));
    }
    if (layer.stage < previous_stage)
      return precondition(fmt::format("decoder layer '{}' is mostly on stage {} but an earlier layer is on stage {}: "
                                      "the layers are not in pipeline order",
                                      layer.tag, layer.stage, previous_stage));
    previous_stage = layer.stage;
    for (std::size_t i = 0; i < num_stages; ++i)
      if (static_cast<int>(i) != layer.stage && layer.work[i] > 0)
        layout.moved.push_back(fmt::format("layer '{}': its ops on stage {} from '{}' ({:.2f}% of its work) go to stage {}",
                                           layer.tag, i, layer.ops_on[i], 100 * layer.work[i] / layer.total,
                                           layer.stage));
    EngineStage& es = layout.stages[static_cast<std::size_t>(layer.stage)];
    if (es.num_layers == 0) es.first_layer = layer.tag;
    es.last_layer = layer.tag;
    ++es.num_layers;
  }
  layout.num_layers = static_cast<int>(layers.size());

  // Ops outside the decoder layers: before the first layer on stage 0 (embedding), after the last
  // one on the last stage (final norm, output layer, loss).
  // Ops outside the decoder layers, by their place in the graph's topological order: before the
  // first layer they must be on stage 0 (embedding), after the last one on the last stage (final
  // norm, output layer, loss).
  auto topo = graph.topological_order();
  if (!topo.ok()) return topo.status();
  std::vector<std::size_t> position(graph.num_ops());
  for (std::size_t k = 0; k < topo->size(); ++k) position[(*topo)[k].value()] = k;
  std::size_t first_layer_op = topo->size(), last_layer_op = 0;
  for (OpId id : *topo)
    if (!graph.op(id).layer.empty()) {
      first_layer_op = std::min(first_layer_op, position[id.value()]);
      last_layer_op = std::max(last_layer_op, position[id.value()]);
    }
  const std::string& first_tag = layers.front().tag;
  const std::string& last_tag = layers.back().tag;
  const int last_stage = layout.pipeline_parallel - 1;
  for (std::size_t i = 0; i < plan.stages.size(); ++i)
    for (OpId id : plan.stages[i].ops) {
      const Op& op = graph.op(id);
      if (!op.layer.empty()) continue;
      if (position[id.value()] < first_layer_op) {
        if (i != 0)
          return precondition(fmt::format("op '{}' comes before the first decoder layer '{}' but is on stage {}: the "
                                          "engines put the embedding on the first stage",
                                          op.name, first_tag, i));
        layout.stages[i].embedding = true;
      } else if (position[id.value()] > last_layer_op) {
        if (static_cast<int>(i) != last_stage)
          return precondition(fmt::format("op '{}' comes after the last decoder layer '{}' but is on stage {} of {}: "
                                          "the engines put the output layer and the loss on the last stage",
                                          op.name, last_tag, i, layout.pipeline_parallel));
        layout.stages[i].head = true;
      }
    }
  if (options.virtual_stages > 1) {
    const EngineStage& s0 = layout.stages.front();
    for (const EngineStage& s : layout.stages)
      if (s.num_layers != s0.num_layers || s.num_layers % options.virtual_stages != 0)
        return Status(StatusCode::kUnsupported,
                      fmt::format("stage {} holds {} decoder layers (stage 0: {}): {} virtual stages per rank need "
                                  "the same number of layers on every stage, divisible by {}",
                                  s.index, s.num_layers, s0.num_layers, options.virtual_stages, options.virtual_stages));
  }
  if (layout.micro_batch_size > 0)
    layout.global_batch_size = layout.micro_batch_size * layout.num_microbatches * layout.data_parallel;
  return layout;
}

std::string MegatronArgs::command_line() const {
  std::string out;
  for (const auto& [flag, value] : flags) {
    if (!out.empty()) out += ' ';
    out += flag;
    if (value.empty()) continue;
    const bool quote = value.find_first_of(" |*()") != std::string::npos;
    out += quote ? fmt::format(" \"{}\"", value) : " " + value;
  }
  return out;
}

Result<MegatronArgs> megatron_args(const Graph& graph, const StagePlan& plan, const EngineExportOptions& options) {
  auto layout = derive_parallel_layout(graph, plan, options);
  if (!layout.ok()) return layout.status();
  MegatronArgs args;
  args.layout = std::move(*layout);
  const ParallelLayout& l = args.layout;
  auto flag = [&](const char* name, const std::string& value) { args.flags.emplace_back(name, value); };
  flag("--tensor-model-parallel-size", std::to_string(l.tensor_parallel));
  flag("--pipeline-model-parallel-size", std::to_string(l.pipeline_parallel));
  flag("--num-layers", std::to_string(l.num_layers));
  if (l.micro_batch_size > 0) {
    flag("--micro-batch-size", std::to_string(l.micro_batch_size));
    flag("--global-batch-size", std::to_string(l.global_batch_size));
  }
  if (l.virtual_stages > 1)
    flag("--num-layers-per-virtual-pipeline-stage", std::to_string(l.stages.front().num_layers / l.virtual_stages));
  if (!l.uniform()) {
    const int pp = l.pipeline_parallel;
    bool middle_equal = true;
    for (int i = 2; i + 1 < pp; ++i)
      middle_equal = middle_equal && l.stages[static_cast<std::size_t>(i)].num_layers == l.stages[1].num_layers;
    // decoder-first / -last: the middle stages share the rest evenly, and each of them must hold at
    // least one layer for Megatron to accept it.
    if (middle_equal && (pp == 2 || l.stages[1].num_layers > 0) && l.stages.front().num_layers > 0 &&
        l.stages.back().num_layers > 0) {
      flag("--decoder-first-pipeline-num-layers", std::to_string(l.stages.front().num_layers));
      flag("--decoder-last-pipeline-num-layers", std::to_string(l.stages.back().num_layers));
    } else {
      std::string layout_text;
      for (const EngineStage& s : l.stages) {
        if (s.index > 0) layout_text += '|';
        std::vector<std::string> parts;
        if (s.embedding) parts.push_back("E");
        if (s.num_layers == 1) parts.push_back("t");
        if (s.num_layers > 1) parts.push_back(fmt::format("t*{}", s.num_layers));
        if (s.head) parts.push_back("L");
        for (std::size_t k = 0; k < parts.size(); ++k) layout_text += (k ? "," : "") + parts[k];
      }
      flag("--pipeline-model-parallel-layout", layout_text);
    }
  }
  return args;
}

std::string megatron_args_to_json(const MegatronArgs& args, int indent) {
  Json j;
  j["format"] = "opplan.megatron";
  j["layout"] = layout_json(args.layout);
  Json list = Json::array();
  for (const auto& [flag, value] : args.flags) {
    list.push_back(flag);
    if (!value.empty()) list.push_back(value);
  }
  j["args"] = std::move(list);
  Json by_name = Json::object();
  for (const auto& [flag, value] : args.flags) by_name[flag] = value;
  j["flags"] = std::move(by_name);
  j["command_line"] = args.command_line();
  return j.dump(indent);
}

Result<DeepSpeedConfig> deepspeed_config(const Graph& graph, const StagePlan& plan, const EngineExportOptions& options) {
  auto layout = derive_parallel_layout(graph, plan, options);
  if (!layout.ok()) return layout.status();
  const ParallelLayout& l = *layout;
  for (const EngineStage& s : l.stages)
    if (s.num_layers != l.stages.front().num_layers)
      return Status(StatusCode::kUnsupported,
                    fmt::format("stage {} holds {} decoder layers but stage 0 holds {}: DeepSpeed's PipelineModule "
                                "balances layers evenly (partition_method 'uniform', 'parameters' or 'type:REGEX') "
                                "and takes no explicit stage boundaries",
                                s.index, s.num_layers, l.stages.front().num_layers));
  if (l.virtual_stages > 1)
    return Status(StatusCode::kUnsupported,
                  fmt::format("{} virtual stages per rank: DeepSpeed's pipeline engine runs one stage per rank",
                              l.virtual_stages));
  DeepSpeedConfig config;
  config.layout = std::move(*layout);
  config.partition_method = "type:transformer";
  return config;
}

std::string deepspeed_config_to_json(const DeepSpeedConfig& c, int indent) {
  const ParallelLayout& l = c.layout;
  Json j;
  j["format"] = "opplan.deepspeed";
  Json config;
  if (l.micro_batch_size > 0) {
    config["train_batch_size"] = l.global_batch_size;
    config["train_micro_batch_size_per_gpu"] = l.micro_batch_size;
  }
  config["gradient_accumulation_steps"] = l.num_microbatches;
  j["config"] = std::move(config);
  j["pipeline_module"] = {{"num_stages", l.pipeline_parallel}, {"partition_method", c.partition_method}};
  j["topology"] = {{"num_pp", l.pipeline_parallel}, {"num_mp", l.tensor_parallel}, {"num_dp", l.data_parallel}};
  j["layout"] = layout_json(l);
  return j.dump(indent);
}

OPPLAN_END_NAMESPACE
