// Graph, Op, Edge, PhaseCost, DType, Phase; graph files (JSON, ONNX); the model zoo.
#include <sstream>

#include "bindings.hpp"

namespace opplan::python {
namespace {

std::string repr_op(const Op& op) {
  std::ostringstream s;
  s << "Op(name=" << py::repr(py::str(op.name)).cast<std::string>() << ", kind="
    << py::repr(py::str(op.kind)).cast<std::string>() << ", forward.flops=" << op.forward.flops
    << ", param_bytes=" << op.param_bytes << ")";
  return s.str();
}

Op make_op(std::string name, std::string kind, PhaseCost forward, PhaseCost input_grad, PhaseCost weight_grad,
           double param_bytes, double activation_bytes, std::vector<std::int64_t> shape, DType dtype, std::string dims,
           std::string layer, std::string group, std::string params_from) {
  Op op;
  op.name = std::move(name);
  op.kind = std::move(kind);
  op.forward = forward;
  op.input_grad = input_grad;
  op.weight_grad = weight_grad;
  op.param_bytes = param_bytes;
  op.activation_bytes = activation_bytes;
  op.shape = std::move(shape);
  op.dtype = dtype;
  op.dims = std::move(dims);
  op.layer = std::move(layer);
  op.group = std::move(group);
  op.params_from = std::move(params_from);
  return op;
}

}  // namespace

void bind_graph(py::module_& m) {
  def_enum<Phase>(m, "Phase", "A phase of one op's training step: forward (F), input_grad (b), weight_grad (W).",
                  [](const std::string& s) { return parse_phase(s); })
      .value("FORWARD", Phase::kForward)
      .value("INPUT_GRAD", Phase::kInputGrad)
      .value("WEIGHT_GRAD", Phase::kWeightGrad);

  def_enum<DType>(m, "DType", "Element type of a tensor (names as in files: \"f32\", \"bf16\", ...).",
                  [](const std::string& s) { return parse_dtype(s); })
      .value("F32", DType::kF32)
      .value("F16", DType::kF16)
      .value("BF16", DType::kBF16)
      .value("F64", DType::kF64)
      .value("F8", DType::kF8)
      .value("I64", DType::kI64)
      .value("I32", DType::kI32)
      .value("I16", DType::kI16)
      .value("I8", DType::kI8)
      .value("U8", DType::kU8)
      .value("BOOL", DType::kBool)
      .def_property_readonly("size_in_bytes", [](DType d) { return size_in_bytes(d); }, "Bytes per element.");

  py::class_<PhaseCost>(m, "PhaseCost",
                        "Cost of one phase of one op for one micro-batch: FLOPs and bytes of memory traffic, or a "
                        "measured time in seconds that overrides the cost model.")
      .def(py::init([](double flops, double bytes, std::optional<double> seconds) {
             return PhaseCost{flops, bytes, seconds};
           }),
           py::arg("flops") = 0.0, py::arg("bytes") = 0.0, py::arg("seconds") = py::none())
      .def_readwrite("flops", &PhaseCost::flops)
      .def_readwrite("bytes", &PhaseCost::bytes)
      .def_readwrite("seconds", &PhaseCost::seconds)
      .def(py::self == py::self)
      .def(py::self != py::self)
      .def("__repr__", [](const PhaseCost& c) {
        std::ostringstream s;
        s << "PhaseCost(flops=" << c.flops << ", bytes=" << c.bytes;
        if (c.seconds) s << ", seconds=" << *c.seconds;
        s << ")";
        return s.str();
      });

  py::class_<Op>(m, "Op",
                 "One operator (or merged group of operators) with its cost per training phase. Sizes are per "
                 "micro-batch and unsharded. Graph.op(i) returns a copy: change an op with Graph.set_op().")
      .def(py::init(&make_op), py::arg("name") = "", py::arg("kind") = "generic", py::arg("forward") = PhaseCost{},
           py::arg("input_grad") = PhaseCost{}, py::arg("weight_grad") = PhaseCost{}, py::arg("param_bytes") = 0.0,
           py::arg("activation_bytes") = 0.0, py::arg("shape") = std::vector<std::int64_t>{},
           py::arg("dtype") = DType::kF32, py::arg("dims") = "", py::arg("layer") = "", py::arg("group") = "",
           py::arg("params_from") = "")
      .def_readwrite("name", &Op::name, "Unique in the graph; empty: add_op names it op<id>.")
      .def_readwrite("kind", &Op::kind, "\"matmul\", \"conv\", \"elementwise\", ... (docs/file-formats.md).")
      .def_readwrite("forward", &Op::forward)
      .def_readwrite("input_grad", &Op::input_grad)
      .def_readwrite("weight_grad", &Op::weight_grad)
      .def_readwrite("param_bytes", &Op::param_bytes)
      .def_readwrite("activation_bytes", &Op::activation_bytes)
      .def_readwrite("shape", &Op::shape, "Output tensor shape.")
      .def_readwrite("dtype", &Op::dtype, "Output tensor element type.")
      .def_readwrite("dims", &Op::dims, "Einsum-like dimension annotation, e.g. \"b m k, k n -> b m n\".")
      .def_readwrite("layer", &Op::layer)
      .def_readwrite("group", &Op::group)
      .def_readwrite("params_from", &Op::params_from)
      .def("cost", py::overload_cast<Phase>(&Op::cost, py::const_), py::arg("phase"), "The PhaseCost of a phase (a copy).")
      .def("output_bytes", &Op::output_bytes, "Elements of the output shape times the element size.")
      .def(py::self == py::self)
      .def(py::self != py::self)
      .def("__repr__", &repr_op);

  py::class_<Edge>(m, "Edge", "A tensor flowing from op src to op dst, carrying `bytes`.")
      .def(py::init([](OpId src, OpId dst, double bytes) { return Edge{src, dst, bytes}; }), py::arg("src"),
           py::arg("dst"), py::arg("bytes") = 0.0)
      .def_readwrite("src", &Edge::src)
      .def_readwrite("dst", &Edge::dst)
      .def_readwrite("bytes", &Edge::bytes)
      .def(py::self == py::self)
      .def("__repr__", [](const Edge& e) {
        std::ostringstream s;
        s << "Edge(src=" << e.src.value() << ", dst=" << e.dst.value() << ", bytes=" << e.bytes << ")";
        return s.str();
      });

  py::class_<CriticalPath>(m, "CriticalPath", "The longest path: its length and its ops, first to last.")
      .def_readonly("length", &CriticalPath::length)
      .def_readonly("ops", &CriticalPath::ops);

  py::class_<GraphTotals>(m, "GraphTotals", "Totals over all ops, per micro-batch.")
      .def_property_readonly("flops", [](const GraphTotals& t) { return std::vector<double>(t.flops, t.flops + kNumPhases); },
                             "[forward, input_grad, weight_grad] FLOPs.")
      .def_readonly("param_bytes", &GraphTotals::param_bytes)
      .def_readonly("activation_bytes", &GraphTotals::activation_bytes)
      .def_readonly("edge_bytes", &GraphTotals::edge_bytes);

  py::class_<Graph>(m, "Graph",
                    "The operator DAG. Ops and edges are numbered 0, 1, ... in insertion order; Graph.ops and "
                    "Graph.edges are lists of copies.")
      .def(py::init<>())
      .def(py::init<std::string>(), py::arg("name"))
      .def_property("name", &Graph::name, &Graph::set_name)
      .def_property("samples", &Graph::samples, &Graph::set_samples, "Samples per micro-batch the costs are for (0: not recorded).")
      .def_property("sequence_length", &Graph::sequence_length, &Graph::set_sequence_length, "Tokens per sample (0: not recorded).")
      .def("add_op", &Graph::add_op, py::arg("op"), "Adds an op; returns its id. Values are checked by validate().")
      .def(
          "add_edge",
          [](Graph& g, OpId src, OpId dst, std::optional<double> bytes) { return g.add_edge(src, dst, bytes); },
          py::arg("src"), py::arg("dst"), py::arg("bytes") = py::none(),
          "Adds an edge src -> dst carrying `bytes` (default: src's output bytes); returns its id. IndexError for an "
          "unknown op.")
      .def_property_readonly("num_ops", &Graph::num_ops)
      .def_property_readonly("num_edges", &Graph::num_edges)
      .def("__len__", &Graph::num_ops)
      .def("op", &Graph::op, py::arg("id"), "A copy of op `id` (IndexError when there is none).")
      .def(
          "set_op", [](Graph& g, OpId id, const Op& op) { g.mutable_op(id) = op; }, py::arg("id"), py::arg("op"),
          "Replaces op `id`.")
      .def("edge", &Graph::edge, py::arg("id"))
      .def_property_readonly("ops",
                             [](const Graph& g) {
                               std::vector<Op> ops;
                               ops.reserve(g.num_ops());
                               for (OpId id : g.ops()) ops.push_back(g.op(id));
                               return ops;
                             })
      .def_property_readonly("edges",
                             [](const Graph& g) {
                               std::vector<Edge> edges;
                               edges.reserve(g.num_edges());
                               for (EdgeId id : g.edges()) edges.push_back(g.edge(id));
                               return edges;
                             })
      .def("find_op", &Graph::find_op, py::arg("name"), "The id of the op with this name, or None.")
      .def("in_edges", &Graph::in_edges, py::arg("op"))
      .def("out_edges", &Graph::out_edges, py::arg("op"))
      .def("predecessors", &Graph::predecessors, py::arg("op"))
      .def("successors", &Graph::successors, py::arg("op"))
      .def("in_degree", &Graph::in_degree, py::arg("op"))
      .def("out_degree", &Graph::out_degree, py::arg("op"))
      .def("totals", &Graph::totals)
      .def(
          "validate", [](const Graph& g) { check(g.validate()); },
          "Raises opplan.InvalidArgumentError listing every problem (one per line) when the graph is not valid.")
      .def("find_cycle", &Graph::find_cycle, "The ops of one cycle in order, or None when acyclic.")
      .def(
          "topological_order", [](const Graph& g) { return unwrap(g.topological_order()); },
          "Op ids ordered so that every edge goes forward (deterministic).")
      .def(
          "critical_path",
          [](const Graph& g, const std::function<double(OpId)>& op_cost,
             const std::function<double(EdgeId)>& edge_cost) { return unwrap(g.critical_path(op_cost, edge_cost)); },
          py::arg("op_cost"), py::arg("edge_cost") = nullptr,
          "The longest path where op i costs op_cost(i) and edge e costs edge_cost(e).")
      .def(
          "to_json", [](const Graph& g, int indent) { return graph_to_json(g, indent); }, py::arg("indent") = 2,
          "The graph in opplan's JSON format (indent < 0: one line).")
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) { return unwrap(parse_graph_json(text, source)); },
          py::arg("text"), py::arg("source") = "<string>", "Parses (and validates) a graph from JSON text.")
      .def("__copy__", [](const Graph& g) { return Graph(g); })
      .def("__deepcopy__", [](const Graph& g, py::dict) { return Graph(g); }, py::arg("memo"))
      .def(py::pickle([](const Graph& g) { return graph_to_json(g, -1); },
                      [](const std::string& text) { return unwrap(parse_graph_json(text, "<pickle>")); }))
      .def("__repr__", [](const Graph& g) {
        std::ostringstream s;
        s << "<opplan.Graph '" << g.name() << "': " << g.num_ops() << " ops, " << g.num_edges() << " edges>";
        return s.str();
      });

  m.def(
      "read_graph_json", [](const std::string& path) { return unwrap(read_graph_json(path)); }, py::arg("path"),
      "Reads and validates a graph JSON file (errors name the file and JSON path).");
  m.def(
      "write_graph_json",
      [](const Graph& g, const std::string& path, int indent) { check(write_graph_json(g, path, indent)); },
      py::arg("graph"), py::arg("path"), py::arg("indent") = 2);
  m.def("onnx_import_available", &onnx_import_available, "True when this build can read ONNX files.");
  m.def(
      "read_onnx_graph",
      [](const std::string& path) {
        Result<Graph> r = [&] {
          py::gil_scoped_release release;
          return read_onnx_graph(path);
        }();
        return unwrap(std::move(r));
      },
      py::arg("path"), "Reads an ONNX model (runs shape inference) as a graph.");

  // ---- the zoo ----
  m.def("zoo_names", &zoo_names, "The names zoo_model() knows.");
  m.def(
      "zoo_model",
      [](const std::string& name) {
        Result<Graph> r = [&] {
          py::gil_scoped_release release;
          return zoo_model(name);
        }();
        return unwrap(std::move(r));
      },
      py::arg("name"), "A built-in model by name (case-insensitive), e.g. \"gpt3-1.3b\"; NotFoundError lists the names.");

  py::class_<TransformerConfig> transformer(m, "TransformerConfig",
                                            "A GPT-style decoder-only transformer (build_transformer()).");
  def_kwargs_init<TransformerConfig>(transformer);
  transformer.def_readwrite("name", &TransformerConfig::name)
      .def_readwrite("hidden", &TransformerConfig::hidden)
      .def_readwrite("layers", &TransformerConfig::layers)
      .def_readwrite("heads", &TransformerConfig::heads)
      .def_readwrite("ffn_hidden", &TransformerConfig::ffn_hidden)
      .def_readwrite("seq_len", &TransformerConfig::seq_len)
      .def_readwrite("vocab", &TransformerConfig::vocab)
      .def_readwrite("micro_batch", &TransformerConfig::micro_batch)
      .def_readwrite("dtype", &TransformerConfig::dtype);
  m.def("gpt3_config", &gpt3_config, py::arg("size"),
        "Alpa's GPT-3 sizes: \"350M\", \"1.3B\", \"2.6B\", \"6.7B\", \"15B\", \"39B\"; None for another size.");
  m.def(
      "build_transformer", [](const TransformerConfig& c) { return unwrap(build_transformer(c)); }, py::arg("config"));

  py::class_<WideResNetConfig> wresnet(m, "WideResNetConfig", "Wide-ResNet as in Alpa's benchmark (build_wide_resnet()).");
  def_kwargs_init<WideResNetConfig>(wresnet);
  wresnet.def_readwrite("name", &WideResNetConfig::name)
      .def_readwrite("depth", &WideResNetConfig::depth)
      .def_readwrite("base_channels", &WideResNetConfig::base_channels)
      .def_readwrite("width_factor", &WideResNetConfig::width_factor)
      .def_readwrite("image_size", &WideResNetConfig::image_size)
      .def_readwrite("classes", &WideResNetConfig::classes)
      .def_readwrite("micro_batch", &WideResNetConfig::micro_batch)
      .def_readwrite("dtype", &WideResNetConfig::dtype);
  m.def("wide_resnet_config", &wide_resnet_config, py::arg("size"), "Alpa's sizes \"250M\" ... \"13B\"; None otherwise.");

  py::class_<MoeConfig> moe(m, "MoeConfig", "A GShard mixture-of-experts transformer (build_gshard_moe()).");
  def_kwargs_init<MoeConfig>(moe);
  moe.def_readwrite("name", &MoeConfig::name)
      .def_readwrite("hidden", &MoeConfig::hidden)
      .def_readwrite("layers", &MoeConfig::layers)
      .def_readwrite("heads", &MoeConfig::heads)
      .def_readwrite("experts", &MoeConfig::experts)
      .def_readwrite("ffn_hidden", &MoeConfig::ffn_hidden)
      .def_readwrite("top_k", &MoeConfig::top_k)
      .def_readwrite("capacity_factor", &MoeConfig::capacity_factor)
      .def_readwrite("expert_group", &MoeConfig::expert_group)
      .def_readwrite("seq_len", &MoeConfig::seq_len)
      .def_readwrite("vocab", &MoeConfig::vocab)
      .def_readwrite("micro_batch", &MoeConfig::micro_batch)
      .def_readwrite("dtype", &MoeConfig::dtype);
  m.def("gshard_moe_config", &gshard_moe_config, py::arg("size"), "Alpa's sizes \"380M\" ... \"70B\"; None otherwise.");
  m.def(
      "build_gshard_moe", [](const MoeConfig& c) { return unwrap(build_gshard_moe(c)); }, py::arg("config"));

  py::class_<LlamaConfig> llama(m, "LlamaConfig", "A Llama-3-style decoder (build_llama()).");
  def_kwargs_init<LlamaConfig>(llama);
  llama.def_readwrite("name", &LlamaConfig::name)
      .def_readwrite("hidden", &LlamaConfig::hidden)
      .def_readwrite("layers", &LlamaConfig::layers)
      .def_readwrite("heads", &LlamaConfig::heads)
      .def_readwrite("kv_heads", &LlamaConfig::kv_heads)
      .def_readwrite("ffn_hidden", &LlamaConfig::ffn_hidden)
      .def_readwrite("seq_len", &LlamaConfig::seq_len)
      .def_readwrite("vocab", &LlamaConfig::vocab)
      .def_readwrite("micro_batch", &LlamaConfig::micro_batch)
      .def_readwrite("dtype", &LlamaConfig::dtype);
  m.def("llama3_config", &llama3_config, py::arg("size"), "\"8B\" or \"70B\"; None otherwise.");
  m.def(
      "build_llama", [](const LlamaConfig& c) { return unwrap(build_llama(c)); }, py::arg("config"));

  py::class_<DeepSeekConfig> deepseek(m, "DeepSeekConfig", "A DeepSeek-V3-style decoder (build_deepseek()).");
  def_kwargs_init<DeepSeekConfig>(deepseek);
  deepseek.def_readwrite("name", &DeepSeekConfig::name)
      .def_readwrite("hidden", &DeepSeekConfig::hidden)
      .def_readwrite("layers", &DeepSeekConfig::layers)
      .def_readwrite("dense_layers", &DeepSeekConfig::dense_layers)
      .def_readwrite("heads", &DeepSeekConfig::heads)
      .def_readwrite("q_lora_rank", &DeepSeekConfig::q_lora_rank)
      .def_readwrite("kv_lora_rank", &DeepSeekConfig::kv_lora_rank)
      .def_readwrite("qk_nope_dim", &DeepSeekConfig::qk_nope_dim)
      .def_readwrite("qk_rope_dim", &DeepSeekConfig::qk_rope_dim)
      .def_readwrite("v_head_dim", &DeepSeekConfig::v_head_dim)
      .def_readwrite("dense_ffn_hidden", &DeepSeekConfig::dense_ffn_hidden)
      .def_readwrite("expert_ffn_hidden", &DeepSeekConfig::expert_ffn_hidden)
      .def_readwrite("routed_experts", &DeepSeekConfig::routed_experts)
      .def_readwrite("active_experts", &DeepSeekConfig::active_experts)
      .def_readwrite("shared_experts", &DeepSeekConfig::shared_experts)
      .def_readwrite("capacity_factor", &DeepSeekConfig::capacity_factor)
      .def_readwrite("seq_len", &DeepSeekConfig::seq_len)
      .def_readwrite("vocab", &DeepSeekConfig::vocab)
      .def_readwrite("micro_batch", &DeepSeekConfig::micro_batch)
      .def_readwrite("dtype", &DeepSeekConfig::dtype);
  m.def("deepseek_v3_config", &deepseek_v3_config, py::arg("size"), "\"671B\"; None otherwise.");
  m.def(
      "build_deepseek", [](const DeepSeekConfig& c) { return unwrap(build_deepseek(c)); }, py::arg("config"));

  def_enum<BranchyModel>(m, "BranchyModel", "The branch-rich benchmark graphs.",
                         [](const std::string& s) -> std::optional<BranchyModel> {
                           for (BranchyModel b : {BranchyModel::kInceptionStack, BranchyModel::kMoeStack,
                                                  BranchyModel::kTwoTower})
                             if (s == to_string(b)) return b;
                           return std::nullopt;
                         })
      .value("INCEPTION_STACK", BranchyModel::kInceptionStack)
      .value("MOE_STACK", BranchyModel::kMoeStack)
      .value("TWO_TOWER", BranchyModel::kTwoTower);
  py::class_<BranchyConfig> branchy(m, "BranchyConfig", "A branch-rich graph (build_branchy()).");
  def_kwargs_init<BranchyConfig>(branchy);
  branchy.def_readwrite("model", &BranchyConfig::model)
      .def_readwrite("name", &BranchyConfig::name)
      .def_readwrite("blocks", &BranchyConfig::blocks)
      .def_readwrite("branches", &BranchyConfig::branches)
      .def_readwrite("hidden", &BranchyConfig::hidden)
      .def_readwrite("tokens", &BranchyConfig::tokens);
  m.def(
      "build_branchy", [](const BranchyConfig& c) { return unwrap(build_branchy(c)); }, py::arg("config"));
  m.def(
      "build_wide_resnet", [](const WideResNetConfig& c) { return unwrap(build_wide_resnet(c)); }, py::arg("config"));
}

}  // namespace opplan::python
