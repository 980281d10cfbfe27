// The model zoo: the sizes of Alpa's GPT-3, GShard MoE and Wide-ResNet benchmarks (alpa.md §3),
// Llama-3 8B / 70B and DeepSeek-V3, looked up by name "<family>-<size>".
#include <opplan/models.hpp>

#include <algorithm>
#include <cctype>
#include <string>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

namespace {

struct Gpt3Size {
  const char* size;  // as Alpa writes it
  int hidden;
  int layers;
  int heads;
};

constexpr Gpt3Size kGpt3Sizes[] = {
    {"350M", 1024, 24, 16}, {"1.3B", 2048, 24, 32}, {"2.6B", 2560, 32, 32},
    {"6.7B", 4096, 32, 32}, {"15B", 5120, 48, 40},  {"39B", 8192, 48, 64},
    {"175B", 12288, 96, 96},  // GPT-3 itself (trained with 2048-token sequences)
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return out;
}

constexpr const char* kGpt3Prefix = "gpt3-";

}  // namespace

std::optional<TransformerConfig> gpt3_config(std::string_view size) {
  const std::string wanted = lower(size);
  for (const auto& s : kGpt3Sizes) {
    if (lower(s.size) != wanted) continue;
    TransformerConfig config;
    config.name = kGpt3Prefix + wanted;
    config.hidden = s.hidden;
    config.layers = s.layers;
    config.heads = s.heads;
    config.seq_len = s.hidden == 12288 ? 2048 : 1024;
    config.vocab = 51200;
    config.dtype = DType::kF16;
    return config;
  }
  return std::nullopt;
}

namespace {

struct MoeSize {
  const char* size;
  int hidden, layers, experts;
};
constexpr MoeSize kMoeSizes[] = {{"380M", 768, 8, 8},     {"1.3B", 768, 16, 16},  {"2.4B", 1024, 16, 16},
                                 {"10B", 1536, 16, 32},   {"27B", 2048, 16, 48},  {"70B", 2048, 32, 64}};

struct WideResNetSize {
  const char* size;
  int depth, base_channels, width_factor;
};
constexpr WideResNetSize kWideResNetSizes[] = {{"250M", 50, 160, 2}, {"1B", 50, 320, 2},    {"2B", 50, 448, 2},
                                               {"4B", 50, 640, 2},   {"6.8B", 50, 320, 16}, {"13B", 101, 320, 16}};

struct LlamaSize {
  const char* size;
  int hidden, layers, heads, kv_heads, ffn;
};
constexpr LlamaSize kLlamaSizes[] = {
    {"8B", 4096, 32, 32, 8, 14336}, {"70B", 8192, 80, 64, 8, 28672}, {"405B", 16384, 126, 128, 8, 53248}};

constexpr const char* kMoePrefix = "gshard-moe-";
constexpr const char* kWideResNetPrefix = "wresnet-";
constexpr const char* kLlamaPrefix = "llama3-";
constexpr const char* kDeepSeekPrefix = "deepseek-v3-";

// The size after `prefix` when `name` starts with it.
std::optional<std::string_view> size_after(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  return name.substr(prefix.size());
}

}  // namespace

std::optional<MoeConfig> gshard_moe_config(std::string_view size) {
  const std::string wanted = lower(size);
  for (const auto& s : kMoeSizes) {
    if (lower(s.size) != wanted) continue;
    MoeConfig config;
    config.name = kMoePrefix + wanted;
    config.hidden = s.hidden, config.layers = s.layers, config.experts = s.experts;
    return config;
  }
  return std::nullopt;
}

std::optional<WideResNetConfig> wide_resnet_config(std::string_view size) {
  const std::string wanted = lower(size);
  for (const auto& s : kWideResNetSizes) {
    if (lower(s.size) != wanted) continue;
    WideResNetConfig config;
    config.name = kWideResNetPrefix + wanted;
    config.depth = s.depth, config.base_channels = s.base_channels, config.width_factor = s.width_factor;
    return config;
  }
  return std::nullopt;
}

std::optional<LlamaConfig> llama3_config(std::string_view size) {
  const std::string wanted = lower(size);
  for (const auto& s : kLlamaSizes) {
    if (lower(s.size) != wanted) continue;
    LlamaConfig config;
    config.name = kLlamaPrefix + wanted;
    config.hidden = s.hidden, config.layers = s.layers, config.heads = s.heads, config.kv_heads = s.kv_heads;
    config.ffn_hidden = s.ffn;
    return config;
  }
  return std::nullopt;
}

std::optional<DeepSeekConfig> deepseek_v3_config(std::string_view size) {
  if (lower(size) != "671b") return std::nullopt;
  DeepSeekConfig config;
  config.name = std::string(kDeepSeekPrefix) + "671b";
  return config;
}

std::vector<std::string> zoo_names() {
  std::vector<std::string> names;
  for (const auto& s : kGpt3Sizes) names.push_back(kGpt3Prefix + lower(s.size));
  for (const auto& s : kMoeSizes) names.push_back(kMoePrefix + lower(s.size));
  for (const auto& s : kWideResNetSizes) names.push_back(kWideResNetPrefix + lower(s.size));
  for (const auto& s : kLlamaSizes) names.push_back(kLlamaPrefix + lower(s.size));
  names.push_back(std::string(kDeepSeekPrefix) + "671b");
  for (auto m : {BranchyModel::kInceptionStack, BranchyModel::kMoeStack, BranchyModel::kTwoTower})
    names.emplace_back(to_string(m));
  return names;
}

Result<Graph> zoo_model(std::string_view name) {
  if (name.find(':') != std::string_view::npos) return model_from_spec(name);
  const std::string wanted = lower(name);
  if (auto size = size_after(wanted, kGpt3Prefix))
    if (auto config = gpt3_config(*size)) return build_transformer(*config);
  if (auto size = size_after(wanted, kMoePrefix))
    if (auto config = gshard_moe_config(*size)) return build_gshard_moe(*config);
  if (auto size = size_after(wanted, kWideResNetPrefix))
    if (auto config = wide_resnet_config(*size)) return build_wide_resnet(*config);
  if (auto size = size_after(wanted, kLlamaPrefix))
    if (auto config = llama3_config(*size)) return build_llama(*config);
  if (auto size = size_after(wanted, kDeepSeekPrefix))
    if (auto config = deepseek_v3_config(*size)) return build_deepseek(*config);
  for (auto m : {BranchyModel::kInceptionStack, BranchyModel::kMoeStack, BranchyModel::kTwoTower})
    if (wanted == to_string(m)) {
      BranchyConfig config;
      config.model = m;
      return build_branchy(config);
    }
  return Status(StatusCode::kNotFound,
                fmt::format("unknown model '{}'; known models: {}, or a spec such as "
                            "'gpt:hidden=12288,layers=96,heads=96,seq=2048' (families gpt, llama, moe, deepseek, wresnet)",
                            name, fmt::join(zoo_names(), ", ")));
}

OPPLAN_END_NAMESPACE
