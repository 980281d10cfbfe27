// Umbrella header: everything public in opplan.
#pragma once

#include <opplan/cluster.hpp>
#include <opplan/cost_model.hpp>
#include <opplan/graph.hpp>
#include <opplan/ids.hpp>
#include <opplan/io.hpp>
#include <opplan/models.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>
