// Strategies from einsum semantics (docs/sharding.md, "Strategies"). For a given assignment of
// mesh axes to dimension names:
//  - compute: the op's three phases split over the devices of the used axes (the others repeat
//    the work), from CostModel::sharded_op_time;
//  - forward: a name that is split but absent from the output is summed over, so the output is a
//    partial sum: all-reduce it along that axis (Megatron's row-parallel matmul);
//  - backward: the gradient of an operand sums over the names it lacks, so a split one leaves a
//    partial gradient: all-reduce it (column-parallel input gradient; data-parallel weight
//    gradient);
//  - softmax / layer-norm normalise over one dimension: splitting it all-reduces the per-row
//    statistics forward and backward;
//  - memory: each parameter and saved activation divided by the pieces its operand is cut into.
#include "sharding/strategies.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

bool has_input_grad(const Op& op) {
  const PhaseCost& c = op.input_grad;
  return c.flops > 0 || c.bytes > 0 || (c.seconds && *c.seconds > 0);
}

namespace {

bool contains(const std::vector<int>& letters, int letter) {
  return std::find(letters.begin(), letters.end(), letter) != letters.end();
}

ShardingSpec spec_of(const std::vector<int>& letters, const std::vector<DimSharding>& by_letter) {
  std::vector<DimSharding> dims;
  dims.reserve(letters.size());
  for (int l : letters) dims.push_back(by_letter[static_cast<std::size_t>(l)]);
  return ShardingSpec(std::move(dims));
}

class StrategyBuilder {
 public:
  StrategyBuilder(const Op& op, const OpTensors& t, MeshCosts& mesh, const Cluster& cluster, const Mesh& devices,
                  const CostModel& cost_model)
      : op_(op), t_(t), mesh_(mesh), cluster_(cluster), devices_(devices), cost_model_(cost_model),
        memory_(cost_model.op_memory(op)) {}

  std::vector<ShardingStrategy> build() {
    if (!t_.annotated) return {replicated_unannotated()};
    const std::vector<bool> allowed = shardable();
    std::vector<int> choices[2];
    for (int axis = 0; axis < 2; ++axis) {
      choices[axis].push_back(-1);
      if (mesh_.axis_size(axis) <= 1) continue;
      for (int l = 0; l < static_cast<int>(t_.names.size()); ++l)
        if (allowed[static_cast<std::size_t>(l)]) choices[axis].push_back(l);
    }
    std::vector<ShardingStrategy> out;
    for (int a0 : choices[0]) {
      for (int a1 : choices[1]) {
        if (!divisible(a0, a1)) continue;
        std::vector<DimSharding> by_letter(t_.names.size(), DimSharding::kReplicated);
        if (a0 >= 0) by_letter[static_cast<std::size_t>(a0)] = DimSharding::kAxis0;
        if (a1 >= 0)
          by_letter[static_cast<std::size_t>(a1)] = a1 == a0 ? DimSharding::kBothAxes : DimSharding::kAxis1;
        if (t_.reshape) {
          if (auto s = reshape_strategy(by_letter)) out.push_back(std::move(*s));
        } else {
          out.push_back(einsum_strategy(by_letter, a0, a1));
        }
      }
    }
    return out;
  }

 private:
  // Names that may be split: known size > 1; for a reshape, the operand's names (the output's
  // follow); for a convolution, the batch and the channels (not spatial or kernel dims, whose
  // split would need halo exchange).
  std::vector<bool> shardable() const {
    std::vector<bool> ok(t_.names.size(), false);
    for (std::size_t l = 0; l < ok.size(); ++l) ok[l] = t_.sizes[l] > 1;
    if (t_.reshape) {
      std::vector<bool> in_operand(ok.size(), false);
      for (int l : t_.operands[0].letters) in_operand[static_cast<std::size_t>(l)] = true;
      for (std::size_t l = 0; l < ok.size(); ++l) ok[l] = ok[l] && in_operand[l];
    }
    if (t_.conv) {
      std::vector<bool> channel(ok.size(), false);
      for (const Operand& p : t_.operands) {
        if (p.role != OperandRole::kParameter) continue;
        for (int l : p.letters) {
          bool in_data = contains(t_.output, l);
          for (const Operand& a : t_.operands)
            if (a.role != OperandRole::kParameter && contains(a.letters, l)) in_data = true;
          if (in_data) channel[static_cast<std::size_t>(l)] = true;
        }
      }
      if (!t_.output.empty()) channel[static_cast<std::size_t>(t_.output.front())] = true;
      for (std::size_t l = 0; l < ok.size(); ++l) ok[l] = ok[l] && channel[l];
    }
    return ok;
  }

