// Collective and resharding costs on the two axes of a mesh, memoised: the sharding problem asks
// for the same few (collective, axis, bytes) triples millions of times across repeated layers,
// while a CostModel may be an expensive user subclass. Private to lib/.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <opplan/cost_model.hpp>
#include <opplan/sharding.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Bit k set when mesh axis k is used.
inline unsigned axis_bits(DimSharding d) { return static_cast<unsigned>(d); }

class MeshCosts {
 public:
  MeshCosts(const Cluster& cluster, const Mesh& mesh, const CostModel& cost_model);

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int axis_size(int axis) const { return axis == 0 ? rows_ : cols_; }
  // Product of the sizes of the axes in `bits`.
  int devices_of(unsigned bits) const;

  // Seconds for one collective along mesh axis 0 or 1 (all groups along the axis run at once:
  // the slowest decides). `bytes` as CostModel::collective_time takes it.
  double collective(Collective collective, int axis, double bytes);

  // Seconds to turn a tensor of `bytes` (whole) laid out as `from` into layout `to` (same rank).
  // `lost_axes` are axes that split the tensor in a way `from` cannot express (a producer split
  // that did not carry over a reshape): they must be gathered like any axis that changes.
  // Per mesh axis: kept when both layouts split the same dim the same way (axis 0 alone and as the
  // major part of S01 are the same layout); otherwise gathered when `from` uses it and sliced
  // (free) when `to` does. One changed axis that moves to another dim is an all-to-all; anything
  // else is a chain of all-gathers, each on the bytes gathered so far.
  double reshard(const ShardingSpec& from, unsigned lost_axes, const ShardingSpec& to, double bytes);

 private:
  const Cluster& cluster_;
  const CostModel& cost_model_;
  int rows_, cols_;
  std::vector<std::vector<DeviceId>> groups_[2];
  std::unordered_map<std::uint64_t, double> collective_memo_[4][2];
};

// The layout a consumer sees for free after `map` (producer dim -> consumer dim, -1 = cannot
// carry): splits that land on a consumer dim whose size they divide are kept, the others are
// returned in `lost_axes`.
ShardingSpec carry_over(const ShardingSpec& from, const std::vector<int>& map, const std::vector<std::int64_t>& to_sizes,
                        int rows, int cols, unsigned* lost_axes);

}  // namespace detail
OPPLAN_END_NAMESPACE
