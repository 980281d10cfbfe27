// Private: the re-costing check of a Plan (issue 16). The verifiers of each level replay a
// schedule against the durations the planner itself put in its spec; a planner that timed a stage
// on the wrong device (4 A100 + 4 V100 planned as fast as 8 A100) passed them. This check
// recomputes what a plan claims from the Graph, the Cluster and the CostModel alone, without any
// of the planner's own figures:
//
//   operator-level   every task lasts the CostModel's time of its op and phase on the device of
//                    its row; every transfer its edge's time on its link (at least, when links
//                    are serialized and one transfer carries a unit edge's several tensors).
//   hierarchical /   every task of a stage lasts at least its ops' time on the slowest device of
//   pipeline-only    the stage's mesh divided by the mesh size (no sharding splits work better
//                    than evenly, nor runs faster than the slowest device that holds a shard);
//                    every transfer between stages at least the crossing tensors' time on the
//                    fastest link between the two meshes; the iteration no shorter than the
//                    busiest stage.
//   parallel-config  evaluate() of the chosen configuration gives the same iteration.
//
// plan() runs it on every candidate and never returns one that fails it.
#pragma once

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/graph.hpp>
#include <opplan/plan.hpp>
#include <opplan/status.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace plan_detail {

struct RecostOptions {
  int micro_batches = 8;
  // Operator-level: the plan was made with OperatorPlanOptions::serialize_links (one transfer per
  // unit edge, carrying all of its tensors).
  bool serialized_links = false;
  // Parallel-config: the options evaluate() ran with.
  EvaluateOptions evaluate;
};

// OK, or kInternal naming the first few tasks (op or stage, micro-batch, device) whose duration
// disagrees with the cost model, and what the cost model says. Exported for the tests only.
OPPLAN_EXPORT Status recost_plan(const Plan& plan, const Graph& graph, const Cluster& cluster, const CostModel& cost,
                                 const RecostOptions& options);

}  // namespace plan_detail
OPPLAN_END_NAMESPACE
