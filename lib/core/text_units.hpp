// Private: how reports and errors across the library print durations and sizes, and the one
// stopwatch the planners time their phases with.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <string>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace detail {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Three significant digits in s, ms, us or ns: "12.3 ms".
inline std::string seconds_text(double s) {
  const double a = std::fabs(s);
  if (a == 0) return "0 s";
  if (a >= 1) return fmt::format("{:.3g} s", s);
  if (a >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:.3g} us", s * 1e6);
  return fmt::format("{:.3g} ns", s * 1e9);
}

// Three significant digits with decimal prefixes, as vendors' data sheets give memory: "2.63 GB".
inline std::string bytes_text(double b) {
  if (std::isinf(b)) return "unlimited";
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (u < 5 && std::fabs(b) >= 1000) b /= 1000, ++u;
  return fmt::format("{:.3g} {}", b, units[u]);
}

}  // namespace detail
OPPLAN_END_NAMESPACE
