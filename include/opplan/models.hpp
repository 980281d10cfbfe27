// Built-in model zoo: operator-level training graphs of well-known models, with FLOPs, bytes,
// parameters, activations, shapes and dimension annotations for every op. Used as defaults by the
// command line, in examples and in benchmarks; a framework normally exports its own graph instead.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opplan/graph.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// A GPT-style decoder-only transformer (pre-layer-norm, learned positions, GELU MLP, tied
// embedding), as in GPT-3 and Alpa's GPT benchmark.
struct TransformerConfig {
  std::string name = "gpt";
  int hidden = 1024;
  int layers = 24;
  int heads = 16;
  int ffn_hidden = 0;       // 0 -> 4 * hidden
  int seq_len = 1024;
  int vocab = 51200;
  int micro_batch = 1;      // sequences per micro-batch
  DType dtype = DType::kF16;

  // False, with a message naming the field, when a size is not positive or hidden % heads != 0.
  bool IsValid(std::string* error) const;
};

// The GPT-3 sizes of Alpa's benchmark: "350M", "1.3B", "2.6B", "6.7B", "15B", "39B".
OPPLAN_EXPORT std::optional<TransformerConfig> gpt3_config(std::string_view size);

// One op per operator of the forward pass (embedding, per layer: layer-norm, QKV projection,
// attention scores, softmax, attention-weighted values, output projection, residual add,
// layer-norm, MLP up-projection, GELU, MLP down-projection, residual add; final layer-norm, LM
// head, loss), each with its forward, input-gradient and weight-gradient cost. Ops of layer i are
// tagged "layer<i>". Fails with kInvalidArgument when !config.IsValid().
OPPLAN_EXPORT Result<Graph> build_transformer(const TransformerConfig& config);

// Zoo models by name: "gpt3-350m", "gpt3-1.3b", "gpt3-2.6b", "gpt3-6.7b", "gpt3-15b", "gpt3-39b"
// (case-insensitive). Fails with kNotFound listing the known names.
OPPLAN_EXPORT Result<Graph> zoo_model(std::string_view name);
OPPLAN_EXPORT std::vector<std::string> zoo_names();

OPPLAN_END_NAMESPACE
