// ShardingSpec: the layout of a tensor on a 2-D mesh, its text form ("S0R", "RS01") and
// make_mesh, the row-major view of the first devices of a cluster.
#include <opplan/sharding.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

OPPLAN_BEGIN_NAMESPACE

const char* to_string(DimSharding sharding) {
  switch (sharding) {
    case DimSharding::kReplicated: return "R";
    case DimSharding::kAxis0: return "S0";
    case DimSharding::kAxis1: return "S1";
    case DimSharding::kBothAxes: return "S01";
  }
  return "?";
}

ShardingSpec ShardingSpec::replicated(int rank) {
  return ShardingSpec(std::vector<DimSharding>(static_cast<std::size_t>(std::max(rank, 0)), DimSharding::kReplicated));
}

DimSharding ShardingSpec::dim(int i) const {
  if (i < 0 || i >= rank())
    throw std::out_of_range(fmt::format("opplan::ShardingSpec::dim({}) on a spec of rank {}", i, rank()));
  return dims_[static_cast<std::size_t>(i)];
}

bool ShardingSpec::is_replicated() const {
  for (DimSharding d : dims_)
    if (d != DimSharding::kReplicated) return false;
  return true;
}

namespace {

// Bit k set when the sharding uses mesh axis k.
unsigned axes_of(DimSharding d) { return static_cast<unsigned>(d); }

}  // namespace

bool ShardingSpec::is_valid() const {
  unsigned used = 0;
  for (DimSharding d : dims_) {
    if (used & axes_of(d)) return false;
    used |= axes_of(d);
  }
  return true;
}

int ShardingSpec::dim_of_axis(int axis) const {
  const unsigned bit = axis == 0 ? 1u : axis == 1 ? 2u : 0u;
  for (int i = 0; i < rank(); ++i)
    if (axes_of(dims_[static_cast<std::size_t>(i)]) & bit) return i;
  return -1;
}

int ShardingSpec::num_tiles(int rows, int cols) const {
  int tiles = 1;
  for (DimSharding d : dims_) {
    if (axes_of(d) & 1u) tiles *= rows;
    if (axes_of(d) & 2u) tiles *= cols;
  }
  return tiles;
}

std::string ShardingSpec::to_string() const {
  std::string text;
  for (DimSharding d : dims_) text += opplan::to_string(d);
  return text;
}

Result<ShardingSpec> parse_sharding_spec(std::string_view text) {
  std::vector<DimSharding> dims;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == 'R') {
      dims.push_back(DimSharding::kReplicated);
      ++i;
    } else if (c == 'S') {
      // "S" takes the longest run of axis digits: S0, S1, S01.
      std::size_t j = i + 1;
      while (j < text.size() && (text[j] == '0' || text[j] == '1')) ++j;
      const std::string_view axes = text.substr(i + 1, j - i - 1);
      if (axes == "0") dims.push_back(DimSharding::kAxis0);
      else if (axes == "1") dims.push_back(DimSharding::kAxis1);
      else if (axes == "01") dims.push_back(DimSharding::kBothAxes);
      else
        return Status(StatusCode::kParseError,
                      fmt::format("sharding spec '{}': 'S{}' at position {} is not S0, S1 or S01", text, axes, i));
      i = j;
    } else {
      return Status(StatusCode::kParseError,
                    fmt::format("sharding spec '{}': unexpected '{}' at position {} (expected R, S0, S1 or S01)", text,
                                c, i));
    }
  }
  ShardingSpec spec(std::move(dims));
  if (!spec.is_valid())
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("sharding spec '{}' splits two dimensions over the same mesh axis", text));
  return spec;
}

Result<Mesh> make_mesh(const Cluster& cluster, int rows, int cols) {
  const std::size_t n = cluster.num_devices();
  if (rows < 1 || cols < 1)
    return Status(StatusCode::kInvalidArgument, fmt::format("mesh {}x{}: both sides must be positive", rows, cols));
  const std::size_t size = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  if (n == 0 || size > n || n % size != 0)
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("mesh {}x{} ({} devices) does not divide the {} devices of cluster '{}'", rows, cols,
                              size, n, cluster.name()));
  Mesh mesh{fmt::format("{}x{}", rows, cols), rows, cols, {}};
  mesh.devices.reserve(size);
  for (std::size_t i = 0; i < size; ++i) mesh.devices.push_back(DeviceId(static_cast<DeviceId::value_type>(i)));
  return mesh;
}

OPPLAN_END_NAMESPACE
