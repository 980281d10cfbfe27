// Private: the representation behind opplan::Cluster.
#pragma once

#include <string>
#include <vector>

#include <opplan/cluster.hpp>

OPPLAN_BEGIN_NAMESPACE

struct Cluster::Impl {
  std::string name;
  std::vector<Device> devices;
  Link intra_node;
  Link inter_node;
  std::vector<LinkOverride> overrides;
  std::vector<Mesh> meshes;
};

OPPLAN_END_NAMESPACE
