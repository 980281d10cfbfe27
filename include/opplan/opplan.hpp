// Umbrella header: everything public in opplan.
#pragma once

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/exports.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/io.hpp>
#include <opplan/formulation.hpp>
#include <opplan/gantt.hpp>
#include <opplan/mip_model.hpp>
#include <opplan/models.hpp>
#include <opplan/onnx.hpp>
#include <opplan/pipeline.hpp>
#include <opplan/operator_planner.hpp>
#include <opplan/plan.hpp>
#include <opplan/planner.hpp>
#include <opplan/schedule.hpp>
#include <opplan/sharding.hpp>
#include <opplan/simulator.hpp>
#include <opplan/stages.hpp>
#include <opplan/solver.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
