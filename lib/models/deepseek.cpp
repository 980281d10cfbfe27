// A DeepSeek-V3-style decoder: RMSNorm, multi-head latent attention (MLA) and, after the first
// dense_layers dense SwiGLU layers, mixture-of-experts layers with routed SwiGLU experts (top-k of
// routed_experts) beside always-active shared experts. No biases, untied LM head.
//
// MLA as trained (no weight absorption): queries through a low-rank bottleneck (q_down, RMSNorm,
// q_up to heads x (nope + rope)); keys and values through a compressed latent (kv_down, RMSNorm,
// kv_up to heads x (nope + v)) plus one rotary key part shared by all heads (k_rope), concatenated
// to the per-head key. Routing is GShard's einsum form (builder.hpp) with one group per sequence:
// capacity C = ceil(top_k * capacity_factor * seq_len / routed_experts).
#include <opplan/models.hpp>

#include <cmath>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "models/builder.hpp"

OPPLAN_BEGIN_NAMESPACE

bool DeepSeekConfig::IsValid(std::string* error) const {
  auto fail = [&](std::string message) {
    if (error) *error = std::move(message);
    return false;
  };
  const std::pair<const char*, int> positive[] = {
      {"hidden", hidden},           {"layers", layers},
      {"heads", heads},             {"q_lora_rank", q_lora_rank},
      {"kv_lora_rank", kv_lora_rank}, {"qk_nope_dim", qk_nope_dim},
      {"qk_rope_dim", qk_rope_dim}, {"v_head_dim", v_head_dim},
      {"dense_ffn_hidden", dense_ffn_hidden}, {"expert_ffn_hidden", expert_ffn_hidden},
      {"routed_experts", routed_experts}, {"active_experts", active_experts},
      {"seq_len", seq_len},         {"vocab", vocab},
      {"micro_batch", micro_batch}};
  for (const auto& [field, value] : positive)
    if (value <= 0) return fail(fmt::format("DeepSeekConfig.{} must be positive, got {}", field, value));
  if (dense_layers < 0 || dense_layers > layers)
    return fail(fmt::format("DeepSeekConfig.dense_layers must be in [0, layers = {}], got {}", layers, dense_layers));
  if (shared_experts < 0) return fail(fmt::format("DeepSeekConfig.shared_experts must be >= 0, got {}", shared_experts));
  if (active_experts > routed_experts)
    return fail(fmt::format("DeepSeekConfig.active_experts ({}) must not exceed routed_experts ({})", active_experts,
                            routed_experts));
  if (!(capacity_factor > 0) || !std::isfinite(capacity_factor))
    return fail(fmt::format("DeepSeekConfig.capacity_factor must be positive and finite, got {}", capacity_factor));
  return true;
}

