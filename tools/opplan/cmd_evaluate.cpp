// `opplan evaluate`: the time and memory of one given parallel configuration (opplan::evaluate):
// DP / TP / PP / VPP / EP / CP, ZeRO, sequence parallelism, micro-batch, global batch,
// recomputation and schedule from flags, from a Megatron-LM argument line or from a DeepSpeed
// config. Prints the prediction even when the configuration does not fit (and exits 1 then).
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <opplan/cost_model.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/gantt.hpp>
#include <opplan/models.hpp>
#include <opplan/parallel_config.hpp>
#include <opplan/profiled_cost_model.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

struct EvaluateArgs {
  std::string graph_file, model, cluster_file, preset;
  int dp = 0, tp = 1, pp = 1, vpp = 1, ep = 1, cp = 1, zero = 0, micro_batch = 1;
  long long global_batch = 0;
  bool sequence_parallel = false, flash_attention = false;
  std::string recompute = "none", schedule, optimizer = "adam", layers_per_stage;
  std::string megatron, deepspeed, profile;
  std::string svg_file, trace_file;
  bool json = false;
  CLI::App* app = nullptr;
};

bool given(const EvaluateArgs& a, const char* flag) { return a.app->count(flag) > 0; }

// The configuration from the flags, a Megatron line or a DeepSpeed file; the model spec a
// Megatron line names. Errors are reported here.
std::optional<ParallelConfig> make_config(const EvaluateArgs& a, std::string* megatron_model) {
  ParallelConfig c;
  if (!a.megatron.empty()) {
    for (const char* flag : {"--tp", "--pp", "--vpp", "--ep", "--cp", "--micro-batch-size", "--global-batch",
                             "--recompute", "--sequence-parallel", "--zero"})
      if (given(a, flag)) {
        report_error(fmt::format("{} contradicts --megatron (the Megatron line sets it)", flag));
        return std::nullopt;
      }
    auto line = parse_megatron_args(a.megatron);
    if (!line.ok()) {
      report_error(line.status());
      return std::nullopt;
    }
    c = line->config;
    *megatron_model = line->model_spec;
    if (given(a, "--schedule")) c.schedule = *parse_pipeline_schedule(a.schedule);
    if (given(a, "--dp")) {
      if (c.dp != 0 && line->world_size > 0 && c.dp != a.dp) {
        report_error(fmt::format("--dp {} contradicts the Megatron line's world size (dp {})", a.dp, c.dp));
        return std::nullopt;
      }
      c.dp = a.dp;
    } else if (line->world_size == 0) {
      c.dp = 0;  // from the cluster
    }
  } else {
    c.tp = a.tp, c.pp = a.pp, c.vpp = a.vpp, c.ep = a.ep, c.cp = a.cp, c.zero = a.zero;
    c.micro_batch_size = a.micro_batch, c.global_batch = a.global_batch, c.sequence_parallel = a.sequence_parallel;
    c.recompute = *parse_activation_recompute(a.recompute);
    c.dp = a.dp;
    if (!a.schedule.empty()) c.schedule = *parse_pipeline_schedule(a.schedule);
    else c.schedule = a.vpp > 1 ? PipelineSchedule::kInterleaved : PipelineSchedule::k1F1B;
    if (!a.deepspeed.empty()) {
      for (const char* flag : {"--zero", "--micro-batch-size", "--global-batch"})
        if (given(a, flag)) {
          report_error(fmt::format("{} contradicts --deepspeed (the DeepSpeed config sets it)", flag));
          return std::nullopt;
        }
      auto ds = read_deepspeed_config(a.deepspeed);
      if (!ds.ok()) {
        report_error(ds.status(), a.deepspeed);
        return std::nullopt;
      }
      c.zero = ds->config.zero, c.micro_batch_size = ds->config.micro_batch_size;
      c.global_batch = ds->config.global_batch;
      if (ds->config.dp > 0) {
        if (given(a, "--dp") && a.dp != ds->config.dp) {
          report_error(fmt::format("--dp {} contradicts {} (dp {})", a.dp, a.deepspeed, ds->config.dp));
          return std::nullopt;
        }
        c.dp = ds->config.dp;
      }
    }
  }
  c.flash_attention = a.flash_attention;
  if (!a.layers_per_stage.empty()) {
    std::stringstream in(a.layers_per_stage);
    for (std::string item; std::getline(in, item, ',');) {
      try {
        std::size_t used = 0;
        const int v = std::stoi(item, &used);
        if (used != item.size()) throw std::invalid_argument(item);
        c.layers_per_stage.push_back(v);
      } catch (const std::exception&) {
        report_error(fmt::format("--layers-per-stage: '{}' is not a whole number", item));
        return std::nullopt;
      }
    }
  }
  return c;
}

