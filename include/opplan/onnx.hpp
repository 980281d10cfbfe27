// Importing ONNX models as opplan graphs (docs/onnx-import.md).
//
// read_onnx_graph() runs ONNX shape inference on the model and turns every node into an op with the
// FLOP, byte, parameter and activation rules of the PyTorch exporter (docs/torch-export.md):
// initializers become the parameters of the first node that reads them, graph inputs that are not
// initializers become ops of kind "input", and edges carry the bytes of the inferred tensor shapes.
// The importer is optional: a build without ONNX (cmake -DOPPLAN_WITH_ONNX=OFF, or libonnx-dev not
// found) still has these functions, and read_onnx_graph() then fails with kUnsupported.
#pragma once

#include <string>

#include <opplan/graph.hpp>
#include <opplan/status.hpp>
#include <opplan/version.hpp>

OPPLAN_BEGIN_NAMESPACE

// True when this build of opplan can read ONNX files.
OPPLAN_EXPORT bool onnx_import_available();

// Reads an ONNX model (.onnx, protobuf). Fails with kIoError when the file cannot be read,
// kParseError when it is not an ONNX model, kInvalidArgument when shape inference fails or the
// graph does not validate, kUnsupported when opplan was built without ONNX; messages name the file
// and the node.
OPPLAN_EXPORT Result<Graph> read_onnx_graph(const std::string& path);

OPPLAN_END_NAMESPACE
