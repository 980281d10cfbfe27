// Private: the checks behind Cluster::validate(), as records carrying both a JSON path (for the
// JSON reader: "/devices/3/peak_flops") and a description for people ("device 'gpu3' (#3):
// peak_flops").
#pragma once

#include <string>
#include <vector>

#include <opplan/cluster.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

struct ClusterProblem {
  std::string path;     // JSON path below the document root, without the leading '/'
  std::string who;      // the thing and field, for people
  std::string message;  // what is wrong: "must be positive (is 0)"
};

std::vector<ClusterProblem> find_cluster_problems(const Cluster& cluster);

}  // namespace detail
OPPLAN_END_NAMESPACE
