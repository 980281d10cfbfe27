// ProfiledCostModel: measured op times and measured collective bandwidths, with the analytic
// model for whatever was not measured. A framework profiles its kernels once per GPU type (and
// runs nccl-tests once per cluster) and plans with its own numbers.
//
// The profile format ("opplan.profile", version 1; docs/profiles.md, examples/profile.json):
//   {"format": "opplan.profile", "version": 1,
//    "ops": [{"device": "A100-SXM4-80GB", "name": "layer0.qkv", "phase": "forward", "seconds": 1.1e-3},
//            {"device": "A100-SXM4-80GB", "kind": "matmul", "shape": [1, 2048, 6144], "dtype": "f16",
//             "phase": "input_grad", "seconds": 1.2e-3}],
//    "collectives": [{"collective": "all_reduce", "devices": 8, "nodes": 1,
//                     "bus_bandwidth": [[1048576, 45.1e9], [1073741824, 231.6e9]]}]}
// An op entry names the op (exact name) or its signature (kind, output shape, dtype); "device" is
// Device::model ("" or absent: any device). A name beats a signature, a device model beats any.
// A collective entry is a table of message size (bytes) -> bus bandwidth (bytes/s), as
// nccl-tests prints (size, busbw), for groups of `devices` members on `nodes` nodes; between two
// sizes the bandwidth is interpolated on log(size), outside them the nearest size's is used.
// time = factor * bytes / busbw, factor = 2 (n-1)/n for all-reduce and (n-1)/n otherwise.
//
// Thread-safety: immutable after construction; const methods may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <opplan/cost_model.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

class OPPLAN_EXPORT ProfiledCostModel : public CostModel {
 public:
  // Reads a profile; errors name the source and the JSON path (/ops/3/seconds).
  static Result<ProfiledCostModel> FromJson(std::string_view text, std::string_view source = "<string>",
                                            const AnalyticCostModel::Options& fallback = {});
  static Result<ProfiledCostModel> FromFile(const std::string& path, const AnalyticCostModel::Options& fallback = {});

  ProfiledCostModel(const ProfiledCostModel& other);
  ProfiledCostModel(ProfiledCostModel&& other) noexcept;
  ProfiledCostModel& operator=(ProfiledCostModel other) noexcept;
  ~ProfiledCostModel() override;

  double op_time(const Op& op, Phase phase, const Device& device) const override;
  double sharded_op_time(const Op& op, Phase phase, const Cluster& cluster, const Mesh& mesh,
                         int num_shards) const override;
  double transfer_time(const Cluster& cluster, DeviceId src, DeviceId dst, double bytes) const override;
  double collective_time(const Cluster& cluster, Collective collective, const std::vector<DeviceId>& group,
                         double bytes) const override;
  OpMemory op_memory(const Op& op) const override;

  std::size_t num_op_entries() const;
  std::size_t num_collective_tables() const;

 private:
  struct Impl;
  explicit ProfiledCostModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

OPPLAN_END_NAMESPACE
