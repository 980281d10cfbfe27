// GShard-style mixture-of-experts transformer as in Alpa's MoE benchmark: every layer is a
// pre-layer-norm attention block followed by a mixture-of-experts MLP (top-2 gating, GELU
// experts of width ffn), token and learned position embeddings, an untied LM head.
//
// Tokens are routed in groups (GShard's "expert group"): a group is min(expert_group, b * s)
// tokens, each expert takes at most C = ceil(top_k * capacity_factor * S / E) tokens of a group.
// The parameter counts come out within 5 % of Alpa's nominal sizes except 2.4B (2.28B, 5.0 %
// below): Alpa rounds its names.
#include <opplan/models.hpp>

#include <cmath>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "models/builder.hpp"

OPPLAN_BEGIN_NAMESPACE

bool MoeConfig::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  const std::pair<const char*, int> positive[] = {
      {"hidden", hidden},   {"layers", layers},         {"heads", heads},   {"experts", experts},
      {"top_k", top_k},     {"expert_group", expert_group}, {"seq_len", seq_len}, {"vocab", vocab},
      {"micro_batch", micro_batch}};
  for (const auto& [field, value] : positive)
    if (value <= 0) return fail(fmt::format("MoeConfig.{} must be positive, got {}", field, value));
  if (ffn_hidden < 0) return fail(fmt::format("MoeConfig.ffn_hidden must be positive (or 0 for 4 * hidden), got {}", ffn_hidden));
  if (hidden % heads != 0)
    return fail(fmt::format("MoeConfig.hidden ({}) must be divisible by heads ({})", hidden, heads));
  if (top_k > experts) return fail(fmt::format("MoeConfig.top_k ({}) must not exceed experts ({})", top_k, experts));
  if (!(capacity_factor > 0) || !std::isfinite(capacity_factor))
    return fail(fmt::format("MoeConfig.capacity_factor must be positive and finite, got {}", capacity_factor));
  const long long tokens = static_cast<long long>(micro_batch) * seq_len;
  const long long group = std::min<long long>(expert_group, tokens);
  if (tokens % group != 0)
    return fail(fmt::format("MoeConfig: micro_batch * seq_len ({}) must be a multiple of expert_group ({})", tokens, group));
  if (group % seq_len != 0 && seq_len % group != 0)
    return fail(fmt::format("MoeConfig: expert_group ({}) and seq_len ({}) must divide one another", group, seq_len));
  return true;
}

namespace {

using namespace models_detail;

class MoeBuilder {
 public:
  explicit MoeBuilder(const MoeConfig& c) : c_(c), m_(c.name, c.dtype) {
    b_ = c.micro_batch, s_ = c.seq_len, h_ = c.hidden, n_ = c.heads, f_ = c.ffn_hidden > 0 ? c.ffn_hidden : 4 * c.hidden;
    const std::int64_t tokens = b_ * s_;
    moe_.b = b_, moe_.s = s_, moe_.h = h_, moe_.E = c.experts, moe_.top_k = c.top_k;
    moe_.S = std::min<std::int64_t>(c.expert_group, tokens);
    moe_.G = tokens / moe_.S;
    moe_.C = static_cast<std::int64_t>(std::ceil(c.top_k * c.capacity_factor * double(moe_.S) / c.experts));
  }

  Graph build() {
    // Token and learned position embeddings (one gather each, then the add): table (v + s) x h.
    const double T = double(b_ * s_), out = T * double(h_) * m_.e(), ids = T * 4;
    Op emb = m_.base("embedding", "", "embedding", {b_, s_, h_}, "b s, v h, s h -> b s h");
    emb.param_bytes = double(c_.vocab + c_.seq_len) * double(h_) * m_.e();
    emb.forward = phase(T * double(h_), ids + 3 * out);
    emb.weight_grad = phase(2 * T * double(h_), ids + out + 4 * out);
    emb.activation_bytes = ids;
    OpId x = m_.add(std::move(emb), {});
    for (int i = 0; i < c_.layers; ++i) x = layer(i, x);
    const OpId ln = m_.norm("final_ln", "", In{x}, b_, s_, h_, false);
    const OpId head = m_.linear("lm_head", "", In{ln}, b_, s_, h_, c_.vocab);
    m_.loss(In{head}, {b_, s_, c_.vocab}, "b s v -> b s");
    m_.graph().set_samples(c_.micro_batch);
    m_.graph().set_sequence_length(c_.seq_len);
    return m_.take();
  }

 private:
  OpId layer(int i, OpId input) {
    const std::string tag = fmt::format("layer{}", i);
    auto name = [&](const char* op) { return fmt::format("{}.{}", tag, op); };
    const double act = double(b_ * s_ * h_) * m_.e();
    const OpId ln1 = m_.norm(name("ln1"), tag, In{input}, b_, s_, h_, false);
    const OpId qkv = m_.linear(name("qkv"), tag, In{ln1}, b_, s_, h_, 3 * h_, true);
    // Q and K come from the fused QKV tensor on one edge (2/3 of it), V on a second one.
    const OpId attn = m_.attention(tag, tag, In{qkv, 2 * act}, std::nullopt, In{qkv, act}, b_, n_, s_, h_ / n_, h_ / n_);
    const OpId proj = m_.linear(name("proj"), tag, In{attn}, b_, s_, h_, h_, true);
    const OpId add1 = m_.elementwise(name("attn_add"), tag, {In{proj}, In{input}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);

    const OpId ln2 = m_.norm(name("ln2"), tag, In{add1}, b_, s_, h_, false);
    const MoeRouting route = moe_route(m_, tag, tag, ln2, moe_);
    const double rows = double(moe_.E * moe_.G * moe_.C);
    const OpId up = m_.matmul(name("expert_fc1"), tag, In{route.dispatched}, {moe_.E, moe_.G, moe_.C, f_},
                              "e g c h, e h f -> e g c f", rows, double(h_), double(f_), double(moe_.E) * double(h_) * double(f_));
    const OpId gelu = m_.elementwise(name("expert_gelu"), tag, {In{up}}, {moe_.E, moe_.G, moe_.C, f_}, "e g c f -> e g c f", 8, 12, true);
    const OpId down = m_.matmul(name("expert_fc2"), tag, In{gelu}, {moe_.E, moe_.G, moe_.C, h_}, "e g c f, e f h -> e g c h",
                                rows, double(f_), double(h_), double(moe_.E) * double(f_) * double(h_));
    const OpId combined = moe_combine(m_, tag, tag, down, route.mask, moe_);
    return m_.elementwise(name("mlp_add"), tag, {In{combined}, In{add1}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);
  }

  const MoeConfig& c_;
  ModelBuilder m_;
  std::int64_t b_, s_, h_, n_, f_;
  MoeShape moe_{};
};

}  // namespace

Result<Graph> build_gshard_moe(const MoeConfig& config) {
  std::string error;
  if (!config.IsValid(&error)) return Status(StatusCode::kInvalidArgument, error);
  return MoeBuilder(config).build();
}

OPPLAN_END_NAMESPACE