namespace {

using namespace models_detail;

class DeepSeekBuilder {
 public:
  explicit DeepSeekBuilder(const DeepSeekConfig& c) : c_(c), m_(c.name, c.dtype) {
    b_ = c.micro_batch, s_ = c.seq_len, h_ = c.hidden, n_ = c.heads;
    moe_.b = b_, moe_.s = s_, moe_.h = h_, moe_.G = b_, moe_.S = s_, moe_.E = c.routed_experts;
    moe_.top_k = c.active_experts;
    moe_.C = static_cast<std::int64_t>(std::ceil(c.active_experts * c.capacity_factor * double(s_) / c.routed_experts));
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
    const std::int64_t nope = c_.qk_nope_dim, rope = c_.qk_rope_dim, dv = c_.v_head_dim;
    const OpId norm1 = m_.norm(name("attn_norm"), tag, In{input}, b_, s_, h_, true);
    const OpId q_down = m_.linear(name("q_down"), tag, In{norm1}, b_, s_, h_, c_.q_lora_rank);
    const OpId q_norm = m_.norm(name("q_norm"), tag, In{q_down}, b_, s_, c_.q_lora_rank, true);
    const OpId q_up = m_.linear(name("q_up"), tag, In{q_norm}, b_, s_, c_.q_lora_rank, n_ * (nope + rope));
    const OpId kv_down = m_.linear(name("kv_down"), tag, In{norm1}, b_, s_, h_, c_.kv_lora_rank);
    const OpId k_rope = m_.linear(name("k_rope"), tag, In{norm1}, b_, s_, h_, rope);
    const OpId kv_norm = m_.norm(name("kv_norm"), tag, In{kv_down}, b_, s_, c_.kv_lora_rank, true);
    const OpId kv_up = m_.linear(name("kv_up"), tag, In{kv_norm}, b_, s_, c_.kv_lora_rank, n_ * (nope + dv));

    // The per-head key: its no-position part from kv_up, the rotary part broadcast to every head.
    const double e = m_.e(), T = double(b_ * s_);
    const double k_nope = T * double(n_ * nope) * e, k_shared = T * double(rope) * e, k_full = T * double(n_ * (nope + rope)) * e;
    Op concat = m_.base(name("k_concat"), tag, "concat", {b_, s_, n_ * (nope + rope)}, "b s o, b s r -> b s k");
    concat.forward = phase(0, k_nope + k_shared + k_full);
    concat.input_grad = phase(T * double(n_ * rope), k_full + k_nope + k_shared);  // the rope part's gradient sums over heads
    const OpId key = m_.add(std::move(concat), {In{kv_up, k_nope}, In{k_rope}});

    const OpId attn = m_.attention(tag, tag, In{q_up}, In{key}, In{kv_up, T * double(n_ * dv) * e}, b_, n_, s_, nope + rope, dv);
    const OpId o = m_.linear(name("o"), tag, In{attn}, b_, s_, n_ * dv, h_);
    const OpId add1 = m_.elementwise(name("attn_add"), tag, {In{o}, In{input}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);

    const OpId norm2 = m_.norm(name("mlp_norm"), tag, In{add1}, b_, s_, h_, true);
    const OpId mlp = i < c_.dense_layers ? swiglu(tag, "mlp", norm2, c_.dense_ffn_hidden) : moe(tag, norm2);
    return m_.elementwise(name("mlp_add"), tag, {In{mlp}, In{add1}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);
  }

  OpId swiglu(const std::string& tag, const char* what, OpId input, std::int64_t f) {
    auto name = [&](const char* op) { return fmt::format("{}.{}_{}", tag, what, op); };
    const OpId gate = m_.linear(name("gate"), tag, In{input}, b_, s_, h_, f);
    const OpId up = m_.linear(name("up"), tag, In{input}, b_, s_, h_, f);
    const OpId act = m_.elementwise(name("swiglu"), tag, {In{gate}, In{up}}, {b_, s_, f}, "b s f, b s f -> b s f", 5, 10, true);
    return m_.linear(name("down"), tag, In{act}, b_, s_, f, h_);
  }

  OpId moe(const std::string& tag, OpId input) {
    auto name = [&](const char* op) { return fmt::format("{}.{}", tag, op); };
    const MoeRouting route = moe_route(m_, tag, tag, input, moe_);
    const std::int64_t E = moe_.E, G = moe_.G, C = moe_.C, f = c_.expert_ffn_hidden;
    const double rows = double(E * G * C), weights = double(E) * double(h_) * double(f);
    const char* up_dims = "e g c h, e h f -> e g c f";
    const OpId gate = m_.matmul(name("expert_gate"), tag, In{route.dispatched}, {E, G, C, f}, up_dims, rows, double(h_), double(f), weights);
    const OpId up = m_.matmul(name("expert_up"), tag, In{route.dispatched}, {E, G, C, f}, up_dims, rows, double(h_), double(f), weights);
    const OpId act = m_.elementwise(name("expert_swiglu"), tag, {In{gate}, In{up}}, {E, G, C, f}, "e g c f, e g c f -> e g c f", 5, 10, true);
    const OpId down = m_.matmul(name("expert_down"), tag, In{act}, {E, G, C, h_}, "e g c f, e f h -> e g c h", rows, double(f),
                                double(h_), weights);
    const OpId routed = moe_combine(m_, tag, tag, down, route.mask, moe_);
    if (c_.shared_experts == 0) return routed;
    const OpId shared = swiglu(tag, "shared", input, f * c_.shared_experts);
    return m_.elementwise(name("moe_add"), tag, {In{routed}, In{shared}}, {b_, s_, h_}, "b s h, b s h -> b s h", 1, 1, false);
  }

  const DeepSeekConfig& c_;
  ModelBuilder m_;
  std::int64_t b_, s_, h_, n_;
  MoeShape moe_{};
};

}  // namespace

Result<Graph> build_deepseek(const DeepSeekConfig& config) {
  std::string error;
  if (!config.IsValid(&error)) return Status(StatusCode::kInvalidArgument, error);
  return DeepSeekBuilder(config).build();
}

OPPLAN_END_NAMESPACE
