# `cmake --install` puts an importable package into <prefix>/<OPPLAN_PYTHON_INSTALL_DIR>: install
# the python component into a scratch prefix and import it from there (cmake -P).
#   BUILD_DIR  the build tree    PREFIX  a scratch prefix    PYTHON  the interpreter    SUBDIR  the install dir
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --component python
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${_rc}):\n${_out}\n${_err}")
endif()
if(IS_ABSOLUTE "${SUBDIR}")
  set(_site "${SUBDIR}")
else()
  set(_site "${PREFIX}/${SUBDIR}")
endif()
foreach(_file opplan/__init__.py opplan/_opplan.pyi opplan/py.typed opplan/torch/__init__.py opplan/torch/pipelining.py
              opplan/torch/run.py opplan/torch/_stages.py opplan/torch/_worker.py)
  if(NOT EXISTS "${_site}/${_file}")
    message(FATAL_ERROR "not installed: ${_site}/${_file}")
  endif()
endforeach()
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${_site}" PYTHONDONTWRITEBYTECODE=1
  "${PYTHON}" -c "import opplan, sys; assert opplan.__file__.startswith(sys.argv[1]), opplan.__file__; g = opplan.zoo_model('gpt3-350m'); g.validate(); print(opplan.__version__, opplan.__file__)" "${_site}"
  WORKING_DIRECTORY "${PREFIX}" RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "importing the installed package failed:\n${_out}\n${_err}")
endif()
message(STATUS "installed and imported: ${_out}")
