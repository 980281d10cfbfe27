"""opplan.torch.run: pipeline schedules and plans executed by one gloo process per rank.

Every case checks what the issue asks for: the run finishes, the gradients equal the unsplit
module's on the same micro-batches (1e-5 relative), each rank's peak live activations equal the
plan's, and the ranks ran exactly the plan's actions in the plan's order. The expected figures
come from opplan itself (build_schedule, export_pytorch_pipeline), not from the runtime.
"""
import json
import os
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

import opplan  # noqa: E402
import opplan.torch.run as runner  # noqa: E402
from opplan.torch._worker import Fault  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_run_models as models  # noqa: E402

MODELS = "torch_run_models.py"


def expected(kind, ranks, micro_batches):
    """The schedule opplan builds for `kind`, and its PyTorch action lists (the runtime's names)."""
    k = opplan.ScheduleKind(kind)
    placement = opplan.required_placement(k)
    chunks = 2 if placement == opplan.Placement.INTERLEAVED else 1
    spec = opplan.make_pipeline_spec(placement, ranks, micro_batches, opplan.StageSpec(), chunks=chunks)
    schedule = opplan.build_schedule(spec, k)
    return schedule, opplan.export_pytorch_pipeline(spec, schedule).actions


def check(result, module, peaks, actions):
    assert result.completed
    assert result.max_relative_error <= 1e-5, result.report()
    assert result.gradients_match
    # Every parameter of the module got a gradient from some rank.
    names = {n for r in result.rank_runs for n in r.gradients}
    assert names == {n for n, p in module.named_parameters() if p.requires_grad}
    assert result.peak_activations == peaks, result.report()
    assert [[a.name for a in r.actions] for r in result.rank_runs] == actions
    for r in result.rank_runs:
        for a in r.actions:
            assert a.wait_start <= a.start <= a.end


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("model", ["mlp", "transformer", "cnn"])
@pytest.mark.parametrize("kind", ["1f1b", "interleaved", "zb-h1", "dualpipe", "dualpipev"])
def test_schedule(kind, model, ranks):
    module, inputs = getattr(models, model)()
    m = 2 * ranks
    schedule, actions = expected(kind, ranks, m)
    result = runner.run(module, inputs, ranks=ranks, schedule=kind, micro_batches=m, timeout=60, name=model)
    check(result, module, [d.peak_activations for d in schedule.metrics.devices], actions)
    if kind == "dualpipe":
        # Both directions ran: every stage is held by two ranks, whose gradients were summed.
        assert all(len(r) == 2 for r in result.stage_ranks)


