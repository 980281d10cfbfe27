// `opplan export`: a plan in the configuration language of a training engine (docs/exports.md).
//
//   --format pytorch             a pipeline schedule (--schedule KIND, or `plan` for the planner) on
//                                a spec from a file or the flags of `opplan schedule`: the stage ->
//                                rank map and every rank's actions for torch.distributed.pipelining
//   --format megatron|deepspeed  the stage plan of a model on a cluster (as `opplan stages`):
//                                Megatron-LM arguments, or a DeepSpeed config fragment
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/exports.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/planner.hpp>
#include <opplan/stages.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct ExportArgs {
  std::string format;
  // pytorch
  std::string spec_file;
  std::string schedule;
  PipelineSpecFlags spec;  // or spec_file
  double time_limit = 10;
  // megatron / deepspeed
  std::string graph_file;
  std::string model;
  std::string cluster_file;
  std::string preset;
  int stage_microbatches = 16;
  int layers = 0;
  std::string submesh;
  bool physical_meshes = false;
  int micro_batch_size = 0;
  int virtual_stages = 1;
  bool json = false;
};

std::string kind_names() {
  std::string out;
  for (ScheduleKind k : kAllScheduleKinds) out += fmt::format("{}{}", out.empty() ? "" : ", ", to_string(k));
  return out + ", plan";
}

// The spec of the schedule: the file's, laid out again for the kind's placement when its stages are
// all equal, or one built from the flags.
Result<PipelineSpec> spec_for(const ExportArgs& args, Placement need) {
  std::optional<PipelineSpec> file;
  if (!args.spec_file.empty()) {
    auto read = read_pipeline_spec_json(args.spec_file);
    if (!read.ok()) return read.status();
    file = std::move(*read);
  }
  return pipeline_spec_for(args.spec, file, need, args.schedule);
}

int run_pytorch(const ExportArgs& args) {
  PipelineSpec spec;
  Schedule schedule;
  if (args.schedule == "plan") {
    // The planner keeps a file's placement; a spec from flags is linear.
    auto s = args.spec_file.empty() ? spec_for(args, Placement::kLinear) : read_pipeline_spec_json(args.spec_file);
    if (!s.ok()) return report_error(s.status(), args.spec_file);
    PlannerOptions options;
    options.time_limit = args.time_limit;
    auto plan = plan_pipeline(*s, options);
    if (!plan.ok()) return report_error(plan.status(), args.spec_file);
    spec = plan->spec;
    schedule = plan->schedule;
  } else {
    const auto kind = parse_schedule_kind(args.schedule);
    if (!kind) return report_error(fmt::format("unknown schedule '{}' (known: {})", args.schedule, kind_names()));
    auto s = spec_for(args, required_placement(*kind));
    if (!s.ok()) return report_error(s.status(), args.spec_file);
    auto built = build_schedule(*s, *kind);
    if (!built.ok()) return report_error(built.status(), args.spec_file);
    spec = std::move(*s);
    schedule = std::move(*built);
  }
  auto exported = export_pytorch_pipeline(spec, schedule);
  if (!exported.ok()) return report_error(exported.status(), args.spec_file);
  if (args.json) {
    std::cout << pytorch_pipeline_to_json(*exported) << "\n";
    return kExitOk;
  }
  const PyTorchPipelineExport& p = *exported;
  std::cout << fmt::format("torch.distributed.pipelining: schedule {}, {} ranks, {} stages ({}), {}\n", p.schedule,
                           p.num_ranks, p.num_stages, p.style,
                           plural(static_cast<std::size_t>(p.num_microbatches), "micro-batch", "micro-batches"));
  std::string map;
  for (std::size_t s = 0; s < p.stage_to_rank.size(); ++s) map += fmt::format("{}{}:{}", s ? " " : "", s, p.stage_to_rank[s]);
  std::cout << "stage:rank " << map << "\n";
  for (std::size_t r = 0; r < p.actions.size(); ++r) {
    std::string line;
    for (const std::string& a : p.actions[r]) line += (line.empty() ? "" : " ") + a;
    std::cout << fmt::format("rank {}: {}\n", r, line);
  }
  return kExitOk;
}

