# Runs tools/torch_export/opplan_export.py once and checks its outcome; used by the torch.* tests
# (cmake -P). When the export should succeed, the written graph is then checked with
# `opplan validate` and `opplan info --json`.
#
#   PYTHON           the Python that has torch (/usr/bin/python3 by default)
#   EXPORTER         tools/torch_export/opplan_export.py
#   OPPLAN           the opplan program
#   ARGS             the exporter's arguments, separated by "|"
#   OUTPUT           the graph file the exporter writes (given to it as --output)
#   EXPECT_EXIT      the exporter's exact exit code
#   STDERR_RE_<i>    regexes the exporter's stderr must match, i = 0 .. STDERR_RE_COUNT-1
#   INFO_EQ_<i>      "graph.ops=62": members of `opplan info --json OUTPUT`, i = 0 .. INFO_EQ_COUNT-1
#   GRAPH_EQ_<i>     "ops.3.params_from=shared": members of the written graph file, i = 0 .. GRAPH_EQ_COUNT-1
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND "${PYTHON}" -c
  "import importlib.util as u, sys; sys.exit(not (u.find_spec('torch') and u.find_spec('torchvision')))"
  RESULT_VARIABLE _has_torch
  OUTPUT_QUIET ERROR_QUIET)
if(NOT _has_torch EQUAL 0)
  message("SKIPPED: ${PYTHON} cannot import torch and torchvision (apt-get install python3-torch python3-torchvision)")
  return()
endif()

string(REPLACE "|" ";" _args "${ARGS}")
file(REMOVE "${OUTPUT}")
execute_process(COMMAND "${PYTHON}" "${EXPORTER}" ${_args} --output "${OUTPUT}"
  RESULT_VARIABLE _exit OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
set(_failures "")
macro(fail message)
  string(APPEND _failures "  ${message}\n")
endmacro()
# Each <prefix>_<i> "a.b.0=value" (i < <prefix>_COUNT) must be a member of `json` equal to value.
macro(check_members prefix json what)
  if(DEFINED ${prefix}_COUNT AND ${prefix}_COUNT GREATER 0)
    math(EXPR _last "${${prefix}_COUNT} - 1")
    foreach(_i RANGE ${_last})
      string(REGEX MATCH "^([^=]*)=(.*)$" _ "${${prefix}_${_i}}")
      set(_path "${CMAKE_MATCH_1}")
      set(_expected "${CMAKE_MATCH_2}")
      string(REPLACE "." ";" _keys "${_path}")
      string(JSON _value ERROR_VARIABLE _error GET "${json}" ${_keys})
      if(_error)
        fail("${what} has no ${_path}: ${_error}")
      elseif(NOT _value STREQUAL _expected)
        fail("${what}: ${_path} is ${_value}, expected ${_expected}")
      endif()
    endforeach()
  endif()
endmacro()

if(NOT _exit STREQUAL EXPECT_EXIT)
  fail("exporter exit code ${_exit}, expected ${EXPECT_EXIT}")
endif()
if(DEFINED STDERR_RE_COUNT AND STDERR_RE_COUNT GREATER 0)
  math(EXPR _last "${STDERR_RE_COUNT} - 1")
  foreach(_i RANGE ${_last})
    if(NOT _err MATCHES "${STDERR_RE_${_i}}")
      fail("exporter stderr does not match '${STDERR_RE_${_i}}'")
    endif()
  endforeach()
endif()
if(NOT EXPECT_EXIT EQUAL 0 AND EXISTS "${OUTPUT}")
  fail("a failed export wrote ${OUTPUT}")
endif()

if(EXPECT_EXIT EQUAL 0 AND _exit EQUAL 0)
  execute_process(COMMAND "${OPPLAN}" validate "${OUTPUT}" RESULT_VARIABLE _valid OUTPUT_VARIABLE _vout ERROR_VARIABLE _verr)
  if(NOT _valid EQUAL 0)
    fail("opplan validate ${OUTPUT} exited ${_valid}: ${_verr}")
  endif()
  execute_process(COMMAND "${OPPLAN}" info "${OUTPUT}" --json RESULT_VARIABLE _info OUTPUT_VARIABLE _json ERROR_VARIABLE _ierr)
  if(NOT _info EQUAL 0)
    fail("opplan info ${OUTPUT} --json exited ${_info}: ${_ierr}")
  else()
    check_members(INFO_EQ "${_json}" "opplan info --json")
  endif()
endif()

if(EXPECT_EXIT EQUAL 0 AND _exit EQUAL 0 AND EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" _graph)
  check_members(GRAPH_EQ "${_graph}" "${OUTPUT}")
endif()

if(NOT _failures STREQUAL "")
  message(FATAL_ERROR "opplan_export.py ${ARGS}:\n${_failures}--- exporter stderr ---\n${_err}")
endif()
