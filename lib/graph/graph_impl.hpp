// Private: the representation behind opplan::Graph, shared by the files of lib/graph.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include <opplan/graph.hpp>

OPPLAN_BEGIN_NAMESPACE

// Hash for heterogeneous lookup: find_op(string_view) without building a std::string.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Structure lives in a Boost adjacency_list (vertex index = OpId, edge property = EdgeId), the
// payload in plain vectors indexed by id so that reading an op never touches Boost.
using BoostDigraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property,
                                           std::uint32_t>;

struct Graph::Impl {
  std::string name;
  std::int64_t samples = 0;
  std::int64_t sequence_length = 0;
  std::vector<Op> ops;
  std::vector<Edge> edges;
  BoostDigraph digraph;

  // name -> first op with that name. Rebuilt lazily after mutable_op(), under the mutex so that
  // concurrent const calls stay safe.
  mutable std::mutex index_mutex;
  mutable std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>> name_index;
  mutable bool index_dirty = false;

  Impl() = default;
  Impl(const Impl& other)
      : name(other.name),
        samples(other.samples),
        sequence_length(other.sequence_length),
        ops(other.ops), edges(other.edges), digraph(other.digraph), index_dirty(true) {}
};

OPPLAN_END_NAMESPACE
