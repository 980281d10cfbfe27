// Training: what a training step keeps in device memory besides the graph's own tensors, and the
// vocabulary shared by the cost model, evaluate() and the planners: the optimizer, activation
// recomputation, and the per-device memory breakdown every report prints.
//
// The bytes per parameter follow the usual accounting (ZeRO, arXiv 1910.02054; Megatron-LM's
// theoretical_memory_usage): weights and gradients in the weight dtype; Adam keeps two fp32
// moments (8 bytes) and, when the weights are 16-bit, an fp32 master copy (4 bytes): 16 bytes per
// parameter for mixed-precision Adam, 16 for fp32 Adam. docs/training-memory.md has the table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <opplan/dtype.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

enum class Optimizer : std::uint8_t {
  kAdam,         // Adam / AdamW: two fp32 moments, an fp32 master copy of 16-bit weights
  kSgd,          // plain SGD: an fp32 master copy of 16-bit weights, nothing else
  kSgdMomentum,  // SGD with momentum: one fp32 buffer, plus the master copy of 16-bit weights
  kCustom,       // TrainingMemoryOptions::bytes_per_parameter in all (weights and gradients included)
};
// "adam", "sgd", "sgd-momentum", "custom".
OPPLAN_EXPORT const char* to_string(Optimizer optimizer);
// The names above; also "adamw", "mixed-adam" and "adam-fp32" for kAdam (the dtype decides what is
// mixed) and "momentum" for kSgdMomentum.
OPPLAN_EXPORT std::optional<Optimizer> parse_optimizer(std::string_view name);

// Bytes kept per parameter, by what they are.
struct ParameterBytes {
  double weights = 0;
  double gradients = 0;
  double optimizer = 0;  // master copy and optimizer moments
  double total() const { return weights + gradients + optimizer; }
};

// The bytes per parameter of `optimizer` for weights of `weight_dtype`. kCustom: `custom_total`
// bytes in all, of which the weights and gradients take the dtype's size each (the rest is
// optimizer state; a total below those two is all weights and gradients, split evenly).
OPPLAN_EXPORT ParameterBytes bytes_per_parameter(Optimizer optimizer, DType weight_dtype, double custom_total = 0);

// Activation recomputation of a transformer layer (Korthikanti et al. 2022, arXiv 2205.05198).
enum class ActivationRecompute : std::uint8_t {
  kNone,       // keep every activation
  kSelective,  // recompute the attention core (the tensors that grow with the sequence squared)
  kFull,       // keep only each layer's input; rerun the layer's forward in its backward
};
// "none", "selective", "full".
OPPLAN_EXPORT const char* to_string(ActivationRecompute recompute);
OPPLAN_EXPORT std::optional<ActivationRecompute> parse_activation_recompute(std::string_view name);

// Memory of one device during a training step, bytes, by what fills it.
struct MemoryBreakdown {
  double weights = 0;
  double gradients = 0;
  double optimizer = 0;    // optimizer state (master weights, moments)
  double activations = 0;  // peak of the activations kept for the backward, with recomputation
  double buffers = 0;      // communication buffers, gathered weights, the largest transient tensor
  double reserve = 0;      // the framework's share: CUDA context, workspaces, fragmentation

  double total() const { return weights + gradients + optimizer + activations + buffers + reserve; }
  // The largest part's name: "weights", "gradients", "optimizer", "activations", "buffers",
  // "reserve".
  OPPLAN_EXPORT const char* largest() const;
  // "71.2 GB = weights 4.1 GB + gradients 4.1 GB + optimizer 24.5 GB + activations 35.0 GB +
  // buffers 1.2 GB + reserve 2.3 GB" (decimal units).
  OPPLAN_EXPORT std::string ToString() const;
};

OPPLAN_END_NAMESPACE
