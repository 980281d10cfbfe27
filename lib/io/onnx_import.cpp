// ONNX models as opplan graphs (include/opplan/onnx.hpp, docs/onnx-import.md).
//
// Built with the ONNX library only when OPPLAN_HAVE_ONNX is defined (lib/CMakeLists.txt); otherwise
// read_onnx_graph() explains how to enable it. The cost rules are those of the PyTorch exporter
// (tools/torch_export/opplan_export.py), so that graphs from both routes compare.
#include <opplan/onnx.hpp>

#include <fmt/format.h>

#if OPPLAN_HAVE_ONNX
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#endif

OPPLAN_BEGIN_NAMESPACE

#if !OPPLAN_HAVE_ONNX

bool onnx_import_available() { return false; }

Result<Graph> read_onnx_graph(const std::string& path) {
  return Status(StatusCode::kUnsupported,
                fmt::format("{}: this build of opplan cannot read ONNX models: install the ONNX library "
                            "(Debian: apt-get install libonnx-dev libprotobuf-dev) and configure with "
                            "-DOPPLAN_WITH_ONNX=ON",
                            path));
}

#else

namespace {

// A tensor's element type and shape; unknown dimensions (symbolic or missing) are -1.
struct TensorInfo {
  DType dtype = DType::kF32;
  bool floating = true;
  std::vector<std::int64_t> shape;
  bool known = false;  // the shape is known and has no unknown dimension
};

std::optional<DType> to_dtype(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::FLOAT16: return DType::kF16;
    case onnx::TensorProto::BFLOAT16: return DType::kBF16;
    case onnx::TensorProto::DOUBLE: return DType::kF64;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT16: return DType::kI16;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::UINT8: return DType::kU8;
    case onnx::TensorProto::BOOL: return DType::kBool;
    default: return std::nullopt;
  }
}

bool is_floating(int type) {
  return type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::FLOAT16 ||
         type == onnx::TensorProto::BFLOAT16 || type == onnx::TensorProto::DOUBLE;
}

TensorInfo info_of(const onnx::ValueInfoProto& value) {
  TensorInfo info;
  if (!value.type().has_tensor_type()) return info;
  const auto& tensor = value.type().tensor_type();
  info.dtype = to_dtype(tensor.elem_type()).value_or(DType::kF32);
  info.floating = is_floating(tensor.elem_type());
  if (!tensor.has_shape()) return info;
  info.known = true;
  for (const auto& dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() >= 0) {
      info.shape.push_back(dim.dim_value());
    } else {
      info.shape.push_back(-1);
      info.known = false;
    }
  }
  return info;
}

TensorInfo info_of(const onnx::TensorProto& tensor) {
  TensorInfo info;
  info.dtype = to_dtype(tensor.data_type()).value_or(DType::kF32);
  info.floating = is_floating(tensor.data_type());
  info.known = true;
  for (auto d : tensor.dims()) info.shape.push_back(d);
  return info;
}

double elements(const TensorInfo& t) {
  if (!t.known) return 0;
  double n = 1;
  for (auto d : t.shape) n *= static_cast<double>(d);
  return n;
}

double bytes_of(const TensorInfo& t) { return elements(t) * size_in_bytes(t.dtype); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& node, const char* name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::int64_t int_attribute(const onnx::NodeProto& node, const char* name, std::int64_t fallback) {
  const auto* a = attribute(node, name);
  return a && a->has_i() ? a->i() : fallback;
}

const std::set<std::string> kAddLike = {"Add", "Sub", "Sum"};
const std::set<std::string> kMulLike = {"Mul", "Div", "Pow"};
const std::set<std::string> kUnary = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu", "HardSigmoid",
                                      "HardSwish", "Softplus", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs",
                                      "Erf", "Clip", "Cast", "Dropout", "Where", "Max", "Min", "PRelu",
                                      "Identity", "Not", "Equal", "Less", "Greater"};
const std::set<std::string> kViews = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Shape",
                                      "Gather", "Slice", "Split", "Expand", "Constant", "ConstantOfShape"};
const std::set<std::string> kReduce = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                                       "ReduceL2", "ArgMax", "ArgMin"};

