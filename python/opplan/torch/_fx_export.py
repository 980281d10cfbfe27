#!/usr/bin/env python3
"""The PyTorch exporter: a module traced into an opplan graph (docs/file-formats.md,
docs/torch-export.md). Pure Python (torch only), so that tools/torch_export/opplan_export.py can
load it without the compiled extension; ``opplan.torch.export`` wraps it and returns an
``opplan.Graph``.

Library (the graph as a dict ready for json.dump):

    from opplan.torch._fx_export import export_module
    doc = export_module(torchvision.models.resnet50(), (torch.randn(1, 3, 224, 224),), name="resnet50")

Command line (``main``; run with the system Python that has torch: /usr/bin/python3):

    opplan_export.py --model resnet50 [--batch N] [--output FILE]
    opplan_export.py --module pkg.mod:factory --input-shape 8,3,224,224 [--output FILE]
    opplan_export.py --module path/to/file.py:factory [--output FILE]

How the graph is made
---------------------
1. The module is traced with torch.fx (a ``Tracer`` subclass, see ``_ShapeTracer``). Control flow
   that depends only on shapes and other static tensor metadata (``x.dim() == 3``,
   ``src.size(1) != tgt.size(1)``, ``x.is_cuda``) is decided with the example inputs, which are
   evaluated on demand. Where tracing fails inside a submodule -- control flow on tensor *values*
   (``if x.sum() > 0``), or Python the tracer cannot follow -- that submodule becomes one op whose
   FLOPs are counted at the aten level while it runs on the real example inputs (``_aten_cost``),
   with a warning; the trace then starts again. In the root's own forward the export fails naming
   the fx node, the module path and the source line.
   Leaf modules are the torch.nn modules without children, plus ``nn.MultiheadAttention``;
   composite torch.nn modules (``nn.Transformer``, its encoder and decoder layers, Sequential) are
   traced through.
2. ``torch.fx.passes.shape_prop.ShapeProp`` runs the traced graph on the example inputs (in eval
   mode, without gradients) and records each node's output shape and dtype.
3. Every fx node that produces a tensor becomes one op named after the fx node. ``placeholder``
   nodes (the forward's arguments) become ops of kind ``input`` with no cost, so a graph input's
   size is visible on its out-edges; arguments left at ``None`` are dropped. ``get_attr`` nodes are
   not ops: a parameter they fetch is owned by the first op that reads it. Nodes that produce no
   tensor (``x.size()``, ``x.dim() == 3``, arithmetic on sizes) are dropped with their edges. The
   ``output`` node is dropped (the graph ends at the ops that compute the model's outputs; there is
   no loss op).
4. An edge runs from each producer op to each consumer op that reads its output (one edge per
   distinct producer, carrying the tensor's bytes, even when the consumer reads it twice).

The numbers per op (all for the whole op, one micro-batch = the example inputs)
--------------------------------------------------------------------------------
- ``forward.flops``: conv ``2*N*Cout*prod(out spatial)*Cin/groups*prod(kernel)`` (+ one per
  output element for a bias); linear ``2*rows*in*out`` (+ bias); matmul ``2*prod(out)*K``;
  batch/layer/group norm 5 per element; softmax 5 per element; pooling ``prod(kernel)`` per output
  element (adaptive pooling: one per input element); reductions one per input element; other
  elementwise ops 1 per output element; views, copies, slicing, concatenation 0;
  ``nn.MultiheadAttention`` and torchvision's ``shifted_window_attention``: the Q/K/V and output
  projections, the two attention matmuls and the softmax.
- ``input_grad.flops``: the matmul part of the forward again for ops with parameters (linear, conv:
  dX = dY W); twice the forward for a matmul of two activations (both operands get a gradient);
  norms 9 (batch norm) / 10 (layer norm) per element; softmax 4 per element; elementwise 1 per
  element and input (add/sub pass the gradient through: 0); pooling one per output element
  (adaptive: one per input element); reductions one per input element. It is 0 when no input needs
  a gradient: the graph inputs do not (``inputs_require_grad=False``), so the first conv of a CNN
  has no input gradient.
- ``weight_grad.flops``: for ops that read parameters, the matmul part of the forward (dW = X^T dY)
  plus one per output element for a bias; norms 3 per element; an embedding one per output element
  (scatter-add); 0 for ops without parameters. A module called twice (shared weights) computes its
  weight gradient at each call, but its parameters are counted once (``param_bytes`` of the first
  call; both calls get the co-location ``group`` ``shared:<module path>``, and the later call
  ``params_from`` naming the first, which sharding turns into an alias constraint).
- ``bytes`` of each phase: forward reads the inputs and parameters and writes the output; the
  input gradient reads the output gradient (and the parameters) and writes the input gradients;
  the weight gradient reads the output gradient and the saved inputs and writes the parameter
  gradients. Views cost no bytes.
- ``param_bytes``: the bytes of the ``nn.Parameter`` s the op owns (buffers such as batch-norm
  running statistics are not parameters).
- ``activation_bytes``: what autograd keeps for the backward of this op, by one rule per kind:
  ops with parameters (linear, conv, norms, attention) keep their inputs (attention also keeps
  Q, K, V, the probabilities and the context); a matmul of two activations keeps both; unary
  elementwise ops, softmax and copies-with-gradient keep their output (dropout: a 1-byte mask per
  element); mul/div keep both inputs; add/sub, views, slicing, concatenation, reductions and
  average pooling keep nothing; max pooling keeps its input; an embedding keeps its indices.
- ``shape`` / ``dtype``: of the output tensor (an op with several tensor outputs has shape ``[]``
  and lists them in the ``x-outputs`` extension; ``getitem`` ops pick one).
- ``dims``: given for linear layers, 1-D and 2-D convolutions (grouped and depthwise too), batch and
  layer norm over the channel / last dimension, elementwise ops (with broadcasting), softmax over the
  last dimension, pooling, reductions, permutes and reshapes that keep the batch, channel
  concatenation, batch-first attention, and matmuls of two activations with equal batch dimensions;
  empty otherwise (the sharding planner then keeps the op whole). docs/torch-export.md lists them.
- ``layer``: the outermost enclosing module that is not a container (Sequential, ModuleList,
  ModuleDict), has children and whose class occurs more than once (a ResNet bottleneck
  ``layer1.0``, a transformer layer ``encoder.layers.3``); empty for ops outside such blocks.
- ``x-module`` (extension): the module path and class the op comes from; ``x-target``: the fx target.
"""
from __future__ import annotations

import argparse
import builtins
import dis
import importlib
import importlib.util
import inspect
import json
import math
import operator
import os
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
import torch.nn as nn
from torch.fx._symbolic_trace import _orig_module_call, _orig_module_getattr
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata, _extract_tensor_metadata

try:
    from . import _aten_cost
except ImportError:  # loaded by path (tools/torch_export/opplan_export.py): the sibling file
    import importlib.util as _util
    _spec = _util.spec_from_file_location("opplan_torch_aten_cost",
                                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "_aten_cost.py"))
    _aten_cost = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_aten_cost)

FORMAT = "opplan.graph"
VERSION = 1

_DTYPES = {
    torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.float64: "f64",
    torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
    torch.bool: "bool",
}
for _name in ("float8_e4m3fn", "float8_e5m2"):
    if hasattr(torch, _name):
        _DTYPES[getattr(torch, _name)] = "f8"


class ExportError(Exception):
    """A module that cannot be exported; the message names the node / module and the reason."""


# ---- tracing ----------------------------------------------------------------------------------

# Tensor attributes and methods whose result depends only on metadata, never on values.
_STATIC_ATTRS = {"shape", "ndim", "dtype", "device", "is_cuda", "is_sparse", "is_nested", "is_quantized",
                 "is_meta", "layout", "requires_grad", "is_mkldnn", "is_complex"}
