// Shared pieces of the opplan command-line program: exit codes, how a subcommand plugs into main,
// error reporting and human-readable units. Private to tools/opplan.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/status.hpp>

namespace opplan::cli {

// The exit codes are part of the program's interface (scripts and tests/tools check them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalidInput = 1;  // a file, model or preset is missing or wrong
inline constexpr int kExitUsage = 2;         // the command line itself is wrong

// A subcommand registered on the main app; `run` is called when it was the one parsed and returns
// the exit code. Its options live in state captured by `run`.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_info_command(CLI::App& parent);
Command add_validate_command(CLI::App& parent);
Command add_solve_command(CLI::App& parent);
Command add_schedule_command(CLI::App& parent);
Command add_shard_command(CLI::App& parent);
Command add_plan_command(CLI::App& parent);
Command add_stages_command(CLI::App& parent);
Command add_zoo_command(CLI::App& parent);
Command add_export_command(CLI::App& parent);
Command add_evaluate_command(CLI::App& parent);

// Writes "opplan: <what is wrong>" on stderr and returns kExitInvalidInput. When `file` is given
// and the message does not already name it, the message is prefixed with it, so every error says
// which input it is about. Stdout is left alone, also in --json mode (see the --help footer).
int report_error(const Status& status, std::string_view file = {});
int report_error(std::string_view message);

// The built-in default input: GPT-3 1.3B on one DGX-A100 node.
inline constexpr const char* kDefaultModel = "gpt3-1.3b";
inline constexpr const char* kDefaultPreset = "dgx-a100";

// A graph file recognised by its content, not its name: opplan's graph JSON or an ONNX model. A
// file that is neither fails with kParseError naming both formats.
Result<Graph> read_graph_file(const std::string& path);

// The graph of a subcommand: `graph_file` if given, else the zoo model `model` (kDefaultModel when
// empty). On failure the error is reported (naming the file or listing the known models) and
// nullopt returned. `source` (optional) receives the file name or "built-in model".
std::optional<Graph> load_graph(const std::string& graph_file, const std::string& model, std::string* source = nullptr);
// The cluster: `cluster_file` if given, else the preset (kDefaultPreset when empty); as load_graph.
std::optional<Cluster> load_cluster(const std::string& cluster_file, const std::string& preset,
                                    std::string* source = nullptr);

// The options that choose load_graph's and load_cluster's inputs: `graph_name` ("-g,--graph", or
// "GRAPH" for a positional file) excluding "-m,--model", and "-c,--cluster" excluding "-p,--preset".
void add_graph_options(CLI::App& app, std::string& graph_file, std::string& model,
                       const std::string& graph_name = "-g,--graph");
void add_cluster_options(CLI::App& app, std::string& cluster_file, std::string& preset);

// The flags that describe a pipeline spec without a file (`schedule`, `export`).
// Range checks whose message gives the real range. (CLI11's PositiveNumber and NonNegativeNumber
// print the largest double, 309 digits, as the upper end, also for int options.)
inline CLI::Validator int_at_least(int least) {
  return CLI::Range(least, std::numeric_limits<int>::max());
}
// Doubles: "must be a number > 0" / ">= 0", finite.
inline CLI::Validator number_above(double bound, bool inclusive) {
  return CLI::Validator(
      [bound, inclusive](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
        const bool ok = std::isfinite(v) && (inclusive ? v >= bound : v > bound);
        if (ok) return {};
        return "must be a finite number " + std::string(inclusive ? ">= " : "> ") + CLI::detail::to_string(bound) +
               ", got " + text;
      },
      inclusive ? "NUMBER >= 0" : "NUMBER > 0");
}

struct PipelineSpecFlags {
  int pp = 0;
  int micro_batches = 0;
  double f = 1, b = 1, w = 1;
  std::optional<double> fb;
  double p2p = 0;
  std::optional<double> mem_cap;
  int chunks = 2;
};
// The spec a schedule named `kind_name` runs on with placement `need`: `file` as it is when it has
// that placement already, laid out again when its stages are all equal (an error naming the kind
// otherwise); without a file, one built from the flags.
Result<PipelineSpec> pipeline_spec_for(const PipelineSpecFlags& flags, const std::optional<PipelineSpec>& file,
                                       Placement need, std::string_view kind_name);

// "--optimizer NAME": the training memory the cost model counts per parameter (training.hpp):
// adam (the default: 16 bytes for 16-bit weights), sgd, sgd-momentum.
void add_optimizer_option(CLI::App& app, std::string& optimizer);
// The default cost model's options with that optimizer (validated by the option already).
AnalyticCostModel::Options cost_options(const std::string& optimizer);

// "1 op", "3 ops"; `many` when the plural is not singular + "s".
std::string plural(std::size_t n, std::string_view one, std::string_view many = {});

// Three significant digits with an SI prefix: "2.90 TFLOP", "312 TFLOP/s".
std::string human_si(double value, std::string_view unit);
// Memory sizes with decimal prefixes, as vendors' data sheets give them: "2.63 GB", "80.0 GB".
std::string human_bytes(double bytes);
// "12.3 ms", "1.02 s", "850 us".
std::string human_seconds(double seconds);

}  // namespace opplan::cli