// The numbers of one op by the PyTorch exporter's rules (docs/torch-export.md).
struct Cost {
  std::string kind;
  double forward = 0, input_grad = 0, weight_grad = 0, activation = 0;
  bool view = false;
  bool reads_params = false;
};

class Importer {
 public:
  Importer(const std::string& path, onnx::ModelProto& model) : path_(path), model_(model) {}

  Result<Graph> run() {
    const onnx::GraphProto& g = model_.graph();
    graph_.set_name(g.name());
    for (const auto& init : g.initializer()) initializers_.emplace(init.name(), &init);
    auto remember = [&](const onnx::ValueInfoProto& v) { values_[v.name()] = info_of(v); };
    for (const auto& v : g.input()) remember(v);
    for (const auto& v : g.value_info()) remember(v);
    for (const auto& v : g.output()) remember(v);
    for (const auto& [name, init] : initializers_) values_[name] = info_of(*init);

    for (const auto& v : g.input()) {
      if (initializers_.count(v.name())) continue;  // old exporters list initializers as inputs too
      const TensorInfo& t = values_[v.name()];
      Op op;
      op.name = v.name();
      op.kind = "input";
      if (t.known) op.shape = t.shape;
      op.dtype = t.dtype;
      const OpId id = add(std::move(op));
      producer_[v.name()] = id;
      requires_grad_[id.value()] = false;
    }
    for (int i = 0; i < g.node_size(); ++i)
      if (Status s = add_node(g.node(i), i); !s.ok()) return s;
    if (Status s = graph_.validate(); !s.ok()) return s.with_context(path_);
    return std::move(graph_);
  }

 private:
  OpId add(Op op) {
    names_.insert(op.name);
    const OpId id = graph_.add_op(std::move(op));
    requires_grad_.push_back(false);
    return id;
  }

  std::string unique_name(const onnx::NodeProto& node, int index) {
    std::string name = node.name();
    if (name.empty()) name = fmt::format("{}_{}", lower(node.op_type()), index);
    if (names_.count(name)) name = fmt::format("{}_{}", name, index);
    return name;
  }

  const TensorInfo* value(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }

