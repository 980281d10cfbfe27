"""Cost models written in Python: they are called by the planners (taking the GIL), they change
the plan, and their exceptions reach the caller."""
import threading

import pytest

import opplan
from conftest import chain


def one_device_cluster():
    c = opplan.Cluster("one")
    c.add_device(opplan.Device(name="gpu0", peak_flops=1e14, memory_bytes=80e9, memory_bandwidth=2e12))
    return c


class Constant(opplan.CostModel):
    """Every phase of every op takes 1 ms; communication is free."""

    def __init__(self):
        super().__init__()
        self.calls = {"op_time": 0, "op_memory": 0}

    def op_time(self, op, phase, device):
        self.calls["op_time"] += 1
        return 1e-3

    def sharded_op_time(self, op, phase, cluster, mesh, num_shards):
        return 1e-3 / num_shards

    def transfer_time(self, cluster, src, dst, bytes):
        return 0.0

    def collective_time(self, cluster, collective, group, bytes):
        return 0.0

    def op_memory(self, op):
        self.calls["op_memory"] += 1
        return opplan.OpMemory(parameters=1e6, activations=1e6)


def test_analytic_model_options_and_roofline():
    model = opplan.AnalyticCostModel()
    device = opplan.Cluster.dgx_a100().device(0)
    # A memory-bound phase (no FLOPs) takes its bytes over the reachable bandwidth, plus the launch.
    copy_op = opplan.Op(forward=opplan.PhaseCost(bytes=1e9))
    expected = 1e9 / (device.memory_bandwidth * model.options.memory_efficiency) + model.options.launch_overhead
    assert model.op_time(copy_op, opplan.Phase.FORWARD, device) == pytest.approx(expected)
    # The launch overhead is added to every non-empty phase; an empty phase costs nothing.
    compute_op = opplan.Op(forward=opplan.PhaseCost(flops=1e12, bytes=1e6))
    slow_launch = opplan.AnalyticCostModel(launch_overhead=1e-3)
    no_launch = opplan.AnalyticCostModel(launch_overhead=0.0)
    assert slow_launch.op_time(compute_op, "forward", device) - no_launch.op_time(compute_op, "forward", device) == \
        pytest.approx(1e-3)
    assert model.op_time(compute_op, opplan.Phase.WEIGHT_GRAD, device) == 0.0
    assert no_launch.options.launch_overhead == 0.0
    with pytest.raises(ValueError, match="compute_efficiency"):
        opplan.AnalyticCostModel(compute_efficiency=2.0)


def test_full_python_cost_model_decides_the_times():
    # One device runs everything serially: 4 ops x (F + b + W) x 2 micro-batches x 1 ms = 24 ms.
    model = Constant()
    plan = opplan.plan(chain(4), one_device_cluster(), cost_model=model, strategy="operator-level",
                       micro_batches=2, time_limit=60)
    assert plan.verified
    assert plan.iteration_seconds == pytest.approx(24e-3)
    assert plan.schedule.makespan == pytest.approx(24e-3)
    assert model.calls["op_time"] > 0 and model.calls["op_memory"] > 0


def test_python_subclass_changes_the_plan():
    # Devices 0-3 are 100 times slower for this model: the plan moves every op to devices 4-7.
    class SlowHalf(opplan.AnalyticCostModel):
        def op_time(self, op, phase, device):
            base = super().op_time(op, phase, device)
            return base * 100 if device.name.endswith(("gpu0", "gpu1", "gpu2", "gpu3")) else base

    graph = chain(8)
    cluster = opplan.Cluster.dgx_a100()
    default = opplan.plan(graph, cluster, strategy="operator-level", micro_batches=4, time_limit=60)
    slow = opplan.plan(graph, cluster, strategy="operator-level", micro_batches=4, time_limit=60,
                       cost_model=SlowHalf())
    assert default.verified and slow.verified
    assert set(default.placement) & {0, 1, 2, 3}, default.placement
    assert not set(slow.placement) & {0, 1, 2, 3}, slow.placement
    assert slow.placement != default.placement


