// A Llama-3-style decoder: RMSNorm before attention and MLP, grouped-query attention (kv_heads
// key/value heads shared by groups of query heads; rotary positions, whose few FLOPs per element
// are left out), a SwiGLU MLP (gate and up projections, silu(gate) * up, down projection), no
// biases, an untied LM head.
#include <opplan/models.hpp>

#include <string>
#include <utility>

#include <fmt/format.h>

#include "models/builder.hpp"

OPPLAN_BEGIN_NAMESPACE

bool LlamaConfig::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  const std::pair<const char*, int> positive[] = {{"hidden", hidden},     {"layers", layers},   {"heads", heads},
                                                  {"kv_heads", kv_heads}, {"ffn_hidden", ffn_hidden},
                                                  {"seq_len", seq_len},   {"vocab", vocab},     {"micro_batch", micro_batch}};
  for (const auto& [field, value] : positive)
    if (value <= 0) return fail(fmt::format("LlamaConfig.{} must be positive, got {}", field, value));
  if (hidden % heads != 0)
    return fail(fmt::format("LlamaConfig.hidden ({}) must be divisible by heads ({})", hidden, heads));
  if (heads % kv_heads != 0)
    return fail(fmt::format("LlamaConfig.heads ({}) must be divisible by kv_heads ({})", heads, kv_heads));
  return true;
}

namespace {

using namespace models_detail;

class LlamaBuilder {
 public:
  explicit LlamaBuilder(const LlamaConfig& c) : c_(c), m_(c.name, c.dtype) {
    b_ = c.micro_batch, s_ = c.seq_len, h_ = c.hidden, n_ = c.heads, kv_ = c.kv_heads, d_ = c.hidden / c.heads;
    f_ = c.ffn_hidden;
  }

  Graph build() {
    OpId x = m_.embedding(b_, s_, c_.vocab, h_);
    for (int i = 0; i < c_.layers; ++i) x = layer(i, x);
    const OpId norm = m_.norm("final_norm", "", In{x}, b_, s_, h_, true);
    const OpId head = m_.linear("lm_head", "", In{norm}, b_, s_, h_, c_.vocab);
    m_.loss(In{head}, {b_, s_, c_.vocab}, "b s v -> b s");
    m_.graph().set_samples(c_.micro_batch);
    m_.graph().set_sequence_length(c_.seq_len);
    return m_.take();
  }

 private:
  OpId layer(int i, OpId input) {
    const std::string tag = fmt::format("layer{}", i);
    auto name = [&](const char* op) { return fmt::format("{}.{}", tag, op); };
    const OpId norm1 = m_.norm(name("attn_norm"), tag, In{input}, b_, s_, h_, true);
    const OpId q = m_.linear(name("q"), tag, In{norm1}, b_, s_, h_, n_ * d_);
    const OpId k = m_.linear(name("k"), tag, In{norm1}, b_, s_, h_, kv_ * d_);
    const OpId v = m_.linear(name("v"), tag, In{norm1}, b_, s_, h_, kv_ * d_);
    // Keys and values are read once per group of heads: the edges carry the kv_heads tensors.
    const double kv_bytes = double(b_ * s_ * kv_ * d_) * m_.e();
    const OpId attn = m_.attention(tag, tag, In{q}, In{k, kv_bytes}, In{v, kv_bytes}, b_, n_, s_, d_, d_);
    const OpId o = m_.linear(name("o"), tag, In{attn}, b_, s_, n_ * d_, h_);
    const OpId add1 = m_.elementwise(name("attn_add"), tag, {In{o}, In{input}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);

    const OpId norm2 = m_.norm(name("mlp_norm"), tag, In{add1}, b_, s_, h_, true);
    const OpId gate = m_.linear(name("gate"), tag, In{norm2}, b_, s_, h_, f_);
    const OpId up = m_.linear(name("up"), tag, In{norm2}, b_, s_, h_, f_);
    // silu(gate) * up: ~5 FLOPs per element forward (sigmoid, two products), ~10 backward.
    const OpId act = m_.elementwise(name("swiglu"), tag, {In{gate}, In{up}}, {b_, s_, f_}, "b s f, b s f -> b s f", 5, 10, true);
    const OpId down = m_.linear(name("down"), tag, In{act}, b_, s_, f_, h_);
    return m_.elementwise(name("mlp_add"), tag, {In{down}, In{add1}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);
  }

  const LlamaConfig& c_;
  ModelBuilder m_;
  std::int64_t b_, s_, h_, n_, kv_, d_, f_;
};

}  // namespace

Result<Graph> build_llama(const LlamaConfig& config) {
  std::string error;
  if (!config.IsValid(&error)) return Status(StatusCode::kInvalidArgument, error);
  return LlamaBuilder(config).build();
}

OPPLAN_END_NAMESPACE
