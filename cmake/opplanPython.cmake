# Finding the Python the package is built for (python/CMakeLists.txt).
#
# OPPLAN_PYTHON: the interpreter, /usr/bin/python3 by default when it exists (Debian's python3, the
# one that has python3-torch), else whatever FindPython3 finds first. A pyenv or virtualenv python3
# earlier on PATH is not picked unless asked for with -DOPPLAN_PYTHON=...

# opplan_find_python(<out>): sets <out> to ON when the interpreter, its headers and pybind11 are found.
macro(opplan_find_python _out)
  if(EXISTS "/usr/bin/python3")
    set(_opplan_python_guess "/usr/bin/python3")
  else()
    set(_opplan_python_guess "")
  endif()
  set(OPPLAN_PYTHON "${_opplan_python_guess}" CACHE FILEPATH "Python 3 interpreter the opplan package is built for")
  if(OPPLAN_PYTHON AND NOT DEFINED Python3_EXECUTABLE)
    set(Python3_EXECUTABLE "${OPPLAN_PYTHON}")
  endif()
  find_package(Python3 3.8 COMPONENTS Interpreter Development.Module QUIET)
  if(Python3_FOUND)
    # pybind11 from Debian's python3-pybind11 / pybind11-dev; use FindPython3's result.
    set(PYBIND11_FINDPYTHON ON)
    execute_process(COMMAND "${Python3_EXECUTABLE}" -c "import pybind11; print(pybind11.get_cmake_dir())"
      OUTPUT_VARIABLE _opplan_pybind11_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    find_package(pybind11 2.6 CONFIG QUIET HINTS "${_opplan_pybind11_dir}")
    if(pybind11_FOUND)
      set(${_out} ON)
      message(STATUS "opplan: Python ${Python3_VERSION} at ${Python3_EXECUTABLE} and pybind11 ${pybind11_VERSION} found")
    else()
      message(STATUS "opplan: Python package off (pybind11 not found; Debian: apt-get install pybind11-dev python3-pybind11)")
    endif()
  else()
    message(STATUS "opplan: Python package off (no Python 3 interpreter with headers; Debian: apt-get install python3-dev)")
  endif()
endmacro()