int run_engine(const ExportArgs& args) {
  std::string graph_source;
  const std::optional<Graph> graph = load_graph(args.graph_file, args.model, &graph_source);
  if (!graph) return kExitInvalidInput;
  const std::optional<Cluster> cluster = load_cluster(args.cluster_file, args.preset);
  if (!cluster) return kExitInvalidInput;
  StageOptions options;
  options.num_microbatches = args.stage_microbatches;
  options.num_layers = args.layers;
  options.all_logical_meshes = !args.physical_meshes;
  if (!args.submesh.empty()) {
    SubmeshShape shape;
    shape.hosts = std::stoi(args.submesh.substr(0, args.submesh.find('x')));
    shape.devices = std::stoi(args.submesh.substr(args.submesh.find('x') + 1));
    options.submesh_shapes = {shape};
  }
  const AnalyticCostModel cost_model;
  auto plan = plan_stages(*graph, *cluster, cost_model, options);
  if (!plan.ok()) return report_error(plan.status(), args.graph_file);
  EngineExportOptions engine;
  engine.micro_batch_size = args.micro_batch_size;
  engine.virtual_stages = args.virtual_stages;
  const std::string what = fmt::format("{} on {}", graph->name(), cluster->name());
  if (args.format == "megatron") {
    auto megatron = megatron_args(*graph, *plan, engine);
    if (!megatron.ok()) return report_error(megatron.status().with_context(what));
    if (args.json) {
      std::cout << megatron_args_to_json(*megatron) << "\n";
      return kExitOk;
    }
    const ParallelLayout& l = megatron->layout;
    std::string split;
    for (const EngineStage& s : l.stages) split += fmt::format("{}{}", split.empty() ? "" : " ", s.num_layers);
    std::cout << fmt::format("megatron-lm: {}: pipeline {} x tensor {} x data {} = {} devices, {} layers ({})\n", what,
                             l.pipeline_parallel, l.tensor_parallel, l.data_parallel, l.world_size, l.num_layers, split);
    std::cout << megatron->command_line() << "\n";
    return kExitOk;
  }
  auto deepspeed = deepspeed_config(*graph, *plan, engine);
  if (!deepspeed.ok()) return report_error(deepspeed.status().with_context(what));
  if (!args.json) {
    const ParallelLayout& l = deepspeed->layout;
    std::cout << fmt::format("deepspeed: {}: pipeline {} x tensor {} x data {} = {} devices, {} layers per stage\n",
                             what, l.pipeline_parallel, l.tensor_parallel, l.data_parallel, l.world_size,
                             l.stages.front().num_layers);
  }
  std::cout << deepspeed_config_to_json(*deepspeed) << "\n";
  return kExitOk;
}

}  // namespace