  Status add_node(const onnx::NodeProto& node, int index) {
    const std::string name = unique_name(node, index);
    const std::string& type = node.op_type();
    // Inputs: data from other ops, parameters from floating-point initializers.
    std::vector<const TensorInfo*> data;
    std::vector<OpId> producers;
    double data_bytes = 0, param_read = 0, param_owned = 0;
    std::set<std::string> owners;  // ops that own a weight this node reads but does not own
    for (const auto& input : node.input()) {
      if (input.empty()) continue;  // an optional input left out
      if (auto init = initializers_.find(input); init != initializers_.end()) {
        const TensorInfo t = info_of(*init->second);
        if (!t.floating) continue;  // shapes, axes, indices: constants, not parameters
        param_read += bytes_of(t);
        if (auto [owner, fresh] = owner_.emplace(input, name); fresh)
          param_owned += bytes_of(t);
        else if (owner->second != name)
          owners.insert(owner->second);
        continue;
      }
      auto p = producer_.find(input);
      if (p == producer_.end())
        return Status(StatusCode::kInvalidArgument,
                      fmt::format("{}: node '{}' ({}): input '{}' is produced by no node, graph input or initializer",
                                  path_, name, type, input));
      const TensorInfo* t = value(input);
      if (t) data.push_back(t), data_bytes += bytes_of(*t);
      if (std::find(producers.begin(), producers.end(), p->second) == producers.end()) producers.push_back(p->second);
    }
    if (node.output_size() == 0 || node.output(0).empty())
      return Status(StatusCode::kInvalidArgument, fmt::format("{}: node '{}' ({}) has no output", path_, name, type));
    const TensorInfo* out = value(node.output(0));
    TensorInfo out_info = out ? *out : TensorInfo{};
    double out_bytes = 0;
    for (const auto& o : node.output())
      if (const TensorInfo* t = value(o)) out_bytes += bytes_of(*t);

    const bool has_params = param_read > 0;
    const Cost c = cost(node, out_info, data, data_bytes, has_params);
    bool needs_input_grad = false;
    for (OpId p : producers) needs_input_grad |= requires_grad_[p.value()];

    Op op;
    op.name = name;
    op.kind = c.kind;
    if (!c.view) {
      op.forward = {c.forward, data_bytes + param_read + out_bytes, std::nullopt};
      if (needs_input_grad)
        op.input_grad = {c.input_grad, out_bytes + data_bytes + (c.reads_params ? param_read : 0), std::nullopt};
      if (has_params) op.weight_grad = {c.weight_grad, out_bytes + data_bytes + param_read, std::nullopt};
    }
    op.param_bytes = param_owned;
    // A weight another node owns (a tied weight): name the owner, for the sharding's alias
    // constraint, when it is one op that owns parameters of its own.
    if (owners.size() == 1)
      if (auto owner = graph_.find_op(*owners.begin());
          owner && graph_.op(*owner).param_bytes > 0 && graph_.op(*owner).params_from.empty())
        op.params_from = *owners.begin();
    if (needs_input_grad || has_params) op.activation_bytes = c.activation;
    if (out_info.known) op.shape = out_info.shape;
    op.dtype = out_info.dtype;
    const OpId id = add(std::move(op));
    requires_grad_[id.value()] = needs_input_grad || has_params;
    for (OpId p : producers) {
      // The bytes of the tensors this op reads from p (unknown shapes: p's output bytes).
      double bytes = 0;
      bool known = true;
      for (const auto& input : node.input()) {
        auto it = producer_.find(input);
        if (it == producer_.end() || it->second != p || initializers_.count(input)) continue;
        const TensorInfo* t = value(input);
        if (t && t->known) bytes += bytes_of(*t);
        else known = false;
      }
      graph_.add_edge(p, id, known ? std::optional<double>(bytes) : std::nullopt);
    }
    for (const auto& o : node.output())
      if (!o.empty()) producer_[o] = id;
    return Status::Ok();
  }

