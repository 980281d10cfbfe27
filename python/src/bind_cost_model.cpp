// CostModel (subclassable in Python), AnalyticCostModel and ProfiledCostModel.
//
// Planners call the cost model on the thread that runs them, with the GIL released. A Python
// override therefore takes the GIL for each call (the trampoline below), and an exception it
// raises is kept (PythonErrorSlot) instead of unwinding through the planner: the search is asked
// to stop, later calls get a harmless answer without calling Python, and the exception reaches
// the caller when the library call returns.
#include "bindings.hpp"

namespace opplan::python {
namespace {

// Arguments for a Python override: small values are copied (the override may keep them); the
// cluster is passed by reference (copying it per call would cost more than the call) and is only
// valid during the call.
template <typename T>
py::object copy(const T& value) {
  return py::cast(value, py::return_value_policy::copy);
}
template <typename T>
py::object ref(const T& value) {
  return py::cast(&value, py::return_value_policy::reference);
}

// Calls the Python override `name` of `self`, or `fallback()` when there is none (the C++ base's
// method; for a pure one, an error saying the subclass must implement it).
// `arguments()` builds the override's argument tuple; it runs with the GIL held.
template <typename R, typename Base, typename Fallback, typename Safe, typename Arguments>
R call_python(const Base* self, const PythonErrorSlot& slot, const char* name, Fallback&& fallback, Safe&& safe,
              Arguments&& arguments) {
  if (slot.failed()) return safe();
  py::gil_scoped_acquire gil;
  try {
    py::function override = py::get_override(self, name);
    if (!override) return fallback();
    py::tuple args = arguments();
    py::object result = override(*args);
    return result.template cast<R>();
  } catch (py::error_already_set&) {
    slot.record(std::current_exception());
  } catch (py::cast_error& e) {
    try {
      throw py::type_error(std::string("CostModel.") + name + " returned a value of the wrong type: " + e.what());
    } catch (...) {
      slot.record(std::current_exception());
    }
  } catch (...) {
    slot.record(std::current_exception());
  }
  return safe();
}

[[noreturn]] void not_implemented(const char* name) {
  throw py::value_error(std::string("CostModel subclass does not implement ") + name +
                        "(): subclass AnalyticCostModel to override only some methods");
}

template <typename Base>
class PyCostModelT : public Base, public PythonErrorSlot {
 public:
  using Base::Base;

  double op_time(const Op& op, Phase phase, const Device& device) const override {
    return call_python<double>(
        static_cast<const Base*>(this), *this, "op_time",
        [&]() -> double {
          if constexpr (std::is_same_v<Base, CostModel>) {
            not_implemented("op_time");
          } else {
            return Base::op_time(op, phase, device);
          }
        },
        [] { return 0.0; }, [&] { return py::make_tuple(copy(op), phase, copy(device)); });
  }
  double sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                         int num_shards) const override {
    return call_python<double>(
        static_cast<const Base*>(this), *this, "sharded_op_time",
        [&]() -> double {
          if constexpr (std::is_same_v<Base, CostModel>) {
            not_implemented("sharded_op_time");
          } else {
            return Base::sharded_op_time(op, phase, cluster, mesh, num_shards);
          }
        },
        [] { return 0.0; },
        [&] { return py::make_tuple(copy(op), phase, ref(cluster), copy(mesh), num_shards); });
  }
  double transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const override {
    return call_python<double>(
        static_cast<const Base*>(this), *this, "transfer_time",
        [&]() -> double {
          if constexpr (std::is_same_v<Base, CostModel>) {
            not_implemented("transfer_time");
          } else {
            return Base::transfer_time(cluster, src, dst, bytes);
          }
        },
        [] { return 0.0; }, [&] { return py::make_tuple(ref(cluster), src, dst, bytes); });
  }
  double collective_time(const Cluster& cluster, Collective collective, const std::vector<DeviceId>& group,
                         double bytes) const override {
    return call_python<double>(
        static_cast<const Base*>(this), *this, "collective_time",
        [&]() -> double {
          if constexpr (std::is_same_v<Base, CostModel>) {
            not_implemented("collective_time");
          } else {
            return Base::collective_time(cluster, collective, group, bytes);
          }
        },
        [] { return 0.0; }, [&] { return py::make_tuple(ref(cluster), collective, group, bytes); });
  }
  OpMemory op_memory(const Op& op) const override {
    return call_python<OpMemory>(
        static_cast<const Base*>(this), *this, "op_memory",
        [&]() -> OpMemory {
          if constexpr (std::is_same_v<Base, CostModel>) {
            not_implemented("op_memory");
          } else {
            return Base::op_memory(op);
          }
        },
        [] { return OpMemory{}; }, [&] { return py::make_tuple(copy(op)); });
  }
};

// CostModel is abstract; the trampoline needs a concrete base to derive from.
using PyCostModel = PyCostModelT<CostModel>;
using PyAnalyticCostModel = PyCostModelT<AnalyticCostModel>;

}  // namespace