  bool divisible(int a0, int a1) const {
    auto size = [&](int l) { return t_.sizes[static_cast<std::size_t>(l)]; };
    if (a0 >= 0 && a0 == a1) return size(a0) % (mesh_.rows() * mesh_.cols()) == 0;
    if (a0 >= 0 && size(a0) % mesh_.rows() != 0) return false;
    if (a1 >= 0 && size(a1) % mesh_.cols() != 0) return false;
    return true;
  }

  double compute(int shards) {
    for (auto& [n, seconds] : compute_cache_)
      if (n == shards) return seconds;
    double seconds = 0;
    for (Phase phase : kAllPhases) seconds += cost_model_.sharded_op_time(op_, phase, cluster_, devices_, shards);
    compute_cache_.emplace_back(shards, seconds);
    return seconds;
  }

  ShardingStrategy replicated_unannotated() {
    ShardingStrategy s;
    s.name = "replicated";
    s.output = ShardingSpec::replicated(static_cast<int>(op_.shape.size()));
    s.compute_seconds = compute(1);
    s.memory_bytes = memory_.total();
    s.parameter_bytes = memory_.parameters;
    s.output_bytes = t_.output_bytes;
    return s;
  }

  double all_reduce_on(unsigned axes, double bytes) {
    double seconds = 0;
    for (int axis = 0; axis < 2; ++axis)
      if (axes & (1u << axis)) seconds += mesh_.collective(Collective::kAllReduce, axis, bytes);
    return seconds;
  }

  static std::string name_of(const std::vector<std::string>& names, const std::vector<DimSharding>& by_letter) {
    std::string text;
    for (std::size_t l = 0; l < names.size(); ++l) {
      if (by_letter[l] == DimSharding::kReplicated) continue;
      if (!text.empty()) text += ' ';
      text += names[l] + "=" + to_string(by_letter[l]);
    }
    return text.empty() ? "replicated" : text;
  }

  // Saved activations are cut like the op's data operands (or its output when it has none).
  double activation_memory(const std::vector<ShardingSpec>& specs, const ShardingSpec& output) const {
    double whole = 0, local = 0;
    for (std::size_t i = 0; i < t_.operands.size(); ++i) {
      // Weights are not activations (a tied weight's memory is its owner's).
      if (t_.operands[i].role == OperandRole::kParameter || t_.operands[i].role == OperandRole::kAliased) continue;
      whole += t_.operands[i].bytes;
      local += t_.operands[i].bytes / specs[i].num_tiles(mesh_.rows(), mesh_.cols());
    }
    const double ratio = whole > 0 ? local / whole : 1.0 / output.num_tiles(mesh_.rows(), mesh_.cols());
    return memory_.activations * ratio;
  }