  Cost cost(const onnx::NodeProto& node, const TensorInfo& out, const std::vector<const TensorInfo*>& data,
            double data_bytes, bool has_params) const {
    const std::string& type = node.op_type();
    const double n = elements(out);
    const double out_bytes = n * size_in_bytes(out.dtype);
    const TensorInfo* first = data.empty() ? nullptr : data.front();
    Cost c;
    c.kind = lower(type);
    if (type == "Conv" || type == "ConvTranspose") {
      // Weight [Cout, Cin/groups, k...] (ConvTranspose: [Cin, Cout/groups, k...]): each output
      // (input) element does prod(weight dims after the first) MACs.
      double per_output = 0;
      if (node.input_size() > 1) {
        std::vector<std::int64_t> w;
        if (auto it = initializers_.find(node.input(1)); it != initializers_.end()) w = info_of(*it->second).shape;
        else if (const TensorInfo* t = value(node.input(1)); t && t->known) w = t->shape;
        if (!w.empty()) {
          per_output = 1;
          for (std::size_t d = 1; d < w.size(); ++d) per_output *= static_cast<double>(w[d]);
        }
      }
      const double macs = type == "Conv" ? n * per_output : (first ? elements(*first) : 0) * per_output;
      const double bias = node.input_size() > 2 && !node.input(2).empty() ? n : 0;
      c.kind = "conv";
      c.forward = 2 * macs + bias;
      c.input_grad = 2 * macs;
      c.weight_grad = 2 * macs + bias;
      c.activation = data_bytes;
      c.reads_params = true;
    } else if (type == "Gemm" || type == "MatMul") {
      // K: the contracted size of A (Gemm may transpose A).
      double k = 0;
      if (const TensorInfo* a = node.input_size() > 0 ? value(node.input(0)) : nullptr; a && a->known && !a->shape.empty()) {
        const bool trans_a = type == "Gemm" && int_attribute(node, "transA", 0) != 0;
        k = static_cast<double>(trans_a ? a->shape.front() : a->shape.back());
      }
      const double bias = type == "Gemm" && node.input_size() > 2 && !node.input(2).empty() ? n : 0;
      const double macs = n * k;
      c.kind = out.shape.size() > 2 && !has_params ? "batch_matmul" : "matmul";
      c.forward = 2 * macs + bias;
      c.input_grad = has_params ? 2 * macs : 4 * macs;  // two activations: both get a gradient
      c.weight_grad = has_params ? 2 * macs + bias : 0;
      c.activation = data_bytes;
      c.reads_params = has_params;
    } else if (type == "BatchNormalization" || type == "LayerNormalization" || type == "GroupNormalization" ||
               type == "InstanceNormalization") {
      c.kind = type == "BatchNormalization" ? "batchnorm" : type == "LayerNormalization" ? "layernorm" : "norm";
      c.forward = 5 * n;
      c.input_grad = (type == "LayerNormalization" ? 10 : 9) * n;
      c.weight_grad = has_params ? 3 * n : 0;
      c.activation = data_bytes;
      c.reads_params = true;
    } else if (type == "Softmax" || type == "LogSoftmax") {
      c.kind = "softmax";
      c.forward = 5 * n;
      c.input_grad = 4 * n;
      c.activation = out_bytes;
    } else if (type == "MaxPool" || type == "AveragePool") {
      double kernel = 1;
      if (const auto* a = attribute(node, "kernel_shape"))
        for (auto k : a->ints()) kernel *= static_cast<double>(k);
      c.kind = "pool";
      c.forward = n * kernel;
      c.input_grad = n;
      if (type == "MaxPool") c.activation = data_bytes;
    } else if (type == "GlobalAveragePool" || type == "GlobalMaxPool") {
      c.kind = "pool";
      c.forward = c.input_grad = first ? elements(*first) : n;
      if (type == "GlobalMaxPool") c.activation = data_bytes;
    } else if (kReduce.count(type)) {
      c.kind = "reduce";
      c.forward = c.input_grad = first ? elements(*first) : n;
    } else if (kAddLike.count(type)) {
      c.kind = "elementwise";
      c.forward = n;
    } else if (kMulLike.count(type)) {
      c.kind = "elementwise";
      c.forward = n;
      c.input_grad = n * static_cast<double>(data.size());
      c.activation = data_bytes;
    } else if (kUnary.count(type)) {
      c.kind = "elementwise";
      c.forward = c.input_grad = n;
      c.weight_grad = has_params ? n : 0;
      c.activation = type == "Dropout" ? n : out_bytes;
    } else if (kViews.count(type)) {
      c.kind = type == "Transpose" ? "transpose" : type == "Gather" || type == "Slice" || type == "Split" ? "slice" : "reshape";
      c.view = !has_params;
      if (type == "Gather" && has_params) {  // an embedding lookup
        c.kind = "embedding";
        c.weight_grad = n;
        c.activation = data_bytes;
      }
    } else if (type == "Concat") {
      c.kind = "concat";
    } else if (type == "Pad" || type == "Tile" || type == "Resize" || type == "Upsample") {
      c.kind = "copy";
      c.input_grad = n;
    }
    return c;
  }

  std::string path_;
  onnx::ModelProto& model_;
  Graph graph_;
  std::unordered_map<std::string, const onnx::TensorProto*> initializers_;
  std::unordered_map<std::string, TensorInfo> values_;
  std::unordered_map<std::string, OpId> producer_;
  std::map<std::string, std::string> owner_;  // initializer -> the op that counts it as its parameters
  std::set<std::string> names_;
  std::vector<bool> requires_grad_;  // by op id: the op's output needs a gradient
};

// ---- checks before shape inference ------------------------------------------------------------------
//
// ONNX's shape inference trusts parts of the model the checker does not look at: a Conv without
// kernel_shape takes it from the weight's rank without comparing it with the input's (and reads past
// the end of its arrays), a stride of 0 divides by zero. A model file is untrusted input, so every
// node with a kernel is checked here first, and a Conv's kernel_shape is made explicit from its
// weight so that inference compares it with the input rank (and fails cleanly) instead.

constexpr std::int64_t kMaxKernelValue = std::int64_t{1} << 31;

