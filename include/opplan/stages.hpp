// Inter-operator planning as in Alpa: cut the graph into pipeline stages, give each stage a
// submesh of the cluster and a logical mesh for its intra-operator sharding, so that a 1F1B
// pipeline of B micro-batches finishes an iteration as early as possible within device memory.
//
//   cluster_layers()  Alpa's layer clustering: the topologically ordered ops cut into L
//                     contiguous layers, minimising the largest tensor traffic into a layer, then
//                     balancing FLOPs (each layer at most (total / L) * (1 + epsilon)).
//   plan_stages()     the stage / submesh dynamic programme over those layers: submesh shapes
//                     (1,1), (1,2), (1,4), ..., (1,M), (2,M), (4,M), ..., (N,M) that tile N hosts of M
//                     devices, every logical mesh view of each, the latency of each candidate
//                     from the intra-op sharding planner (shard()), the 1F1B memory condition, and
//                     the enumeration of the largest stage latency t_max with Alpa's early stop.
//
// docs/stages.md explains the cost estimate and the recurrence. Thread-safety: re-entrant.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/sharding.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// A physical submesh shape: `hosts` nodes of `devices` devices each (hosts > 1 only with whole nodes).
struct SubmeshShape {
  int hosts = 1;
  int devices = 1;
  int size() const { return hosts * devices; }
  friend bool operator==(const SubmeshShape& a, const SubmeshShape& b) {
    return a.hosts == b.hosts && a.devices == b.devices;
  }
};

// Activation recomputation (gradient checkpointing): a recomputed layer keeps only its input
// tensors per micro-batch in flight and runs its forward again in the backward.
enum class Recompute : int {
  kNever = 0,   // keep every activation (the plans before recomputation existed)
  kAlways = 1,  // recompute every layer of every stage
  kAuto = 2,    // per stage, recompute the fewest layers that make it fit (the DP picks)
};

struct StageOptions {
  int num_microbatches = 16;   // B, >= 1
  // Layers the DP works on; 0 = the number of distinct Op::layer tags (the ops when there are
  // none), at most 16, as Alpa's benchmarks do. More layers: finer stages, a slower plan.
  int num_layers = 0;
  double clustering_epsilon = 0.5;  // a layer's FLOPs may exceed the mean by this fraction, >= 0
  // Only the given submesh shapes (each must be one of Alpa's shapes for the cluster); empty = all.
  std::vector<SubmeshShape> submesh_shapes;
  // Try every rows x cols view of a submesh's devices (a 2x8 submesh as 1x16, 2x8, 4x4, 8x2,
  // 16x1); false: only the physical view (hosts x devices).
  bool all_logical_meshes = true;
  // One DP run covers all t_max candidates within this relative gap (it runs at the largest): the
  // plan is within a factor (1 + gap) of the DP optimum, and the search is much faster. >= 0.
  double t_max_gap = 0.01;
  // kAuto: for every span of layers, candidate mesh and sharding, the DP may recompute layers
  // (those whose activations exceed their inputs, best memory saved per second first) when that
  // lets the stage fit; it keeps whichever option is fastest. docs/stages.md, "Recomputation".
  Recompute recompute = Recompute::kAuto;
  // A stage's data-parallel gradients are all-reduced in buckets of this many bytes while its last
  // backward runs, as DDP and Megatron-LM do: each layer's intra-op plan prices its gradients at
  // their share of a bucket (ShardingOptions::gradient_bucket_bytes), and a stage is charged only
  // what its backward compute cannot hide, at least its last bucket, which starts after it.
  // Default: evaluate()'s bucket (EvaluateOptions::bucket_bytes), so that a stage that is plain
  // data parallelism costs what evaluate() says data parallelism costs. 0 = every op's gradient
  // all-reduced alone and never hidden (Alpa's pricing). Finite, >= 0.
  double gradient_bucket_bytes = EvaluateOptions{}.bucket_bytes;
  // Intra-op options for every candidate (memory_budget, mps_file, weight_sync_scale = 1 / B and
  // gradient_bucket_bytes are set by plan_stages).
  ShardingOptions sharding;
  // Checked between intra-op plans and DP runs: a stop request (set from any thread or a signal
  // handler) or this many seconds of wall time (0 = no limit, else > 0) end the planning, and
  // plan_stages fails (kFailedPrecondition) saying which. plan() sets both.
  const std::atomic<bool>* stop = nullptr;
  double time_limit = 0;

