// ProfiledCostModel: measured op times and collective tables over the analytic model
// (profiled_cost_model.hpp, docs/profiles.md).
#include <opplan/profiled_cost_model.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

OPPLAN_BEGIN_NAMESPACE

namespace {

std::string signature(std::string_view kind, const std::vector<std::int64_t>& shape, DType dtype) {
  return fmt::format("{}|{}|{}", kind, fmt::join(shape, "x"), to_string(dtype));
}

struct Table {
  std::vector<std::pair<double, double>> points;  // (bytes, bus bandwidth), sorted by bytes

  double bandwidth(double bytes) const {
    if (bytes <= points.front().first) return points.front().second;
    if (bytes >= points.back().first) return points.back().second;
    auto hi = std::lower_bound(points.begin(), points.end(), bytes,
                               [](const auto& p, double b) { return p.first < b; });
    auto lo = hi - 1;
    const double t = (std::log(bytes) - std::log(lo->first)) / (std::log(hi->first) - std::log(lo->first));
    return lo->second + t * (hi->second - lo->second);
  }
};

}  // namespace

struct ProfiledCostModel::Impl {
  AnalyticCostModel fallback;
  // (device model, key, phase) -> seconds; key is "name:<op name>" or "sig:<signature>".
  std::map<std::tuple<std::string, std::string, int>, double> ops;
  // (collective, devices, nodes) -> table.
  std::map<std::tuple<int, int, int>, Table> collectives;

  explicit Impl(const AnalyticCostModel::Options& o) : fallback(o) {}

  const double* find(const Op& op, Phase phase, const std::string& model) const {
    const int ph = static_cast<int>(phase);
    for (const std::string& key : {"name:" + op.name, "sig:" + signature(op.kind, op.shape, op.dtype)})
      for (const std::string& device : {model, std::string()}) {
        auto it = ops.find({device, key, ph});
        if (it != ops.end()) return &it->second;
      }
    return nullptr;
  }
};

ProfiledCostModel::ProfiledCostModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProfiledCostModel::ProfiledCostModel(const ProfiledCostModel& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
ProfiledCostModel::ProfiledCostModel(ProfiledCostModel&& other) noexcept = default;
ProfiledCostModel& ProfiledCostModel::operator=(ProfiledCostModel other) noexcept {
  impl_ = std::move(other.impl_);
  return *this;
}
ProfiledCostModel::~ProfiledCostModel() = default;

std::size_t ProfiledCostModel::num_op_entries() const { return impl_->ops.size(); }
std::size_t ProfiledCostModel::num_collective_tables() const { return impl_->collectives.size(); }

Result<ProfiledCostModel> ProfiledCostModel::FromJson(std::string_view text, std::string_view source,
                                                      const AnalyticCostModel::Options& fallback) {
  std::string error;
  if (!fallback.IsValid(&error)) return Status(StatusCode::kInvalidArgument, "fallback cost model: " + error);
  auto bad = [&](const std::string& path, const std::string& what) {
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: {}: {}", source, path, what));
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return Status(StatusCode::kInvalidArgument, fmt::format("{}: malformed JSON: {}", source, e.what()));
  }
  if (!j.is_object()) return bad("/", "a profile is a JSON object");
  if (!j.contains("format") || j["format"] != "opplan.profile")
    return bad("/format", "must be \"opplan.profile\"");
  if (!j.contains("version") || j["version"] != 1) return bad("/version", "must be 1");
  for (const auto& [key, value] : j.items())
    if (key != "format" && key != "version" && key != "ops" && key != "collectives" && key.rfind("x-", 0) != 0)
      return bad("/" + key, "unknown field (known: format, version, ops, collectives)");
  auto impl = std::make_unique<Impl>(fallback);
  auto positive = [](const nlohmann::json& v) { return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0; };
  if (j.contains("ops")) {
    if (!j["ops"].is_array()) return bad("/ops", "must be an array");
    for (std::size_t i = 0; i < j["ops"].size(); ++i) {
      const auto& e = j["ops"][i];
      const std::string path = fmt::format("/ops/{}", i);
      if (!e.is_object()) return bad(path, "must be an object");
      for (const auto& [key, value] : e.items())
        if (key != "device" && key != "name" && key != "kind" && key != "shape" && key != "dtype" && key != "phase" &&
            key != "seconds" && key.rfind("x-", 0) != 0)
          return bad(path + "/" + key, "unknown field (known: device, name, kind, shape, dtype, phase, seconds)");
      const std::string device = e.value("device", "");
      if (!e.contains("phase") || !e["phase"].is_string() || !parse_phase(e["phase"].get<std::string>()))
        return bad(path + "/phase", "must be forward, input_grad or weight_grad");
      const Phase phase = *parse_phase(e["phase"].get<std::string>());
      if (!e.contains("seconds") || !positive(e["seconds"])) return bad(path + "/seconds", "must be a positive number");
      std::string key;
      if (e.contains("name")) {
        if (!e["name"].is_string() || e["name"].get<std::string>().empty()) return bad(path + "/name", "must be a non-empty string");
        if (e.contains("kind") || e.contains("shape")) return bad(path, "give a name or a signature (kind, shape, dtype), not both");
        key = "name:" + e["name"].get<std::string>();
      } else {
        if (!e.contains("kind") || !e["kind"].is_string()) return bad(path + "/kind", "a signature needs the op kind");
        std::vector<std::int64_t> shape;
        if (e.contains("shape")) {
          if (!e["shape"].is_array()) return bad(path + "/shape", "must be an array of sizes");
          for (const auto& d : e["shape"]) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0) return bad(path + "/shape", "sizes must be integers >= 0");
            shape.push_back(d.get<std::int64_t>());
          }
        }
        DType dtype = DType::kF32;
        if (e.contains("dtype")) {
          auto d = e["dtype"].is_string() ? parse_dtype(e["dtype"].get<std::string>()) : std::nullopt;
          if (!d) return bad(path + "/dtype", "unknown dtype (f32, f16, bf16, f8, ...)");
          dtype = *d;
        }
        key = "sig:" + signature(e["kind"].get<std::string>(), shape, dtype);
      }
      impl->ops[{device, key, static_cast<int>(phase)}] = e["seconds"].get<double>();
    }
  }
  if (j.contains("collectives")) {
    if (!j["collectives"].is_array()) return bad("/collectives", "must be an array");
    for (std::size_t i = 0; i < j["collectives"].size(); ++i) {
      const auto& e = j["collectives"][i];
      const std::string path = fmt::format("/collectives/{}", i);
      if (!e.is_object()) return bad(path, "must be an object");
      auto c = e.contains("collective") && e["collective"].is_string()
                   ? parse_collective(e["collective"].get<std::string>()) : std::nullopt;
      if (!c) return bad(path + "/collective", "must be all_reduce, all_gather, reduce_scatter or all_to_all");
      if (!e.contains("devices") || !e["devices"].is_number_integer() || e["devices"].get<int>() < 2)
        return bad(path + "/devices", "must be an integer >= 2");
      const int nodes = e.contains("nodes") ? (e["nodes"].is_number_integer() ? e["nodes"].get<int>() : 0) : 1;
      if (nodes < 1) return bad(path + "/nodes", "must be an integer >= 1");
      if (!e.contains("bus_bandwidth") || !e["bus_bandwidth"].is_array() || e["bus_bandwidth"].empty())
        return bad(path + "/bus_bandwidth", "must be a non-empty array of [bytes, bytes per second] pairs");
      Table table;
      for (std::size_t k = 0; k < e["bus_bandwidth"].size(); ++k) {
        const auto& p = e["bus_bandwidth"][k];
        if (!p.is_array() || p.size() != 2 || !positive(p[0]) || !positive(p[1]))
          return bad(fmt::format("{}/bus_bandwidth/{}", path, k), "must be [bytes, bytes per second], both positive");
        table.points.emplace_back(p[0].get<double>(), p[1].get<double>());
      }
      std::sort(table.points.begin(), table.points.end());
      for (std::size_t k = 1; k < table.points.size(); ++k)
        if (table.points[k].first == table.points[k - 1].first)
          return bad(path + "/bus_bandwidth", fmt::format("size {} is given twice", table.points[k].first));
      impl->collectives[{static_cast<int>(*c), e["devices"].get<int>(), nodes}] = std::move(table);
    }
  }
  return ProfiledCostModel(std::move(impl));
}

