// Exports to training engines: what a plan looks like in the configuration language of the engine
// that will run it.
//
//   export_pytorch_pipeline()  a pipeline schedule (PipelineSpec + timed Schedule, from
//                              build_schedule() or plan_pipeline()) as torch.distributed.pipelining
//                              sees it: the stage -> rank map and, per rank, the ordered action list
//                              in PyTorch's schedule notation ("0F1", "1I0", "1W0", "2B3").
//   megatron_args()            a stage plan (plan_stages()) as Megatron-LM command-line arguments:
//                              pipeline / tensor / data-parallel sizes, layers, batch sizes and the
//                              uneven split of decoder layers over the stages.
//   deepspeed_config()         the same plan as a DeepSpeed config fragment and the arguments of its
//                              PipelineModule.
//
// Each export is also available as JSON. A plan the engine cannot express gives a Status naming the
// stage, layer or op and saying why, never an approximate configuration. docs/exports.md has the
// mappings and their reasons.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <opplan/graph.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/schedule.hpp>
#include <opplan/stages.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// ---- PyTorch (torch.distributed.pipelining) ---------------------------------------------------------

struct PyTorchExportOptions {
  // DualPipe's two routes have no PyTorch equivalent (every PyTorch micro-batch visits stages
  // 0, 1, ..., num_stages-1). true: export them as two chains of virtual stages, route r's stage s
  // as PyTorch stage r*S + s and its micro-batch m as r*M + m (M micro-batches per route), for a
  // runtime that knows the chains are separate (`bidirectional` is set). false: kUnsupported.
  bool allow_bidirectional = true;
};

struct PyTorchPipelineExport {
  std::string schedule;        // the Schedule's name ("1f1b", "zb-h1", "dualpipe", ...)
  int num_ranks = 0;           // pipeline ranks (devices)
  int num_stages = 0;          // PyTorch stages: S, or routes * S when bidirectional
  int num_microbatches = 0;    // n_microbatches: every micro-batch of every route, numbered globally
  // How stages sit on ranks, in the terms of PyTorch's generate_stage_to_rank_mapping(): "loop"
  // (stage s on rank s % ranks: linear and interleaved), "v" (DualPipeV / ZB-V), "bidirectional"
  // (DualPipe as two virtual chains), "custom" (any other single-route placement).
  std::string style;
  bool bidirectional = false;  // the stages form `num_routes` separate chains of num_stages / num_routes
  int num_routes = 1;
  std::vector<int> stage_to_rank;                 // by PyTorch stage index
  std::vector<std::vector<std::string>> actions;  // per rank, in execution order
};

// Fails with kInvalidArgument (naming the device, task or work) when the schedule does not belong
// to the spec: other device count, work on a device that does not hold its stage, unknown route /
// stage / micro-batch, or work missing or repeated (every (stage, micro-batch) needs one F and
// either one B or one I and one W). kUnsupported for DualPipe when !allow_bidirectional.
OPPLAN_EXPORT Result<PyTorchPipelineExport> export_pytorch_pipeline(const PipelineSpec& spec, const Schedule& schedule,
                                                                    const PyTorchExportOptions& options = {});

// {"format": "opplan.pytorch_pipeline", "schedule", "num_ranks", "num_stages", "num_microbatches",
//  "style", "bidirectional", "num_routes", "stage_to_rank": [...], "actions": {"0": [...], ...}}.
// indent < 0 writes one line.
OPPLAN_EXPORT std::string pytorch_pipeline_to_json(const PyTorchPipelineExport& pipeline, int indent = 2);

// ---- Megatron-LM and DeepSpeed ----------------------------------------------------------------------

struct EngineExportOptions {
  // Samples (sequences) per micro-batch; 0 = unknown: the batch-size arguments are left out.
  int micro_batch_size = 0;
  // Megatron's interleaved schedule: model chunks per pipeline rank (1 = none). Needs the same
  // number of decoder layers on every stage, divisible by it.
  int virtual_stages = 1;
  // The axis of a stage's logical mesh (rows x cols, row-major) that the engine's tensor-parallel
  // group runs along; the other axis is data parallel. 1 (default): the columns, which are the
  // devices of one node in the physical view and consecutive ranks, as Megatron lays out its
  // tensor-parallel groups.
  int tensor_parallel_axis = 1;
  // The engines cut at whole decoder layers (Op::layer tags) while Alpa's clustering cuts at the
  // narrowest tensor, often inside a layer (after its attention block). Each layer goes to the
  // stage holding most of its work (F + b + W FLOPs), i.e. every cut is rounded to the nearest
  // layer boundary, and ParallelLayout::moved lists what moved. A layer with more than this
  // fraction of its work elsewhere is an error instead; in [0, 0.5] (0 = only exact cuts).
  double max_moved_fraction = 0.5;
};

