// Constant folding of shape arithmetic (onnx_fold.hpp). Every value is bounded (kMaxElements) and
// every index checked: the model is untrusted input, and a chain that cannot be evaluated safely is
// simply left in place.
#include "io/onnx_fold.hpp"

#if OPPLAN_HAVE_ONNX
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

OPPLAN_BEGIN_NAMESPACE
namespace onnx_detail {
namespace {

constexpr std::size_t kMaxElements = 4096;
constexpr std::int64_t kMaxMagnitude = std::int64_t{1} << 52;  // no overflow in + - * of two values

struct Value {
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> data;
  bool boolean = false;  // Equal's output: 0 / 1, written back as BOOL
};

std::optional<std::size_t> count(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) {
    if (d < 0 || static_cast<std::size_t>(d) > kMaxElements) return std::nullopt;
    n *= static_cast<std::size_t>(d);
    if (n > kMaxElements) return std::nullopt;
  }
  return n;
}

bool in_range(const std::vector<std::int64_t>& data) {
  for (auto v : data)
    if (v > kMaxMagnitude || v < -kMaxMagnitude) return false;
  return true;
}

std::optional<Value> from_tensor(const onnx::TensorProto& t) {
  const auto n = count({t.dims().begin(), t.dims().end()});
  if (!n) return std::nullopt;
  Value v{{t.dims().begin(), t.dims().end()}, {}};
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (t.int64_data_size() > 0) {
      v.data.assign(t.int64_data().begin(), t.int64_data().end());
    } else if (t.raw_data().size() == *n * sizeof(std::int64_t)) {
      v.data.resize(*n);
      if (*n) std::memcpy(v.data.data(), t.raw_data().data(), t.raw_data().size());
    }
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    if (t.int32_data_size() > 0) {
      v.data.assign(t.int32_data().begin(), t.int32_data().end());
    } else if (t.raw_data().size() == *n * sizeof(std::int32_t)) {
      std::vector<std::int32_t> raw(*n);
      if (*n) std::memcpy(raw.data(), t.raw_data().data(), t.raw_data().size());
      v.data.assign(raw.begin(), raw.end());
    }
  } else if (t.data_type() == onnx::TensorProto::BOOL && t.int32_data_size() > 0) {
    v.data.assign(t.int32_data().begin(), t.int32_data().end());
    v.boolean = true;
  } else {
    return std::nullopt;
  }
  if (v.data.size() != *n || !in_range(v.data)) return std::nullopt;
  return v;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& node, const char* name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// The 1-D list of a value (a scalar counts as one element).
bool is_list(const Value& v) { return v.dims.size() <= 1; }

// Index i of a dimension of size n, Python style; nullopt when out of range.
std::optional<std::size_t> wrap(std::int64_t i, std::size_t n) {
  const auto size = static_cast<std::int64_t>(n);
  if (i < 0) i += size;
  if (i < 0 || i >= size) return std::nullopt;
  return static_cast<std::size_t>(i);
}

class Folder {
 public:
  explicit Folder(onnx::GraphProto& g) : g_(g) {
    for (const auto& init : g.initializer())
      if (auto v = from_tensor(init)) values_[init.name()] = *v;
    auto remember = [&](const onnx::ValueInfoProto& info) {
      if (!info.type().has_tensor_type() || !info.type().tensor_type().has_shape()) return;
      std::vector<std::int64_t> shape;
      for (const auto& d : info.type().tensor_type().shape().dim()) {
        if (!d.has_dim_value() || d.dim_value() < 0) return;
        shape.push_back(d.dim_value());
      }
      shapes_[info.name()] = shape;
    };
    for (const auto& v : g.input()) remember(v);
    for (const auto& v : g.value_info()) remember(v);
    for (const auto& v : g.output()) remember(v);
    for (const auto& init : g.initializer()) shapes_[init.name()] = {init.dims().begin(), init.dims().end()};
    for (const auto& o : g.output()) outputs_.insert(o.name());
  }

  int run() {
    std::vector<int> folded;
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& node = g_.node(i);
      if (node.output_size() != 1 || node.output(0).empty() || outputs_.count(node.output(0))) continue;
      if (auto v = evaluate(node)) {
        values_[node.output(0)] = *v;
        folded.push_back(i);
      }
    }
    if (folded.empty()) return 0;
    // Folded nodes become initializers; the others keep their order.
    google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
    std::size_t next = 0;
    for (int i = 0; i < g_.node_size(); ++i) {
      if (next < folded.size() && folded[next] == i) {
        ++next;
        const std::string& name = g_.node(i).output(0);
        const Value& v = values_.at(name);
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(name);
        for (auto d : v.dims) t->add_dims(d);
        if (v.boolean) {
          t->set_data_type(onnx::TensorProto::BOOL);
          for (auto x : v.data) t->add_int32_data(x != 0);
        } else {
          t->set_data_type(onnx::TensorProto::INT64);
          for (auto x : v.data) t->add_int64_data(x);
        }
        continue;
      }
      *kept.Add() = g_.node(i);
    }
    g_.mutable_node()->Swap(&kept);
    return static_cast<int>(folded.size());
  }

