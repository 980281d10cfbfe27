"""opplan.torch.pipelining: schedules as torch.distributed.pipelining's compute-only CSV."""
import csv
import re

import pytest

import opplan
from opplan.torch import pipelining


def test_csv_of_a_pipeline_schedule(tmp_path):
    spec = opplan.make_pipeline_spec("linear", 4, 8, opplan.StageSpec())
    schedule = opplan.build_schedule(spec, "1f1b")
    path = tmp_path / "1f1b.csv"
    pipelining.write_csv((spec, schedule), path)
    rows = list(csv.reader(open(path)))
    assert len(rows) == 4
    assert rows[0][:2] == ["0F0", "0F1"]
    assert all(re.fullmatch(r"\d+[FIWB]\d+", a) for row in rows for a in row)
    assert sum(len(r) for r in rows) == 4 * 8 * 2  # F and a full B per stage and micro-batch
    # Rank r runs only stage r, every micro-batch once forward and once backward.
    for rank, row in enumerate(rows):
        assert sorted(row) == sorted([f"{rank}F{m}" for m in range(8)] + [f"{rank}B{m}" for m in range(8)])


def test_hierarchical_plan_to_csv_and_stage_split():
    cfg = opplan.gpt3_config("350M")
    cfg.layers = 4
    graph = opplan.build_transformer(cfg)
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), strategy="hierarchical", micro_batches=4, time_limit=120)
    assert plan.stages is not None
    stages = pipelining.stage_split(plan, graph)
    assert sorted(n for s in stages for n in s) == sorted(op.name for op in graph.ops)
    rows = list(csv.reader(pipelining.csv_text(plan).splitlines()))
    assert len(rows) == len(stages) == pipelining.pipeline_export(plan).num_ranks
    assert sum(len(r) for r in rows) >= len(stages) * 4 * 2


def test_operator_level_plan_is_refused():
    graph = opplan.zoo_model("two-tower")
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), strategy="operator-level", micro_batches=2, time_limit=60)
    with pytest.raises(ValueError, match="operator-level"):
        pipelining.write_csv(plan, "unused.csv")
    with pytest.raises(TypeError):
        pipelining.csv_text(42)
