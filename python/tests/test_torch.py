"""opplan.torch: PyTorch modules exported as opplan graphs and planned."""
import os
import subprocess
import sys

import pytest

import opplan

torch = pytest.importorskip("torch")
nn = torch.nn
import opplan.torch as ot  # noqa: E402


class Mlp(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ChunkUnpack(nn.Module):
    """ShuffleNet-V2's channel split, torch.split in a loop and unbind."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        c, d = torch.chunk(self.conv(x), 2, dim=1)
        parts = [p * 2 for p in torch.split(x, 2, dim=1)]
        first, *rest = x.unbind(dim=0)
        return torch.cat([a + c, b + d] + parts, dim=1).sum() + first.sum() + sum(r.sum() for r in rest)


class Attention(nn.Module):
    def __init__(self, keywords):
        super().__init__()
        self.keywords = keywords
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x):
        if self.keywords:
            y, _ = self.attn(query=x, key=x, value=x, need_weights=False)
        else:
            y, _ = self.attn(x, x, x)
        return y


def test_export_returns_a_validated_graph():
    graph = ot.export(Mlp(), torch.randn(8, 32), name="mlp")
    assert isinstance(graph, opplan.Graph) and graph.name == "mlp"
    graph.validate()
    assert [op.kind for op in graph.ops] == ["input", "matmul", "elementwise", "matmul"]
    fc1 = graph.op(graph.find_op("fc1"))
    assert fc1.forward.flops == 2 * 8 * 32 * 128 + 8 * 128
    assert fc1.param_bytes == (32 * 128 + 128) * 4
    assert fc1.dims  # annotated for sharding
    assert graph.edges == opplan.Graph.from_json(ot.dumps(ot.export_dict(Mlp(), (torch.randn(8, 32),)))).edges


def test_chunk_split_unbind_unpack_with_a_static_count():
    graph = ot.export(ChunkUnpack(), (torch.randn(3, 8, 4, 4),))
    graph.validate()
    kinds = [op.kind for op in graph.ops]
    assert "conv" in kinds
    names = [op.name for op in graph.ops]
    assert any(n.startswith("chunk") for n in names) and any(n.startswith("split") for n in names)


def test_multihead_attention_called_with_keywords():
    x = torch.randn(2, 10, 32)
    by_keyword = ot.export(Attention(True), (x,))
    positional = ot.export(Attention(False), (x,))
    kw = [op for op in by_keyword.ops if op.kind == "attention"]
    pos = [op for op in positional.ops if op.kind == "attention"]
    assert len(kw) == len(pos) == 1
    assert kw[0].forward.flops == pos[0].forward.flops > 0
    assert kw[0].param_bytes == pos[0].param_bytes == (4 * 32 * 32 + 4 * 32) * 4


def test_torchvision_shufflenet_and_a_small_vit():
    tv = pytest.importorskip("torchvision")
    shufflenet = ot.export(tv.models.shufflenet_v2_x0_5(), (torch.randn(2, 3, 224, 224),), name="shufflenet")
    shufflenet.validate()
    assert len(shufflenet) > 100
    from torchvision.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10)
    graph = ot.export(vit, (torch.randn(2, 3, 32, 32),), name="vit")
    graph.validate()
    attention = [op for op in graph.ops if op.kind == "attention"]
    assert len(attention) == 2
    # Self-attention reads x three times: one data operand, the projections as one parameter.
    assert all(op.dims == "b s h, h w -> b s h" for op in attention)
    cluster = opplan.Cluster.dgx_a100()
    opplan.shard(graph, cluster, opplan.make_mesh(cluster, 2, 4))  # the annotations are accepted


def test_plan_a_module():
    plan = ot.plan(Mlp(), (torch.randn(64, 32),), cluster="dgx-a100", micro_batches=2, strategy="operator-level",
                   time_limit=60)
    assert plan.verified and plan.iteration_seconds > 0
    assert plan.summary.graph == "Mlp"
    plan2 = ot.plan(Mlp(), (torch.randn(64, 32),), micro_batches=2, time_limit=60)
    assert plan2.summary.cluster == "dgx-a100"


def test_a_module_that_fails_on_its_inputs():
    with pytest.raises(ot.ExportError) as info:
        ot.export(Mlp(), (torch.randn(8, 33),))
    message = str(info.value)
    assert "fc1" in message and "Linear" in message
    assert "cannot be multiplied" in message  # PyTorch's own message


def test_unsupported_dtype():
    class Complex(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(ot.ExportError, match="complex64 is not supported"):
        ot.export(Complex(), (torch.randn(4, 4, dtype=torch.complex64),))


def test_data_dependent_control_flow_in_a_submodule_is_one_op_costed_from_its_run():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)

        def forward(self, x):
            if x.sum() > 0:
                return self.a(x).relu()
            return x

    model = nn.Sequential(Gate(), nn.Linear(8, 4))
    # The branch taken: Linear 8 -> 8 on [4, 8] (2 x 256 MACs, + 32 bias), ReLU (32), the sum (32).
    # Input gradient: the product's 512, ReLU's and the sum's 32 each; weight gradient: 512 + bias.
    warnings = []
    graph = ot.export(model, (torch.rand(4, 8) + 0.1,), warnings=warnings)
    gate = graph.op(graph.find_op("_0"))
    assert gate.kind == "gate" and gate.dims == ""
    assert (gate.forward.flops, gate.input_grad.flops, gate.weight_grad.flops) == (608, 0, 544)  # input: no grad
    assert gate.param_bytes == (64 + 8) * 4
    assert graph.op(graph.find_op("_1")).dims == "b i, i o -> b o"  # the rest is traced as usual
    assert any("module '0' is one op" in w and "data-dependent control flow" in w for w in warnings)
    # The branch not taken costs only what ran: the sum.
    graph = ot.export(model, (-torch.rand(4, 8) - 0.1,))
    gate = graph.op(graph.find_op("_0"))
    assert (gate.forward.flops, gate.weight_grad.flops) == (32, 0)
    # With an input that needs a gradient the input-gradient FLOPs show too.
    graph = ot.export(model, (torch.rand(4, 8) + 0.1,), inputs_require_grad=True)
    assert graph.op(graph.find_op("_0")).input_grad.flops == 512 + 32 + 32
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), micro_batches=2, strategy="operator-level", time_limit=60)
    assert plan.verified


def test_data_dependent_control_flow_is_named():
    class Gate(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(ot.ExportError, match="data-dependent control flow"):
        ot.export(Gate(), (torch.randn(4),))


def test_command_line_wrapper_still_works(tmp_path):
    source = os.environ.get("OPPLAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
    script = os.path.join(source, "tools", "torch_export", "opplan_export.py")
    out = tmp_path / "tied.json"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the wrapper needs only torch, not the built extension
    r = subprocess.run([sys.executable, script, "--module", os.path.join(source, "tests", "torch", "modules.py") +
                        ":tied_mlp", "--output", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    graph = opplan.read_graph(out)
    assert len(graph) == 4


class ConvNeXtBlock(nn.Module):
    """Depthwise conv, permute, layer norm, MLP, layer scale with broadcasting, permute back."""

    def __init__(self, c=16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.scale = nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(y))))
        y = self.scale * y.permute(0, 3, 1, 2)
        return (x + y).mean(dim=(2, 3)).flatten(1)


def test_every_op_of_a_convnext_block_is_annotated_and_shardable():
    graph = ot.export(ConvNeXtBlock(), (torch.randn(8, 16, 8, 8),))
    ops = [op for op in graph.ops if op.kind != "input"]
    missing = [(op.name, op.kind) for op in ops if not op.dims]
    assert not missing, missing
    dw = graph.op(graph.find_op("dw"))
    assert dw.dims == "b c i j, k q -> b k x y"
    assert graph.op(graph.find_op("permute")).dims == "b d1 d2 d3 -> b d2 d3 d1"
    cluster = opplan.Cluster.dgx_a100()

    class FreeCommunication(opplan.AnalyticCostModel):
        def collective_time(self, cluster, collective, group, bytes):
            return 0.0

    plan = opplan.shard(graph, cluster, opplan.make_mesh(cluster, 1, 8), cost_model=FreeCommunication())
    # With communication free, splitting is always faster: every op that computes is split over
    # the 8 devices, which needs an annotation on it and on every op between.
    computing = [op for op in plan.ops if graph.op(graph.find_op(op.name)).forward.flops > 0]
    assert len(computing) >= 8
    assert all(op.chosen.num_shards == 8 for op in computing), [(op.name, op.chosen.name) for op in computing]


def test_convnext_tiny_is_fully_annotated():
    tv = pytest.importorskip("torchvision")
    graph = ot.export(tv.models.convnext_tiny(), (torch.randn(2, 3, 224, 224),), name="convnext_tiny")
    ops = [op for op in graph.ops if op.kind != "input"]
    assert len(ops) == 202
    assert [op.name for op in ops if not op.dims] == []
    cluster = opplan.Cluster.dgx_a100()
    opplan.shard(graph, cluster, opplan.make_mesh(cluster, 1, 2))  # every annotation is accepted


@pytest.mark.skipif(not opplan.onnx_import_available(), reason="built without ONNX")
def test_torch_onnx_export_then_plan(tmp_path):
    # The other road in: torch.onnx.export writes the file, opplan.read_graph knows it by content.
    import warnings
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    path = tmp_path / "tiny.model"  # no .onnx extension on purpose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 8, 8),), str(path), opset_version=13)
    graph = opplan.read_graph(path)
    assert [op.kind for op in graph.ops] == ["input", "conv", "elementwise", "reshape", "matmul"]
    conv = next(op for op in graph.ops if op.kind == "conv")
    assert conv.forward.flops >= 2 * 2 * 8 * 6 * 6 * 3 * 9  # the MACs of the convolution, twice
    plan = opplan.plan(graph, opplan.Cluster.dgx_a100(), micro_batches=2, strategy="operator-level", time_limit=60)
    assert plan.verified


def test_concat_along_channels_carries_the_batch_split():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(8, 8, 1)
            self.b = nn.Conv2d(8, 16, 3, padding=1)
            self.head = nn.Conv2d(24, 8, 1)

        def forward(self, x):
            return self.head(torch.cat([self.a(x), self.b(x)], dim=1))

    graph = ot.export(Branches(), (torch.randn(8, 8, 6, 6),))
    cat = graph.op(graph.find_op("cat"))
    assert cat.dims == "b j0 d2 d3, b j1 d2 d3 -> b d1 d2 d3"

    class FreeCommunication(opplan.AnalyticCostModel):
        def collective_time(self, cluster, collective, group, bytes):
            return 0.0

    cluster = opplan.Cluster.dgx_a100()
    plan = opplan.shard(graph, cluster, opplan.make_mesh(cluster, 1, 8), cost_model=FreeCommunication())
    convs = [op for op in plan.ops if op.name in ("a", "b", "head")]
    assert len(convs) == 3 and all(op.chosen.num_shards == 8 for op in convs), [(o.name, o.chosen.name) for o in convs]


def test_export_on_the_meta_device_matches_the_cpu():
    # Only shapes are needed: a module and inputs on the meta device give the same graph without
    # computing anything (large batches, large models, a slow BLAS).
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    cpu = ot.export(tv.models.shufflenet_v2_x0_5(), (torch.randn(2, 3, 224, 224),), name="s")
    meta = ot.export(tv.models.shufflenet_v2_x0_5().to("meta"), (torch.randn(2, 3, 224, 224, device="meta"),), name="s")
    assert meta.ops == cpu.ops and meta.edges == cpu.edges


def test_broadcast_operands_bind_in_edge_order():
    class RelativeBias(nn.Module):
        """MaxViT's pattern: a position bias computed by another op, broadcast over the batch."""

        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.zeros(1, 2, 5, 5))
            self.scale = nn.Parameter(torch.ones(2, 1, 1))

        def forward(self, scores):
            bias = self.table * 2.0
            return self.scale * (scores + bias)  # the parameter first in the source

    graph = ot.export(RelativeBias(), (torch.randn(4, 2, 5, 5),))
    add = graph.op(graph.find_op("add"))
    assert add.dims == "b d1 d2 d3, u1x0 d1 d2 d3 -> b d1 d2 d3"
    # The in-edge feeds operand 0: the data, not the parameter written first in the source.
    mul = graph.op(graph.find_op("mul_1"))
    assert mul.dims == "b d1 d2 d3, d1 u1x1 u1x2 -> b d1 d2 d3"
    cluster = opplan.Cluster.dgx_a100()
    plan = opplan.shard(graph, cluster, opplan.make_mesh(cluster, 1, 4))
    assert len(plan.ops) == len(graph)
