// The model zoo: the GPT-3 sizes of Alpa's GPT benchmark (hidden, layers, heads; sequence 1024,
// vocabulary 51200, fp16), looked up by name.
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
    config.seq_len = 1024;
    config.vocab = 51200;
    config.dtype = DType::kF16;
    return config;
  }
  return std::nullopt;
}

std::vector<std::string> zoo_names() {
  std::vector<std::string> names;
  for (const auto& s : kGpt3Sizes) names.push_back(kGpt3Prefix + lower(s.size));
  return names;
}

Result<Graph> zoo_model(std::string_view name) {
  const std::string wanted = lower(name);
  const std::string_view prefix = kGpt3Prefix;
  if (wanted.size() > prefix.size() && std::string_view(wanted).substr(0, prefix.size()) == prefix) {
    if (auto config = gpt3_config(std::string_view(wanted).substr(prefix.size()))) return build_transformer(*config);
  }
  return Status(StatusCode::kNotFound,
                fmt::format("unknown model '{}'; known models: {}", name, fmt::join(zoo_names(), ", ")));
}

OPPLAN_END_NAMESPACE
