// Built-in model zoo: operator-level training graphs of well-known models, with FLOPs, bytes,
// parameters, activations, shapes and dimension annotations for every op. Used as defaults by the
// command line, in examples and in benchmarks; a framework normally exports its own graph instead.
#pragma once

#include <cstdint>
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
  // Dropout after attention probabilities, the attention projection and the MLP (as GPT-3 and
  // Megatron-LM train): its 1-byte masks are kept for the backward (Korthikanti et al.'s count).
  bool dropout = true;

  // False, with a message naming the field, when a size is not positive or hidden % heads != 0.
  bool IsValid(std::string* error) const;
};

// The GPT-3 sizes of Alpa's benchmark: "350M", "1.3B", "2.6B", "6.7B", "15B", "39B" (sequences of
// 1024 tokens), and GPT-3 itself, "175B" (2048 tokens).
OPPLAN_EXPORT std::optional<TransformerConfig> gpt3_config(std::string_view size);

// One op per operator of the forward pass (embedding, per layer: layer-norm, QKV projection,
// attention scores, softmax, attention-weighted values, output projection, residual add,
// layer-norm, MLP up-projection, GELU, MLP down-projection, residual add; final layer-norm, LM
// head, loss), each with its forward, input-gradient and weight-gradient cost. Ops of layer i are
// tagged "layer<i>". Fails with kInvalidArgument when !config.IsValid().
OPPLAN_EXPORT Result<Graph> build_transformer(const TransformerConfig& config);

// A GShard mixture-of-experts transformer as in Alpa's MoE benchmark: every layer is attention
// plus a mixture-of-experts MLP (GELU experts, top-k gating). Tokens are routed in groups of
// min(expert_group, micro_batch * seq_len); each expert takes at most
// ceil(top_k * capacity_factor * group / experts) tokens of a group. Layer i is tagged "layer<i>".
struct MoeConfig {
  std::string name = "gshard-moe";
  int hidden = 768;
  int layers = 8;
  int heads = 16;
  int experts = 8;
  int ffn_hidden = 0;      // per expert; 0 -> 4 * hidden
  int top_k = 2;
  double capacity_factor = 1.0;
  int expert_group = 2048; // tokens per routing group
  int seq_len = 1024;
  int vocab = 32000;
  int micro_batch = 1;
  DType dtype = DType::kF16;

  bool IsValid(std::string* error) const;
};

// Alpa's GShard MoE sizes: "380M", "1.3B", "2.4B", "10B", "27B", "70B".
OPPLAN_EXPORT std::optional<MoeConfig> gshard_moe_config(std::string_view size);
// Per layer: ln, QKV, attention (scores, softmax, values), projection, residual add, ln, gate
// ("b s h, h e -> b s e"), route (top-k and capacity: the dispatch mask "g s e -> g s e c"),
// dispatch ("g s h, g s e c -> e g c h"), expert fc1 ("e g c h, e h f -> e g c f"), GELU,
// expert fc2, combine ("e g c h, g s e c -> g s h"), residual add. Splitting token groups g in
// dispatch / combine and experts e in the expert matmuls is expert parallelism; the resharding
// between them is the all-to-all.
OPPLAN_EXPORT Result<Graph> build_gshard_moe(const MoeConfig& config);

// Wide-ResNet as in Alpa's benchmark (Flax ResNet-v1, bottleneck blocks whose 3x3 convolution is
// width_factor times wider). Convolutions are annotated "b c i j, r c k -> b k x y" (r = kernel
// area), so sharding may split batch and channels. Block i is tagged "layer<i>".
struct WideResNetConfig {
  std::string name = "wresnet";
  int depth = 50;          // 50 or 101
  int base_channels = 160;
  int width_factor = 2;
  int image_size = 224;
  int classes = 1024;
  int micro_batch = 32;    // images per micro-batch
  DType dtype = DType::kF32;

  bool IsValid(std::string* error) const;
};

// Alpa's Wide-ResNet sizes: "250M", "1B", "2B", "4B", "6.8B", "13B".
OPPLAN_EXPORT std::optional<WideResNetConfig> wide_resnet_config(std::string_view size);
OPPLAN_EXPORT Result<Graph> build_wide_resnet(const WideResNetConfig& config);

// A Llama-3-style decoder: RMSNorm, grouped-query attention (kv_heads key/value heads), SwiGLU
// MLP, no biases, untied LM head. Layer i is tagged "layer<i>".
struct LlamaConfig {
  std::string name = "llama3";
  int hidden = 4096;
  int layers = 32;
  int heads = 32;
  int kv_heads = 8;
  int ffn_hidden = 14336;
  int seq_len = 8192;
  int vocab = 128256;
  int micro_batch = 1;
  DType dtype = DType::kBF16;

  bool IsValid(std::string* error) const;
};

