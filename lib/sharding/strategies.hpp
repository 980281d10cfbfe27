// The sharding strategies of one op, derived from its bound annotation. Private to lib/.
#pragma once

#include <vector>

#include <opplan/cost_model.hpp>
#include <opplan/sharding.hpp>

#include "sharding/annotation.hpp"
#include "sharding/mesh_costs.hpp"

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Every way to give the mesh axes to the op's dimension names (each axis to at most one name,
// both axes to one name = S01), where the name's size is divisible by the pieces; the replicated
// strategy first. An op without annotation has only the replicated strategy.
std::vector<ShardingStrategy> op_strategies(const Op& op, const OpTensors& tensors, MeshCosts& mesh,
                                            const Cluster& cluster, const Mesh& mesh_devices,
                                            const CostModel& cost_model);

// Whether gradients flow back into the op's inputs (it has an input-gradient phase).
bool has_input_grad(const Op& op);

}  // namespace detail
OPPLAN_END_NAMESPACE