  ShardingStrategy einsum_strategy(const std::vector<DimSharding>& by_letter, int a0, int a1) {
    ShardingStrategy s;
    s.name = name_of(t_.names, by_letter);
    s.output = spec_of(t_.output, by_letter);
    for (const Operand& o : t_.operands) s.operands.push_back(spec_of(o.letters, by_letter));
    const int rows = mesh_.rows(), cols = mesh_.cols();
    const unsigned used = (a0 >= 0 ? 1u : 0u) | (a1 >= 0 ? 2u : 0u);
    s.num_shards = mesh_.devices_of(used);
    s.compute_seconds = compute(s.num_shards);

    // Axes whose name is missing from a tensor: that tensor is a partial sum over them.
    auto missing_from = [&](const std::vector<int>& letters) {
      unsigned axes = 0;
      if (a0 >= 0 && !contains(letters, a0)) axes |= 1u;
      if (a1 >= 0 && !contains(letters, a1)) axes |= 2u;
      return axes;
    };
    double comm = all_reduce_on(missing_from(t_.output), t_.output_bytes / s.output.num_tiles(rows, cols));
    if (t_.norm_letter >= 0 && t_.output_bytes > 0) {
      unsigned axes = 0;
      if (a0 == t_.norm_letter) axes |= 1u;
      if (a1 == t_.norm_letter) axes |= 2u;
      if (axes) {
        // Two fp32 statistics per normalised row (max and sum; mean and variance).
        const double row = static_cast<double>(t_.sizes[static_cast<std::size_t>(t_.norm_letter)]) * size_in_bytes(op_.dtype);
        const double stats = t_.output_bytes / s.output.num_tiles(rows, cols) * mesh_.devices_of(axes) / row * 8;
        comm += all_reduce_on(axes, stats) * (has_input_grad(op_) ? 2 : 1);
      }
    }
    const bool input_grad = has_input_grad(op_);
    double params_local = 0, sync = 0;
    // The parameter-gradient all-reduce on `axes`, also counted in bytes per axis (for buckets).
    const auto sync_on = [&](unsigned axes, double bytes) {
      for (int axis = 0; axis < 2; ++axis)
        if ((axes & (1u << axis)) && mesh_.axis_size(axis) > 1 && bytes > 0) s.weight_sync_bytes[static_cast<std::size_t>(axis)] += bytes;
      return all_reduce_on(axes, bytes);
    };
    const double param_factor = op_.param_bytes > 0 ? memory_.parameters / op_.param_bytes : 0;
    for (std::size_t i = 0; i < t_.operands.size(); ++i) {
      const Operand& o = t_.operands[i];
      const double local = o.bytes / s.operands[i].num_tiles(rows, cols);
      if (o.role == OperandRole::kActivation && input_grad) comm += all_reduce_on(missing_from(o.letters), local);
      if (o.role == OperandRole::kParameter) {
        sync += sync_on(missing_from(o.letters), local);
        params_local += local * param_factor;
      }
    }
    if (t_.implicit_param_bytes > 0) {
      sync += sync_on(used, t_.implicit_param_bytes);
      params_local += t_.implicit_param_bytes * param_factor;
    }
    s.communication_seconds = comm + sync;
    s.weight_sync_seconds = sync;
    s.memory_bytes = params_local + activation_memory(s.operands, s.output);
    s.parameter_bytes = params_local;
    s.output_bytes = t_.output_bytes / s.output.num_tiles(rows, cols);
    return s;
  }

  // A reshape moves no data: the output keeps the operand's splits where they carry over.
  std::optional<ShardingStrategy> reshape_strategy(const std::vector<DimSharding>& by_letter) {
    ShardingStrategy s;
    s.name = name_of(t_.names, by_letter);
    s.operands.push_back(spec_of(t_.operands[0].letters, by_letter));
    std::vector<std::int64_t> out_sizes;
    for (int l : t_.output) out_sizes.push_back(t_.sizes[static_cast<std::size_t>(l)]);
    unsigned lost = 0;
    s.output = carry_over(s.operands[0], t_.reshape_map, out_sizes, mesh_.rows(), mesh_.cols(), &lost);
    if (lost) return std::nullopt;
    s.num_shards = s.operands[0].num_tiles(mesh_.rows(), mesh_.cols());
    s.compute_seconds = compute(s.num_shards);
    const double param_factor = op_.param_bytes > 0 ? memory_.parameters / op_.param_bytes : 0;
    s.parameter_bytes = t_.implicit_param_bytes * param_factor;
    s.memory_bytes = s.parameter_bytes + activation_memory(s.operands, s.output);
    s.output_bytes = t_.output_bytes / s.output.num_tiles(mesh_.rows(), mesh_.cols());
    return s;
  }

  const Op& op_;
  const OpTensors& t_;
  MeshCosts& mesh_;
  const Cluster& cluster_;
  const Mesh& devices_;
  const CostModel& cost_model_;
  OpMemory memory_;
  std::vector<std::pair<int, double>> compute_cache_;
};

}  // namespace

std::vector<ShardingStrategy> op_strategies(const Op& op, const OpTensors& tensors, MeshCosts& mesh,
                                            const Cluster& cluster, const Mesh& mesh_devices,
                                            const CostModel& cost_model) {
  return StrategyBuilder(op, tensors, mesh, cluster, mesh_devices, cost_model).build();
}

}  // namespace detail
OPPLAN_END_NAMESPACE
