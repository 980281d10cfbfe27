// The GPT-style transformer as an operator graph: one op per operator of the forward pass, each with
// the cost of its three training phases.
//
// Notation in this file: b micro-batch, s sequence length, h hidden, n heads, d = h / n head size,
// f MLP hidden, v vocabulary, T = b * s tokens, e bytes per element of the training dtype.
//
// Cost conventions (all per micro-batch, unsharded):
//  - A linear layer x[T, k] * w[k, o] costs 2*T*k*o FLOPs forward, the same again for the input
//    gradient (dy * w^T) and for the weight gradient (x^T * dy). Bias adds are fused into the
//    matmul kernels and left out of the FLOPs so the counts stay the textbook 2*M*N*K.
//  - A batch-matmul of two activations (attention scores, attention x V) has no weights, but its
//    input gradient differentiates both operands: twice the forward FLOPs.
//  - Bytes are what the kernel reads and writes: its inputs, outputs and weights for the forward;
//    the output gradient, the saved inputs / weights and the input gradient for the backward.
//  - activation_bytes is what the backward needs from the forward (the saved inputs, or the output
//    for softmax), so the memory model can charge it per micro-batch in flight.
#include <opplan/models.hpp>

#include <cstdint>
#include <string>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

bool TransformerConfig::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  const std::pair<const char*, int> positive[] = {{"hidden", hidden},   {"layers", layers},
                                                  {"heads", heads},     {"seq_len", seq_len},
                                                  {"vocab", vocab},     {"micro_batch", micro_batch}};
  for (const auto& [field, value] : positive)
    if (value <= 0) return fail(fmt::format("TransformerConfig.{} must be positive, got {}", field, value));
  if (ffn_hidden < 0)
    return fail(fmt::format("TransformerConfig.ffn_hidden must be positive (or 0 for 4 * hidden), got {}", ffn_hidden));
  if (hidden % heads != 0)
    return fail(fmt::format("TransformerConfig.hidden ({}) must be divisible by heads ({})", hidden, heads));
  switch (dtype) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kF64: case DType::kF8: break;
    default:
      return fail(fmt::format("TransformerConfig.dtype must be a floating-point type, got {}", to_string(dtype)));
  }
  return true;
}

namespace {

PhaseCost phase(double flops, double bytes) {
  PhaseCost cost;
  cost.flops = flops;
  cost.bytes = bytes;
  return cost;
}

// Sizes as doubles: FLOP and byte counts of large models overflow 32-bit ints.
struct Dims {
  double b, s, h, n, d, f, v, T, e;
  std::int64_t ib, is, ih, in, id, iff, iv;  // the same sizes for tensor shapes
};

Dims dims_of(const TransformerConfig& c) {
  const int ffn = c.ffn_hidden > 0 ? c.ffn_hidden : 4 * c.hidden;
  const int head = c.hidden / c.heads;
  Dims d{};
  d.b = c.micro_batch, d.s = c.seq_len, d.h = c.hidden, d.n = c.heads, d.d = head, d.f = ffn, d.v = c.vocab;
  d.T = d.b * d.s;
  d.e = size_in_bytes(c.dtype);
  d.ib = c.micro_batch, d.is = c.seq_len, d.ih = c.hidden, d.in = c.heads, d.id = head, d.iff = ffn, d.iv = c.vocab;
  return d;
}

class TransformerBuilder {
 public:
  explicit TransformerBuilder(const TransformerConfig& config) : c_(config), x_(dims_of(config)), graph_(config.name) {}

  Graph build() {
    const int L = c_.layers;
    graph_.reserve(1 + 12 * static_cast<std::size_t>(L) + 3, 15 * static_cast<std::size_t>(L) + 3);
    OpId hidden_state = embedding();
    for (int i = 0; i < L; ++i) hidden_state = layer(i, hidden_state);
    const OpId ln = layernorm("final_ln", "", hidden_state);
    const OpId logits = lm_head(ln);
    loss(logits);
    graph_.set_samples(c_.micro_batch);
    graph_.set_sequence_length(c_.seq_len);
    return std::move(graph_);
  }

 private:
  // One pre-layer-norm block; returns the op producing the block's output.
  OpId layer(int i, OpId input) {
    const std::string tag = fmt::format("layer{}", i);
    auto name = [&](const char* op) { return fmt::format("{}.{}", tag, op); };
    const double act = x_.T * x_.h * x_.e;  // one [b, s, h] activation

    const OpId ln1 = layernorm(name("ln1"), tag, input);
    const OpId qkv = linear(name("qkv"), tag, x_.ih, 3 * x_.ih);
    graph_.add_edge(ln1, qkv);
    const OpId scores = attention_scores(name("scores"), tag);
    graph_.add_edge(qkv, scores, 2 * act);  // Q and K
    const OpId probs = softmax(name("softmax"), tag);
    graph_.add_edge(scores, probs);
    const OpId context = attention_values(name("attn_v"), tag);
    graph_.add_edge(probs, context);
    graph_.add_edge(qkv, context, act);  // V
    const OpId proj = linear(name("proj"), tag, x_.ih, x_.ih);
    graph_.add_edge(context, proj);
    const OpId attn_add = residual_add(name("attn_add"), tag);
    graph_.add_edge(proj, attn_add);
    graph_.add_edge(input, attn_add);  // the residual skips the attention block

    const OpId ln2 = layernorm(name("ln2"), tag, attn_add);
    const OpId fc1 = linear(name("fc1"), tag, x_.ih, x_.iff);
    graph_.add_edge(ln2, fc1);
    const OpId act_fn = gelu(name("gelu"), tag);
    graph_.add_edge(fc1, act_fn);
    const OpId fc2 = linear(name("fc2"), tag, x_.iff, x_.ih);
    graph_.add_edge(act_fn, fc2);
    const OpId mlp_add = residual_add(name("mlp_add"), tag);
    graph_.add_edge(fc2, mlp_add);
    graph_.add_edge(attn_add, mlp_add);  // the residual skips the MLP block
    return mlp_add;
  }

