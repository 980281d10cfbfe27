// Collectives along mesh axes and resharding between layouts (alpa.md section 1, "Resharding").
#include "sharding/mesh_costs.hpp"

#include <algorithm>
#include <cstring>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

MeshCosts::MeshCosts(const Cluster& cluster, const Mesh& mesh, const CostModel& cost_model)
    : cluster_(cluster), cost_model_(cost_model), rows_(mesh.rows), cols_(mesh.cols) {
  for (int c = 0; c < cols_; ++c) groups_[0].push_back(mesh.axis_group(0, 0, c));
  for (int r = 0; r < rows_; ++r) groups_[1].push_back(mesh.axis_group(1, r, 0));
}

int MeshCosts::devices_of(unsigned bits) const { return ((bits & 1u) ? rows_ : 1) * ((bits & 2u) ? cols_ : 1); }

double MeshCosts::collective(Collective collective, int axis, double bytes) {
  if (axis_size(axis) <= 1 || bytes <= 0) return 0;
  std::uint64_t key;
  static_assert(sizeof(key) == sizeof(bytes));
  std::memcpy(&key, &bytes, sizeof(key));
  auto& memo = collective_memo_[static_cast<int>(collective)][axis];
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  double slowest = 0;
  for (const auto& group : groups_[axis])
    slowest = std::max(slowest, cost_model_.collective_time(cluster_, collective, group, bytes));
  memo.emplace(key, slowest);
  return slowest;
}

namespace {

// Whether mesh axis `axis` splits the same dim the same way in both layouts. Axis 0 alone (S0)
// and axis 0 as the major part of S01 hold the same rows of pieces; axis 1 alone (S1) and as the
// minor part of S01 do not.
bool kept(const ShardingSpec& from, const ShardingSpec& to, int axis) {
  const int df = from.dim_of_axis(axis);
  if (df < 0 || df != to.dim_of_axis(axis)) return false;
  if (axis == 0) return true;
  return (from.dims()[static_cast<std::size_t>(df)] == DimSharding::kBothAxes) ==
         (to.dims()[static_cast<std::size_t>(df)] == DimSharding::kBothAxes);
}

unsigned used_axes(const ShardingSpec& spec) {
  unsigned bits = 0;
  for (DimSharding d : spec.dims()) bits |= axis_bits(d);
  return bits;
}

}  // namespace

double MeshCosts::reshard(const ShardingSpec& from, unsigned lost_axes, const ShardingSpec& to, double bytes) {
  if (bytes <= 0) return 0;
  unsigned keep = 0;
  for (int axis = 0; axis < 2; ++axis)
    if (!(lost_axes & (1u << axis)) && kept(from, to, axis)) keep |= 1u << axis;
  const unsigned from_axes = used_axes(from) | lost_axes;
  const unsigned gather = from_axes & ~keep;
  const unsigned slice = used_axes(to) & ~keep;
  if (gather == 0) return 0;  // only free slicing (or nothing) to do
  const double local = bytes / devices_of(from_axes);
  if ((gather == 1u || gather == 2u) && (slice & gather)) {
    const int axis = gather == 1u ? 0 : 1;
    // The group along the axis holds the data the new layout needs: one all-to-all on it.
    return collective(Collective::kAllToAll, axis, local * axis_size(axis));
  }
  double seconds = 0, current = local;
  for (int axis = 0; axis < 2; ++axis) {
    if (!(gather & (1u << axis))) continue;
    current *= axis_size(axis);
    seconds += collective(Collective::kAllGather, axis, current);
  }
  return seconds;
}

ShardingSpec carry_over(const ShardingSpec& from, const std::vector<int>& map, const std::vector<std::int64_t>& to_sizes,
                        int rows, int cols, unsigned* lost_axes) {
  std::vector<DimSharding> out(to_sizes.size(), DimSharding::kReplicated);
  unsigned lost = 0;
  for (int i = 0; i < from.rank(); ++i) {
    const DimSharding d = from.dims()[static_cast<std::size_t>(i)];
    if (d == DimSharding::kReplicated) continue;
    const int j = i < static_cast<int>(map.size()) ? map[static_cast<std::size_t>(i)] : -1;
    const std::int64_t shards = ((axis_bits(d) & 1u) ? rows : 1) * ((axis_bits(d) & 2u) ? cols : 1);
    if (j < 0 || j >= static_cast<int>(out.size()) || to_sizes[static_cast<std::size_t>(j)] <= 0 ||
        to_sizes[static_cast<std::size_t>(j)] % shards != 0 || out[static_cast<std::size_t>(j)] != DimSharding::kReplicated) {
      lost |= axis_bits(d);
      continue;
    }
    out[static_cast<std::size_t>(j)] = d;
  }
  *lost_axes = lost;
  return ShardingSpec(std::move(out));
}

}  // namespace detail
OPPLAN_END_NAMESPACE
