// The extension module opplan._opplan; opplan/__init__.py re-exports it as `opplan`.
#include "bindings.hpp"

namespace opplan::python {
namespace {
py::object g_errors[8];  // by StatusCode; [0] is opplan.Error itself

py::object make_exception(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  const std::string qualified = std::string("opplan.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!type) throw py::error_already_set();
  py::object result = py::reinterpret_steal<py::object>(type);
  m.attr(name) = result;
  return result;
}
}  // namespace

[[noreturn]] void raise_status(const Status& status) {
  const int code = static_cast<int>(status.code());
  py::object type = (code > 0 && code < 8 && g_errors[code]) ? g_errors[code] : g_errors[0];
  py::object error = type(status.message());
  error.attr("code") = std::string(to_string(status.code()));
  PyErr_SetObject(type.ptr(), error.ptr());
  throw py::error_already_set();
}

void bind_errors(py::module_& m) {
  py::object base = make_exception(
      m, "Error", py::make_tuple(py::handle(PyExc_Exception)),
      "An opplan operation failed on its input. str(error) is the library's message (it names the file, "
      "JSON path, op or device); error.code is the status code as text (\"invalid argument\", ...).");
  g_errors[0] = base;
  auto sub = [&](StatusCode code, const char* name, PyObject* also, const char* doc) {
    g_errors[static_cast<int>(code)] = make_exception(m, name, py::make_tuple(base, py::handle(also)), doc);
  };
  sub(StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
      "The input violates a documented rule (negative FLOPs, a cycle, a bad option).");
  sub(StatusCode::kNotFound, "NotFoundError", PyExc_LookupError, "A named thing does not exist (op, preset, file).");
  sub(StatusCode::kParseError, "ParseError", PyExc_ValueError, "Text that is not well-formed (malformed JSON, wrong types).");
  sub(StatusCode::kUnsupported, "UnsupportedError", PyExc_ValueError, "Well-formed but not supported.");
  sub(StatusCode::kIoError, "IoError", PyExc_OSError, "A file could not be read or written.");
  sub(StatusCode::kFailedPrecondition, "FailedPreconditionError", PyExc_RuntimeError,
      "The operation does not apply (e.g. no plan fits device memory).");
  sub(StatusCode::kInternal, "InternalError", PyExc_RuntimeError, "A bug in opplan: please report it.");
}

}  // namespace opplan::python

PYBIND11_MODULE(_opplan, m) {
  using namespace opplan::python;
  m.doc() =
      "opplan: plans how to run one deep-learning training iteration on a cluster (the C++ library's "
      "bindings; import opplan, not opplan._opplan).";
  m.attr("__version__") = std::string(opplan::version_string());
  m.def("build_info", &opplan::build_info, "The dependencies the library was built against, one per line.");
  bind_errors(m);
  bind_graph(m);
  bind_cluster(m);
  bind_training(m);
  bind_cost_model(m);
  bind_schedule(m);
  bind_pipeline(m);
  bind_evaluate(m);  // before planning: its ParallelConfig and Evaluation appear in the search's signatures
  bind_planning(m);
}
