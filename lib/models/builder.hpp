// Private building blocks shared by the zoo's newer model builders (MoE, Llama, DeepSeek,
// Wide-ResNet). The cost conventions are the GPT builder's (transformer.cpp): a matmul costs
// 2*M*N*K FLOPs forward, the same for the input gradient and for the weight gradient; bytes are
// what a kernel reads and writes; activation_bytes is what the backward needs from the forward.
//
// Edges are added in operand order: lib/sharding binds a consumer's in-edges, by edge id, to the
// operands of its dimension annotation, so every helper adds its input edges first to last.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opplan/graph.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace models_detail {

inline PhaseCost phase(double flops, double bytes) {
  PhaseCost cost;
  cost.flops = flops;
  cost.bytes = bytes;
  return cost;
}

inline double product(const std::vector<std::int64_t>& shape) {
  double p = 1;
  for (auto d : shape) p *= static_cast<double>(d);
  return p;
}

// An input of a new op: the producer, and the bytes the edge carries when they differ from the
// producer's whole output (a part of a fused tensor, a broadcast operand).
struct In {
  OpId op;
  std::optional<double> bytes = std::nullopt;
};

class ModelBuilder {
 public:
  ModelBuilder(std::string name, DType dtype) : graph_(std::move(name)), dtype_(dtype), e_(size_in_bytes(dtype)) {}

  Graph take() { return std::move(graph_); }
  Graph& graph() { return graph_; }
  double e() const { return e_; }

  Op base(std::string name, std::string layer, const char* kind, std::vector<std::int64_t> shape, std::string dims) const {
    Op op;
    op.name = std::move(name);
    op.layer = std::move(layer);
    op.kind = kind;
    op.shape = std::move(shape);
    op.dtype = dtype_;
    op.dims = std::move(dims);
    return op;
  }

  OpId add(Op op, std::initializer_list<In> inputs) {
    const OpId id = graph_.add_op(std::move(op));
    for (const In& in : inputs) graph_.add_edge(in.op, id, in.bytes);
    return id;
  }

  // x[.., k] * w[k, o] over `rows` rows (tokens): "b s h, h o -> b s o" for token tensors, or the
  // given annotation (expert matmuls). `weights` = parameter elements (0: weights owned elsewhere).
  OpId matmul(std::string name, std::string layer, In input, std::vector<std::int64_t> shape, std::string dims,
              double rows, double k, double o, double weights) {
    const double in = rows * k * e_, out = rows * o * e_, w = weights * e_;
    const double flops = 2 * rows * k * o;
    Op op = base(std::move(name), std::move(layer), "matmul", std::move(shape), std::move(dims));
    op.param_bytes = w;
    op.forward = phase(flops, in + w + out);
    op.input_grad = phase(flops, out + w + in);
    if (weights > 0) op.weight_grad = phase(flops, out + in + w);
    op.activation_bytes = in;
    return add(std::move(op), {input});
  }

  // A token linear layer without bias (Llama / DeepSeek style) or with one.
  OpId linear(std::string name, std::string layer, In input, std::int64_t b, std::int64_t s, std::int64_t k,
              std::int64_t o, bool bias = false) {
    const double rows = double(b) * double(s);
    return matmul(std::move(name), std::move(layer), input, {b, s, o}, "b s h, h o -> b s o", rows, double(k),
                  double(o), double(k) * double(o) + (bias ? double(o) : 0.0));
  }

  // LayerNorm (scale and shift) or RMSNorm (scale only) over the last dimension of [b, s, h].
  // ~5 FLOPs per element forward (4 for RMSNorm), twice that for the input gradient, ~3 for the
  // parameter gradients; the backward keeps the input and per-row fp32 statistics.
  OpId norm(std::string name, std::string layer, In input, std::int64_t b, std::int64_t s, std::int64_t h, bool rms) {
    const double elems = double(b) * double(s) * double(h), act = elems * e_;
    const double params = (rms ? 1 : 2) * double(h) * e_;
    Op op = base(std::move(name), std::move(layer), rms ? "rmsnorm" : "layernorm", {b, s, h}, "b s h, h -> b s h");
    op.param_bytes = params;
    op.forward = phase((rms ? 4 : 5) * elems, 2 * act + params);
    op.input_grad = phase((rms ? 8 : 10) * elems, 3 * act + params);
    op.weight_grad = phase((rms ? 2 : 3) * elems, 2 * act + params);
    op.activation_bytes = act + double(b) * double(s) * (rms ? 1 : 2) * 4;
    return add(std::move(op), {input});
  }

