// model_from_spec(): zoo models of any size from "family:key=value,..." (models.hpp).
#include <opplan/models.hpp>

#include <charconv>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

Status bad(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

// One family's keys: each sets a field from its text, or says what is wrong with it.
using Setter = std::function<std::string(const std::string&)>;

Setter int_field(int& field) {
  return [&field](const std::string& text) -> std::string {
    long long v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0 || v > (1LL << 30))
      return fmt::format("needs a whole number in 0..{} (got '{}')", 1LL << 30, text);
    field = static_cast<int>(v);
    return {};
  };
}
Setter real_field(double& field) {
  return [&field](const std::string& text) -> std::string {
    try {
      std::size_t used = 0;
      const double v = std::stod(text, &used);
      if (used != text.size() || !(v > 0) || v > 1e9) return fmt::format("needs a positive number (got '{}')", text);
      field = v;
      return {};
    } catch (const std::exception&) {
      return fmt::format("needs a positive number (got '{}')", text);
    }
  };
}
Setter dtype_field(DType& field) {
  return [&field](const std::string& text) -> std::string {
    const std::string t = text == "fp16" ? "f16" : text == "fp32" ? "f32" : text == "fp8" ? "f8" : text;
    auto d = parse_dtype(t);
    if (!d) return fmt::format("needs a dtype: f32, f16, bf16, f8 (got '{}')", text);
    field = *d;
    return {};
  };
}
Setter bool_field(bool& field) {
  return [&field](const std::string& text) -> std::string {
    if (text == "1" || text == "true") field = true;
    else if (text == "0" || text == "false") field = false;
    else return fmt::format("needs 0 or 1 (got '{}')", text);
    return {};
  };
}

Status apply(std::string_view spec, const std::string& family, const std::string& body,
             const std::map<std::string, Setter>& keys) {
  std::size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    const std::size_t comma = body.find(',', start);
    const std::string item = body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return bad(fmt::format("model spec '{}': '{}' is not key=value", spec, item));
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    const auto it = keys.find(key);
    if (it == keys.end()) {
      std::vector<std::string> known;
      for (const auto& [k, s] : keys) known.push_back(k);
      return bad(fmt::format("model spec '{}': unknown key '{}' for family {}; known keys: {}", spec, key, family,
                             fmt::join(known, ", ")));
    }
    if (std::string why = it->second(value); !why.empty())
      return bad(fmt::format("model spec '{}': {} {}", spec, key, why));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

}  // namespace

Result<Graph> model_from_spec(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos)
    return bad(fmt::format("model spec '{}': expected family:key=value,... (families gpt, llama, moe, deepseek, wresnet)", spec));
  const std::string family(spec.substr(0, colon)), body(spec.substr(colon + 1));
  const std::string name(spec);
  if (family == "gpt") {
    TransformerConfig c;
    c.name = name;
    if (Status s = apply(spec, family, body,
                         {{"hidden", int_field(c.hidden)}, {"layers", int_field(c.layers)}, {"heads", int_field(c.heads)},
                          {"ffn", int_field(c.ffn_hidden)}, {"seq", int_field(c.seq_len)}, {"vocab", int_field(c.vocab)},
                          {"batch", int_field(c.micro_batch)}, {"dtype", dtype_field(c.dtype)},
                          {"dropout", bool_field(c.dropout)}});
        !s.ok())
      return s;
    return build_transformer(c);
  }
  if (family == "llama") {
    LlamaConfig c;
    c.name = name;
    if (Status s = apply(spec, family, body,
                         {{"hidden", int_field(c.hidden)}, {"layers", int_field(c.layers)}, {"heads", int_field(c.heads)},
                          {"kv_heads", int_field(c.kv_heads)}, {"ffn", int_field(c.ffn_hidden)},
                          {"seq", int_field(c.seq_len)}, {"vocab", int_field(c.vocab)},
                          {"batch", int_field(c.micro_batch)}, {"dtype", dtype_field(c.dtype)}});
        !s.ok())
      return s;
    return build_llama(c);
  }
  if (family == "moe") {
    MoeConfig c;
    c.name = name;
    if (Status s = apply(spec, family, body,
                         {{"hidden", int_field(c.hidden)}, {"layers", int_field(c.layers)}, {"heads", int_field(c.heads)},
                          {"experts", int_field(c.experts)}, {"ffn", int_field(c.ffn_hidden)},
                          {"top_k", int_field(c.top_k)}, {"capacity", real_field(c.capacity_factor)},
                          {"group", int_field(c.expert_group)}, {"seq", int_field(c.seq_len)},
                          {"vocab", int_field(c.vocab)}, {"batch", int_field(c.micro_batch)},
                          {"dtype", dtype_field(c.dtype)}});
        !s.ok())
      return s;
    return build_gshard_moe(c);
  }
  if (family == "deepseek") {
    DeepSeekConfig c;
    c.name = name;
    if (Status s = apply(spec, family, body,
                         {{"hidden", int_field(c.hidden)}, {"layers", int_field(c.layers)},
                          {"dense_layers", int_field(c.dense_layers)}, {"heads", int_field(c.heads)},
                          {"experts", int_field(c.routed_experts)}, {"active", int_field(c.active_experts)},
                          {"shared", int_field(c.shared_experts)}, {"expert_ffn", int_field(c.expert_ffn_hidden)},
                          {"dense_ffn", int_field(c.dense_ffn_hidden)}, {"q_lora", int_field(c.q_lora_rank)},
                          {"kv_lora", int_field(c.kv_lora_rank)}, {"seq", int_field(c.seq_len)},
                          {"vocab", int_field(c.vocab)}, {"batch", int_field(c.micro_batch)},
                          {"dtype", dtype_field(c.dtype)}});
        !s.ok())
      return s;
    return build_deepseek(c);
  }
  if (family == "wresnet") {
    WideResNetConfig c;
    c.name = name;
    if (Status s = apply(spec, family, body,
                         {{"depth", int_field(c.depth)}, {"channels", int_field(c.base_channels)},
                          {"width", int_field(c.width_factor)}, {"image", int_field(c.image_size)},
                          {"classes", int_field(c.classes)}, {"batch", int_field(c.micro_batch)},
                          {"dtype", dtype_field(c.dtype)}});
        !s.ok())
      return s;
    return build_wide_resnet(c);
  }
  return bad(fmt::format("model spec '{}': unknown family '{}' (gpt, llama, moe, deepseek, wresnet)", spec, family));
}

OPPLAN_END_NAMESPACE
