// Graph files (docs/file-formats.md): {"format": "opplan.graph", "version": 1, "name", "ops": [...], "edges": [...]}.
//
// Ops and edges are streamed: each one is read into the Graph as soon as the parser has it, so a large graph
// never exists as one JSON tree. Ops are added in file order, so /ops/<i> is OpId i and /edges/<i> is EdgeId i,
// and the problems Graph's own checks find can be reported at their JSON paths.
#include <opplan/io.hpp>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "graph/graph_problems.hpp"
#include "io/json_reader.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

using detail::Json;
using detail::JsonObject;
using detail::JsonPath;
using detail::JsonWriter;

constexpr std::string_view kFormat = "opplan.graph";

constexpr std::string_view kRootFields[] = {"format", "version", "name", "ops", "edges", "samples", "sequence_length"};
enum RootField : std::size_t { kRootFormat, kRootVersion, kRootName, kRootOps, kRootEdges, kRootSamples, kRootSeqLen };

constexpr std::string_view kOpFields[] = {"name",        "kind",        "forward",          "input_grad",
                                          "weight_grad", "param_bytes", "activation_bytes", "shape",
                                          "dtype",       "dims",        "layer",            "group",
                                          "params_from"};
enum OpField : std::size_t {
  kOpName, kOpKind, kOpForward, kOpInputGrad, kOpWeightGrad, kOpParamBytes, kOpActivationBytes, kOpShape,
  kOpDType, kOpDims, kOpLayer, kOpGroup, kOpParamsFrom
};

constexpr std::string_view kPhaseFields[] = {"flops", "bytes", "seconds"};
enum PhaseField : std::size_t { kPhaseFlops, kPhaseBytes, kPhaseSeconds };

constexpr std::string_view kEdgeFields[] = {"from", "to", "bytes"};
enum EdgeField : std::size_t { kEdgeFrom, kEdgeTo, kEdgeBytes };

// The op fields of the phases follow Phase's order, so the field of a phase is kOpForward + its index.
static_assert(static_cast<int>(Phase::kInputGrad) == kOpInputGrad - kOpForward &&
              static_cast<int>(Phase::kWeightGrad) == kOpWeightGrad - kOpForward);

std::string dtype_names() {
  std::string out;
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kF8, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kBool})
    out += out.empty() ? to_string(d) : std::string(", ") + to_string(d);
  return out;
}

// An edge as written in the file; endpoints are resolved once all ops are known (a file may list its edges
// first, e.g. when written with sorted keys).
struct PendingEdge {
  std::string from;
  std::string to;
  std::optional<double> bytes;
  bool complete = false;  // both endpoints were read
};

class GraphReader {
 public:
  explicit GraphReader(std::string_view source) : reader_(source) {}

  Result<Graph> read(std::string_view text) {
    const detail::StreamedArray streamed[] = {
        {"ops", [this](std::size_t i, Json& op) { read_op(i, op); }},
        {"edges", [this](std::size_t i, Json& edge) { read_edge(i, edge); }},
    };
    auto doc = detail::parse_json(reader_, text, streamed);
    if (!doc) return reader_.status();
    // A file of another format or a newer version would only produce noise below.
    detail::JsonReader header(reader_.source());
    if (!detail::check_header(header, *doc, kFormat, kGraphFormatVersion, "graph")) return header.status();

    JsonObject root(reader_, *doc, root_path_, kRootFields);
    graph_.set_name(root.string(kRootName));
    // Optional (format version 1 files written before these fields read as "not recorded").
    constexpr std::int64_t kMaxBatch = std::int64_t{1} << 40;
    graph_.set_samples(root.integer(kRootSamples, 0, kMaxBatch).value_or(0));
    graph_.set_sequence_length(root.integer(kRootSeqLen, 0, kMaxBatch).value_or(0));
    // The elements were streamed; this checks the presence and type of the arrays. Without ops every edge
    // would be reported as naming an unknown op, which says nothing new.
    const bool has_ops = root.array(kRootOps, true) != nullptr;
    root.array(kRootEdges, false);
    if (has_ops) add_edges();
    if (reader_.has_problems()) return reader_.status();

    report_graph_problems();
    if (reader_.has_problems()) return reader_.status();
    return std::move(graph_);
  }

