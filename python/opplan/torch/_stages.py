"""A traced module cut into pipeline stages, for opplan.torch.run.

The module is traced with the exporter's tracer (``_fx_export.trace``), so its fx node names are the
op names of the exported graph, of a plan made on it and of ``pipelining.stage_split``. A split is
one list of op names per stage; every other node (``get_attr``, sizes and other non-tensor values,
the output) goes to the stage that first can compute it. Each stage becomes an ``fx.GraphModule``:

    stage_s(*carried values, *model inputs it reads) -> (main, weight_op_values)

``main`` is the tuple of values the next stage needs (everything computed on stages <= s and read on
a later stage, including values that only pass through), or on the last stage the module's own output
structure. ``weight_op_values`` are the outputs of the stage's ops that own parameters: the
runtime's input-gradient step (I) differentiates the stage with respect to its inputs *and* these
values, and its weight-gradient step (W) differentiates each of them with respect to its own
parameters only (Zero Bubble's split backward, one op at a time, so W never recomputes I's work).

Values crossing a stage boundary are sent as their tensor leaves (``torch.utils._pytree``); a
non-tensor leaf (a size, a dtype) is fixed by the example inputs and checked on every forward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
from torch import nn
from torch.utils import _pytree as pytree

from . import _fx_export


class SplitError(ValueError):
    """The module cannot be cut as asked: the split does not match the module or is not a chain."""


@dataclass
class Leaf:
    """One leaf of a value crossing a boundary: a tensor (sent) or a constant (checked)."""
    tensor: bool
    shape: Tuple[int, ...] = ()
    dtype: Optional[torch.dtype] = None
    differentiable: bool = False  # floating point: its gradient is sent back
    constant: Any = None

    @property
    def bytes(self) -> int:
        if not self.tensor:
            return 0
        return math.prod(self.shape) * torch.empty((), dtype=self.dtype).element_size()


@dataclass
class Boundary:
    """What stage s-1 hands to stage s (s >= 1): the carried nodes and their leaves, in order."""
    nodes: List[str]
    specs: List[Any]          # pytree spec per node
    leaves: List[List[Leaf]]  # per node

    def flat(self) -> List[Leaf]:
        return [leaf for per in self.leaves for leaf in per]

    @property
    def bytes(self) -> int:
        return sum(leaf.bytes for leaf in self.flat())


@dataclass
class WeightOp:
    node: str                         # the fx node (op) name
    params: List[str]                 # qualified names in the original module
    objects: List[nn.Parameter]       # the parameters themselves (shared with the stage module)


@dataclass
class StageProgram:
    index: int
    ops: List[str]                       # the op names of the split (graph ops, inputs excluded)
    module: fx.GraphModule
    inputs: List[int]                    # indices of the model inputs it reads (after the carried values)
    carry_in: Optional[Boundary]         # None on stage 0
    carry_out: Optional[Boundary]        # None on the last stage
    weight_ops: List[WeightOp]
    clone_inputs: List[bool]             # per carried tensor leaf: modified in place by the stage, so cloned
    param_names: List[str]               # every trainable parameter it holds (original names)
    # A parameter read by two ops of the stage (a module called twice): differentiating one op's
    # output with respect to it would also reach the other use, so the stage's weight gradient is
    # computed together with its input gradient (I) and W only releases the activations. The
    # reason names the parameter and the ops; empty when the backward splits.
    fused_weight_grad: str = ""


@dataclass
class Split:
    stages: List[StageProgram]
    input_defaults: List[Any]            # values of the forward's arguments beyond the example inputs
    num_inputs: int                      # placeholders of the traced forward

    def summary(self) -> List[str]:
        out = []
        for st in self.stages:
            if st.ops:
                out.append(f"stage {st.index}: {st.ops[0]} .. {st.ops[-1]} ({len(st.ops)} ops, "
                           f"{len(st.param_names)} parameters)")
            else:
                out.append(f"stage {st.index}: no ops")
        return out


def _is_tensor(x) -> bool:
    return isinstance(x, torch.Tensor)


def _example_values(gm: fx.GraphModule, inputs: Sequence[Any]) -> Dict[str, Any]:
    """Every node's value on the example inputs (eval mode, no gradients, like the exporter's shape
    pass: a batch-norm's running statistics are not touched)."""
    values: Dict[str, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            try:
                result = super().run_node(n)
            except Exception as e:
                raise SplitError(f"the module fails on its example inputs at node '{n.name}': "
                                 f"{type(e).__name__}: {e}") from None
            values[n.name] = result
            return result

    was = gm.training
    gm.eval()
    try:
        with torch.no_grad():
            Recorder(gm).run(*inputs)
    finally:
        gm.train(was)
    return values


def _inplace(node: fx.Node, gm: fx.GraphModule) -> bool:
    """Whether the node may write into its first argument."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.endswith("__")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return bool(node.kwargs.get("inplace", False)) or (name.endswith("_") and not name.endswith("__")) or \
            name.startswith("i") and name in ("iadd", "isub", "imul", "itruediv")
    return False


def split_module(module: nn.Module, example_inputs: Sequence[Any], stage_ops: Sequence[Sequence[str]],
                 graph_ops: Sequence[str], module_name: str = "") -> Split:
    """Cuts `module` into len(stage_ops) stages. `stage_ops[s]` names the ops of stage s (the exported
    graph's op names; ops of kind input may be listed or not); `graph_ops` are all the op names of the
    module's exported graph (every one must be on some stage)."""
    what = module_name or type(module).__name__
    example_inputs = tuple(example_inputs)
    was_training = module.training
    module.train()
    try:
        gm = _fx_export.trace(module, example_inputs)
    except _fx_export.ExportError as e:
        raise SplitError(str(e)) from None
    finally:
        module.train(was_training)
    gm.train()
    nodes = list(gm.graph.nodes)
    by_name = {n.name: n for n in nodes}
    placeholders = [n for n in nodes if n.op == "placeholder"]
    S = len(stage_ops)
    if S < 1:
        raise SplitError("the split has no stages")

    # ---- which stage computes each node -----------------------------------------------------------
    stage_of: Dict[str, int] = {}
    seen_ops = set()
    for s, names in enumerate(stage_ops):
        for name in names:
            node = by_name.get(name)
            if node is None:
                raise SplitError(f"the split does not match module {what}: op '{name}' of stage {s} is not a node "
                                 f"of its traced graph (was the plan made for another module or input shape?)")
            if name in seen_ops:
                raise SplitError(f"op '{name}' is on two stages ({stage_of[name]} and {s})")
            seen_ops.add(name)
            if node.op != "placeholder":
                stage_of[name] = s
    missing = [name for name in graph_ops if name not in seen_ops and by_name.get(name) is not None
               and by_name[name].op != "placeholder"]
    unknown = [name for name in graph_ops if name not in by_name]
    if unknown:
        raise SplitError(f"the split does not match module {what}: its graph has op '{unknown[0]}' that the traced "
                         f"module does not ({len(unknown)} such ops)")
    if missing:
        raise SplitError(f"the split does not match module {what}: op '{missing[0]}' is on no stage "
                         f"({len(missing)} ops of the module are missing from the plan)")

    users: Dict[str, List[fx.Node]] = {n.name: list(n.users) for n in nodes}
    for n in nodes:
        if n.op in ("placeholder", "get_attr") or n.name in stage_of:
            continue
        if n.op == "output":
            stage_of[n.name] = S - 1
            continue
        staged = [stage_of[u.name] for u in n.all_input_nodes if u.name in stage_of]
        if staged:
            stage_of[n.name] = max(staged)
        else:  # depends only on inputs and constants: computed where it is first needed
            stage_of[n.name] = -1  # resolved below, users come later in topological order
    for n in reversed(nodes):
        if stage_of.get(n.name) == -1:
            user_stages = [stage_of[u.name] for u in users[n.name] if stage_of.get(u.name, -1) >= 0]
            stage_of[n.name] = min(user_stages) if user_stages else 0

    for n in nodes:
        if n.name not in stage_of:
            continue
        for u in n.all_input_nodes:
            if u.name in stage_of and stage_of[u.name] > stage_of[n.name]:
                raise SplitError(f"the split of module {what} is not a pipeline: '{n.name}' on stage "
                                 f"{stage_of[n.name]} reads '{u.name}' of the later stage {stage_of[u.name]}")

    values = _example_values(gm, example_inputs)

    # ---- parameters: identity -> name in the original module; ownership per stage -----------------
    param_name = {id(p): name for name, p in module.named_parameters()}

    def resolve_attr(target: str):
        obj: Any = gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def params_of(n: fx.Node) -> List[nn.Parameter]:
        found: List[nn.Parameter] = []
        if n.op == "call_module":
            found = [p for p in gm.get_submodule(n.target).parameters() if p.requires_grad]
        elif n.op in ("call_function", "call_method"):
            for u in n.all_input_nodes:
                if u.op == "get_attr":
                    obj = resolve_attr(u.target)
                    if isinstance(obj, nn.Parameter) and obj.requires_grad:
                        found.append(obj)
        return found

    owner_stage: Dict[int, Tuple[int, str]] = {}
    for n in nodes:
        if n.op in ("call_module", "call_function", "call_method"):
            for p in params_of(n):
                s = stage_of[n.name]
                if id(p) in owner_stage and owner_stage[id(p)][0] != s:
                    raise SplitError(
                        f"parameter '{param_name.get(id(p), '?')}' of module {what} is used on stages "
                        f"{owner_stage[id(p)][0]} ('{owner_stage[id(p)][1]}') and {s} ('{n.name}'): the runtime keeps "
                        f"each parameter on one stage (tied weights must be on one stage)")
                owner_stage.setdefault(id(p), (s, n.name))

    # ---- boundaries ----------------------------------------------------------------------------------
    def leaves_of(name: str):
        value = values[name]
        flat, spec = pytree.tree_flatten(value)
        leaves = []
        for v in flat:
            if _is_tensor(v):
                leaves.append(Leaf(True, tuple(v.shape), v.dtype, v.dtype.is_floating_point))
            else:
                leaves.append(Leaf(False, constant=v))
        return spec, leaves

    boundaries: List[Optional[Boundary]] = [None] * S
    for s in range(1, S):
        carried = []
        for n in nodes:
            if n.op in ("placeholder", "get_attr", "output") or stage_of[n.name] >= s:
                continue
            if any(stage_of.get(u.name, -2) >= s for u in users[n.name]):
                carried.append(n.name)
        specs, leaves = [], []
        for name in carried:
            spec, lv = leaves_of(name)
            specs.append(spec)
            leaves.append(lv)
        boundaries[s] = Boundary(carried, specs, leaves)

    # ---- one GraphModule per stage -------------------------------------------------------------------
    output_node = next(n for n in nodes if n.op == "output")
    stages: List[StageProgram] = []
    for s in range(S):
        g = fx.Graph()
        env: Dict[str, fx.Node] = {}
        carry_in = boundaries[s]
        if carry_in is not None:
            for name in carry_in.nodes:
                env[name] = g.placeholder(f"carry_{name}")
        body = [n for n in nodes if n.op not in ("placeholder", "get_attr", "output") and stage_of[n.name] == s]
        reads_inputs = sorted({placeholders.index(u) for n in body + ([output_node] if s == S - 1 else [])
                               for u in n.all_input_nodes if u.op == "placeholder"})
        for i in reads_inputs:
            env[placeholders[i].name] = g.placeholder(placeholders[i].name)

        def lookup(u: fx.Node) -> fx.Node:
            if u.name not in env:
                if u.op == "get_attr":
                    env[u.name] = g.get_attr(u.target)
                else:
                    raise SplitError(f"internal error: stage {s} reads '{u.name}' which it neither computes nor "
                                     f"receives")
            return env[u.name]

        for n in body:
            env[n.name] = g.node_copy(n, lookup)
        weight_ops = []
        weight_values = []
        stage_params: List[str] = []
        fused = ""
        first_use: Dict[str, str] = {}
        for n in body:
            ps = params_of(n)
            if ps:
                names = [param_name.get(id(p), f"<unnamed parameter of {n.name}>") for p in ps]
                weight_ops.append(WeightOp(n.name, names, ps))
                weight_values.append(env[n.name])
                for x in names:
                    if x in first_use and not fused:
                        fused = f"parameter '{x}' is read by ops '{first_use[x]}' and '{n.name}'"
                    first_use.setdefault(x, n.name)
                stage_params.extend(x for x in names if x not in stage_params)
        if s < S - 1:
            carry_out = boundaries[s + 1]
            main = tuple(lookup(by_name[name]) for name in carry_out.nodes)
        else:
            carry_out = None
            main = fx.node.map_arg(output_node.args[0], lookup)
        g.output((main, tuple(weight_values)))
        stage_module = fx.GraphModule(gm, g, f"{type(module).__name__}_stage{s}")
        stage_module.train()
        # Carried tensors the stage writes in place are cloned first (autograd refuses in-place
        # writes into a leaf that requires grad).
        clone = []
        if carry_in is not None:
            written = set()
            for n in body:
                if _inplace(n, gm) and n.args and isinstance(n.args[0], fx.Node):
                    written.add(n.args[0].name)
            for name, per in zip(carry_in.nodes, carry_in.leaves):
                clone.extend(leaf.tensor and name in written for leaf in per)
        ops = [name for name in stage_ops[s] if name in stage_of]
        stages.append(StageProgram(s, ops, stage_module, reads_inputs, carry_in, carry_out, weight_ops, clone,
                                   stage_params, fused))

    defaults = [values[p.name] for p in placeholders[len(example_inputs):]]
    return Split(stages, defaults, len(placeholders))


def model_inputs(split: Split, micro_batch: Sequence[Any]) -> List[Any]:
    """The forward's arguments: the micro-batch, then the defaults the tracer fixed."""
    return list(micro_batch) + list(split.input_defaults)


def run_sequentially(split: Split, micro_batch: Sequence[Any]):
    """The stages one after the other on one micro-batch (no gradients): the module's output."""
    args = model_inputs(split, micro_batch)
    carried: List[Any] = []
    out = None
    for st in split.stages:
        main, _ = st.module(*carried, *[args[i] for i in st.inputs])
        if st.carry_out is not None:
            carried = list(main)
        else:
            out = main
    return out


def make_micro_batches(example_inputs: Sequence[Any], count: int, seed: int = 0) -> List[Tuple[Any, ...]]:
    """`count` micro-batches shaped like the example inputs: the example itself first, then random
    ones (normal floats; integers drawn between the example's smallest and largest value, so token
    ids stay valid; booleans and non-tensors as in the example)."""
    example_inputs = tuple(example_inputs)
    out = [example_inputs]
    for m in range(1, count):
        g = torch.Generator().manual_seed(seed * 1000003 + m)
        mb = []
        for t in example_inputs:
            if not _is_tensor(t) or t.dtype == torch.bool or t.numel() == 0:
                mb.append(t)
            elif t.dtype.is_floating_point:
                mb.append(torch.randn(t.shape, generator=g, dtype=t.dtype))
            else:
                lo, hi = int(t.min()), int(t.max())
                mb.append(torch.randint(lo, hi + 1, t.shape, generator=g, dtype=t.dtype))
        out.append(tuple(mb))
    return out
