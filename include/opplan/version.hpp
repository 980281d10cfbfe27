// opplan version and ABI namespace. CMake reads the version numbers from this file, so it is the
// single source of truth for the project version.
#pragma once

#include <string>

#define OPPLAN_VERSION_MAJOR 0
#define OPPLAN_VERSION_MINOR 1
#define OPPLAN_VERSION_PATCH 0
#define OPPLAN_VERSION (OPPLAN_VERSION_MAJOR * 10000 + OPPLAN_VERSION_MINOR * 100 + OPPLAN_VERSION_PATCH)

// Every public symbol lives in an inline namespace named after the ABI version, so a program built
// against one major version and linked with another fails at link time instead of misbehaving.
#define OPPLAN_BEGIN_NAMESPACE \
  namespace opplan {           \
  inline namespace v0 {
#define OPPLAN_END_NAMESPACE \
  }                          \
  }

#include <opplan/export.hpp>

OPPLAN_BEGIN_NAMESPACE

// "0.1.0": the version of the library that is linked (may differ from OPPLAN_VERSION at compile
// time only in the patch number).
OPPLAN_EXPORT const char* version_string();

// One line per dependency with the version it was built against (GLPK, Boost, Eigen, fmt,
// nlohmann_json). For `opplan --version` and bug reports.
OPPLAN_EXPORT std::string build_info();

OPPLAN_END_NAMESPACE