def test_an_exception_in_a_cost_model_reaches_the_caller_and_the_model_stays_usable():
    class Flaky(opplan.AnalyticCostModel):
        def __init__(self):
            super().__init__()
            self.fail = True

        def op_time(self, op, phase, device):
            if self.fail:
                raise ZeroDivisionError("measured nothing for " + op.name)
            return super().op_time(op, phase, device)

        def sharded_op_time(self, op, phase, cluster, mesh, num_shards):
            if self.fail:
                raise ZeroDivisionError("measured nothing for " + op.name)
            return super().sharded_op_time(op, phase, cluster, mesh, num_shards)

    model = Flaky()
    graph, cluster = chain(4), opplan.Cluster.dgx_a100()
    for strategy in ("operator-level", "hierarchical"):
        with pytest.raises(ZeroDivisionError, match="measured nothing for op"):
            opplan.plan(graph, cluster, cost_model=model, strategy=strategy, micro_batches=2)
    with pytest.raises(ZeroDivisionError, match="measured nothing for op"):
        opplan.shard(graph, cluster, opplan.make_mesh(cluster, 2, 4), cost_model=model)
    model.fail = False
    assert opplan.plan(graph, cluster, cost_model=model, strategy="operator-level", micro_batches=2).verified


def test_a_missing_method_or_a_wrong_return_type_is_reported():
    class Incomplete(opplan.CostModel):
        def op_time(self, op, phase, device):
            return 1e-3

    with pytest.raises(ValueError, match="does not implement"):
        opplan.plan(chain(2), one_device_cluster(), cost_model=Incomplete(), strategy="operator-level")

    class WrongType(opplan.AnalyticCostModel):
        def op_time(self, op, phase, device):
            return "fast"

    with pytest.raises(TypeError, match="op_time returned a value of the wrong type"):
        opplan.plan(chain(2), one_device_cluster(), cost_model=WrongType(), strategy="operator-level")


def test_planning_from_another_thread_with_python_callbacks():
    # The planner thread is not the main thread: callbacks and the cost model must take the GIL
    # there, and the main thread stays free meanwhile (no deadlock).
    result = {}
    progress = []

    def work():
        result["plan"] = opplan.plan(chain(6), opplan.Cluster.dgx_a100(), cost_model=Constant(),
                                     strategy="operator-level", micro_batches=4, progress=progress.append,
                                     progress_interval=0)

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=600)
    assert not t.is_alive()
    assert result["plan"].verified
    assert progress and all(isinstance(p, opplan.PlanProgress) for p in progress)


def test_profiled_cost_model():
    """ProfiledCostModel from Python: measured times by op name, the analytic model for the rest,
    errors naming the source and the JSON path; plan() takes it like any cost model."""
    doc = {"format": "opplan.profile", "version": 1,
           "ops": [{"name": "op0", "phase": "forward", "seconds": 0.25},
                   {"device": "other-model", "name": "op1", "phase": "forward", "seconds": 9.0}]}
    import json
    model = opplan.ProfiledCostModel.from_json(json.dumps(doc), "mine.json")
    assert model.num_op_entries == 2 and model.num_collective_tables == 0
    g = chain(2)
    device = one_device_cluster().device(0)
    assert model.op_time(g.op(0), opplan.Phase.FORWARD, device) == 0.25
    analytic = opplan.AnalyticCostModel()
    # op1's entry is for another device model: the analytic time.
    assert model.op_time(g.op(1), opplan.Phase.FORWARD, device) == analytic.op_time(g.op(1), opplan.Phase.FORWARD,
                                                                                      device)
    plan = opplan.plan(g, one_device_cluster(), cost_model=model, strategy="operator-level", micro_batches=1,
                       time_limit=10)
    assert plan.iteration_seconds >= 0.25
    doc["ops"][0]["seconds"] = -1
    with pytest.raises(opplan.Error, match=r"mine\.json: /ops/0/seconds"):
        opplan.ProfiledCostModel.from_json(json.dumps(doc), "mine.json")
    with pytest.raises(opplan.Error, match="no-such-profile.json"):
        opplan.ProfiledCostModel.from_file("no-such-profile.json")