  // An elementwise op over `shape` with `inputs.size()` operands of the same shape. The backward
  // keeps the inputs when `saves_inputs` (non-linear functions), nothing for adds.
  OpId elementwise(std::string name, std::string layer, std::initializer_list<In> inputs, std::vector<std::int64_t> shape,
                   std::string dims, double fwd_flops_per_elem, double bwd_flops_per_elem, bool saves_inputs) {
    const double elems = product(shape), bytes = elems * e_;
    const double n = static_cast<double>(inputs.size());
    Op op = base(std::move(name), std::move(layer), "elementwise", std::move(shape), std::move(dims));
    op.forward = phase(fwd_flops_per_elem * elems, (n + 1) * bytes);
    op.input_grad = phase(bwd_flops_per_elem * elems, (1 + n + (saves_inputs ? n : 0)) * bytes);
    if (saves_inputs) op.activation_bytes = n * bytes;
    return add(std::move(op), inputs);
  }

  // Scaled dot-product attention on [b, n, s, .] heads: scores Q K^T ("b n s d, b n t d -> b n s t"),
  // masked softmax, probabilities times V. `q`, `k`, `v` carry the bytes of the query, key and
  // value tensors as the kernels read them (a key shared by a group of heads is read once).
  // Without `k`, Q and K are one fused tensor on the `q` edge (GPT's QKV: lib/sharding feeds both
  // operands from that edge). Returns the op producing [b, n, s, dv].
  OpId attention(const std::string& prefix, const std::string& layer, In q, std::optional<In> k, In v, std::int64_t b,
                 std::int64_t n, std::int64_t s, std::int64_t dqk, std::int64_t dv) {
    const double B = double(b), N = double(n), S = double(s);
    const double qb = B * S * N * double(dqk) * e_;
    const double kb = k ? k->bytes.value_or(qb) : qb, vb = v.bytes.value_or(B * S * N * double(dv) * e_);
    const double probs = B * N * S * S * e_;
    const double score_flops = 2 * B * N * S * S * double(dqk);
    Op scores = base(prefix + ".scores", layer, "batch_matmul", {b, n, s, s}, "b n s d, b n t d -> b n s t");
    scores.forward = phase(score_flops, qb + kb + probs);
    scores.input_grad = phase(2 * score_flops, probs + 2 * (qb + kb));  // dQ = dS K, dK = dS^T Q
    scores.activation_bytes = qb + kb;
    const OpId scores_id = k ? add(std::move(scores), {q, *k}) : add(std::move(scores), {q});

    Op softmax = base(prefix + ".softmax", layer, "softmax", {b, n, s, s}, "b n s t -> b n s t");
    softmax.forward = phase(5 * B * N * S * S, 2 * probs);
    softmax.input_grad = phase(4 * B * N * S * S, 3 * probs);
    softmax.activation_bytes = probs;
    const OpId softmax_id = add(std::move(softmax), {In{scores_id}});

    const double out = B * N * S * double(dv) * e_;
    const double value_flops = 2 * B * N * S * S * double(dv);
    Op values = base(prefix + ".attn_v", layer, "batch_matmul", {b, n, s, dv}, "b n s t, b n t d -> b n s d");
    values.forward = phase(value_flops, probs + vb + out);
    values.input_grad = phase(2 * value_flops, out + 2 * (probs + vb));  // dP = dO V^T, dV = P^T dO
    values.activation_bytes = probs + vb;
    return add(std::move(values), {In{softmax_id}, v});
  }

  // Token embedding gather (table v x h), without position table: "b s, v h -> b s h".
  OpId embedding(std::int64_t b, std::int64_t s, std::int64_t v, std::int64_t h) {
    const double T = double(b) * double(s), out = T * double(h) * e_, ids = T * 4;
    Op op = base("embedding", "", "embedding", {b, s, h}, "b s, v h -> b s h");
    op.param_bytes = double(v) * double(h) * e_;
    op.forward = phase(0, ids + 2 * out);
    op.weight_grad = phase(T * double(h), ids + out + 2 * out);  // scatter-add of the gradient rows
    op.activation_bytes = ids;
    return add(std::move(op), {});
  }

  // Cross-entropy over the last dimension of `logits` ([b, s, v] or [b, v]), fp32 loss per row.
  OpId loss(In logits, std::vector<std::int64_t> logit_shape, std::string dims) {
    const double elems = product(logit_shape), bytes = elems * e_;
    std::vector<std::int64_t> shape(logit_shape.begin(), logit_shape.end() - 1);
    const double out = product(shape) * 4;
    Op op = base("loss", "", "loss", std::move(shape), std::move(dims));
    op.dtype = DType::kF32;
    op.forward = phase(5 * elems, bytes + out);
    op.input_grad = phase(2 * elems, bytes + out + bytes);
    op.activation_bytes = bytes;
    return add(std::move(op), {logits});
  }

