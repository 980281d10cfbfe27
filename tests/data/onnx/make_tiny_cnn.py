#!/usr/bin/env python3
"""Writes tiny_cnn.onnx, the model of tests/io/onnx_import_test.cpp (run with /usr/bin/python3 and
python3-onnx installed; the output is deterministic).

    x [2, 3, 8, 8]
    conv   Conv 3 -> 8, 3x3, pad 1, bias      -> [2, 8, 8, 8]
    relu   Relu                               -> [2, 8, 8, 8]
    pool   MaxPool 2x2 stride 2               -> [2, 8, 4, 4]
    flat   Flatten                            -> [2, 128]
    fc     Gemm 128 -> 16, bias (B transposed)-> [2, 16]
    act    Sigmoid                            -> [2, 16]
    mix    MatMul by a 16 x 16 weight         -> [2, 16]
    res    Add(act, mix)                      -> [2, 16]
    prob   Softmax(axis -1)                   -> [2, 16]

No value_info is stored: the importer must run ONNX shape inference to know the inner shapes.

Also writes tied_matmul.onnx: x [4, 16] -> first = MatMul(x, w) -> act = Relu -> second =
MatMul(act, w), one 16 x 16 weight read by both (a tied weight).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    rng = np.random.default_rng(7)

    def weight(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    initializers = [
        weight("conv.weight", 8, 3, 3, 3), weight("conv.bias", 8),
        weight("fc.weight", 16, 128), weight("fc.bias", 16),
        weight("mix.weight", 16, 16),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["g"], name="fc", transB=1),
        helper.make_node("Sigmoid", ["g"], ["s"], name="act"),
        helper.make_node("MatMul", ["s", "mix.weight"], ["m"], name="mix"),
        helper.make_node("Add", ["s", "m"], ["a"], name="res"),
        helper.make_node("Softmax", ["a"], ["y"], name="prob", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tiny-cnn",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16])],
        initializer=initializers)
    save(graph, "tiny_cnn.onnx")

    tied = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="first"),
         helper.make_node("Relu", ["h"], ["r"], name="act"),
         helper.make_node("MatMul", ["r", "w"], ["y"], name="second")],
        "tied-matmul",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
        initializer=[weight("w", 16, 16)])
    save(tied, "tied_matmul.onnx")


def save(graph, file_name):
    model = helper.make_model(graph, producer_name="opplan-tests", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    onnx.save(model, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
