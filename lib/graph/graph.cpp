#include <opplan/graph.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "graph/graph_impl.hpp"
#include "graph/graph_problems.hpp"

OPPLAN_BEGIN_NAMESPACE

namespace {

constexpr std::array<const char*, kNumPhases> kPhaseNames = {"forward", "input_grad", "weight_grad"};

struct DTypeInfo {
  DType dtype;
  const char* name;
  int bytes;
};
constexpr std::array<DTypeInfo, 11> kDTypes = {{
    {DType::kF32, "f32", 4},
    {DType::kF16, "f16", 2},
    {DType::kBF16, "bf16", 2},
    {DType::kF64, "f64", 8},
    {DType::kF8, "f8", 1},
    {DType::kI64, "i64", 8},
    {DType::kI32, "i32", 4},
    {DType::kI16, "i16", 2},
    {DType::kI8, "i8", 1},
    {DType::kU8, "u8", 1},
    {DType::kBool, "bool", 1},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d;
  throw std::invalid_argument("opplan: unknown DType value");
}

}  // namespace

const char* to_string(Phase phase) { return kPhaseNames.at(static_cast<std::size_t>(phase)); }

std::optional<Phase> parse_phase(std::string_view name) {
  for (Phase p : kAllPhases)
    if (name == to_string(p)) return p;
  return std::nullopt;
}

const char* to_string(DType dtype) { return info(dtype).name; }
int size_in_bytes(DType dtype) { return info(dtype).bytes; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

const PhaseCost& Op::cost(Phase phase) const {
  switch (phase) {
    case Phase::kForward: return forward;
    case Phase::kInputGrad: return input_grad;
    case Phase::kWeightGrad: return weight_grad;
  }
  throw std::invalid_argument("opplan: unknown Phase value");
}

PhaseCost& Op::cost(Phase phase) { return const_cast<PhaseCost&>(static_cast<const Op&>(*this).cost(phase)); }

double Op::output_bytes() const {
  if (shape.empty()) return 0;
  double elements = 1;
  for (auto d : shape) elements *= static_cast<double>(d);
  return elements * size_in_bytes(dtype);
}

bool operator==(const Op& a, const Op& b) {
  return a.name == b.name && a.kind == b.kind && a.forward == b.forward && a.input_grad == b.input_grad &&
         a.weight_grad == b.weight_grad && a.param_bytes == b.param_bytes &&
         a.activation_bytes == b.activation_bytes && a.shape == b.shape && a.dtype == b.dtype && a.dims == b.dims &&
         a.layer == b.layer && a.group == b.group && a.params_from == b.params_from;
}

Graph::Graph() : impl_(std::make_unique<Impl>()) {}
Graph::Graph(std::string name) : Graph() { impl_->name = std::move(name); }
Graph::~Graph() = default;
Graph::Graph(const Graph& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Graph& Graph::operator=(const Graph& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
// A moved-from Graph is empty and usable, not null.
Graph::Graph(Graph&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {
  try {
    other.impl_ = std::make_unique<Impl>();
  } catch (...) {
  }
}
Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    impl_.swap(other.impl_);
    try {
      other.impl_ = std::make_unique<Impl>();
    } catch (...) {
    }
  }
  return *this;
}

const std::string& Graph::name() const { return impl_->name; }
void Graph::set_name(std::string name) { impl_->name = std::move(name); }
std::int64_t Graph::samples() const { return impl_->samples; }
void Graph::set_samples(std::int64_t samples) { impl_->samples = samples; }
std::int64_t Graph::sequence_length() const { return impl_->sequence_length; }
void Graph::set_sequence_length(std::int64_t tokens) { impl_->sequence_length = tokens; }

void Graph::reserve(std::size_t num_ops, std::size_t num_edges) {
  impl_->ops.reserve(num_ops);
  impl_->edges.reserve(num_edges);
  impl_->name_index.reserve(num_ops);
}

OpId Graph::add_op(Op op) {
  const auto id = static_cast<std::uint32_t>(impl_->ops.size());
  if (op.name.empty()) op.name = fmt::format("op{}", id);
  {
    std::lock_guard lock(impl_->index_mutex);
    if (!impl_->index_dirty) impl_->name_index.emplace(op.name, id);  // keeps the first on duplicates
  }
  impl_->ops.push_back(std::move(op));
  boost::add_vertex(impl_->digraph);
  return OpId(id);
}

EdgeId Graph::add_edge(OpId src, OpId dst, std::optional<double> bytes) {
  const std::size_t n = impl_->ops.size();
  if (!src.valid() || !dst.valid() || src.value() >= n || dst.value() >= n) {
    throw std::out_of_range(fmt::format("opplan::Graph::add_edge: op id {} or {} is not in the graph ({} ops)",
                                        src.valid() ? std::to_string(src.value()) : "invalid",
                                        dst.valid() ? std::to_string(dst.value()) : "invalid", n));
  }
  const auto id = static_cast<std::uint32_t>(impl_->edges.size());
  const double b = bytes ? *bytes : impl_->ops[src.value()].output_bytes();
  impl_->edges.push_back(Edge{src, dst, b});
  boost::add_edge(src.value(), dst.value(), id, impl_->digraph);
  return EdgeId(id);
}

std::size_t Graph::num_ops() const { return impl_->ops.size(); }
std::size_t Graph::num_edges() const { return impl_->edges.size(); }

namespace {
[[noreturn]] void throw_bad_id(const char* what, std::uint32_t value, std::size_t size) {
  throw std::out_of_range(fmt::format("opplan::Graph: {} id {} is not in the graph (size {})", what,
                                      value == OpId::kInvalid ? std::string("invalid") : std::to_string(value), size));
}
}  // namespace

const Op& Graph::op(OpId id) const {
  if (!id.valid() || id.value() >= impl_->ops.size()) throw_bad_id("op", id.value(), impl_->ops.size());
  return impl_->ops[id.value()];
}

Op& Graph::mutable_op(OpId id) {
  if (!id.valid() || id.value() >= impl_->ops.size()) throw_bad_id("op", id.value(), impl_->ops.size());
  std::lock_guard lock(impl_->index_mutex);
  impl_->index_dirty = true;  // the caller may rename it
  return impl_->ops[id.value()];
}

const Edge& Graph::edge(EdgeId id) const {
  if (!id.valid() || id.value() >= impl_->edges.size()) throw_bad_id("edge", id.value(), impl_->edges.size());
  return impl_->edges[id.value()];
}

std::optional<OpId> Graph::find_op(std::string_view name) const {
  std::lock_guard lock(impl_->index_mutex);
  if (impl_->index_dirty) {
    impl_->name_index.clear();
    for (std::uint32_t i = 0; i < impl_->ops.size(); ++i) impl_->name_index.emplace(impl_->ops[i].name, i);
    impl_->index_dirty = false;
  }
  auto it = impl_->name_index.find(name);
  if (it == impl_->name_index.end()) return std::nullopt;
  return OpId(it->second);
}

std::vector<EdgeId> Graph::in_edges(OpId id) const {
  op(id);  // checks the id
  std::vector<EdgeId> out;
  for (auto [it, end] = boost::in_edges(id.value(), impl_->digraph); it != end; ++it)
    out.emplace_back(impl_->digraph[*it]);
  return out;
}

std::vector<EdgeId> Graph::out_edges(OpId id) const {
  op(id);
  std::vector<EdgeId> out;
  for (auto [it, end] = boost::out_edges(id.value(), impl_->digraph); it != end; ++it)
    out.emplace_back(impl_->digraph[*it]);
  return out;
}

std::vector<OpId> Graph::predecessors(OpId id) const {
  std::vector<OpId> out;
  for (EdgeId e : in_edges(id)) out.push_back(impl_->edges[e.value()].src);
  return out;
}

std::vector<OpId> Graph::successors(OpId id) const {
  std::vector<OpId> out;
  for (EdgeId e : out_edges(id)) out.push_back(impl_->edges[e.value()].dst);
  return out;
}

std::size_t Graph::in_degree(OpId id) const {
  op(id);
  return boost::in_degree(id.value(), impl_->digraph);
}

std::size_t Graph::out_degree(OpId id) const {
  op(id);
  return boost::out_degree(id.value(), impl_->digraph);
}

GraphTotals Graph::totals() const {
  GraphTotals t;
  for (const Op& o : impl_->ops) {
    for (Phase p : kAllPhases) t.flops[static_cast<int>(p)] += o.cost(p).flops;
    t.param_bytes += o.param_bytes;
    t.activation_bytes += o.activation_bytes;
  }
  for (const Edge& e : impl_->edges) t.edge_bytes += e.bytes;
  return t;
}

Status Graph::validate() const {
  const auto problems = detail::find_graph_problems(*this);
  if (problems.empty()) return Status::Ok();
  std::string message = problems.size() == 1 ? "1 problem" : fmt::format("{} problems", problems.size());
  if (problems.size() >= detail::kMaxGraphProblems) message += " (stopped counting)";
  for (const auto& p : problems) message += "\n  " + detail::describe(*this, p);
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

OPPLAN_END_NAMESPACE
