"""plan(): verified plans, reports and writers, progress, stop, Ctrl-C, errors from callbacks."""
import json
import os
import signal
import threading

import pytest

import opplan
from conftest import chain


@pytest.fixture(scope="module")
def gpt():
    return opplan.zoo_model("gpt3-350m")


@pytest.fixture(scope="module")
def a100():
    return opplan.Cluster.dgx_a100()


@pytest.fixture(scope="module")
def zoo_plan(gpt, a100):
    return opplan.plan(gpt, a100, micro_batches=4, time_limit=120)


def test_zoo_plan_is_verified(zoo_plan, gpt):
    p = zoo_plan
    assert p.verified and p.summary.verified
    assert p.iteration_seconds > 0 and p.lower_bound > 0
    assert p.lower_bound <= p.iteration_seconds * (1 + 1e-9)
    # Parallel-config plans add the exposed DP reduction and the optimizer step after the schedule.
    assert p.schedule.makespan <= p.iteration_seconds * (1 + 1e-9)
    if p.strategy != opplan.PlanStrategy.PARALLEL_CONFIG:
        assert p.schedule.makespan == pytest.approx(p.iteration_seconds)
    assert len(p.placement) == len(gpt) and len(p.sharding) == len(gpt)
    assert all(0 <= d < 8 for d in p.placement)
    assert p.summary.graph == "gpt3-350m" and p.summary.devices == 8 and p.summary.micro_batches == 4
    assert p.summary.strategy in ("operator-level", "hierarchical", "parallel-config")
    assert str(p.strategy) == p.summary.strategy
    assert "gpt3-350m" in p.brief_report() and p.brief_report() in p.full_report()
    assert [s.name for s in p.summary.steps][0] == "validate"
    if p.strategy == opplan.PlanStrategy.HIERARCHICAL:
        assert p.stages is not None and p.stages.stages
    if p.strategy == opplan.PlanStrategy.PARALLEL_CONFIG:
        assert p.parallel_config is not None and "candidates" in p.search_report
        assert p.evaluation.iteration_seconds == pytest.approx(p.iteration_seconds)


def test_writers(zoo_plan, tmp_path):
    s = zoo_plan.schedule
    doc = json.loads(s.to_json(include_tasks=True))
    assert doc["makespan"] == pytest.approx(s.makespan)
    assert doc["devices"] == s.num_devices and len(doc["ops"]) == s.num_devices
    assert len(doc["tasks"]) == s.num_tasks()
    svg = s.to_svg(opplan.GanttOptions(title="my plan"))
    assert svg.lstrip().startswith("<svg") or svg.lstrip().startswith("<?xml")
    assert "my plan" in svg
    trace = json.loads(s.to_chrome_trace())
    assert len([e for e in trace["traceEvents"] if e.get("ph") == "X"]) >= s.num_tasks()
    s.write_svg(str(tmp_path / "p.svg"))
    s.write_chrome_trace(str(tmp_path / "p.trace.json"))
    assert (tmp_path / "p.svg").stat().st_size > 0
    assert json.loads((tmp_path / "p.trace.json").read_text())["traceEvents"]
    with pytest.raises(opplan.IoError):
        s.write_svg(str(tmp_path / "no_such_dir" / "p.svg"))


def test_options_object_and_keywords_agree(gpt, a100):
    options = opplan.PlanOptions(strategy="hierarchical", micro_batches=2, time_limit=120)
    assert options.strategy == opplan.PlanStrategy.HIERARCHICAL
    a = opplan.plan(gpt, a100, options)
    b = opplan.plan(gpt, a100, strategy=opplan.PlanStrategy.HIERARCHICAL, micro_batches=2, time_limit=120)
    assert a.strategy == b.strategy == opplan.PlanStrategy.HIERARCHICAL
    assert a.iteration_seconds == b.iteration_seconds  # deterministic
    assert a.placement == b.placement


def test_bad_options_raise_with_the_field_name(gpt, a100):
    with pytest.raises(opplan.InvalidArgumentError, match="micro_batches"):
        opplan.plan(gpt, a100, micro_batches=0)
    with pytest.raises(TypeError, match="micro_batch"):
        opplan.plan(gpt, a100, micro_batch=4)
    with pytest.raises((ValueError, TypeError), match="fastest"):
        opplan.plan(gpt, a100, strategy="fastest")
    with pytest.raises(opplan.InvalidArgumentError, match="micro_batches"):
        opplan.PlanOptions(micro_batches=-1).validate()


