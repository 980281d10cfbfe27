// ParallelConfig: a parallel training configuration as practitioners write it (Megatron-LM,
// DeepSpeed, torchtitan): data parallelism with a ZeRO stage, tensor parallelism with or without
// sequence parallelism, pipeline parallelism with virtual stages and a schedule, expert and context
// parallelism, micro-batch and global batch, activation recomputation.
//
// Devices are ranked as Megatron-LM ranks them (order tp-cp-dp-pp): rank = tp + TP * (cp + CP *
// (dp + DP * pp)), so a tensor-parallel group is TP consecutive devices (one node when TP <= 8)
// and pipeline stage p holds the p-th block of TP * CP * DP devices. Expert parallelism splits the
// data-parallel group: EP consecutive data-parallel ranks hold different experts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/status.hpp>
#include <opplan/training.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

enum class PipelineSchedule : std::uint8_t {
  kGPipe,        // all forwards, then all backwards
  k1F1B,         // PipeDream-flush / Megatron's default
  kInterleaved,  // Megatron's interleaved 1F1B over vpp virtual stages per device
  kZBH1,         // Zero Bubble H1 (1F1B memory, W deferred)
  kZBV,          // Zero Bubble V: two virtual stages per device in a V, 1F1B memory
  kDualPipe,     // DeepSeek's bidirectional DualPipe (two copies of the parameters)
  kDualPipeV,    // DualPipe on a V placement (one copy)
};
// "gpipe", "1f1b", "interleaved", "zb-h1", "zbv", "dualpipe", "dualpipev".
OPPLAN_EXPORT const char* to_string(PipelineSchedule schedule);
OPPLAN_EXPORT std::optional<PipelineSchedule> parse_pipeline_schedule(std::string_view name);

struct ParallelConfig {
  int dp = 1;   // data-parallel replicas
  int tp = 1;   // tensor-parallel size (Megatron's column / row split of each layer)
  int pp = 1;   // pipeline stages (devices in a pipeline)
  int vpp = 1;  // virtual stages per device (interleaved: > 1; ZB-V and DualPipeV: 2)
  int ep = 1;   // expert-parallel size: divides dp; experts split over EP data-parallel ranks
  int cp = 1;   // context-parallel size: the sequence split over CP devices (ring attention)
  int zero = 0; // ZeRO stage over the data-parallel group: 0, 1 (optimizer state), 2 (+ gradients),
                // 3 (+ weights, gathered per layer when used: FSDP)
  bool sequence_parallel = false;  // TP's layer norms and dropouts split along the sequence
  int micro_batch_size = 1;        // samples per micro-batch per data-parallel replica
  std::int64_t global_batch = 0;   // samples per iteration; 0 = dp * micro_batch_size
  ActivationRecompute recompute = ActivationRecompute::kNone;
  // Fused attention (FlashAttention, PyTorch's SDPA): the attention core keeps no tensor that grows
  // with the sequence squared and never writes one to memory; its backward recomputes the scores.
  bool flash_attention = false;
  PipelineSchedule schedule = PipelineSchedule::k1F1B;
  // Optional: the layers of each virtual stage (pp * vpp entries, in pipeline order: stage s of
  // chunk c is entry c * pp + s, as Megatron counts model chunks). Empty = equal shares.
  std::vector<int> layers_per_stage;
  // The data-parallel gradient reduction runs in buckets during the last backward pass (PyTorch
  // DDP, Megatron-Core's overlap_grad_reduce, FSDP); false = after the backward.
  bool overlap_grad_reduce = true;
  // ZeRO: the weights' all-gather overlaps compute (the next forward for stages 1-2, prefetch of
  // the next layer for stage 3); false = exposed.
  bool overlap_param_gather = true;
  // Tensor-parallel collectives overlap the matmuls (Megatron-Core's tp_comm_overlap); false =
  // exposed, as in Megatron-LM 2021-2022.
  bool overlap_tp_comm = false;

  // dp * tp * pp * cp.
  std::int64_t num_devices() const { return std::int64_t{dp} * tp * pp * cp; }
  std::int64_t effective_global_batch() const { return global_batch > 0 ? global_batch : std::int64_t{dp} * micro_batch_size; }
  // Micro-batches per replica per iteration: global batch / (dp * micro_batch_size).
  std::int64_t num_micro_batches() const;

