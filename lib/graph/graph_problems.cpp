#include "graph/graph_problems.hpp"

#include <cmath>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

std::optional<std::string> amount_problem(double value) {
  if (std::isnan(value)) return std::string("is NaN");
  if (std::isinf(value)) return std::string("is infinite");
  if (value < 0) return fmt::format("is negative ({})", value);
  return std::nullopt;
}

namespace {

class Collector {
 public:
  explicit Collector(std::vector<GraphProblem>& out) : out_(out) {}
  bool full() const { return out_.size() >= kMaxGraphProblems; }
  void add(GraphProblem::Subject s, std::uint32_t index, std::string field, std::string message) {
    if (!full()) out_.push_back({s, index, std::move(field), std::move(message)});
  }
  // The field path is only composed when there is a problem: a large correct graph builds no strings.
  void amount(GraphProblem::Subject s, std::uint32_t index, std::string_view field, double value,
              std::string_view subfield = {}) {
    if (auto why = amount_problem(value)) {
      std::string path(field);
      if (!subfield.empty()) path.append("/").append(subfield);
      add(s, index, std::move(path), *why);
    }
  }

 private:
  std::vector<GraphProblem>& out_;
};

void check_op(const Graph& graph, OpId id, Collector& c) {
  const Op& op = graph.op(id);
  const auto i = id.value();
  constexpr auto kOp = GraphProblem::Subject::kOp;
  if (op.name.empty()) c.add(kOp, i, "name", "is empty");
  if (op.kind.empty()) c.add(kOp, i, "kind", "is empty");
  for (Phase p : kAllPhases) {
    const PhaseCost& cost = op.cost(p);
    const char* phase = to_string(p);
    c.amount(kOp, i, phase, cost.flops, "flops");
    c.amount(kOp, i, phase, cost.bytes, "bytes");
    if (cost.seconds) c.amount(kOp, i, phase, *cost.seconds, "seconds");
  }
  c.amount(kOp, i, "param_bytes", op.param_bytes);
  c.amount(kOp, i, "activation_bytes", op.activation_bytes);
  for (std::size_t d = 0; d < op.shape.size(); ++d)
    if (op.shape[d] < 0) c.add(kOp, i, fmt::format("shape/{}", d), fmt::format("is negative ({})", op.shape[d]));
}

}  // namespace

std::vector<GraphProblem> find_graph_problems(const Graph& graph) {
  std::vector<GraphProblem> out;
  Collector c(out);
  std::unordered_map<std::string_view, std::uint32_t> first_with_name;
  first_with_name.reserve(graph.num_ops());
  for (OpId id : graph.ops()) {
    if (c.full()) return out;
    check_op(graph, id, c);
    const std::string& name = graph.op(id).name;
    if (name.empty()) continue;
    auto [it, inserted] = first_with_name.emplace(name, id.value());
    if (!inserted)
      c.add(GraphProblem::Subject::kOp, id.value(), "name",
            fmt::format("'{}' is also the name of op #{}", name, it->second));
  }
  // A tied weight needs an owner that holds parameters of its own (chains would leave the weight's
  // layout to two aliases at once).
  for (OpId id : graph.ops()) {
    const std::string& owner = graph.op(id).params_from;
    if (owner.empty() || c.full()) continue;
    const auto it = first_with_name.find(owner);
    if (it == first_with_name.end()) {
      c.add(GraphProblem::Subject::kOp, id.value(), "params_from", fmt::format("names no op ('{}')", owner));
    } else if (it->second == id.value()) {
      c.add(GraphProblem::Subject::kOp, id.value(), "params_from", "names the op itself");
    } else {
      const Op& o = graph.op(OpId(it->second));
      if (!(o.param_bytes > 0))
        c.add(GraphProblem::Subject::kOp, id.value(), "params_from",
              fmt::format("names op '{}', which has no parameters (param_bytes 0)", owner));
      else if (!o.params_from.empty())
        c.add(GraphProblem::Subject::kOp, id.value(), "params_from",
              fmt::format("names op '{}', which takes its weight from '{}' itself: name the owner '{}'", owner,
                          o.params_from, o.params_from));
    }
  }
  for (EdgeId id : graph.edges()) {
    if (c.full()) return out;
    const Edge& e = graph.edge(id);
    c.amount(GraphProblem::Subject::kEdge, id.value(), "bytes", e.bytes);
    if (e.src == e.dst)
      c.add(GraphProblem::Subject::kEdge, id.value(), "",
            fmt::format("connects op '{}' to itself", graph.op(e.src).name));
  }
  if (c.full()) return out;
  if (auto cycle = graph.find_cycle(); cycle && cycle->size() > 1) {  // self-loops are reported above
    std::string path;
    for (OpId op : *cycle) path += fmt::format("'{}' -> ", graph.op(op).name);
    path += fmt::format("'{}'", graph.op(cycle->front()).name);
    c.add(GraphProblem::Subject::kGraph, 0, "", "has a cycle: " + path);
  }
  return out;
}

std::string describe(const Graph& graph, const GraphProblem& p) {
  std::string field = p.field;
  for (char& ch : field)
    if (ch == '/') ch = '.';
  const std::string sep = field.empty() ? "" : " ";
  switch (p.subject) {
    case GraphProblem::Subject::kOp: {
      const Op& op = graph.op(OpId(p.index));
      return fmt::format("op '{}' (#{}): {}{}{}", op.name, p.index, field, sep, p.message);
    }
    case GraphProblem::Subject::kEdge: {
      const Edge& e = graph.edge(EdgeId(p.index));
      return fmt::format("edge #{} ('{}' -> '{}'): {}{}{}", p.index, graph.op(e.src).name, graph.op(e.dst).name,
                         field, sep, p.message);
    }
    case GraphProblem::Subject::kGraph: break;
  }
  return fmt::format("graph: {}", p.message);
}

}  // namespace detail
OPPLAN_END_NAMESPACE
