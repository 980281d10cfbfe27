"""Aten-level costs of a module that torch.fx cannot trace (the exporter's fallback, issue 15).

When a submodule's forward has control flow on tensor values (``if x.sum() > 0``) or otherwise
defeats symbolic tracing, the exporter keeps it as one op (a leaf of the trace) and runs it on its
real example inputs under :class:`AtenCost`, a ``TorchDispatchMode`` that sees every aten operator
the module executes -- the path the data actually took -- and adds up the FLOPs by the exporter's
rules: matrix products and convolutions ``2 x MACs`` per phase (the weight gradient only for a
parameter operand; both operands' gradients for a product of two activations), normalisations
5 / 9 / 3 FLOPs per element, softmax 5 / 4, views and copies nothing, any other floating-point
operator one FLOP per element of its larger side (elementwise, reductions).

``torch.fx.experimental.proxy_tensor.make_fx`` records the same operators but, in torch 1.13, fails on
exactly the value-dependent control flow this fallback exists for; observing a real run does not.
"""
import math
from typing import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_VIEWS = {
    "view", "_unsafe_view", "_reshape_alias", "reshape", "t", "transpose", "permute", "expand", "slice", "select",
    "unsqueeze", "squeeze", "alias", "detach", "as_strided", "split", "split_with_sizes", "unbind", "chunk",
    "clone", "contiguous", "_to_copy", "copy_", "lift_fresh", "lift_fresh_copy", "empty", "empty_like", "zeros",
    "zeros_like", "ones", "ones_like", "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full",
    "arange", "item", "_local_scalar_dense", "cat", "stack", "index", "index_select", "gather", "masked_select",
    "nonzero", "flip", "roll", "repeat", "narrow", "diagonal", "unfold", "fill_", "zero_", "scalar_tensor",
    "is_nonzero", "equal", "sym_size", "sym_stride", "rand", "randn", "rand_like", "randn_like", "bernoulli_",
}
_NORMS = {"native_layer_norm", "native_batch_norm", "_native_batch_norm_legit", "native_group_norm",
          "_native_batch_norm_legit_no_training"}
_SOFTMAX = {"_softmax", "_log_softmax", "softmax", "log_softmax"}


def _numel(t) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


class AtenCost(TorchDispatchMode):
    """Adds up the forward, input-gradient and weight-gradient FLOPs of the aten operators run while
    it is active. `params`: the module's parameters (an operand that is one, or a view of one, is a
    weight)."""

    def __init__(self, params: Iterable[torch.nn.Parameter]):
        super().__init__()
        self.params = {id(p) for p in params}
        self.forward = 0.0
        self.input_grad = 0.0
        self.weight_grad = 0.0
        self.operators = 0

    def _is_param(self, t) -> bool:
        if not isinstance(t, torch.Tensor):
            return False
        while t is not None:
            if id(t) in self.params:
                return True
            t = t._base
        return False

    def _product(self, a, b, macs: float, bias: float = 0.0, bias_is_param: bool = False):
        self.forward += 2 * macs + bias
        weights = [x for x in (a, b) if self._is_param(x)]
        activations = 2 - len(weights)
        self.input_grad += 2 * macs * activations
        if weights or bias_is_param:
            self.weight_grad += 2 * macs * len(weights) + (bias if bias_is_param else 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.operators += 1
        name = func.overloadpacket.__name__
        if name in _VIEWS:
            return out
        if name == "mm":
            a, b = args[0], args[1]
            self._product(a, b, a.shape[0] * a.shape[1] * b.shape[1])
        elif name == "addmm":
            bias, a, b = args[0], args[1], args[2]
            self._product(a, b, a.shape[0] * a.shape[1] * b.shape[1], _numel(out), self._is_param(bias))
        elif name == "bmm":
            a, b = args[0], args[1]
            self._product(a, b, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
        elif name == "baddbmm":
            bias, a, b = args[0], args[1], args[2]
            self._product(a, b, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], _numel(out), self._is_param(bias))
        elif name in ("convolution", "_convolution"):
            x, w, bias, transposed = args[0], args[1], args[2], args[6]
            per_element = w.shape[1] * math.prod(w.shape[2:])
            macs = (_numel(x) if transposed else _numel(out)) * per_element
            self._product(x, w, macs, _numel(out) if bias is not None else 0, self._is_param(bias))
        elif name in _NORMS:
            n = _numel(args[0])
            self.forward += 5 * n
            self.input_grad += 9 * n
            if any(self._is_param(a) for a in args[1:3]):
                self.weight_grad += 3 * n
        elif name in _SOFTMAX:
            n = _numel(args[0])
            self.forward += 5 * n
            self.input_grad += 4 * n
        else:
            outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.is_floating_point()]
            if outs:
                ins = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
                n = max([_numel(t) for t in outs + ins])
                self.forward += n
                self.input_grad += n
                if any(self._is_param(t) for t in ins):
                    self.weight_grad += n
        return out