// Ops with a kernel: where their data and weight inputs are (-1: no weight).
struct KernelOp {
  const char* type;
  int data, weight;
  bool transposed;
};
constexpr KernelOp kKernelOps[] = {
    {"Conv", 0, 1, false},         {"ConvInteger", 0, 1, false}, {"QLinearConv", 0, 3, false},
    {"ConvTranspose", 0, 1, true}, {"MaxPool", 0, -1, false},    {"AveragePool", 0, -1, false},
    {"LpPool", 0, -1, false},      {"MaxUnpool", 0, -1, false},
};

// The rank of a value as the file declares it (graph input, value_info, output or initializer).
std::optional<int> declared_rank(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& init : g.initializer())
    if (init.name() == name) return init.dims_size();
  for (const auto* list : {&g.input(), &g.value_info(), &g.output()})
    for (const auto& v : *list)
      if (v.name() == name && v.type().has_tensor_type() && v.type().tensor_type().has_shape())
        return v.type().tensor_type().shape().dim_size();
  return std::nullopt;
}

Status check_kernel_node(const std::string& path, const onnx::GraphProto& g, onnx::NodeProto& node, int index,
                         const KernelOp& kind) {
  const std::string who =
      fmt::format("{}: node {} '{}' ({})", path, index, node.name().empty() ? std::string("?") : node.name(), kind.type);
  const auto fail = [&](const std::string& what) { return Status(StatusCode::kInvalidArgument, fmt::format("{}: {}", who, what)); };
  const auto ints = [&](const char* name) -> std::optional<std::vector<std::int64_t>> {
    const auto* a = attribute(node, name);
    if (!a) return std::nullopt;
    return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
  };
  const auto in_range = [&](const char* name, const std::vector<std::int64_t>& v, std::int64_t lo) -> Status {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] < lo || v[i] > kMaxKernelValue)
        return fail(fmt::format("attribute {}[{}] = {} is out of range (must be in [{}, {}])", name, i, v[i], lo,
                                kMaxKernelValue));
    return Status::Ok();
  };
  if (node.input_size() <= kind.data || node.input(kind.data).empty()) return fail("the data input is missing");
  if (const auto* a = attribute(node, "auto_pad")) {
    const std::string& mode = a->s();
    if (mode != "NOTSET" && mode != "SAME_UPPER" && mode != "SAME_LOWER" && mode != "VALID")
      return fail(fmt::format("attribute auto_pad = '{}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", mode));
  }
  if (const auto* a = attribute(node, "group"); a && (a->i() < 1 || a->i() > kMaxKernelValue))
    return fail(fmt::format("attribute group = {} is out of range (must be in [1, {}])", a->i(), kMaxKernelValue));
  auto kernel = ints("kernel_shape");
  if (kind.weight >= 0) {
    if (node.input_size() <= kind.weight || node.input(kind.weight).empty()) return fail("the weight input is missing");
    const std::string& weight = node.input(kind.weight);
    const auto rank = declared_rank(g, weight);
    if (!rank)
      return fail(fmt::format("the shape of the weight '{}' is not declared in the file (initializer, graph input or "
                              "value_info); opplan needs it to check the kernel before shape inference",
                              weight));
    if (*rank < 3) return fail(fmt::format("the weight '{}' has rank {}, a kernel needs rank 3 or more", weight, *rank));
    if (kernel && static_cast<int>(kernel->size()) != *rank - 2)
      return fail(fmt::format("attribute kernel_shape has {} values, the weight '{}' of rank {} has {} spatial axes",
                              kernel->size(), weight, *rank, *rank - 2));
    if (!kernel) {
      // Explicit from the weight, so that shape inference compares it with the input's rank.
      std::vector<std::int64_t> dims;
      for (const auto& init : g.initializer())
        if (init.name() == weight) dims.assign(init.dims().begin() + 2, init.dims().end());
      if (dims.empty()) {
        for (const auto* list : {&g.input(), &g.value_info(), &g.output()})
          for (const auto& v : *list)
            if (v.name() == weight && dims.empty())
              for (int d = 2; d < v.type().tensor_type().shape().dim_size(); ++d) {
                const auto& dim = v.type().tensor_type().shape().dim(d);
                if (!dim.has_dim_value())
                  return fail(fmt::format("kernel_shape is not given and the weight '{}' has a symbolic spatial "
                                          "dimension",
                                          weight));
                dims.push_back(dim.dim_value());
              }
      }
      if (Status s = in_range("kernel_shape (from the weight)", dims, 1); !s.ok()) return s;
      auto* a = node.add_attribute();
      a->set_name("kernel_shape");
      a->set_type(onnx::AttributeProto::INTS);
      for (auto d : dims) a->add_ints(d);
      kernel = dims;
    }
  } else if (!kernel) {
    return fail("attribute kernel_shape is required");
  }
  if (kernel->empty()) return fail("attribute kernel_shape is empty");
  const std::size_t k = kernel->size();
  if (Status s = in_range("kernel_shape", *kernel, 1); !s.ok()) return s;
  for (const auto& [name, size, lo] : {std::tuple{"strides", k, std::int64_t{1}}, std::tuple{"dilations", k, std::int64_t{1}},
                                       std::tuple{"pads", 2 * k, std::int64_t{0}},
                                       std::tuple{"output_padding", k, std::int64_t{0}},
                                       std::tuple{"output_shape", k, std::int64_t{0}}}) {
    const auto v = ints(name);
    if (!v) continue;
    if (v->size() != size)
      return fail(fmt::format("attribute {} has {} values, the kernel has {} axes (so {} are needed)", name, v->size(),
                              k, size));
    if (Status s = in_range(name, *v, lo); !s.ok()) return s;
  }
  if (const auto rank = declared_rank(g, node.input(kind.data)); rank && static_cast<std::size_t>(*rank) != k + 2)
    return fail(fmt::format("the input '{}' has rank {}, a kernel of {} axes needs rank {}", node.input(kind.data),
                            *rank, k, k + 2));
  return Status::Ok();
}

