"""torchvision classification models through opplan.torch.export: one of each family (including
the ones that failed before: ShuffleNet-V2's chunk unpacking, ViT's keyword attention), at batch 2.
Every op that computes carries a dimension annotation, the graph validates, shard() accepts the
annotations and plan() returns a verified plan. (python/tools/torchvision_census.py runs all
models of the installed torchvision; the largest take minutes each on a CPU.)"""
import warnings

import pytest

import opplan

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
import opplan.torch as ot  # noqa: E402

MODELS = ["resnet18", "shufflenet_v2_x0_5", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf",
          "densenet121", "googlenet", "inception_v3", "squeezenet1_0", "mnasnet0_5", "convnext_tiny", "swin_t",
          "vit_b_32", "alexnet", "vgg11"]


@pytest.fixture(scope="module")
def cluster():
    return opplan.Cluster.dgx_a100()


@pytest.mark.parametrize("name", MODELS)
def test_export_annotate_plan(name, cluster):
    torch.manual_seed(0)
    size = 299 if name == "inception_v3" else 224
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    graph = ot.export(model, (torch.randn(2, 3, size, size),), name=name)
    graph.validate()
    computing = [op for op in graph.ops if op.forward.flops > 0]
    assert computing
    assert [op.name for op in computing if not op.dims] == []
    opplan.shard(graph, cluster, opplan.make_mesh(cluster, 2, 4))
    # A generous limit: the test checks export and annotation, and CI runs it beside other tests on
    # two cores (densenet121's stage planning passed 120 s there once).
    plan = opplan.plan(graph, cluster, micro_batches=2, strategy="hierarchical", time_limit=600)
    assert plan.verified and plan.iteration_seconds >= plan.lower_bound * (1 - 1e-9)
