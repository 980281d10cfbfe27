// Shared helpers of the pybind11 bindings (python/src/*.cpp): strong ids as Python ints, Status as
// Python exceptions, enums that also accept their names, keyword constructors for aggregates, and
// the Python-facing CostModel trampolines with their error slot.
#pragma once

#include <pybind11/functional.h>
#include <pybind11/operators.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <opplan/opplan.hpp>
#include <optional>
#include <string>
#include <utility>

namespace py = pybind11;

// OpId, EdgeId, DeviceId and MeshId are plain ints in Python (ids are dense indices, so a
// Python list can be indexed by them); an invalid id is None.
namespace pybind11::detail {
template <typename Tag>
struct type_caster<opplan::Id<Tag>> {
  PYBIND11_TYPE_CASTER(opplan::Id<Tag>, const_name("int"));
  bool load(handle src, bool convert) {
    if (src.is_none()) {
      value = opplan::Id<Tag>();
      return true;
    }
    if (!PyLong_Check(src.ptr()) && !(convert && PyIndex_Check(src.ptr()))) return false;
    const long long v = PyLong_AsLongLong(src.ptr());
    if (v == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    if (v < 0 || v >= static_cast<long long>(opplan::Id<Tag>::kInvalid)) {
      throw index_error("id " + std::to_string(v) + " is negative or too large");
    }
    value = opplan::Id<Tag>(static_cast<typename opplan::Id<Tag>::value_type>(v));
    return true;
  }
  static handle cast(opplan::Id<Tag> id, return_value_policy, handle) {
    if (!id.valid()) return none().release();
    return PyLong_FromUnsignedLong(id.value());
  }
};
}  // namespace pybind11::detail

namespace opplan::python {

void bind_errors(py::module_& m);
void bind_graph(py::module_& m);
void bind_cluster(py::module_& m);
void bind_cost_model(py::module_& m);
void bind_schedule(py::module_& m);
void bind_pipeline(py::module_& m);
void bind_planning(py::module_& m);
void bind_training(py::module_& m);  // before bind_cost_model: its options name Optimizer
void bind_evaluate(py::module_& m);

// Raises the opplan exception that matches the status code (opplan.Error and its subclasses),
// carrying the status message and `code` ("invalid argument", ...).
[[noreturn]] void raise_status(const Status& status);
inline void check(const Status& status) {
  if (!status.ok()) raise_status(status);
}
template <typename T>
T unwrap(Result<T>&& result) {
  if (!result.ok()) raise_status(result.status());
  return std::move(result).value();
}

// Aggregates get a constructor taking any of their fields as keywords: Op(name="x", kind="matmul").
// An unknown keyword is a TypeError naming it.
template <typename T, typename Class>
void def_kwargs_init(Class& cls) {
  cls.def(py::init([](const py::kwargs& kwargs) {
            T value{};
            py::object self = py::cast(&value, py::return_value_policy::reference);
            for (auto item : kwargs) {
              const std::string key = py::str(item.first);
              if (!py::hasattr(py::type::of(self), key.c_str()) || key.rfind("_", 0) == 0) {
                throw py::type_error(std::string(py::str(py::type::of(self).attr("__name__"))) +
                                     "() got an unexpected keyword argument '" + key + "'");
              }
              py::setattr(self, key.c_str(), item.second);
            }
            return value;
          }),
          "Every field may be given as a keyword; the others keep their defaults.");
}

// The one enum of the API without a to_string().
inline const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::kNever: return "never";
    case Recompute::kAlways: return "always";
    case Recompute::kAuto: return "auto";
  }
  return "?";
}

// Python enums that also take their name: `strategy="hierarchical"` as well as
// `strategy=PlanStrategy.HIERARCHICAL`. `parse` maps a name to the value.
template <typename E, typename Parse>
py::enum_<E> def_enum(py::module_& m, const char* name, const char* doc, Parse parse) {
  py::enum_<E> e(m, name, doc);
  e.def(py::init([parse, name](const std::string& text) {
          std::optional<E> v = parse(text);
          if (!v) throw py::value_error("unknown " + std::string(name) + " '" + text + "'");
          return *v;
        }),
        py::arg("name"));
  // Replaces enum_'s own __str__ ("Phase.FORWARD") with the library's name ("forward").
  e.attr("__str__") = py::cpp_function([](E v) { return std::string(to_string(v)); }, py::name("__str__"),
                                       py::is_method(e));
  py::implicitly_convertible<std::string, E>();
  return e;
}

// ---- cost models written in Python -------------------------------------------------------------

// A Python override that raises must not unwind through the planner (which may be inside GLPK):
// the trampoline keeps the first exception, asks the running search to stop, answers the planner
// with a harmless value from then on, and the binding rethrows the exception once the library
// call has returned.
class PythonErrorSlot {
 public:
  virtual ~PythonErrorSlot() = default;
  void record(std::exception_ptr error) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::move(error);
    failed_.store(true);
    if (std::atomic<bool>* stop = stop_.load()) stop->store(true);
  }
  bool failed() const { return failed_.load(); }
  // Rethrows the recorded exception (and forgets it, so the model can be used again).
  void rethrow_if_failed() const {
    std::exception_ptr error;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error = std::exchange(error_, nullptr);
      failed_.store(false);
    }
    if (error) std::rethrow_exception(error);
  }
  // The stop flag of the search that runs now (nullptr between searches).
  void set_stop(std::atomic<bool>* stop) const { stop_.store(stop); }

 private:
  mutable std::mutex mutex_;
  mutable std::exception_ptr error_;
  mutable std::atomic<bool> failed_{false};
  mutable std::atomic<std::atomic<bool>*> stop_{nullptr};
};

// Runs `fn` with the model's error slot pointed at `stop`, then rethrows what a Python override
// raised meanwhile.
template <typename F>
auto with_cost_model(const CostModel* model, std::atomic<bool>* stop, F&& fn) {
  const auto* slot = dynamic_cast<const PythonErrorSlot*>(model);
  if (slot) {
    slot->rethrow_if_failed();  // clears an old error left by an aborted call
    slot->set_stop(stop);
  }
  struct Reset {
    const PythonErrorSlot* slot;
    ~Reset() {
      if (slot) slot->set_stop(nullptr);
    }
  } reset{slot};
  auto result = fn();
  if (slot) slot->rethrow_if_failed();
  return result;
}

}  // namespace opplan::python
