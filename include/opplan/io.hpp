// File formats: reading and writing Graph and Cluster as JSON (docs/file-formats.md).
//
// Every file carries {"format": "opplan.graph" | "opplan.cluster", "version": 1}. Readers never
// throw on bad input: the returned Status names the file, the JSON path (e.g. "/ops/17/forward/flops")
// or the line and column of malformed JSON, and says what is wrong. A graph or cluster that parses
// is also validated (Graph::validate / Cluster::validate) before it is returned.
// Writing then reading gives back an equal object (doubles are printed to round-trip exactly).
#pragma once

#include <string>
#include <string_view>

#include <opplan/cluster.hpp>
#include <opplan/graph.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

inline constexpr int kGraphFormatVersion = 1;
inline constexpr int kClusterFormatVersion = 1;

// `source` names the text in error messages (a file name, "<stdin>", ...).
OPPLAN_EXPORT Result<Graph> parse_graph_json(std::string_view text, std::string_view source = "<string>");
OPPLAN_EXPORT Result<Graph> read_graph_json(const std::string& path);
// indent < 0 writes one compact line.
OPPLAN_EXPORT std::string graph_to_json(const Graph& graph, int indent = 2);
OPPLAN_EXPORT Status write_graph_json(const Graph& graph, const std::string& path, int indent = 2);

OPPLAN_EXPORT Result<Cluster> parse_cluster_json(std::string_view text, std::string_view source = "<string>");
OPPLAN_EXPORT Result<Cluster> read_cluster_json(const std::string& path);
OPPLAN_EXPORT std::string cluster_to_json(const Cluster& cluster, int indent = 2);
OPPLAN_EXPORT Status write_cluster_json(const Cluster& cluster, const std::string& path, int indent = 2);

OPPLAN_END_NAMESPACE