_STATIC_METHODS = {"size", "dim", "numel", "nelement", "ndimension", "is_contiguous", "is_floating_point",
                   "get_device", "is_complex", "element_size"}
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _user_frame() -> str:
    """file:line and text of the innermost stack frame outside torch.fx and this file."""
    here = os.path.abspath(__file__)
    for frame in reversed(traceback.extract_stack()):
        path = os.path.abspath(frame.filename)
        if path == here or os.sep + os.path.join("torch", "fx") + os.sep in path:
            continue
        return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return "<unknown source>"


class _StaticMixin:
    """Integer and length conversions of a proxy, answered when they depend only on shapes."""

    def __index__(self):
        return int(self.tracer._static_value(self, "an integer context (range(), indexing)"))

    def __int__(self):
        return int(self.tracer._static_value(self, "int()"))

    def __len__(self):
        if self.node.meta.get("x_static", False):
            return len(self.tracer._static_value(self, "len()"))
        return int(self.tracer._static_value(self.size(0), "len()"))  # len(tensor) = its first dimension

    def __getattr__(self, k):
        return _Attribute(self, k)

    def __iter__(self):
        # Unpacking with a count fixed by the source (`x1, x2 = x.chunk(2, dim=1)`,
        # `out, _ = attention(q, k, v)`): the count is the UNPACK_SEQUENCE argument of the calling
        # instruction. torch.fx finds that instruction by index (f_lasti // 2), which points at the
        # wrong one on Python 3.11 (inline caches); find it by its byte offset instead.
        frame = inspect.currentframe()
        calling = frame.f_back if frame is not None else None
        if calling is not None:
            for inst in dis.get_instructions(calling.f_code):
                if inst.offset == calling.f_lasti:
                    if inst.opname == "UNPACK_SEQUENCE":
                        return (self[i] for i in range(inst.argval))
                    break
        return self.tracer.iter(self)


class _Proxy(_StaticMixin, fx.Proxy):
    pass


class _Attribute(_StaticMixin, fx.proxy.Attribute):
    pass


class _ShapeTracer(fx.Tracer):
    """fx.Tracer that decides control flow on static tensor metadata with the example inputs."""

    def __init__(self, example_inputs: Sequence[Any], opaque: Optional[Dict[str, str]] = None):
        super().__init__()
        self.example_inputs = list(example_inputs)
        self.opaque = opaque or {}  # module path -> why it is one op (see trace())
        self.placeholders = 0
        self.module_stack: List[Tuple[str, str]] = [("", "")]  # (path, class)
        self.failed_module: Optional[Tuple[str, str]] = None

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _Proxy(node, self)

    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        if isinstance(m, nn.MultiheadAttention) or qualified_name in self.opaque:
            return True
        if not super().is_leaf_module(m, qualified_name):
            return False
        return next(iter(m.children()), None) is None  # composite torch.nn modules are traced through

    def call_module(self, m, forward, args, kwargs):
        path = self.path_of_module(m)
        self.module_stack.append((path, type(m).__name__))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_module is None:
                self.failed_module = self.module_stack[-1]
            raise
        finally:
            self.module_stack.pop()

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        node = proxy.node
        node.meta["x_module"] = self.module_stack[-1] if kind != "call_module" else (target, "")
        if kind == "placeholder":
            i = self.placeholders
            self.placeholders += 1
            if i < len(self.example_inputs):
                node.meta["x_val"] = self.example_inputs[i]
            else:
                node.meta["x_val"] = node.args[0] if node.args else None
            node.meta["x_static"] = False
        else:
            inputs = node.all_input_nodes
            if kind == "call_method" and target in _STATIC_METHODS:
                static = True
            elif kind == "call_function" and target is builtins.getattr and len(node.args) > 1 \
                    and node.args[1] in _STATIC_ATTRS:
                static = True
            elif kind in ("call_function", "call_method"):
                static = bool(inputs) and all(n.meta.get("x_static", False) for n in inputs)
            else:
                static = False
            node.meta["x_static"] = static
        return proxy

    # Concrete values, computed on demand (only shape-dependent control flow needs them).
    def _evaluate_up_to(self, target_node: fx.Node) -> Any:
        def val(n):
            return n.meta["x_val"]

        # The tracer patches nn.Module.__call__ and __getattr__ while it traces; a concrete module
        # call must see the originals, or it would be traced (and its weights become proxies).
        patched = nn.Module.__call__, nn.Module.__getattr__
        nn.Module.__call__, nn.Module.__getattr__ = _orig_module_call, _orig_module_getattr
        try:
            return self._evaluate_unpatched(target_node, val)
        finally:
            nn.Module.__call__, nn.Module.__getattr__ = patched

    def _evaluate_unpatched(self, target_node: fx.Node, val) -> Any:
        for node in self.graph.nodes:
            if "x_val" not in node.meta:
                args = fx.node.map_arg(node.args, val)
                kwargs = fx.node.map_arg(node.kwargs, val)
                with torch.no_grad():
                    if node.op == "call_function":
                        value = node.target(*args, **kwargs)
                    elif node.op == "call_method":
                        value = getattr(args[0], node.target)(*args[1:], **kwargs)
                    elif node.op == "call_module":
                        module = self.root.get_submodule(node.target)
                        was_training = module.training
                        module.eval()  # shapes only; a batch of 1 must not trip batch norm
                        try:
                            value = module(*args, **kwargs)
                        finally:
                            module.train(was_training)
                    elif node.op == "get_attr":
                        value = self.root
                        for part in node.target.split("."):
                            value = getattr(value, part)
                    else:
                        value = None
                node.meta["x_val"] = value
            if node is target_node:
                return node.meta["x_val"]
        raise ExportError(f"internal error: node '{target_node.name}' is not in the traced graph")

    def _static_value(self, proxy: fx.Proxy, use: str) -> Any:
        node = proxy.node
        if not node.meta.get("x_static", False):
            path, cls = self.module_stack[-1]
            where = f"module '{path}' ({cls})" if path else "the root module's forward"
            raise ExportError(
                f"cannot trace {where}: node '{node.name}' ({node.op} {_target_name(node)}) is used in {use}, "
                f"but its value depends on tensor data, not only on shapes (data-dependent control flow).\n"
                f"  at {_user_frame()}\n"
                f"  Rewrite it without Python control flow on tensor values (e.g. torch.where), or wrap the "
                f"module or function with torch.fx.wrap so that it is one op.")
        return self._evaluate_up_to(node)

    def to_bool(self, obj: fx.Proxy) -> bool:
        return bool(self._static_value(obj, "Python control flow (if / while / and / or / not)"))

    def iter(self, obj: fx.Proxy):
        node = obj.node
        if node.op in ("call_function", "call_method") and _short_name(node.target) in _SPLITTING:
            # chunk / split / unbind: how many pieces depends on shapes and static arguments only.
            value = self._evaluate_up_to(node)
        else:
            value = self._static_value(obj, "iteration or unpacking")
        return iter([obj[i] for i in range(len(value))])


# Ops that return a tuple of tensors whose length depends only on shapes and static arguments.
_SPLITTING = {"chunk", "split", "unbind", "tensor_split", "split_with_sizes", "hsplit", "vsplit", "dsplit",
              "unsafe_chunk", "unsafe_split"}


def _short_name(target) -> str:
    return target if isinstance(target, str) else getattr(target, "__name__", "")


def _target_name(node: fx.Node) -> str:
    t = node.target
    if isinstance(t, str):
        return t
    module = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", None) or repr(t)
    return f"{module}.{name}" if module and module not in ("builtins", "_operator") else name


# Submodules made opaque at most, before the export gives up (each costs one more trace).
_MAX_OPAQUE = 64