// ONNX's checker, then opplan's own checks of every node with a kernel (which may make kernel_shape
// explicit). Subgraphs of control-flow nodes are refused: opplan imports flat graphs only.
Status check_model(const std::string& path, onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (const auto nl = what.find("\n\n==>"); nl != std::string::npos) what.resize(nl);
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: the ONNX checker rejects the model: {}", path, what));
  }
  onnx::GraphProto& g = *model.mutable_graph();
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto& node = *g.mutable_node(i);
    for (const auto& a : node.attribute())
      if (a.has_g() || a.graphs_size() > 0)
        return Status(StatusCode::kUnsupported,
                      fmt::format("{}: node {} '{}' ({}) has a subgraph (attribute '{}'); opplan imports graphs "
                                  "without control flow",
                                  path, i, node.name(), node.op_type(), a.name()));
    if (!node.domain().empty() && node.domain() != "ai.onnx") continue;
    for (const KernelOp& kind : kKernelOps)
      if (node.op_type() == kind.type)
        if (Status s = check_kernel_node(path, g, node, i, kind); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

bool onnx_import_available() { return true; }

Result<Graph> read_onnx_graph(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kIoError, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status(StatusCode::kIoError, fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  const std::string bytes = buffer.str();
  if (bytes.empty()) return Status(StatusCode::kParseError, fmt::format("{}: not an ONNX model: the file is empty", path));

  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    return Status(StatusCode::kParseError,
                  fmt::format("{}: not an ONNX model: the file is not a protobuf ModelProto", path));
  if (model.ir_version() <= 0 || !model.has_graph() || model.graph().node_size() == 0)
    return Status(StatusCode::kParseError,
                  fmt::format("{}: not an ONNX model: {}", path,
                              model.ir_version() <= 0 ? "no IR version" : "no graph nodes"));
  if (Status s = check_model(path, model); !s.ok()) return s;
  try {
    // Strict: a node whose inference fails (a kernel that does not fit its input's rank) is an
    // error naming the node, not an op with unknown shapes.
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/false, /*error_mode=*/1));
  } catch (const std::exception& e) {
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: ONNX shape inference failed: {}", path, e.what()));
  }
  return Importer(path, model).run();
}

#endif

OPPLAN_END_NAMESPACE
