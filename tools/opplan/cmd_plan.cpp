// `opplan plan`, two modes:
//  - pipeline: the pipeline planner (planner.hpp) on a PipelineSpec from a file or from the flags of
//    `opplan schedule`: place, warm-start from the baselines, bound, improve with the MIP under a
//    time limit, verify;
//  - graph (no SPEC, no --pp): the operator-level planner on a graph and a cluster, by default
//    GPT-3 1.3B on one DGX-A100 node (plan_graph.cpp).
// Both print the plan (text or --json) and draw it (--svg, --trace).
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opplan/gantt.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/plan.hpp>
#include <opplan/planner.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "plan_graph.hpp"
#include "terminal_progress.hpp"

namespace opplan::cli {
namespace {

using Json = nlohmann::ordered_json;

struct PlanArgs {
  std::string spec_file;
  PipelineSpecFlags spec;  // pipeline mode without SPEC; micro_batches and mem_cap in graph mode too
  std::string placement = "given";
  std::string objective = "makespan";
  double time_limit = 10;
  int seed = 0;
  int window = 24;
  std::int64_t mip_node_limit = -1;
  std::int64_t window_node_limit = 20;
  bool no_mip = false;
  bool no_baselines = false;
  bool lp_bound = false;
  std::string svg_file;
  std::string trace_file;
  bool show_ops = false;
  bool json = false;
  GraphPlanArgs graph;  // graph mode's own inputs and knobs
};

Json plan_json(const PlanResult& r) {
  Json j = Json::object();
  j["devices"] = r.spec.num_devices;
  j["stages"] = r.spec.num_stages();
  j["micro_batches"] = r.spec.num_micro_batches;
  j["placement"] = to_string(r.spec.placement);
  j["makespan"] = r.makespan;
  j["lower_bound"] = r.lower_bound;
  j["gap"] = r.gap;
  j["solve_seconds"] = r.solve_seconds;
  j["verified"] = r.verified;
  j["source"] = r.source;
  j["termination"] = to_string(r.termination);
  j["message"] = r.message;
  j["mip_solves"] = r.mip_solves;
  j["mip_improvements"] = r.mip_improvements;
  if (!r.lp_message.empty()) j["lp_relaxation"] = {{"bound", r.lp_bound > 0 ? Json(r.lp_bound) : Json()}, {"message", r.lp_message}};
  put_schedule_metrics(j, r.schedule);
  Json candidates = Json::array();
  for (const PlanCandidate& c : r.candidates) {
    Json x = {{"name", c.name}, {"verified", c.verified}};
    if (c.verified || c.makespan > 0) x["makespan"] = c.makespan;
    if (!c.note.empty()) x["note"] = c.note;
    candidates.push_back(std::move(x));
  }
  j["candidates"] = std::move(candidates);
  j["ops"] = r.schedule.op_strings();
  return j;
}

void print_plan(const PlanResult& r, bool show_ops) {
  std::cout << fmt::format("plan: {} on {} ({} placement), {}\n",
                           plural(static_cast<std::size_t>(r.spec.num_stages()), "stage"),
                           plural(static_cast<std::size_t>(r.spec.num_devices), "device"), to_string(r.spec.placement),
                           plural(static_cast<std::size_t>(r.spec.num_micro_batches), "micro-batch", "micro-batches"));
  std::cout << r.BriefReport() << "\n" << r.message << "\n";
  std::cout << fmt::format("{:>6}  {:>10}  {:>10}  {:>16}  {:>11}\n", "device", "busy", "bubble", "peak activations",
                           "peak memory");
  for (std::size_t d = 0; d < r.schedule.metrics.devices.size(); ++d) {
    const DeviceMetrics& m = r.schedule.metrics.devices[d];
    std::cout << fmt::format("{:>6}  {:>10g}  {:>10g}  {:>16}  {:>11g}\n", d, m.busy, m.bubble, m.peak_activations,
                             m.peak_memory);
  }
  std::cout << "warm starts:";
  for (const PlanCandidate& c : r.candidates)
    std::cout << (c.verified ? fmt::format(" {} {:g};", c.name, c.makespan) : fmt::format(" {} rejected;", c.name));
  std::cout << "\n";
  if (show_ops) {
    const auto ops = r.schedule.op_strings();
    for (std::size_t d = 0; d < ops.size(); ++d) {
      std::string line;
      for (const auto& op : ops[d]) line += (line.empty() ? "" : " ") + op;
      std::cout << fmt::format("ops {}: {}\n", d, line);
    }
  }
}

int run_plan(const PlanArgs& args) {
  PipelineSpec spec;
  if (!args.spec_file.empty()) {
    auto read = read_pipeline_spec_json(args.spec_file);
    if (!read.ok()) return report_error(read.status(), args.spec_file);
    spec = std::move(*read);
  } else {
    // From flags the stages are laid out linearly (--placement re-lays them); the cap goes to the
    // planner's options below.
    PipelineSpecFlags flags = args.spec;
    flags.mem_cap.reset();
    auto made = pipeline_spec_for(flags, std::nullopt, Placement::kLinear, "plan");
    if (!made.ok()) return report_error(made.status());
    spec = std::move(*made);
  }
  PlannerOptions options;
  options.time_limit = args.time_limit;
  options.memory_cap = args.spec.mem_cap;
  options.seed = args.seed;
  options.window_instances = args.window;
  options.mip_node_limit = args.mip_node_limit;
  options.window_node_limit = args.window_node_limit;
  options.use_mip = !args.no_mip;
  options.use_baselines = !args.no_baselines;
  options.lp_bound = args.lp_bound;
  options.placement = *parse_plan_placement(args.placement);  // checked by the option's validator
  options.objective = *parse_plan_objective(args.objective);
  Result<PlanResult> result = Status(StatusCode::kInternal, "not planned");
  {
    TerminalProgress progress(!args.json && TerminalProgress::stderr_is_terminal(), /*seconds=*/false);
    options.monitor = progress.monitor();
    result = plan_pipeline(spec, options);
  }
  if (!result.ok()) return report_error(result.status(), args.spec_file);
  if (!args.svg_file.empty())
    if (Status s = write_schedule_svg(result->schedule, args.svg_file); !s.ok()) return report_error(s, args.svg_file);
  if (!args.trace_file.empty())
    if (Status s = write_schedule_chrome_trace(result->schedule, args.trace_file); !s.ok())
      return report_error(s, args.trace_file);
  if (args.json)
    std::cout << plan_json(*result).dump(2) << "\n";
  else
    print_plan(*result, args.show_ops);
  return kExitOk;
}

}  // namespace

Command add_plan_command(CLI::App& parent) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* app = parent.add_subcommand(
      "plan",
      "Plan with the MIP planner: place, order and time every op within memory (docs/planner.md). Pipeline mode: a "
      "SPEC file or --pp; graph mode (otherwise): a graph and a cluster, by default GPT-3 1.3B on one DGX-A100");
  app->add_option("SPEC", args->spec_file, "PipelineSpec JSON file; or give the spec with --pp, --microbatches, ...");
  std::vector<CLI::Option*> spec_flags = {
      app->add_option("--pp", args->spec.pp, "Pipeline mode: devices (pipeline ranks)")->check(int_at_least(1)),
      app->add_option("--f", args->spec.f, "Pipeline mode: forward time per stage (default 1)"),
      app->add_option("--b", args->spec.b, "Pipeline mode: input-gradient time b per stage (default 1)"),
      app->add_option("--w", args->spec.w, "Pipeline mode: weight-gradient time W per stage (default 1)"),
      app->add_option("--fb", args->spec.fb, "Pipeline mode: overlapped F&B time of the DualPipe baseline (default F + B)"),
      app->add_option("--p2p", args->spec.p2p, "Pipeline mode: transfer time between stages on different devices (default 0)")};
  CLI::Option* micro_batches =
      app->add_option("--microbatches", args->spec.micro_batches, "Micro-batches in total (graph mode: default 8)")
          ->check(int_at_least(1));
  app->add_option("--mem-cap", args->spec.mem_cap,
                  "Per-device cap on parameters + activations: bytes in graph mode; in pipeline mode the spec's units "
                  "(flags: micro-batch activations), replacing the spec's caps");
  const auto one_of = [](auto parse, std::string what) {
    return [parse, what](const std::string& v) {
      return parse(v) ? std::string() : fmt::format("unknown {} '{}'", what, v);
    };
  };
  std::vector<CLI::Option*> pipeline_only = {
      app->add_option("--placement", args->placement,
                      "Pipeline mode: given (default; linear from flags), dualpipe, dualpipev, 1f1b, free")
          ->check(one_of(parse_plan_placement, "placement")),
      app->add_option("--window", args->window,
                      "Pipeline mode: operator instances freed per window of the search (default 24), >= 2"),
      app->add_option("--mip-node-limit", args->mip_node_limit,
                      "Pipeline mode: branch-and-bound nodes for the whole-instance MIP (default -1: by instance size)"),
      app->add_option("--window-node-limit", args->window_node_limit,
                      "Pipeline mode: branch-and-bound nodes per window MIP (default 20), >= 0"),
      app->add_flag("--no-baselines", args->no_baselines,
                    "Pipeline mode: warm-start from the serial schedule only (to study the MIP)"),
      app->add_flag("--lp-bound", args->lp_bound,
                    "Pipeline mode: also bound by the LP relaxation of the whole-instance MIP (weak; for study)")};
  app->add_option("--objective", args->objective, "makespan (default), utilisation, total-idle, memory-balance")
      ->check(one_of(parse_plan_objective, "objective"));
  CLI::Option* time_limit = app->add_option("--time-limit", args->time_limit, "Seconds for the whole plan (default 10; graph mode 60), > 0");
  app->add_option("--seed", args->seed, "Seed of the random list schedules, moves and windows (default 0)");
  app->add_flag("--no-mip", args->no_mip, "No MIP: the best heuristic schedule only");
  // Graph mode.
  GraphPlanArgs& g = args->graph;
  const std::size_t before = app->get_options().size();
  add_graph_options(*app, g.graph_file, g.model);
  add_cluster_options(*app, g.cluster_file, g.preset);
  app->add_option("--strategy", g.strategy,
                  "Graph mode: auto (default: the best of the others), operator-level, hierarchical, pipeline-only, "
                  "parallel-config (DP x TP x PP x CP x EP with ZeRO, schedule, micro-batch, recomputation)")
      ->check(one_of(parse_plan_strategy, "strategy"));
  app->add_option("--global-batch", g.global_batch,
                  "Graph mode, parallel-config: samples per iteration (default: --microbatches x the graph's samples)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  app->add_option("--threads", g.threads, "Graph mode, parallel-config: search threads (default 0: the machine's cores)")
      ->check(int_at_least(0));
  app->add_flag("--full", g.full, "Graph mode: the full report (every step, every device)");
  add_optimizer_option(*app, g.optimizer);
  app->add_option("--profile", g.profile_file,
                  "Graph mode: measured op times (opplan.profile JSON, docs/profiles.md; e.g. from python3 -m "
                  "opplan.torch.run --write-profile) instead of the analytic model's for the ops it lists");
  app->add_option("--gap", g.gap, "Graph mode: stop once within this fraction of the bound (default 0)")
      ->check(number_above(0, true));
  app->add_option("--max-units", g.max_units, "Graph mode: coarsen to at most this many units (default 0: 6 per device)")
      ->check(int_at_least(0));
  app->add_option("--placement-moves", g.placement_moves,
                  "Graph mode: local placement moves tried (default -1: by problem size)");
  app->add_option("--mps", g.mps_file,
                  "Graph mode: write the operator-level scheduling MIP of the chosen placement as free MPS");
  app->add_flag("--serialize-links", g.serialize_links,
                "Graph mode: one transfer at a time per directed link, ordered by the search (default: overlapping)");
  app->add_option("--mip-windows", g.mip_windows, "Graph mode: MIP windows solved at most (default 8)")
      ->check(int_at_least(0));
  std::vector<CLI::Option*> graph_only;
  for (std::size_t k = before; k < app->get_options().size(); ++k) graph_only.push_back(app->get_options()[k]);

  app->add_option("--svg", args->svg_file, "Write an SVG Gantt chart");
  app->add_option("--trace", args->trace_file, "Write a Chrome trace / Perfetto JSON file");
  app->add_flag("--ops", args->show_ops, "Also print every device's op strings");
  app->add_flag("--json", args->json,
                "Print one JSON object (makespan, bubble, peak_activations, lower_bound, gap, solve_seconds, verified, "
                "ops, ...)");
  app->callback([args, spec_flags, pipeline_only, graph_only, micro_batches] {
    const bool pipeline = !args->spec_file.empty() || args->spec.pp > 0;
    if (pipeline) {
      if (args->spec_file.empty() && args->spec.micro_batches == 0) throw CLI::RequiredError("--microbatches (with --pp)");
      for (CLI::Option* o : graph_only)
        if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), args->spec_file.empty() ? "--pp" : "SPEC");
      if (!args->spec_file.empty()) {
        for (CLI::Option* o : spec_flags)
          if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), "SPEC");
        if (micro_batches->count() > 0) throw CLI::ExcludesError("--microbatches", "SPEC");
      }
      return;
    }
    for (CLI::Option* o : spec_flags)
      if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), "graph mode (give --pp for pipeline mode)");
    for (CLI::Option* o : pipeline_only)
      if (o->count() > 0) throw CLI::ExcludesError(o->get_name(), "graph mode (give --pp for pipeline mode)");
  });
  return {app, [args, time_limit] {
            if (!args->spec_file.empty() || args->spec.pp > 0) return run_plan(*args);
            GraphPlanArgs g = args->graph;
            if (args->spec.micro_batches > 0) g.micro_batches = args->spec.micro_batches;
            g.memory_cap = args->spec.mem_cap;
            g.objective = args->objective;
            if (time_limit->count() > 0) g.time_limit = args->time_limit;
            g.seed = args->seed;
            g.no_mip = args->no_mip;
            g.svg_file = args->svg_file;
            g.trace_file = args->trace_file;
            g.show_ops = args->show_ops;
            g.json = args->json;
            return run_graph_plan(g);
          }};
}

}  // namespace opplan::cli
