// evaluate(): the time and memory of one training iteration under a given ParallelConfig. It is
// the one truth for a configuration's cost: every op is timed by the CostModel on the device that
// runs it, every collective on its real group of devices, the pipeline is the timed schedule the
// event simulator produces for the configuration's schedule, and the memory is the training memory
// (weights, gradients, optimizer state, activations under the recomputation policy and the
// schedule's micro-batches in flight, buffers, reserve). docs/evaluate.md explains the model.
//
// The graph's ops are grouped by their `layer` tags (ops before the first tagged op join the first
// stage, ops after the last join the last). Tensor parallelism follows Megatron-LM's rule on the
// graph: a weighted matmul whose input is whole is split column-wise (its output is split), one
// whose input is split is split row-wise (its output is all-reduced, or reduce-scattered with
// sequence parallelism); other ops are split when an input is; an embedding is split by
// vocabulary. Ops whose dimension annotation puts an expert dimension `e` first are split by
// expert parallelism (all-to-all where tokens enter and leave them).
//
// Thread-safety: re-entrant; the cost model must outlive the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/parallel_config.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/schedule.hpp>
#include <opplan/status.hpp>
#include <opplan/training.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

struct EvaluateOptions {
  // Per device, for the framework: CUDA context, cuBLAS / NCCL workspaces (1.5 GB), plus this
  // fraction of everything else for allocator fragmentation. >= 0.
  double reserve_bytes = 1.5e9;
  double fragmentation = 0.05;
  // Gradient buckets of the data-parallel reduction (the last one cannot overlap), bytes, > 0.
  double bucket_bytes = 50e6;
  // Keep the timed pipeline schedule's tasks in the result (for Gantt charts and traces).
  bool keep_schedule = true;

  bool IsValid(std::string* error) const;
};

// Seconds of one iteration on the device that finishes last, by what they are spent on.
struct TimeBreakdown {
  double compute = 0;        // the model's forward and backward
  double recompute = 0;      // forwards run again in the backward
  double tp_comm = 0;        // tensor-parallel collectives not overlapped
  double cp_comm = 0;        // context-parallel exchange not overlapped
  double ep_comm = 0;        // expert-parallel all-to-all
  double dp_comm = 0;        // data-parallel gradient reduction and ZeRO gathers not overlapped
  double bubble = 0;         // pipeline idle time (fill, drain, waiting for transfers)
  double optimizer = 0;      // the optimizer step
  double communication() const { return tp_comm + cp_comm + ep_comm + dp_comm; }
};

// One pipeline rank (all its tensor-, context- and data-parallel devices behave alike).
struct StageEvaluation {
  int rank = 0;
  int layers = 0;                 // layers it holds (over all its virtual stages)
  std::int64_t first_device = 0;  // device id of its first device
  double forward = 0;             // seconds per micro-batch over its virtual stages: F
  double backward = 0;            // b + W, with recomputation and communication
  double busy = 0;                // seconds of work in the iteration
  double finish = 0;              // when its last task ends (seconds from the start)
  double dp_seconds = 0;          // its gradient reduction (and ZeRO gathers) in all
  double dp_exposed = 0;          // the part that does not overlap
  int peak_micro_batches = 0;     // micro-batch activations alive at once (per virtual stage)
  MemoryBreakdown memory;         // per device
  double capacity = 0;            // the smallest memory of its devices
  std::string tightest_device;    // that device's name
  bool fits() const { return memory.total() <= capacity; }
};

struct Evaluation {
  ParallelConfig config;
  std::int64_t num_devices = 0;
  std::int64_t num_micro_batches = 0;  // per replica per iteration
  std::int64_t tokens_per_sample = 0;  // the graph's sequence length (1 without one)
  double iteration_seconds = 0;
  double samples_per_second = 0;
  double tokens_per_second = 0;
  double model_flops = 0;         // per iteration, without recomputation
  double hardware_flops = 0;      // per iteration, with recomputation
  double peak_flops = 0;          // all devices, at the peak of the model's dtype
  double mfu = 0;                 // model_flops / (iteration * peak_flops)
  double hfu = 0;                 // hardware_flops / (iteration * peak_flops)
  double model_tflops_per_device() const;
  double hardware_tflops_per_device() const;
  TimeBreakdown breakdown;        // of the rank that finishes last
  std::vector<StageEvaluation> stages;  // one per pipeline rank
  MemoryBreakdown peak_memory;    // the fullest device
  bool fits = true;
  // When it does not fit: the device furthest over its capacity, what fills it and by how much.
  std::string memory_problem;
  PipelineSpec pipeline;          // seconds and bytes per micro-batch, one device per pipeline rank
  Schedule schedule;              // the timed schedule of `pipeline` (tasks kept when asked)

  // "DP 8 x TP 8 x PP 8 ...: 13.75 s per iteration, 4.7 samples/s, MFU 51.4 %, 71.3 GB of 80 GB".
  OPPLAN_EXPORT std::string BriefReport() const;
  // The brief report, the time breakdown and one line per pipeline rank.
  OPPLAN_EXPORT std::string FullReport() const;
};

// Fails (kInvalidArgument, naming the field or op) for a configuration that does not validate, a
// device count other than the cluster's, TP not dividing an op's heads or columns, CP not
// dividing the sequence, layers that the pipeline cannot split evenly (without layers_per_stage),
// EP not dividing the experts, a schedule the pipeline cannot run (e.g. interleaved with
// micro-batches not a multiple of pp), a graph or cluster that does not validate. A configuration
// that does not fit in memory is not an error: the Evaluation says so (fits, memory_problem).
OPPLAN_EXPORT Result<Evaluation> evaluate(const Graph& graph, const Cluster& cluster, const ParallelConfig& config,
                                          const CostModel& cost_model, const EvaluateOptions& options = {});

// One JSON object (docs/file-formats.md, "Evaluation"): iteration_seconds, mfu, hfu,
// tokens_per_second, samples_per_second, memory_bytes {weights, gradients, optimizer,
// activations, buffers, reserve, total, capacity}, fits, memory_problem, breakdown {compute,
// communication, tp, cp, ep, dp, bubble, recompute, optimizer}, config, stages.
OPPLAN_EXPORT std::string evaluation_to_json(const Evaluation& evaluation, int indent = 2);

OPPLAN_END_NAMESPACE