def test_a_model_that_does_not_fit_fails_with_a_reason(a100):
    g = chain(2, params=1e13)
    with pytest.raises(opplan.Error) as info:
        opplan.plan(g, a100, micro_batches=2)
    assert str(info.value)


def test_progress_reports(gpt, a100):
    reports = []
    p = opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", progress=reports.append,
                    progress_interval=0)
    assert reports
    assert all(r.elapsed_seconds >= 0 for r in reports)
    assert any(r.improved for r in reports)
    assert min(r.best for r in reports) == pytest.approx(p.iteration_seconds, rel=1e-9) or \
        min(r.best for r in reports) >= p.iteration_seconds * (1 - 1e-9)
    assert p.termination != opplan.PlanTermination.STOPPED


def test_keyboard_interrupt_in_a_callback_returns_the_best_plan_so_far(gpt, a100):
    seen = []

    def progress(report):
        seen.append(report)
        if report.best < float("inf"):  # a plan exists: stop like Ctrl-C would
            raise KeyboardInterrupt

    p = opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", progress=progress, progress_interval=0)
    assert p.verified
    assert p.termination == opplan.PlanTermination.STOPPED
    assert p.iteration_seconds == pytest.approx(seen[-1].best, rel=1e-9) or p.iteration_seconds <= seen[-1].best
    # The callback is not called again once it has asked to stop.
    assert sum(1 for r in seen if r.best < float("inf")) == 1


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_returns_the_best_plan_so_far(gpt, a100):
    seen = []

    def progress(report):
        seen.append(report)
        if report.best < float("inf") and len(seen) < 1000:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
            seen.extend([None] * 1000)  # only once

    p = opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", progress=progress, progress_interval=0)
    assert p.verified
    assert p.termination == opplan.PlanTermination.STOPPED
    # Python's own SIGINT handling is back afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass


def test_stop_flag_set_by_the_callback(gpt, a100):
    flag = opplan.StopFlag()

    def progress(report):
        if report.best < float("inf"):
            flag.set()

    p = opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", progress=progress, stop=flag,
                    progress_interval=0)
    assert p.termination == opplan.PlanTermination.STOPPED and p.verified and flag.is_set()


def test_stop_flag_set_before_the_call(gpt, a100):
    flag = opplan.StopFlag()
    flag.set()
    try:
        p = opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", stop=flag)
    except opplan.Error:
        return  # no plan at all is a valid outcome of stopping at once
    assert p.verified and p.termination == opplan.PlanTermination.STOPPED


def test_a_raising_callback_propagates_after_the_search_stops(gpt, a100):
    calls = []

    def progress(report):
        calls.append(report)
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        opplan.plan(gpt, a100, micro_batches=4, strategy="operator-level", progress=progress, progress_interval=0)
    assert len(calls) == 1  # not called again after it raised
    # Nothing is left locked: planning again works.
    assert opplan.plan(chain(3), a100, micro_batches=2, strategy="operator-level").verified


def test_score_function(a100):
    graph = chain(6)
    scored = []

    def fewest_devices(schedule):
        scored.append(schedule.makespan)
        used = sum(1 for tasks in schedule.device_tasks if tasks)
        return used * 1000 + schedule.makespan

    p = opplan.plan(graph, a100, micro_batches=2, score=fewest_devices)
    assert scored and p.verified
    assert len(set(p.placement)) == 1  # one device wins under this score

    def broken(schedule):
        raise KeyError("no score")

    with pytest.raises(KeyError, match="no score"):
        opplan.plan(graph, a100, micro_batches=2, score=broken)


def test_operator_planner_directly(a100):
    g = chain(6)
    result = opplan.plan_operators(g, a100, micro_batches=4)
    assert result.verified and result.makespan >= result.lower_bound * (1 - 1e-9)
    report = opplan.verify_operator_schedule(g, a100, result.placement, 4, result.schedule)
    assert report.ok, str(report)
    broken = result.schedule
    tasks = broken.device_tasks
    for row in tasks:
        for t in row:
            t.end = t.start  # every task too short
    broken.device_tasks = tasks
    bad = opplan.verify_operator_schedule(g, a100, result.placement, 4, broken)
    assert not bad.ok and bad.count(opplan.ViolationKind.DURATION) > 0
