// Cluster, Device, Link, Mesh and the presets; cluster files.
#include <sstream>

#include "bindings.hpp"

namespace opplan::python {

void bind_cluster(py::module_& m) {
  py::class_<Device> device(m, "Device", "One accelerator: peak FLOP/s, memory bytes, memory bandwidth (bytes/s).");
  def_kwargs_init<Device>(device);
  device.def_readwrite("name", &Device::name)
      .def_readwrite("model", &Device::model)
      .def_readwrite("node", &Device::node)
      .def_readwrite("peak_flops", &Device::peak_flops)
      .def_readwrite("memory_bytes", &Device::memory_bytes)
      .def_readwrite("memory_bandwidth", &Device::memory_bandwidth)
      .def(py::self == py::self)
      .def("__repr__", [](const Device& d) {
        std::ostringstream s;
        s << "Device(name='" << d.name << "', model='" << d.model << "', node=" << d.node
          << ", peak_flops=" << d.peak_flops << ", memory_bytes=" << d.memory_bytes << ")";
        return s.str();
      });

  py::class_<Link>(m, "Link", "alpha-beta link: sending B bytes takes alpha + beta * B seconds.")
      .def(py::init([](double alpha, double beta) { return Link{alpha, beta}; }), py::arg("alpha") = 0.0,
           py::arg("beta") = 0.0)
      .def_readwrite("alpha", &Link::alpha, "Latency, seconds.")
      .def_readwrite("beta", &Link::beta, "Seconds per byte.")
      .def("time", &Link::time, py::arg("bytes"))
      .def(py::self == py::self)
      .def("__repr__", [](const Link& l) {
        std::ostringstream s;
        s << "Link(alpha=" << l.alpha << ", beta=" << l.beta << ")";
        return s.str();
      });

  py::class_<LinkOverride>(m, "LinkOverride", "The link between one pair of devices (both directions).")
      .def_readonly("a", &LinkOverride::a)
      .def_readonly("b", &LinkOverride::b)
      .def_readonly("link", &LinkOverride::link);

  py::class_<Mesh> mesh(m, "Mesh", "A logical rows x cols view of devices, row-major (device (r, c) = devices[r*cols+c]).");
  def_kwargs_init<Mesh>(mesh);
  mesh.def_readwrite("name", &Mesh::name)
      .def_readwrite("rows", &Mesh::rows)
      .def_readwrite("cols", &Mesh::cols)
      .def_readwrite("devices", &Mesh::devices)
      .def("at", &Mesh::at, py::arg("row"), py::arg("col"))
      .def("axis_group", &Mesh::axis_group, py::arg("axis"), py::arg("row"), py::arg("col"))
      .def(py::self == py::self)
      .def("__repr__", [](const Mesh& x) {
        std::ostringstream s;
        s << "Mesh(name='" << x.name << "', rows=" << x.rows << ", cols=" << x.cols << ")";
        return s.str();
      });

  py::class_<Cluster>(m, "Cluster",
                      "Devices, nodes, alpha-beta links and logical meshes. Devices and meshes are numbered in "
                      "insertion order; Cluster.devices is a list of copies (change one with set_device()).")
      .def(py::init<>())
      .def(py::init<std::string>(), py::arg("name"))
      .def_property("name", &Cluster::name, &Cluster::set_name)
      .def("add_device", &Cluster::add_device, py::arg("device"), "Adds a device; returns its id.")
      .def_property_readonly("num_devices", &Cluster::num_devices)
      .def("__len__", &Cluster::num_devices)
      .def("device", &Cluster::device, py::arg("id"))
      .def(
          "set_device", [](Cluster& c, DeviceId id, const Device& d) { c.mutable_device(id) = d; }, py::arg("id"),
          py::arg("device"))
      .def_property_readonly("devices",
                             [](const Cluster& c) {
                               std::vector<Device> v;
                               for (DeviceId id : c.devices()) v.push_back(c.device(id));
                               return v;
                             })
      .def("find_device", &Cluster::find_device, py::arg("name"))
      .def_property_readonly("num_nodes", &Cluster::num_nodes)
      .def("node_devices", &Cluster::node_devices, py::arg("node"))
      .def_property("intra_node_link", &Cluster::intra_node_link, &Cluster::set_intra_node_link)
      .def_property("inter_node_link", &Cluster::inter_node_link, &Cluster::set_inter_node_link)
      .def("set_link", &Cluster::set_link, py::arg("a"), py::arg("b"), py::arg("link"))
      .def_property_readonly("link_overrides", &Cluster::link_overrides)
      .def("link", &Cluster::link, py::arg("a"), py::arg("b"), "The link used from device a to device b.")
      .def("add_mesh", &Cluster::add_mesh, py::arg("mesh"))
      .def_property_readonly("num_meshes", &Cluster::num_meshes)
      .def("mesh", &Cluster::mesh, py::arg("id"))
      .def_property_readonly("meshes",
                             [](const Cluster& c) {
                               std::vector<Mesh> v;
                               for (MeshId id : c.meshes()) v.push_back(c.mesh(id));
                               return v;
                             })
      .def("find_mesh", &Cluster::find_mesh, py::arg("name"))
      .def("mesh_axis_link", &Cluster::mesh_axis_link, py::arg("mesh"), py::arg("axis"))
      .def(
          "validate", [](const Cluster& c) { check(c.validate()); },
          "Raises opplan.InvalidArgumentError listing every problem when the cluster is not valid.")
      .def_static("dgx_a100", &Cluster::dgx_a100, py::arg("nodes") = 1, "Nodes of 8 A100-SXM4-80GB.")
      .def_static("dgx_h100", &Cluster::dgx_h100, py::arg("nodes") = 1, "Nodes of 8 H100-SXM5-80GB.")
      .def_static("aws_p3_16xlarge", &Cluster::aws_p3_16xlarge, py::arg("nodes") = 1, "Nodes of 8 V100-SXM2-16GB.")
      .def_static(
          "preset", [](const std::string& name) { return unwrap(Cluster::preset(name)); }, py::arg("name"),
          "\"dgx-a100\", \"dgx-h100\", \"p3.16xlarge\", with an optional node count suffix \"x4\".")
      .def_static("preset_names", &Cluster::preset_names)
      .def(
          "to_json", [](const Cluster& c, int indent) { return cluster_to_json(c, indent); }, py::arg("indent") = 2)
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) { return unwrap(parse_cluster_json(text, source)); },
          py::arg("text"), py::arg("source") = "<string>")
      .def("__copy__", [](const Cluster& c) { return Cluster(c); })
      .def("__deepcopy__", [](const Cluster& c, py::dict) { return Cluster(c); }, py::arg("memo"))
      .def(py::pickle([](const Cluster& c) { return cluster_to_json(c, -1); },
                      [](const std::string& text) { return unwrap(parse_cluster_json(text, "<pickle>")); }))
      .def("__repr__", [](const Cluster& c) {
        std::ostringstream s;
        s << "<opplan.Cluster '" << c.name() << "': " << c.num_devices() << " devices, " << c.num_nodes() << " nodes>";
        return s.str();
      });

  m.def(
      "read_cluster_json", [](const std::string& path) { return unwrap(read_cluster_json(path)); }, py::arg("path"));
  m.def(
      "write_cluster_json",
      [](const Cluster& c, const std::string& path, int indent) { check(write_cluster_json(c, path, indent)); },
      py::arg("cluster"), py::arg("path"), py::arg("indent") = 2);
  m.def(
      "make_mesh", [](const Cluster& c, int rows, int cols) { return unwrap(make_mesh(c, rows, cols)); },
      py::arg("cluster"), py::arg("rows"), py::arg("cols"), "The first rows*cols devices as a row-major mesh.");
}

}  // namespace opplan::python