 private:
  const Value* input(const onnx::NodeProto& node, int i) const {
    if (i >= node.input_size() || node.input(i).empty()) return nullptr;
    auto it = values_.find(node.input(i));
    return it == values_.end() ? nullptr : &it->second;
  }

  std::optional<Value> evaluate(const onnx::NodeProto& node) const {
    const std::string& type = node.op_type();
    if (!node.domain().empty() && node.domain() != "ai.onnx") return std::nullopt;
    if (type == "Constant") {
      if (const auto* a = attribute(node, "value"); a && a->has_t()) return from_tensor(a->t());
      if (const auto* a = attribute(node, "value_int"); a && a->has_i()) return Value{{}, {a->i()}};
      if (const auto* a = attribute(node, "value_ints"); a && a->ints_size() <= static_cast<int>(kMaxElements))
        return Value{{a->ints_size()}, {a->ints().begin(), a->ints().end()}};
      return std::nullopt;
    }
    if (type == "Shape" || type == "Size") {
      if (node.input_size() < 1) return std::nullopt;
      auto it = shapes_.find(node.input(0));
      if (it == shapes_.end()) return std::nullopt;
      const auto& shape = it->second;
      if (type == "Size") {
        std::int64_t n = 1;
        for (auto d : shape) {
          if (d > kMaxMagnitude || (d > 0 && n > kMaxMagnitude / d)) return std::nullopt;
          n *= d;
        }
        return Value{{}, {n}};
      }
      // Opset 15's start / end attributes select a range of the dimensions.
      const auto rank = static_cast<std::int64_t>(shape.size());
      auto clamp = [&](std::int64_t x) { return std::min(std::max(x < 0 ? x + rank : x, std::int64_t{0}), rank); };
      const auto* s = attribute(node, "start");
      const auto* e = attribute(node, "end");
      const std::int64_t start = clamp(s && s->has_i() ? s->i() : 0), end = clamp(e && e->has_i() ? e->i() : rank);
      Value v{{std::max<std::int64_t>(end - start, 0)}, {}};
      for (std::int64_t i = start; i < end; ++i) v.data.push_back(shape[static_cast<std::size_t>(i)]);
      return v;
    }
    if (type == "Identity") {
      if (const Value* x = input(node, 0)) return *x;
      return std::nullopt;
    }
    if (type == "Cast") {
      const Value* x = input(node, 0);
      const auto* to = attribute(node, "to");
      if (!x || !to || (to->i() != onnx::TensorProto::INT64 && to->i() != onnx::TensorProto::INT32)) return std::nullopt;
      return *x;
    }
    if (type == "Gather") {
      const Value* data = input(node, 0);
      const Value* idx = input(node, 1);
      const auto* axis = attribute(node, "axis");
      if (!data || !idx || data->dims.size() != 1 || !is_list(*idx) || (axis && axis->i() != 0 && axis->i() != -1))
        return std::nullopt;
      Value v{idx->dims, {}};
      for (auto i : idx->data) {
        const auto k = wrap(i, data->data.size());
        if (!k) return std::nullopt;
        v.data.push_back(data->data[*k]);
      }
      return v;
    }
    if (type == "Unsqueeze" || type == "Squeeze") {
      const Value* x = input(node, 0);
      if (!x) return std::nullopt;
      std::vector<std::int64_t> axes;
      if (const auto* a = attribute(node, "axes")) axes.assign(a->ints().begin(), a->ints().end());
      else if (const Value* a = input(node, 1)) axes = a->data;
      if (type == "Unsqueeze") {
        // A scalar becomes [1], a list of n stays 1-D only when unsqueezed in front of nothing: the
        // values are unchanged, only the dims grow.
        const std::size_t rank = x->dims.size() + axes.size();
        if (axes.empty() || rank > 8) return std::nullopt;
        std::vector<bool> one(rank, false);
        for (auto a : axes) {
          const auto k = wrap(a, rank);
          if (!k || one[*k]) return std::nullopt;
          one[*k] = true;
        }
        Value v{{}, x->data};
        std::size_t next = 0;
        for (std::size_t d = 0; d < rank; ++d) v.dims.push_back(one[d] ? 1 : x->dims[next++]);
        return v;
      }
      Value v{{}, x->data};
      for (std::size_t d = 0; d < x->dims.size(); ++d) {
        bool drop = axes.empty() && x->dims[d] == 1;
        for (auto a : axes)
          if (wrap(a, x->dims.size()) == d) drop = true;
        if (drop && x->dims[d] != 1) return std::nullopt;
        if (!drop) v.dims.push_back(x->dims[d]);
      }
      return v;
    }
    if (type == "Concat") {
      Value v{{0}, {}};
      for (int i = 0; i < node.input_size(); ++i) {
        const Value* x = input(node, i);
        if (!x || x->dims.size() != 1 || v.data.size() + x->data.size() > kMaxElements) return std::nullopt;
        v.data.insert(v.data.end(), x->data.begin(), x->data.end());
      }
      v.dims[0] = static_cast<std::int64_t>(v.data.size());
      return v;
    }
    if (type == "Slice") {
      const Value* x = input(node, 0);
      const Value* starts = input(node, 1);
      const Value* ends = input(node, 2);
      if (!x || !starts || !ends || x->dims.size() != 1 || starts->data.size() != 1 || ends->data.size() != 1)
        return std::nullopt;
      if (const Value* axes = input(node, 3); axes && (axes->data.size() != 1 || !wrap(axes->data[0], 1)))
        return std::nullopt;
      std::int64_t step = 1;
      if (const Value* steps = input(node, 4)) {
        if (steps->data.size() != 1 || steps->data[0] == 0) return std::nullopt;
        step = steps->data[0];
      }
      const auto n = static_cast<std::int64_t>(x->data.size());
      auto clamp = [&](std::int64_t i, std::int64_t lo, std::int64_t hi) {
        if (i < 0) i += n;
        return std::min(std::max(i, lo), hi);
      };
      Value v{{0}, {}};
      if (step > 0) {
        for (std::int64_t i = clamp(starts->data[0], 0, n), e = clamp(ends->data[0], 0, n); i < e; i += step)
          v.data.push_back(x->data[static_cast<std::size_t>(i)]);
      } else {
        for (std::int64_t i = clamp(starts->data[0], 0, n - 1), e = clamp(ends->data[0], -1, n - 1); i > e; i += step)
          v.data.push_back(x->data[static_cast<std::size_t>(i)]);
      }
      v.dims[0] = static_cast<std::int64_t>(v.data.size());
      return v;
    }
    if (type == "Add" || type == "Sub" || type == "Mul" || type == "Div") {
      const Value* a = input(node, 0);
      const Value* b = input(node, 1);
      if (!a || !b) return std::nullopt;
      // Equal shapes, or one side a single element.
      const bool a_one = a->data.size() == 1, b_one = b->data.size() == 1;
      if (a->dims != b->dims && !a_one && !b_one) return std::nullopt;
      Value v = (a_one && !b_one) ? Value{b->dims, {}} : Value{a->dims, {}};
      const std::size_t n = std::max(a->data.size(), b->data.size());
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t x = a->data[a_one ? 0 : i], y = b->data[b_one ? 0 : i];
        if (type == "Div" && y == 0) return std::nullopt;
        v.data.push_back(type == "Add" ? x + y : type == "Sub" ? x - y : type == "Mul" ? x * y : x / y);
      }
      if (!in_range(v.data)) return std::nullopt;
      return v;
    }
    if (type == "Equal" || type == "Where") {
      // torch writes expand(n, -1, -1) as Where(Equal(shape, -1), ones, shape).
      const int first = type == "Where" ? 1 : 0;
      const Value* a = input(node, first);
      const Value* b = input(node, first + 1);
      const Value* cond = type == "Where" ? input(node, 0) : nullptr;
      if (!a || !b || (type == "Where" && (!cond || !cond->boolean)) || a->boolean || b->boolean) return std::nullopt;
      std::size_t n = std::max(a->data.size(), b->data.size());
      if (cond) n = std::max(n, cond->data.size());
      auto at = [&](const Value& v, std::size_t i) -> std::optional<std::int64_t> {
        if (v.data.size() == 1) return v.data[0];
        if (v.data.size() == n) return v.data[i];
        return std::nullopt;
      };
      const Value& widest = cond && cond->data.size() == n ? *cond : a->data.size() == n ? *a : *b;
      Value v{widest.dims, {}, type == "Equal"};
      for (std::size_t i = 0; i < n; ++i) {
        const auto x = at(*a, i), y = at(*b, i);
        const auto c = cond ? at(*cond, i) : std::optional<std::int64_t>(0);
        if (!x || !y || !c) return std::nullopt;
        v.data.push_back(type == "Equal" ? (*x == *y) : (*c ? *x : *y));
      }
      return v;
    }
    if (type == "ConstantOfShape") {
      const Value* shape = input(node, 0);
      if (!shape || shape->dims.size() != 1) return std::nullopt;
      const auto n = count(shape->data);
      if (!n) return std::nullopt;
      // Without a value the fill is a float 0: not an integer constant, and neither is a float fill.
      const auto* a = attribute(node, "value");
      const auto f = a && a->has_t() ? from_tensor(a->t()) : std::nullopt;
      if (!f || f->data.size() != 1) return std::nullopt;
      const std::int64_t fill = f->data[0];
      return Value{shape->data, std::vector<std::int64_t>(*n, fill)};
    }
    return std::nullopt;
  }

  onnx::GraphProto& g_;
  std::unordered_map<std::string, Value> values_;
  std::unordered_map<std::string, std::vector<std::int64_t>> shapes_;
  std::set<std::string> outputs_;
};

}  // namespace

std::optional<std::vector<std::int64_t>> integer_values(const onnx::TensorProto& tensor) {
  auto v = from_tensor(tensor);
  if (!v) return std::nullopt;
  return std::move(v->data);
}

int fold_shape_arithmetic(onnx::ModelProto& model) { return Folder(*model.mutable_graph()).run(); }

}  // namespace onnx_detail
OPPLAN_END_NAMESPACE
#endif
