# Install rules and the CMake package (find_package(opplan CONFIG)).
include(CMakePackageConfigHelpers)

set(OPPLAN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/opplan"
    CACHE STRING "Where opplanConfig.cmake is installed")

install(TARGETS opplan
  EXPORT opplanTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/opplan"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.hpp")
install(FILES "${PROJECT_BINARY_DIR}/include/opplan/export.hpp"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/opplan")

install(EXPORT opplanTargets
  NAMESPACE opplan::
  DESTINATION "${OPPLAN_INSTALL_CMAKEDIR}")

# A static opplan carries its compiled dependencies (GLPK, fmt) as link-only requirements.
if(BUILD_SHARED_LIBS)
  set(OPPLAN_STATIC_BUILD OFF)
else()
  set(OPPLAN_STATIC_BUILD ON)
endif()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/opplanConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/opplanConfig.cmake"
  INSTALL_DESTINATION "${OPPLAN_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/opplanConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)

install(FILES
    "${PROJECT_BINARY_DIR}/opplanConfig.cmake"
    "${PROJECT_BINARY_DIR}/opplanConfigVersion.cmake"
    "${PROJECT_SOURCE_DIR}/cmake/FindGLPK.cmake"
  DESTINATION "${OPPLAN_INSTALL_CMAKEDIR}")
