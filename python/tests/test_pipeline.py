"""Pipeline specs, the expert schedules, simulate / verify, the pipeline planner, PyTorch export."""
import json

import pytest

import opplan


def spec(devices=4, micro_batches=8, **stage):
    return opplan.make_pipeline_spec("linear", devices, micro_batches, opplan.StageSpec(**stage))


def test_1f1b_makespan_is_the_textbook_value():
    # F = b = W = 1: 1F1B runs B = b + W = 2 as one task, makespan (M + P - 1) * (F + B) = 11 * 3.
    s = opplan.build_schedule(spec(), "1f1b")
    assert s.name == "1f1b"
    assert s.makespan == pytest.approx(33)
    assert s.num_devices == 4 and s.num_tasks() == 4 * 8 * 2
    assert opplan.verify(spec(), s).ok
    # GPipe's bubble is the same here; ZB-H1 shortens the drain.
    assert opplan.build_schedule(spec(), opplan.ScheduleKind.GPIPE).makespan == pytest.approx(33)
    assert opplan.build_schedule(spec(), "zb-h1").makespan < 33


def test_every_kind_on_its_placement():
    for kind in opplan.schedule_kinds():
        placement = opplan.required_placement(kind)
        devices = 4
        micro_batches = 8
        chunks = 2 if placement == opplan.Placement.INTERLEAVED else 1
        sp = opplan.make_pipeline_spec(placement, devices, micro_batches, opplan.StageSpec(), chunks=chunks)
        s = opplan.build_schedule(sp, kind)
        report = opplan.verify(sp, s)
        assert report.ok, f"{kind}: {report}"
        assert len(s.op_strings()) == devices


def test_orders_round_trip_and_simulate():
    sp = spec()
    orders = opplan.generate_orders(sp, "1f1b")
    programs = opplan.format_orders(sp, orders)
    assert programs[0].split()[0] == "F0"
    again = opplan.parse_orders(sp, programs)
    assert opplan.simulate(sp, again).makespan == pytest.approx(33)
    with pytest.raises(opplan.Error, match="Q7"):
        opplan.parse_orders(sp, ["Q7"] + programs[1:])
    twice = opplan.parse_orders(sp, ["F0 " + programs[0]] + programs[1:])
    with pytest.raises(opplan.InvalidArgumentError, match="device 0"):
        opplan.simulate(sp, twice)


def test_verify_finds_a_broken_schedule():
    sp = spec()
    s = opplan.build_schedule(sp, "1f1b")
    rows = s.device_tasks
    rows[0][1].start = rows[0][0].start  # two tasks at once on device 0
    s.device_tasks = rows
    report = opplan.verify(sp, s)
    assert not report.ok and not report
    assert report.count(opplan.ViolationKind.OVERLAP) >= 1
    assert "overlap" in str(report)


def test_spec_validation_and_json():
    with pytest.raises(opplan.InvalidArgumentError):
        opplan.make_pipeline_spec("linear", 4, 0, opplan.StageSpec())
    sp = spec(forward=2, input_grad=1.5, weight_grad=0.5, activation=3)
    again = opplan.PipelineSpec.from_json(sp.to_json())
    assert again == sp
    with pytest.raises(opplan.ParseError):
        opplan.PipelineSpec.from_json("{")


def test_pipeline_planner_beats_or_matches_1f1b():
    sp = spec(devices=4, micro_batches=8)
    sp_capped = opplan.make_pipeline_spec("linear", 4, 8, opplan.StageSpec(), memory_cap=4)
    result = opplan.plan_pipeline(sp_capped, time_limit=60)
    assert result.verified
    assert result.lower_bound <= result.makespan * (1 + 1e-9)
    assert result.makespan <= 33 + 1e-9
    assert opplan.verify(result.spec, result.schedule).ok
    assert opplan.pipeline_lower_bound(sp) <= result.makespan + 1e-9
    assert any(c.name == "1f1b" for c in result.candidates)
    assert str(result) == result.brief_report()


def test_pytorch_pipeline_export():
    sp = spec()
    s = opplan.build_schedule(sp, "zb-h1")
    export = opplan.export_pytorch_pipeline(sp, s)
    assert export.num_ranks == 4 and export.num_stages == 4 and export.num_microbatches == 8
    assert export.stage_to_rank == [0, 1, 2, 3]
    assert export.actions[0][0] == "0F0"
    assert sum(len(a) for a in export.actions) == 4 * 8 * 3  # F, I, W per stage and micro-batch
    doc = json.loads(export.to_json())
    assert doc["format"] == "opplan.pytorch_pipeline"