  Op base(std::string name, std::string layer, const char* kind, std::vector<std::int64_t> shape, std::string dims) {
    Op op;
    op.name = std::move(name);
    op.layer = std::move(layer);
    op.kind = kind;
    op.shape = std::move(shape);
    op.dtype = c_.dtype;
    op.dims = std::move(dims);
    return op;
  }

  // Token embedding gathered and learned position embedding added: the table is (v + s) x h.
  OpId embedding() {
    const double out = x_.T * x_.h * x_.e;
    const double ids = x_.T * 4;  // int32 token ids
    Op op = base("embedding", "", "embedding", {x_.ib, x_.is, x_.ih}, "b s, v h, s h -> b s h");
    op.param_bytes = (x_.v + x_.s) * x_.h * x_.e;
    op.forward = phase(x_.T * x_.h, ids + 2 * out + out);  // the position add; reads both gathered rows
    // Token ids have no gradient. The weight gradient scatter-adds the output gradient into the
    // rows it gathered, once for the token table and once for the position table.
    op.weight_grad = phase(2 * x_.T * x_.h, ids + out + 2 * 2 * out);
    op.activation_bytes = ids;
    return graph_.add_op(std::move(op));
  }

  // LayerNorm over h with scale and shift (2h parameters); ~5 FLOPs per element forward (mean,
  // variance, normalise, scale, shift), ~2x that for the input gradient, ~3 for the parameter
  // gradients. The backward needs the input plus per-token mean and reciprocal std (fp32).
  OpId layernorm(std::string name, std::string layer, OpId input) {
    const double elems = x_.T * x_.h;
    const double act = elems * x_.e, params = 2 * x_.h * x_.e;
    Op op = base(std::move(name), std::move(layer), "layernorm", {x_.ib, x_.is, x_.ih}, "b s h, h -> b s h");
    op.param_bytes = params;
    op.forward = phase(5 * elems, act + act + params);
    op.input_grad = phase(10 * elems, 3 * act + params);
    op.weight_grad = phase(3 * elems, 2 * act + params);
    op.activation_bytes = act + x_.T * 2 * 4;
    const OpId id = graph_.add_op(std::move(op));
    graph_.add_edge(input, id);
    return id;
  }

  // x[b, s, k] * w[k, o] + bias[o].
  OpId linear(std::string name, std::string layer, std::int64_t k, std::int64_t o) {
    const double in = x_.T * k * x_.e, out = x_.T * o * x_.e, weights = (double(k) * o + o) * x_.e;
    const double flops = 2 * x_.T * double(k) * double(o);
    Op op = base(std::move(name), std::move(layer), "matmul", {x_.ib, x_.is, o}, "b s h, h o -> b s o");
    op.param_bytes = weights;
    op.forward = phase(flops, in + weights + out);
    op.input_grad = phase(flops, out + weights + in);
    op.weight_grad = phase(flops, out + in + weights);
    op.activation_bytes = in;
    return graph_.add_op(std::move(op));
  }

  // Q K^T per head: [b, n, s, d] x [b, n, t, d] -> [b, n, s, t]. The 1/sqrt(d) scale is fused; the
  // causal mask is applied in the softmax, and dense kernels compute the full s x s block.
  OpId attention_scores(std::string name, std::string layer) {
    const double qk = 2 * x_.T * x_.h * x_.e, out = x_.b * x_.n * x_.s * x_.s * x_.e;
    const double flops = 2 * x_.b * x_.n * x_.s * x_.s * x_.d;
    Op op = base(std::move(name), std::move(layer), "batch_matmul", {x_.ib, x_.in, x_.is, x_.is},
                 "b n s d, b n t d -> b n s t");
    op.forward = phase(flops, qk + out);
    op.input_grad = phase(2 * flops, out + qk + qk);  // dQ = dS K, dK = dS^T Q
    op.activation_bytes = qk;
    return graph_.add_op(std::move(op));
  }

