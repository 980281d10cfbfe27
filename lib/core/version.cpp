#include <opplan/version.hpp>

#include <Eigen/Core>
#include <boost/version.hpp>
#include <fmt/format.h>
#include <glpk.h>
#include <nlohmann/json.hpp>

OPPLAN_BEGIN_NAMESPACE

const char* version_string() {
  static const std::string v =
      fmt::format("{}.{}.{}", OPPLAN_VERSION_MAJOR, OPPLAN_VERSION_MINOR, OPPLAN_VERSION_PATCH);
  return v.c_str();
}

std::string build_info() {
  return fmt::format(
      "opplan {}\n"
      "GLPK {} (linked), {}.{} (headers)\n"
      "Boost {}.{}.{}\n"
      "Eigen {}.{}.{}\n"
      "fmt {}.{}.{}\n"
      "nlohmann_json {}.{}.{}\n",
      version_string(), glp_version(), GLP_MAJOR_VERSION, GLP_MINOR_VERSION, BOOST_VERSION / 100000,
      BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100, EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
      EIGEN_MINOR_VERSION, FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100,
      NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH);
}

OPPLAN_END_NAMESPACE
