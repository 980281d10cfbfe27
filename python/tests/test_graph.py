"""Graph, Op, Cluster and their files: building, reading back, errors that carry the message."""
import copy
import os
import pickle

import pytest

import opplan
from conftest import chain


def test_build_and_read_back():
    g = opplan.Graph("g")
    a = g.add_op(opplan.Op(name="a", kind="matmul", forward=opplan.PhaseCost(flops=2e9, bytes=1e6), shape=[4, 8],
                           dtype=opplan.DType.BF16, dims="b k, k n -> b n"))
    b = g.add_op(opplan.Op(name="b", kind="relu", shape=[4, 8]))
    e = g.add_edge(a, b)
    assert (a, b, e) == (0, 1, 0)
    assert len(g) == 2 and g.num_edges == 1
    assert g.op(a).forward.flops == 2e9
    assert g.op(a).dtype == opplan.DType.BF16 and str(g.op(a).dtype) == "bf16"
    # The default edge bytes are the producer's output bytes: 4 * 8 elements of 2 bytes.
    assert g.edge(e).bytes == 64
    assert g.op(a).output_bytes() == 64
    assert g.find_op("b") == 1 and g.find_op("zzz") is None
    assert g.successors(a) == [b] and g.predecessors(b) == [a]
    assert g.topological_order() == [0, 1]
    assert g.totals().flops == [2e9, 0, 0]


def test_op_is_a_copy_and_set_op_changes_the_graph(small_graph):
    op = small_graph.op(0)
    op.forward.flops = 5.0
    assert small_graph.op(0).forward.flops == 1e12
    small_graph.set_op(0, op)
    assert small_graph.op(0).forward.flops == 5.0


def test_dtype_by_name_and_unknown_names():
    assert opplan.Op(dtype="f16").dtype == opplan.DType.F16
    assert opplan.DType("bool") == opplan.DType.BOOL
    with pytest.raises(ValueError, match="unknown DType 'f17'"):
        opplan.DType("f17")


def test_unknown_op_id_is_index_error(small_graph):
    with pytest.raises(IndexError):
        small_graph.op(99)
    with pytest.raises(IndexError):
        small_graph.add_edge(0, 42)


def test_validate_names_every_problem():
    g = opplan.Graph("bad")
    g.add_op(opplan.Op(name="neg", forward=opplan.PhaseCost(flops=-1)))
    g.add_op(opplan.Op(name="neg"))
    with pytest.raises(opplan.InvalidArgumentError) as info:
        g.validate()
    message = str(info.value)
    assert "2 problems" in message
    assert "op 'neg' (#0): forward.flops is negative" in message and "also the name of op #0" in message
    assert info.value.code == "invalid argument"
    assert isinstance(info.value, ValueError) and isinstance(info.value, opplan.Error)


def test_cycle():
    g = chain(3)
    g.add_edge(2, 0, 1.0)
    assert g.find_cycle() is not None
    with pytest.raises(opplan.Error, match="cycle"):
        g.topological_order()


def test_critical_path_with_python_costs(small_graph):
    path = small_graph.critical_path(lambda op: float(op + 1), lambda edge: 0.5)
    assert path.ops == [0, 1, 2, 3]
    assert path.length == pytest.approx(1 + 2 + 3 + 4 + 3 * 0.5)


def test_json_round_trip(small_graph, tmp_path):
    text = small_graph.to_json()
    again = opplan.Graph.from_json(text)
    assert again.ops == small_graph.ops and again.edges == small_graph.edges
    path = tmp_path / "g.json"
    opplan.write_graph_json(small_graph, str(path))
    assert opplan.read_graph_json(str(path)).ops == small_graph.ops
    assert opplan.read_graph(path).ops == small_graph.ops  # os.PathLike works too
    assert pickle.loads(pickle.dumps(small_graph)).ops == small_graph.ops
    assert copy.deepcopy(small_graph).edges == small_graph.edges


def test_json_errors_carry_the_path(data_dir):
    with pytest.raises(opplan.ParseError) as info:
        opplan.Graph.from_json('{"format": "opplan.graph", "version": 1, "name": "x", "ops": [', "mine.json")
    assert "mine.json" in str(info.value)
    with pytest.raises(opplan.Error) as info:
        opplan.read_graph_json(os.path.join(data_dir, "bad", "graph_bad_dtype.json"))
    assert "graph_bad_dtype.json" in str(info.value) and "/ops/" in str(info.value)
    with pytest.raises(opplan.IoError):
        opplan.read_graph_json(os.path.join(data_dir, "no_such_file.json"))


