"""opplan.torch: PyTorch modules as opplan graphs, planned directly.

    import torch, torchvision, opplan, opplan.torch
    model = torchvision.models.resnet50()
    graph = opplan.torch.export(model, (torch.randn(8, 3, 224, 224),))
    plan = opplan.torch.plan(model, (torch.randn(8, 3, 224, 224),), cluster=opplan.Cluster.dgx_a100())

The exporter (``_fx_export``, docs/torch-export.md) traces the module with torch.fx, runs it on the
example inputs to record shapes, and gives every op its FLOPs, bytes, parameters, activations and
dimension annotation for the training phases F / b / W. ``export`` returns an :class:`opplan.Graph`
(validated); ``export_dict`` the same graph as the JSON document.

``opplan.torch.pipelining`` writes a plan's pipeline in torch.distributed.pipelining's terms;
``opplan.torch.run`` (imported on demand: ``import opplan.torch.run``) executes a plan's pipeline on
one gloo process per rank and checks its gradients, activations and times (docs/torch-run.md).
"""
from __future__ import annotations

import json
from typing import Any, List, Optional, Sequence, Union

import opplan

from . import _fx_export
from ._fx_export import ExportError, dumps  # noqa: F401

__all__ = ["export", "export_dict", "plan", "ExportError", "dumps"]


def export_dict(module, example_inputs, *, name: Optional[str] = None, inputs_require_grad: bool = False,
                warnings: Optional[List[str]] = None) -> dict:
    """The opplan graph of `module` on `example_inputs` as a dict (the JSON document, ready for
    json.dump). Raises :class:`ExportError` naming the node, module and source line when the module
    cannot be traced or run."""
    return _fx_export.export_module(module, example_inputs, name=name, inputs_require_grad=inputs_require_grad,
                                    warnings=warnings)


def export(module, example_inputs, *, name: Optional[str] = None, inputs_require_grad: bool = False,
           warnings: Optional[List[str]] = None) -> "opplan.Graph":
    """Traces `module` (an ``nn.Module``) on `example_inputs` (a tensor or a tuple of the forward's
    positional arguments; one micro-batch) and returns the validated :class:`opplan.Graph`.

    name: the graph's name (default: the module's class name). inputs_require_grad: the graph
    inputs need gradients (a middle pipeline stage). warnings: a list that receives the exporter's
    warnings (ops without a FLOP rule)."""
    doc = export_dict(module, example_inputs, name=name, inputs_require_grad=inputs_require_grad, warnings=warnings)
    return opplan.Graph.from_json(json.dumps(doc, allow_nan=False), f"<opplan.torch.export of {doc['name']}>")


def plan(module, example_inputs, cluster: Union["opplan.Cluster", str, None] = None, *, name: Optional[str] = None,
         inputs_require_grad: bool = False, **plan_arguments: Any) -> "opplan.Plan":
    """Exports `module` on `example_inputs` (one micro-batch) and plans it with :func:`opplan.plan`.

    cluster: an :class:`opplan.Cluster`, a preset name ("dgx-a100", "dgx-h100x2", ...) or None for
    one DGX-A100. Every other keyword goes to :func:`opplan.plan` (options, micro_batches, strategy,
    time_limit, cost_model, progress, stop, ...)."""
    if cluster is None:
        cluster = opplan.Cluster.dgx_a100()
    elif isinstance(cluster, str):
        cluster = opplan.Cluster.preset(cluster)
    graph = export(module, example_inputs, name=name, inputs_require_grad=inputs_require_grad)
    return opplan.plan(graph, cluster, **plan_arguments)
