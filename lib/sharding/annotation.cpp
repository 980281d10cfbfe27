// Reading dimension annotations against the graph (docs/sharding.md, "Annotations").
//
// The binding rules, in order:
//  1. The op's in-edges (by edge id) feed its operands in order: edge i -> operand i.
//  2. A remaining operand that contains the output's first (batch) dimension name is data: it is
//     fed by the last in-edge too (a fused tensor such as QKV feeding Q and K), or, without
//     in-edges, is an input with no gradient (token ids).
//  3. When the op has params_from, the first other remaining operand is the owner's weight (an
//     alias). Other remaining operands are the op's parameters when it has param_bytes, else
//     inputs (a tied weight whose owner the graph does not name). When the op has param_bytes but rule 2 took
//     every remaining operand (expert weights "e h f" carry the batch-like expert name), the last
//     one is the parameter.
//  4. Sizes: output names from Op::shape; an operand alone on an edge of the same rank takes the
//     producer's shape position by position (and must agree with sizes known already); one
//     unknown name of a reshaped operand is solved from the bytes the edge carries, one unknown
//     name of the parameters from param_bytes.
#include "sharding/annotation.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <map>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

namespace {

std::vector<std::string_view> tokens(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_name(std::string_view token) {
  return std::all_of(token.begin(), token.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

bool kind_in(const std::string& kind, std::initializer_list<const char*> kinds) {
  return std::any_of(kinds.begin(), kinds.end(), [&](const char* k) { return kind == k; });
}

bool has_letter(const std::vector<int>& letters, int letter) {
  return std::find(letters.begin(), letters.end(), letter) != letters.end();
}

}  // namespace

Result<ParsedDims> parse_dims(std::string_view dims) {
  const auto arrow = dims.find("->");
  if (arrow == std::string_view::npos) return Status(StatusCode::kInvalidArgument, "has no '->'");
  if (dims.find("->", arrow + 2) != std::string_view::npos)
    return Status(StatusCode::kInvalidArgument, "has more than one '->'");
  ParsedDims parsed;
  std::map<std::string, int, std::less<>> index;
  auto read_tensor = [&](std::string_view text, std::vector<int>& out, const std::string& what) -> Status {
    for (std::string_view token : tokens(text)) {
      if (!is_name(token))
        return Status(StatusCode::kInvalidArgument, fmt::format("'{}' in {} is not a dimension name", token, what));
      auto [it, inserted] = index.try_emplace(std::string(token), static_cast<int>(parsed.names.size()));
      if (inserted) parsed.names.emplace_back(token);
      if (has_letter(out, it->second))
        return Status(StatusCode::kInvalidArgument, fmt::format("'{}' appears twice in {}", token, what));
      out.push_back(it->second);
    }
    return Status::Ok();
  };
  const std::string_view left = dims.substr(0, arrow);
  if (!tokens(left).empty()) {
    std::size_t start = 0;
    for (int i = 0;; ++i) {
      const std::size_t comma = left.find(',', start);
      const std::string_view part = left.substr(start, comma == std::string_view::npos ? left.size() - start : comma - start);
      const std::string what = fmt::format("operand {}", i);
      if (tokens(part).empty()) return Status(StatusCode::kInvalidArgument, what + " is empty");
      parsed.operands.emplace_back();
      if (Status s = read_tensor(part, parsed.operands.back(), what); !s.ok()) return s;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  if (Status s = read_tensor(dims.substr(arrow + 2), parsed.output, "the output"); !s.ok()) return s;
  return parsed;
}

std::vector<int> align_dims(const std::vector<std::int64_t>& from, const std::vector<std::int64_t>& to) {
  std::vector<int> map(from.size(), -1);
  if (from == to) {
    for (std::size_t i = 0; i < from.size(); ++i) map[i] = static_cast<int>(i);
    return map;
  }
  std::vector<bool> used(to.size(), false);
  auto assign = [&](auto&& fits) {
    for (std::size_t i = 0; i < from.size(); ++i) {
      if (map[i] >= 0 || from[i] <= 1) continue;
      for (std::size_t j = 0; j < to.size(); ++j) {
        if (used[j] || to[j] <= 1 || !fits(from[i], to[j])) continue;
        map[i] = static_cast<int>(j);
        used[j] = true;
        break;
      }
    }
  };
  assign([](std::int64_t a, std::int64_t b) { return a == b; });
  assign([](std::int64_t a, std::int64_t b) { return a % b == 0 || b % a == 0; });
  return map;
}

namespace {

// Binds one annotated op; appends problems (without the op name prefix) to `problems`.
class OpBinder {
 public:
  OpBinder(const Graph& graph, OpId id, OpTensors& t, BoundGraph& bound, std::vector<std::string>& problems)
      : g_(graph), id_(id), op_(graph.op(id)), t_(t), bound_(bound), problems_(problems) {}

  void bind() {
    auto parsed = parse_dims(op_.dims);
    if (!parsed.ok()) return problem(parsed.status().message());
    t_.names = parsed->names;
    t_.sizes.assign(t_.names.size(), -1);
    t_.output = parsed->output;
    if (t_.output.size() != op_.shape.size())
      return problem(fmt::format("names {} output dimensions but the op's shape {} has {}", t_.output.size(),
                                 shape_text(op_.shape), op_.shape.size()));
    for (std::size_t i = 0; i < t_.output.size(); ++i) t_.sizes[static_cast<std::size_t>(t_.output[i])] = op_.shape[i];
    for (auto& letters : parsed->operands) t_.operands.push_back(Operand{letters, OperandRole::kInput, 0});
    t_.annotated = true;
    t_.reshape = kind_in(op_.kind, {"reshape", "view", "flatten"});
    t_.conv = kind_in(op_.kind, {"conv", "convolution", "conv2d"});
    if (!assign_roles()) return;
    if (!infer_sizes()) return;
    finish();
  }

 private:
  void problem(std::string message) {
    problems_.push_back(fmt::format("op '{}': dims '{}': {}", op_.name, op_.dims, message));
    t_.annotated = false;
  }

  bool assign_roles() {
    std::vector<EdgeId> edges = g_.in_edges(id_);
    std::sort(edges.begin(), edges.end());
    const std::size_t m = t_.operands.size();
    if (edges.size() > m) {
      problem(fmt::format("the op has {} input edges but the annotation names {} operands", edges.size(), m));
      return false;
    }
    for (std::size_t i = 0; i < edges.size(); ++i) {
      t_.operands[i].role = OperandRole::kActivation;
      uses_.push_back({edges[i], static_cast<int>(i)});
    }
    bool any_param = false;
    for (std::size_t i = edges.size(); i < m; ++i) {
      const bool batch_like = !t_.output.empty() && has_letter(t_.operands[i].letters, t_.output.front());
      if (batch_like && !edges.empty()) {
        t_.operands[i].role = OperandRole::kActivation;
        uses_.push_back({edges.back(), static_cast<int>(i)});
      } else if (!batch_like && !op_.params_from.empty() && t_.aliased_operand < 0) {
        t_.operands[i].role = OperandRole::kAliased;
        t_.aliased_operand = static_cast<int>(i);
      } else if (!batch_like && op_.param_bytes > 0) {
        t_.operands[i].role = OperandRole::kParameter;
        any_param = true;
      }
    }
    if (!op_.params_from.empty() && t_.aliased_operand < 0) {
      problem(fmt::format("params_from names '{}' but no operand is left for that weight (after {} input edge(s) "
                          "and the data operands)",
                          op_.params_from, edges.size()));
      return false;
    }
    if (op_.param_bytes > 0 && !any_param) {
      if (m > edges.size() && t_.aliased_operand != static_cast<int>(m) - 1) {
        // Rule 3's fallback: the last operand beyond the in-edges holds the parameters.
        const std::size_t last = m - 1;
        if (t_.operands[last].role == OperandRole::kActivation)
          uses_.erase(std::remove_if(uses_.begin(), uses_.end(), [&](const Use& u) { return u.operand == static_cast<int>(last); }),
                      uses_.end());
        t_.operands[last].role = OperandRole::kParameter;
      } else {
        t_.implicit_param_bytes = op_.param_bytes;
      }
    }
    return true;
  }

  // Position-by-position sizes from same-rank producers, then solved unknowns. An edge feeding
  // several operands (a fused QKV tensor read as Q and K) is a part of its producer's output, so it
  // is treated as reshaped even at the same rank.
  bool infer_sizes() {
    for (const Use& u : uses_) {
      const Op& producer = g_.op(g_.edge(u.edge).src);
      const auto& letters = t_.operands[static_cast<std::size_t>(u.operand)].letters;
      if (producer.shape.size() != letters.size() || uses_on(u.edge) > 1) continue;
      for (std::size_t j = 0; j < letters.size(); ++j) {
        auto& size = t_.sizes[static_cast<std::size_t>(letters[j])];
        if (size < 0) {
          size = producer.shape[j];
        } else if (size != producer.shape[j]) {
          problem(fmt::format("dimension '{}' of operand {} is {} but the output of '{}' (shape {}) has {} there",
                              t_.names[static_cast<std::size_t>(letters[j])], u.operand, size, producer.name,
                              shape_text(producer.shape), producer.shape[j]));
          return false;
        }
      }
    }
    // Reshaped operands: one unknown name each, from the elements the edge carries. Repeat while
    // progress is made, since one operand's solution can complete another.
    for (bool progress = true; progress;) {
      progress = false;
      for (const Use& u : uses_) {
        const Edge& e = g_.edge(u.edge);
        const double elems = e.bytes / size_in_bytes(g_.op(e.src).dtype) / uses_on(u.edge);
        progress |= solve_one_unknown(t_.operands[static_cast<std::size_t>(u.operand)].letters, elems);
      }
    }
    if (op_.param_bytes > 0) {
      std::vector<int> param_letters;
      double known_elems = 0;
      int unknown_operand = -1, unknowns = 0;
      for (std::size_t i = 0; i < t_.operands.size(); ++i) {
        if (t_.operands[i].role != OperandRole::kParameter) continue;
        const double e = elements(t_.operands[i].letters);
        if (e > 0) known_elems += e;
        else ++unknowns, unknown_operand = static_cast<int>(i);
      }
      if (unknowns == 1) {
        const double rest = op_.param_bytes / size_in_bytes(op_.dtype) - known_elems;
        solve_one_unknown(t_.operands[static_cast<std::size_t>(unknown_operand)].letters, rest);
      }
    }
    return true;
  }

  double uses_on(EdgeId edge) const {
    return static_cast<double>(std::count_if(uses_.begin(), uses_.end(), [&](const Use& u) { return u.edge == edge; }));
  }

  // Product of the sizes, or 0 when one is unknown.
  double elements(const std::vector<int>& letters) const {
    double product = 1;
    for (int l : letters) {
      const auto size = t_.sizes[static_cast<std::size_t>(l)];
      if (size < 0) return 0;
      product *= static_cast<double>(size);
    }
    return product;
  }

  bool solve_one_unknown(const std::vector<int>& letters, double elems) {
    int unknown = -1;
    double known = 1;
    for (int l : letters) {
      const auto size = t_.sizes[static_cast<std::size_t>(l)];
      if (size >= 0) {
        known *= static_cast<double>(size);
      } else {
        if (unknown >= 0) return false;  // two unknowns: not solvable here
        unknown = l;
      }
    }
    if (unknown < 0 || known <= 0) return false;
    const double value = std::round(elems / known);
    if (!(value >= 1) || std::fabs(value * known - elems) > 1e-6 * elems) return false;
    t_.sizes[static_cast<std::size_t>(unknown)] = static_cast<std::int64_t>(value);
    return true;
  }

  std::vector<std::int64_t> sizes_of(const std::vector<int>& letters) const {
    std::vector<std::int64_t> out;
    for (int l : letters) out.push_back(t_.sizes[static_cast<std::size_t>(l)]);
    return out;
  }

  void finish() {
    t_.output_bytes = op_.output_bytes();
    // Bytes of every operand; edges record which operand they feed and how the dims line up.
    for (const Use& u : uses_) {
      const Edge& e = g_.edge(u.edge);
      Operand& operand = t_.operands[static_cast<std::size_t>(u.operand)];
      const double bytes = e.bytes / uses_on(u.edge);
      operand.bytes = bytes;
      const auto to = sizes_of(operand.letters);
      const auto& from = g_.op(e.src).shape;
      bound_.edges[u.edge.value()].push_back(EdgeUse{u.operand, align_dims(from, to), bytes});
    }
    double param_elems = 0;
    int params = 0, unknown_params = 0;
    for (const Operand& o : t_.operands) {
      if (o.role != OperandRole::kParameter) continue;
      ++params;
      const double e = elements(o.letters);
      if (e > 0) param_elems += e;
      else ++unknown_params;
    }
    for (Operand& o : t_.operands) {
      if (o.role == OperandRole::kInput || o.role == OperandRole::kAliased)
        o.bytes = elements(o.letters) * size_in_bytes(op_.dtype);
      if (o.role != OperandRole::kParameter) continue;
      // Shares of param_bytes by element count (a bias the annotation leaves out is spread in).
      o.bytes = unknown_params == 0 ? op_.param_bytes * elements(o.letters) / param_elems : op_.param_bytes / params;
    }
    if (t_.reshape) {
      if (t_.operands.size() != 1) return problem("a reshape must have exactly one operand");
      t_.reshape_map = align_dims(sizes_of(t_.operands[0].letters), sizes_of(t_.output));
    }
    if (kind_in(op_.kind, {"softmax"}) && !t_.output.empty()) t_.norm_letter = t_.output.back();
    if (kind_in(op_.kind, {"layernorm", "layer_norm", "rmsnorm"}) && !t_.output.empty()) {
      t_.norm_letter = t_.output.back();
      for (const Operand& o : t_.operands)
        if (o.role == OperandRole::kParameter && !o.letters.empty()) t_.norm_letter = o.letters.back();
    }
  }

  struct Use {
    EdgeId edge;
    int operand;
  };

  const Graph& g_;
  OpId id_;
  const Op& op_;
  OpTensors& t_;
  BoundGraph& bound_;
  std::vector<std::string>& problems_;
  std::vector<Use> uses_;
};

}  // namespace

Result<BoundGraph> bind_annotations(const Graph& graph) {
  BoundGraph bound;
  bound.ops.resize(graph.num_ops());
  bound.edges.resize(graph.num_edges());
  std::vector<std::string> problems;
  for (OpId id : graph.ops()) {
    OpTensors& t = bound.ops[id.value()];
    t.output_bytes = graph.op(id).output_bytes();
    if (!graph.op(id).dims.empty()) OpBinder(graph, id, t, bound, problems).bind();
  }
  if (!problems.empty()) {
    if (problems.size() == 1) return Status(StatusCode::kInvalidArgument, problems.front());
    std::string message = fmt::format("{} problems in dimension annotations", problems.size());
    for (const auto& p : problems) message += "\n  " + p;
    return Status(StatusCode::kInvalidArgument, message);
  }
  // Edges into ops without an annotation: the consumer takes the tensor whole, position by position.
  for (EdgeId e : graph.edges()) {
    const Edge& edge = graph.edge(e);
    if (bound.ops[edge.dst.value()].annotated) continue;
    std::vector<int> identity(graph.op(edge.src).shape.size());
    for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);
    bound.edges[e.value()].push_back(EdgeUse{-1, identity, edge.bytes});
  }
  return bound;
}

}  // namespace detail
OPPLAN_END_NAMESPACE
