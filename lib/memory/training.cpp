// The training vocabulary of training.hpp: optimizer bytes per parameter, recomputation names and
// the memory breakdown's text.
#include <opplan/training.hpp>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

const char* to_string(Optimizer optimizer) {
  switch (optimizer) {
    case Optimizer::kAdam: return "adam";
    case Optimizer::kSgd: return "sgd";
    case Optimizer::kSgdMomentum: return "sgd-momentum";
    case Optimizer::kCustom: return "custom";
  }
  return "unknown";
}

std::optional<Optimizer> parse_optimizer(std::string_view name) {
  if (name == "adam" || name == "adamw" || name == "mixed-adam" || name == "adam-fp32") return Optimizer::kAdam;
  if (name == "sgd") return Optimizer::kSgd;
  if (name == "sgd-momentum" || name == "momentum") return Optimizer::kSgdMomentum;
  if (name == "custom") return Optimizer::kCustom;
  return std::nullopt;
}

ParameterBytes bytes_per_parameter(Optimizer optimizer, DType weight_dtype, double custom_total) {
  const double element = size_in_bytes(weight_dtype);
  // 16-bit (or narrower) weights train with an fp32 master copy that the optimizer updates.
  const double master = element < 4 ? 4 : 0;
  ParameterBytes b;
  b.weights = element;
  b.gradients = element;
  switch (optimizer) {
    case Optimizer::kAdam: b.optimizer = master + 8; break;
    case Optimizer::kSgd: b.optimizer = master; break;
    case Optimizer::kSgdMomentum: b.optimizer = master + 4; break;
    case Optimizer::kCustom:
      if (custom_total >= 2 * element) {
        b.optimizer = custom_total - 2 * element;
      } else {
        b.weights = b.gradients = custom_total / 2;
      }
      break;
  }
  return b;
}

const char* to_string(ActivationRecompute recompute) {
  switch (recompute) {
    case ActivationRecompute::kNone: return "none";
    case ActivationRecompute::kSelective: return "selective";
    case ActivationRecompute::kFull: return "full";
  }
  return "unknown";
}

std::optional<ActivationRecompute> parse_activation_recompute(std::string_view name) {
  for (auto r : {ActivationRecompute::kNone, ActivationRecompute::kSelective, ActivationRecompute::kFull})
    if (name == to_string(r)) return r;
  return std::nullopt;
}

const char* MemoryBreakdown::largest() const {
  const std::pair<const char*, double> parts[] = {{"weights", weights},         {"gradients", gradients},
                                                  {"optimizer", optimizer},     {"activations", activations},
                                                  {"buffers", buffers},         {"reserve", reserve}};
  return std::max_element(std::begin(parts), std::end(parts),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

std::string MemoryBreakdown::ToString() const {
  auto gb = [](double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); };
  return fmt::format("{} = weights {} + gradients {} + optimizer {} + activations {} + buffers {} + reserve {}",
                     gb(total()), gb(weights), gb(gradients), gb(optimizer), gb(activations), gb(buffers),
                     gb(reserve));
}

OPPLAN_END_NAMESPACE