def test_read_graph_recognises_the_format_by_content(data_dir, tmp_path, small_graph):
    # JSON under a misleading extension is still JSON.
    path = tmp_path / "model.onnx"
    path.write_text(small_graph.to_json())
    assert len(opplan.read_graph(str(path))) == 4
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not a graph")
    with pytest.raises(opplan.ParseError) as info:
        opplan.read_graph(str(junk))
    assert "JSON" in str(info.value) and "ONNX" in str(info.value)
    with pytest.raises(opplan.IoError):
        opplan.read_graph(str(tmp_path / "missing.json"))


@pytest.mark.skipif(not opplan.onnx_import_available(), reason="built without ONNX")
def test_read_onnx(data_dir, tmp_path):
    g = opplan.read_graph(os.path.join(data_dir, "onnx", "tiny_cnn.onnx"))
    assert len(g) > 3
    g.validate()
    # An ONNX file without the extension is recognised too.
    renamed = tmp_path / "tiny_cnn.bin"
    renamed.write_bytes(open(os.path.join(data_dir, "onnx", "tiny_cnn.onnx"), "rb").read())
    assert opplan.read_graph(str(renamed)).ops == g.ops


def test_cluster_presets_and_json(tmp_path):
    c = opplan.Cluster.dgx_a100(2)
    assert c.num_devices == 16 and c.num_nodes == 2
    assert c.device(0).model.startswith("A100")
    assert c.node_devices(1) == list(range(8, 16))
    assert c.link(0, 1) == c.intra_node_link and c.link(0, 8) == c.inter_node_link
    assert opplan.Cluster.preset("dgx-h100x2").num_devices == 16
    with pytest.raises(opplan.NotFoundError) as info:
        opplan.Cluster.preset("tpu-v9")
    assert "dgx-a100" in str(info.value)
    again = opplan.Cluster.from_json(c.to_json())
    assert again.devices == c.devices and again.meshes == c.meshes
    path = tmp_path / "c.json"
    opplan.write_cluster_json(c, str(path))
    assert opplan.read_cluster_json(str(path)).devices == c.devices


def test_custom_cluster_validation():
    c = opplan.Cluster("mine")
    c.add_device(opplan.Device(name="gpu0", peak_flops=1e14, memory_bytes=16e9, memory_bandwidth=1e12))
    c.add_device(opplan.Device(name="gpu1", peak_flops=0, memory_bytes=16e9, memory_bandwidth=1e12))
    with pytest.raises(opplan.InvalidArgumentError, match="gpu1"):
        c.validate()
    d = c.device(1)
    d.peak_flops = 1e14
    c.set_device(1, d)
    c.intra_node_link = opplan.Link(alpha=1e-6, beta=1e-11)
    c.validate()
    assert c.link(0, 1).time(1e9) == pytest.approx(1e-6 + 1e-2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'flops'"):
        opplan.Device(flops=1)


def test_zoo():
    names = opplan.zoo_names()
    assert "gpt3-1.3b" in names
    g = opplan.zoo_model("GPT3-350M")
    g.validate()
    assert g.name == "gpt3-350m" and len(g) > 100
    with pytest.raises(opplan.NotFoundError, match="gpt3-1.3b"):
        opplan.zoo_model("gpt5")
    cfg = opplan.gpt3_config("350M")
    cfg.layers = 2
    small = opplan.build_transformer(cfg)
    assert len(small) < len(g)
    assert opplan.gpt3_config("7T") is None


def test_zoo_builders():
    moe = opplan.gshard_moe_config("380M")
    moe.layers = 2
    assert any(op.kind for op in opplan.build_gshard_moe(moe).ops)
    llama = opplan.LlamaConfig(hidden=256, layers=2, heads=4, kv_heads=2, ffn_hidden=512, seq_len=128, vocab=1000)
    g = opplan.build_llama(llama)
    g.validate()
    assert len([op for op in g.ops if op.layer == "layer1"]) == len([op for op in g.ops if op.layer == "layer0"]) > 0
    tower = opplan.build_branchy(opplan.BranchyConfig(model="two-tower", blocks=2))
    assert tower.name == "two-tower"
    with pytest.raises(opplan.InvalidArgumentError):
        opplan.build_llama(opplan.LlamaConfig(heads=0))
    assert opplan.deepseek_v3_config("671B").routed_experts == 256