void bind_cost_model(py::module_& m) {
  def_enum<Collective>(m, "Collective", "A collective operation.", [](const std::string& s) { return parse_collective(s); })
      .value("ALL_REDUCE", Collective::kAllReduce)
      .value("ALL_GATHER", Collective::kAllGather)
      .value("REDUCE_SCATTER", Collective::kReduceScatter)
      .value("ALL_TO_ALL", Collective::kAllToAll);

  py::class_<OpMemory>(m, "OpMemory", "Memory an op holds on its device: parameters (with optimizer state) and activations.")
      .def(py::init([](double parameters, double activations) { return OpMemory{parameters, activations}; }),
           py::arg("parameters") = 0.0, py::arg("activations") = 0.0)
      .def_readwrite("parameters", &OpMemory::parameters)
      .def_readwrite("activations", &OpMemory::activations)
      .def("total", &OpMemory::total);

  py::class_<CostModel, PyCostModel>(
      m, "CostModel",
      "How long things take and how much memory they use; every planner asks only the cost model.\n\n"
      "Subclass it in Python and implement every method (op_time, sharded_op_time, transfer_time, "
      "collective_time, op_memory), or subclass AnalyticCostModel and override only some. Call "
      "super().__init__(). Methods are called from the planning thread with the GIL held; the op, device "
      "and mesh passed in are copies, the cluster is valid only during the call. An exception raised by a method stops the search and "
      "is raised by the call that planned.")
      .def(py::init<>())
      .def("op_time", &CostModel::op_time, py::arg("op"), py::arg("phase"), py::arg("device"),
           "Seconds for one phase of one op (one micro-batch) on one device.")
      .def("sharded_op_time", &CostModel::sharded_op_time, py::arg("op"), py::arg("phase"), py::arg("cluster"),
           py::arg("mesh"), py::arg("num_shards"),
           "Seconds for one phase of an op split evenly into num_shards pieces on the mesh.")
      .def("transfer_time", &CostModel::transfer_time, py::arg("cluster"), py::arg("src"), py::arg("dst"),
           py::arg("bytes"), "Seconds to send bytes from device src to device dst.")
      .def("collective_time", &CostModel::collective_time, py::arg("cluster"), py::arg("collective"),
           py::arg("group"), py::arg("bytes"), "Seconds for a collective over the device ids in group.")
      .def("op_memory", &CostModel::op_memory, py::arg("op"), "Memory the op holds on the device that runs it.");

  py::class_<AnalyticCostModel::Options> options(m, "AnalyticCostModelOptions", "Options of AnalyticCostModel.");
  def_kwargs_init<AnalyticCostModel::Options>(options);
  options.def_readwrite("compute_efficiency", &AnalyticCostModel::Options::compute_efficiency)
      .def_readwrite("memory_efficiency", &AnalyticCostModel::Options::memory_efficiency)
      .def_readwrite("launch_overhead", &AnalyticCostModel::Options::launch_overhead)
      .def_readwrite("param_memory_factor", &AnalyticCostModel::Options::param_memory_factor)
      .def_readwrite("alpa_all_to_all_penalty", &AnalyticCostModel::Options::alpa_all_to_all_penalty)
      .def_readwrite("efficiency_half_dim", &AnalyticCostModel::Options::efficiency_half_dim)
      .def_readwrite("device_efficiency", &AnalyticCostModel::Options::device_efficiency)
      .def_readwrite("allow_tf32", &AnalyticCostModel::Options::allow_tf32)
      .def_readwrite("optimizer", &AnalyticCostModel::Options::optimizer)
      .def_readwrite("custom_bytes_per_parameter", &AnalyticCostModel::Options::custom_bytes_per_parameter)
      .def_readwrite("nvlink_bus_efficiency", &AnalyticCostModel::Options::nvlink_bus_efficiency)
      .def_readwrite("network_bus_efficiency", &AnalyticCostModel::Options::network_bus_efficiency)
      .def_readwrite("dtype_peaks", &AnalyticCostModel::Options::dtype_peaks)
      .def_static("alpa", &AnalyticCostModel::Options::Alpa, "The model of Alpa's paper (cost_model.hpp).");

  py::class_<AnalyticCostModel, CostModel, PyAnalyticCostModel>(
      m, "AnalyticCostModel",
      "The default model: dtype-aware roofline with shape-dependent matmul efficiency, NCCL-like collectives, "
      "training memory from the optimizer (calibrated: docs/calibration.md). Subclass it to override only what you "
      "measure.")
      .def(py::init<>())
      .def(py::init([](const AnalyticCostModel::Options& o) {
             std::string error;
             if (!o.IsValid(&error)) throw py::value_error(error);
             return new PyAnalyticCostModel(o);
           }),
           py::arg("options"))
      .def(py::init([](const py::kwargs& kwargs) {
             AnalyticCostModel::Options o;
             py::object self = py::cast(&o, py::return_value_policy::reference);
             for (auto item : kwargs) {
               const std::string key = py::str(item.first);
               if (!py::hasattr(self, key.c_str()))
                 throw py::type_error("AnalyticCostModel() got an unexpected keyword argument '" + key + "'");
               py::setattr(self, key.c_str(), item.second);
             }
             std::string error;
             if (!o.IsValid(&error)) throw py::value_error(error);
             return new PyAnalyticCostModel(o);
           }),
           "AnalyticCostModel(**fields of AnalyticCostModelOptions)")
      .def_property_readonly("options", &AnalyticCostModel::options);

  // Measured op times and collective bandwidths (docs/profiles.md); the analytic model for the rest.
  // Not subclassable: override an AnalyticCostModel in Python instead.
  py::class_<ProfiledCostModel, CostModel>(
      m, "ProfiledCostModel",
      "Measured op times and collective bandwidths (an \"opplan.profile\" file, docs/profiles.md), with the "
      "analytic model for whatever was not measured. Build it with from_json() or from_file().")
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source, std::optional<AnalyticCostModel::Options> fallback) {
            return unwrap(ProfiledCostModel::FromJson(text, source, fallback.value_or(AnalyticCostModel::Options{})));
          },
          py::arg("text"), py::arg("source") = "<string>", py::arg("fallback") = py::none(),
          "Reads a profile from JSON text; errors name the source and the JSON path (/ops/3/seconds). fallback: the "
          "options of the analytic model used for what the profile does not cover.")
      .def_static(
          "from_file",
          [](const std::string& path, std::optional<AnalyticCostModel::Options> fallback) {
            return unwrap(ProfiledCostModel::FromFile(path, fallback.value_or(AnalyticCostModel::Options{})));
          },
          py::arg("path"), py::arg("fallback") = py::none(), "Reads a profile file.")
      .def_property_readonly("num_op_entries", &ProfiledCostModel::num_op_entries)
      .def_property_readonly("num_collective_tables", &ProfiledCostModel::num_collective_tables);
}

}  // namespace opplan::python
