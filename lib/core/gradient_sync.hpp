// Private: the one rule for how much of a bucketed gradient reduction the backward hides, shared by
// evaluate() (data parallelism) and the stage planner (a stage's data-parallel sharding), so that
// both planners charge the same exposed time.
#pragma once

#include <algorithm>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

// Buckets of `total` seconds of reduction run while `window` seconds of backward compute remain;
// the last bucket (`last_bucket` seconds) can only start once the backward is done. Exposed:
// whatever the window cannot hide, and at least that last bucket.
inline double exposed_gradient_sync(double total, double window, double last_bucket) {
  return std::max(total - window, std::min(total, last_bucket));
}

}  // namespace detail
OPPLAN_END_NAMESPACE
