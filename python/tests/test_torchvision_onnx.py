"""The ONNX road in (issue 15): a sample of torchvision's classification models across families,
written by torch.onnx.export at batch 2, read by opplan's ONNX importer with a dimension annotation
on every op that computes, and planned through the command line, `opplan plan --graph X.onnx`, which
knows the format by content (the files carry no .onnx extension here)."""
import json
import os
import subprocess
import warnings

import pytest

import opplan

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.skipif(not opplan.onnx_import_available(), reason="built without ONNX")

# One or two of each family: plain convolutions, residual, squeeze, depthwise / inverted residual,
# channel shuffle, compound scaling, RegNet, NAS, Inception branches, ConvNeXt, transformers.
MODELS = ["alexnet", "vgg11", "resnet18", "squeezenet1_0", "mobilenet_v3_small", "shufflenet_v2_x0_5",
          "efficientnet_b0", "regnet_x_400mf", "mnasnet0_5", "googlenet", "convnext_tiny", "vit_b_32"]
CLI = os.environ.get("OPPLAN_CLI")


@pytest.mark.parametrize("name", MODELS)
def test_onnx_file_plans_through_the_command_line(name, tmp_path):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
        path = tmp_path / f"{name}.model"
        torch.onnx.export(model, (torch.randn(2, 3, 224, 224),), str(path), opset_version=13)

    graph = opplan.read_graph(path)
    graph.validate()
    computing = [op for op in graph.ops if op.forward.flops > 0]
    assert computing
    assert [f"{op.name} ({op.kind})" for op in computing if not op.dims] == []

    if CLI is None:
        pytest.skip("OPPLAN_CLI is not set (ctest sets it to the opplan program)")
    out = subprocess.run([CLI, "plan", "--graph", str(path), "--microbatches", "2", "--strategy", "hierarchical",
                          "--time-limit", "300", "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["graph_ops"] == len(graph)
    assert result["strategy"] == "hierarchical"
    assert result["verified"] is True
    assert result["makespan"] >= result["lower_bound"] * (1 - 1e-9) > 0