 private:
  Graph graph_;
  DType dtype_;
  double e_;
};

// Mixture-of-experts routing in GShard's einsum form, on G groups of S tokens, E experts with
// capacity C each: gate logits "b s h, h e -> b s e", the route op turning them into the one-hot
// dispatch mask [G, S, E, C] (top-k, capacity), dispatch "g s h, g s e c -> e g c h", the experts
// (caller), combine "e g c h, g s e c -> g s h" weighting the expert outputs back into tokens.
// Splitting g (token groups) in dispatch/combine and e (experts) in the expert matmuls makes the
// resharding between them the all-to-all of expert parallelism.
struct MoeShape {
  std::int64_t b, s, h;  // token tensor [b, s, h]
  std::int64_t G, S;     // groups of tokens (G * S = b * s)
  std::int64_t E, C;     // experts and per-expert capacity per group
  int top_k;
};

struct MoeRouting {
  OpId dispatched;  // [E, G, C, h]
  OpId mask;        // [G, S, E, C]
};

inline MoeRouting moe_route(ModelBuilder& m, const std::string& prefix, const std::string& layer, OpId tokens,
                            const MoeShape& x) {
  const double e = m.e();
  const double G = double(x.G), S = double(x.S), E = double(x.E), C = double(x.C), H = double(x.h);
  OpId grouped = tokens;
  if (x.G != x.b || x.S != x.s) {
    // Regroup the token stream into expert groups: a view, no data moves.
    Op regroup = m.base(prefix + ".group", layer, "reshape", {x.G, x.S, x.h}, "b s h -> g t h");
    grouped = m.add(std::move(regroup), {In{tokens}});
  }
  const OpId gate = m.linear(prefix + ".gate", layer, In{grouped}, x.G, x.S, x.h, x.E);
  const double mask_elems = G * S * E * C, logits = G * S * E;
  // Softmax (or sigmoid) over the experts, top-k, a cumulative sum per expert for the slot in its
  // capacity, the one-hot mask: ~10 FLOPs per logit and one write per mask element. Its backward
  // sends the gradient of the combine weights back to the gate logits.
  Op route = m.base(prefix + ".route", layer, "moe_route", {x.G, x.S, x.E, x.C}, "g s e -> g s e c");
  route.forward = phase(10 * logits + mask_elems, logits * e + mask_elems * e);
  route.input_grad = phase(4 * logits + mask_elems, mask_elems * e + 2 * logits * e);
  route.activation_bytes = logits * e;
  const OpId mask = m.add(std::move(route), {In{gate}});

  const double flops = 2 * G * S * E * C * H;
  const double tok = G * S * H * e, mask_bytes = mask_elems * e, out = E * G * C * H * e;
  Op dispatch = m.base(prefix + ".dispatch", layer, "moe_dispatch", {x.E, x.G, x.C, x.h}, "g s h, g s e c -> e g c h");
  dispatch.forward = phase(flops, tok + mask_bytes + out);
  dispatch.input_grad = phase(flops, out + mask_bytes + tok);  // tokens' gradient (mask has none)
  dispatch.activation_bytes = mask_bytes;
  const OpId dispatched = m.add(std::move(dispatch), {In{grouped}, In{mask}});
  return {dispatched, mask};
}

inline OpId moe_combine(ModelBuilder& m, const std::string& prefix, const std::string& layer, OpId expert_out,
                        OpId mask, const MoeShape& x) {
  const double e = m.e();
  const double G = double(x.G), S = double(x.S), E = double(x.E), C = double(x.C), H = double(x.h);
  const double flops = 2 * G * S * E * C * H;
  const double in = E * G * C * H * e, mask_bytes = G * S * E * C * e, out = G * S * H * e;
  Op combine = m.base(prefix + ".combine", layer, "moe_combine", {x.G, x.S, x.h}, "e g c h, g s e c -> g s h");
  combine.forward = phase(flops, in + mask_bytes + out);
  combine.input_grad = phase(2 * flops, out + 2 * (in + mask_bytes));  // to the experts and the weights
  combine.activation_bytes = in + mask_bytes;
  OpId id = m.add(std::move(combine), {In{expert_out}, In{mask}});
  if (x.G != x.b || x.S != x.s) {
    Op ungroup = m.base(prefix + ".ungroup", layer, "reshape", {x.b, x.s, x.h}, "g t h -> b s h");
    id = m.add(std::move(ungroup), {In{id}});
  }
  return id;
}

}  // namespace models_detail
OPPLAN_END_NAMESPACE