  // Every problem at once, one per line, naming the field: sizes < 1, zero outside 0..3, ep not
  // dividing dp, a global batch not divisible by dp * micro_batch_size, a schedule that needs
  // another vpp (interleaved > 1 only with it; zbv / dualpipev need 2; gpipe, 1f1b, zb-h1 and
  // dualpipe need 1), layers_per_stage of the wrong length or with a negative entry.
  OPPLAN_EXPORT Status validate() const;
  // "DP 16 x TP 8 x PP 8 (interleaved, VPP 2), SP, ZeRO-1, micro-batch 1, global batch 1536,
  // recompute full".
  OPPLAN_EXPORT std::string ToString() const;
};

// A Megatron-LM command line's parallel and model settings.
struct MegatronLine {
  ParallelConfig config;
  // The model the line describes, as a zoo spec ("gpt:hidden=12288,layers=96,heads=96,seq=2048,
  // vocab=51200,dtype=bf16"); empty when the line names no model size.
  std::string model_spec;
  int world_size = 0;  // 0 = not given: dp is then left for the cluster to decide
};

// Parses --tensor-model-parallel-size, --pipeline-model-parallel-size,
// --num-layers-per-virtual-pipeline-stage, --micro-batch-size, --global-batch-size,
// --sequence-parallel, --recompute-granularity (full | selective), --recompute-method,
// --recompute-activations (= selective), --use-distributed-optimizer (ZeRO-1),
// --expert-model-parallel-size, --context-parallel-size, --data-parallel-size (opplan's, for
// lines without a world size), --num-layers, --hidden-size, --ffn-hidden-size,
// --num-attention-heads, --seq-length, --padded-vocab-size / --vocab-size, --bf16, --fp16,
// --overlap-grad-reduce, --overlap-param-gather, --tp-comm-overlap, --use-flash-attn, --use-torch-fsdp2
// (ZeRO 3), --decoder-first-pipeline-num-layers, --decoder-last-pipeline-num-layers, --world-size. `--flag=value`
// and `--flag value` both read. Unknown flags, missing or malformed values, contradictions
// (--bf16 with --fp16, a virtual stage size with pp 1, layers not divisible by it): an error
// naming the flag. `dp` is world size / (tp * pp * cp) when the world size is given.
OPPLAN_EXPORT Result<MegatronLine> parse_megatron_args(std::string_view line);

// A ParallelConfig as a Megatron-LM (Megatron-Core) command line's parallel, batch and
// recomputation flags -- the inverse of parse_megatron_args(), which reads every flag written here.
// `num_layers` (> 0) is needed for virtual stages (--num-layers-per-virtual-pipeline-stage) and for
// uneven cuts (--decoder-first/last-pipeline-num-layers). ZeRO 1 and 2 are Megatron's distributed
// optimizer, ZeRO 3 its FSDP (--use-torch-fsdp2). What Megatron-LM cannot express (a zero-bubble
// or DualPipe schedule, cuts other than a different first / last stage) goes to `notes`, one line
// each; the data-parallel size follows from the launch (world size / (tp x pp x cp)).
struct MegatronCommand {
  std::string args;                // "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 16 ..."
  std::vector<std::string> notes;  // what the line does not say
};
OPPLAN_EXPORT MegatronCommand megatron_command(const ParallelConfig& config, int num_layers = 0);

// The data-parallel side of a ParallelConfig as a DeepSpeed JSON config (train_batch_size,
// train_micro_batch_size_per_gpu, gradient_accumulation_steps, zero_optimization.stage, bf16 /
// fp16 for a 16-bit `dtype`); parse_deepspeed_config() reads it back.
OPPLAN_EXPORT std::string deepspeed_config_json(const ParallelConfig& config, DType dtype = DType::kBF16, int indent = 2);

// A DeepSpeed JSON config: zero_optimization.stage, train_batch_size,
// train_micro_batch_size_per_gpu, gradient_accumulation_steps, bf16.enabled / fp16.enabled.
// Returns the data-parallel side of a configuration (dp from train_batch_size / (micro-batch *
// accumulation) when all three are given) and the training dtype (f16, bf16 or f32).
struct DeepSpeedSettings {
  ParallelConfig config;
  DType dtype = DType::kF32;
};
OPPLAN_EXPORT Result<DeepSpeedSettings> parse_deepspeed_config(std::string_view json, std::string_view source = "<string>");
OPPLAN_EXPORT Result<DeepSpeedSettings> read_deepspeed_config(const std::string& path);

OPPLAN_END_NAMESPACE