  // False, with a message naming the field, when a value is out of range.
  bool IsValid(std::string* error) const;
};

// One pipeline stage of a plan.
struct Stage {
  int first_layer = 0, last_layer = 0;  // inclusive, indices into StagePlan::layers
  std::vector<OpId> ops;                // the stage's ops in topological order
  SubmeshShape submesh;                 // physical shape
  Mesh mesh;                            // the logical mesh on the devices it was given
  bool least_memory_sharding = false;   // the sharding that minimises memory, not time, was needed
  double latency = 0;             // seconds of F + b + W of one micro-batch on the mesh (with recomputation)
  double parameter_bytes = 0;     // per device: parameters with gradients and optimizer state
  double activation_bytes = 0;    // per device, per micro-batch in flight (a recomputed layer: its inputs)
  int microbatches_in_flight = 0; // 1F1B: stages after this one + 1, at most B
  // parameter_bytes + microbatches_in_flight * activation_bytes + recompute_peak_bytes
  double memory_bytes = 0;
  std::vector<int> recomputed_layers;  // indices into StagePlan::layers whose forward reruns in the backward
  double recompute_seconds = 0;        // of `latency`: those layers' forward passes, run again
  // Once per stage: one micro-batch of the full activations of the largest recomputed layer, live
  // during its own backward. 0 without recomputation.
  double recompute_peak_bytes = 0;
};

struct OPPLAN_EXPORT StagePlan {
  std::vector<std::vector<OpId>> layers;  // the clustering the DP worked on
  std::vector<Stage> stages;              // first to last
  int num_microbatches = 0;
  double iteration_seconds = 0;   // sum of stage latencies + (B - 1) * the largest one
  double max_stage_seconds = 0;
  double device_memory = 0;       // the smallest device memory of the cluster, bytes
  double planning_seconds = 0;
  double costing_seconds = 0;     // of which: intra-op plans of every (layer, submesh, logical mesh)
  std::size_t num_shard_calls = 0;   // shard() runs (identical layers are planned once)
  std::size_t num_t_max_tried = 0;   // t_max values the DP ran for (after gap and early stop)
  int num_recomputed_layers() const;  // over all stages

  // "4 stages, 16 micro-batches: 1.23 s per iteration (largest stage 70 ms), planned in 2.1 s".
  std::string BriefReport() const;
  // The brief report and one line per stage: layers, ops, submesh, logical mesh, latency, memory,
  // recomputed layers.
  std::string FullReport() const;
};

// Alpa's layer clustering over the topological order: `num_layers` contiguous, non-empty groups.
// Fails when num_layers < 1, epsilon < 0 or the graph does not validate; num_layers above the
// number of ops gives one op per layer.
OPPLAN_EXPORT Result<std::vector<std::vector<OpId>>> cluster_layers(const Graph& graph, int num_layers,
                                                                    double epsilon = 0.5);

// Plans stages, submeshes, logical meshes and the 1F1B memory of every stage. Fails, naming the
// problem, for bad options, a graph or cluster that does not validate, nodes with different device
// counts, an annotation shard() rejects, or (kFailedPrecondition) when no partition fits device
// memory: the message gives a lower bound on the memory per device the model needs.
OPPLAN_EXPORT Result<StagePlan> plan_stages(const Graph& graph, const Cluster& cluster, const CostModel& cost_model,
                                            const StageOptions& options = {});

OPPLAN_END_NAMESPACE
