// Private: the pieces of evaluate() the configuration search shares, so that the search asks the
// same evaluator and never a formula of its own. evaluate() = check the graph and the cluster,
// lay the graph out for the configuration's TP, then evaluate_prepared(); the search checks the
// graph and cluster once and keeps one layout per TP degree.
#pragma once

#include <opplan/evaluate.hpp>
#include <opplan/pipeline.hpp>

#include "configs/layer_profile.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace configs_detail {

// The pipeline a configuration's schedule runs on.
struct PipelineShape {
  Placement placement = Placement::kLinear;
  ScheduleKind kind = ScheduleKind::k1F1B;
  int stages = 1;        // virtual stages in the pipeline
  bool split_w = false;  // b and W are separate tasks
};
PipelineShape pipeline_shape(const ParallelConfig& config);

// Pipeline rank p's distinct devices and its TP / CP / EP groups (Megatron's rank order).
RankContext rank_context(const Cluster& cluster, const ParallelConfig& config, int p);

// evaluate() for a graph and a cluster that have validated, with the layout of `config.tp`.
Result<Evaluation> evaluate_prepared(const Graph& graph, const GraphLayout& layout, const Cluster& cluster,
                                     const ParallelConfig& config, const CostModel& cost_model,
                                     const EvaluateOptions& options);

// Where each op runs under `config`: its pipeline rank on route 0 (the rank holding its layer's
// virtual stage) and how TP / EP split it ("column TP 8", "row TP 8", "vocab TP 8", "split TP 8",
// "expert EP 64", "replicated"), by OpId value.
struct OpAssignment {
  std::vector<int> rank;
  std::vector<std::string> sharding;
};
Result<OpAssignment> assign_ops(const Graph& graph, const GraphLayout& layout, const ParallelConfig& config);

}  // namespace configs_detail
OPPLAN_END_NAMESPACE