 private:
  void read_phase(JsonObject& op, std::size_t field, PhaseCost& cost) {
    Json* value = op.find(field);
    if (!value) return;
    const JsonPath path = op.field_path(field);
    JsonObject phase(reader_, *value, path, kPhaseFields);
    cost.flops = phase.number(kPhaseFlops);
    cost.bytes = phase.number(kPhaseBytes);
    cost.seconds = phase.optional_number(kPhaseSeconds);
  }

  void read_op(std::size_t index, Json& value) {
    const JsonPath ops(root_path_, "ops");
    const JsonPath path(ops, index);
    JsonObject o(reader_, value, path, kOpFields);
    Op op;
    if (auto name = o.required_string(kOpName)) {
      if (name->empty()) reader_.add(StatusCode::kInvalidArgument, o.field_path(kOpName), "is empty");
      op.name = std::move(*name);
    }
    op.kind = o.string(kOpKind, op.kind);
    for (Phase p : kAllPhases) read_phase(o, kOpForward + static_cast<std::size_t>(p), op.cost(p));
    op.param_bytes = o.number(kOpParamBytes);
    op.activation_bytes = o.number(kOpActivationBytes);
    if (Json::array_t* shape = o.array(kOpShape, false)) {
      const JsonPath shape_path = o.field_path(kOpShape);
      op.shape.reserve(shape->size());
      for (std::size_t d = 0; d < shape->size(); ++d) {
        // Negative sizes are left to the graph checks, which name them the way Graph::validate() does.
        const auto size = reader_.integer((*shape)[d], JsonPath(shape_path, d), INT64_MIN, INT64_MAX);
        op.shape.push_back(size.value_or(0));
      }
    }
    if (auto dtype = o.optional_string(kOpDType)) {
      if (auto parsed = parse_dtype(*dtype))
        op.dtype = *parsed;
      else
        reader_.add(StatusCode::kInvalidArgument, o.field_path(kOpDType),
                    fmt::format("unknown dtype '{}' (known: {})", *dtype, dtype_names()));
    }
    op.dims = o.string(kOpDims);
    op.layer = o.string(kOpLayer);
    op.group = o.string(kOpGroup);
    op.params_from = o.string(kOpParamsFrom);

    graph_.add_op(std::move(op));
  }

  void read_edge(std::size_t index, Json& value) {
    const JsonPath edges(root_path_, "edges");
    const JsonPath path(edges, index);
    JsonObject e(reader_, value, path, kEdgeFields);
    PendingEdge edge;
    auto from = e.required_string(kEdgeFrom);
    auto to = e.required_string(kEdgeTo);
    edge.bytes = e.optional_number(kEdgeBytes);
    if (from && to) {
      edge.from = std::move(*from);
      edge.to = std::move(*to);
      edge.complete = true;
    }
    edges_.push_back(std::move(edge));
  }

  // Graph keeps a name index anyway; with duplicate names it finds the first op, and the duplicates are
  // reported by the graph checks.
  std::optional<OpId> lookup(const std::string& name, std::size_t index, std::string_view field) {
    if (auto id = graph_.find_op(name)) return id;
    reader_.add(StatusCode::kInvalidArgument, fmt::format("/edges/{}/{}", index, field),
                fmt::format("no op named '{}'", name));
    return std::nullopt;
  }

  void add_edges() {
    graph_.reserve(graph_.num_ops(), edges_.size());
    for (std::size_t i = 0; i < edges_.size(); ++i) {
      const PendingEdge& e = edges_[i];
      if (!e.complete) continue;
      const auto src = lookup(e.from, i, "from");
      const auto dst = lookup(e.to, i, "to");
      if (src && dst) graph_.add_edge(*src, *dst, e.bytes);
    }
    edges_ = {};
  }

