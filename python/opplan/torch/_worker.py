"""One pipeline rank of opplan.torch.run: a forked process that executes its actions in order.

The parent builds a :class:`Job` (stage programs, every rank's actions, the micro-batches, the
loss) and forks one process per rank; each joins a gloo process group on 127.0.0.1 and runs
:func:`rank_main`. Per action:

- ``F`` receives the stage's inputs (or takes the micro-batch on stage 0), runs the stage module
  with autograd recording, and sends what the next stage needs (``isend``; never waited for
  until the end of the iteration, so a send cannot block);
- ``I`` receives the gradient of the stage's outputs (or starts from the loss on the last stage),
  differentiates with respect to the stage's inputs and to the outputs of its parameter-owning ops
  (``torch.autograd.grad``, graph retained), and sends the input gradient back;
- ``W`` differentiates each parameter-owning op's output with respect to that op's parameters,
  accumulates into ``.grad`` and releases the micro-batch's activations;
- ``B`` is ``I`` then ``W``.

Every message has a tag naming its direction, route, stage boundary, micro-batch and leaf, so the
order in which two ranks post them does not matter. Progress (action, state, peer) goes to a shared
array the parent watches; a failure goes to the queue with its traceback.

Live activations are counted as the runtime holds them: a micro-batch's stage activation is live
from its ``F`` until its ``W`` (or ``B``) has run *and* autograd has released every tensor it saved
for it (a saved-tensor hook counts them), which is the plan's rule (an F adds one, a B or a W frees
it). The count is sampled after every action.
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch.utils import _pytree as pytree

from ._stages import StageProgram

# Progress slots per rank in the shared array.
SLOTS = 6
ITERATION, ACTION, STATE, PEER, TICKS, DETAIL = range(SLOTS)
# States.
STARTING, COMPUTING, RECEIVING, SENDS, BARRIER, DONE, FAILED = range(7)
# What a rank is receiving (DETAIL while RECEIVING).
RECV_ACTIVATION, RECV_GRADIENT = 1, 2

WORK_NAMES = {"F": "forward", "I": "input gradient", "W": "weight gradient", "B": "backward"}


@dataclass
class Action:
    work: str          # F, I, W or B
    route: int
    stage: int
    micro_batch: int   # numbered per route
    name: str          # PyTorch's notation with global numbering: "1F3"
    pair: str = ""     # the other half of an overlapped F&B slot

    def describe(self, num_routes: int) -> str:
        route = f", route {'ab'[self.route] if self.route < 2 else self.route}" if num_routes > 1 else ""
        pair = f", first half of the overlapped slot '{self.name}&{self.pair}'" if self.pair and self.work == "F" else \
            (f", second half of the overlapped slot '{self.pair}&{self.name}'" if self.pair else "")
        return (f"'{self.name}' ({WORK_NAMES[self.work]} of stage {self.stage}{route}, "
                f"micro-batch {self.micro_batch}{pair})")


@dataclass
class Fault:
    """Test hook: make `rank` misbehave at its action `action` ("raise", "exit" or "hang")."""
    rank: int
    action: int
    kind: str


@dataclass
class Job:
    ranks: int
    port: int
    stages: List[StageProgram]
    routes: List[List[int]]            # routes[r][s] = rank of stage s on route r
    micro_batches_per_route: int
    micro_batches: List[Tuple[Any, ...]]   # global: route r's micro-batch m is r * M + m
    input_defaults: List[Any]
    loss: Callable[[Any], torch.Tensor]
    actions: List[List[Action]]        # per rank, in execution order
    iterations: int = 1
    warmup: int = 0
    timeout: float = 60.0
    fault: Optional[Fault] = None
    max_leaves: int = 1

    @property
    def num_routes(self) -> int:
        return len(self.routes)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def tag(self, kind: int, route: int, stage: int, micro_batch: int, leaf: int) -> int:
        # kind 0: activations into `stage`; kind 1: gradients out of `stage`.
        t = ((kind * self.num_routes + route) * self.num_stages + stage) * self.micro_batches_per_route + micro_batch
        return t * self.max_leaves + leaf


class _LiveActivations:
    """Tensors autograd saved, per (route, stage, micro-batch), released when autograd frees them."""

    def __init__(self):
        self.count: Dict[Tuple[int, int, int], int] = {}
        self.storages: Dict[Tuple[int, int, int], Dict[int, List[int]]] = {}
        self.bytes = 0
        self.current: Optional[Tuple[int, int, int]] = None

    def pack(self, t: torch.Tensor):
        return _Saved(t, self.current, self)

    @staticmethod
    def unpack(saved: "_Saved") -> torch.Tensor:
        return saved.tensor

    def live_keys(self):
        return {k for k, c in self.count.items() if c > 0}


class _Saved:
    __slots__ = ("tensor", "key", "live", "ptr")

    def __init__(self, t: torch.Tensor, key, live: _LiveActivations):
        # Detached: holding the tensor with its grad_fn would make a reference cycle through the
        # autograd graph that is never freed.
        self.tensor = t.detach()
        self.key = key
        self.live = live
        live.count[key] = live.count.get(key, 0) + 1
        try:
            storage = t.storage()
            self.ptr = storage.data_ptr()
            nbytes = storage.nbytes()
        except Exception:  # tensors without storage (sparse, nested)
            self.ptr, nbytes = id(t), t.numel() * t.element_size()
        per = live.storages.setdefault(key, {})
        entry = per.get(self.ptr)
        if entry is None:
            per[self.ptr] = [1, nbytes]
            live.bytes += nbytes
        else:
            entry[0] += 1

    def __del__(self):
        live = self.live
        live.count[self.key] -= 1
        per = live.storages.get(self.key)
        if per is not None:
            entry = per.get(self.ptr)
            if entry is not None:
                entry[0] -= 1
                if entry[0] == 0:
                    live.bytes -= entry[1]
                    del per[self.ptr]


@dataclass
class _Context:
    """What F keeps for the backward of one (route, stage, micro-batch)."""
    inputs: List[torch.Tensor]           # carried leaves that need a gradient (in leaf order)
    input_leaf_index: List[int]          # their positions among the carried leaves
    num_input_leaves: int
    outputs: List[Optional[torch.Tensor]]  # per carried-out leaf: the tensor if it needs a gradient
    loss: Optional[torch.Tensor]
    weights: List[List[torch.Tensor]]    # per weight op: its output tensors that need a gradient
    weight_grads: Optional[List[List[Optional[torch.Tensor]]]] = None
    fused_done: bool = False


@dataclass
class RankResult:
    rank: int
    gradients: Dict[str, Any] = field(default_factory=dict)   # parameter name -> numpy array
    # Per measured iteration, per action: (turned to it, compute start, end, CPU seconds of the thread).
    timings: List[List[Tuple[float, float, float, float]]] = field(default_factory=list)
    peak_activations: int = 0
    peak_saved_bytes: int = 0
    losses: Dict[int, float] = field(default_factory=dict)     # global micro-batch -> loss (last iteration)


class _Runner:
    def __init__(self, rank: int, job: Job, progress):
        self.rank = rank
        self.job = job
        self.progress = progress
        self.base = rank * SLOTS
        self.live = _LiveActivations()
        self.contexts: Dict[Tuple[int, int, int], _Context] = {}
        self.local: Dict[Tuple[int, int, int, int], List[torch.Tensor]] = {}
        self.sends: List[Any] = []
        self.current: Optional[Action] = None
        self.peak = 0
        self.peak_bytes = 0
        self.losses: Dict[int, float] = {}
        self.stage_set = sorted({a.stage for a in job.actions[rank]})
        self.t_start: Optional[float] = None  # set by recv(): when the current action's inputs arrived

    # ---- progress ------------------------------------------------------------------------------------
    def state(self, state: int, peer: int = -1, detail: int = 0):
        p, b = self.progress, self.base
        p[b + STATE] = state
        p[b + PEER] = peer
        p[b + DETAIL] = detail
        p[b + TICKS] += 1

    # ---- communication -------------------------------------------------------------------------------
    def send(self, tensors: List[torch.Tensor], dst: int, kind: int, route: int, stage: int, mb: int):
        if dst == self.rank:
            self.local[(kind, route, stage, mb)] = [t.detach() for t in tensors]
            return
        for i, t in enumerate(tensors):
            self.sends.append(dist.isend(t.detach().contiguous(), dst, tag=self.job.tag(kind, route, stage, mb, i)))
        if len(self.sends) > 64:
            self.sends = [w for w in self.sends if not w.is_completed()]

    def recv(self, shapes: List[Tuple[Tuple[int, ...], torch.dtype]], src: int, kind: int, route: int, stage: int,
             mb: int) -> List[torch.Tensor]:
        if src == self.rank:
            out = self.local.pop((kind, route, stage, mb))
        else:
            self.state(RECEIVING, src, RECV_ACTIVATION if kind == 0 else RECV_GRADIENT)
            out = []
            for i, (shape, dtype) in enumerate(shapes):
                buf = torch.empty(shape, dtype=dtype)
                dist.recv(buf, src, tag=self.job.tag(kind, route, stage, mb, i))
                out.append(buf)
            self.state(COMPUTING)
        self.t_start = time.perf_counter()  # the action's compute starts once its inputs are here
        return out

    # ---- actions ---------------------------------------------------------------------------------------
    def forward(self, a: Action):
        job = self.job
        st: StageProgram = job.stages[a.stage]
        key = (a.route, a.stage, a.micro_batch)
        carried: List[Any] = []
        inputs: List[torch.Tensor] = []
        input_index: List[int] = []
        num_in = 0
        if st.carry_in is not None:
            leaves = st.carry_in.flat()
            tensor_leaves = [lf for lf in leaves if lf.tensor]
            src = job.routes[a.route][a.stage - 1]
            got = self.recv([(lf.shape, lf.dtype) for lf in tensor_leaves], src, 0, a.route, a.stage, a.micro_batch)
            num_in = len(got)
            ready = []
            for i, (t, lf) in enumerate(zip(got, tensor_leaves)):
                if lf.differentiable:
                    t = t.detach().requires_grad_(True)
                    inputs.append(t)
                    input_index.append(i)
                    ready.append(t.clone() if st.clone_inputs[i] else t)
                else:
                    ready.append(t)
            it = iter(ready)
            for spec, per in zip(st.carry_in.specs, st.carry_in.leaves):
                flat = [next(it) if lf.tensor else lf.constant for lf in per]
                carried.append(pytree.tree_unflatten(flat, spec))
        gmb = a.route * job.micro_batches_per_route + a.micro_batch
        args = list(job.micro_batches[gmb]) + list(job.input_defaults)
        self.live.current = key
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(self.live.pack, self.live.unpack):
            main, weight_values = st.module(*carried, *[args[i] for i in st.inputs])
            loss = None
            if st.carry_out is None:
                loss = job.loss(main)
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    shape = list(loss.shape) if isinstance(loss, torch.Tensor) else ""
                    raise TypeError(f"the loss must return a tensor with one element, got {type(loss).__name__}{shape}")
                if not loss.requires_grad:
                    raise ValueError("the loss does not depend on any parameter (it does not require grad)")
        self.live.current = None
        weights = []
        for value in weight_values:
            weights.append([t for t in pytree.tree_flatten(value)[0]
                            if isinstance(t, torch.Tensor) and t.requires_grad])
        outputs: List[Optional[torch.Tensor]] = []
        if st.carry_out is not None:
            to_send = []
            for node, spec, per, value in zip(st.carry_out.nodes, st.carry_out.specs, st.carry_out.leaves, main):
                flat = pytree.tree_flatten(value)[0]
                if len(flat) != len(per):
                    raise RuntimeError(f"stage {a.stage}: value '{node}' has {len(flat)} leaves on micro-batch "
                                       f"{gmb}, {len(per)} on the example inputs")
                for v, lf in zip(flat, per):
                    if lf.tensor:
                        if not isinstance(v, torch.Tensor) or tuple(v.shape) != lf.shape or v.dtype != lf.dtype:
                            raise RuntimeError(
                                f"stage {a.stage}: value '{node}' sent to stage {a.stage + 1} is "
                                f"{_describe(v)} on micro-batch {gmb}, {list(lf.shape)} {lf.dtype} on the example "
                                f"inputs: every micro-batch must have the example's shapes")
                        to_send.append(v)
                        outputs.append(v if (lf.differentiable and v.requires_grad) else None)
                    elif v != lf.constant:
                        raise RuntimeError(
                            f"stage {a.stage}: the non-tensor value '{node}' ({v!r}) differs from the example "
                            f"inputs' ({lf.constant!r}) on micro-batch {gmb}; the runtime only sends tensors "
                            f"between stages and fixes other values from the example")
            dst = job.routes[a.route][a.stage + 1]
            self.send(to_send, dst, 0, a.route, a.stage + 1, a.micro_batch)
        else:
            self.losses[gmb] = float(loss.detach())
        self.contexts[key] = _Context(inputs, input_index, num_in, outputs, loss, weights)

    def input_grad(self, a: Action):
        job = self.job
        st: StageProgram = job.stages[a.stage]
        key = (a.route, a.stage, a.micro_batch)
        ctx = self.contexts.get(key)
        if ctx is None:
            raise RuntimeError(f"{a.name}: no forward of this stage and micro-batch has run on this rank")
        if ctx.loss is not None:
            roots = [ctx.loss]
            grads = [torch.ones_like(ctx.loss)]
        else:
            leaves = [lf for lf in st.carry_out.flat() if lf.tensor]
            wanted = [(lf.shape, lf.dtype) for lf in leaves if lf.differentiable]
            dst = job.routes[a.route][a.stage + 1]
            got = self.recv(wanted, dst, 1, a.route, a.stage + 1, a.micro_batch)
            it = iter(got)
            roots, grads = [], []
            for out, lf in zip(ctx.outputs, leaves):
                g = next(it) if lf.differentiable else None
                if out is not None:
                    roots.append(out)
                    grads.append(g)
        flat_weights = [t for ts in ctx.weights for t in ts]
        fused = bool(st.fused_weight_grad)
        params = [p for w in st.weight_ops for p in w.objects] if fused else []
        params = list({id(p): p for p in params}.values())
        targets = ctx.inputs + ([] if fused else flat_weights) + params
        if roots and targets:
            res = torch.autograd.grad(roots, targets, grads, retain_graph=not fused, allow_unused=True)
        else:
            res = [None] * len(targets)
        n_in = len(ctx.inputs)
        input_grads = res[:n_in]
        if fused:
            for p, g in zip(params, res[n_in:]):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
            ctx.fused_done = True
        else:
            per_op, k = [], n_in
            for ts in ctx.weights:
                per_op.append(list(res[k:k + len(ts)]))
                k += len(ts)
            ctx.weight_grads = per_op
        ctx.loss = None
        ctx.outputs = []
        if st.carry_in is not None:
            tensor_leaves = [lf for lf in st.carry_in.flat() if lf.tensor]
            send = []
            grads_by_leaf = dict(zip(ctx.input_leaf_index, input_grads))
            for i, lf in enumerate(tensor_leaves):
                if lf.differentiable:
                    g = grads_by_leaf.get(i)
                    send.append(g if g is not None else torch.zeros(lf.shape, dtype=lf.dtype))
            src = job.routes[a.route][a.stage - 1]
            self.send(send, src, 1, a.route, a.stage, a.micro_batch)
        ctx.inputs = []

    def weight_grad(self, a: Action):
        st: StageProgram = self.job.stages[a.stage]
        key = (a.route, a.stage, a.micro_batch)
        ctx = self.contexts.get(key)
        if ctx is None or (ctx.weight_grads is None and not ctx.fused_done):
            raise RuntimeError(f"{a.name}: the input gradient of this stage and micro-batch has not run on this rank")
        if not ctx.fused_done:
            for op, outs, grads in zip(st.weight_ops, ctx.weights, ctx.weight_grads):
                pairs = [(t, g) for t, g in zip(outs, grads) if g is not None]
                if not pairs:
                    continue
                res = torch.autograd.grad([t for t, _ in pairs], op.objects, [g for _, g in pairs],
                                          retain_graph=True, allow_unused=True)
                for p, g in zip(op.objects, res):
                    if g is not None:
                        p.grad = g if p.grad is None else p.grad + g
        del self.contexts[key]
        del ctx

    # ---- the loop --------------------------------------------------------------------------------------
    def sample(self):
        live = set(self.contexts) | self.live.live_keys()
        self.peak = max(self.peak, len(live))
        self.peak_bytes = max(self.peak_bytes, self.live.bytes)

    def run(self) -> RankResult:
        job = self.job
        actions = job.actions[self.rank]
        result = RankResult(self.rank)
        clock = time.perf_counter
        for it in range(job.warmup + job.iterations):
            self.progress[self.base + ITERATION] = it
            for s in self.stage_set:
                for p in job.stages[s].module.parameters():
                    p.grad = None
            self.losses = {}
            self.state(BARRIER)
            dist.barrier()
            self.state(COMPUTING)
            times: List[Tuple[float, float, float, float]] = []
            for i, a in enumerate(actions):
                self.current = a
                self.progress[self.base + ACTION] = i
                self.state(COMPUTING)
                fault = job.fault
                if fault is not None and fault.rank == self.rank and fault.action == i and it == job.warmup:
                    if fault.kind == "exit":
                        os._exit(13)
                    if fault.kind == "hang":
                        time.sleep(10 ** 6)
                    raise RuntimeError(f"fault injected into action {a.name}")
                t0 = clock()
                c0 = time.thread_time()
                self.t_start = None
                if a.work == "F":
                    self.forward(a)
                elif a.work == "I":
                    self.input_grad(a)
                elif a.work == "W":
                    self.weight_grad(a)
                else:
                    self.input_grad(a)
                    self.weight_grad(a)
                t1 = clock()
                times.append((t0, self.t_start if self.t_start is not None else t0, t1, time.thread_time() - c0))
                self.sample()
            self.current = None
            self.state(SENDS)
            for w in self.sends:
                w.wait()
            self.sends = []
            if self.contexts:
                left = ", ".join(f"stage {s} micro-batch {m}" for (_, s, m) in sorted(self.contexts))
                raise RuntimeError(f"the actions of rank {self.rank} leave activations without a backward: {left}")
            if it >= job.warmup:
                result.timings.append(times)
        self.state(BARRIER)
        dist.barrier()
        for s in self.stage_set:
            for w in job.stages[s].weight_ops:
                for name, p in zip(w.params, w.objects):
                    g = p.grad if p.grad is not None else torch.zeros_like(p)
                    result.gradients[name] = g.detach().numpy().copy()
        result.peak_activations = self.peak
        result.peak_saved_bytes = self.peak_bytes
        result.losses = dict(self.losses)
        return result


def _describe(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"{list(v.shape)} {v.dtype}"
    return type(v).__name__


def rank_main(rank: int, job: Job, queue, progress) -> None:
    """Entry point of a forked rank process. Never returns: exits with 0 after putting its result on
    the queue, or 1 after putting its error."""
    runner = None
    try:
        torch.set_num_threads(1)
        progress[rank * SLOTS + STATE] = STARTING
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{job.port}", rank=rank,
                                world_size=job.ranks, timeout=timedelta(seconds=max(job.timeout * 4, 60)))
        runner = _Runner(rank, job, progress)
        result = runner.run()
        progress[rank * SLOTS + STATE] = DONE
        queue.put(("done", rank, result))
        queue.close()
        queue.join_thread()
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - everything is reported to the parent
        # A failure inside a receive, a send or a barrier is usually another rank's doing (its
        # connection closed): the parent reports it after the failures that are not.
        communication = progress[rank * SLOTS + STATE] in (STARTING, RECEIVING, SENDS, BARRIER) or \
            "gloo" in str(e) or "Connection" in str(e)
        progress[rank * SLOTS + STATE] = FAILED
        action = runner.current if runner is not None else None
        try:
            queue.put(("error", rank, action, f"{type(e).__name__}: {e}", traceback.format_exc(), communication))
            queue.close()
            queue.join_thread()
        finally:
            os._exit(1)