def trace(module: nn.Module, example_inputs: Sequence[Any]) -> fx.GraphModule:
    """Symbolic tracing first. Where it fails inside a submodule (control flow on tensor values, or
    Python the tracer cannot follow), that submodule becomes a leaf -- one op, costed at the aten
    level on the real inputs (``_aten_cost``) -- and the trace starts again; the reasons are kept in
    ``gm.opplan_opaque`` (module path -> message). A failure in the root's own forward is an error."""
    # Forward arguments beyond the example inputs keep their defaults as constants (a mask left at
    # None must be None while tracing, not a placeholder that `is not None`).
    concrete: Dict[str, Any] = {}
    params = list(inspect.signature(module.forward).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for p in positional[len(example_inputs):]:
        if p.default is not p.empty:
            concrete[p.name] = p.default
    opaque: Dict[str, str] = {}
    while True:
        tracer = _ShapeTracer(example_inputs, opaque)
        try:
            graph = tracer.trace(module, concrete_args=concrete or None)
            break
        except Exception as e:  # ExportError (value-dependent control flow), TraceError, TypeError, ...
            message = str(e) if isinstance(e, ExportError) else _trace_error(tracer, module, e)
            path = (tracer.failed_module or ("", ""))[0]
            if not path or path in opaque or len(opaque) >= _MAX_OPAQUE:
                raise ExportError(message) from None
            opaque[path] = message
    gm = fx.GraphModule(tracer.root, graph, type(module).__name__)
    gm.opplan_opaque = opaque
    return gm


def _trace_error(tracer: "_ShapeTracer", module: nn.Module, e: Exception) -> str:
    path, cls = tracer.failed_module or ("", type(module).__name__)
    where = f"module '{path}' ({cls})" if path else f"the root module ({type(module).__name__})"
    frame = ""
    tb = traceback.extract_tb(e.__traceback__)
    for fr in reversed(tb):
        if os.sep + os.path.join("torch", "fx") + os.sep not in fr.filename and \
                os.path.abspath(fr.filename) != os.path.abspath(__file__):
            frame = f"\n  at {fr.filename}:{fr.lineno}: {(fr.line or '').strip()}"
            break
    last = list(tracer.graph.nodes)[-1].name if len(tracer.graph.nodes) else "<none>"
    return f"cannot trace {where}: {type(e).__name__}: {e} (last node traced: '{last}'){frame}"


# ---- cost rules -------------------------------------------------------------------------------

def _numel(shape) -> int:
    return math.prod(int(d) for d in shape)


def _meta_list(meta) -> List[TensorMetadata]:
    if isinstance(meta, TensorMetadata):
        return [meta]
    if isinstance(meta, (list, tuple)):
        out = []
        for m in meta:
            out.extend(_meta_list(m))
        return out
    if isinstance(meta, dict):
        out = []
        for m in meta.values():
            out.extend(_meta_list(m))
        return out
    return []


def _bytes_of(meta: TensorMetadata) -> int:
    return _numel(meta.shape) * torch.empty((), dtype=meta.dtype).element_size()


_VIEW = {"view", "reshape", "flatten", "unflatten", "unsqueeze", "squeeze", "expand", "expand_as", "view_as",
         "permute", "transpose", "t", "getitem", "chunk", "split", "unbind", "narrow", "select", "movedim",
         "identity", "contiguous_view", "detach", "split_with_sizes", "tensor_split", "unfold", "as_strided"}
_VIEW_KIND = {"permute": "transpose", "transpose": "transpose", "t": "transpose", "movedim": "transpose",
              "getitem": "slice", "chunk": "slice", "split": "slice", "unbind": "slice", "narrow": "slice",
              "select": "slice", "split_with_sizes": "slice", "tensor_split": "slice"}
_COPY = {"contiguous", "clone", "roll", "pad", "_patch_merging_pad", "to", "float", "half", "bfloat16", "double",
         "type", "type_as", "repeat", "tile", "flip", "new_zeros", "zeros_like", "ones_like", "masked_fill_",
         "zeros", "ones", "full", "arange"}
_CONCAT = {"cat", "concat", "stack", "hstack", "vstack"}
_ADD = {"add", "sub", "iadd", "isub", "add_", "sub_", "rsub", "__add__", "__sub__", "__radd__"}
_MUL = {"mul", "truediv", "div", "imul", "itruediv", "mul_", "div_", "floordiv", "__mul__", "__truediv__"}
_UNARY = {"relu", "relu_", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "leaky_relu",
          "elu", "mish", "softplus", "exp", "log", "sqrt", "rsqrt", "neg", "abs", "pow", "square", "reciprocal",
          "clamp", "clamp_min", "clamp_max", "sin", "cos", "erf", "masked_fill", "where", "maximum", "minimum",
          "stochastic_depth", "hardtanh", "normalize", "scaled_dot_product_scale"}
_DROPOUT = {"dropout", "dropout2d", "dropout1d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
_SOFTMAX = {"softmax", "log_softmax"}
_REDUCE = {"mean", "sum", "amax", "amin", "max", "min", "prod", "var", "std", "norm", "logsumexp", "argmax", "argmin"}
_MATMUL = {"matmul", "bmm", "mm", "baddbmm", "addmm", "einsum"}
_POOL = {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
         "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool2d"}

_UNARY_MODULES = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
                  nn.LeakyReLU, nn.ELU, nn.Mish, nn.Softplus, nn.Hardtanh, nn.PReLU)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout) \
    if hasattr(nn, "Dropout1d") else (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_BN_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_OTHER_NORM_MODULES = (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm)
_MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVGPOOL = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
             nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def _letters(rank: int) -> List[str]:
    return (["b"] + [f"d{i}" for i in range(1, rank)]) if rank > 0 else []


def _same_dims(rank: int, operands: int) -> str:
    names = " ".join(_letters(rank))
    return ", ".join([names] * operands) + " -> " + names


def _names(prefix: str, rank: int) -> List[str]:
    return [f"{prefix}{i}" for i in range(1, rank)]


def _view_dims(name: str, node: fx.Node, out, first) -> str:
    """The annotation of a view op that keeps the batch (first) dimension: permutes and transposes
    rename, reshapes regroup ("b d1 d2 d3 -> b r1"); "" when it cannot be written."""
    if first is None or len(out.shape) == 0 or len(first.shape) == 0:
        return ""
    rank_in, rank_out = len(first.shape), len(out.shape)
    src = _letters(rank_in)
    if name in ("permute", "transpose", "t", "movedim"):
        if rank_in != rank_out:
            return ""
        args = list(node.args[1:])
        try:
            if name == "permute":
                perm = node.kwargs.get("dims", args[0] if len(args) == 1 and isinstance(args[0], (list, tuple))
                                       else args)
                perm = [int(p) % rank_in for p in perm]
            elif name == "transpose":
                d0 = int(node.kwargs.get("dim0", args[0] if args else 0)) % rank_in
                d1 = int(node.kwargs.get("dim1", args[1] if len(args) > 1 else 1)) % rank_in
                perm = list(range(rank_in))
                perm[d0], perm[d1] = perm[d1], perm[d0]
            elif name == "t":
                perm = [1, 0] if rank_in == 2 else list(range(rank_in))
            else:
                return ""
        except (TypeError, ValueError, IndexError):
            return ""
        if sorted(perm) != list(range(rank_in)) or perm[0] != 0:
            return ""  # the batch moves: the sharding planner could not follow it
        return f"{' '.join(src)} -> {' '.join(src[p] for p in perm)}"
    if name in ("view", "reshape", "flatten", "unflatten", "unsqueeze", "squeeze", "view_as", "contiguous_view"):
        if int(out.shape[0]) != int(first.shape[0]):
            return ""
        return f"{' '.join(src)} -> {' '.join(['b'] + _names('r', rank_out))}"
    return ""


def _broadcast_dims(tensors, out) -> str:
    """Elementwise with broadcasting: operands aligned to the output from the right; an operand
    dimension of size 1 under a larger output dimension gets a name of its own."""
    rank = len(out.shape)
    names = _letters(rank)
    operands = []
    for m in tensors:
        r = len(m.shape)
        if r > rank:
            return ""
        own = []
        for i, size in enumerate(m.shape):
            j = rank - r + i
            if int(size) == int(out.shape[j]):
                own.append(names[j])
            elif int(size) == 1:
                own.append(f"u{len(operands)}x{i}")
            else:
                return ""
        operands.append(" ".join(own) if own else "")
    if any(not o for o in operands):
        return ""
    return f"{', '.join(operands)} -> {' '.join(names)}"


def _concat_dims(node: fx.Node, out, tensors) -> str:
    """torch.cat along a dimension other than the batch: every operand keeps the output's names
    except along the joined dimension, which has a name per operand ("b c0 i j, b c1 i j -> b c i j"),
    so a batch split carries through; the joined names are not split-through names."""
    rank = len(out.shape)
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    if not isinstance(dim, int) or rank < 2 or len(tensors) < 2 or any(len(m.shape) != rank for m in tensors):
        return ""
    dim %= rank
    if dim == 0:
        return ""
    names = _letters(rank)
    operands = []
    for i, _ in enumerate(tensors):
        own = list(names)
        own[dim] = f"j{i}"
        operands.append(" ".join(own))
    return f"{', '.join(operands)} -> {' '.join(names)}"


def _reduce_dims(node: fx.Node, out, first) -> str:
    """mean / sum / amax ... over dimensions that exclude the batch: "b d1 d2 d3 -> b d1"."""
    if first is None or len(first.shape) == 0 or len(out.shape) == 0:
        return ""
    rank_in = len(first.shape)
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    keepdim = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
    if isinstance(dim, int):
        dim = [dim]
    if not isinstance(dim, (list, tuple)) or not all(isinstance(d, int) for d in dim) or not isinstance(keepdim, bool):
        return ""
    reduced = {d % rank_in for d in dim}
    if 0 in reduced:
        return ""
    src = _letters(rank_in)
    dst = [(f"k{i}" if keepdim else None) if i in reduced else src[i] for i in range(rank_in)]
    dst = [d for d in dst if d is not None]
    if len(dst) != len(out.shape):
        return ""
    return f"{' '.join(src)} -> {' '.join(dst)}"


class _Cost:
    """The numbers of one op, filled in by the rules."""

    def __init__(self, kind: str):
        self.kind = kind
        self.fwd = 0.0
        self.igrad = 0.0
        self.wgrad = 0.0
        self.activation = 0.0
        self.view = False
        self.dims = ""
        self.reads_params = False
        self.edge_operands: Optional[int] = None  # operands fed by edges, when not the "b ..." ones


def _tensor(meta) -> Optional[TensorMetadata]:
    return meta if isinstance(meta, TensorMetadata) else None


def _kernel(value, rank: int) -> List[int]:
    if isinstance(value, int):
        return [value] * rank
    return [int(v) for v in value]


class _Exporter:
    def __init__(self, gm: fx.GraphModule, root: nn.Module, name: str, inputs_require_grad: bool):
        self.gm = gm
        self.name = name
        self.inputs_require_grad = inputs_require_grad
        # The original module tree: the GraphModule keeps only the called submodules, under plain
        # nn.Module parents.
        self.modules = dict(root.named_modules())
        self.param_owner: Dict[int, str] = {}      # id(parameter) -> op name that owns it
        self.param_users: Dict[str, List[str]] = {}  # module path -> op names (shared modules)
        self.warnings: List[str] = []
        self.ops: List[Dict[str, Any]] = []
        self.edges: List[Dict[str, Any]] = []
        self.op_nodes: Dict[fx.Node, Dict[str, Any]] = {}
        self.requires_grad: Dict[fx.Node, bool] = {}
        self.layer_of = self._repeated_blocks(root)

    # The layer tag: outermost non-container module with children whose class repeats.
    @staticmethod
    def _repeated_blocks(root: nn.Module):
        counts: Dict[type, int] = {}
        modules = dict(root.named_modules())
        for m in modules.values():
            counts[type(m)] = counts.get(type(m), 0) + 1

        def layer(path: str) -> str:
            if not path:
                return ""
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                m = modules.get(prefix)
                if m is None or isinstance(m, _CONTAINERS):
                    continue
                if next(iter(m.children()), None) is not None and counts[type(m)] > 1:
                    return prefix
            return ""
        return layer

    def _inputs(self, node: fx.Node) -> List[fx.Node]:
        """Tensor-valued input nodes in argument order, with repeats."""
        out: List[fx.Node] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: out.append(n) or n)
        return out

    def _params_read(self, node: fx.Node) -> List[Tuple[torch.nn.Parameter, str]]:
        """Parameters an op reads: its module's, or those fetched by get_attr inputs."""
        params = []
        if node.op == "call_module":
            m = self.modules[node.target]
            params = [(p, node.target) for p in m.parameters()]
        for n in self._inputs(node):
            if n.op == "get_attr":
                value = self.gm
                for part in n.target.split("."):
                    value = getattr(value, part)
                if isinstance(value, nn.Parameter):
                    params.append((value, n.target.rsplit(".", 1)[0] if "." in n.target else n.target))
        return params

    def run(self) -> Dict[str, Any]:
        for node in self.gm.graph.nodes:
            if node.op in ("output", "get_attr"):
                continue
            metas = _meta_list(node.meta.get("tensor_meta"))
            if not metas:
                continue  # None arguments, sizes, booleans: not tensors
            if node.op == "placeholder":
                self._add_input(node, metas[0])
            else:
                self._add_op(node, metas)
        # Shared modules: the ops of one parameter set run on the same devices.
        for path, users in self.param_users.items():
            if len(users) > 1:
                for op_name in users:
                    self._op_by_name[op_name]["group"] = f"shared:{path}"
        return {"format": FORMAT, "version": VERSION, "name": self.name, "ops": self.ops, "edges": self.edges}

    @property
    def _op_by_name(self):
        return {op["name"]: op for op in self.ops}

    def _add_input(self, node: fx.Node, meta: TensorMetadata):
        op = {"name": node.name, "kind": "input", "shape": [int(d) for d in meta.shape],
              "dtype": self._dtype(meta.dtype, node)}
        self.ops.append(op)
        self.op_nodes[node] = op
        self.requires_grad[node] = self.inputs_require_grad

    def _dtype(self, dtype, node) -> str:
        if dtype in _DTYPES:
            return _DTYPES[dtype]
        where = _where(node)
        raise ExportError(f"node '{node.name}'{where}: dtype {dtype} is not supported by opplan graphs "
                          f"(supported: {', '.join(sorted(str(d).replace('torch.', '') for d in _DTYPES))})")

    def _add_op(self, node: fx.Node, metas: List[TensorMetadata]):
        inputs = self._inputs(node)
        producers: List[fx.Node] = []
        for n in inputs:
            if n in self.op_nodes and n not in producers:
                producers.append(n)
        in_metas = [_tensor(n.meta.get("tensor_meta")) for n in inputs]
        in_tensors = [m for m in in_metas if m is not None]
        out_meta = metas[0] if len(metas) == 1 else None
        params = self._params_read(node)
        owned = []
        for p, path in params:
            if id(p) not in self.param_owner:
                self.param_owner[id(p)] = node.name
                owned.append(p)
        param_read_bytes = sum(p.numel() * p.element_size() for p, _ in params)
        param_bytes = sum(p.numel() * p.element_size() for p in owned)
        if node.op == "call_module" and params:
            self.param_users.setdefault(node.target, []).append(node.name)

        cost = self._rule(node, metas, in_metas, inputs, params)
        has_params = bool(params)
        needs_igrad = any(self.requires_grad.get(n, False) for n in inputs)
        self.requires_grad[node] = needs_igrad or has_params

        out_bytes = sum(_bytes_of(m) for m in metas)
        in_bytes = sum(_bytes_of(m) for m in in_tensors)
        # Parameters fetched by get_attr are in in_tensors already; module parameters are not.
        module_param_bytes = param_read_bytes if node.op == "call_module" else 0
        op: Dict[str, Any] = {"name": node.name, "kind": cost.kind}
        if not cost.view:
            op["forward"] = {"flops": float(cost.fwd), "bytes": float(in_bytes + module_param_bytes + out_bytes)}
            if needs_igrad:
                op["input_grad"] = {"flops": float(cost.igrad),
                                    "bytes": float(out_bytes + in_bytes + (module_param_bytes if cost.reads_params else 0))}
            if has_params:
                op["weight_grad"] = {"flops": float(cost.wgrad), "bytes": float(out_bytes + in_bytes + module_param_bytes)}
        if param_bytes:
            op["param_bytes"] = float(param_bytes)
        # A weight another op owns (a module called again, a tied weight fetched by get_attr):
        # name the owner, so that sharding lays the weight out the same way in both.
        owners = {self.param_owner[id(p)] for p, _ in params} - {node.name}
        if len(owners) == 1:
            owner = self._op_by_name.get(next(iter(owners)))
            if owner is not None and owner.get("param_bytes") and "params_from" not in owner:
                op["params_from"] = owner["name"]
        if cost.activation and (needs_igrad or has_params):
            op["activation_bytes"] = float(cost.activation)
        if out_meta is not None:
            op["shape"] = [int(d) for d in out_meta.shape]
            op["dtype"] = self._dtype(out_meta.dtype, node)
        else:
            op["x-outputs"] = [{"shape": [int(d) for d in m.shape], "dtype": self._dtype(m.dtype, node)} for m in metas]
        if cost.dims and self._dims_ok(node, cost, producers, inputs, out_meta):
            op["dims"] = cost.dims
        path, cls = node.meta.get("x_module", ("", ""))
        if node.op == "call_module":
            path, cls = node.target, type(self.modules[node.target]).__name__
        layer = self.layer_of(path)
        if layer:
            op["layer"] = layer
        if path:
            op["x-module"] = f"{path} ({cls})" if cls else path
        op["x-target"] = _target_name(node) if node.op != "call_module" else type(self.modules[node.target]).__name__
        self.ops.append(op)
        self.op_nodes[node] = op
        for p in producers:
            self.edges.append({"from": p.name, "to": node.name, "bytes": float(self._edge_bytes(p, node))})

    def _edge_bytes(self, producer: fx.Node, consumer: fx.Node) -> int:
        metas = _meta_list(producer.meta.get("tensor_meta"))
        if len(metas) > 1 and consumer.op == "call_function" and consumer.target is operator.getitem:
            chosen = _tensor(consumer.meta.get("tensor_meta"))
            if chosen is not None:
                return _bytes_of(chosen)
        return sum(_bytes_of(m) for m in metas)

    def _dims_ok(self, node, cost, producers, inputs, out_meta) -> bool:
        """An annotation is only written when every operand is fed by its own edge, in order."""
        if out_meta is None:
            return False
        operands = cost.dims.split("->")[0].split(",")
        data_operands = [o for o in operands if o.strip() and o.split()[0] == "b"]
        if cost.edge_operands is not None:  # broadcast operands fed by edges need not start with the batch
            data_operands = operands[:cost.edge_operands]
        if cost.kind == "attention":  # inputs that are not batched (a position bias) are fed by edges too
            data_operands = operands[:len(list(dict.fromkeys(
                n for n in inputs if n.op != "get_attr" and _tensor(n.meta.get("tensor_meta")) is not None)))]
        tensor_inputs = [n for n in inputs if n.op != "get_attr" and _tensor(n.meta.get("tensor_meta")) is not None]
        if cost.kind == "attention":  # one operand per distinct input (self-attention reads x three times)
            tensor_inputs = list(dict.fromkeys(tensor_inputs))
        if not tensor_inputs and not producers and data_operands:
            # No in-edges: the batch-named operands read buffers (Swin V2's position-bias MLP reads
            # its coordinate table), inputs with no gradient (docs/sharding.md, rule 2).
            buffers = [n for n in inputs if n.op == "get_attr" and _tensor(n.meta.get("tensor_meta")) is not None]
            return len(buffers) == len(data_operands) and all(
                len(o.split()) == len(b.meta["tensor_meta"].shape) for o, b in zip(data_operands, buffers))
        if len(tensor_inputs) != len(data_operands) or len(set(tensor_inputs)) != len(tensor_inputs):
            return False
        if any(n not in self.op_nodes for n in tensor_inputs) or tensor_inputs != producers:
            return False
        # Every data operand has the rank of the producer that feeds it.
        for operand, producer in zip(data_operands, producers):
            if len(operand.split()) != len(producer.meta["tensor_meta"].shape):
                return False
        return True

    # -- the rules -----------------------------------------------------------------------------
    def _rule(self, node, metas, in_metas, inputs, params) -> _Cost:
        out = metas[0]
        out_elems = sum(_numel(m.shape) for m in metas)
        elem = out.dtype.itemsize if hasattr(out.dtype, "itemsize") else torch.empty((), dtype=out.dtype).element_size()
        first = next((m for m in in_metas if m is not None), None)
        data_in_bytes = sum(_bytes_of(m) for n, m in zip(inputs, in_metas) if m is not None and n.op != "get_attr")
        rank = len(out.shape)
        if node.op == "call_module":
            return self._module_rule(node, self.modules[node.target], out, out_elems, first, data_in_bytes, rank, inputs)
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
        if name.startswith("__") and name.endswith("__") and len(name) > 4:
            name = name[2:-2]  # x.__add__(y) -> add
        c = _Cost("generic")
        if name == "shifted_window_attention":
            return self._swin_attention(node, out, first, data_in_bytes)
        if name == "_get_relative_position_bias":
            c.kind, c.fwd, c.wgrad = "gather", 0, out_elems
            return c
        if name in _VIEW:
            c.kind, c.view = _VIEW_KIND.get(name, "reshape"), True
            if name == "getitem" and (first is None or _numel(out.shape) == _numel(first.shape)):
                c.kind = "identity"  # an element of a tuple, or the whole tensor"
            c.dims = _view_dims(name, node, out, first)
            return c
        if name in _COPY:
            c.kind = "copy"
            c.igrad = out_elems
            return c
        if name in _CONCAT:
            c.kind = "concat"
            if name in ("cat", "concat"):
                c.dims = _concat_dims(node, out, [m for m in in_metas if m is not None])
            return c
        if name in _MATMUL or name == "linear":
            tensors = [m for m in in_metas if m is not None]
            if name == "linear" and len(tensors) >= 2:
                k = int(tensors[0].shape[-1])
                c.kind = "matmul"
                c.fwd = 2 * _numel(out.shape) * k + (_numel(out.shape) if len(tensors) > 2 else 0)
                c.igrad = 2 * _numel(out.shape) * k
                c.wgrad = 2 * _numel(out.shape) * k
                c.activation = data_in_bytes
                c.reads_params = True
                return c
            if name == "einsum" or len(tensors) < 2:
                self.warnings.append(f"node '{node.name}': no FLOP rule for {name} (counted as 0)")
                return c
            a, b = tensors[-2], tensors[-1]
            k = int(a.shape[-1]) if len(a.shape) else 1
            c.kind = "batch_matmul" if len(out.shape) > 2 else "matmul"
            c.fwd = 2 * _numel(out.shape) * k
            c.igrad = 2 * c.fwd if not params else c.fwd
            c.wgrad = c.fwd if params else 0
            c.activation = data_in_bytes
            r = len(out.shape)
            if r >= 3 and len(a.shape) == r and len(b.shape) == r and list(a.shape[:-2]) == list(b.shape[:-2]) \
                    and not params:
                batch = _letters(r - 2)
                c.dims = (f"{' '.join(batch + ['m', 'k'])}, {' '.join(batch + ['k', 'n'])} -> "
                          f"{' '.join(batch + ['m', 'n'])}")
            return c
        if name in _ADD or name in _MUL or name in _UNARY:
            c.kind = "elementwise"
            c.fwd = out_elems
            tensors = [(n, m) for n, m in zip(inputs, in_metas) if m is not None]
            if name in _ADD:
                c.igrad = 0
            elif name in _MUL:
                c.igrad = out_elems * len(tensors)
                c.activation = data_in_bytes
            else:
                c.igrad = out_elems
                c.activation = _numel(out.shape) * elem
            if tensors and all(list(m.shape) == list(out.shape) for _, m in tensors) and rank > 0:
                c.dims = _same_dims(rank, len(tensors))
            elif tensors and rank > 0:
                # Operands fed by edges first, in edge order (the sharding planner binds in-edges to
                # operands in order), then parameters fetched by get_attr (ConvNeXt's layer scale).
                ordered = [t for t in tensors if t[0].op != "get_attr"] + [t for t in tensors if t[0].op == "get_attr"]
                c.dims = _broadcast_dims([m for _, m in ordered], out)
                c.edge_operands = sum(1 for n, _ in ordered if n.op != "get_attr")
            return c
        if name in _DROPOUT:
            c.kind = "elementwise"
            p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
            training = node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True)
            if training and isinstance(p, (int, float)) and p > 0:
                c.fwd = c.igrad = out_elems
                c.activation = out_elems  # a 1-byte mask per element
            else:
                c.view = True
                c.kind = "identity"
            if rank > 0:
                c.dims = _same_dims(rank, 1)
            return c
        if name in _SOFTMAX:
            c.kind = "softmax"
            c.fwd, c.igrad = 5 * out_elems, 4 * out_elems
            c.activation = _numel(out.shape) * elem
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            if isinstance(dim, int) and rank > 0 and dim in (-1, rank - 1):
                c.dims = _same_dims(rank, 1)
            return c
        if name in _REDUCE:
            c.kind = "reduce"
            in_elems = _numel(first.shape) if first is not None else out_elems
            c.fwd, c.igrad = in_elems, in_elems
            c.dims = _reduce_dims(node, out, first)
            return c
        if name in _POOL:
            c.kind = "pool"
            in_elems = _numel(first.shape) if first is not None else out_elems
            if name.startswith("adaptive"):
                c.fwd, c.igrad = in_elems, in_elems
            else:
                k = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else 1)
                c.fwd = out_elems * math.prod(_kernel(k, max(rank - 2, 1)))
                c.igrad = out_elems
            if name.startswith("max") or name.startswith("adaptive_max"):
                c.activation = data_in_bytes
            if rank == 4:
                c.dims = "b c i j -> b c x y"
            elif rank == 3:
                c.dims = "b c i -> b c x"
            return c
        if name in ("layer_norm", "batch_norm", "group_norm", "instance_norm"):
            c.kind = "layernorm" if name == "layer_norm" else ("batchnorm" if name == "batch_norm" else "norm")
            c.fwd, c.igrad, c.wgrad = 5 * out_elems, 9 * out_elems, 3 * out_elems if params else 0
            c.activation = data_in_bytes
            c.reads_params = True
            shape_arg = node.kwargs.get("normalized_shape", node.args[1] if len(node.args) > 1 else None)
            if name == "layer_norm" and rank >= 2 and isinstance(shape_arg, (list, tuple)) and len(shape_arg) == 1:
                names = _letters(rank)
                names[-1] = "h"
                c.dims = f"{' '.join(names)}, h -> {' '.join(names)}" if params else _same_dims(rank, 1)
            return c
        if name in ("embedding",):
            c.kind = "embedding"
            c.wgrad = out_elems
            c.activation = _bytes_of(first) if first is not None else 0
            return c
        self.warnings.append(f"node '{node.name}': no FLOP rule for {_target_name(node)} (counted as 0)")
        c.kind = name if name else "generic"
        return c

    def _module_rule(self, node, m, out, out_elems, first, data_in_bytes, rank, inputs) -> _Cost:
        elem = torch.empty((), dtype=out.dtype).element_size()
        c = _Cost(type(m).__name__.lower())
        aten = node.meta.get("x_aten")
        if aten is not None:  # opaque (trace()): what its real run executed; no annotation
            c.fwd, c.igrad, c.wgrad = aten.forward, aten.input_grad, aten.weight_grad
            c.activation = data_in_bytes
            c.reads_params = True
            return c
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            c.kind = "conv"
            kernel = math.prod(m.kernel_size)
            if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                macs = _numel(first.shape) * m.out_channels // m.groups * kernel
            else:
                macs = _numel(out.shape) * (m.in_channels // m.groups) * kernel
            bias = _numel(out.shape) if m.bias is not None else 0
            c.fwd, c.igrad, c.wgrad = 2 * macs + bias, 2 * macs, 2 * macs + bias
            c.activation = data_in_bytes
            c.reads_params = True
            if m.groups == 1 and isinstance(m, nn.Conv2d) and rank == 4:
                c.dims = "b c i j, r c k -> b k x y"
            elif m.groups == 1 and isinstance(m, nn.Conv1d) and rank == 3:
                c.dims = "b c i, r c k -> b k x"
            elif m.groups > 1 and isinstance(m, nn.Conv2d) and rank == 4:
                # Grouped and depthwise: each output channel k reads its group's c/g channels; the
                # weight (k, q) holds q = c/g * kernel (+ 1 with a bias) values per output channel.
                c.dims = "b c i j, k q -> b k x y"
            elif m.groups > 1 and isinstance(m, nn.Conv1d) and rank == 3:
                c.dims = "b c i, k q -> b k x"
            return c
        if isinstance(m, nn.Linear):
            c.kind = "matmul"
            rows = _numel(out.shape) // m.out_features
            macs = rows * m.in_features * m.out_features
            bias = _numel(out.shape) if m.bias is not None else 0
            c.fwd, c.igrad, c.wgrad = 2 * macs + bias, 2 * macs, 2 * macs + bias
            c.activation = data_in_bytes
            c.reads_params = True
            if rank >= 2:
                lead = _letters(rank - 1)
                c.dims = f"{' '.join(lead + ['i'])}, i o -> {' '.join(lead + ['o'])}"
            return c
        if isinstance(m, _BN_MODULES):
            c.kind = "batchnorm"
            c.fwd, c.igrad, c.wgrad = 5 * out_elems, 9 * out_elems, (3 * out_elems if m.affine else 0)
            c.activation = data_in_bytes
            c.reads_params = True
            if rank >= 2 and m.affine:
                names = _letters(rank)
                names[1] = "c"
                c.dims = f"{' '.join(names)}, c -> {' '.join(names)}"
            return c
        if isinstance(m, nn.LayerNorm):
            c.kind = "layernorm"
            c.fwd, c.igrad = 5 * out_elems, 10 * out_elems
            c.wgrad = 3 * out_elems if m.elementwise_affine else 0
            c.activation = data_in_bytes
            c.reads_params = True
            if rank >= 2 and len(m.normalized_shape) == 1:
                names = _letters(rank)
                names[-1] = "h"
                c.dims = f"{' '.join(names)}, h -> {' '.join(names)}" if m.elementwise_affine else _same_dims(rank, 1)
            return c
        if isinstance(m, _OTHER_NORM_MODULES):
            c.kind = "norm"
            c.fwd, c.igrad = 5 * out_elems, 9 * out_elems
            c.wgrad = 3 * out_elems if any(True for _ in m.parameters()) else 0
            c.activation = data_in_bytes
            c.reads_params = True
            return c
        if isinstance(m, _UNARY_MODULES):
            c.kind = "elementwise"
            c.fwd = c.igrad = out_elems
            c.wgrad = out_elems if any(True for _ in m.parameters()) else 0
            c.activation = out_elems * elem
            if rank > 0:
                c.dims = _same_dims(rank, 1)
            return c
        if isinstance(m, _DROPOUT_MODULES):
            c.kind = "elementwise"
            if m.training and m.p > 0:
                c.fwd = c.igrad = out_elems
                c.activation = out_elems
            else:
                c.kind, c.view = "identity", True
            if rank > 0:
                c.dims = _same_dims(rank, 1)
            return c
        if isinstance(m, nn.Identity):
            c.kind, c.view = "identity", True
            return c
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            c.kind = "softmax"
            c.fwd, c.igrad = 5 * out_elems, 4 * out_elems
            c.activation = out_elems * elem
            if m.dim is not None and rank > 0 and m.dim in (-1, rank - 1):
                c.dims = _same_dims(rank, 1)
            return c
        if isinstance(m, _MAXPOOL + _AVGPOOL + _ADAPTIVE):
            c.kind = "pool"
            in_elems = _numel(first.shape)
            if isinstance(m, _ADAPTIVE):
                c.fwd = c.igrad = in_elems
            else:
                c.fwd = out_elems * math.prod(_kernel(m.kernel_size, max(rank - 2, 1)))
                c.igrad = out_elems
            if isinstance(m, _MAXPOOL) or isinstance(m, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
                c.activation = data_in_bytes
            if rank == 4:
                c.dims = "b c i j -> b c x y"
            return c
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            c.kind, c.view = "reshape", True
            c.dims = _view_dims("flatten", node, out, first)
            return c
        if isinstance(m, nn.Embedding):
            c.kind = "embedding"
            c.wgrad = out_elems
            c.activation = _bytes_of(first)
            return c
        if isinstance(m, nn.MultiheadAttention):
            return self._mha(node, m, out, first, data_in_bytes)
        self.warnings.append(f"node '{node.name}': no FLOP rule for module {type(m).__name__} (counted as 0)")
        return c

    def _attention_cost(self, c: _Cost, tq: int, tk: int, e: int, kdim: int, vdim: int, heads: int,
                        scores: int, elem: int, qkv_bias: bool, out_bias: bool, data_in_bytes: int):
        """Q/K/V projections, scores (tq x keys per head), softmax, probabilities x V, output projection.
        `scores` is the number of score elements per head summed over the batch."""
        proj = 2 * tq * e * e + 2 * tk * kdim * e + 2 * tk * vdim * e + 2 * tq * e * e
        attn = 2 * scores * heads * (e // heads) * 2  # QK^T and PV
        sm = 5 * scores * heads
        biases = (tq * e + 2 * tk * e if qkv_bias else 0) + (tq * e if out_bias else 0)
        c.kind = "attention"
        c.fwd = proj + attn + sm + biases
        c.igrad = proj + 2 * attn + 4 * scores * heads
        c.wgrad = proj + biases
        c.activation = data_in_bytes + (tq * e + 2 * tk * e + tq * e) * elem + scores * heads * elem
        c.reads_params = True
        return c

    def _mha(self, node, m: nn.MultiheadAttention, out, first, data_in_bytes) -> _Cost:
        # query and key by name: the module may be called positionally or with keywords
        # (torchvision's ViT: self_attention(query=x, key=x, value=x, need_weights=False)).
        try:
            bound = inspect.signature(m.forward).bind(*node.args, **node.kwargs).arguments
            picked = [bound.get("query"), bound.get("key")]
        except TypeError:
            picked = []
        metas = [_tensor(n.meta.get("tensor_meta")) for n in picked if isinstance(n, fx.Node)]
        if len(metas) < 2:
            metas = [_tensor(n.meta.get("tensor_meta")) for n in self._inputs(node)]
        metas = [x for x in metas if x is not None]
        q = metas[0]
        k = metas[1] if len(metas) > 1 else q
        if m.batch_first:
            b, lq, lk = int(q.shape[0]), int(q.shape[1]), int(k.shape[1])
        else:
            lq, b, lk = int(q.shape[0]), int(q.shape[1]) if len(q.shape) > 2 else 1, int(k.shape[0])
        if len(q.shape) == 2:
            b = 1
        elem = torch.empty((), dtype=out.dtype).element_size()
        c = _Cost("attention")
        c = self._attention_cost(c, b * lq, b * lk, m.embed_dim, m.kdim, m.vdim, m.num_heads, b * lq * lk,
                                 elem, m.in_proj_bias is not None, m.out_proj.bias is not None, data_in_bytes)
        # Batch-first self- or cross-attention on [b, s, h]: one data operand per distinct input
        # (query, then key / value), and the projection weights as one parameter operand "h w"
        # (w solved from param_bytes), so a batch split carries through and data parallelism
        # all-reduces the weight gradients.
        if m.batch_first and len(q.shape) == 3 and m.kdim == m.embed_dim and m.vdim == m.embed_dim:
            distinct = []
            try:
                bound = inspect.signature(m.forward).bind(*node.args, **node.kwargs).arguments
                sources = [bound.get("query"), bound.get("key"), bound.get("value")]
            except TypeError:
                sources = []
            for n in sources:
                if isinstance(n, fx.Node) and n not in distinct:
                    distinct.append(n)
            others = [n for n in self._inputs(node) if n not in distinct and n.op != "get_attr"]
            if distinct and not others:
                data = ["b s h"] + ["b t h"] * (len(distinct) - 1)
                c.dims = f"{', '.join(data)}, h w -> b s h"
        return c

    def _swin_attention(self, node, out, first, data_in_bytes) -> _Cost:
        args = list(node.args)
        names = ["input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size", "num_heads",
                 "shift_size"]
        values = dict(zip(names, args))
        values.update(node.kwargs)
        window = [int(w) for w in values["window_size"]]
        heads = int(values["num_heads"])
        b, h, w, ch = (int(d) for d in first.shape)
        hp = -(-h // window[0]) * window[0]
        wp = -(-w // window[1]) * window[1]
        tokens = b * hp * wp
        per_window = window[0] * window[1]
        elem = torch.empty((), dtype=out.dtype).element_size()
        c = _Cost("attention")
        has_qkv_bias = values.get("qkv_bias") is not None
        has_proj_bias = values.get("proj_bias") is not None
        c = self._attention_cost(c, tokens, tokens, ch, ch, ch, heads, tokens * per_window, elem,
                                 has_qkv_bias, has_proj_bias, data_in_bytes)
        # Windows never cross images: the batch splits. Operands: the input [b, h, w, c], the
        # relative position bias another op computes (replicated), the projections "c w".
        data = [n for n in dict.fromkeys(self._inputs(node)) if n.op != "get_attr"]
        if data and data[0] is values.get("input"):
            operands = ["b i j c"]
            for n in data[1:]:
                meta = _tensor(n.meta.get("tensor_meta"))
                if meta is None or n is not values.get("relative_position_bias"):
                    return c
                operands.append(" ".join(f"z{k}" for k in range(len(meta.shape))))
            c.dims = f"{', '.join(operands)}, c w -> b i j c"
        return c


def _where(node: fx.Node) -> str:
    """ " in module 'layer1.0.conv1' (Conv2d)" for a node that belongs to a module, else ""."""
    if node.op == "call_module":
        return f" in module '{node.target}'"
    path, cls = node.meta.get("x_module", ("", ""))
    return f" in module '{path}' ({cls})" if path else ""


class _NamingShapeProp(ShapeProp):
    """ShapeProp whose errors name the node, its module and PyTorch's message."""

    def run_node(self, n: fx.Node):
        # ShapeProp.run_node prints the traceback and replaces the error by its own; run the node
        # first (fx.Interpreter) to keep PyTorch's message, then let ShapeProp record the shapes.
        opaque = getattr(self.module, "opplan_opaque", {})
        try:
            if n.op == "call_module" and n.target in opaque:
                # A module the trace could not enter: its cost from the aten operators it runs.
                counter = _aten_cost.AtenCost(self.module.get_submodule(n.target).parameters())
                with counter:
                    result = fx.Interpreter.run_node(self, n)
                n.meta["x_aten"] = counter
            else:
                result = fx.Interpreter.run_node(self, n)
        except Exception as e:
            module = ""
            if n.op == "call_module":
                sub = self.module.get_submodule(n.target)
                module = f" in module '{n.target}' ({type(sub).__name__})"
            else:
                module = _where(n)
            raise ExportError(f"the module fails on its example inputs: node '{n.name}'{module}: "
                              f"{type(e).__name__}: {e}") from None
        found = False

        def meta_of(obj):
            nonlocal found
            if isinstance(obj, torch.Tensor):
                found = True
                return _extract_tensor_metadata(obj)
            return obj

        meta = fx.node.map_aggregate(result, meta_of)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result


def export_module(module: nn.Module, example_inputs: Sequence[Any], name: Optional[str] = None,
                  inputs_require_grad: bool = False, warnings: Optional[List[str]] = None) -> Dict[str, Any]:
    """Traces `module` on `example_inputs` (a tuple of the forward's positional arguments) and returns
    the opplan graph as a dict ready for json.dump. Raises ExportError naming the node / module when the
    module cannot be traced. Warnings (ops without a FLOP rule) are appended to `warnings` if given."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    was_training = module.training
    module.train()  # the graph of one training step: dropout on, batch norm with batch statistics
    try:
        gm = trace(module, example_inputs)
        gm.eval()
        try:
            with torch.no_grad():
                _NamingShapeProp(gm).propagate(*example_inputs)
        except ExportError:
            raise
        except Exception as e:
            raise ExportError(f"running the traced graph on the example inputs failed: {type(e).__name__}: {e}") from None
        gm.train()
        exporter = _Exporter(gm, module, name if name is not None else type(module).__name__, inputs_require_grad)
        for path, why in gm.opplan_opaque.items():
            exporter.warnings.append(f"module '{path}' is one op, costed from the aten operators of its run on the "
                                     f"example inputs (no dims annotation): {why.splitlines()[0]}")
        doc = exporter.run()
        doc["x-exporter"] = {"tool": "opplan_export.py", "torch": torch.__version__,
                             "inputs": [list(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)]}
        if warnings is not None:
            warnings.extend(exporter.warnings)
        return doc
    finally:
        module.train(was_training)


def dumps(doc: Dict[str, Any], one_line: bool = False) -> str:
    """The graph as JSON text: one op or edge per line (small and diff-friendly), or one line.
    allow_nan=False: a NaN or infinity is an exporter bug, better caught here than by the reader."""
    def enc(value):
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(", ", ": "))
    if one_line:
        return json.dumps(doc, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    lines = ["{"]
    for key, value in doc.items():
        if key in ("ops", "edges"):
            continue
        lines.append(f" {enc(key)}: {enc(value)},")
    for key in ("ops", "edges"):
        items = doc.get(key, [])
        lines.append(f" {enc(key)}: [")
        lines.extend(f"  {enc(item)}{',' if i + 1 < len(items) else ''}" for i, item in enumerate(items))
        lines.append(" ]," if key == "ops" else " ]")
    lines.append("}")
    return "\n".join(lines)


# ---- command line -----------------------------------------------------------------------------

def _builtin_model(name: str, batch: int):
    import torchvision.models as tvm
    if name == "transformer":
        # nn.Transformer's default sizes (d_model 512, 8 heads, 6 + 6 layers, FFN 2048) on short
        # sequences: source 32 and target 32 tokens, sequence-first layout.
        model = nn.Transformer()
        return model, (torch.randn(32, batch, 512), torch.randn(32, batch, 512))
    if name == "inception_v3":
        return tvm.inception_v3(weights=None, aux_logits=False, init_weights=False), (torch.randn(batch, 3, 299, 299),)
    constructors = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50, "densenet121": tvm.densenet121,
                    "wide_resnet50_2": tvm.wide_resnet50_2, "swin_t": tvm.swin_t}
    return constructors[name](weights=None), (torch.randn(batch, 3, 224, 224),)


MODELS = ["resnet18", "resnet50", "inception_v3", "densenet121", "wide_resnet50_2", "swin_t", "transformer"]


def _load_factory(spec: str):
    if ":" not in spec:
        raise ExportError(f"--module '{spec}': expected 'package.module:factory' or 'file.py:factory'")
    where, factory = spec.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            if not os.path.isfile(where):
                raise ExportError(f"--module '{spec}': no file '{where}'")
            sys.dont_write_bytecode = True  # no __pycache__ beside the user's file
            mod_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(where))[0], where)
            mod = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(where)
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"--module '{spec}': cannot import '{where}': {type(e).__name__}: {e}") from None
    if not hasattr(mod, factory):
        raise ExportError(f"--module '{spec}': '{where}' has no attribute '{factory}'")
    return getattr(mod, factory)


def load_module(spec: str, input_shapes: Optional[Sequence[str]] = None) -> Tuple[nn.Module, Tuple[Any, ...]]:
    """The module and example inputs of a factory spec (``FILE.py:FACTORY`` or ``pkg.mod:FACTORY``):
    the factory returns a module or (module, example inputs); ``input_shapes`` ("8,3,224,224", one
    per input) give random inputs instead, and are required for a bare module."""
    made = _load_factory(spec)()
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], nn.Module):
        module, inputs = made
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs,)
    elif isinstance(made, nn.Module):
        module = made
        if not input_shapes:
            raise ExportError(f"--module '{spec}' returned a module without example inputs: give --input-shape")
    else:
        raise ExportError(f"--module '{spec}': the factory returned {type(made).__name__}, "
                          f"not an nn.Module or (module, example_inputs)")
    if input_shapes:
        inputs = tuple(torch.randn(*_parse_shape(s)) for s in input_shapes)
    return module, tuple(inputs)


def _parse_shape(text: str) -> List[int]:
    try:
        shape = [int(x) for x in text.split(",")]
    except ValueError:
        raise ExportError(f"--input-shape '{text}': expected comma-separated integers such as 8,3,224,224") from None
    if any(d <= 0 for d in shape):
        raise ExportError(f"--input-shape '{text}': dimensions must be positive")
    return shape


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="opplan_export.py",
                                     description="Export a PyTorch model as an opplan graph JSON file.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", choices=MODELS, help="a built-in model (torchvision, weights=None, or nn.Transformer)")
    source.add_argument("--module", metavar="MOD:FACTORY",
                        help="factory returning a module or (module, example_inputs); MOD is a package.module or a .py file")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the built-in models' example inputs (default 1)")
    parser.add_argument("--input-shape", action="append", default=[], metavar="D0,D1,...",
                        help="shape of one float32 example input for --module (repeat for several inputs)")
    parser.add_argument("--name", help="graph name (default: the model name)")
    parser.add_argument("--inputs-require-grad", action="store_true",
                        help="the graph inputs need gradients (e.g. the model is a middle stage)")
    parser.add_argument("--output", "-o", help="output file (default: standard output)")
    parser.add_argument("--one-line", action="store_true", help="write the JSON on one line (default: one op or edge per line)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on standard error")
    args = parser.parse_args(argv)
    if args.batch <= 0:
        parser.error("--batch must be positive")
    torch.manual_seed(0)
    start = time.time()
    try:
        if args.model:
            module, inputs = _builtin_model(args.model, args.batch)
            name = args.name or args.model
        else:
            module, inputs = load_module(args.module, args.input_shape)
            name = args.name or args.module.rsplit(":", 1)[1]
        warnings: List[str] = []
        doc = export_module(module, inputs, name=name, inputs_require_grad=args.inputs_require_grad, warnings=warnings)
    except ExportError as e:
        print(f"opplan_export: error: {e}", file=sys.stderr)
        return 1
    text = dumps(doc, one_line=args.one_line)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as e:
            print(f"opplan_export: error: cannot write '{args.output}': {e.strerror}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text + "\n")
    if not args.quiet:
        for w in sorted(set(warnings)):
            print(f"opplan_export: warning: {w}", file=sys.stderr)
        ops = doc["ops"]
        fwd = sum(op.get("forward", {}).get("flops", 0) for op in ops)
        params = sum(op.get("param_bytes", 0) for op in ops)
        print(f"opplan_export: {doc['name']}: {len(ops)} ops, {len(doc['edges'])} edges, forward {fwd / 1e9:.3f} GFLOP, "
              f"parameters {params / 1e6:.2f} MB, {time.time() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