Result<ProfiledCostModel> ProfiledCostModel::FromFile(const std::string& path, const AnalyticCostModel::Options& fallback) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, fmt::format("{}: cannot open the profile", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromJson(buffer.str(), path, fallback);
}

double ProfiledCostModel::op_time(const Op& op, Phase phase, const Device& device) const {
  if (op.cost(phase).seconds) return *op.cost(phase).seconds;
  if (const double* s = impl_->find(op, phase, device.model)) return *s;
  return impl_->fallback.op_time(op, phase, device);
}

double ProfiledCostModel::sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                                          int num_shards) const {
  if (num_shards < 1 || mesh.devices.empty() || op.cost(phase).seconds)
    return impl_->fallback.sharded_op_time(op, phase, cluster, mesh, num_shards);
  // A measured whole op splits evenly over its shards; any device without a measurement falls back.
  double slowest = 0;
  for (DeviceId id : mesh.devices) {
    const Device& d = cluster.device(id);
    const double* s = impl_->find(op, phase, d.model);
    if (!s) return impl_->fallback.sharded_op_time(op, phase, cluster, mesh, num_shards);
    slowest = std::max(slowest, *s / num_shards);
  }
  return slowest;
}

double ProfiledCostModel::transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const {
  return impl_->fallback.transfer_time(cluster, src, dst, bytes);
}

double ProfiledCostModel::collective_time(const Cluster& cluster, Collective collective,
                                          const std::vector<DeviceId>& group, double bytes) const {
  // The analytic model checks the arguments (and answers when nothing was measured).
  const double analytic = impl_->fallback.collective_time(cluster, collective, group, bytes);
  if (group.size() < 2 || bytes == 0) return analytic;
  std::set<int> nodes;
  for (DeviceId id : group) nodes.insert(cluster.device(id).node);
  auto it = impl_->collectives.find({static_cast<int>(collective), static_cast<int>(group.size()),
                                     static_cast<int>(nodes.size())});
  if (it == impl_->collectives.end()) return analytic;
  const double n = static_cast<double>(group.size());
  const double factor = collective == Collective::kAllReduce ? 2 * (n - 1) / n : (n - 1) / n;
  return factor * bytes / it->second.bandwidth(bytes);
}

OpMemory ProfiledCostModel::op_memory(const Op& op) const { return impl_->fallback.op_memory(op); }

OPPLAN_END_NAMESPACE
