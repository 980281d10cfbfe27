"""The package ships type stubs that cover the whole extension."""
import ast
import os

import opplan
import opplan._opplan as ext


def test_stub_declares_every_public_name():
    path = os.path.join(os.path.dirname(opplan.__file__), "_opplan.pyi")
    assert os.path.isfile(path), "the build writes opplan/_opplan.pyi beside the extension"
    tree = ast.parse(open(path, encoding="utf-8").read())
    declared = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            declared[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = node
    public = [n for n in dir(ext) if not n.startswith("_")]
    missing = [n for n in public if n not in declared]
    assert not missing, missing
    # Methods of the classes too, e.g. Graph.add_op and CostModel.op_time.
    graph_methods = {f.name for f in declared["Graph"].body if isinstance(f, ast.FunctionDef)}
    assert {"add_op", "add_edge", "validate", "to_json", "from_json"} <= graph_methods
    plan = declared["plan"]
    assert [a.arg for a in plan.args.kwonlyargs][:3] == ["cost_model", "progress", "stop"]
    assert os.path.isfile(os.path.join(os.path.dirname(opplan.__file__), "py.typed"))


def test_docstrings():
    assert "Plans one training iteration" in opplan.plan.__doc__
    assert opplan.Graph.__doc__ and opplan.CostModel.__doc__ and opplan.Cluster.dgx_a100.__doc__
