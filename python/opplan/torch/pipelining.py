"""opplan.torch.pipelining: a plan's pipeline as torch.distributed.pipelining runs it.

    from opplan.torch import pipelining
    pipelining.write_csv(plan, "schedule.csv")            # a hierarchical plan of opplan.plan()
    pipelining.write_csv((spec, schedule), "zbh1.csv")    # or any pipeline schedule
    stages = pipelining.stage_split(plan, graph)           # the op names of every stage

The CSV is the compute-only format of PyTorch's schedule runtime
(``_PipelineScheduleRuntime._load_csv(path, format="compute_only")``): one row per rank, the
rank's actions in execution order, each ``{stage}{F|I|W|B}{micro-batch}`` (``0F1``, ``1I0``,
``1W0``, ``2B3``). The actions come from :func:`opplan.export_pytorch_pipeline`, which refuses
schedules PyTorch cannot express (docs/exports.md).
"""
from __future__ import annotations

import csv
import io
import os
from typing import List, Sequence, Tuple, Union

import opplan

__all__ = ["pipeline_export", "csv_text", "write_csv", "stage_split"]

PlanOrSchedule = Union["opplan.Plan", Tuple["opplan.PipelineSpec", "opplan.Schedule"]]


def _spec_and_schedule(source: PlanOrSchedule):
    if isinstance(source, tuple) and len(source) == 2:
        return source
    if isinstance(source, opplan.Plan):
        if source.stages is None:
            raise ValueError("the plan has no pipeline stages (an operator-level plan): only hierarchical and "
                             "pipeline-only plans map onto torch.distributed.pipelining")
        stages = len(source.stages.stages)
        # One schedule row per stage, stage s on row s: a linear pipeline of the plan's micro-batches.
        spec = opplan.PipelineSpec(name=source.summary.graph, num_devices=stages,
                                   num_micro_batches=source.summary.micro_batches, placement="linear",
                                   stages=[opplan.StageSpec() for _ in range(stages)],
                                   routes=[list(range(stages))])
        return spec, source.schedule
    raise TypeError(f"expected an opplan.Plan or a (PipelineSpec, Schedule) pair, got {type(source).__name__}")


def pipeline_export(source: PlanOrSchedule) -> "opplan.PyTorchPipelineExport":
    """The stage -> rank map and per-rank actions of a plan's (or a spec's schedule's) pipeline."""
    spec, schedule = _spec_and_schedule(source)
    return opplan.export_pytorch_pipeline(spec, schedule)


def csv_text(source: PlanOrSchedule) -> str:
    """The compute-only CSV: one row per rank."""
    export = pipeline_export(source)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for actions in export.actions:
        writer.writerow(actions)
    return out.getvalue()


def write_csv(source: PlanOrSchedule, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes :func:`csv_text` to `path`."""
    text = csv_text(source)
    with open(os.fspath(path), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def stage_split(plan: "opplan.Plan", graph: "opplan.Graph") -> List[List[str]]:
    """The names of the ops of every pipeline stage of a hierarchical plan, in topological order.
    For a graph from :func:`opplan.torch.export` the names are the torch.fx node names, which is how
    torch.distributed.pipelining's ``pipeline(..., split_spec=...)`` or a manual split finds them."""
    if plan.stages is None:
        raise ValueError("the plan has no pipeline stages (an operator-level plan)")
    return [[graph.op(op).name for op in stage.ops] for stage in plan.stages.stages]
