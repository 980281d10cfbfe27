"""Every classification model of the installed torchvision (issue 15's census, 80 models with
torchvision 0.14): exported through opplan.torch.export at batch 2 (Inception-v3 at 299 x 299, the
others 224 x 224), validated, every op that computes carries a dimension annotation, and plan()
returns a verified plan.

Shapes are propagated on the meta device (no arithmetic: Debian's torch uses the reference BLAS, and
a ViT-H would take minutes on the CPU), with the CPU as the fallback. The models are built without
their random initialisation (the largest hold 644 M parameters): only shapes matter here. ctest
label "slow" (CI runs it; `ctest -LE slow` leaves it out)."""
import contextlib
import gc
import warnings

import pytest

import opplan

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
import opplan.torch as ot  # noqa: E402

MODELS = torchvision.models.list_models(module=torchvision.models)


@contextlib.contextmanager
def no_init():
    """Skips torch.nn.init's fills while a model is built (its tensors stay uninitialised)."""
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def build(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    with warnings.catch_warnings(), no_init():
        warnings.simplefilter("ignore")
        return torchvision.models.get_model(name, weights=None, **kwargs)


def test_the_census_covers_every_classification_model():
    assert len(MODELS) >= 80  # torchvision 0.14 has 80 (a newer one more)


@pytest.mark.parametrize("name", MODELS)
def test_export_annotate_plan(name):
    torch.manual_seed(0)
    size = 299 if name == "inception_v3" else 224
    model = build(name)
    try:
        graph = ot.export(model.to("meta"), (torch.randn(2, 3, size, size, device="meta"),), name=name)
    except Exception:  # noqa: BLE001 -- an op without a meta kernel: the CPU then
        model = build(name)
        graph = ot.export(model, (torch.randn(2, 3, size, size),), name=name)
    del model
    gc.collect()
    graph.validate()
    computing = [op for op in graph.ops if op.forward.flops > 0]
    assert computing
    assert [op.name for op in computing if not op.dims] == []
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), micro_batches=8, strategy="parallel-config", time_limit=300)
    assert plan.verified and plan.iteration_seconds >= plan.lower_bound * (1 - 1e-9) > 0
