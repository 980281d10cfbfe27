"""search_parallel_configs() and the parallel-config strategy from Python."""
import json

import pytest

import opplan


@pytest.fixture(scope="module")
def small_gpt():
    return opplan.model_from_spec("gpt:hidden=1024,layers=8,heads=16,seq=1024,vocab=32000,dtype=bf16")


def test_search_returns_evaluates_figures(small_gpt):
    cluster = opplan.Cluster.dgx_a100()
    r = opplan.search_parallel_configs(small_gpt, cluster, global_batch=32, threads=1)
    assert r.best.fits and r.complete and r.evaluated > 0
    again = opplan.evaluate(small_gpt, cluster, r.best.config)
    assert again.iteration_seconds == pytest.approx(r.best.iteration_seconds, rel=1e-12)
    assert r.ranked[0].verdict == "chosen"
    assert r.data_parallel is not None and r.best.iteration_seconds <= r.data_parallel.iteration_seconds
    assert "runners-up" in r.full_report() or len(r.ranked) == 1


def test_megatron_and_deepspeed_round_trip(small_gpt):
    r = opplan.search_parallel_configs(small_gpt, opplan.Cluster.dgx_a100(), global_batch=32)
    c = r.best.config
    args, notes = opplan.megatron_command(c, 8)
    assert notes and "launch on 8 GPUs" in notes[-1]
    doc = json.loads(opplan.deepspeed_config_json(c))
    assert doc["train_batch_size"] == 32 and doc["zero_optimization"]["stage"] == c.zero


def test_bad_options_raise(small_gpt):
    with pytest.raises(opplan.Error, match="keep"):
        opplan.search_parallel_configs(small_gpt, opplan.Cluster.dgx_a100(), keep=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        opplan.search_parallel_configs(small_gpt, opplan.Cluster.dgx_a100(), nonsense=1)


def test_plan_strategy(small_gpt):
    p = opplan.plan(small_gpt, opplan.Cluster.dgx_a100(), strategy="parallel-config", global_batch=32)
    assert p.strategy == opplan.PlanStrategy.PARALLEL_CONFIG and p.verified
    assert p.evaluation.iteration_seconds == pytest.approx(p.iteration_seconds)
    assert str(p.parallel_config) == str(p.evaluation.config)
