"""shard() and plan_stages() on zoo models."""
import pytest

import opplan


@pytest.fixture(scope="module")
def gpt():
    cfg = opplan.gpt3_config("350M")
    cfg.layers = 4
    return opplan.build_transformer(cfg)


def test_shard_on_a_mesh(gpt):
    cluster = opplan.Cluster.dgx_a100()
    mesh = opplan.make_mesh(cluster, 2, 4)
    assert (mesh.rows, mesh.cols, len(mesh.devices)) == (2, 4, 8)
    plan = opplan.shard(gpt, cluster, mesh)
    assert len(plan.ops) == len(gpt)
    assert plan.termination in (opplan.Termination.OPTIMAL, opplan.Termination.FEASIBLE)
    assert plan.objective == pytest.approx(plan.compute_seconds + plan.communication_seconds + plan.resharding_seconds,
                                           rel=1e-6)
    assert plan.best_bound <= plan.objective * (1 + 1e-6)
    assert any(op.chosen.num_shards > 1 for op in plan.ops)  # something is split over the mesh
    assert "optimal" in plan.brief_report() or "feasible" in plan.brief_report()
    # A budget below the minimum is refused with the minimum in the message.
    with pytest.raises(opplan.Error, match="memory"):
        opplan.shard(gpt, cluster, mesh, memory_budget=1.0)


def test_make_mesh_rejects_a_bad_shape():
    with pytest.raises(opplan.InvalidArgumentError, match="3x3"):
        opplan.make_mesh(opplan.Cluster.dgx_a100(), 3, 3)


def test_sharding_spec():
    s = opplan.ShardingSpec("S0R")
    assert s.rank == 2 and str(s) == "S0R" and s.num_tiles(2, 4) == 2
    with pytest.raises(opplan.Error):
        opplan.ShardingSpec("S0S0")


def test_plan_stages(gpt):
    cluster = opplan.Cluster.dgx_a100()
    plan = opplan.plan_stages(gpt, cluster, num_microbatches=4)
    assert plan.stages
    assert sum(s.submesh.size() for s in plan.stages) <= 8
    assert plan.iteration_seconds == pytest.approx(
        sum(s.latency for s in plan.stages) + 3 * max(s.latency for s in plan.stages), rel=1e-9)
    ops = sorted(op for s in plan.stages for op in s.ops)
    assert ops == list(range(len(gpt)))
    assert str(plan) == plan.brief_report()
    with pytest.raises(opplan.InvalidArgumentError):
        opplan.plan_stages(gpt, cluster, num_microbatches=0)
