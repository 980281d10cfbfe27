// Configurations as frameworks write them: a Megatron-LM argument line and a DeepSpeed JSON config.
#include <opplan/parallel_config.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

Status bad(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

std::optional<std::int64_t> parse_int(const std::string& text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<MegatronLine> parse_megatron_args(std::string_view line) {
  std::vector<std::string> tokens;
  {
    std::istringstream in{std::string(line)};
    for (std::string t; in >> t;) tokens.push_back(t);
  }
  MegatronLine out;
  ParallelConfig& c = out.config;
  c.schedule = PipelineSchedule::k1F1B;
  c.overlap_grad_reduce = false;  // Megatron-LM's defaults: nothing overlapped unless asked
  c.overlap_param_gather = false;
  std::int64_t layers = 0, hidden = 0, heads = 0, ffn = 0, seq = 0, vocab = 0, layers_per_virtual = 0;
  std::int64_t dp = 0, first_layers = 0, last_layers = 0;
  bool bf16 = false, fp16 = false;
  std::string granularity, method;
  // Flags that take an integer value, and where it goes.
  std::map<std::string, std::int64_t*> ints = {
      {"--num-layers", &layers},          {"--hidden-size", &hidden},
      {"--num-attention-heads", &heads},  {"--ffn-hidden-size", &ffn},
      {"--seq-length", &seq},             {"--padded-vocab-size", &vocab},
      {"--vocab-size", &vocab},           {"--num-layers-per-virtual-pipeline-stage", &layers_per_virtual},
      {"--data-parallel-size", &dp},      {"--decoder-first-pipeline-num-layers", &first_layers},
      {"--decoder-last-pipeline-num-layers", &last_layers},
  };
  std::int64_t tp = 1, pp = 1, mbs = 1, gbs = 0, ep = 1, cp = 1, world = 0;
  ints["--tensor-model-parallel-size"] = &tp;
  ints["--pipeline-model-parallel-size"] = &pp;
  ints["--micro-batch-size"] = &mbs;
  ints["--global-batch-size"] = &gbs;
  ints["--expert-model-parallel-size"] = &ep;
  ints["--context-parallel-size"] = &cp;
  ints["--world-size"] = &world;
  std::map<std::string, std::string*> words = {{"--recompute-granularity", &granularity},
                                               {"--recompute-method", &method}};
  std::map<std::string, std::function<void()>> switches = {
      {"--sequence-parallel", [&] { c.sequence_parallel = true; }},
      {"--use-distributed-optimizer", [&] { c.zero = 1; }},
      {"--recompute-activations", [&] { granularity = "selective"; }},
      {"--bf16", [&] { bf16 = true; }},
      {"--fp16", [&] { fp16 = true; }},
      {"--overlap-grad-reduce", [&] { c.overlap_grad_reduce = true; }},
      {"--overlap-param-gather", [&] { c.overlap_param_gather = true; }},
      {"--tp-comm-overlap", [&] { c.overlap_tp_comm = true; }},
      {"--use-flash-attn", [&] { c.flash_attention = true; }},
      {"--use-torch-fsdp2", [&] { c.zero = 3; }},
  };
  std::map<std::string, bool> seen;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string flag = tokens[i], value;
    bool has_value = false;
    if (const auto eq = flag.find('='); eq != std::string::npos)
      value = flag.substr(eq + 1), flag = flag.substr(0, eq), has_value = true;
    if (flag.rfind("--", 0) != 0) return bad(fmt::format("Megatron arguments: '{}' is not a flag", tokens[i]));
    if (seen[flag]) return bad(fmt::format("Megatron arguments: {} is given twice", flag));
    seen[flag] = true;
    if (auto sw = switches.find(flag); sw != switches.end()) {
      if (has_value) return bad(fmt::format("Megatron arguments: {} takes no value", flag));
      sw->second();
      continue;
    }
    const bool takes_int = ints.count(flag) > 0, takes_word = words.count(flag) > 0;
    if (!takes_int && !takes_word)
      return bad(fmt::format("Megatron arguments: unknown flag {} (opplan reads the parallel, batch, recomputation, "
                             "model-size and precision flags; docs/evaluate.md lists them)",
                             flag));
    if (!has_value) {
      if (i + 1 >= tokens.size() || tokens[i + 1].rfind("--", 0) == 0)
        return bad(fmt::format("Megatron arguments: {} needs a value", flag));
      value = tokens[++i];
    }
    if (takes_word) {
      *words[flag] = value;
      continue;
    }
    const auto v = parse_int(value);
    if (!v || *v < 1 || *v > (std::int64_t{1} << 40))
      return bad(fmt::format("Megatron arguments: {} needs a positive integer (got '{}')", flag, value));
    *ints[flag] = *v;
  }
  if (bf16 && fp16) return bad("Megatron arguments: --bf16 and --fp16 contradict each other");
  if (!granularity.empty() && granularity != "full" && granularity != "selective")
    return bad(fmt::format("Megatron arguments: --recompute-granularity must be full or selective (got '{}')", granularity));
  if (!method.empty() && method != "uniform" && method != "block")
    return bad(fmt::format("Megatron arguments: --recompute-method must be uniform or block (got '{}')", method));
  if (!method.empty() && granularity != "full")
    return bad("Megatron arguments: --recompute-method needs --recompute-granularity full");
  auto narrow = [](std::int64_t v) { return static_cast<int>(std::min<std::int64_t>(v, 1 << 30)); };
  c.tp = narrow(tp), c.pp = narrow(pp), c.micro_batch_size = narrow(mbs), c.ep = narrow(ep), c.cp = narrow(cp);
  c.global_batch = gbs;
  c.recompute = granularity == "full"        ? ActivationRecompute::kFull
                : granularity == "selective" ? ActivationRecompute::kSelective
                                             : ActivationRecompute::kNone;
  if (layers_per_virtual > 0) {
    if (pp == 1) return bad("Megatron arguments: --num-layers-per-virtual-pipeline-stage needs a pipeline (pp > 1)");
    if (layers == 0) return bad("Megatron arguments: --num-layers-per-virtual-pipeline-stage needs --num-layers");
    if (layers % (pp * layers_per_virtual) != 0)
      return bad(fmt::format("Megatron arguments: --num-layers ({}) must be a multiple of pp x "
                             "--num-layers-per-virtual-pipeline-stage ({} x {})",
                             layers, pp, layers_per_virtual));
    c.vpp = narrow(layers / (pp * layers_per_virtual));
    if (c.vpp > 1) c.schedule = PipelineSchedule::kInterleaved;
  }
  if (first_layers > 0 || last_layers > 0) {
    if (layers == 0) return bad("Megatron arguments: --decoder-first/last-pipeline-num-layers need --num-layers");
    if (pp < 2) return bad("Megatron arguments: --decoder-first/last-pipeline-num-layers need a pipeline (pp > 1)");
    if (layers_per_virtual > 0)
      return bad("Megatron arguments: opplan reads --decoder-first/last-pipeline-num-layers without virtual stages only");
    const std::int64_t middle_stages = pp - (first_layers > 0) - (last_layers > 0);
    const std::int64_t rest = layers - first_layers - last_layers;
    if (rest < 0 || (middle_stages > 0 ? rest % middle_stages != 0 : rest != 0))
      return bad(fmt::format("Megatron arguments: {} layers less the first ({}) and last ({}) stages' do not split evenly "
                             "over the other {} stages",
                             layers, first_layers, last_layers, middle_stages));
    const int each = middle_stages > 0 ? static_cast<int>(rest / middle_stages) : 0;
    c.layers_per_stage.assign(static_cast<std::size_t>(pp), each);
    if (first_layers > 0) c.layers_per_stage.front() = static_cast<int>(first_layers);
    if (last_layers > 0) c.layers_per_stage.back() = static_cast<int>(last_layers);
  }
  if (world > 0) {
    const std::int64_t model = tp * pp * cp;
    if (world % model != 0)
      return bad(fmt::format("Megatron arguments: --world-size {} is not a multiple of tp x pp x cp = {}", world, model));
    if (dp > 0 && dp != world / model)
      return bad(fmt::format("Megatron arguments: --data-parallel-size {} contradicts --world-size {} (dp = {})", dp,
                             world, world / model));
    dp = world / model;
    out.world_size = narrow(world);
  }
  c.dp = dp > 0 ? narrow(dp) : 1;
  if (dp == 0 && gbs > 0 && world == 0) c.dp = 0;  // the caller fills dp from the cluster
  // --num-layers alone only sizes the pipeline's cuts; a model needs its width too.
  if (hidden > 0 || heads > 0) {
    if (layers == 0 || hidden == 0 || heads == 0)
      return bad("Megatron arguments: a model needs all of --num-layers, --hidden-size and --num-attention-heads");
    out.model_spec = fmt::format("gpt:hidden={},layers={},heads={}", hidden, layers, heads);
    if (ffn > 0) out.model_spec += fmt::format(",ffn={}", ffn);
    if (seq > 0) out.model_spec += fmt::format(",seq={}", seq);
    if (vocab > 0) out.model_spec += fmt::format(",vocab={}", vocab);
    out.model_spec += bf16 ? ",dtype=bf16" : fp16 ? ",dtype=f16" : ",dtype=f32";
  }
  return out;
}

MegatronCommand megatron_command(const ParallelConfig& c, int num_layers) {
  MegatronCommand out;
  std::vector<std::string> a;
  auto flag = [&](const char* name, std::int64_t v) { a.push_back(fmt::format("{} {}", name, v)); };
  flag("--tensor-model-parallel-size", c.tp);
  flag("--pipeline-model-parallel-size", c.pp);
  if (c.cp > 1) flag("--context-parallel-size", c.cp);
  if (c.ep > 1) flag("--expert-model-parallel-size", c.ep);
  if (c.sequence_parallel && c.tp > 1) a.push_back("--sequence-parallel");
  flag("--micro-batch-size", c.micro_batch_size);
  flag("--global-batch-size", c.effective_global_batch());
  const int S = c.pp * c.vpp;
  const auto& cut = c.layers_per_stage;
  const bool even = cut.empty() || std::all_of(cut.begin(), cut.end(), [&](int n) { return n == cut.front(); });
  if (num_layers > 0) flag("--num-layers", num_layers);
  if (c.vpp > 1) {
    if (num_layers > 0 && even && num_layers % S == 0) flag("--num-layers-per-virtual-pipeline-stage", num_layers / S);
    else out.notes.push_back(fmt::format("{} virtual stages per device: give --num-layers-per-virtual-pipeline-stage "
                                         "(needs the layer count and an even cut)", c.vpp));
  }
  if (!even) {
    // Megatron-Core can give the first and the last stage their own layer counts.
    const bool middle_even = c.vpp == 1 && cut.size() > 2 &&
                             std::all_of(cut.begin() + 1, cut.end() - 1, [&](int n) { return n == cut[1]; });
    if (middle_even) {
      if (cut.front() != cut[1]) flag("--decoder-first-pipeline-num-layers", cut.front());
      if (cut.back() != cut[1]) flag("--decoder-last-pipeline-num-layers", cut.back());
    } else {
      out.notes.push_back(fmt::format("layers per stage {}: Megatron-LM cannot express this cut", fmt::join(cut, ",")));
    }
  }
  switch (c.schedule) {
    case PipelineSchedule::k1F1B:
    case PipelineSchedule::kInterleaved: break;
    case PipelineSchedule::kGPipe:
      out.notes.push_back("schedule gpipe: Megatron-LM runs 1F1B (same time, less memory)");
      break;
    default:
      out.notes.push_back(fmt::format("schedule {}: not a Megatron-LM option; run it with torch.distributed.pipelining "
                                      "(opplan export --format pytorch) or DeepSeek's DualPipe",
                                      to_string(c.schedule)));
  }
  if (c.zero == 1 || c.zero == 2) a.push_back("--use-distributed-optimizer");
  if (c.zero == 2) out.notes.push_back("ZeRO-2: Megatron's distributed optimizer shards the optimizer state; gradients stay whole");
  if (c.zero == 3) a.push_back("--use-torch-fsdp2");
  if (c.recompute == ActivationRecompute::kSelective) a.push_back("--recompute-granularity selective");
  if (c.recompute == ActivationRecompute::kFull) {
    a.push_back("--recompute-granularity full");
    a.push_back("--recompute-method uniform");
  }
  if (c.flash_attention) a.push_back("--use-flash-attn");
  if (c.overlap_grad_reduce) a.push_back("--overlap-grad-reduce");
  if (c.overlap_param_gather && c.zero >= 1) a.push_back("--overlap-param-gather");
  if (c.overlap_tp_comm && c.tp > 1) a.push_back("--tp-comm-overlap");
  out.args = fmt::format("{}", fmt::join(a, " "));
  out.notes.push_back(fmt::format("launch on {} GPUs: data-parallel size {} = world size / (tp x pp x cp)",
                                  c.num_devices(), c.dp));
  return out;
}

std::string deepspeed_config_json(const ParallelConfig& c, DType dtype, int indent) {
  nlohmann::ordered_json j;
  j["train_batch_size"] = c.effective_global_batch();
  j["train_micro_batch_size_per_gpu"] = c.micro_batch_size;
  j["gradient_accumulation_steps"] = c.num_micro_batches();
  j["zero_optimization"] = {{"stage", c.zero}, {"overlap_comm", c.overlap_grad_reduce}};
  j["bf16"] = {{"enabled", dtype == DType::kBF16}};
  j["fp16"] = {{"enabled", dtype == DType::kF16}};
  return j.dump(indent);
}

Result<DeepSpeedSettings> parse_deepspeed_config(std::string_view text, std::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return bad(fmt::format("{}: malformed JSON: {}", source, e.what()));
  }
  if (!j.is_object()) return bad(fmt::format("{}: a DeepSpeed config must be a JSON object", source));
  DeepSpeedSettings out;
  ParallelConfig& c = out.config;
  c.overlap_grad_reduce = true;  // DeepSpeed's overlap_comm / contiguous gradients
  auto integer = [&](const nlohmann::json& v, const std::string& path, std::int64_t min, std::int64_t max) -> Result<std::int64_t> {
    if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max)
      return bad(fmt::format("{}: {} must be an integer in {}..{} (got {})", source, path, min, max, v.dump()));
    return v.get<std::int64_t>();
  };
  std::int64_t train = 0, micro = 0, accumulation = 0;
  if (j.contains("train_batch_size")) {
    auto v = integer(j["train_batch_size"], "/train_batch_size", 1, std::int64_t{1} << 40);
    if (!v.ok()) return v.status();
    train = *v;
  }
  if (j.contains("train_micro_batch_size_per_gpu")) {
    auto v = integer(j["train_micro_batch_size_per_gpu"], "/train_micro_batch_size_per_gpu", 1, 1 << 30);
    if (!v.ok()) return v.status();
    micro = *v;
  }
  if (j.contains("gradient_accumulation_steps")) {
    auto v = integer(j["gradient_accumulation_steps"], "/gradient_accumulation_steps", 1, 1 << 30);
    if (!v.ok()) return v.status();
    accumulation = *v;
  }
  if (j.contains("zero_optimization")) {
    const auto& z = j["zero_optimization"];
    if (!z.is_object()) return bad(fmt::format("{}: /zero_optimization must be an object", source));
    if (z.contains("stage")) {
      auto v = integer(z["stage"], "/zero_optimization/stage", 0, 3);
      if (!v.ok()) return v.status();
      c.zero = static_cast<int>(*v);
    }
  }
  auto enabled = [&](const char* key) {
    return j.contains(key) && j[key].is_object() && j[key].contains("enabled") && j[key]["enabled"].is_boolean() &&
           j[key]["enabled"].get<bool>();
  };
  const bool bf16 = enabled("bf16"), fp16 = enabled("fp16");
  if (bf16 && fp16) return bad(fmt::format("{}: bf16 and fp16 are both enabled", source));
  out.dtype = bf16 ? DType::kBF16 : fp16 ? DType::kF16 : DType::kF32;
  if (micro > 0) c.micro_batch_size = static_cast<int>(micro);
  if (train > 0) c.global_batch = train;
  if (train > 0 && micro > 0 && accumulation > 0) {
    if (train % (micro * accumulation) != 0)
      return bad(fmt::format("{}: train_batch_size {} is not train_micro_batch_size_per_gpu x gradient_accumulation_steps "
                             "({} x {}) x a data-parallel size",
                             source, train, micro, accumulation));
    c.dp = static_cast<int>(train / (micro * accumulation));
  } else {
    c.dp = 0;  // the caller fills dp from the cluster
  }
  return out;
}

Result<DeepSpeedSettings> read_deepspeed_config(const std::string& path) {
  Status error;
  auto text = detail::read_text_file(path, error);  // the readers' one way to read a file
  if (!text) return error;
  return parse_deepspeed_config(*text, path);
}

OPPLAN_END_NAMESPACE
