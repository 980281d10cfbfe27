"""opplan.torch.run: an opplan pipeline plan executed by real PyTorch processes.

    import torch, opplan.torch.run as runner
    model = torch.nn.Sequential(*[torch.nn.Linear(32, 32) for _ in range(8)])
    result = runner.run(model, (torch.randn(8, 32),), ranks=2, schedule="zb-h1")
    result.gradients_match, result.max_relative_error, result.peak_activations, result.measured_seconds
    print(result.report())

    python3 -m opplan.torch.run --module FILE.py:FACTORY --ranks 2 --schedule zb-h1 [--json]
    python3 -m opplan.torch.run --module FILE.py:FACTORY --ranks 2 --plan PLAN.json
    python3 -m opplan.torch.run --module FILE.py:FACTORY --ranks 2 --plan auto --iterations 5   # profile, plan, run

One process per pipeline rank (forked, gloo over 127.0.0.1) executes the plan's actions in the plan's
order with real tensors: F, I (input gradient), W (weight gradient) and B (both), the sends and
receives between ranks, DualPipe's two directions and its overlapped F&B slots (the forward, then the
backward). The result has, per rank, the gradients, the measured start and end of every action and
the peak number of live activations; the gradients are checked against the unsplit module's on the
same micro-batches, and the peaks against the plan's own figure (``DeviceMetrics.peak_activations``).

``profile()`` measures every op's forward, input-gradient and weight-gradient time on this machine
in the ``opplan.profile`` format of ``ProfiledCostModel``; with it the plan's times are seconds and
its makespan can be compared with the measured one. docs/torch-run.md has the details.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing
import os
import queue as queue_module
import re
import resource
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

import opplan

from . import _fx_export, _stages, _worker
from ._stages import SplitError
from ._worker import Action, Fault, Job

__all__ = ["run", "profile", "measure_link", "local_cluster", "stage_specs", "RunResult", "RankRun", "ActionRecord",
           "RunError", "PlanError", "SplitError", "LOCAL_DEVICE_MODEL", "main"]

#: The Device.model of the profile entries and of :func:`local_cluster`'s devices.
LOCAL_DEVICE_MODEL = "torch-cpu"

_WORK_LETTER = {opplan.Work.FORWARD: "F", opplan.Work.INPUT_GRAD: "I", opplan.Work.WEIGHT_GRAD: "W",
                opplan.Work.BACKWARD: "B"}
_LETTER_WORK = {v: k for k, v in _WORK_LETTER.items()}


class PlanError(ValueError):
    """The plan cannot be run by this runtime; the message names the action, stage or field."""


class RunError(RuntimeError):
    """The run did not complete: a rank failed or died, or the pipeline stopped making progress.

    rank: the rank that failed or died (None for a timeout); action: its action's name;
    blocked: per rank still running when the run was stopped, what it was doing."""

    def __init__(self, message: str, rank: Optional[int] = None, action: Optional[str] = None,
                 blocked: Optional[Dict[int, str]] = None):
        super().__init__(message)
        self.rank = rank
        self.action = action
        self.blocked = blocked or {}


# ---- the pipeline to run ------------------------------------------------------------------------------

@dataclass
class _Pipeline:
    spec: "opplan.PipelineSpec"
    schedule: "opplan.Schedule"
    source: str                                   # what it is, for the report
    stage_ops: Optional[List[List[str]]] = None   # the plan's split (op names), else None
    seconds: bool = False                         # the schedule's times are seconds ...
    cluster_name: str = ""                        # ... of this cluster
    plan_seconds: Optional[float] = None          # the plan's own makespan, in seconds
    kind: Optional[str] = None                    # the schedule kind, when built from one
    json_peaks: Optional[List[int]] = None        # a plan file's own peak_activations


def _action_name(item, spec) -> str:
    S = spec.num_stages
    M = spec.num_micro_batches // max(spec.num_routes, 1)
    return f"{item.route * S + item.stage}{_WORK_LETTER[item.work]}{item.route * M + item.micro_batch}"


def _orders_of(schedule: "opplan.Schedule") -> "opplan.PipelineOrders":
    devices = []
    for tasks in schedule.device_tasks:
        devices.append([opplan.OrderEntry(item=t.item, overlapped=t.overlapped) for t in tasks])
    return opplan.PipelineOrders(devices=devices)


def _check_expressible(p: _Pipeline) -> None:
    """Every task is one the runtime can run, on the rank that holds its stage, and the order is
    complete and cannot deadlock (the simulator replays it)."""
    spec, schedule = p.spec, p.schedule
    if len(schedule.device_tasks) != spec.num_devices:
        raise PlanError(f"{p.source}: the schedule has {len(schedule.device_tasks)} rows, its pipeline "
                        f"{spec.num_devices} devices")
    for d, tasks in enumerate(schedule.device_tasks):
        for t in tasks:
            for item in [t.item] + ([t.overlapped] if t.overlapped is not None else []):
                if not (0 <= item.route < spec.num_routes and 0 <= item.stage < spec.num_stages):
                    raise PlanError(f"{p.source}: rank {d}'s action '{schedule.label(t)}' names route {item.route} "
                                    f"stage {item.stage}, which the pipeline does not have")
                name = _action_name(item, spec)
                if t.stream != 0:
                    raise PlanError(f"{p.source}: action '{name}' of rank {d} runs on stream {t.stream}: the runtime "
                                    f"runs one action at a time per rank (one stream)")
                if spec.routes[item.route][item.stage] != d:
                    raise PlanError(f"{p.source}: action '{name}' is on rank {d}, but its stage {item.stage} "
                                    f"(route {item.route}) is on rank {spec.routes[item.route][item.stage]}")
    try:
        opplan.simulate(spec, _orders_of(schedule))
    except opplan.Error as e:
        raise PlanError(f"{p.source}: the order cannot run: {e}") from None


def _rank_actions(p: _Pipeline) -> List[List[Action]]:
    out = []
    for tasks in p.schedule.device_tasks:
        acts = []
        for t in tasks:
            items = [t.item] + ([t.overlapped] if t.overlapped is not None else [])
            # An overlapped F&B slot: the forward first, as the plan counts its activation from the
            # slot's start.
            items.sort(key=lambda i: 0 if i.work == opplan.Work.FORWARD else 1)
            names = [_action_name(i, p.spec) for i in items]
            for k, i in enumerate(items):
                acts.append(Action(_WORK_LETTER[i.work], i.route, i.stage, i.micro_batch, names[k],
                                   names[1 - k] if len(items) == 2 else ""))
        out.append(acts)
    return out


def _plan_peaks(schedule: "opplan.Schedule") -> List[int]:
    devices = schedule.metrics.devices
    if len(devices) != len(schedule.device_tasks):
        schedule.compute_metrics()  # the same figures simulate() would have stored
        devices = schedule.metrics.devices
    return [d.peak_activations for d in devices]


def _schedule_kind(kind) -> "opplan.ScheduleKind":
    if isinstance(kind, opplan.ScheduleKind):
        return kind
    try:
        return opplan.ScheduleKind(str(kind))
    except Exception:
        names = ", ".join(str(k) for k in opplan.schedule_kinds())
        raise PlanError(f"unknown schedule kind '{kind}' (one of {names})") from None


def _from_kind(kind, ranks: int, micro_batches: int, chunks: int) -> _Pipeline:
    k = _schedule_kind(kind)
    placement = opplan.required_placement(k)
    v = chunks if placement == opplan.Placement.INTERLEAVED else 1
    try:
        spec = opplan.make_pipeline_spec(placement, ranks, micro_batches, opplan.StageSpec(), chunks=v)
        schedule = opplan.build_schedule(spec, k)
    except opplan.Error as e:
        raise PlanError(f"schedule {k} on {ranks} ranks with {micro_batches} micro-batches: {e}") from None
    return _Pipeline(spec, schedule, f"schedule {k}", kind=str(k))


def _graph_stage_ops(graph: "opplan.Graph", ids) -> List[str]:
    return [graph.op(i).name for i in ids]


def _from_plan_object(plan: "opplan.Plan", graph: "opplan.Graph") -> _Pipeline:
    if plan.stages is None:
        if plan.parallel_config is not None:
            raise PlanError(f"a parallel-config plan ({plan.parallel_config}) cannot be run: the runtime runs "
                            f"pipeline-only and hierarchical plans whose stages have one device each")
        first = plan.schedule.device_tasks[0][0] if plan.schedule.device_tasks and plan.schedule.device_tasks[0] \
            else None
        example = ""
        if first is not None:
            op = graph.op(first.item.stage).name if first.item.stage < len(graph) else f"op {first.item.stage}"
            example = f" (device 0's first action is '{first.item.work.letter}{first.item.micro_batch}:{op}')"
        article = "an" if plan.summary.strategy[:1] in "aeiou" else "a"
        raise PlanError(f"{article} {plan.summary.strategy} plan cannot be run: its actions are single ops on "
                        f"devices{example}, not pipeline stages; plan with strategy 'pipeline-only'")
    stages = plan.stages.stages
    n = len(graph)
    for s, st in enumerate(stages):
        if len(st.mesh.devices) != 1:
            raise PlanError(f"stage {s} of the plan runs on {len(st.mesh.devices)} devices ({st.mesh.rows}x"
                            f"{st.mesh.cols} mesh, ops sharded): the runtime runs one process per stage without "
                            f"tensor sharding; plan with strategy 'pipeline-only'")
        for i in st.ops:
            if int(i) >= n:
                raise PlanError(f"the plan's stage {s} has op id {int(i)}, but the module's graph has {n} ops: the "
                                f"plan was made for another graph")
    covered = sum(len(st.ops) for st in stages)
    if covered != n:
        raise PlanError(f"the plan's stages hold {covered} ops, the module's graph has {n}: the plan was made for "
                        f"another graph ('{plan.summary.graph}')")
    S = len(stages)
    spec = opplan.PipelineSpec(name=plan.summary.graph, num_devices=S, num_micro_batches=plan.summary.micro_batches,
                               placement=opplan.Placement.LINEAR, stages=[opplan.StageSpec() for _ in range(S)],
                               routes=[list(range(S))])
    return _Pipeline(spec, plan.schedule, f"{plan.summary.strategy} plan", [_graph_stage_ops(graph, st.ops)
                                                                          for st in stages],
                     seconds=True, cluster_name=plan.summary.cluster, plan_seconds=plan.iteration_seconds)


def _spec_for(placement: str, devices: int, stages: int, micro_batches: int, where: str) -> "opplan.PipelineSpec":
    try:
        pl = opplan.Placement(placement)
    except Exception:
        raise PlanError(f"{where}: unknown placement '{placement}'") from None
    if pl == opplan.Placement.CUSTOM:
        raise PlanError(f"{where}: placement 'custom' does not say which rank holds which stage")
    chunks = stages // devices if pl == opplan.Placement.INTERLEAVED else 1
    try:
        spec = opplan.make_pipeline_spec(pl, devices, micro_batches, opplan.StageSpec(), chunks=chunks)
    except opplan.Error as e:
        raise PlanError(f"{where}: {e}") from None
    if spec.num_stages != stages:
        raise PlanError(f"{where}: {stages} stages on {devices} devices do not fit placement '{placement}'")
    return spec


def _simulated(spec, programs: List[str], where: str) -> "opplan.Schedule":
    try:
        orders = opplan.parse_orders(spec, programs)
        return opplan.simulate(spec, orders)
    except opplan.Error as e:
        raise PlanError(f"{where}: the plan's actions cannot run: {e}") from None


def _from_plan_doc(doc: dict, where: str) -> _Pipeline:
    if not isinstance(doc, dict):
        raise PlanError(f"{where}: not a plan: expected a JSON object")
    if doc.get("format") == "opplan.pytorch_pipeline":
        return _from_pytorch_export(doc, where)
    if "strategy" in doc and isinstance(doc.get("placement"), dict):
        return _from_graph_plan(doc, where)
    if isinstance(doc.get("ops"), list) and isinstance(doc.get("placement"), str):
        devices, stages, mb = int(doc["devices"]), int(doc["stages"]), int(doc["micro_batches"])
        spec = _spec_for(doc["placement"], devices, stages, mb, where)
        rows = [" ".join(r) for r in doc["ops"]]
        schedule = _simulated(spec, rows, where)
        return _Pipeline(spec, schedule, f"{where} (opplan plan, pipeline mode)")
    raise PlanError(f"{where}: not a plan: expected the JSON of 'opplan plan --json' (graph or pipeline mode) or "
                    f"of 'opplan export --format pytorch --json'")


def _from_graph_plan(doc: dict, where: str) -> _Pipeline:
    strategy = doc.get("strategy", "")
    ops = doc.get("ops", [])
    stages = doc.get("stages")
    if strategy == "operator-level" or stages is None:
        first = ops[0][0] if ops and ops[0] else "?"
        article = "an" if strategy[:1] in "aeiou" else "a"
        raise PlanError(f"{where}: {article} {strategy} plan cannot be run: its actions are single ops on devices "
                        f"(device 0's first action is '{first}'), not pipeline stages; plan with --strategy "
                        f"pipeline-only")
    if strategy == "parallel-config":
        raise PlanError(f"{where}: a parallel-config plan cannot be run: the runtime runs pipeline-only and "
                        f"hierarchical plans whose stages have one device each")
    stage_of_device = {}
    for s, st in enumerate(stages):
        devs = st.get("devices", [])
        if len(devs) != 1:
            raise PlanError(f"{where}: stage {s} runs on {len(devs)} devices (its ops are sharded): the runtime "
                            f"runs one process per stage without tensor sharding; plan with --strategy pipeline-only")
        stage_of_device[devs[0]] = s
    split: List[List[str]] = [[] for _ in stages]
    for op, device in doc["placement"].items():
        if device not in stage_of_device:
            raise PlanError(f"{where}: op '{op}' is placed on device {device}, which holds no stage")
        split[stage_of_device[device]].append(op)
    S = len(stages)
    spec = opplan.PipelineSpec(name=str(doc.get("graph", "")), num_devices=S,
                               num_micro_batches=int(doc["micro_batches"]), placement=opplan.Placement.LINEAR,
                               stages=[opplan.StageSpec() for _ in range(S)], routes=[list(range(S))])
    schedule = _simulated(spec, [" ".join(r) for r in ops], where)
    p = _Pipeline(spec, schedule, f"{where} ({strategy} plan of '{doc.get('graph', '')}' on "
                                  f"'{doc.get('cluster', '')}')", split, seconds=False,
                  cluster_name=str(doc.get("cluster", "")), plan_seconds=float(doc.get("makespan", 0)) or None)
    p.json_peaks = [int(x) for x in doc.get("peak_activations", [])]
    return p


def _from_pytorch_export(doc: dict, where: str) -> _Pipeline:
    ranks, num_stages, M = int(doc["num_ranks"]), int(doc["num_stages"]), int(doc["num_microbatches"])
    routes_n = int(doc.get("num_routes", 1))
    bidirectional = bool(doc.get("bidirectional", False))
    style = doc.get("style", "loop")
    stage_to_rank = [int(x) for x in doc["stage_to_rank"]]
    S = num_stages // routes_n if bidirectional else num_stages
    if bidirectional:
        spec = _spec_for("dualpipe", ranks, S, M, where)
    elif style == "v":
        spec = _spec_for("v", ranks, S, M, where)
    elif style == "loop":
        spec = _spec_for("linear" if S == ranks else "interleaved", ranks, S, M, where)
    else:
        try:
            spec = opplan.PipelineSpec(name="custom", num_devices=ranks, num_micro_batches=M,
                                       placement=opplan.Placement.CUSTOM, stages=[opplan.StageSpec()] * S,
                                       routes=[stage_to_rank])
            spec.validate()
        except opplan.Error as e:
            raise PlanError(f"{where}: {e}") from None
    flat_routes = [d for r in spec.routes for d in r]
    if flat_routes != stage_to_rank:
        raise PlanError(f"{where}: stage_to_rank {stage_to_rank} is not placement {spec.placement}'s "
                        f"{flat_routes}")
    Mr = M // spec.num_routes
    actions = doc["actions"]
    programs = []
    pattern = re.compile(r"(\d+)([A-Z_]+)(\d*)")
    for r in range(ranks):
        tokens = []
        for a in actions.get(str(r), actions.get(r, [])) if isinstance(actions, dict) else actions[r]:
            m = pattern.fullmatch(a)
            if not m or m.group(2) not in _LETTER_WORK or not m.group(3):
                raise PlanError(f"{where}: rank {r}'s action '{a}' cannot be expressed: the runtime runs the compute "
                                f"actions F, I, W and B and derives the sends and receives itself")
            stage, mb = int(m.group(1)), int(m.group(3))
            route = stage // S if bidirectional else 0
            if stage >= num_stages or mb >= M or (bidirectional and mb // Mr != route):
                raise PlanError(f"{where}: rank {r}'s action '{a}' names stage {stage} / micro-batch {mb}, which the "
                                f"pipeline does not have")
            letter = {"F": "F", "I": "b", "W": "W", "B": "B"}[m.group(2)]
            chunk = spec.chunk_index(route, stage % S)
            suffix = "" if chunk < 0 else "abcdefghijklmnopqrstuvwxyz"[chunk]
            tokens.append(f"{letter}{mb - route * Mr}{suffix}")
        programs.append(" ".join(tokens))
    schedule = _simulated(spec, programs, where)
    return _Pipeline(spec, schedule, f"{where} (PyTorch pipelining export of '{doc.get('schedule', '')}')")


def _load_plan_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise PlanError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise PlanError(f"{path}: not JSON: {e}") from None


# ---- costs on this machine ---------------------------------------------------------------------------

def local_cluster(ranks: int, link: Optional["opplan.Link"] = None) -> "opplan.Cluster":
    """The ranks of this machine as an opplan cluster: `ranks` devices of model LOCAL_DEVICE_MODEL on
    one node, joined by `link` (default: measure_link()'s figures are not taken; a 50 us, 2 GB/s
    placeholder). The devices' peak FLOP/s and bandwidth are placeholders the analytic model only uses
    for ops a profile does not cover; their memory is the machine's."""
    try:
        memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        memory = 16e9
    cluster = opplan.Cluster("localhost")
    for r in range(ranks):
        cluster.add_device(opplan.Device(name=f"rank{r}", model=LOCAL_DEVICE_MODEL, node=0, peak_flops=50e9,
                                         memory_bytes=memory, memory_bandwidth=20e9))
    link = link if link is not None else opplan.Link(alpha=50e-6, beta=1 / 2e9)
    cluster.intra_node_link = link
    cluster.inter_node_link = link
    return cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(rank: int, port: int, sizes: List[int], repeat: int, out) -> None:
    import torch.distributed as dist
    from datetime import timedelta
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                                timeout=timedelta(seconds=60))
        results = []
        for size in sizes:
            buf = torch.zeros(max(size // 4, 1))
            times = []
            for k in range(repeat + 2):
                t0 = time.perf_counter()
                if rank == 0:
                    dist.send(buf, 1, tag=k)
                    dist.recv(buf, 1, tag=k)
                else:
                    dist.recv(buf, 0, tag=k)
                    dist.send(buf, 0, tag=k)
                if k >= 2:
                    times.append((time.perf_counter() - t0) / 2)
            results.append(statistics.median(times))
        if rank == 0:
            out.put(results)
        dist.barrier()
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        out.put(f"rank {rank}: {type(e).__name__}: {e}")
    finally:
        out.close()
        out.join_thread()  # the result must leave before the process does
        os._exit(0)


def measure_link(sizes: Sequence[int] = (4096, 262144, 4194304), repeat: int = 10,
                 timeout: float = 60) -> "opplan.Link":
    """A gloo send between two processes on this machine, fitted as alpha + beta * bytes: the
    one-way time (half a ping-pong's median) of each size, least squares on (size, time)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_ping, args=(r, port, list(sizes), repeat, out), daemon=True) for r in range(2)]
    for p in procs:
        p.start()
    try:
        times = out.get(timeout=timeout)
    except queue_module.Empty:
        raise RunError(f"measuring the link between two gloo processes did not finish in {timeout:g} s") from None
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
    if isinstance(times, str):
        raise RunError(f"measuring the link between two gloo processes failed: {times}")
    xs, ys = [float(s) for s in sizes], times
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    beta = max(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx, 0.0) if sxx > 0 else 0.0
    alpha = max(my - beta * mx, min(ys) * 0.5, 0.0)
    return opplan.Link(alpha=alpha, beta=beta)


def _call_target(node, gm):
    if node.op == "call_module":
        return gm.get_submodule(node.target)
    if node.op == "call_function":
        return node.target
    return lambda obj, *a, **k: getattr(obj, node.target)(*a, **k)


def _timed(fn: Callable[[], Any], setup: Callable[[], Any], min_seconds: float, max_repeat: int) -> Dict[str, float]:
    """fn(setup()) called repeatedly (setup not timed): the median CPU seconds of the calling thread
    per call, and the median wall-clock seconds."""
    arg = setup()
    fn(arg)  # warm-up
    cpu: List[float] = []
    wall: List[float] = []
    while len(cpu) < 5 or (sum(wall) < min_seconds and len(cpu) < max_repeat):
        arg = setup()
        c0, t0 = time.thread_time(), time.perf_counter()
        fn(arg)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {"seconds": max(statistics.median(cpu), 1e-9), "x-wall-seconds": statistics.median(wall)}


def profile(module: nn.Module, example_inputs: Sequence[Any], *, min_seconds: float = 0.01, max_repeat: int = 40,
            device_model: str = LOCAL_DEVICE_MODEL, name: Optional[str] = None) -> dict:
    """Measures every op's forward, input-gradient and weight-gradient seconds on this machine, one
    micro-batch (the example inputs), one thread, as the runtime runs them: the op alone on the
    inputs it gets in the model, with autograd recording (under the runtime's saved-tensor hook);
    the input gradient is torch.autograd.grad of the op's outputs with respect to its inputs that need
    one, the weight gradient with respect to its parameters; each the median of at least 5 calls
    (more until `min_seconds` of wall time, at most `max_repeat`).

    "seconds" is the CPU time of the measuring thread: what the op costs on one core of this
    machine, whatever else runs at that moment (on a shared machine the wall-clock time of the same
    call depends on how much of a core the other processes leave; it is kept as "x-wall-seconds").
    Returns the "opplan.profile" document (docs/profiles.md) with one entry per op and phase, by op
    name (the exported graph's names), for `device_model`. The module itself is not changed (a copy
    is measured)."""
    return _profile_one(module, example_inputs, min_seconds, max_repeat, device_model, name, None)


def _profile_one(module, example_inputs, min_seconds, max_repeat, device_model, name,
                 sync: Optional[Callable[[], Any]]) -> dict:
    example_inputs = tuple(example_inputs) if not isinstance(example_inputs, torch.Tensor) else (example_inputs,)
    work = copy.deepcopy(module)
    work.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gm = _fx_export.trace(work, example_inputs)
        gm.train()
        captured: Dict[str, Tuple[tuple, dict, Any]] = {}

        class Capture(torch.fx.Interpreter):
            def run_node(self, n):
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                result = super().run_node(n)
                if n.op in ("call_module", "call_function", "call_method"):
                    captured[n.name] = (args, kwargs, result)
                return result

        with torch.enable_grad():
            Capture(gm).run(*example_inputs)
        live = _worker._LiveActivations()
        live.current = ("profile",)
        ops: List[dict] = []
        for node in gm.graph.nodes:
            if node.name not in captured:
                continue
            args, kwargs, result = captured[node.name]
            out_flat = [t for t in torch.utils._pytree.tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
            if not out_flat:
                continue  # sizes and other non-tensor values: not an op of the graph
            fn = _call_target(node, gm)
            flat_args, spec = torch.utils._pytree.tree_flatten((args, kwargs))
            needs = [isinstance(a, torch.Tensor) and a.requires_grad for a in flat_args]
            base = [a.detach() if isinstance(a, torch.Tensor) else a for a in flat_args]

            def setup(needs=needs, base=base, spec=spec):
                # Fresh inputs per call (an in-place op must not see its previous result); the ones
                # that need a gradient are non-leaf copies, as inside a model.
                fresh = [b.clone().requires_grad_(True).clone() if n else (b.clone() if isinstance(b, torch.Tensor)
                                                                         else b)
                         for b, n in zip(base, needs)]
                return fresh

            def call(fresh, fn=fn, spec=spec):
                a, k = torch.utils._pytree.tree_unflatten(fresh, spec)
                with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(live.pack, live.unpack):
                    return fn(*a, **k)

            if sync is not None:
                sync()
            entry = {"device": device_model, "name": node.name}
            ops.append(dict(entry, phase="forward", **_timed(call, setup, min_seconds, max_repeat)))

            params = []
            if node.op == "call_module":
                params = [p for p in gm.get_submodule(node.target).parameters() if p.requires_grad]
            else:
                params = [a for a in base if isinstance(a, nn.Parameter) and a.requires_grad]
            grad_inputs = [i for i, n in enumerate(needs) if n and not isinstance(base[i], nn.Parameter)]

            def graph_of(fresh, fn=fn, spec=spec):
                out = call(fresh)
                outs = [t for t in torch.utils._pytree.tree_flatten(out)[0]
                        if isinstance(t, torch.Tensor) and t.requires_grad]
                grads = [torch.randn_like(t) for t in outs]
                return fresh, outs, grads

            def setup_graph(setup=setup, graph_of=graph_of):
                return graph_of(setup())

            if grad_inputs:
                probe = setup_graph()
                if probe[1]:
                    def input_grad(state, grad_inputs=grad_inputs):
                        fresh, outs, grads = state
                        torch.autograd.grad(outs, [fresh[i] for i in grad_inputs], grads, retain_graph=True,
                                            allow_unused=True)
                    ops.append(dict(entry, phase="input_grad", **_timed(input_grad, setup_graph, min_seconds,
                                                                          max_repeat)))
            if params:
                probe = setup_graph()
                if probe[1]:
                    def weight_grad(state, params=params):
                        fresh, outs, grads = state
                        torch.autograd.grad(outs, params, grads, retain_graph=True, allow_unused=True)
                    ops.append(dict(entry, phase="weight_grad", **_timed(weight_grad, setup_graph, min_seconds,
                                                                           max_repeat)))
        return {"format": "opplan.profile", "version": 1,
                "x-tool": "opplan.torch.run.profile", "x-torch": torch.__version__, "x-threads": 1,
                "x-module": name or type(module).__name__,
                "x-inputs": [list(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)],
                "ops": ops, "collectives": []}
    finally:
        torch.set_num_threads(threads)


def stage_specs(graph: "opplan.Graph", stage_ops: Sequence[Sequence[str]], cost_model: "opplan.CostModel",
                cluster: "opplan.Cluster", stage_devices: Sequence[int],
                boundary_bytes: Sequence[float]) -> List["opplan.StageSpec"]:
    """Per stage, the F / b / W seconds as the cost model gives them (the sum of the stage's ops'
    op_time per phase on the stage's device, as the hierarchical planner sums a stage), its
    activation and parameter bytes (op_memory), and p2p: transfer_time of the bytes the runtime sends
    to the next stage. boundary_bytes[s] is what stage s sends to stage s + 1."""
    specs = []
    for s, names in enumerate(stage_ops):
        device = cluster.device(stage_devices[s])
        f = b = w = act = par = 0.0
        for name in names:
            op_id = graph.find_op(name)
            if op_id is None:
                raise SplitError(f"op '{name}' is not in graph '{graph.name}'")
            op = graph.op(op_id)
            f += cost_model.op_time(op, opplan.Phase.FORWARD, device)
            b += cost_model.op_time(op, opplan.Phase.INPUT_GRAD, device)
            w += cost_model.op_time(op, opplan.Phase.WEIGHT_GRAD, device)
            mem = cost_model.op_memory(op)
            act += mem.activations
            par += mem.parameters
        p2p = 0.0
        if s + 1 < len(stage_ops) and stage_devices[s + 1] != stage_devices[s]:
            p2p = cost_model.transfer_time(cluster, stage_devices[s], stage_devices[s + 1], float(boundary_bytes[s]))
        specs.append(opplan.StageSpec(forward=max(f, 1e-9), input_grad=max(b, 1e-9), weight_grad=w, p2p=p2p,
                                      activation=act, params=par))
    return specs


def _cost_model_of(profile_doc) -> "opplan.ProfiledCostModel":
    if isinstance(profile_doc, opplan.CostModel):
        return profile_doc
    if isinstance(profile_doc, (str, os.PathLike)):
        return opplan.ProfiledCostModel.from_file(os.fspath(profile_doc))
    return opplan.ProfiledCostModel.from_json(json.dumps(profile_doc), "<profile>")


# ---- results -------------------------------------------------------------------------------------------

@dataclass
class ActionRecord:
    """One executed action of the last measured iteration; times in seconds from the iteration's
    start (the earliest action start over all ranks). `start` is when its compute began (after its
    receives), `wait_start` when the rank turned to it."""
    name: str
    work: str
    route: int
    stage: int
    micro_batch: int
    wait_start: float
    start: float
    end: float
    cpu_seconds: float                  # CPU time the rank's thread got in it (< end - start on a busy machine)
    predicted_start: Optional[float] = None
    predicted_end: Optional[float] = None


@dataclass
class RankRun:
    rank: int
    gradients: Dict[str, torch.Tensor]
    actions: List[ActionRecord]
    peak_activations: int
    plan_peak_activations: int
    peak_saved_bytes: int
    busy_seconds: List[float]          # per measured iteration: the sum of its actions' compute time (wall)
    cpu_seconds: List[float]           # per measured iteration: the CPU time its thread got in its actions
    predicted_busy: Optional[float] = None
    predicted_end: Optional[float] = None


@dataclass
class RunResult:
    module: str
    source: str
    ranks: int
    micro_batches: int
    stages: List[List[str]]
    stage_ranks: List[List[int]]          # per stage, the ranks that hold it (two for DualPipe)
    rank_runs: List[RankRun]
    gradients_match: bool
    max_relative_error: float
    worst_parameter: str
    tolerance: float
    peak_activations: List[int]
    plan_peak_activations: List[int]
    predicted_seconds: Optional[float]
    predicted_from: str
    plan_seconds: Optional[float]
    measured_iterations: List[float]
    notes: List[str] = field(default_factory=list)
    completed: bool = True
    machine_cores: int = 0
    # Average cores the machine's other processes kept busy during the run (None when unknown): on a
    # shared machine the ranks get less CPU than the profile's single process did.
    other_load: Optional[float] = None

    @property
    def peak_activations_match(self) -> bool:
        return self.peak_activations == self.plan_peak_activations

    @property
    def measured_seconds(self) -> float:
        """The median makespan over the measured iterations."""
        return statistics.median(self.measured_iterations)

    @property
    def ok(self) -> bool:
        return self.completed and self.gradients_match and self.peak_activations_match

    def spread(self) -> Dict[str, float]:
        xs = self.measured_iterations
        med = statistics.median(xs)
        return {"iterations": len(xs), "min": min(xs), "median": med, "max": max(xs),
                "relative_spread": (max(xs) - min(xs)) / med if med > 0 else 0.0}

    def cpu_share(self) -> List[float]:
        """Per rank, the CPU time its thread got in its actions over their wall time (1 = a core of
        its own throughout)."""
        out = []
        for r in self.rank_runs:
            wall = statistics.median(r.busy_seconds)
            out.append(statistics.median(r.cpu_seconds) / wall if wall > 0 else 0.0)
        return out

    def busy_error(self) -> Optional[List[float]]:
        """Per rank, (its measured CPU time in its actions - the plan's busy time) / the plan's busy
        time, when the plan's times are seconds: how well the costs predict each rank's work,
        whatever share of a core the machine gave it."""
        if self.predicted_seconds is None:
            return None
        return [(statistics.median(r.cpu_seconds) - r.predicted_busy) / r.predicted_busy if r.predicted_busy else 0.0
                for r in self.rank_runs]

    def work_error(self) -> Optional[float]:
        """(the ranks' CPU time in their actions - the plan's busy time) / the plan's busy time, both
        summed over the ranks; None without a prediction in seconds."""
        if self.predicted_seconds is None:
            return None
        busy = sum(r.predicted_busy or 0.0 for r in self.rank_runs)
        cpu = sum(statistics.median(r.cpu_seconds) for r in self.rank_runs)
        return (cpu - busy) / busy if busy > 0 else 0.0

    def to_json(self) -> dict:
        pred = self.predicted_seconds
        return {
            "module": self.module, "plan": self.source, "ranks": self.ranks, "micro_batches": self.micro_batches,
            "stages": [{"ops": len(s), "first_op": s[0] if s else None, "last_op": s[-1] if s else None,
                        "ranks": r} for s, r in zip(self.stages, self.stage_ranks)],
            "completed": self.completed,
            "gradients_match": self.gradients_match, "max_relative_error": self.max_relative_error,
            "worst_parameter": self.worst_parameter, "tolerance": self.tolerance,
            "peak_activations": self.peak_activations, "plan_peak_activations": self.plan_peak_activations,
            "peak_activations_match": self.peak_activations_match,
            "predicted_seconds": pred, "predicted_from": self.predicted_from, "plan_seconds": self.plan_seconds,
            "measured_seconds": self.measured_seconds, "measured_spread": self.spread(),
            "predicted_error": (self.measured_seconds - pred) / pred if pred else None,
            "measured_iterations": self.measured_iterations,
            "rank_details": [{"rank": r.rank, "actions": len(r.actions), "peak_saved_bytes": r.peak_saved_bytes,
                              "busy_seconds": statistics.median(r.busy_seconds),
                              "busy_cpu_seconds": statistics.median(r.cpu_seconds),
                              "predicted_busy_seconds": r.predicted_busy,
                              "end_seconds": max((a.end for a in r.actions), default=0.0),
                              "predicted_end_seconds": r.predicted_end,
                              "timeline": [[a.name, round(a.start, 7), round(a.end, 7)] for a in r.actions]}
                             for r in self.rank_runs],
            "predicted_busy_error": self.busy_error(), "predicted_work_error": self.work_error(),
            "machine_cores": self.machine_cores, "other_load": self.other_load,
            "cpu_share": self.cpu_share(),
            "notes": self.notes,
        }

    def report(self) -> str:
        lines = [f"opplan.torch.run: {self.module} on {self.ranks} ranks, {self.source}, {self.micro_batches} "
                 f"micro-batches"]
        for s, (ops, rk) in enumerate(zip(self.stages, self.stage_ranks)):
            where = " and ".join(f"rank {r}" for r in rk)
            lines.append(f"  stage {s} on {where}: " + (f"{ops[0]} .. {ops[-1]} ({len(ops)} ops)" if ops else "no ops"))
        n = sum(len(r.actions) for r in self.rank_runs)
        its = len(self.measured_iterations)
        lines.append(f"  completed: {'yes' if self.completed else 'no'} ({self.ranks} ranks, {n} actions"
                     f"{'' if its == 1 else f', {its} iterations'})")
        verdict = "match" if self.gradients_match else "DIFFER"
        lines.append(f"  gradients: {verdict} the unsplit module's (max relative error {self.max_relative_error:.2e}"
                     f"{', ' + self.worst_parameter if self.worst_parameter else ''}; allowed {self.tolerance:g})")
        pairs = ", ".join(f"rank {r}: {p}/{m}" for r, (p, m) in enumerate(zip(self.plan_peak_activations,
                                                                                self.peak_activations)))
        lines.append(f"  peak live activations (plan/measured): {pairs}: "
                     f"{'match' if self.peak_activations_match else 'DIFFER'}")
        unit = self.predicted_seconds is not None
        lines.append(f"  {'rank':>4}  {'actions':>7}  {'busy pred.':>11}  {'busy meas.':>11}  {'(its CPU)':>11}  "
                     f"{'end pred.':>11}  {'end meas.':>11}")
        for r in self.rank_runs:
            pb = _ms(r.predicted_busy) if unit else "-"
            pe = _ms(r.predicted_end) if unit else "-"
            lines.append(f"  {r.rank:>4}  {len(r.actions):>7}  {pb:>11}  {_ms(statistics.median(r.busy_seconds)):>11}  "
                         f"{_ms(statistics.median(r.cpu_seconds)):>11}  {pe:>11}  "
                         f"{_ms(max((a.end for a in r.actions), default=0.0)):>11}")
        sp = self.spread()
        measured = f"measured {_ms(sp['median'])}"
        if sp["iterations"] > 1:
            measured += f" (median of {sp['iterations']}: {_ms(sp['min'])} .. {_ms(sp['max'])})"
        if unit:
            err = (sp["median"] - self.predicted_seconds) / self.predicted_seconds
            lines.append(f"  makespan: predicted {_ms(self.predicted_seconds)} ({self.predicted_from}), {measured}, "
                         f"{err:+.1%}")
            work = ", ".join(f"{x:+.1%}" for x in self.busy_error())
            lines.append(f"  work: the ranks' CPU time in their actions against the plan's busy time: "
                         f"{self.work_error():+.1%} ({work} per rank)")
        else:
            lines.append(f"  makespan: {measured}; no prediction in seconds ({self.predicted_from})")
        if self.other_load is not None:
            share = ", ".join(f"{x:.0%}" for x in self.cpu_share())
            lines.append(f"  machine: {self.machine_cores} cores; other processes kept {self.other_load:.1f} of them "
                         f"busy during the run; the ranks' CPU share in their actions: {share}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _ms(x: Optional[float]) -> str:
    return "-" if x is None else f"{x * 1e3:.2f} ms"


# ---- running -------------------------------------------------------------------------------------------

def _default_loss(outputs) -> torch.Tensor:
    tensors = [t for t in torch.utils._pytree.tree_flatten(outputs)[0]
               if isinstance(t, torch.Tensor) and t.dtype.is_floating_point]
    if not tensors:
        raise TypeError("the module returns no floating-point tensor: give a loss")
    total = tensors[0].sum()
    for t in tensors[1:]:
        total = total + t.sum()
    return total


def _describe_rank(rank: int, progress, job: Job) -> str:
    b = rank * _worker.SLOTS
    state = progress[b + _worker.STATE]
    acts = job.actions[rank]
    i = progress[b + _worker.ACTION]
    action = acts[i] if 0 <= i < len(acts) else None
    what = action.describe(job.num_routes) if action is not None else "?"
    if state == _worker.STARTING:
        return f"rank {rank} is still joining the process group"
    if state == _worker.RECEIVING:
        peer = progress[b + _worker.PEER]
        thing = "the input of its stage" if progress[b + _worker.DETAIL] == _worker.RECV_ACTIVATION else \
            "the gradient of its stage's output"
        return f"rank {rank} is waiting in action {what} for {thing} from rank {peer}"
    if state == _worker.COMPUTING:
        return f"rank {rank} is computing action {what}"
    if state == _worker.SENDS:
        return f"rank {rank} has run its {len(acts)} actions and is waiting for its sends to be received"
    if state == _worker.BARRIER:
        return f"rank {rank} is waiting at a barrier for the other ranks (iteration {progress[b + _worker.ITERATION]})"
    if state == _worker.DONE:
        return f"rank {rank} has finished"
    return f"rank {rank} has failed"


class _MachineLoad:
    """CPU seconds the other processes of the machine used while this one and its children ran
    (Linux: /proc/stat's busy time less our own), to tell a slow run from a busy machine."""

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.start = self._sample()

    @staticmethod
    def _busy() -> Optional[float]:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [float(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _sample(self):
        own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for f in ("ru_utime", "ru_stime"))
        return time.monotonic(), self._busy(), own

    def others(self) -> Optional[float]:
        """Average cores the other processes kept busy since construction."""
        t1, busy1, own1 = self._sample()
        t0, busy0, own0 = self.start
        if busy0 is None or busy1 is None or t1 <= t0:
            return None
        return max((busy1 - busy0) - (own1 - own0), 0.0) / (t1 - t0)


def _execute(job: Job) -> List[_worker.RankResult]:
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    progress = ctx.RawArray("q", job.ranks * _worker.SLOTS)
    procs = [ctx.Process(target=_worker.rank_main, args=(r, job, q, progress), name=f"opplan-rank{r}", daemon=True)
             for r in range(job.ranks)]
    for p in procs:
        p.start()
    results: Dict[int, _worker.RankResult] = {}
    errors: Dict[int, tuple] = {}
    exited_at: Dict[int, float] = {}
    ticks = [-1] * job.ranks
    last_change = time.monotonic()

    def stop_all():
        for p in procs:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + 3
        for p in procs:
            p.join(max(deadline - time.monotonic(), 0.05))
            if p.is_alive():
                p.kill()
                p.join(1)

    def blocked(skip: Optional[int] = None) -> Dict[int, str]:
        return {r: _describe_rank(r, progress, job) for r in range(job.ranks)
                if r != skip and r not in results and progress[r * _worker.SLOTS + _worker.STATE] != _worker.DONE}

    def died() -> List[int]:
        return [r for r, p in enumerate(procs) if r not in results and r not in errors and p.exitcode is not None]

    def fail() -> None:
        """Something went wrong: collect what else comes within a second, name the cause, stop all."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and len(results) + len(errors) < job.ranks:
            try:
                msg = q.get(timeout=0.05)
            except queue_module.Empty:
                continue
            if msg[0] == "done":
                results[msg[1]] = msg[2]
            else:
                errors[msg[1]] = msg[2:]
        dead = died()
        states = {r: _describe_rank(r, progress, job) for r in range(job.ranks)}
        own = [r for r, e in errors.items() if not e[3]]
        comm = [r for r, e in errors.items() if e[3]]
        others: Dict[int, str] = {}
        for r in range(job.ranks):
            if r in results:
                continue
            if r in errors:
                others[r] = f"rank {r} stopped with an error: {errors[r][1].splitlines()[0]}"
            elif r not in dead:
                others[r] = states[r]
        stop_all()
        if own or not dead:
            first = own[0] if own else comm[0]
            action, text, tb, _ = errors[first]
            others.pop(first, None)
            where = f" in action {action.describe(job.num_routes)}" if action is not None else \
                " before its first action"
            rest = "; ".join(others.values()) or "none was running"
            raise RunError(f"rank {first} failed{where}: {text}\n{tb.rstrip()}\nThe other ranks were stopped: {rest}",
                           rank=first, action=action.name if action is not None else None, blocked=others)
        r = dead[0]
        code = procs[r].exitcode
        how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        doing = states[r].replace(f"rank {r} is ", "it was ", 1).replace(f"rank {r} has ", "it had ", 1)
        rest = "; ".join(v for k, v in others.items() if k != r) or "none was running"
        acts = job.actions[r]
        i = progress[r * _worker.SLOTS + _worker.ACTION]
        raise RunError(f"rank {r} died ({how}); when it died, {doing}. The other ranks were stopped: {rest}",
                       rank=r, action=acts[i].name if 0 <= i < len(acts) else None,
                       blocked={k: v for k, v in others.items() if k != r})

    try:
        while len(results) < job.ranks:
            try:
                msg = q.get(timeout=0.05)
            except queue_module.Empty:
                msg = None
            if msg is not None:
                if msg[0] == "done":
                    results[msg[1]] = msg[2]
                else:
                    errors[msg[1]] = msg[2:]
            if errors:
                fail()
            now = time.monotonic()
            for r in died():
                exited_at.setdefault(r, now)
                if now - exited_at[r] > 0.5:  # and no message came: it died
                    fail()
            current = [progress[r * _worker.SLOTS + _worker.TICKS] for r in range(job.ranks)]
            if current != ticks:
                ticks = current
                last_change = now
            elif now - last_change > job.timeout:
                others = blocked()
                stop_all()
                raise RunError(f"the pipeline made no progress for {job.timeout:g} s: " + "; ".join(others.values()),
                               blocked=others)
    finally:
        for p in procs:
            if p.is_alive() and len(results) == job.ranks:
                p.join(5)
        stop_all()
    return [results[r] for r in range(job.ranks)]


def _reference_gradients(module: nn.Module, micro_batches, loss_fn) -> Dict[str, torch.Tensor]:
    ref = copy.deepcopy(module)
    ref.train()
    ref.zero_grad(set_to_none=True)
    with torch.enable_grad():
        for mb in micro_batches:
            loss_fn(ref(*mb)).backward()
    return {name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in ref.named_parameters() if p.requires_grad}


def _compare(got: Dict[str, torch.Tensor], ref: Dict[str, torch.Tensor]) -> Tuple[float, str]:
    worst, which = 0.0, ""
    for name, r in ref.items():
        g = got.get(name)
        if g is None:
            g = torch.zeros_like(r)
        r64, g64 = r.double(), g.double()
        scale = r64.abs().max().item() if r64.numel() else 0.0
        diff = (g64 - r64).abs().max().item() if r64.numel() else 0.0
        err = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        if err > worst or not which:
            worst, which = err, name
    return worst, which


def run(module: nn.Module, example_inputs: Union[torch.Tensor, Sequence[Any]], *, ranks: Optional[int] = None,
        schedule: Union[str, "opplan.ScheduleKind", None] = None, plan: Any = None,
        micro_batches: Optional[int] = None, chunks: int = 2, loss: Optional[Callable[[Any], torch.Tensor]] = None,
        inputs: Optional[Sequence[Sequence[Any]]] = None, stages: Optional[Sequence[Sequence[str]]] = None,
        profile: Any = None, cluster: Optional["opplan.Cluster"] = None, iterations: int = 1, warmup: int = 0,
        timeout: float = 60.0, tolerance: float = 1e-5, seed: int = 0, name: Optional[str] = None,
        plan_time_limit: float = 10.0, check_gradients: bool = True, _fault: Optional[Fault] = None) -> RunResult:
    """Runs one pipeline plan of `module` on `ranks` processes and checks it (module docstring).

    The pipeline, one of:
      schedule: a schedule kind ("1f1b", "interleaved", "zb-h1", "dualpipe", "dualpipev", ... or an
        opplan.ScheduleKind) built for `ranks` ranks and `micro_batches` micro-batches (default
        2 x ranks; `chunks` stages per rank for interleaved);
      plan: an opplan.Plan (pipeline-only or hierarchical with one device per stage, made on this
        module's exported graph), a (PipelineSpec, Schedule) pair, the path or dict of a plan JSON
        ('opplan plan --json' in graph or pipeline mode, 'opplan export --format pytorch --json'), or
        "auto": plan it here with opplan.plan(strategy="pipeline-only") on local_cluster(ranks) with
        the measured costs (profile is measured when not given).

    The stages are the plan's when it has them (ops by name); otherwise `stages` (op names per stage)
    or opplan.cluster_layers() of the exported graph into the pipeline's stage count.
    `example_inputs` is one micro-batch; `inputs` may give every micro-batch (else they are made like
    it, the example first). `loss(outputs)` gives a micro-batch's loss (default: the sum of every
    floating-point output); the gradients are those of the sum over the micro-batches.
    `profile`: an "opplan.profile" dict or file, an opplan.CostModel, or True to measure one now
    (profile()); with it the plan's times are seconds on `cluster` (default local_cluster(ranks) with
    measure_link()'s link when measured now). `iterations` measured iterations after `warmup` ones.
    `timeout`: seconds without progress on any rank before the run is stopped.

    Raises PlanError (a plan the runtime cannot express, naming the action), SplitError (the module's
    split does not match the plan), RunError (a rank failed, died or the pipeline hung; naming the
    rank, its action and what the others were doing)."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    what = name or type(module).__name__
    if iterations < 1 or warmup < 0:
        raise ValueError("iterations must be >= 1 and warmup >= 0")
    doc = _fx_export.export_module(module, example_inputs, name=what)
    graph = opplan.Graph.from_json(json.dumps(doc, allow_nan=False), f"<{what}>")
    graph_ops = [op["name"] for op in doc["ops"] if op.get("kind") != "input"]
    notes: List[str] = []

    cost_model = None
    measured_cluster = cluster
    if plan == "auto" and profile is None:
        profile = True
    if profile is True:
        if ranks is None:
            raise ValueError("give ranks")
        profile = _profile_fn(module, example_inputs, name=what)
        if measured_cluster is None and ranks > 1:
            measured_cluster = local_cluster(ranks, measure_link())
    if profile is not None:
        cost_model = _cost_model_of(profile)

    # ---- the pipeline ----
    if plan is None and schedule is None:
        schedule = "1f1b"
    if plan is not None and schedule is not None:
        raise ValueError("give a schedule kind or a plan, not both")
    if plan is None:
        if ranks is None:
            raise ValueError("give the number of ranks for a schedule kind")
        m = micro_batches if micro_batches is not None else (len(inputs) if inputs is not None else 2 * ranks)
        pipe = _from_kind(schedule, ranks, m, chunks)
    elif isinstance(plan, str) and plan == "auto":
        if ranks is None:
            raise ValueError("give ranks for plan='auto'")
        m = micro_batches if micro_batches is not None else 2 * ranks
        local = measured_cluster if measured_cluster is not None else local_cluster(ranks)
        made = opplan.plan(graph, local, strategy="pipeline-only", micro_batches=m, cost_model=cost_model,
                           time_limit=plan_time_limit)
        pipe = _from_plan_object(made, graph)
        pipe.source = "a pipeline-only plan made here with this machine's profile"
    elif isinstance(plan, opplan.Plan):
        pipe = _from_plan_object(plan, graph)
    elif isinstance(plan, tuple) and len(plan) == 2:
        spec, sched = plan
        pipe = _Pipeline(spec, sched, f"schedule '{sched.name}'")
    elif isinstance(plan, dict):
        pipe = _from_plan_doc(plan, "plan")
    elif isinstance(plan, (str, os.PathLike)):
        path = os.fspath(plan)
        pipe = _from_plan_doc(_load_plan_file(path), path)
    else:
        raise TypeError(f"plan: expected an opplan.Plan, a (PipelineSpec, Schedule) pair, a plan file or dict, or "
                        f"'auto'; got {type(plan).__name__}")
    spec = pipe.spec
    if ranks is not None and ranks != spec.num_devices:
        raise PlanError(f"{pipe.source}: the plan has {spec.num_devices} ranks (pipeline devices), {ranks} were asked")
    ranks = spec.num_devices
    if micro_batches is not None and micro_batches != spec.num_micro_batches:
        raise PlanError(f"{pipe.source}: the plan has {spec.num_micro_batches} micro-batches, {micro_batches} were "
                        f"asked")
    M = spec.num_micro_batches
    _check_expressible(pipe)

    # ---- the split ----
    S = spec.num_stages
    if pipe.stage_ops is not None:
        if stages is not None:
            raise ValueError("the plan fixes the stages: do not give stages as well")
        stage_ops = pipe.stage_ops
    elif stages is not None:
        stage_ops = [list(s) for s in stages]
    else:
        layers = opplan.cluster_layers(graph, S)
        stage_ops = [_graph_stage_ops(graph, ids) for ids in layers]
    if len(stage_ops) != S:
        raise SplitError(f"module {what} splits into {len(stage_ops)} stages (it has {len(graph_ops)} ops), the "
                         f"plan has {S}")
    split = _stages.split_module(module, example_inputs, stage_ops, graph_ops, what)
    for st in split.stages:
        if st.fused_weight_grad:
            notes.append(f"stage {st.index}: {st.fused_weight_grad}, so its weight gradient is computed in I "
                         f"(W only releases the activations)")
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules()):
        notes.append("the module has dropout: each rank draws its own random masks, which are the unsplit module's "
                     "only by chance, so the gradients need not match")

    # ---- micro-batches ----
    if inputs is not None:
        mbs = [tuple(x) if not isinstance(x, torch.Tensor) else (x,) for x in inputs]
        if len(mbs) != M:
            raise ValueError(f"{len(mbs)} micro-batches given, the plan has {M}")
    else:
        mbs = _stages.make_micro_batches(example_inputs, M, seed)
    loss_fn = loss if loss is not None else _default_loss

    # ---- predicted times ----
    stage_ranks = [sorted({spec.routes[r][s] for r in range(spec.num_routes)}) for s in range(S)]
    predicted_schedule = None
    predicted_from = ""
    pipe_plan_peaks = _plan_peaks(pipe.schedule)
    json_peaks = pipe.json_peaks
    if json_peaks and json_peaks != pipe_plan_peaks:
        notes.append(f"the plan file's peak_activations {json_peaks} differ from its replayed order's "
                     f"{pipe_plan_peaks}; the file's figures are compared")
        pipe_plan_peaks = json_peaks
    if cost_model is not None and not (plan == "auto"):
        local = measured_cluster if measured_cluster is not None else local_cluster(ranks)
        if local.num_devices < ranks:
            raise ValueError(f"the cluster has {local.num_devices} devices, the plan {ranks} ranks")
        bytes_out = [split.stages[s + 1].carry_in.bytes if s + 1 < S else 0 for s in range(S)]
        spec_t = opplan.PipelineSpec.from_json(spec.to_json())
        spec_t.stages = stage_specs(graph, stage_ops, cost_model, local, [stage_ranks[s][0] for s in range(S)],
                                    bytes_out)
        try:
            if pipe.kind is not None:
                predicted_schedule = opplan.build_schedule(spec_t, _schedule_kind(pipe.kind))
            else:
                predicted_schedule = opplan.simulate(spec_t, _orders_of(pipe.schedule))
        except opplan.Error as e:
            raise PlanError(f"{pipe.source} with the profiled stage times: {e}") from None
        predicted_from = "the plan's order, stage times from the profile"
    elif pipe.seconds:
        predicted_schedule = pipe.schedule
        predicted_from = f"the plan's own times on '{pipe.cluster_name}'"
        if plan == "auto":
            predicted_from = "the plan's own times, made with the profile"
    elif pipe.plan_seconds:
        predicted_from = (f"the plan's makespan is {pipe.plan_seconds * 1e3:.3g} ms on '{pipe.cluster_name}', "
                          f"not this machine: give a profile")
    else:
        predicted_from = "the schedule's times are in units (F = b = W = 1): give a profile"

    # ---- run ----
    actions = _rank_actions(pipe)
    max_leaves = max([len([lf for lf in st.carry_in.flat() if lf.tensor]) for st in split.stages
                      if st.carry_in is not None] + [1])
    job = Job(ranks=ranks, port=_free_port(), stages=split.stages, routes=[list(r) for r in spec.routes],
              micro_batches_per_route=M // spec.num_routes, micro_batches=mbs, input_defaults=split.input_defaults,
              loss=loss_fn, actions=actions, iterations=iterations, warmup=warmup, timeout=timeout, fault=_fault,
              max_leaves=max_leaves)
    load = _MachineLoad()
    results = _execute(job)
    other_load = load.others()

    # ---- checks ----
    got: Dict[str, torch.Tensor] = {}
    for res in results:
        for k, v in res.gradients.items():
            t = torch.from_numpy(v)
            got[k] = got[k] + t if k in got else t
    if check_gradients:
        ref = _reference_gradients(module, mbs, loss_fn)
        err, worst = _compare(got, ref)
    else:
        err, worst = float("nan"), ""
    match = bool(err <= tolerance) if check_gradients else False

    # Iteration makespans from the timings of every rank.
    per_iter = []
    for it in range(iterations):
        starts = [t[1] for res in results for t in res.timings[it]]
        ends = [t[2] for res in results for t in res.timings[it]]
        per_iter.append(max(ends) - min(starts) if starts else 0.0)
    last = iterations - 1
    origin = min((t[1] for res in results for t in res.timings[last]), default=0.0)

    pred_tasks: Dict[str, Tuple[float, float]] = {}
    pred_busy: List[Optional[float]] = [None] * ranks
    pred_end: List[Optional[float]] = [None] * ranks
    predicted = None
    if predicted_schedule is not None:
        first = min((t.start for row in predicted_schedule.device_tasks for t in row), default=0.0)
        for d, row in enumerate(predicted_schedule.device_tasks):
            for t in row:
                for item in [t.item] + ([t.overlapped] if t.overlapped is not None else []):
                    pred_tasks[_action_name(item, spec)] = (t.start - first, t.end - first)
            pred_busy[d] = sum(t.end - t.start for t in row)
            pred_end[d] = max((t.end - first for t in row), default=0.0)
        predicted = predicted_schedule.metrics.makespan

    rank_runs = []
    for r, res in enumerate(results):
        recs = []
        for a, (w0, t0, t1, cpu) in zip(actions[r], res.timings[last]):
            ps, pe = pred_tasks.get(a.name, (None, None))
            recs.append(ActionRecord(a.name, a.work, a.route, a.stage, a.micro_batch, w0 - origin, t0 - origin,
                                     t1 - origin, cpu, ps, pe))
        busy = [sum(t[2] - t[1] for t in times) for times in res.timings]
        cpu = [sum(t[3] for t in times) for times in res.timings]
        grads = {k: torch.from_numpy(v) for k, v in res.gradients.items()}
        rank_runs.append(RankRun(r, grads, recs, res.peak_activations, pipe_plan_peaks[r], res.peak_saved_bytes, busy,
                                 cpu, pred_busy[r], pred_end[r]))
    return RunResult(module=what, source=pipe.source, ranks=ranks, micro_batches=M,
                     stages=[st.ops for st in split.stages],
                     stage_ranks=stage_ranks, rank_runs=rank_runs, gradients_match=match, max_relative_error=err,
                     worst_parameter=worst, tolerance=tolerance, peak_activations=[r.peak_activations for r in results],
                     plan_peak_activations=list(pipe_plan_peaks), predicted_seconds=predicted,
                     predicted_from=predicted_from, plan_seconds=pipe.plan_seconds, measured_iterations=per_iter,
                     notes=notes, machine_cores=load.cores, other_load=other_load)


_profile_fn = profile


# ---- command line ----------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m opplan.torch.run",
        description="Run an opplan pipeline plan of a PyTorch module on one gloo process per rank, check its "
                    "gradients against the unsplit module and its peak activations against the plan, and compare "
                    "the predicted makespan with the measured one.")
    parser.add_argument("--module", required=True, metavar="SPEC",
                        help="FILE.py:FACTORY or package.module:FACTORY; FACTORY() returns a module or (module, "
                             "example_inputs), the inputs being one micro-batch")
    parser.add_argument("--input-shape", action="append", default=[], metavar="D0,D1,...",
                        help="a float32 example input of that shape (repeat for several)")
    parser.add_argument("--loss", metavar="SPEC",
                        help="FILE.py:FACTORY whose FACTORY() returns loss(outputs); default: the sum of the outputs")
    parser.add_argument("--ranks", type=int, help="pipeline ranks (processes)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--schedule", metavar="KIND", help="1f1b (default), interleaved, zb-h1, zb-h2, zb, gpipe, "
                                                            "dualpipe, dualpipev, greedy")
    source.add_argument("--plan", metavar="PLAN.json|auto",
                        help="a plan: the JSON of 'opplan plan --json' (graph mode: pipeline-only or hierarchical "
                             "with one device per stage; pipeline mode) or of 'opplan export --format pytorch --json'; "
                             "'auto' plans here with the profiled costs (implies --profile)")
    parser.add_argument("--microbatches", type=int, help="micro-batches (default: the plan's, or 2 x ranks)")
    parser.add_argument("--chunks", type=int, default=2, help="stages per rank of the interleaved schedule (default 2)")
    parser.add_argument("--profile", action="store_true",
                        help="measure every op's F / I / W time on this machine and the gloo link; predict the "
                             "makespan in seconds with them")
    parser.add_argument("--profile-file", metavar="FILE", help="use a profile written before (opplan.profile JSON)")
    parser.add_argument("--cluster", metavar="FILE",
                        help="this machine's ranks as an opplan cluster file (from --write-cluster): the links of the "
                             "predicted times with --profile-file (default: a 50 us, 2 GB/s placeholder link)")
    parser.add_argument("--write-profile", metavar="FILE", help="write the measured profile (opplan.profile JSON)")
    parser.add_argument("--write-cluster", metavar="FILE",
                        help="write this machine's ranks as an opplan cluster (with the measured link), for "
                             "'opplan plan --cluster FILE --profile PROFILE'")
    parser.add_argument("--iterations", type=int, default=1, help="measured iterations (default 1)")
    parser.add_argument("--warmup", type=int, default=0, help="iterations run first and not measured (default 0)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds without progress before the run is stopped "
                                                                    "(default 60)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest relative gradient error (default 1e-5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the module factory and the micro-batches")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.ranks is not None and args.ranks < 1:
        parser.error("--ranks must be >= 1")
    if args.plan is None and args.ranks is None:
        parser.error("--ranks is needed with --schedule")
    if args.profile and args.profile_file:
        parser.error("--profile measures; --profile-file reads: give one")
    prog = "opplan.torch.run"

    def fail(message: str, code: int, extra: Optional[dict] = None) -> int:
        if args.json:
            doc = {"completed": False, "error": message, "gradients_match": False}
            doc.update(extra or {})
            print(json.dumps(doc, indent=2))
        else:
            print(f"{prog}: error: {message}", file=sys.stderr)
        return code

    torch.manual_seed(args.seed)
    try:
        module, inputs = _fx_export.load_module(args.module, args.input_shape)
        loss = _fx_export._load_factory(args.loss)() if args.loss else None
    except _fx_export.ExportError as e:
        return fail(str(e), 2)
    name = args.module.rsplit(":", 1)[-1]
    profile_doc: Any = None
    cluster = None
    if args.cluster:
        try:
            cluster = opplan.read_cluster_json(args.cluster)
        except opplan.Error as e:
            return fail(str(e), 2)
    if args.profile_file:
        profile_doc = args.profile_file
    elif args.profile or args.plan == "auto" or args.write_profile or args.write_cluster:
        if args.ranks is None:
            return fail("--profile needs --ranks", 2)
        profile_doc = profile(module, inputs, name=name)
        if cluster is None:
            cluster = local_cluster(args.ranks, measure_link() if args.ranks > 1 else None)
        if args.write_profile:
            with open(args.write_profile, "w", encoding="utf-8") as f:
                json.dump(profile_doc, f, indent=1)
                f.write("\n")
        if args.write_cluster:
            with open(args.write_cluster, "w", encoding="utf-8") as f:
                f.write(cluster.to_json())
                f.write("\n")
    try:
        result = run(module, inputs, ranks=args.ranks, schedule=args.schedule, plan=args.plan,
                     micro_batches=args.microbatches, chunks=args.chunks, loss=loss, profile=profile_doc,
                     cluster=cluster, iterations=args.iterations, warmup=args.warmup, timeout=args.timeout,
                     tolerance=args.tolerance, seed=args.seed, name=name)
    except (PlanError, SplitError, _fx_export.ExportError, opplan.Error, ValueError, TypeError) as e:
        return fail(str(e), 2)
    except RunError as e:
        return fail(str(e), 1, {"failed_rank": e.rank, "failed_action": e.action,
                                "blocked": {str(k): v for k, v in e.blocked.items()}})
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