// One pipeline stage in the engines' terms.
struct EngineStage {
  int index = 0;
  int num_layers = 0;                  // decoder layers (Op::layer tags) on the stage
  std::string first_layer, last_layer; // their tags; empty when the stage has none
  bool embedding = false;              // holds the ops before the first decoder layer
  bool head = false;                   // holds the ops after the last decoder layer
  int devices = 0;
  int mesh_rows = 1, mesh_cols = 1;
};

// The parallel layout every engine export is built from.
struct ParallelLayout {
  int world_size = 0;         // pipeline * tensor * data = the devices of the plan
  int pipeline_parallel = 0;  // stages
  int tensor_parallel = 0;
  int data_parallel = 0;
  int num_layers = 0;         // decoder layers of the model
  int num_microbatches = 0;   // per iteration (gradient-accumulation steps)
  int micro_batch_size = 0;   // 0 = unknown
  int global_batch_size = 0;  // micro_batch_size * num_microbatches * data_parallel; 0 = unknown
  int virtual_stages = 1;
  std::vector<EngineStage> stages;
  // Ops moved to their layer's stage, one line per (layer, stage) ("layer 'layer6': its ops on stage
  // 1 from 'layer6.mlp_add' (0.01% of its work) go to stage 0"); empty when the plan cut at layers.
  std::vector<std::string> moved;
  bool uniform() const;       // every stage holds the same number of decoder layers
};

// The layout of `plan` (made by plan_stages() on `graph`). Fails with kFailedPrecondition, naming
// the stage, layer or op, when the plan cannot be run by an engine that splits a model at whole
// decoder layers over equal device groups: stages on different numbers of devices or logical
// meshes (one tensor- and data-parallel size for all), a decoder layer (Op::layer tag) whose work
// is split between stages beyond max_moved_fraction, layers out of pipeline order, ops before the
// first layer not on the first stage or after the last one not on the last stage, a graph without
// layer tags. kInvalidArgument for bad options or a plan whose op ids are not the graph's.
OPPLAN_EXPORT Result<ParallelLayout> derive_parallel_layout(const Graph& graph, const StagePlan& plan,
                                                            const EngineExportOptions& options = {});

struct MegatronArgs {
  ParallelLayout layout;
  // In command-line order, e.g. {"--pipeline-model-parallel-size", "4"}; a flag without a value has
  // an empty second. Megatron has no data-parallel flag: it derives world_size / (TP * PP).
  std::vector<std::pair<std::string, std::string>> flags;
  std::string command_line() const;  // "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 4 ..."
};

// Megatron-LM arguments: --tensor-model-parallel-size, --pipeline-model-parallel-size, --num-layers,
// --micro-batch-size and --global-batch-size (when the micro-batch size is known),
// --num-layers-per-virtual-pipeline-stage (virtual_stages > 1); an uneven split becomes
// --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers when the middle stages
// are equal, else --pipeline-model-parallel-layout. Fails as derive_parallel_layout(), and with
// kUnsupported when interleaving is asked for an uneven split.
OPPLAN_EXPORT Result<MegatronArgs> megatron_args(const Graph& graph, const StagePlan& plan,
                                                 const EngineExportOptions& options = {});
// {"format": "opplan.megatron", "layout": {...}, "args": [...], "command_line": "..."}.
OPPLAN_EXPORT std::string megatron_args_to_json(const MegatronArgs& args, int indent = 2);

struct DeepSpeedConfig {
  ParallelLayout layout;
  std::string partition_method;  // PipelineModule's: "type:transformer" (equal decoder layers per stage)
};

// DeepSpeed: train_micro_batch_size_per_gpu, gradient_accumulation_steps, train_batch_size, and the
// PipelineModule(num_stages, partition_method) and PipeModelDataParallelTopology(num_pp, num_mp,
// num_dp) the plan needs. PipelineModule balances the layers matching a type regex evenly over
// the stages and takes no explicit boundaries, so an uneven split is kUnsupported (naming the
// first stage that differs); otherwise fails as derive_parallel_layout().
OPPLAN_EXPORT Result<DeepSpeedConfig> deepspeed_config(const Graph& graph, const StagePlan& plan,
                                                       const EngineExportOptions& options = {});
// {"format": "opplan.deepspeed", "config": {ds_config fragment}, "pipeline_module": {...},
//  "topology": {...}, "layout": {...}}.
OPPLAN_EXPORT std::string deepspeed_config_to_json(const DeepSpeedConfig& config, int indent = 2);

OPPLAN_END_NAMESPACE