  // Masked softmax over the last axis: ~5 FLOPs per element forward (mask/scale, max, exp, sum,
  // divide), ~4 backward (y * (dy - sum(dy * y))), which needs the output rather than the input.
  OpId softmax(std::string name, std::string layer) {
    const double elems = x_.b * x_.n * x_.s * x_.s, bytes = elems * x_.e;
    Op op = base(std::move(name), std::move(layer), "softmax", {x_.ib, x_.in, x_.is, x_.is}, "b n s t -> b n s t");
    op.forward = phase(5 * elems, 2 * bytes);
    op.input_grad = phase(4 * elems, 3 * bytes);
    op.activation_bytes = bytes;
    if (c_.dropout) add_dropout(op, elems);
    return graph_.add_op(std::move(op));
  }

  // Attention probabilities times values: [b, n, s, t] x [b, n, t, d] -> [b, n, s, d].
  OpId attention_values(std::string name, std::string layer) {
    const double probs = x_.b * x_.n * x_.s * x_.s * x_.e, v = x_.T * x_.h * x_.e, out = v;
    const double flops = 2 * x_.b * x_.n * x_.s * x_.s * x_.d;
    Op op = base(std::move(name), std::move(layer), "batch_matmul", {x_.ib, x_.in, x_.is, x_.id},
                 "b n s t, b n t d -> b n s d");
    op.forward = phase(flops, probs + v + out);
    op.input_grad = phase(2 * flops, out + probs + v + probs + v);  // dP = dO V^T, dV = P^T dO
    op.activation_bytes = probs + v;
    return graph_.add_op(std::move(op));
  }

  // Dropout fused into the op before it (attention probabilities; the residual adds take the
  // dropout of the branch they add): one 1-byte mask per element, written in the forward, read in
  // the backward, kept in between.
  void add_dropout(Op& op, double elems) const {
    op.forward.flops += elems;
    op.forward.bytes += elems;
    op.input_grad.bytes += elems;
    op.activation_bytes += elems;
  }

  // Residual add: 1 FLOP per element. Its own backward is a pass-through; the T*h adds charged to
  // the input gradient are the gradient accumulation where the residual branch rejoins.
  OpId residual_add(std::string name, std::string layer) {
    const double elems = x_.T * x_.h, bytes = elems * x_.e;
    Op op = base(std::move(name), std::move(layer), "elementwise", {x_.ib, x_.is, x_.ih}, "b s h, b s h -> b s h");
    op.forward = phase(elems, 3 * bytes);
    op.input_grad = phase(elems, 3 * bytes);
    if (c_.dropout) add_dropout(op, elems);  // the dropout of the branch it adds
    return graph_.add_op(std::move(op));
  }

  // GELU (tanh approximation): ~8 FLOPs per element forward, ~12 for the derivative.
  OpId gelu(std::string name, std::string layer) {
    const double elems = x_.T * x_.f, bytes = elems * x_.e;
    Op op = base(std::move(name), std::move(layer), "elementwise", {x_.ib, x_.is, x_.iff}, "b s f -> b s f");
    op.forward = phase(8 * elems, 2 * bytes);
    op.input_grad = phase(12 * elems, 3 * bytes);
    op.activation_bytes = bytes;
    return graph_.add_op(std::move(op));
  }

  // Logits = x * E^T. The weight is the token embedding table (tied), whose parameters the
  // embedding op already owns: param_bytes stays 0 here so the model is not counted twice. The
  // gradient of that shared weight is still computed here, so weight_grad carries its cost.
  // params_from names the owner, so sharding gives the table one layout in both ops.
  OpId lm_head(OpId input) {
    const double in = x_.T * x_.h * x_.e, out = x_.T * x_.v * x_.e, weights = x_.v * x_.h * x_.e;
    const double flops = 2 * x_.T * x_.h * x_.v;
    Op op = base("lm_head", "", "matmul", {x_.ib, x_.is, x_.iv}, "b s h, h v -> b s v");
    op.params_from = "embedding";
    op.forward = phase(flops, in + weights + out);
    op.input_grad = phase(flops, out + weights + in);
    op.weight_grad = phase(flops, out + in + weights);
    op.activation_bytes = in;
    const OpId id = graph_.add_op(std::move(op));
    graph_.add_edge(input, id);
    return id;
  }

  // Cross-entropy over the vocabulary, one fp32 loss per token (the mean is folded in): a softmax
  // forward (~5 FLOPs per logit) and p - onehot backward (~2), which needs the logits.
  OpId loss(OpId logits) {
    const double elems = x_.T * x_.v, bytes = elems * x_.e, out = x_.T * 4;
    Op op = base("loss", "", "loss", {x_.ib, x_.is}, "b s v -> b s");
    op.dtype = DType::kF32;
    op.forward = phase(5 * elems, bytes + out);
    op.input_grad = phase(2 * elems, bytes + out + bytes);
    op.activation_bytes = bytes;
    const OpId id = graph_.add_op(std::move(op));
    graph_.add_edge(logits, id);
    return id;
  }

  const TransformerConfig& c_;
  Dims x_;
  Graph graph_;
};

}  // namespace

Result<Graph> build_transformer(const TransformerConfig& config) {
  std::string error;
  if (!config.IsValid(&error)) return Status(StatusCode::kInvalidArgument, error);
  return TransformerBuilder(config).build();
}

OPPLAN_END_NAMESPACE