int run_evaluate(const EvaluateArgs& a) {
  std::string megatron_model;
  std::optional<ParallelConfig> config = make_config(a, &megatron_model);
  if (!config) return kExitInvalidInput;
  if (!megatron_model.empty() && (!a.model.empty() || !a.graph_file.empty())) {
    return report_error("the Megatron line describes a model (--num-layers, --hidden-size, ...) and --model / --graph "
                        "names another: give one");
  }
  const std::optional<Graph> graph = load_graph(a.graph_file, megatron_model.empty() ? a.model : megatron_model);
  if (!graph) return kExitInvalidInput;
  const std::optional<Cluster> cluster = load_cluster(a.cluster_file, a.preset);
  if (!cluster) return kExitInvalidInput;
  if (config->dp == 0) {  // fill data parallelism from the cluster
    const long long model = static_cast<long long>(config->tp) * config->pp * config->cp;
    if (cluster->num_devices() % model != 0)
      return report_error(fmt::format("tp x pp x cp = {} does not divide the {} devices of cluster '{}'", model,
                                      cluster->num_devices(), cluster->name()));
    config->dp = static_cast<int>(cluster->num_devices() / model);
  }
  AnalyticCostModel::Options options = cost_options(a.optimizer);
  const AnalyticCostModel analytic(options);
  std::optional<ProfiledCostModel> profiled;
  if (!a.profile.empty()) {
    auto p = ProfiledCostModel::FromFile(a.profile, options);
    if (!p.ok()) return report_error(p.status(), a.profile);
    profiled.emplace(std::move(*p));
  }
  const CostModel& cost_model = profiled ? static_cast<const CostModel&>(*profiled) : analytic;
  EvaluateOptions eval_options;
  eval_options.keep_schedule = !a.svg_file.empty() || !a.trace_file.empty();
  auto ev = evaluate(*graph, *cluster, *config, cost_model, eval_options);
  if (!ev.ok()) return report_error(ev.status(), a.graph_file);
  if (!a.svg_file.empty())
    if (Status s = write_schedule_svg(ev->schedule, a.svg_file); !s.ok()) return report_error(s, a.svg_file);
  if (!a.trace_file.empty())
    if (Status s = write_schedule_chrome_trace(ev->schedule, a.trace_file); !s.ok()) return report_error(s, a.trace_file);
  if (a.json) {
    std::cout << evaluation_to_json(*ev);
  } else {
    std::cout << fmt::format("model {} ({}) on cluster {} ({})\n", graph->name(), plural(graph->num_ops(), "op"),
                             cluster->name(), plural(cluster->num_devices(), "device"));
    std::cout << ev->FullReport() << "\n";
  }
  if (!ev->fits) {
    std::cerr << "opplan: the configuration does not fit: " << ev->memory_problem << "\n";
    return kExitInvalidInput;
  }
  return kExitOk;
}

// CLI11 validators that name the accepted values.
CLI::Validator one_of(const std::vector<std::string>& names) { return CLI::IsMember(names); }

}  // namespace

Command add_evaluate_command(CLI::App& parent) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* app = parent.add_subcommand(
      "evaluate", "Predict the time and memory of one parallel configuration (DP x TP x PP ...; docs/evaluate.md)");
  args->app = app;
  add_graph_options(*app, args->graph_file, args->model);
  add_cluster_options(*app, args->cluster_file, args->preset);
  const auto positive = CLI::Range(1, 1 << 24);
  app->add_option("--dp", args->dp, "Data-parallel size (default: the devices left by tp x pp x cp)")->check(positive);
  app->add_option("--tp", args->tp, "Tensor-parallel size (default 1)")->check(positive);
  app->add_option("--pp", args->pp, "Pipeline stages (default 1)")->check(positive);
  app->add_option("--vpp", args->vpp, "Virtual stages per device (interleaved; 2 for zbv / dualpipev)")->check(positive);
  app->add_option("--ep", args->ep, "Expert-parallel size, dividing dp (default 1)")->check(positive);
  app->add_option("--cp", args->cp, "Context-parallel size (default 1)")->check(positive);
  app->add_option("--zero", args->zero, "ZeRO stage over the data-parallel group: 0-3 (3 = FSDP)")->check(CLI::Range(0, 3));
  app->add_flag("--sequence-parallel", args->sequence_parallel, "Sequence parallelism with TP");
  app->add_option("--micro-batch-size", args->micro_batch, "Samples per micro-batch (default 1)")->check(positive);
  app->add_option("--global-batch", args->global_batch, "Samples per iteration (default dp x micro-batch size)")
      ->check(CLI::Range(1LL, 1LL << 40));
  app->add_option("--recompute", args->recompute, "Activation recomputation: none, selective, full")
      ->check(one_of({"none", "selective", "full"}));
  app->add_option("--schedule", args->schedule, "Pipeline schedule: gpipe, 1f1b, interleaved, zb-h1, zbv, dualpipe, dualpipev")
      ->check(one_of({"gpipe", "1f1b", "interleaved", "zb-h1", "zbv", "dualpipe", "dualpipev"}));
  add_optimizer_option(*app, args->optimizer);
  app->add_option("--profile", args->profile,
                  "Measured op times and nccl-tests bandwidths (opplan.profile JSON, docs/profiles.md)");
  app->add_option("--layers-per-stage", args->layers_per_stage, "Layers of each virtual stage, comma-separated (pp x vpp entries)");
  app->add_flag("--flash-attention", args->flash_attention, "Fused attention: no sequence-squared tensors kept");
  auto* megatron = app->add_option("--megatron", args->megatron, "A Megatron-LM argument line (quoted)");
  auto* deepspeed = app->add_option("--deepspeed", args->deepspeed, "A DeepSpeed JSON config file");
  megatron->excludes(deepspeed);
  app->add_option("--svg", args->svg_file, "Write the pipeline schedule as an SVG Gantt chart");
  app->add_option("--trace", args->trace_file, "Write the pipeline schedule as a Chrome trace");
  app->add_flag("--json", args->json, "Print one JSON object instead of text");
  return {app, [args] { return run_evaluate(*args); }};
}

}  // namespace opplan::cli
