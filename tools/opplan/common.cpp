// Error reporting and human-readable units shared by the subcommands.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <opplan/io.hpp>
#include <opplan/models.hpp>
#include <opplan/onnx.hpp>

#include "cli.hpp"

namespace opplan::cli {

void add_graph_options(CLI::App& app, std::string& graph_file, std::string& model, const std::string& graph_name) {
  auto* graph = app.add_option(graph_name, graph_file, "Graph file: opplan JSON (docs/file-formats.md) or ONNX");
  auto* zoo = app.add_option("-m,--model", model,
                             fmt::format("Built-in model instead of a graph file (default {}): {}", kDefaultModel,
                                         fmt::join(zoo_names(), ", ")));
  graph->excludes(zoo);
}

void add_cluster_options(CLI::App& app, std::string& cluster_file, std::string& preset) {
  auto* cluster = app.add_option("-c,--cluster", cluster_file, "Cluster JSON file");
  auto* named = app.add_option("-p,--preset", preset,
                               fmt::format("Cluster preset instead of a file (default {}): {}; suffix xN for N nodes",
                                           kDefaultPreset, fmt::join(Cluster::preset_names(), ", ")));
  cluster->excludes(named);
}

Result<Graph> read_graph_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return read_graph_json(path);  // its message says why the file cannot be read
  char head[64] = {};
  in.read(head, sizeof(head));
  const std::size_t n = static_cast<std::size_t>(in.gcount());
  std::size_t i = 0;
  if (n >= 3 && head[0] == '\xEF' && head[1] == '\xBB' && head[2] == '\xBF') i = 3;  // UTF-8 byte order mark
  while (i < n && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  // Text that starts like JSON (or nothing at all) goes to the JSON reader, whose errors say where
  // it is malformed.
  if (i == n || head[i] == '{' || head[i] == '[') return read_graph_json(path);
  // An ONNX model is a ModelProto whose first field is ir_version (field 1, varint): tag byte 0x08.
  if (head[0] == '\x08') return read_onnx_graph(path);
  return Status(StatusCode::kParseError,
                fmt::format("{}: not a graph file: expected an opplan graph JSON file (docs/file-formats.md) or an "
                            "ONNX model (.onnx, protobuf)",
                            path));
}

std::optional<Graph> load_graph(const std::string& graph_file, const std::string& model, std::string* source) {
  auto graph = graph_file.empty() ? zoo_model(model.empty() ? kDefaultModel : model) : read_graph_file(graph_file);
  if (!graph.ok()) {
    report_error(graph.status(), graph_file);
    return std::nullopt;
  }
  if (source) *source = graph_file.empty() ? "built-in model" : graph_file;
  return std::move(graph).value();
}

std::optional<Cluster> load_cluster(const std::string& cluster_file, const std::string& preset, std::string* source) {
  auto cluster =
      cluster_file.empty() ? Cluster::preset(preset.empty() ? kDefaultPreset : preset) : read_cluster_json(cluster_file);
  if (!cluster.ok()) {
    report_error(cluster.status(), cluster_file);
    return std::nullopt;
  }
  if (source) *source = cluster_file.empty() ? "built-in preset" : cluster_file;
  return std::move(cluster).value();
}

int report_error(const Status& status, std::string_view file) {
  std::string message = status.message();
  if (!file.empty() && message.find(file) == std::string::npos) message = fmt::format("{}: {}", file, message);
  std::cerr << fmt::format("opplan: {}: {}\n", to_string(status.code()), message);
  return kExitInvalidInput;
}

int report_error(std::string_view message) {
  std::cerr << fmt::format("opplan: {}\n", message);
  return kExitInvalidInput;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  if (n == 1) return fmt::format("1 {}", one);
  if (many.empty()) return fmt::format("{} {}s", n, one);
  return fmt::format("{} {}", n, many);
}

namespace {

// Three significant digits for a value already scaled into [1, 1000).
std::string three_digits(double value) {
  const double magnitude = std::fabs(value);
  if (magnitude >= 100 || magnitude == 0) return fmt::format("{:.0f}", value);
  if (magnitude >= 10) return fmt::format("{:.1f}", value);
  return fmt::format("{:.2f}", value);
}

// value / step^k for the largest k that keeps it >= 1 (within the prefixes available).
template <std::size_t N>
std::string scaled(double value, double step, const char* const (&prefixes)[N], std::string_view unit) {
  if (!std::isfinite(value)) return fmt::format("{} {}", value, unit);
  std::size_t k = 0;
  while (k + 1 < N && std::fabs(value) >= step * 0.9995) {  // 999.96 rounds to "1.00 k", not "1000"
    value /= step;
    ++k;
  }
  return fmt::format("{} {}{}", three_digits(value), prefixes[k], unit);
}

}  // namespace

std::string human_si(double value, std::string_view unit) {
  static const char* const kPrefixes[] = {"", "k", "M", "G", "T", "P", "E", "Z"};
  return scaled(value, 1000, kPrefixes, unit);
}

std::string human_bytes(double bytes) { return human_si(bytes, "B"); }

std::string human_seconds(double seconds) {
  const double magnitude = std::fabs(seconds);
  if (magnitude == 0) return "0 s";
  if (magnitude >= 0.9995) return three_digits(seconds) + " s";
  if (magnitude >= 0.9995e-3) return three_digits(seconds * 1e3) + " ms";
  if (magnitude >= 0.9995e-6) return three_digits(seconds * 1e6) + " us";
  return three_digits(seconds * 1e9) + " ns";
}


Result<PipelineSpec> pipeline_spec_for(const PipelineSpecFlags& flags, const std::optional<PipelineSpec>& file,
                                       Placement need, std::string_view kind_name) {
  if (file) {
    if (file->placement == need) return *file;
    const bool uniform = std::all_of(file->stages.begin(), file->stages.end(),
                                     [&](const StageSpec& s) { return s == file->stages.front(); });
    if (!uniform)
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("schedule '{}' needs the '{}' placement and the spec's stages differ, so they cannot "
                                "be laid out again; write the spec with that placement",
                                kind_name, to_string(need)));
    auto spec = make_pipeline_spec(need, file->num_devices, file->num_micro_batches, file->stages.front(),
                                   file->placement == Placement::kInterleaved ? file->chunks : flags.chunks);
    if (!spec.ok()) return spec.status();
    spec->name = file->name;
    spec->memory_cap = file->memory_cap;
    if (Status s = spec->validate(); !s.ok()) return s;
    return spec;
  }
  StageSpec stage;
  stage.forward = flags.f;
  stage.input_grad = flags.b;
  stage.weight_grad = flags.w;
  stage.forward_backward = flags.fb;
  stage.p2p = flags.p2p;
  return make_pipeline_spec(need, flags.pp, flags.micro_batches, stage, flags.chunks, flags.mem_cap);
}

void add_optimizer_option(CLI::App& app, std::string& optimizer) {
  app.add_option("--optimizer", optimizer,
                 "Training memory per parameter: adam (default; 16 bytes with 16-bit weights), sgd, sgd-momentum")
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "sgd-momentum"}));
}

AnalyticCostModel::Options cost_options(const std::string& optimizer) {
  AnalyticCostModel::Options options;
  if (auto o = parse_optimizer(optimizer)) options.optimizer = *o;
  return options;
}

}  // namespace opplan::cli