Command add_export_command(CLI::App& parent) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* app = parent.add_subcommand(
      "export", "Write a plan for a training engine: PyTorch pipelining, Megatron-LM, DeepSpeed (docs/exports.md)");
  app->add_option("--format", args->format, "pytorch, megatron or deepspeed")
      ->required()
      ->check(CLI::IsMember({"pytorch", "megatron", "deepspeed"}));
  // pytorch
  auto* spec_file = app->add_option("SPEC", args->spec_file, "pytorch: PipelineSpec JSON file (or --pp, --microbatches, ...)");
  auto* schedule = app->add_option("--schedule", args->schedule, "pytorch: schedule kind: " + kind_names())
                       ->check([](const std::string& v) {
                         return v == "plan" || parse_schedule_kind(v)
                                    ? std::string()
                                    : fmt::format("unknown schedule '{}' (known: {})", v, kind_names());
                       });
  std::vector<CLI::Option*> pipeline_flags = {
      app->add_option("--pp,--devices", args->spec.pp, "pytorch: devices (pipeline ranks)")->check(int_at_least(1)),
      app->add_option("--microbatches", args->spec.micro_batches,
                      "pytorch: micro-batches in total; megatron / deepspeed: per iteration (default 16)")
          ->check(int_at_least(1)),
      app->add_option("--f", args->spec.f, "pytorch: forward time per stage (default 1)"),
      app->add_option("--b", args->spec.b, "pytorch: input-gradient time per stage (default 1)"),
      app->add_option("--w", args->spec.w, "pytorch: weight-gradient time per stage (default 1)"),
      app->add_option("--fb", args->spec.fb, "pytorch: overlapped F&B time (default F + B)"),
      app->add_option("--p2p", args->spec.p2p, "pytorch: transfer time between stages (default 0)"),
      app->add_option("--mem-cap", args->spec.mem_cap, "pytorch: per-device cap in micro-batch activations"),
      app->add_option("--chunks", args->spec.chunks, "pytorch: chunks per device for interleaved (default 2)")
          ->check(int_at_least(1))};
  app->add_option("--time-limit", args->time_limit, "pytorch --schedule plan: seconds for the planner (default 10)")
      ->check(number_above(0, false));
  // megatron / deepspeed
  add_graph_options(*app, args->graph_file, args->model);
  add_cluster_options(*app, args->cluster_file, args->preset);
  app->add_option("--layers", args->layers, "megatron / deepspeed: layers of the stage DP (default: the layer tags, at most 16)")
                     ->check(CLI::Range(1, 128));
  app->add_option("--submesh", args->submesh,
                  "megatron / deepspeed: plan with only this submesh shape, HOSTSxDEVICES (e.g. 1x2), so that every "
                  "stage gets as many devices")
      ->check([](const std::string& v) {
        const auto x = v.find('x');
        // Digits only and at most 6 of them per side, so that std::stoi below cannot throw.
        const bool ok = x != std::string::npos && x > 0 && x <= 6 && x + 1 < v.size() && v.size() - x - 1 <= 6 &&
                        v.find_first_not_of("0123456789x") == std::string::npos && v.find('x', x + 1) == std::string::npos &&
                        std::stoi(v.substr(0, x)) > 0 && std::stoi(v.substr(x + 1)) > 0;
        return ok ? std::string() : fmt::format("'{}' is not a submesh shape HOSTSxDEVICES such as 1x2", v);
      });
  app->add_flag("--physical-meshes", args->physical_meshes,
                "megatron / deepspeed: only the physical view of each submesh (hosts x devices) as its logical mesh");
  app->add_option("--micro-batch-size", args->micro_batch_size,
                              "megatron / deepspeed: samples per micro-batch (default: unknown, batch sizes left out)")
                  ->check(int_at_least(1));
  app->add_option("--virtual-stages", args->virtual_stages,
                              "megatron: model chunks per pipeline rank (interleaved schedule; default 1)")
                  ->check(int_at_least(1));
  app->add_flag("--json", args->json, "Print one JSON object");
  app->callback([args, app, spec_file, schedule, pipeline_flags] {
    if (args->format == "pytorch") {
      if (schedule->count() == 0) throw CLI::RequiredError("--schedule (with --format pytorch)");
      if (args->spec_file.empty() && (args->spec.pp == 0 || args->spec.micro_batches == 0))
        throw CLI::RequiredError("a SPEC file or --pp and --microbatches (with --format pytorch)");
      if (!args->spec_file.empty())
        for (CLI::Option* o : pipeline_flags)
          if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), "SPEC");
      for (const char* name : {"--graph", "--model", "--cluster", "--preset", "--layers", "--submesh",
                               "--physical-meshes", "--micro-batch-size", "--virtual-stages"})
        if (app->get_option(name)->count() > 0)
          throw CLI::ValidationError(name, "applies to --format megatron and deepspeed, not pytorch");
    } else {
      if (spec_file->count() > 0 || schedule->count() > 0)
        throw CLI::ValidationError(schedule->count() > 0 ? "--schedule" : "SPEC",
                                   "applies to --format pytorch, not " + args->format);
      for (std::size_t i = 0; i < pipeline_flags.size(); ++i)
        if (i != 1 && pipeline_flags[i]->count() > 0)
          throw CLI::ValidationError(pipeline_flags[i]->get_name(), "applies to --format pytorch, not " + args->format);
      if (args->spec.micro_batches > 0) args->stage_microbatches = args->spec.micro_batches;
    }
  });
  return {app, [args] { return args->format == "pytorch" ? run_pytorch(*args) : run_engine(*args); }};
}

}  // namespace opplan::cli
