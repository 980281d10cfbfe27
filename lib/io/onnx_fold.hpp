// Constant folding of an ONNX model's shape arithmetic (lib/io/onnx_import.cpp's helper).
//
// torch.onnx.export writes `x.size()`-based code as Shape -> Gather -> Div -> Slice chains. ONNX's
// shape inference (with data propagation) cannot see through all of them (Div, for one), so the
// shapes after such a chain stay unknown, and the ops there would get no FLOPs: ShuffleNet-V2's
// `chunk` left 39 of its 52 convolutions at zero. Folding evaluates those chains on the shapes
// inferred so far and replaces them by integer initializers; shape inference then runs again.
#pragma once

#if OPPLAN_HAVE_ONNX
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <vector>

#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE
namespace onnx_detail {

// The values of a small integer tensor (INT64, INT32 or BOOL as 0 / 1; at most 4,096 elements,
// each within +-2^52), or nullopt for anything else or a tensor whose data does not match its dims.
std::optional<std::vector<std::int64_t>> integer_values(const onnx::TensorProto& tensor);

// Replaces every node whose outputs can be computed from integer constants and known shapes
// (Constant, Shape, Size, Gather, Squeeze, Unsqueeze, Concat, Slice, Add, Sub, Mul, Div, Cast to
// an integer, Identity, ConstantOfShape, Equal, Where; small tensors only) by initializers holding the values,
// keeping the order of the rest. Graph outputs are never folded. Returns the number of nodes folded.
int fold_shape_arithmetic(onnx::ModelProto& model);

}  // namespace onnx_detail
OPPLAN_END_NAMESPACE
#endif
