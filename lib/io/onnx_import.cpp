// ONNX models as opplan graphs (include/opplan/onnx.hpp, docs/onnx-import.md).
//
// Built with the ONNX library only when OPPLAN_HAVE_ONNX is defined (lib/CMakeLists.txt); otherwise
// read_onnx_graph() explains how to enable it. The cost rules are those of the PyTorch exporter
// (tools/torch_export/opplan_export.py), so that graphs from both routes compare.
#include <opplan/onnx.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

#include "io/onnx_fold.hpp"
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
    // torch.onnx.export names every graph "torch_jit" (older: "torch-jit-export"): the file's stem
    // says more.
    std::string name = g.name();
    if (name.empty() || name.rfind("torch_jit", 0) == 0 || name.rfind("torch-jit", 0) == 0) {
      const std::size_t slash = path_.find_last_of('/');
      name = path_.substr(slash == std::string::npos ? 0 : slash + 1);
      if (const std::size_t dot = name.find_last_of('.'); dot != std::string::npos && dot > 0) name.erase(dot);
    }
    graph_.set_name(name);
    for (const auto& o : model_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
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

  // A value computed from constants only (a Constant node, the Shape of a tensor whose shape is
  // known, and whatever is computed from those and from integer initializers: the shape arithmetic
  // that feeds Reshape and Expand) is fixed when the model is exported: it costs nothing per step
  // and carries no gradient. Such nodes become no op and no edge, as constants, so that an op's
  // in-edges are its data (the dims annotations bind edges to operands).
  bool is_static(const onnx::NodeProto& node) const {
    static const std::set<std::string> kRandom = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                                  "RandomUniformLike", "Multinomial", "Bernoulli"};
    const std::string& type = node.op_type();
    if (type == "Constant") return true;
    if (kRandom.count(type)) return false;
    if (type == "Shape" || type == "Size") {
      const TensorInfo* t = node.input_size() > 0 ? value(node.input(0)) : nullptr;
      return t && t->known;
    }
    bool any = false;
    for (const auto& input : node.input()) {
      if (input.empty()) continue;
      any = true;
      if (static_.count(input)) continue;
      auto init = initializers_.find(input);
      if (init == initializers_.end() || is_floating(init->second->data_type())) return false;
    }
    return any;
  }

  Status add_node(const onnx::NodeProto& node, int index) {
    // Identity of a weight: torch.onnx.export stores equal constant tensors once (the zero biases
    // of freshly initialised layers, batch norms folded into convolutions) and hands the copies to
    // the other users through Identity nodes. Each output is a weight of its own with the same
    // value, read directly by its users: not an op, and not tied to the first user's weight.
    if (node.op_type() == "Identity" && node.input_size() == 1 && node.output_size() == 1)
      if (auto init = initializers_.find(node.input(0)); init != initializers_.end()) {
        initializers_[node.output(0)] = init->second;
        values_[node.output(0)] = info_of(*init->second);
        return Status::Ok();
      }
    if (is_static(node)) {
      for (const auto& o : node.output())
        if (!o.empty()) static_.insert(o);
      if (node.op_type() == "Constant" && node.output_size() == 1)
        if (const auto* a = attribute(node, "value"); a && a->has_t()) constants_[node.output(0)] = &a->t();
      return Status::Ok();
    }
    const std::string name = unique_name(node, index);
    const std::string& type = node.op_type();
    // Inputs: data from other ops, parameters from floating-point initializers.
    std::vector<const TensorInfo*> data;
    std::vector<OpId> producers;
    Operands operands;  // for the dims annotation
    double data_bytes = 0, param_read = 0, param_owned = 0;
    std::set<std::string> owners;  // ops that own a weight this node reads but does not own
    for (const auto& input : node.input()) {
      if (input.empty()) continue;  // an optional input left out
      if (static_.count(input)) continue;  // a constant (see is_static)
      if (auto init = initializers_.find(input); init != initializers_.end()) {
        const TensorInfo t = info_of(*init->second);
        if (!t.floating) continue;  // shapes, axes, indices: constants, not parameters
        operands.params.push_back(value(input));
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
      operands.data.push_back(t);
      operands.producers.push_back(p->second);
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
    if (out_info.known && !out_info.shape.empty() && operands_fit(operands)) op.dims = dims(node, out_info, operands);
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

  // ---- dims annotations (docs/sharding.md, "Annotations"; the PyTorch exporter's rules) ----------

  // What a node reads, in input order: data tensors with the op that produces each (each becomes an
  // in-edge, so an operand) and floating-point initializers (parameters).
  struct Operands {
    std::vector<const TensorInfo*> data;
    std::vector<OpId> producers;
    std::vector<const TensorInfo*> params;
  };

  // An annotation binds the op's in-edges to its data operands in order, and each operand takes its
  // producer's shape: so each data input must come from a producer of its own (x * x reads one
  // edge for two operands), with a known shape equal to that producer's (a Split's second output
  // may differ from its first, which is the op's shape).
  bool operands_fit(const Operands& in) const {
    for (std::size_t i = 0; i < in.data.size(); ++i) {
      if (!in.data[i] || !in.data[i]->known) return false;
      if (std::count(in.producers.begin(), in.producers.end(), in.producers[i]) != 1) return false;
      if (graph_.op(in.producers[i]).shape != in.data[i]->shape) return false;
    }
    for (const TensorInfo* p : in.params)
      if (!p || !p->known) return false;
    return true;
  }

  static std::vector<std::string> letters(std::size_t rank) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < rank; ++i) out.push_back(i == 0 ? "b" : fmt::format("d{}", i));
    return out;
  }

  static std::string join(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, " ")); }

  static std::string same_dims(std::size_t rank, std::size_t operands) {
    const std::string names = join(letters(rank));
    std::vector<std::string> in(operands, names);
    return fmt::format("{} -> {}", fmt::join(in, ", "), names);
  }

  // Elementwise with broadcasting: operands aligned to the output from the right; a dimension of
  // size 1 under a larger output dimension gets a name of its own. Scalars (rank 0, or every
  // dimension 1) cannot be written and are left out when they are parameters (they then stay whole
  // on every device); a data scalar makes the op unannotated.
  static std::string broadcast_dims(const std::vector<const TensorInfo*>& data,
                                    const std::vector<const TensorInfo*>& params, const TensorInfo& out) {
    const std::size_t rank = out.shape.size();
    const auto names = letters(rank);
    std::vector<std::string> operands;
    auto add = [&](const TensorInfo& t, bool parameter) {
      const bool scalar = std::all_of(t.shape.begin(), t.shape.end(), [](std::int64_t d) { return d == 1; });
      if (scalar) return parameter;  // a data scalar cannot be written; a parameter one stays whole
      if (t.shape.size() > rank) return false;
      std::vector<std::string> own;
      for (std::size_t i = 0; i < t.shape.size(); ++i) {
        const std::size_t j = rank - t.shape.size() + i;
        if (t.shape[i] == out.shape[j]) own.push_back(names[j]);
        else if (t.shape[i] == 1) own.push_back(fmt::format("u{}x{}", operands.size(), i));
        else return false;
      }
      operands.push_back(join(own));
      return true;
    };
    for (const TensorInfo* t : data)
      if (!add(*t, false)) return "";
    for (const TensorInfo* t : params)
      if (!add(*t, true)) return "";
    if (operands.empty()) return "";
    return fmt::format("{} -> {}", fmt::join(operands, ", "), join(names));
  }

  // The annotation of one node, "" when none can be written (the op then runs replicated).
  std::string dims(const onnx::NodeProto& node, const TensorInfo& out, const Operands& in) const {
    const std::string& type = node.op_type();
    const std::size_t rank = out.shape.size();
    const std::size_t n_data = in.data.size(), n_params = in.params.size();
    const TensorInfo* first = n_data ? in.data.front() : nullptr;
    const auto axis_of = [&](const char* attr, std::int64_t fallback, std::size_t r) -> std::int64_t {
      std::int64_t a = int_attribute(node, attr, fallback);
      if (a < 0) a += static_cast<std::int64_t>(r);
      return a >= 0 && a < static_cast<std::int64_t>(r) ? a : -1;
    };
    if (type == "Conv" || type == "ConvTranspose") {
      // Only the batch and the channels may split (docs/sharding.md); the weight's names are
      // logical: r = the kernel elements, solved from the parameter bytes.
      if (n_data != 1 || n_params < 1 || first->shape.size() != rank || (rank != 3 && rank != 4)) return "";
      const bool grouped = int_attribute(node, "group", 1) != 1;
      const std::string space_in = rank == 4 ? "i j" : "i", space_out = rank == 4 ? "x y" : "x";
      return grouped ? fmt::format("b c {}, k q -> b k {}", space_in, space_out)
                     : fmt::format("b c {}, r c k -> b k {}", space_in, space_out);
    }
    if (type == "Gemm" || type == "MatMul") {
      if (n_params >= 1 && n_data == 1) {  // a linear layer: x W (+ bias)
        if (type == "Gemm" && int_attribute(node, "transA", 0) != 0) return "";
        if (first->shape.size() != rank || rank < 2 || in.params.front()->shape.size() != 2) return "";
        auto lead = letters(rank - 1);
        const std::string l = join(lead);
        return fmt::format("{} i, i o -> {} o", l, l);
      }
      if (type == "MatMul" && n_data == 2 && n_params == 0 && rank >= 3) {  // batched: scores, attention x V
        const auto& a = in.data[0]->shape;
        const auto& b = in.data[1]->shape;
        if (a.size() != rank || b.size() != rank || !std::equal(a.begin(), a.end() - 2, b.begin())) return "";
        const std::string batch = join(letters(rank - 2));
        return fmt::format("{0} m k, {0} k n -> {0} m n", batch);
      }
      return "";
    }
    if (type == "BatchNormalization") {
      if (n_data != 1 || rank < 2 || first->shape != out.shape) return "";
      auto names = letters(rank);
      names[1] = "c";
      return n_params ? fmt::format("{0}, c -> {0}", join(names)) : same_dims(rank, 1);
    }
    if (type == "LayerNormalization") {
      if (n_data != 1 || rank < 2 || first->shape != out.shape || axis_of("axis", -1, rank) != static_cast<std::int64_t>(rank) - 1) return "";
      auto names = letters(rank);
      names.back() = "h";
      return n_params ? fmt::format("{0}, h -> {0}", join(names)) : same_dims(rank, 1);
    }
    if (type == "InstanceNormalization") {  // per sample and channel: both may split
      if (n_data != 1 || rank < 3 || first->shape != out.shape) return "";
      auto names = letters(rank);
      names[1] = "c";
      return n_params ? fmt::format("{0}, c -> {0}", join(names)) : same_dims(rank, 1);
    }
    if (type == "Softmax" || type == "LogSoftmax") {
      // Opset 13 normalises along `axis` (default -1); before, over the flattened dimensions from it.
      const std::int64_t axis = axis_of("axis", opset_ >= 13 ? -1 : 1, rank);
      if (n_data != 1 || first->shape != out.shape || rank < 2 || axis != static_cast<std::int64_t>(rank) - 1) return "";
      return same_dims(rank, 1);
    }
    if (type == "MaxPool" || type == "AveragePool" || type == "GlobalAveragePool" || type == "GlobalMaxPool" ||
        type == "LpPool") {
      if (n_data != 1 || first->shape.size() != rank || node.output_size() > 1) return "";
      if (rank == 4) return "b c i j -> b c x y";
      if (rank == 3) return "b c i -> b c x";
      return "";
    }
    if (kReduce.count(type)) {
      // Axes from the attribute, or (ReduceSum from opset 13) from a constant second input.
      if (n_data != 1 || n_params != 0 || first->shape.empty()) return "";
      const std::size_t rank_in = first->shape.size();
      std::vector<std::int64_t> axes;
      if (type == "ArgMax" || type == "ArgMin") {
        axes.push_back(int_attribute(node, "axis", 0));
      } else if (const auto* a = attribute(node, "axes")) {
        axes.assign(a->ints().begin(), a->ints().end());
      } else if (node.input_size() > 1 && !node.input(1).empty()) {
        const auto c = constant_ints(node.input(1));
        if (!c) return "";
        axes = *c;
      }
      if (axes.empty()) return "";  // every dimension, the batch too
      const bool keep = int_attribute(node, "keepdims", 1) != 0;
      std::vector<bool> reduced(rank_in, false);
      for (auto a : axes) {
        if (a < 0) a += static_cast<std::int64_t>(rank_in);
        if (a < 0 || a >= static_cast<std::int64_t>(rank_in)) return "";
        reduced[static_cast<std::size_t>(a)] = true;
      }
      if (reduced[0]) return "";
      const auto src = letters(rank_in);
      std::vector<std::string> dst;
      for (std::size_t i = 0; i < rank_in; ++i)
        if (!reduced[i]) dst.push_back(src[i]);
        else if (keep) dst.push_back(fmt::format("k{}", i));
      if (dst.size() != rank) return "";
      return fmt::format("{} -> {}", join(src), join(dst));
    }
    if (kAddLike.count(type) || kMulLike.count(type) || kUnary.count(type)) {
      if (n_data == 0) return "";
      bool same = true;
      for (const TensorInfo* t : in.data) same &= t->shape == out.shape;
      if (same && n_params == 0) return same_dims(rank, n_data);
      return broadcast_dims(in.data, in.params, out);
    }
    if (type == "Concat") {
      // Along a dimension other than the batch: a name per operand on the joined dimension.
      if (n_data < 2 || n_params != 0 || rank < 2) return "";
      const std::int64_t axis = axis_of("axis", 0, rank);
      if (axis <= 0) return "";
      std::vector<std::string> operands;
      for (std::size_t i = 0; i < n_data; ++i) {
        if (in.data[i]->shape.size() != rank) return "";
        auto names = letters(rank);
        names[static_cast<std::size_t>(axis)] = fmt::format("j{}", i);
        operands.push_back(join(names));
      }
      return fmt::format("{} -> {}", fmt::join(operands, ", "), join(letters(rank)));
    }
    if (type == "Transpose") {
      if (n_data != 1 || n_params != 0 || first->shape.size() != rank) return "";
      std::vector<std::int64_t> perm;
      if (const auto* a = attribute(node, "perm")) perm.assign(a->ints().begin(), a->ints().end());
      else for (std::size_t i = rank; i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
      // The batch may move (nn.MultiheadAttention works sequence-first): names follow the
      // permutation, and consumers take splits by position.
      if (perm.size() != rank) return "";
      const auto src = letters(rank);
      std::vector<std::string> dst;
      std::vector<bool> seen(rank, false);
      for (auto p : perm) {
        if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[static_cast<std::size_t>(p)]) return "";
        seen[static_cast<std::size_t>(p)] = true;
        dst.push_back(src[static_cast<std::size_t>(p)]);
      }
      return fmt::format("{} -> {}", join(src), join(dst));
    }
    if (type == "Reshape" || type == "Flatten" || type == "Squeeze" || type == "Unsqueeze" || type == "Identity" ||
        type == "Dropout") {
      // A regroup: the output follows the operand's splits by sizes (kind reshape, docs/sharding.md
      // rule 5), also when the batch merges into another dimension (its major factor).
      if (n_data != 1 || n_params != 0 || first->shape.empty()) return "";
      if (first->shape == out.shape) return same_dims(rank, 1);
      const bool batch_kept = first->shape.front() == out.shape.front();
      std::vector<std::string> src, dst;
      for (std::size_t i = 0; i < first->shape.size(); ++i) src.push_back(i == 0 && batch_kept ? "b" : fmt::format("d{}", i));
      for (std::size_t i = 0; i < rank; ++i) dst.push_back(i == 0 && batch_kept ? "b" : fmt::format("r{}", i));
      return fmt::format("{} -> {}", join(src), join(dst));
    }
    if (type == "Slice" || type == "Split" || type == "Pad" || type == "Resize" || type == "Upsample" ||
        type == "Tile" || type == "Expand") {
      // Same rank, the batch kept: a dimension of the same size keeps its name (its split carries
      // through), a resized one gets a name of its own (split on the output side only: a local
      // slice of a whole operand).
      if (n_data != 1 || n_params != 0 || first->shape.size() != rank || first->shape.front() != out.shape.front())
        return "";
      const auto src = letters(rank);
      auto dst = src;
      for (std::size_t i = 1; i < rank; ++i)
        if (first->shape[i] != out.shape[i]) dst[i] = fmt::format("s{}", i);
      return fmt::format("{} -> {}", join(src), join(dst));
    }
    if (type == "Gather" && n_params == 0 && n_data == 1) {
      // One index along a dimension other than the batch (ViT's class token, x[:, 0]).
      const auto& shape = first->shape;
      const std::int64_t axis = axis_of("axis", 0, shape.size());
      const auto idx = node.input_size() > 1 ? constant_ints(node.input(1)) : std::nullopt;
      if (axis <= 0 || !idx || idx->size() != 1 || shape.size() != rank + 1) return "";
      const auto src = letters(shape.size());
      std::vector<std::string> dst;
      for (std::size_t i = 0; i < src.size(); ++i)
        if (static_cast<std::int64_t>(i) != axis) dst.push_back(src[i]);
      return fmt::format("{} -> {}", join(src), join(dst));
    }
    return "";
  }

  // The integers of a constant value (an initializer or a Constant node's tensor), if it is one.
  std::optional<std::vector<std::int64_t>> constant_ints(const std::string& name) const {
    const onnx::TensorProto* t = nullptr;
    if (auto it = initializers_.find(name); it != initializers_.end()) t = it->second;
    if (auto it = constants_.find(name); it != constants_.end()) t = it->second;
    if (!t) return std::nullopt;
    return onnx_detail::integer_values(*t);
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
  std::set<std::string> static_;     // values fixed at export (is_static)
  std::unordered_map<std::string, const onnx::TensorProto*> constants_;  // Constant nodes' tensors
  std::int64_t opset_ = 13;          // of the default domain
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
  const auto declared = model.graph().value_info();  // the file's own, before inference adds to it
  try {
    // Strict: a node whose inference fails (a kernel that does not fit its input's rank) is an
    // error naming the node, not an op with unknown shapes. No data propagation: in ONNX 1.12 it
    // dereferences the missing type of a node whose inference failed (a fuzzed model crashed the
    // process); the folding below does its work (shape arithmetic into constants) in opplan's code.
    const onnx::ShapeInferenceOptions options(/*check_type=*/false, /*error_mode=*/1, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
    // Shape arithmetic is folded on the shapes known so far, and the inference runs again from the
    // file's own value_info, until nothing more folds.
    for (int round = 0; round < 8 && onnx_detail::fold_shape_arithmetic(model) > 0; ++round) {
      *model.mutable_graph()->mutable_value_info() = declared;
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
    }
  } catch (const std::exception& e) {
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: ONNX shape inference failed: {}", path, e.what()));
  }
  return Importer(path, model).run();
}

#endif

OPPLAN_END_NAMESPACE