  void report_graph_problems() {
    const auto problems = detail::find_graph_problems(graph_);
    for (const detail::GraphProblem& p : problems) {
      using Subject = detail::GraphProblem::Subject;
      const std::string field = p.field.empty() ? std::string() : "/" + p.field;
      switch (p.subject) {
        case Subject::kOp:
          reader_.add(StatusCode::kInvalidArgument, fmt::format("/ops/{}{}", p.index, field), p.message);
          break;
        case Subject::kEdge:
          reader_.add(StatusCode::kInvalidArgument, fmt::format("/edges/{}{}", p.index, field), p.message);
          break;
        case Subject::kGraph: reader_.add(StatusCode::kInvalidArgument, std::string(), "the graph " + p.message); break;
      }
    }
    if (problems.size() >= detail::kMaxGraphProblems) reader_.mark_truncated();
  }

  const JsonPath root_path_;
  detail::JsonReader reader_;
  Graph graph_;
  std::vector<PendingEdge> edges_;
};

void write_phase(JsonWriter& w, Phase phase, const PhaseCost& cost) {
  w.key(to_string(phase)).begin_object(JsonWriter::Layout::kOneLine);
  w.field("flops", cost.flops).field("bytes", cost.bytes);
  if (cost.seconds) w.field("seconds", *cost.seconds);
  w.end_object();
}

// Fields at their defaults are left out, to keep files short and readable.
void write_op(JsonWriter& w, const Op& op) {
  w.begin_object();
  w.field("name", op.name).field("kind", op.kind);
  for (Phase p : kAllPhases)
    if (op.cost(p) != PhaseCost{}) write_phase(w, p, op.cost(p));
  if (op.param_bytes != 0) w.field("param_bytes", op.param_bytes);
  if (op.activation_bytes != 0) w.field("activation_bytes", op.activation_bytes);
  if (!op.shape.empty()) {
    w.key("shape").begin_array(JsonWriter::Layout::kOneLine);
    for (std::int64_t d : op.shape) w.value(d);
    w.end_array();
  }
  // The dtype belongs with the shape (together they give the output bytes), so it is written whenever
  // either differs from the default.
  if (!op.shape.empty() || op.dtype != DType::kF32) w.field("dtype", to_string(op.dtype));
  if (!op.dims.empty()) w.field("dims", op.dims);
  if (!op.layer.empty()) w.field("layer", op.layer);
  if (!op.group.empty()) w.field("group", op.group);
  if (!op.params_from.empty()) w.field("params_from", op.params_from);
  w.end_object();
}

}  // namespace

Result<Graph> parse_graph_json(std::string_view text, std::string_view source) {
  return detail::parse_guarded<Graph>(source, "graph", [&] { return GraphReader(source).read(text); });
}

Result<Graph> read_graph_json(const std::string& path) {
  return detail::read_json_file<Graph>(path, parse_graph_json);
}

std::string graph_to_json(const Graph& graph, int indent) {
  JsonWriter w(indent);
  w.begin_object();
  w.field("format", kFormat).field("version", kGraphFormatVersion).field("name", graph.name());
  if (graph.samples() > 0) w.field("samples", graph.samples());
  if (graph.sequence_length() > 0) w.field("sequence_length", graph.sequence_length());
  w.key("ops").begin_array();
  for (OpId id : graph.ops()) write_op(w, graph.op(id));
  w.end_array();
  w.key("edges").begin_array();
  for (EdgeId id : graph.edges()) {
    const Edge& e = graph.edge(id);
    w.begin_object(JsonWriter::Layout::kOneLine);
    w.field("from", graph.op(e.src).name).field("to", graph.op(e.dst).name);
    w.field("bytes", e.bytes);  // always written: the default depends on the producer
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.finish();
}

Status write_graph_json(const Graph& graph, const std::string& path, int indent) {
  return detail::write_text_file(path, graph_to_json(graph, indent));
}

OPPLAN_END_NAMESPACE
