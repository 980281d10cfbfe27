# FindGLPK
# --------
# Finds the GNU Linear Programming Kit (https://www.gnu.org/software/glpk/).
#
# Imported target:
#   GLPK::GLPK      the glpk library with its include directory
# Result variables:
#   GLPK_FOUND, GLPK_VERSION, GLPK_INCLUDE_DIRS, GLPK_LIBRARIES
# Hints:
#   GLPK_ROOT       a prefix to search first
#
# A shared opplan must link the shared libglpk: Debian's libglpk.a is not position independent.
# find_library prefers the shared library, which is what every build here wants.

find_path(GLPK_INCLUDE_DIR NAMES glpk.h PATH_SUFFIXES glpk)
find_library(GLPK_LIBRARY NAMES glpk)

if(GLPK_INCLUDE_DIR AND EXISTS "${GLPK_INCLUDE_DIR}/glpk.h")
  file(STRINGS "${GLPK_INCLUDE_DIR}/glpk.h" _glpk_version_lines
       REGEX "^#define[ \t]+GLP_(MAJOR|MINOR)_VERSION[ \t]+[0-9]+")
  string(REGEX REPLACE ".*GLP_MAJOR_VERSION[ \t]+([0-9]+).*" "\\1" _glpk_major "${_glpk_version_lines}")
  string(REGEX REPLACE ".*GLP_MINOR_VERSION[ \t]+([0-9]+).*" "\\1" _glpk_minor "${_glpk_version_lines}")
  set(GLPK_VERSION "${_glpk_major}.${_glpk_minor}")
  unset(_glpk_version_lines)
  unset(_glpk_major)
  unset(_glpk_minor)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(GLPK
  REQUIRED_VARS GLPK_LIBRARY GLPK_INCLUDE_DIR
  VERSION_VAR GLPK_VERSION)

if(GLPK_FOUND)
  set(GLPK_INCLUDE_DIRS "${GLPK_INCLUDE_DIR}")
  set(GLPK_LIBRARIES "${GLPK_LIBRARY}")
  if(NOT TARGET GLPK::GLPK)
    add_library(GLPK::GLPK UNKNOWN IMPORTED)
    set_target_properties(GLPK::GLPK PROPERTIES
      IMPORTED_LOCATION "${GLPK_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${GLPK_INCLUDE_DIR}")
  endif()
endif()

mark_as_advanced(GLPK_INCLUDE_DIR GLPK_LIBRARY)
