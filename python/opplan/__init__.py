"""opplan: plans how to run one deep-learning training iteration on a cluster.

Build a :class:`Graph` (or read one: :func:`read_graph`, :func:`zoo_model`, ``opplan.torch.export``),
pick a :class:`Cluster` (``Cluster.dgx_a100()``), and call :func:`plan`::

    import opplan
    graph = opplan.zoo_model("gpt3-350m")
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), micro_batches=8, time_limit=30)
    print(plan.brief_report())

The classes and functions are the C++ library's (``include/opplan``) with snake_case names; errors
the library reports as a Status are raised as :class:`Error` (and its subclasses) carrying the
message. ``opplan.torch`` turns PyTorch modules into graphs and plans them.
"""
from __future__ import annotations

import os as _os

from . import _opplan
from ._opplan import *  # noqa: F401,F403  (the bindings are the package's API)
from ._opplan import __version__  # noqa: F401

GRAPH_FORMATS = ("opplan graph JSON (.json)", "ONNX model (.onnx, protobuf)")


def _sniff(head: bytes) -> str:
    """'json', 'onnx' or '' from the first bytes of a file."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text or text.startswith((b"{", b"[")):  # the JSON reader says what is wrong with it
        return "json"
    # An ONNX model is a ModelProto whose first field is ir_version (field 1, varint): tag byte 0x08.
    if head[:1] == b"\x08":
        return "onnx"
    return ""


def read_graph(path: "str | _os.PathLike[str]") -> Graph:  # noqa: F405
    """Reads a graph file, recognised by its content: opplan's graph JSON or an ONNX model.

    Raises :class:`IoError` when the file cannot be read and :class:`ParseError` naming the accepted
    formats when it is neither."""
    path = _os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        err = IoError(f"{path}: cannot read: {e.strerror}")  # noqa: F405
        err.code = "io error"
        raise err from None
    kind = _sniff(head)
    if kind == "json":
        return read_graph_json(path)  # noqa: F405
    if kind == "onnx":
        return read_onnx_graph(path)  # noqa: F405
    err = ParseError(f"{path}: not a graph file: expected one of {', '.join(GRAPH_FORMATS)}")  # noqa: F405
    err.code = "parse error"
    raise err