def cli():
    path = os.environ.get("OPPLAN_CLI", "")
    if not path or not os.path.isfile(path):
        pytest.skip("the opplan program is not built (OPPLAN_CLI)")
    return path


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("model", ["mlp", "transformer", "cnn"])
def test_plan_from_opplan_plan(tmp_path, model, ranks):
    """`opplan plan --strategy pipeline-only` on the module's exported graph and a cluster of this
    machine's ranks: its stages (ops by name) and its per-stage actions are what runs."""
    module, inputs = getattr(models, model)()
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(opplan.torch.export_dict(module, inputs, name=model)))
    cluster = tmp_path / "cluster.json"
    cluster.write_text(runner.local_cluster(ranks).to_json())
    out = subprocess.run([cli(), "plan", "--graph", str(graph), "--cluster", str(cluster), "--strategy",
                          "pipeline-only", "--microbatches", str(2 * ranks), "--time-limit", "5", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    plan = tmp_path / "plan.json"
    plan.write_text(out.stdout)
    assert len(doc["stages"]) == ranks
    result = runner.run(module, inputs, plan=str(plan), timeout=60, name=model)
    programs = [[lab for lab in row] for row in doc["ops"]]
    letters = {"F": "F", "b": "I", "W": "W", "B": "B"}
    want = [[f"{s}{letters[lab[0]]}{lab[1:]}" for lab in row] for s, row in enumerate(programs)]
    check(result, module, doc["peak_activations"], want)
    # The plan's op split, by name, is the run's.
    placement = doc["placement"]
    for s, ops in enumerate(result.stages):
        assert ops and all(placement[o] == doc["stages"][s]["devices"][0] for o in ops)
    assert result.plan_seconds == pytest.approx(doc["makespan"])


def test_pytorch_export_runs(tmp_path):
    """The JSON of opplan's torch.distributed.pipelining export runs as it is."""
    module, inputs = models.mlp()
    schedule, actions = expected("zb-h1", 2, 4)
    spec = opplan.make_pipeline_spec("linear", 2, 4, opplan.StageSpec())
    path = tmp_path / "zbh1.json"
    path.write_text(opplan.export_pytorch_pipeline(spec, schedule).to_json())
    result = runner.run(module, inputs, plan=str(path))
    check(result, module, [d.peak_activations for d in schedule.metrics.devices], actions)
    # DualPipe's export (two chains of virtual stages) too.
    spec = opplan.make_pipeline_spec("dualpipe", 2, 4, opplan.StageSpec())
    schedule = opplan.build_schedule(spec, "dualpipe")
    export = opplan.export_pytorch_pipeline(spec, schedule)
    result = runner.run(module, inputs, plan=json.loads(export.to_json()))
    check(result, module, [d.peak_activations for d in schedule.metrics.devices], export.actions)


def test_plan_object_and_spec_schedule_pair():
    module, inputs = models.cnn()
    graph = opplan.torch.export(module, inputs)
    plan = opplan.plan(graph, runner.local_cluster(2), strategy="pipeline-only", micro_batches=4, time_limit=5)
    result = runner.run(module, inputs, plan=plan)
    assert result.gradients_match and result.peak_activations == result.plan_peak_activations
    assert result.predicted_seconds == pytest.approx(plan.schedule.makespan)  # the plan's own seconds
    spec = opplan.make_pipeline_spec("linear", 2, 4, opplan.StageSpec())
    result = runner.run(module, inputs, plan=(spec, opplan.build_schedule(spec, "zb-h2")))
    assert result.ok, result.report()


# ---- what the checks catch ------------------------------------------------------------------------

def test_leaked_activations_are_counted():
    """A loss that keeps its outputs keeps their autograd graphs: the last rank holds every
    micro-batch, more than the plan's one, and the run says so."""
    module, inputs = models.mlp()
    kept = []
    result = runner.run(module, inputs, ranks=2, schedule="1f1b", micro_batches=4,
                        loss=lambda out: (kept.append(out), out.sum())[1])
    assert result.plan_peak_activations == [2, 1]
    assert result.peak_activations == [2, 4]
    assert not result.peak_activations_match and not result.ok
    assert "DIFFER" in result.report()


def test_dropout_on_two_ranks_gradients_do_not_match():
    """Each rank draws its own dropout masks: with dropout on both stages they are not the unsplit
    module's, and the gradient check fails (with dropout on one stage only they happen to be)."""
    torch.manual_seed(0)
    layers = []
    for _ in range(4):
        layers += [torch.nn.Linear(16, 16), torch.nn.Dropout(0.5)]
    module = torch.nn.Sequential(*layers)
    result = runner.run(module, (torch.randn(8, 16),), ranks=2, schedule="1f1b")
    assert not result.gradients_match and result.max_relative_error > 1e-3
    assert any("dropout" in n for n in result.notes)


def test_custom_loss_and_given_micro_batches():
    module, inputs = models.transformer()
    mbs = [(torch.randint(0, 50, (4, 8)),) for _ in range(4)]
    result = runner.run(module, inputs, ranks=2, schedule="zb-h1", inputs=mbs,
                        loss=lambda out: torch.nn.functional.cross_entropy(out.flatten(0, 1), torch.zeros(32).long()))
    assert result.ok, result.report()


def test_weight_used_twice_in_a_stage():
    """A layer called twice on one stage: W of one call would also reach the other call's use of the
    weight, so that stage's weight gradient is computed with its input gradient; still exact."""
    module, inputs = models.twice()
    names = [op["name"] for op in opplan.torch.export_dict(module, inputs)["ops"]]
    cut = names.index("mid")
    result = runner.run(module, inputs, ranks=2, schedule="zb-h1", stages=[names[:cut], names[cut:]])
    assert result.ok, result.report()
    assert any("parameter 'shared.weight' is read by ops 'shared' and 'shared_1'" in n for n in result.notes)


# ---- bad input: clear messages, no hang -------------------------------------------------------------

def test_operator_level_plan_is_refused():
    module, inputs = models.mlp()
    graph = opplan.torch.export(module, inputs)
    plan = opplan.plan(graph, runner.local_cluster(2), strategy="operator-level", micro_batches=2, time_limit=5)
    with pytest.raises(runner.PlanError, match=r"operator-level plan cannot be run: .*first action is '[FbWB]\d+:\w+'"):
        runner.run(module, inputs, plan=plan)


def test_actions_the_runtime_cannot_express():
    module, inputs = models.mlp()
    spec = opplan.make_pipeline_spec("linear", 2, 2, opplan.StageSpec())
    schedule = opplan.build_schedule(spec, "1f1b")
    rows = schedule.device_tasks
    rows[1][2].stream = 1
    schedule.device_tasks = rows
    with pytest.raises(runner.PlanError, match=r"action '1F1' of rank 1 runs on stream 1"):
        runner.run(module, inputs, plan=(spec, schedule))
    doc = json.loads(opplan.export_pytorch_pipeline(spec, opplan.build_schedule(spec, "1f1b")).to_json())
    doc["actions"]["0"].insert(1, "0SEND_F0")
    with pytest.raises(runner.PlanError, match=r"rank 0's action '0SEND_F0' cannot be expressed"):
        runner.run(module, inputs, plan=doc)
    # An order that would deadlock: rank 0 runs the backward of micro-batch 0 before any forward.
    doc = json.loads(opplan.export_pytorch_pipeline(spec, opplan.build_schedule(spec, "1f1b")).to_json())
    doc["actions"]["0"] = ["0B0", "0F0", "0F1", "0B1"]
    with pytest.raises(runner.PlanError, match=r"cannot run: .*deadlock"):
        runner.run(module, inputs, plan=doc)
    with pytest.raises(runner.PlanError, match=r"the plan has 2 ranks .* 3 were asked"):
        runner.run(module, inputs, plan=(spec, schedule), ranks=3)


def test_split_that_does_not_match_the_module():
    module, inputs = models.mlp()
    names = [op["name"] for op in opplan.torch.export_dict(module, inputs)["ops"]]
    placement = {n: (0 if i < len(names) // 2 else 1) for i, n in enumerate(names)}
    doc = {"strategy": "pipeline-only", "graph": "mlp", "cluster": "localhost", "micro_batches": 2,
           "stages": [{"devices": [0]}, {"devices": [1]}], "placement": placement,
           "ops": [["F0", "F1", "B0", "B1"], ["F0", "B0", "F1", "B1"]], "makespan": 1.0}
    assert runner.run(module, inputs, plan=doc).ok
    cnn, cnn_inputs = models.cnn()
    with pytest.raises(runner.SplitError, match=r"does not match module TinyCNN: op '\w+' of stage 0 is not a node"):
        runner.run(cnn, cnn_inputs, plan=doc)
    # Stages that are not a chain: a later stage's op on an earlier stage.
    swapped = dict(placement, **{names[-1]: 0})
    with pytest.raises(runner.SplitError, match=r"not a pipeline: '\w+' on stage 0 reads '\w+' of the later stage 1"):
        runner.run(module, inputs, plan=dict(doc, placement=swapped))
    # A sharded stage.
    with pytest.raises(runner.PlanError, match=r"stage 1 runs on 2 devices"):
        runner.run(module, inputs, plan=dict(doc, stages=[{"devices": [0]}, {"devices": [1, 2]}]))


def test_tied_weights_on_two_stages_are_refused():
    module, inputs = models.tied()
    with pytest.raises(runner.SplitError,
                       match=r"parameter 'embed.weight' of module Tied is used on stages 0 \('embed'\) and 1 \('head'\)"):
        runner.run(module, inputs, ranks=2, schedule="1f1b")


def test_a_rank_that_dies_stops_the_others():
    module, inputs = models.mlp()
    t0 = time.monotonic()
    with pytest.raises(runner.RunError, match=r"rank 1 died \(exit code 13\); when it died, it was computing action "
                                              r"'1F1' .*The other ranks were stopped: rank 0") as info:
        runner.run(module, inputs, ranks=2, schedule="1f1b", timeout=30, _fault=Fault(1, 2, "exit"))
    assert info.value.rank == 1 and info.value.action == "1F1"
    assert time.monotonic() - t0 < 20


def test_a_rank_that_raises_names_rank_action_and_traceback():
    module, inputs = models.mlp()

    def broken(out):
        raise ValueError("the loss is broken")

    with pytest.raises(runner.RunError, match=r"(?s)rank 3 failed in action '3F0' \(forward of stage 3, micro-batch "
                                              r"0\): ValueError: the loss is broken.*Traceback.*stopped: rank 0") as info:
        runner.run(module, inputs, ranks=4, schedule="zb-h1", loss=broken, timeout=30)
    assert info.value.rank == 3 and info.value.action == "3F0"


def test_a_hung_rank_is_a_timeout_naming_the_blocked_ranks():
    module, inputs = models.mlp()
    t0 = time.monotonic()
    with pytest.raises(runner.RunError, match=r"made no progress for 2 s: rank 0 is waiting in action '0B1' .* for the "
                                              r"gradient of its stage's output from rank 1; rank 1 is computing action "
                                              r"'1F1'") as info:
        runner.run(module, inputs, ranks=2, schedule="1f1b", micro_batches=2, timeout=2, _fault=Fault(1, 2, "hang"))
    assert set(info.value.blocked) == {0, 1}
    assert time.monotonic() - t0 < 20


# ---- the command -------------------------------------------------------------------------------------

def command(*args, timeout=180):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "opplan.torch.run", *args], capture_output=True, text=True,
                          cwd=HERE, env=env, timeout=timeout)


def test_command_json():
    out = command("--module", f"{MODELS}:cnn", "--ranks", "2", "--schedule", "dualpipe", "--loss",
                  f"{MODELS}:mean_loss", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["completed"] and doc["gradients_match"] and doc["max_relative_error"] <= 1e-5
    assert doc["peak_activations"] == doc["plan_peak_activations"] and len(doc["peak_activations"]) == 2
    assert doc["predicted_seconds"] is None and doc["measured_seconds"] > 0
    assert len(doc["rank_details"][0]["timeline"]) == len(doc["rank_details"][1]["timeline"])


def test_command_text_and_errors(tmp_path):
    out = command("--module", f"{MODELS}:mlp", "--ranks", "2", "--schedule", "interleaved")
    assert out.returncode == 0, out.stderr
    assert "gradients: match" in out.stdout and "peak live activations (plan/measured): rank 0: 5/5" in out.stdout
    out = command("--module", f"{MODELS}:mlp", "--plan", str(tmp_path / "none.json"))
    assert out.returncode == 2 and "none.json: cannot read" in out.stderr
    out = command("--module", f"{MODELS}:nope", "--ranks", "2")
    assert out.returncode == 2 and "has no attribute 'nope'" in out.stderr
    out = command("--module", f"{MODELS}:tied", "--ranks", "2", "--json")
    assert out.returncode == 2 and "embed.weight" in json.loads(out.stdout)["error"]
    out = command("--module", f"{MODELS}:mlp", "--ranks", "3", "--schedule", "dualpipe")
    assert out.returncode == 2 and "dualpipe" in out.stderr