// "8B" (4096, 32 layers, 32 / 8 heads, FFN 14336), "70B" (8192, 80, 64 / 8, 28672) and "405B"
// (16384, 126, 128 / 8, 53248).
OPPLAN_EXPORT std::optional<LlamaConfig> llama3_config(std::string_view size);
OPPLAN_EXPORT Result<Graph> build_llama(const LlamaConfig& config);

// A DeepSeek-V3-style decoder: multi-head latent attention (low-rank queries, compressed key /
// value latent, a rotary key part shared by the heads), dense SwiGLU MLPs in the first
// dense_layers layers, then mixture-of-experts MLPs with routed_experts SwiGLU experts
// (active_experts per token, routed as in build_gshard_moe with one group per sequence) beside
// shared_experts always-active ones. Layer i is tagged "layer<i>".
struct DeepSeekConfig {
  std::string name = "deepseek-v3";
  int hidden = 7168;
  int layers = 61;
  int dense_layers = 3;
  int heads = 128;
  int q_lora_rank = 1536;
  int kv_lora_rank = 512;
  int qk_nope_dim = 128;
  int qk_rope_dim = 64;
  int v_head_dim = 128;
  int dense_ffn_hidden = 18432;
  int expert_ffn_hidden = 2048;
  int routed_experts = 256;
  int active_experts = 8;
  int shared_experts = 1;
  double capacity_factor = 1.0;
  int seq_len = 4096;
  int vocab = 129280;
  int micro_batch = 1;
  DType dtype = DType::kBF16;

  bool IsValid(std::string* error) const;
};

// "671B": the published DeepSeek-V3 configuration (the defaults above).
OPPLAN_EXPORT std::optional<DeepSeekConfig> deepseek_v3_config(std::string_view size);
OPPLAN_EXPORT Result<Graph> build_deepseek(const DeepSeekConfig& config);

// Branch-rich graphs, the operator-level planner's benchmarks (docs/planner.md): an Inception-like
// stack (each block `branches` parallel MLP branches of depth 1..branches, summed), a MoE layer
// stack (a dense projection, then `branches` experts side by side on equal token shares,
// combined), and a two-tower multi-modal model (`blocks` layers per tower, the image tower twice
// as wide, fused by a sum).
// Every graph starts with an embedding and a stem and ends with a head and a loss.
enum class BranchyModel : std::uint8_t { kInceptionStack, kMoeStack, kTwoTower };
// "inception-stack", "moe-stack", "two-tower" (also their zoo names).
OPPLAN_EXPORT const char* to_string(BranchyModel model);
struct BranchyConfig {
  BranchyModel model = BranchyModel::kInceptionStack;
  std::string name;       // empty = to_string(model)
  int blocks = 6;         // blocks, MoE layers, or layers per tower, >= 1
  int branches = 4;       // parallel branches or experts per block, >= 2
  std::int64_t hidden = 2048;
  std::int64_t tokens = 2048;  // per micro-batch

  bool IsValid(std::string* error) const;
};
OPPLAN_EXPORT Result<Graph> build_branchy(const BranchyConfig& config);

// Zoo models by name (case-insensitive): "gpt3-350m", "gpt3-1.3b", "gpt3-2.6b", "gpt3-6.7b",
// "gpt3-15b", "gpt3-39b", "gpt3-175b", "gshard-moe-380m" … "gshard-moe-70b", "wresnet-250m" …
// "wresnet-13b", "llama3-8b", "llama3-70b", "llama3-405b", "deepseek-v3-671b". Fails with
// kNotFound listing the known names. A name with a colon is a spec: model_from_spec().
//
// Specs give a family and its sizes, any left out keeping the family's default (the structs above):
//   gpt:hidden=,layers=,heads=,ffn=,seq=,vocab=,batch=,dtype=,dropout=0|1
//   llama:hidden=,layers=,heads=,kv_heads=,ffn=,seq=,vocab=,batch=,dtype=
//   moe:hidden=,layers=,heads=,experts=,ffn=,top_k=,capacity=,group=,seq=,vocab=,batch=,dtype=
//   deepseek:hidden=,layers=,dense_layers=,heads=,experts=,active=,shared=,expert_ffn=,dense_ffn=,
//            q_lora=,kv_lora=,seq=,vocab=,batch=,dtype=
//   wresnet:depth=,channels=,width=,image=,classes=,batch=,dtype=
// e.g. "gpt:hidden=12288,layers=96,heads=96,seq=2048,vocab=51200,dtype=bf16". `batch` is the
// micro-batch the graph is built for (Graph::samples). Unknown families or keys, values that are
// not numbers or dtypes, and sizes the builder rejects fail with kInvalidArgument naming the key.
OPPLAN_EXPORT Result<Graph> model_from_spec(std::string_view spec);
OPPLAN_EXPORT Result<Graph> zoo_model(std::string_view name);
OPPLAN_EXPORT std::vector<std::string> zoo_names();

OPPLAN_END_NAMESPACE
