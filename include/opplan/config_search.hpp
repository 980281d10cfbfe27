// search_parallel_configs(): the fastest ParallelConfig that fits, found in the space
// practitioners write by hand -- DP with ZeRO 0-3 / FSDP, TP with or without sequence
// parallelism, CP, EP, PP with virtual stages, the schedule (1F1B, interleaved, ZB-H1, ZB-V,
// DualPipe, DualPipeV) and layer cuts, micro-batch size and count from the global batch,
// activation recomputation -- every candidate timed and sized by evaluate(), the one evaluator.
//
// The search (docs/config-search.md):
//   1. enumerate: TP inside a node and dividing every split op, CP dividing the sequence, PP up to
//      the layer count, DP = devices / (TP x CP x PP) dividing the global batch, EP dividing DP
//      and the experts, micro-batch sizes dividing the batch per replica; layer cuts equal and
//      balanced (the first and last stages carry the embedding and the head);
//   2. bound: each layer is costed once per distinct (TP, CP, EP, SP, recomputation, micro-batch)
//      on the evaluator's own per-layer costs, giving every candidate a lower bound on its time
//      (its busiest pipeline rank's work after its first input can arrive) and on its memory
//      (its weights, gradients and optimizer state under ZeRO, one micro-batch of activations,
//      the reserve); candidates whose memory bound exceeds the devices are dropped;
//   3. evaluate in order of the time bound, on `threads` threads, until the bound reaches the
//      time of the `keep`-th best configuration that fits: what is left cannot be among them.
// The result does not depend on the thread count. A time limit stops step 3 early (the result
// says so and how many candidates were left).
//
// Thread-safety: re-entrant; the cost model is called from the worker threads at once, so it
// must be safe to call concurrently (AnalyticCostModel and ProfiledCostModel are).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/evaluate.hpp>
#include <opplan/graph.hpp>
#include <opplan/parallel_config.hpp>
#include <opplan/progress.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

struct ConfigSearchOptions {
  // Samples per iteration, > 0. 0 = the graph's samples (1 when it has none) x `micro_batches`.
  std::int64_t global_batch = 0;
  int micro_batches = 8;  // only used to derive the default global batch
  // Largest tensor-parallel degree; 0 = the devices of the largest node (TP stays in NVLink).
  int max_tp = 0;
  int max_cp = 16;                // largest context-parallel degree (1 = no CP)
  int max_micro_batch_size = 16;  // samples per micro-batch per replica
  // The schedules tried for PP > 1; empty = 1F1B, interleaved, ZB-H1, ZB-V, DualPipe, DualPipeV.
  std::vector<PipelineSchedule> schedules;
  int max_vpp = 8;  // virtual stages per device for the interleaved schedule
  // ZeRO stages tried with DP > 1 (0 .. max_zero); 3 is FSDP.
  int max_zero = 3;
  // The recomputation policies tried; empty = none, selective, full.
  std::vector<ActivationRecompute> recompute;
  // The framework has fused attention (FlashAttention / SDPA): every candidate uses it.
  bool flash_attention = true;
  // What the framework overlaps (ParallelConfig's fields of the same names): TP collectives with
  // the matmuls (Megatron-Core's tp_comm_overlap), the DP gradient reduction with the backward,
  // ZeRO's weight gathers with compute.
  bool overlap_tp_comm = false;
  bool overlap_grad_reduce = true;
  bool overlap_param_gather = true;
  // Bytes per device; unset = each device's memory.
  std::optional<double> memory_cap;
  // Worker threads, >= 0; 0 = the machine's cores.
  int threads = 0;
  // Configurations kept, best first: the chosen one and its runners-up. >= 1.
  int keep = 4;
  // Seconds for the whole search, > 0: past it, the best found so far is returned.
  double time_limit = 60;
  // Also evaluated and reported beside the chosen configuration (e.g. the one a user would write
  // by hand); its batch must be the search's. Not part of the search space if outside it.
  std::vector<ParallelConfig> references;
  EvaluateOptions evaluate;  // keep_schedule applies to the chosen configuration only
  // Stop request; progress (step "parallel-config search", best time so far, the search's bound)
  // after a round of evaluations that improved the best, else at most every `interval` seconds,
  // on the calling thread.
  PlanMonitor monitor;

  OPPLAN_EXPORT bool IsValid(std::string* error) const;
};

// One configuration the search evaluated.
struct ConfigCandidate {
  ParallelConfig config;
  double iteration_seconds = 0;
  double lower_bound = 0;  // the search's bound on iteration_seconds
  double memory_bytes = 0;  // the fullest device
  double capacity_bytes = 0;  // that device's memory (or the cap)
  bool fits = false;
  TimeBreakdown breakdown;     // of the rank that finishes last
  std::string memory_problem;  // when it does not fit (Evaluation::memory_problem)
  // Against the chosen configuration: "3.1 % slower: more bubble (+0.41 s)", "does not fit: ...".
  std::string verdict;
};

struct ConfigSearchResult {
  Evaluation best;                       // evaluate() of the chosen configuration
  std::vector<ConfigCandidate> ranked;   // the fastest that fit, best first (best included)
  std::vector<ConfigCandidate> too_big;  // evaluated, faster than the best, but do not fit
  std::vector<ConfigCandidate> references;  // ConfigSearchOptions::references, evaluated
  std::optional<ConfigCandidate> data_parallel;  // plain DP over every device, best micro-batch
  std::int64_t global_batch = 0;
  // No configuration of the space is faster than this (the least time bound of the candidates
  // that may fit; exact only when `complete`).
  double lower_bound = 0;
  std::int64_t enumerated = 0;       // candidates in the space
  std::int64_t pruned_memory = 0;    // dropped: memory bound above the devices
  std::int64_t pruned_bound = 0;     // never evaluated: time bound too high to matter
  std::int64_t evaluated = 0;
  std::int64_t failed = 0;           // evaluate() refused (a schedule that cannot run, ...)
  std::int64_t layer_costings = 0;   // distinct (layer shape, parallel setting) costings
  bool complete = true;              // false: the time limit or a stop cut step 3
  double seconds = 0;

  // "DP 128 x TP 8 x PP 16 (...): 7.2 s per iteration, MFU 38 %, 71 GB of 80 GB; 212,000
  //  candidates, 1,204 evaluated in 3.1 s".
  OPPLAN_EXPORT std::string BriefReport() const;
  // The runners-up and the faster configurations that do not fit, with why each lost; plain DP
  // and the references against the chosen configuration. One line each.
  OPPLAN_EXPORT std::string ComparisonReport() const;
  // The brief report, the chosen configuration's full report, the search's counts and the
  // comparison report.
  OPPLAN_EXPORT std::string FullReport() const;
};

// Fails (kInvalidArgument) for invalid options, graph or cluster, a global batch smaller than
// the devices can share (the message gives the least), contradictory options; fails
// (kFailedPrecondition) when no configuration fits, naming the one that needs the least memory
// and how much.
OPPLAN_EXPORT Result<ConfigSearchResult> search_parallel_configs(const Graph& graph, const Cluster& cluster,
                                                                 const CostModel& cost_model,
                                                                 const ConfigSearchOptions& options = {});

OPPLAN_END_NAMESPACE
